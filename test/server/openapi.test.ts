// The OpenAPI document cannot drift from the server: every route of the router is in it and
// nothing else, every error code of the catalogue, every body field the op builders read; the
// repository's docs/openapi.json is what the server serves; the shape checks derived from the schemas
// answer exactly what the op builders answer; and `redocly lint` passes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TSchema } from '@sinclair/typebox';
import { ERRORS } from '../../engine/errors.js';
import { FieldError } from '../../engine/rules/validate.js';
import { PROFILE_FIELDS } from '../../engine/ops.js';
import { handle, openApiJson, routeList, type Api } from '../../server/routes.js';
import { ROUTE_DOCS as CATALOGUE, routeKey } from '../../server/schema/catalogue.js';
import * as B from '../../server/schema/bodies.js';
import { checkBody } from '../../server/schema/body-check.js';
import { openApiPath } from '../../server/schema/openapi.js';
import { EXAMPLES } from '../../server/schema/examples.js';
import * as R from '../../server/requests.js';
import * as Rr from '../../server/reward-requests.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const doc = JSON.parse(openApiJson()) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, Record<string, unknown>> } };

describe('the OpenAPI document', () => {
  it('names every route of the router, and no other', () => {
    const fromRouter = routeList().map((r) => routeKey(r.method, r.path)).sort();
    expect(Object.keys(CATALOGUE).sort()).toEqual(fromRouter);
    const fromDocument = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    expect(fromDocument).toEqual(routeList().map((r) => `${r.method} ${openApiPath(r.path).path}`).sort());
  });

  it('lists every error code of engine/errors.ts, and no other', () => {
    const codes = ((doc.components.schemas['ErrorAnswer']!['properties'] as Record<string, Record<string, unknown>>)['error']!['properties'] as Record<string, { enum?: string[] }>)['code']!.enum;
    expect([...codes!].sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('is the one kept in the repository (npm run openapi writes it)', () => {
    expect(readFileSync(join(ROOT, 'docs/openapi.json'), 'utf8')).toBe(openApiJson());
  });

  it('is served at GET /openapi.json without a key, cacheable', async () => {
    const reply = await handle({ keys: { authenticate: () => null } } as unknown as Api, { method: 'GET', path: '/openapi.json', query: new URLSearchParams(), authorization: '', body: '' });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(openApiJson());
    expect(reply.headers).toEqual({ 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=3600' });
  });

  it('has an example for every JSON write route, each naming a route of the catalogue', () => {
    for (const e of EXAMPLES) expect(CATALOGUE[e.route], e.route).toBeDefined();
    const writes = Object.entries(CATALOGUE).filter(([, d]) => d.body !== undefined).map(([k]) => k);
    const missing = writes.filter((k) => !EXAMPLES.some((e) => e.route === k));
    expect(missing).toEqual([]);
  });

  it('passes `redocly lint` with the repository\'s rules', () => {
    const out = execFileSync(join(ROOT, 'node_modules/.bin/redocly'), ['lint', 'docs/openapi.json', '--config', 'redocly.yaml', '--format', 'summary'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).not.toMatch(/warning|error/i);
  }, 60_000);
});

// The op builders the schemas stand in front of, with a context that makes every role and instant valid.
const CTX: R.RequestContext = { role: 'admin', nowMs: Date.parse('2026-11-30T00:00:00Z'), defaultCountry: 'HK' };
const HAND: Array<[string, TSchema, (body: unknown) => unknown]> = [
  ['register', B.RegisterBody, (b) => R.registerOp(b, CTX, () => 'generated')],
  ['patch', B.PatchBody, (b) => R.patchOp('alice', b, CTX)],
  ['purchase', B.PurchaseBody, (b) => R.purchaseOp(b, CTX)],
  ['quote', B.QuoteBody, (b) => R.quoteOp(b, CTX)],
  ['return', B.ReturnBody, (b) => R.returnOp(b, CTX)],
  ['product', B.ProductPurchaseBody, (b) => R.productOp(b, CTX)],
  ['transfer', B.TransferBody, (b) => R.transferOp(b, CTX)],
  ['redeem', B.RedeemBody, (b) => R.redeemOp(b, CTX)],
  ['adjust', B.AdjustBody, (b) => R.adjustOp(b, CTX)],
  ['topup', B.TopupBody, (b) => R.topupOp(b, CTX)],
  ['withdraw', B.WithdrawBody, (b) => R.withdrawOp(b, CTX)],
  ['erase', B.EraseBody, (b) => R.eraseOp('alice', b, CTX)],
  ['coupon issue', B.CouponIssueBody, (b) => R.couponIssueOp(b, CTX)],
  ['coupon revoke', B.CouponRevokeBody, (b) => R.couponRevokeRequest(b, CTX)],
  ['reward redeem', B.RewardRedeemBody, (b) => Rr.rewardRedeemOp(b, CTX)],
  ['fulfil', B.FulfilBody, (b) => Rr.rewardFulfilRequest('rd-1', b, CTX)],
  ['cancel', B.CancelBody, (b) => Rr.rewardCancelRequest('rd-1', b, CTX)],
  ['restock', B.RestockBody, (b) => Rr.rewardStockOp('mug', b, CTX)],
  ['card use', B.CardUseBody, (b) => Rr.cardUseOp(b, CTX)],
  ['card adjust', B.CardAdjustBody, (b) => Rr.cardAdjustOp(b, CTX)],
];

/** What a check answers: 'ok', or the field and message it refuses with. */
function verdict(check: () => unknown): string {
  try {
    check();
    return 'ok';
  } catch (err) {
    if (err instanceof FieldError) return `${err.field}: ${err.message}`;
    return `refused: ${(err as Error).message}`;
  }
}

const propertiesOf = (schema: TSchema): Record<string, Record<string, unknown>> => schema['properties'] as Record<string, Record<string, unknown>>;
const ALL_NAMES = [...new Set([...PROFILE_FIELDS, ...HAND.flatMap(([, s]) => Object.keys(propertiesOf(s))), 'op', 'id', 'code', 'amount', 'version'])];
/** Values of every kind, valid and not, that a mutated field takes. */
const VALUES: unknown[] = [null, true, 0, 1, -1, 1.5, 2 ** 60, '', 'x', 'a b', '2026-11-02T02:00:00Z', '2026-11-02', 'a@b', [], ['x'], [{}], {}, 'x'.repeat(300)];

const routeKeyOf = (schema: TSchema): string => Object.entries(CATALOGUE).find(([, d]) => d.body === schema)![0];

describe('the body schemas and the op builders', () => {
  const example = (name: string): Record<string, unknown> => {
    const routeOf: Record<string, string> = {
      register: 'POST /v1/members', patch: 'PATCH /v1/members/:id', purchase: 'POST /v1/purchases', quote: 'POST /v1/checkout/quote', return: 'POST /v1/returns',
      product: 'POST /v1/product-purchases', transfer: 'POST /v1/wallet/transfers', redeem: 'POST /v1/points/redemptions', adjust: 'POST /v1/points/adjustments',
      topup: 'POST /v1/wallet/topups', withdraw: 'POST /v1/wallet/withdrawals', erase: 'POST /v1/members/:id/erase', 'coupon issue': 'POST /v1/coupons/issue',
      'coupon revoke': 'POST /v1/coupons/:code/revoke', 'reward redeem': 'POST /v1/rewards/redemptions', fulfil: 'POST /v1/rewards/redemptions/:id/fulfil',
      cancel: 'POST /v1/rewards/redemptions/:id/cancel', restock: 'POST /v1/rewards/:id/stock', 'card use': 'POST /v1/cards/uses', 'card adjust': 'POST /v1/cards/adjustments',
    };
    const found = EXAMPLES.find((e) => e.route === routeOf[name] && e.status !== 400);
    return { ...(found!.body as Record<string, unknown>) };
  };

  it.each(HAND)('%s: the builder reads every field of the schema and no other', (name, schema, build) => {
    const known = Object.keys(propertiesOf(schema));
    const base = example(name);
    expect(verdict(() => build(base)), 'the example passes the builder').toBe('ok');
    for (const field of ALL_NAMES) {
      const said = verdict(() => build({ ...base, [field]: base[field] ?? 'x' }));
      if (known.includes(field)) expect(said, `${name}.${field}`).not.toBe(`${field}: unknown field`);
      else expect(said, `${name}.${field}`).toBe(`${field}: unknown field`);
    }
  });

  it.each(HAND)('%s: a body the schema refuses is refused by the builder in the same words', (name, schema, build) => {
    const base = example(name);
    // A fulfilment's and a cancellation's `null` body is read as `{}` by the router, as by their builders.
    const optional = CATALOGUE[routeKeyOf(schema)]?.bodyNullable === true;
    const bodies: unknown[] = [...(optional ? [] : [null]), [], 'x', {}, { ...base, zzz: 1 }, JSON.parse('{"__proto__":1}')];
    for (const field of Object.keys(propertiesOf(schema))) {
      const without = { ...base };
      delete without[field];
      bodies.push(without);
      for (const value of VALUES) bodies.push({ ...base, [field]: value });
    }
    for (const body of bodies) {
      const fromSchema = verdict(() => checkBody(schema, body));
      if (fromSchema === 'ok') continue;
      expect(verdict(() => build(body)), `${name} ${JSON.stringify(body)?.slice(0, 200)}`).toBe(fromSchema);
    }
  });
});

// The bodies whose checks live in a route's handler rather than an op builder: the first problem
// answered is the one the handler answered before the schemas stood in front of it (its words are
// copied here from server/routes.ts, server/coupons.ts, server/webhooks/requests.ts and
// engine/rules/what-if-report.ts).
describe('the bodies checked in handlers', () => {
  const api = {
    keys: { authenticate: () => ({ id: 'k_admin', role: 'admin' }) },
    metrics: { countInternalError: () => undefined },
    engine: { now: () => Date.parse('2026-11-30T00:00:00Z') },
  } as unknown as Api;
  const post = (path: string, body: unknown) => handle(api, { method: 'POST', path, query: new URLSearchParams(), authorization: 'Bearer x', body: JSON.stringify(body) });
  const ISO = 'must be an ISO-8601 time with an offset, e.g. 2026-11-22T10:00:00Z';
  const cases: Array<[string, unknown, string, string]> = [
    ['/v1/admin/keys', {}, 'role', 'must be one of admin, pos, storefront, reader'],
    ['/v1/admin/keys', { role: 'boss' }, 'role', 'must be one of admin, pos, storefront, reader'],
    ['/v1/admin/keys', { role: 'pos', ttl: 1 }, 'ttl', 'unknown field'],
    ['/v1/admin/backup', { dir: '' }, 'dir', 'must be a folder path of 1..4096 characters'],
    ['/v1/admin/backup', { dir: 7 }, 'dir', 'must be a folder path of 1..4096 characters'],
    ['/v1/admin/sweep', { asOf: 1.5 }, 'asOf', 'must be an integer'],
    ['/v1/admin/sweep', { asOf: 'yesterday' }, 'asOf', ISO],
    ['/v1/admin/sweep', { asOf: null }, 'asOf', ISO],
    ['/v1/admin/sweep', [], '(root)', 'must be an object'],
    ['/v1/admin/webhooks', {}, 'url', 'must be an http or https URL of 1..2048 characters'],
    ['/v1/admin/webhooks', { url: 'http://a.example' }, 'events', 'must be a list of 1..15 event types'],
    ['/v1/admin/webhooks', { url: 'http://a.example', events: [] }, 'events', 'must be a list of 1..15 event types'],
    ['/v1/admin/webhooks', { url: 'http://a.example', events: ['member.registered', 'nope'] }, 'events[1]', 'must be one of member.registered, member.updated, member.tier_changed, member.erased, purchase.recorded, return.recorded, points.expiring, points.expired, points.activated, coupon.issued, coupon.expiring, reward.redeemed, card.used, wallet.changed, referral.rewarded'],
    ['/v1/admin/webhooks/w1/redeliver', {}, 'fromEventId', 'must be the id of an event of this server (`<shard>:<seq>` or `<shard>:<seq>:<n>`)'],
    ['/v1/admin/webhooks/w1/redeliver', { fromEventId: 3 }, 'fromEventId', 'must be the id of an event of this server (`<shard>:<seq>` or `<shard>:<seq>:<n>`)'],
    ['/v1/admin/what-if', {}, 'program', 'is required'],
    ['/v1/admin/what-if', { program: {}, when: 5 }, 'when', 'unknown field'],
    ['/v1/coupons/bulk-issue', { requestId: 'b', templateId: 't', memberIds: ['ok', 'bad id'] }, 'memberIds[1]', 'must be 1-64 characters of [A-Za-z0-9._:-]'],
    ['/v1/coupons/bulk-issue', { requestId: 'b', templateId: 't', memberIds: [] }, 'memberIds', 'must have between 1 and 100000 items'],
    ['/v1/coupons/bulk-issue', { requestId: 'b', templateId: 't', rfmSegment: 'vip' }, 'rfmSegment', 'must be one of "champions", "loyal", "at_risk", "hibernating", "new", "others"'],
    ['/v1/coupons/bulk-issue', { templateId: 't', tierId: 'gold' }, 'requestId', 'required'],
  ];
  it.each(cases)('POST %s %j: %s', async (path, body, field, message) => {
    const reply = await post(path, body);
    expect(reply).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', message: `${field}: ${message}`, field } } });
  });
});
