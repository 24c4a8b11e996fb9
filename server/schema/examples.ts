// The examples of the OpenAPI document: one scenario, in order, on a fresh server with the admin key
// (test/server/openapi-examples.test.ts runs it and checks every status and answer). Each example
// belongs to the route that answers it; the document shows its body and the fields of its answer
// a client may count on (the answer shown is a part of the real one).

export interface Example {
  /** The catalogue's key of the route (`POST /v1/members/:id/erase`). */
  route: string;
  /** The path as sent. */
  path: string;
  name: string;
  summary: string;
  body?: unknown;
  status: number;
  /** Fields the answer must hold, as they are. */
  answer?: Record<string, unknown>;
}

/** A program with a count card product, a coupon template and two rewards (docs/program.md's salon). */
export const EXAMPLE_PROGRAM: Record<string, unknown> = {"name": "Salon", "currency": "HKD", "timezone": "Asia/Hong_Kong", "qualifyBy": "spend", "membershipDays": 365, "carryForward": "excess", "downgrade": "qualify", "tiers": [{"id": "member", "name": "Member", "threshold": 0, "earn": {"cents": 2000, "points": 1}, "redeem": {"points": 10, "cents": 100}}, {"id": "silver", "name": "Silver", "threshold": 100000, "earn": {"cents": 2000, "points": 1}, "redeem": {"points": 10, "cents": 100}}, {"id": "gold", "name": "Gold", "threshold": 1000000, "earn": {"cents": 1000, "points": 1}, "redeem": {"points": 5, "cents": 100}}], "orderPoints": 0, "growth": {"points": 1, "growth": 1}, "signupPoints": 0, "birthday": {}, "pointsExpiryDays": 365, "allowNegativePoints": true, "referral": {"enabled": false}, "wallet": {"minTopupCents": 100}, "products": [{"id": "haircut-10", "name": "Ten haircuts", "priceCents": 80000, "includes": {"card": {"serviceId": "haircut", "uses": 10, "validDays": 365}}}], "coupons": [{"id": "tea5", "name": "HK$5 off tea", "discount": {"amountCents": 500}, "validDays": 30}], "rewards": [{"id": "mug", "name": "Logo mug", "pointsCost": 500, "stock": 100}, {"id": "tea-coupon", "name": "HK$5 tea coupon", "pointsCost": 50, "cashCents": 100, "kind": "coupon", "couponTemplateId": "tea5", "eligibleTiers": ["silver", "gold"], "perMemberMax": 2, "from": "2026-12-01", "to": "2026-12-31"}], "staffCommissionBps": 250, "notifyExpiringDays": 7, "defaultCountry": "HK"};

const at = (minute: number): string => `2026-11-02T02:${String(minute).padStart(2, '0')}:00Z`;

export const EXAMPLES: Example[] = [
  { route: 'GET /healthz', path: '/healthz', name: 'alive', summary: 'The server answers', status: 200, answer: { ok: true } },
  { route: 'PUT /v1/program', path: '/v1/program', name: 'salon', summary: 'A salon\'s program', body: EXAMPLE_PROGRAM, status: 200, answer: { version: 2, name: 'Salon' } },
  {
    route: 'POST /v1/members', path: '/v1/members', name: 'register', summary: 'A new member',
    body: { memberId: 'alice', name: 'Alice Chan', phone: '9123 4567', email: 'Alice@Example.com', birthday: '1990-02-14', at: at(0) },
    status: 201, answer: { memberId: 'alice', phone: '+85291234567', email: 'alice@example.com', tierId: 'member', points: 0, replayed: false },
  },
  {
    route: 'POST /v1/members', path: '/v1/members', name: 'replay', summary: 'The same registration again',
    body: { memberId: 'alice', name: 'Alice Chan', phone: '9123 4567', email: 'Alice@Example.com', birthday: '1990-02-14', at: at(0) },
    status: 200, answer: { memberId: 'alice', replayed: true },
  },
  { route: 'POST /v1/members', path: '/v1/members', name: 'second', summary: 'Another member', body: { memberId: 'bob', name: 'Bob Lee', at: at(1) }, status: 201, answer: { memberId: 'bob', replayed: false } },
  {
    route: 'POST /v1/members', path: '/v1/members', name: 'unknownField', summary: 'A field the body may not have',
    body: { memberId: 'carl', nickname: 'C' }, status: 400,
    answer: { error: { code: 'invalid_request', message: 'nickname: unknown field', field: 'nickname' } },
  },
  { route: 'GET /v1/members/:id', path: '/v1/members/alice', name: 'member', summary: 'A member', status: 200, answer: { memberId: 'alice', tierId: 'member' } },
  { route: 'PATCH /v1/members/:id', path: '/v1/members/alice', name: 'address', summary: 'A new address', body: { address: '1 Queen\'s Road' }, status: 200, answer: { memberId: 'alice', address: '1 Queen\'s Road' } },
  {
    route: 'POST /v1/purchases', path: '/v1/purchases', name: 'purchase', summary: 'An order at a store',
    body: { orderId: 'o-1', memberId: 'alice', amountCents: 60000, storeId: 'tst-01', channel: 'offline', items: [{ sku: 'TEA-01', qty: 2, amountCents: 60000 }], at: at(2) },
    status: 200, answer: { orderId: 'o-1', memberId: 'alice', netCents: 60000, earnedPoints: 30, points: 30, replayed: false },
  },
  {
    route: 'POST /v1/purchases', path: '/v1/purchases', name: 'wrongType', summary: 'An amount sent as text',
    body: { orderId: 'o-2', memberId: 'alice', amountCents: '1000' }, status: 400,
    answer: { error: { code: 'invalid_request', message: 'amountCents: must be an integer', field: 'amountCents' } },
  },
  { route: 'POST /v1/checkout/quote', path: '/v1/checkout/quote', name: 'quote', summary: 'What an order would get', body: { memberId: 'alice', amountCents: 20000 }, status: 200, answer: { memberId: 'alice', pointsToEarn: 10 } },
  { route: 'GET /v1/orders/:id', path: '/v1/orders/o-1', name: 'order', summary: 'An order', status: 200, answer: { orderId: 'o-1', memberId: 'alice' } },
  {
    route: 'POST /v1/returns', path: '/v1/returns', name: 'return', summary: 'Part of an order comes back',
    body: { returnId: 'r-1', orderId: 'o-1', amountCents: 20000, at: at(3) }, status: 200, answer: { returnId: 'r-1', orderId: 'o-1', memberId: 'alice', clawedBackPoints: 10, points: 20 },
  },
  { route: 'POST /v1/wallet/topups', path: '/v1/wallet/topups', name: 'topup', summary: 'Money into the wallet', body: { requestId: 't-1', memberId: 'alice', amountCents: 50000, at: at(4) }, status: 200, answer: { memberId: 'alice', walletBalanceCents: 50000 } },
  { route: 'POST /v1/wallet/withdrawals', path: '/v1/wallet/withdrawals', name: 'withdrawal', summary: 'Money out of the wallet', body: { requestId: 'w-1', memberId: 'alice', amountCents: 1000, at: at(5) }, status: 200, answer: { memberId: 'alice', walletBalanceCents: 49000 } },
  {
    route: 'POST /v1/wallet/transfers', path: '/v1/wallet/transfers', name: 'transfer', summary: 'Wallet money to another member',
    body: { requestId: 'tr-1', fromMemberId: 'alice', toMemberId: 'bob', amountCents: 5000, at: at(6) }, status: 200, answer: { fromMemberId: 'alice', toMemberId: 'bob', amountCents: 5000, walletBalanceCents: 44000 },
  },
  {
    route: 'POST /v1/points/adjustments', path: '/v1/points/adjustments', name: 'goodwill', summary: 'Points by hand',
    body: { requestId: 'adj-1', memberId: 'alice', points: 2000, reason: 'goodwill', at: at(7) }, status: 200, answer: { memberId: 'alice', points: 2020 },
  },
  { route: 'POST /v1/points/redemptions', path: '/v1/points/redemptions', name: 'spend', summary: 'Points spent', body: { requestId: 'red-1', memberId: 'alice', points: 100, at: at(8) }, status: 200, answer: { memberId: 'alice', points: 1920 } },
  {
    route: 'POST /v1/points/redemptions', path: '/v1/points/redemptions', name: 'tooMany', summary: 'More points than the member has',
    body: { requestId: 'red-2', memberId: 'bob', points: 100, at: at(8) }, status: 422, answer: { error: { code: 'insufficient_points' } },
  },
  {
    route: 'POST /v1/product-purchases', path: '/v1/product-purchases', name: 'cardProduct', summary: 'Ten haircuts',
    body: { orderId: 'p-1', memberId: 'alice', productId: 'haircut-10', channel: 'offline', at: at(9) }, status: 200, answer: { orderId: 'p-1', memberId: 'alice', productId: 'haircut-10', replayed: false },
  },
  { route: 'POST /v1/cards/uses', path: '/v1/cards/uses', name: 'haircut', summary: 'One haircut', body: { requestId: 'cu-1', memberId: 'alice', serviceId: 'haircut', at: at(10) }, status: 200, answer: { memberId: 'alice', serviceId: 'haircut' } },
  {
    route: 'POST /v1/cards/adjustments', path: '/v1/cards/adjustments', name: 'extraUse', summary: 'One use more, by hand',
    body: { requestId: 'ca-1', memberId: 'alice', serviceId: 'haircut', uses: 1, reason: 'apology', at: at(11) }, status: 200, answer: { memberId: 'alice', serviceId: 'haircut' },
  },
  { route: 'POST /v1/coupons/issue', path: '/v1/coupons/issue', name: 'issue', summary: 'One coupon', body: { requestId: 'cp-1', templateId: 'tea5', memberId: 'alice', at: at(12) }, status: 201, answer: { templateId: 'tea5', memberId: 'alice', state: 'active', replayed: false } },
  {
    route: 'POST /v1/coupons/bulk-issue', path: '/v1/coupons/bulk-issue', name: 'listed', summary: 'A coupon to listed members',
    body: { requestId: 'bulk-1', templateId: 'tea5', memberIds: ['alice', 'bob'] }, status: 200, answer: { issued: 2, skipped: 0, failed: 0, members: 2, failures: [] },
  },
  {
    route: 'POST /v1/coupons/:code/revoke', path: '/v1/coupons/AAAA-BBBB-CCCC/revoke', name: 'unknownCode', summary: 'A code no coupon has',
    body: { requestId: 'rv-1' }, status: 404, answer: { error: { code: 'coupon_not_found' } },
  },
  { route: 'GET /v1/rewards', path: '/v1/rewards', name: 'rewards', summary: 'The rewards', status: 200 },
  {
    route: 'POST /v1/rewards/redemptions', path: '/v1/rewards/redemptions', name: 'mug', summary: 'A mug for points',
    body: { requestId: 'rd-1', memberId: 'alice', rewardId: 'mug', at: at(13) }, status: 201, answer: { redemptionId: 'rd-1', memberId: 'alice', rewardId: 'mug', state: 'reserved' },
  },
  { route: 'POST /v1/rewards/redemptions/:id/fulfil', path: '/v1/rewards/redemptions/rd-1/fulfil', name: 'handedOver', summary: 'The mug handed over', body: { storeId: 'tst-01', at: at(14) }, status: 200, answer: { redemptionId: 'rd-1', state: 'fulfilled' } },
  { route: 'POST /v1/rewards/redemptions', path: '/v1/rewards/redemptions', name: 'second', summary: 'Another mug', body: { requestId: 'rd-2', memberId: 'alice', rewardId: 'mug', at: at(15) }, status: 201, answer: { redemptionId: 'rd-2' } },
  { route: 'POST /v1/rewards/redemptions/:id/cancel', path: '/v1/rewards/redemptions/rd-2/cancel', name: 'cancel', summary: 'Not wanted after all', body: { at: at(16) }, status: 200, answer: { redemptionId: 'rd-2', state: 'cancelled' } },
  { route: 'POST /v1/rewards/:id/stock', path: '/v1/rewards/mug/stock', name: 'restock', summary: 'Ten more mugs', body: { requestId: 'st-1', delta: 10, at: at(17) }, status: 200, answer: { rewardId: 'mug', delta: 10, stockLeft: 109 } },
  { route: 'POST /v1/members/:id/erase', path: '/v1/members/bob/erase', name: 'erase', summary: 'Personal data erased', body: { requestId: 'er-1' }, status: 200, answer: { memberId: 'bob', erased: true, replayed: false } },
  { route: 'GET /v1/admin/cluster', path: '/v1/admin/cluster', name: 'alone', summary: 'A node that runs alone belongs to no cluster', status: 404, answer: { error: { code: 'not_clustered' } } },
  { route: 'POST /v1/admin/compact', path: '/v1/admin/compact', name: 'now', summary: 'The erased bytes leave the data files now', status: 200 },
  { route: 'POST /v1/admin/sweep', path: '/v1/admin/sweep', name: 'now', summary: 'A sweep now', body: {}, status: 200 },
  { route: 'POST /v1/admin/keys', path: '/v1/admin/keys', name: 'pos', summary: 'A key for a terminal', body: { role: 'pos' }, status: 201, answer: { role: 'pos' } },
  { route: 'DELETE /v1/admin/keys/:id', path: '/v1/admin/keys/k-none', name: 'unknown', summary: 'A key that does not exist', status: 404, answer: { error: { code: 'key_not_found' } } },
  { route: 'POST /v1/admin/backup', path: '/v1/admin/backup', name: 'backup', summary: 'A backup into the data folder', body: {}, status: 200 },
  { route: 'POST /v1/admin/what-if', path: '/v1/admin/what-if', name: 'sameProgram', summary: 'The history under a program', body: { program: EXAMPLE_PROGRAM }, status: 202 },
  {
    route: 'POST /v1/admin/webhooks', path: '/v1/admin/webhooks', name: 'crm', summary: 'Member events to a CRM',
    body: { url: 'http://127.0.0.1:9/loyalty', events: ['member.registered'] }, status: 201, answer: { url: 'http://127.0.0.1:9/loyalty', events: ['member.registered'] },
  },
  {
    route: 'POST /v1/admin/webhooks/:id/redeliver', path: '/v1/admin/webhooks/wh-none/redeliver', name: 'unknown', summary: 'A subscription that does not exist',
    body: { fromEventId: '0:1' }, status: 404, answer: { error: { code: 'webhook_not_found' } },
  },
  { route: 'DELETE /v1/admin/webhooks/:id', path: '/v1/admin/webhooks/wh-none', name: 'unknown', summary: 'A subscription that does not exist', status: 404, answer: { error: { code: 'webhook_not_found' } } },
];
