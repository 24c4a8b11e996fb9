// The coupon fields of requests and the coupon endpoints' checks, in-process against an engine that
// records what reaches it: `couponCodes` on purchases and quotes (HTTP and stream ops share
// server/requests.ts) read as typed and refused with exact codes and field paths; the purchase
// fingerprint unchanged for bodies without coupons and changed by any other coupons; the coupon
// endpoints refuse a malformed body, an unknown template or code before any op reaches a shard.
import { describe, expect, it } from 'vitest';
import * as R from '../../server/requests.js';
import { bodyFingerprint, couponIssueFingerprint, purchaseFingerprint } from '../../server/fingerprint.js';
import { FieldError } from '../../engine/rules/validate.js';
import { handle, type Api, type ApiReply } from '../../server/routes.js';
import { demoProgram } from '../../engine/rules/program.js';
import { buildOp } from '../../server/perform.js';
import type { Engine } from '../../engine/router/engine.js';
import type { KeyStore } from '../../server/auth.js';
import type { Metrics } from '../../server/metrics.js';
import type { Role } from '../../server/auth.js';

const NOW_MS = Date.parse('2026-06-01T00:00:00Z');
const ctx = (role: Role = 'admin'): R.RequestContext => ({ role, nowMs: NOW_MS, defaultCountry: 'HK' });
const CODE = '7K3M9QX2HD4P';
const OTHER = '0123456789AB';

/** The FieldError a builder throws, as [field, message]. */
function refusalOf(build: () => unknown): [string, string] {
  try {
    build();
  } catch (err) {
    if (err instanceof FieldError) return [err.field, err.message];
    throw err;
  }
  throw new Error('not refused');
}

const purchase = (extra: Record<string, unknown>) => ({ orderId: 'o1', memberId: 'm1', amountCents: 1000, ...extra });

describe('couponCodes on a purchase and a quote', () => {
  it('reads codes as typed (case, hyphens, spaces, O for 0, I and L for 1) and keeps them as issued, in order', () => {
    const op = R.purchaseOp(purchase({ couponCodes: ['7k3m-9qx2-hd4p', ' 0I23 4567 89ab '] }), ctx());
    expect(op.couponCodes).toEqual([CODE, '0123456789AB']);
    expect(R.quoteOp({ memberId: 'm1', amountCents: 10, couponCodes: ['OL23456789ab'] }, ctx()).couponCodes).toEqual(['0123456789AB']);
  });

  it('leaves an empty list out of the op', () => {
    expect('couponCodes' in R.purchaseOp(purchase({ couponCodes: [] }), ctx())).toBe(false);
    expect('couponCodes' in R.quoteOp({ memberId: 'm1', amountCents: 10, couponCodes: [] }, ctx())).toBe(false);
  });

  it.each([
    [{ couponCodes: 'X' }, 'couponCodes', 'must be an array'],
    [{ couponCodes: [CODE, OTHER, '1111111111AA', '2222222222AA', '3333333333AA', '4444444444AA'] }, 'couponCodes', 'must have between 0 and 5 items'],
    [{ couponCodes: [CODE, 7] }, 'couponCodes[1]', 'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)'],
    [{ couponCodes: [CODE, OTHER, '7K3M9QX2HD4U'] }, 'couponCodes[2]', 'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)'],
    [{ couponCodes: ['7K3M9QX2HD4'] }, 'couponCodes[0]', 'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)'],
    [{ couponCodes: ['7K3M9QX2HD4PP'] }, 'couponCodes[0]', 'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)'],
    [{ couponCodes: [`${'-'.repeat(30)}${CODE}`] }, 'couponCodes[0]', 'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)'],
    [{ couponCodes: [CODE, OTHER, '7k3m-9qx2-hd4p'] }, 'couponCodes[2]', 'repeats couponCodes[0]'],
  ])('refuses %j naming %s', (extra, field, message) => {
    expect(refusalOf(() => R.purchaseOp(purchase(extra), ctx()))).toEqual([field, message]);
    expect(refusalOf(() => R.quoteOp({ memberId: 'm1', amountCents: 10, ...extra }, ctx()))).toEqual([field, message]);
  });

  it('are refused the same on a stream op, which is built by the same function', () => {
    const engine = { program: { program: demoProgram() }, newMemberId: () => 'x' } as unknown as Engine;
    expect(buildOp(engine, 'purchase', purchase({ couponCodes: [CODE, 'nope'] }), 'pos', NOW_MS, 'k_pos')).toEqual({
      ok: false, error: { code: 'invalid_request', message: 'couponCodes[1]: must be a coupon code: 12 letters and digits (hyphens and spaces allowed)', field: 'couponCodes[1]' },
    });
    expect(buildOp(engine, 'purchase', purchase({ couponCodes: ['7k3m9qx2hd4p'] }), 'pos', NOW_MS, 'k_pos')).toMatchObject({ couponCodes: [CODE] });
  });
});

describe('the purchase fingerprint', () => {
  it('is what it was before coupons for a body without couponCodes (an empty list included)', () => {
    // Values computed with the fingerprint code as it was before couponCodes existed.
    const full = purchase({ amountCents: 1000, discountCents: 5, redeemPoints: 10, walletCents: 3, storeId: 's', channel: 'online', items: [{ sku: 'a', qty: 2, amountCents: 500 }] });
    expect(R.purchaseOp(full, ctx()).fp).toBe(8838266928885446);
    expect(R.purchaseOp({ orderId: 'o2', memberId: 'm1', amountCents: 1, at: '2026-05-31T10:00:00+08:00' }, ctx()).fp).toBe(8898290484566063);
    expect(R.purchaseOp({ orderId: 'o3', memberId: 'm1', amountCents: 1, couponCodes: [] }, ctx()).fp).toBe(7979236188896026);
    expect(R.purchaseOp(full, ctx()).fp).toBe(bodyFingerprint('purchase', full));
  });

  it('is that of the body as written when the codes are written as issued', () => {
    const body = purchase({ channel: 'offline', couponCodes: [CODE, OTHER] });
    expect(R.purchaseOp(body, ctx()).fp).toBe(bodyFingerprint('purchase', body));
  });

  it('changes with the coupons, their order and their number, not with how a code was typed', () => {
    const fp = (codes: string[] | undefined) => R.purchaseOp(purchase(codes === undefined ? {} : { couponCodes: codes }), ctx()).fp;
    const fps = [fp(undefined), fp([CODE]), fp([OTHER]), fp([CODE, OTHER]), fp([OTHER, CODE])];
    expect(new Set(fps).size).toBe(5);
    expect(fp(['7k3m-9qx2-hd4p'])).toBe(fp([CODE]));
    const op = R.purchaseOp(purchase({ couponCodes: [CODE] }), ctx());
    expect(purchaseFingerprint(op, false)).toBe(op.fp);
  });
});

describe('coupon issue and revoke requests', () => {
  it('issue: keyed by requestId, fingerprinted by member, template and an `at` sent', () => {
    const op = R.couponIssueOp({ requestId: 'r1', templateId: 't1', memberId: 'm1' }, ctx());
    expect(op).toMatchObject({ op: 'coupon_issue', memberId: 'm1', templateId: 't1', source: 'admin', key: 'req:r1', atMs: NOW_MS });
    expect(op.fp).toBe(couponIssueFingerprint(op, 'r1', false));
    expect(R.couponIssueOp({ requestId: 'r1', templateId: 't2', memberId: 'm1' }, ctx()).fp).not.toBe(op.fp);
    expect(R.couponIssueOp({ requestId: 'r1', templateId: 't1', memberId: 'm2' }, ctx()).fp).not.toBe(op.fp);
    expect(R.couponIssueOp({ requestId: 'r1', templateId: 't1', memberId: 'm1', at: '2026-05-31T00:00:00Z' }, ctx()).fp).not.toBe(op.fp);
    expect(refusalOf(() => R.couponIssueOp({ requestId: 'r1', templateId: 't1', memberId: 'm1', code: CODE }, ctx()))).toEqual(['code', 'unknown field']);
    expect(refusalOf(() => R.couponIssueOp({ templateId: 't1', memberId: 'm1' }, ctx()))[0]).toBe('requestId');
  });

  it('bulk: one op per member, keyed by the bulk and the member, the same for a retry', () => {
    const a = R.bulkIssueOp('b1', 't1', 'm1', NOW_MS);
    expect(a).toMatchObject({ op: 'coupon_issue', memberId: 'm1', templateId: 't1', source: 'bulk', key: 'bulk:b1:m1' });
    expect(R.bulkIssueOp('b1', 't1', 'm1', NOW_MS + 60_000).fp).toBe(a.fp);
    expect(R.bulkIssueOp('b1', 't2', 'm1', NOW_MS).fp).not.toBe(a.fp);
  });

  it('revoke: keyed by requestId, fingerprinted by the code as issued', () => {
    const op = R.couponRevokeRequest({ requestId: 'r1' }, ctx())(CODE, 'm1');
    expect(op).toMatchObject({ op: 'coupon_revoke', memberId: 'm1', code: CODE, key: 'req:r1', atMs: NOW_MS });
    expect(R.couponRevokeRequest({ requestId: 'r1' }, ctx())(OTHER, 'm1').fp).not.toBe(op.fp);
    expect(refusalOf(() => R.couponRevokeRequest({ requestId: 'r1', memberId: 'm1' }, ctx()))).toEqual(['memberId', 'unknown field']);
  });
});

/** An engine that records every op, query and listing that reaches it. */
function recording(): { api: Api; reached: string[] } {
  const reached: string[] = [];
  const program = { ...demoProgram(), coupons: [{ id: 'w10' }] };
  const shard = { query: async (q: { q: string; code: string }) => { reached.push(`query ${q.q} ${q.code}`); return q.code === CODE ? { code: CODE, memberId: 'm1' } : null; } };
  const engine = {
    now: () => NOW_MS,
    program: { version: 1, program },
    run: async (op: { op: string }) => { reached.push(`run ${op.op}`); return { ok: true, replayed: false }; },
    shardOfCode: () => shard,
    queryMember: async (q: { q: string; state?: string }) => { reached.push(`member ${q.q} ${q.state ?? ''}`); return []; },
    listMembers: async () => { reached.push('list'); return { members: [], nextCursor: null }; },
    rfm: async () => { reached.push('rfm'); return { segments: { champions: { members: [] } } }; },
  };
  const keys = { authenticate: () => ({ role: 'admin' }) };
  const metrics = { countInternalError: () => undefined };
  return { api: { engine: engine as unknown as Engine, keys: keys as unknown as KeyStore, metrics: metrics as unknown as Metrics }, reached };
}

const request = (a: Api, method: string, path: string, body: unknown = undefined): Promise<ApiReply> => {
  const url = new URL(path, 'http://x');
  return handle(a, { method, path: url.pathname, query: url.searchParams, authorization: 'Bearer k', body: body === undefined ? '' : JSON.stringify(body) });
};
const answer = (reply: ApiReply) => [reply.status, reply.body];
const invalid = (field: string, message: string) => [400, { error: { code: 'invalid_request', message: `${field}: ${message}`, field } }];

describe('the coupon endpoints', () => {
  it('issue: an unknown template is 404 before any shard; a known one runs the op and answers 201', async () => {
    const { api, reached } = recording();
    expect(answer(await request(api, 'POST', '/v1/coupons/issue', { requestId: 'r', templateId: 'nope', memberId: 'm1' })))
      .toEqual([404, { error: { code: 'coupon_template_not_found', message: 'no coupon template with that id in the program', field: 'templateId' } }]);
    expect(answer(await request(api, 'POST', '/v1/coupons/issue', { requestId: 'r', templateId: 'w10' }))).toEqual(invalid('memberId', 'required'));
    expect(reached).toEqual([]);
    expect(answer(await request(api, 'POST', '/v1/coupons/issue', { requestId: 'r', templateId: 'w10', memberId: 'm1' }))).toEqual([201, { replayed: false }]);
    expect(reached).toEqual(['run coupon_issue']);
  });

  it('bulk: exactly one selector, each id once, a known tier, segment and template, else nothing is issued', async () => {
    const { api, reached } = recording();
    const bulk = (body: Record<string, unknown>) => request(api, 'POST', '/v1/coupons/bulk-issue', { requestId: 'b', templateId: 'w10', ...body });
    expect(answer(await bulk({}))).toEqual(invalid('(root)', 'name exactly one of memberIds, tierId and rfmSegment'));
    expect(answer(await bulk({ memberIds: ['a'], tierId: 'gold' }))).toEqual(invalid('tierId', 'name exactly one of memberIds, tierId and rfmSegment'));
    expect(answer(await bulk({ memberIds: [] }))).toEqual(invalid('memberIds', 'must have between 1 and 100000 items'));
    expect(answer(await bulk({ memberIds: ['a', 'b', 'a'] }))).toEqual(invalid('memberIds[2]', 'repeats memberIds[0]'));
    expect(answer(await bulk({ memberIds: ['a', 'b c'] }))[1]).toMatchObject({ error: { code: 'invalid_request', field: 'memberIds[1]' } });
    expect(answer(await bulk({ rfmSegment: 'whales' }))[1]).toMatchObject({ error: { code: 'invalid_request', field: 'rfmSegment' } });
    expect(answer(await bulk({ tierId: 'platinum' }))).toEqual([404, { error: { code: 'tier_not_found', message: 'no tier with that id in the program', field: 'tierId' } }]);
    expect(answer(await bulk({ templateId: 'nope', memberIds: ['a'] }))[1]).toMatchObject({ error: { code: 'coupon_template_not_found', field: 'templateId' } });
    expect(reached).toEqual([]);
    expect(answer(await bulk({ memberIds: ['a', 'b'] }))).toEqual([200, { issued: 2, skipped: 0, failed: 0, members: 2, failures: [] }]);
    expect(answer(await bulk({ rfmSegment: 'champions' }))).toEqual([200, { issued: 0, skipped: 0, failed: 0, members: 0, failures: [] }]);
    expect(reached).toEqual(['run coupon_issue', 'run coupon_issue', 'rfm']);
  });

  it('revoke: the body is checked first, then the code is looked for on its shard, then the op runs', async () => {
    const { api, reached } = recording();
    expect(answer(await request(api, 'POST', `/v1/coupons/${CODE}/revoke`, {}))).toEqual(invalid('requestId', 'required'));
    expect(answer(await request(api, 'POST', '/v1/coupons/not-a-code/revoke', { requestId: 'r' }))).toEqual([404, { error: { code: 'coupon_not_found', message: 'no coupon with that code' } }]);
    expect(reached).toEqual([]);
    expect(answer(await request(api, 'POST', `/v1/coupons/${OTHER}/revoke`, { requestId: 'r' }))[0]).toBe(404);
    expect(answer(await request(api, 'POST', '/v1/coupons/7k3m-9qx2-hd4p/revoke', { requestId: 'r' }))).toEqual([200, { replayed: false }]);
    expect(reached).toEqual([`query coupon ${OTHER}`, `query coupon ${CODE}`, 'run coupon_revoke']);
  });

  it('lookups: a malformed code is 404 like an unknown one; a bad state or instant is 400', async () => {
    const { api, reached } = recording();
    expect(answer(await request(api, 'GET', '/v1/coupons/7K3M9QX2HD4U'))).toEqual([404, { error: { code: 'coupon_not_found', message: 'no coupon with that code' } }]);
    expect(answer(await request(api, 'GET', `/v1/coupons/${CODE}?at=1999-01-01T00:00:00Z`))).toEqual(invalid('at', 'must not be before 2000-01-01T00:00:00Z'));
    expect(answer(await request(api, 'GET', '/v1/members/m1/coupons?state=lost'))[1]).toMatchObject({ error: { code: 'invalid_request', field: 'state' } });
    expect(reached).toEqual([]);
    expect(answer(await request(api, 'GET', '/v1/coupons/7k3m%209qx2%20hd4p'))).toEqual([200, { code: CODE, memberId: 'm1' }]);
    expect(answer(await request(api, 'GET', '/v1/members/m1/coupons?state=used'))).toEqual([200, { memberId: 'm1', coupons: [] }]);
    expect(reached).toEqual([`query coupon ${CODE}`, 'member memberCoupons used']);
  });
});
