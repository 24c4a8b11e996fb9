// Drives a real server over loopback through the demo program (docs/program.md) (the demo program), exact
// to the point and the cent: upgrades, express upgrade, carry-forward, redemption at each tier,
// wallet, replays, conflicts, rejections that change nothing, and a restart that keeps everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ServerProcess, refusal } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

async function member(id: string) {
  const r = await server.call('GET /v1/members/:id', { params: { id } });
  return r;
}

/** The balances that must not move when a request is rejected. */
async function snapshot(id: string) {
  const m = await member(id);
  const ledger = await server.call('GET /v1/members/:id/ledger', { params: { id }, query: { limit: 1000 } });
  return { m, entries: ledger.entries.length };
}

describe('first start', () => {
  it('writes the admin key alone on one line, readable only by its owner', () => {
    const mode = statSync(join(server.dataDir, 'admin.key')).mode & 0o777;
    expect(mode).toBe(0o600);
    expect(server.adminKey).toMatch(/^ll_admin_[A-Za-z0-9_-]{32}$/);
  });

  it('installs the demo program of the demo program (docs/program.md) as version 1', async () => {
    const r = await server.call('GET /v1/program');
    expect(r.version).toBe(1);
    expect(r.tiers.map((t) => [t.id, t.threshold])).toEqual([['member', 0], ['silver', 100000], ['gold', 1000000]]);
    expect(r.tiers[2]!.expressUpgradeCents).toBe(500000);
  });

  it('serves health without a key and refuses the API without one', async () => {
    await server.client(null).call('GET /healthz');
    expect(await refusal(server.client(null).call('GET /v1/program'))).toMatchObject({ status: 401, code: 'unauthorized' });
    expect((await refusal(server.client('wrong-key').call('GET /v1/program'))).status).toBe(401);
  });
});

describe('the demo program, step by step', () => {
  it('registers a member at the first tier with no points', async () => {
    const r = await server.call('POST /v1/members', { body: { memberId: 'alice', name: 'Alice Chan', phone: '+852 5555 0001', email: 'Alice@Example.com', birthday: '1990-02-14' } });
    expect(r).toMatchObject({ memberId: 'alice', tierId: 'member', points: 0, walletBalanceCents: 0, email: 'alice@example.com', replayed: false });
    expect(r.periodEnd).toBeNull();
  });

  it('earns 1 point per $20 at Member: $600 → 30 points', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'a-1', memberId: 'alice', amountCents: 60000, at: '2026-11-20T10:00:00Z' } });
    expect(r).toEqual({
      orderId: 'a-1', memberId: 'alice', netCents: 60000, earnedPoints: 30, redeemedPoints: 0, redeemValueCents: 0,
      walletCents: 0, points: 30, walletBalanceCents: 0, growth: 30, tierId: 'member', upgradedTo: null,
      referralRewards: [], replayed: false,
    });
  });

  it('upgrades to Silver when period spend reaches $1,000, earning at the old tier, carrying the excess', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'a-2', memberId: 'alice', amountCents: 50000, at: '2026-11-20T11:00:00Z' } });
    expect(r).toMatchObject({ earnedPoints: 25, points: 55, tierId: 'silver', upgradedTo: 'silver' });
    const m = await member('alice');
    expect(m).toMatchObject({ tierId: 'silver', periodMetric: 10000, lifetimeSpendCents: 110000, purchaseCount: 2, growth: 55 });
    expect(m.periodStart).toBe('2026-11-20T11:00:00.000Z');
    expect(m.periodEnd).toBe('2027-11-20T11:00:00.000Z');
  });

  it('redeems 10 points for $1 at checkout at Silver and earns on the net', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'a-3', memberId: 'alice', amountCents: 20000, redeemPoints: 50, at: '2026-11-20T12:00:00Z' } });
    expect(r).toMatchObject({ netCents: 19500, redeemValueCents: 500, redeemedPoints: 50, earnedPoints: 9, points: 14, tierId: 'silver', upgradedTo: null });
  });

  it('quotes Silver\'s 5% discount without changing anything', async () => {
    const before = await snapshot('alice');
    const r = await server.call('POST /v1/checkout/quote', { body: { memberId: 'alice', amountCents: 10000 } });
    expect(r).toEqual({ memberId: 'alice', tierId: 'silver', discountBps: 500, discountCents: 500, points: 14, maxRedeemPoints: 14, maxRedeemValueCents: 140, walletBalanceCents: 0, pointsToEarn: 4 });
    expect(await snapshot('alice')).toEqual(before);
  });

  it('tops up the wallet with the bonus of the step reached', async () => {
    const r = await server.call('POST /v1/wallet/topups', { body: { requestId: 't-1', memberId: 'alice', amountCents: 100000 } });
    expect(r).toMatchObject({ amountCents: 100000, bonusCents: 10000, walletBalanceCents: 110000, points: 14 });
    const small = await server.call('POST /v1/wallet/topups', { body: { requestId: 't-2', memberId: 'alice', amountCents: 5000 } });
    expect(small).toMatchObject({ bonusCents: 0, walletBalanceCents: 115000 });
  });

  it('pays with the wallet and upgrades straight to Gold on one $5,000+ purchase (express)', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'a-4', memberId: 'alice', amountCents: 600000, walletCents: 100000, at: '2026-11-21T09:00:00Z' } });
    expect(r).toMatchObject({ netCents: 600000, earnedPoints: 300, walletCents: 100000, points: 314, walletBalanceCents: 15000, tierId: 'gold', upgradedTo: 'gold' });
    const m = await member('alice');
    // Excess over Gold's $10,000 threshold: 629,500 - 1,000,000 < 0, so the new period starts at 0.
    expect(m).toMatchObject({ tierId: 'gold', periodMetric: 0, periodStart: '2026-11-21T09:00:00.000Z' });
  });

  it('redeems points for wallet cash at Gold\'s rate, 5 points per $1', async () => {
    const r = await server.call('POST /v1/points/redemptions', { body: { requestId: 'r-1', memberId: 'alice', points: 314 } });
    expect(r).toMatchObject({ redeemedPoints: 314, walletCreditCents: 6280, points: 0, walletBalanceCents: 21280, tierId: 'gold' });
  });

  it('earns 1 point per $10 at Gold and quotes 10% off', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'a-5', memberId: 'alice', amountCents: 12345, at: '2026-11-21T10:00:00Z' } });
    expect(r).toMatchObject({ earnedPoints: 12, points: 12, tierId: 'gold' });
    const q = await server.call('POST /v1/checkout/quote', { body: { memberId: 'alice', amountCents: 100000 } });
    expect(q).toMatchObject({ tierId: 'gold', discountBps: 1000, discountCents: 10000, maxRedeemPoints: 12, maxRedeemValueCents: 240, pointsToEarn: 90 });
  });

  it('withdraws from the wallet and adjusts points (admin)', async () => {
    const w = await server.call('POST /v1/wallet/withdrawals', { body: { requestId: 'w-1', memberId: 'alice', amountCents: 1280 } });
    expect(w).toMatchObject({ walletBalanceCents: 20000 });
    const a = await server.call('POST /v1/points/adjustments', { body: { requestId: 'adj-1', memberId: 'alice', points: 88, reason: 'goodwill' } });
    expect(a).toMatchObject({ pointsDelta: 88, points: 100 });
  });

  it('express-upgrades a new member from Member to Gold, earning at Member\'s rate', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'bob' } });
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'b-1', memberId: 'bob', amountCents: 500000 } });
    expect(r).toMatchObject({ earnedPoints: 250, points: 250, tierId: 'gold', upgradedTo: 'gold' });
  });

  it('shows the order and the member\'s ledger, newest first, paged', async () => {
    const o = await server.call('GET /v1/orders/:id', { params: { id: 'a-3' } });
    expect(o).toMatchObject({ orderId: 'a-3', memberId: 'alice', netCents: 19500, redeemPoints: 50, earnedPoints: 9, tierIdBefore: 'silver', returns: [] });
    const page1 = await server.call('GET /v1/members/:id/ledger', { params: { id: 'alice' }, query: { limit: 3 } });
    expect(page1.entries.map((e) => e.kind)).toEqual(['adjust', 'withdraw', 'purchase']);
    const page2 = await server.call('GET /v1/members/:id/ledger', { params: { id: 'alice' }, query: { limit: 3, cursor: page1.nextCursor ?? undefined } });
    expect(page2.entries.map((e) => e.kind)).toEqual(['redeem', 'upgrade', 'purchase']);
    const upgrade = page2.entries[1]!;
    expect(upgrade).toMatchObject({ tierId: 'gold', ref: 'a-4' });
    expect(upgrade.cause).toBe(page2.entries[2]!.seq);
  });
});

describe('idempotency', () => {
  it('replays the first answer for the same key and body, writing nothing', async () => {
    const before = await snapshot('alice');
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'a-4', memberId: 'alice', amountCents: 600000, walletCents: 100000, at: '2026-11-21T09:00:00Z' } });
    expect(r).toMatchObject({ orderId: 'a-4', earnedPoints: 300, points: 314, walletBalanceCents: 15000, upgradedTo: 'gold', replayed: true });
    expect(await snapshot('alice')).toEqual(before);
  });

  it('refuses the same key with a different body: 409 idempotency_conflict', async () => {
    const before = await snapshot('alice');
    expect(await refusal(server.call('POST /v1/purchases', { body: { orderId: 'a-4', memberId: 'alice', amountCents: 600001 } }))).toMatchObject({ status: 409, code: 'idempotency_conflict' });
    expect(await refusal(server.call('POST /v1/wallet/topups', { body: { requestId: 't-1', memberId: 'alice', amountCents: 100001 } }))).toMatchObject({ status: 409, code: 'idempotency_conflict' });
    expect(await snapshot('alice')).toEqual(before);
  });

  it('replays a registration keyed by requestId with the member first created', async () => {
    const first = await server.call('POST /v1/members', { body: { requestId: 'reg-77', name: 'Carol' } });
    const again = await server.call('POST /v1/members', { body: { requestId: 'reg-77', name: 'Carol' } });
    expect(again).toMatchObject({ memberId: first.memberId, replayed: true });
    expect(first.memberId).toMatch(/^m[0-9a-z]{13}[0-9a-f]{6}$/);
  });

  it('answers concurrent duplicates of one key exactly once', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'dup' } });
    const body = { requestId: 'dup-top', memberId: 'dup', amountCents: 1000 };
    const replies = await Promise.all(Array.from({ length: 8 }, () => server.call('POST /v1/wallet/topups', { body })));
    expect(replies.filter((r) => r.replayed === false)).toHaveLength(1);
    expect((await member('dup')).walletCents).toBe(1000);
  });
});

describe('rejections change nothing', () => {
  // Raw requests: the table holds malformed bodies (fractions, unknown fields, broken JSON) beside the engine's refusals.
  const cases: Array<[string, string, unknown, number, string]> = [
    ['redeeming more points than held', '/v1/purchases', { orderId: 'x-1', memberId: 'alice', amountCents: 10000, redeemPoints: 101 }, 422, 'insufficient_points'],
    ['paying more from the wallet than it holds', '/v1/purchases', { orderId: 'x-2', memberId: 'alice', amountCents: 50000, walletCents: 20001 }, 422, 'insufficient_wallet'],
    ['a discount above the amount', '/v1/purchases', { orderId: 'x-3', memberId: 'alice', amountCents: 100, discountCents: 101 }, 422, 'negative_net'],
    ['a zero amount', '/v1/purchases', { orderId: 'x-4', memberId: 'alice', amountCents: 0 }, 400, 'invalid_request'],
    ['a fractional amount', '/v1/purchases', { orderId: 'x-5', memberId: 'alice', amountCents: 10.5 }, 400, 'invalid_request'],
    ['an unsafe integer', '/v1/purchases', { orderId: 'x-6', memberId: 'alice', amountCents: 2 ** 53 }, 400, 'invalid_request'],
    ['an unknown field', '/v1/purchases', { orderId: 'x-7', memberId: 'alice', amountCents: 100, tip: 1 }, 400, 'invalid_request'],
    ['a bad order id', '/v1/purchases', { orderId: 'no spaces', memberId: 'alice', amountCents: 100 }, 400, 'invalid_request'],
    ['an `at` in the future', '/v1/purchases', { orderId: 'x-8', memberId: 'alice', amountCents: 100, at: '2999-01-01T00:00:00Z' }, 400, 'invalid_request'],
    ['an unknown member', '/v1/purchases', { orderId: 'x-9', memberId: 'nobody', amountCents: 100 }, 404, 'member_not_found'],
    ['a top-up below the minimum', '/v1/wallet/topups', { requestId: 'x-10', memberId: 'alice', amountCents: 99 }, 422, 'topup_below_minimum'],
    ['a withdrawal above the balance', '/v1/wallet/withdrawals', { requestId: 'x-11', memberId: 'alice', amountCents: 20001 }, 422, 'insufficient_wallet'],
    ['an adjustment below zero', '/v1/points/adjustments', { requestId: 'x-12', memberId: 'alice', points: -101, reason: 'oops' }, 422, 'insufficient_points'],
    ['a zero adjustment', '/v1/points/adjustments', { requestId: 'x-13', memberId: 'alice', points: 0, reason: 'none' }, 400, 'invalid_request'],
    ['redeeming more points than held for cash', '/v1/points/redemptions', { requestId: 'x-14', memberId: 'alice', points: 101 }, 422, 'insufficient_points'],
    ['points worth less than a cent', '/v1/points/redemptions', { requestId: 'x-15', memberId: 'alice', points: 0 }, 400, 'invalid_request'],
    ['malformed JSON', '/v1/purchases', '{"orderId":', 400, 'invalid_request'],
    ['a prototype-polluting key', '/v1/purchases', '{"orderId":"x-16","memberId":"alice","amountCents":100,"__proto__":{"admin":true}}', 400, 'invalid_request'],
    ['a taken member id', '/v1/members', { memberId: 'alice', name: 'Someone Else' }, 409, 'member_exists'],
    ['a taken phone', '/v1/members', { memberId: 'eve', phone: '+852 5555 0001' }, 409, 'phone_taken'],
    ['a taken email', '/v1/members', { memberId: 'eve', email: 'alice@example.com' }, 409, 'email_taken'],
    ['a registration without key', '/v1/members', { name: 'No Key' }, 400, 'invalid_request'],
  ];
  it.each(cases)('%s', async (_name, path, body, status, code) => {
    const before = await snapshot('alice');
    const r = await server.post(path, body);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
    expect(await snapshot('alice')).toEqual(before);
    // A rejected request stores no key: the same key can still be used for a valid request.
  });

  it('names the offending field', async () => {
    // Raw: a string amount is outside the body's type.
    const r = await server.post('/v1/purchases', { orderId: 'x-20', memberId: 'alice', amountCents: 'ten' });
    expect(r.body.error.field).toBe('amountCents');
    const p = await refusal(server.call('PUT /v1/program', { body: { ...(await server.call('GET /v1/program')), tiers: [] } }));
    expect(p).toMatchObject({ status: 400, field: 'tiers' });
  });

  it('lets a key refused for a business rule be used again once the rule is met', async () => {
    const refused = await refusal(server.call('POST /v1/points/redemptions', { body: { requestId: 'later', memberId: 'alice', points: 200 } }));
    expect(refused).toMatchObject({ status: 422, code: 'insufficient_points' });
    await server.call('POST /v1/points/adjustments', { body: { requestId: 'adj-later', memberId: 'alice', points: 100, reason: 'promo' } });
    const ok = await server.call('POST /v1/points/redemptions', { body: { requestId: 'later', memberId: 'alice', points: 200 } });
    expect(ok).toMatchObject({ points: 0, walletCreditCents: 4000, replayed: false });
  });
});

describe('roles', () => {
  it('gives each role its endpoints and nothing more', async () => {
    const make = async (role: 'admin' | 'reader' | 'pos' | 'storefront') => (await server.call('POST /v1/admin/keys', { body: { role } })).key;
    const pos = await make('pos');
    const reader = await make('reader');
    await server.client(pos).call('POST /v1/purchases', { body: { orderId: 'pos-1', memberId: 'bob', amountCents: 100 } });
    expect((await refusal(server.client(pos).call('POST /v1/points/adjustments', { body: { requestId: 'pos-adj', memberId: 'bob', points: 5, reason: 'x' } }))).status).toBe(403);
    expect((await refusal(server.client(pos).call('POST /v1/members', { body: { memberId: 'opening', points: 500 } })))).toMatchObject({ code: 'forbidden', field: 'points' });
    await server.client(reader).call('GET /v1/members/:id', { params: { id: 'bob' } });
    expect((await refusal(server.client(reader).call('POST /v1/purchases', { body: { orderId: 'rd-1', memberId: 'bob', amountCents: 100 } }))).status).toBe(403);
    expect((await refusal(server.client(reader).call('GET /v1/admin/verify'))).status).toBe(403);
    expect((await refusal(server.client(pos).call('PUT /v1/program', { body: {} }))).status).toBe(403);
  });

  it('lets an admin open a member with a tier, points and wallet (migration)', async () => {
    const r = await server.call('POST /v1/members', { body: { memberId: 'migrated', tierId: 'silver', points: 500, walletCents: 2500 } });
    expect(r).toMatchObject({ tierId: 'silver', points: 500, walletBalanceCents: 2500 });
    expect(r.periodEnd).not.toBeNull();
  });
});

describe('members', () => {
  it('finds by phone, patches the profile, and lists with q, tierId and a cursor', async () => {
    const byPhone = await server.call('GET /v1/members/by-phone/:phone', { params: { phone: '+852 5555 0001' } });
    expect(byPhone.memberId).toBe('alice');
    const patched = await server.call('PATCH /v1/members/:id', { params: { id: 'alice' }, body: { phone: '+852 5555 0009', address: '1 Queen\'s Road' } });
    expect(patched).toMatchObject({ phone: '+85255550009', address: '1 Queen\'s Road', points: 0 });
    expect((await refusal(server.call('GET /v1/members/by-phone/:phone', { params: { phone: '+852 5555 0001' } }))).status).toBe(404);
    expect((await server.call('GET /v1/members/by-phone/:phone', { params: { phone: '+852 5555 0009' } })).memberId).toBe('alice');
    // The released phone can be taken by someone else now.
    await server.call('POST /v1/members', { body: { memberId: 'frank', phone: '+852 5555 0001' } });
    // Raw: a field a profile change does not have is outside the body's type.
    expect((await server.request('PATCH', '/v1/members/frank', { points: 5 })).status).toBe(400);
    // A phone another member holds is refused, and neither member changes.
    const frankBefore = (await server.call('GET /v1/members/:id', { params: { id: 'frank' } }));
    const clash = await refusal(server.call('PATCH /v1/members/:id', { params: { id: 'frank' }, body: { phone: '+852 5555 0009', name: 'Frank' } }));
    expect(clash).toMatchObject({ status: 409, code: 'phone_taken', field: 'phone' });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'frank' } }))).toEqual(frankBefore);
    expect((await server.call('GET /v1/members/by-phone/:phone', { params: { phone: '+852 5555 0009' } })).memberId).toBe('alice');

    const gold = await server.call('GET /v1/members', { query: { tierId: 'gold' } });
    expect(gold.members.map((m) => m.memberId).sort()).toEqual(['alice', 'bob']);
    const q = await server.call('GET /v1/members', { query: { q: 'ali' } });
    expect(q.members.map((m) => m.memberId)).toEqual(['alice']);
    const p1 = await server.call('GET /v1/members', { query: { limit: 2 } });
    expect(p1.members).toHaveLength(2);
    const p2 = await server.call('GET /v1/members', { query: { limit: 2, cursor: p1.nextCursor ?? undefined } });
    expect(p2.members[0]!.memberId > p1.members[1]!.memberId).toBe(true);
  });

  it('answers balances as they were at a past moment', async () => {
    const r = await server.call('GET /v1/members/:id/balance', { params: { id: 'alice' }, query: { at: '2026-11-20T11:30:00Z' } });
    expect(r).toEqual({ at: '2026-11-20T11:30:00.000Z', points: 55, growth: 55, walletCents: 0, pendingPoints: 0 });
  });
});

describe('many ops on one member at once', () => {
  it('applies concurrent purchases in one batch in order, upgrading exactly once', async () => {
    await server.call('POST /v1/members', { body: { memberId: 'burst' } });
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      server.call('POST /v1/purchases', { body: { orderId: `burst-${i}`, memberId: 'burst', amountCents: 20000 } })));
    expect(replies.map((r) => r.earnedPoints)).toEqual(replies.map(() => 10));
    // Whatever order they were applied in, the fifth crossed Silver's $1,000 and carried 0.
    expect(replies.filter((r) => r.upgradedTo === 'silver')).toHaveLength(1);
    expect(replies.map((r) => r.points).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 10 * (i + 1)));
    expect(await member('burst')).toMatchObject({ points: 200, tierId: 'silver', periodMetric: 300000, lifetimeSpendCents: 400000, purchaseCount: 20 });
    const ledger = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'burst' }, query: { limit: '100' } })).entries;
    expect(ledger.filter((e) => e.kind === 'upgrade')).toHaveLength(1);
    expect(ledger).toHaveLength(22);
  });
});

describe('program changes', () => {
  it('validates, versions and applies a new program to operations after it', async () => {
    const current = (await server.call('GET /v1/program'));
    const next = { ...current, orderPoints: 7 };
    const r = await server.call('PUT /v1/program', { body: next });
    expect(r.version).toBe(current.version + 1);
    const p = await server.call('POST /v1/purchases', { body: { orderId: 'b-2', memberId: 'bob', amountCents: 1000 } });
    expect(p.earnedPoints).toBe(1 + 7);
  });
});

describe('restart', () => {
  it('keeps every balance, key and program across a restart, and verify is clean', async () => {
    const before = await snapshot('alice');
    const program = (await server.call('GET /v1/program'));
    await server.stop();
    await server.start();
    expect(await snapshot('alice')).toEqual(before);
    expect((await server.call('GET /v1/program'))).toEqual(program);
    const replay = await server.call('POST /v1/wallet/topups', { body: { requestId: 't-1', memberId: 'alice', amountCents: 100000 } });
    expect(replay).toMatchObject({ replayed: true, walletBalanceCents: 110000 });
    expect((await refusal(server.call('POST /v1/members', { body: { memberId: 'late', phone: '+852 5555 0009' } }))).code).toBe('phone_taken');
    const v = await server.call('GET /v1/admin/verify');
    expect(v).toMatchObject({ ok: true, mismatches: [] });
    expect(v.members).toBe(7);
  });

  it('keeps what was acknowledged when the process is killed', async () => {
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'b-kill', memberId: 'bob', amountCents: 2000 } });
    await server.kill();
    await server.start();
    await server.call('GET /v1/orders/:id', { params: { id: 'b-kill' } });
    expect((await member('bob')).points).toBe(r.points);
    expect((await server.call('GET /v1/admin/verify')).ok).toBe(true);
  });
});
