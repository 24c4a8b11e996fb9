// Coupons over a real server on four shards (docs/api.md, Coupons; docs/rules.md §12): the welcome
// coupon of a registration used on the first purchase, a percentage with its cap, every refusal at
// the checkout leaving the member and its coupons as they were, a coupon held by the first op of a
// stream batch, totalMax exact under 500 concurrent issues spread over every shard (and across a
// SIGKILL and a restart), a bulk issue to an RFM segment and its retry, revocation, and finding
// coupons by code and by member.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { ServerProcess, type Reply, refusal } from '../helpers/server-process.js';
import { ApiError, type AnswerOf, type BodyOf } from '../../client/http.js';
import { hashId } from '../../engine/router/member-hash.js';
import { shardOfCode } from '../../engine/router/coupon-gate.js';

const SHARDS = 4;
const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
const DAY_MS = 86_400_000;
const NOW_MS = Date.now();
/** An instant `days` before the test started (ISO). */
const ago = (days: number): string => new Date(NOW_MS - days * DAY_MS).toISOString();
/** The local date (Hong Kong, the program's zone) `days` after the test started. */
const localDate = (days: number): string => new Date(NOW_MS + days * DAY_MS + 8 * 3_600_000).toISOString().slice(0, 10);

type Template = AnswerOf<'GET /v1/program'>['coupons'][number];
const template = (id: string, discount: Template['discount'], extra: Partial<Template> = {}) => ({ id, name: id, discount, validDays: 30, ...extra });

beforeAll(async () => {
  await server.start();
  const program = await server.call('GET /v1/program');
  await server.call('PUT /v1/program', { body: {
    ...program,
    coupons: [
      // The welcome coupon of docs/rules.md §12: HK$10 off, 30 days.
      { id: 'welcome10', name: 'HK$10 off your next visit', discount: { amountCents: 1000 }, validDays: 30 },
      template('pct', { percentBps: 1000, maxCents: 5000 }),
      template('web', { amountCents: 300 }, { channels: ['online'] }),
      template('big', { amountCents: 300 }, { minSpendCents: 50_000 }),
      template('goldonly', { amountCents: 300 }, { eligibleTiers: ['gold'] }),
      template('window', { amountCents: 300 }, { validDays: null, validFrom: localDate(-10), validTo: localDate(20) }),
      template('limited', { amountCents: 100 }, { totalMax: 100 }),
      template('limited2', { amountCents: 100 }, { totalMax: 100 }),
      template('rfmgift', { amountCents: 100 }, { perMemberMax: 1 }),
    ],
    couponRules: [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }],
  } });
});
afterAll(async () => { await server.stop(); server.cleanup(); });

type Coupon = AnswerOf<'GET /v1/members/:id/coupons'>['coupons'][number];

const issue = async (requestId: string, templateId: string, memberId: string, at?: string): Promise<AnswerOf<'POST /v1/coupons/issue'>> => {
  return server.call('POST /v1/coupons/issue', { body: { requestId, templateId, memberId, ...(at === undefined ? {} : { at }) } });
};
const register = async (memberId: string, at: string, extra: Partial<BodyOf<'POST /v1/members'>> = {}): Promise<AnswerOf<'POST /v1/members'>> =>
  server.call('POST /v1/members', { body: { memberId, at, ...extra } });
const coupons = async (memberId: string, state?: string): Promise<Coupon[]> =>
  (await server.call('GET /v1/members/:id/coupons', { params: { id: memberId }, query: { state } })).coupons;

/** Everything a refused purchase must leave as it was: the member, its ledger and its coupons. */
async function snapshot(memberId: string, codes: string[]): Promise<unknown> {
  return {
    member: (await server.call('GET /v1/members/:id', { params: { id: memberId } })),
    ledger: (await server.call('GET /v1/members/:id/ledger', { params: { id: memberId }, query: { limit: '1000' } })),
    coupons: await coupons(memberId),
    byCode: await Promise.all(codes.map(async (code) => (await server.call('GET /v1/coupons/:code', { params: { code } })))),
  };
}

/** A member id (prefix + n) whose hash lands on `shard`, or off it. */
function memberOn(prefix: string, shard: number, on = true): string {
  for (let n = 0; ; n++) if ((hashId(`${prefix}${n}`) % SHARDS === shard) === on) return `${prefix}${n}`;
}

describe('the welcome coupon', () => {
  it('is issued on registration, on the member\'s shard, and used on the first purchase: exact net, earn and answer', async () => {
    const reg = await register('ann', ago(3));
    const issued = reg.couponsIssued ?? [];
    expect(issued).toHaveLength(1);
    const code = issued[0]!.code;
    expect(issued[0]).toMatchObject({ templateId: 'welcome10', ruleId: 'welcome', validFrom: ago(3) });
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{12}$/);
    expect(shardOfCode(code, SHARDS)).toBe(hashId('ann') % SHARDS);
    // HK$300 less HK$10: net 29,000, 14 points at HK$20 a point.
    const lower = `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`.toLowerCase();
    const r = await server.call('POST /v1/purchases', { body: { orderId: 'ann-1', memberId: 'ann', amountCents: 30_000, couponCodes: [lower], at: ago(2) } });
    expect(r).toMatchObject({
      orderId: 'ann-1', memberId: 'ann', netCents: 29_000, earnedPoints: 14, points: 14, couponDiscountCents: 1000,
      couponsUsed: [{ code, templateId: 'welcome10', discountCents: 1000 }], couponsIssued: [], replayed: false,
    });
    expect((await server.call('GET /v1/coupons/:code', { params: { code } }))).toMatchObject({ code, memberId: 'ann', state: 'used', usedOrderId: 'ann-1', discountCents: 1000 });
    // A retry answers the same; the same order with other coupons is a conflict.
    expect((await server.call('POST /v1/purchases', { body: { orderId: 'ann-1', memberId: 'ann', amountCents: 30_000, couponCodes: [code], at: ago(2) } })))
      .toMatchObject({ netCents: 29_000, couponDiscountCents: 1000, replayed: true });
    expect((await refusal(server.call('POST /v1/purchases', { body: { orderId: 'ann-1', memberId: 'ann', amountCents: 30_000, at: ago(2) } }))).code).toBe('idempotency_conflict');
  });
});

describe('a percentage coupon', () => {
  it('takes floor(base × percent) up to its cap', async () => {
    await register('pia', ago(5));
    const capped = await issue('pct-1', 'pct', 'pia', ago(4));
    const under = await issue('pct-2', 'pct', 'pia', ago(4));
    // 10% of HK$800 is HK$80, capped at HK$50: net 75,000, 37 points.
    const a = await server.call('POST /v1/purchases', { body: { orderId: 'pia-1', memberId: 'pia', amountCents: 90_000, discountCents: 10_000, couponCodes: [capped.code], at: ago(3) } });
    expect(a).toMatchObject({ netCents: 75_000, earnedPoints: 37, couponDiscountCents: 5000, couponsUsed: [{ code: capped.code, templateId: 'pct', discountCents: 5000 }] });
    // 10% of HK$123 is HK$12.30: net 11,070, 5 points.
    const b = await server.call('POST /v1/purchases', { body: { orderId: 'pia-2', memberId: 'pia', amountCents: 12_300, couponCodes: [under.code], at: ago(3) } });
    expect(b).toMatchObject({ netCents: 11_070, earnedPoints: 5, couponDiscountCents: 1230 });
  });
});

describe('every refusal at the checkout', () => {
  const holder = memberOn('rhold', 0);
  const sameShard = memberOn('rsame', 0);
  const otherShard = memberOn('rother', 0, false);
  const c: Record<string, { code: string }> = {};

  beforeAll(async () => {
    await register(holder, ago(45));
    await register(sameShard, ago(45));
    await register(otherShard, ago(45));
    const welcome = await coupons(holder);
    c['expired'] = welcome[0]!; // issued 45 days ago for 30 days
    c['used'] = await issue('r-used', 'pct', holder, ago(10));
    await server.call('POST /v1/purchases', { body: { orderId: 'r-used-order', memberId: holder, amountCents: 1000, couponCodes: [c['used']!.code], at: ago(9) } });
    c['revoked'] = await issue('r-rev', 'pct', holder, ago(10));
    await server.call('POST /v1/coupons/:code/revoke', { params: { code: c['revoked']!.code }, body: { requestId: 'r-rev-1' } });
    c['window'] = await issue('r-win', 'window', holder, ago(25));
    c['pct1'] = await issue('r-p1', 'pct', holder, ago(10));
    c['pct2'] = await issue('r-p2', 'pct', holder, ago(10));
    c['gold'] = await issue('r-gold', 'goldonly', holder, ago(10));
    c['web'] = await issue('r-web', 'web', holder, ago(10));
    c['big'] = await issue('r-big', 'big', holder, ago(10));
    c['same'] = (await coupons(sameShard))[0]!;
    c['other'] = (await coupons(otherShard))[0]!;
    expect(shardOfCode(c['same']!.code, SHARDS)).toBe(shardOfCode(c['used']!.code, SHARDS));
    expect(shardOfCode(c['other']!.code, SHARDS)).not.toBe(shardOfCode(c['used']!.code, SHARDS));
  });

  const order = (n: number, codes: string[], extra: Partial<BodyOf<'POST /v1/purchases'>> = {}): BodyOf<'POST /v1/purchases'> =>
    ({ orderId: `refused-${n}`, memberId: holder, amountCents: 20_000, couponCodes: codes, channel: 'offline', at: ago(5), ...extra });

  it.each([
    ['an unknown code', () => order(1, ['ZZZZZZZZZZZZ']), 404, 'coupon_not_found', 'no coupon with that code', 'couponCodes[0]'],
    ['another member\'s coupon on the same shard', () => order(2, [c['pct1']!.code, c['same']!.code]), 422, 'coupon_not_usable', 'other_member', 'couponCodes[1]'],
    ['another member\'s coupon on another shard', () => order(3, [c['other']!.code]), 422, 'coupon_not_usable', 'other_member', 'couponCodes[0]'],
    ['a used coupon', () => order(4, [c['used']!.code]), 422, 'coupon_not_usable', 'used', 'couponCodes[0]'],
    ['a revoked coupon', () => order(5, [c['revoked']!.code]), 422, 'coupon_not_usable', 'revoked', 'couponCodes[0]'],
    ['an expired coupon', () => order(6, [c['expired']!.code]), 422, 'coupon_not_usable', 'expired', 'couponCodes[0]'],
    ['a coupon before its window', () => order(7, [c['window']!.code], { at: ago(20) }), 422, 'coupon_not_usable', 'not_yet_valid', 'couponCodes[0]'],
    ['two coupons of one template', () => order(8, [c['pct1']!.code, c['pct2']!.code]), 422, 'coupon_not_usable', 'template_repeated', 'couponCodes[1]'],
    ['a tier the template excludes', () => order(9, [c['gold']!.code]), 422, 'coupon_not_usable', 'tier', 'couponCodes[0]'],
    ['a channel the template excludes', () => order(10, [c['web']!.code]), 422, 'coupon_not_usable', 'channel', 'couponCodes[0]'],
    ['an order under the minimum spend', () => order(11, [c['big']!.code], { amountCents: 60_000, discountCents: 10_001 }), 422, 'coupon_not_usable', 'min_spend', 'couponCodes[0]'],
    ['a good coupon on an order the core refuses', () => order(12, [c['pct1']!.code], { redeemPoints: 10 }), 422, 'insufficient_points', undefined, undefined],
  ])('%s: answered exactly, nothing changes', async (_name, body, status, code, message, field) => {
    const codes = Object.values(c).map((x) => x.code);
    const before = await snapshot(holder, codes);
    const e = await refusal(server.call('POST /v1/purchases', { body: body() }));
    expect([e.status, e.code]).toEqual([status, code]);
    if (message !== undefined) expect({ code: e.code, message: e.message, field: e.field }).toEqual({ code, message, field });
    expect(await snapshot(holder, codes)).toEqual(before);
    expect((await refusal(server.call('GET /v1/orders/:id', { params: { id: body().orderId } }))).status).toBe(404);
  });

  it('a quote answers the refusal a purchase would get, another shard\'s coupon included', async () => {
    const quote = (codes: string[]) => server.call('POST /v1/checkout/quote', { body: { memberId: holder, amountCents: 20_000, couponCodes: codes } });
    expect(await refusal(quote([c['other']!.code]))).toMatchObject({ status: 422, code: 'coupon_not_usable', message: 'other_member', field: 'couponCodes[0]' });
    expect(await refusal(quote([c['pct1']!.code, 'ZZZZZZZZZZZZ']))).toMatchObject({ status: 404, code: 'coupon_not_found', message: 'no coupon with that code', field: 'couponCodes[1]' });
    expect(await quote([c['pct1']!.code])).toMatchObject({ couponDiscountCents: 2000 });
  });

  it('the same coupon on the boundary of its minimum spend is used', async () => {
    const r = await server.call('POST /v1/purchases', { body: order(13, [c['big']!.code], { amountCents: 60_000, discountCents: 10_000 }) });
    expect(r).toMatchObject({ netCents: 49_700, couponDiscountCents: 300 });
  });
});

describe('a coupon within one stream batch', () => {
  it('is held by the first op that uses it: a later op of the batch is refused `used`, also after a refused one', async () => {
    await register('sid', ago(2));
    const code = (await coupons('sid'))[0]!.code;
    const packr = new Packr({ useRecords: false });
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: `Bearer ${server.adminKey}` } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const ack = new Promise<{ results: Array<{ ok: boolean }> }>((resolve) => ws.on('message', (data: Buffer) => resolve(packr.unpack(data))));
    ws.send(packr.pack({
      type: 'batch', id: 1, ops: [
        // Refused by the core (not enough points): the coupon is free again for the next op.
        { op: 'purchase', orderId: 'sid-0', memberId: 'sid', amountCents: 5000, redeemPoints: 10, couponCodes: [code], at: Date.parse(ago(1)) },
        { op: 'purchase', orderId: 'sid-1', memberId: 'sid', amountCents: 5000, couponCodes: [code.toLowerCase()], at: Date.parse(ago(1)) },
        { op: 'purchase', orderId: 'sid-2', memberId: 'sid', amountCents: 5000, couponCodes: [code], at: Date.parse(ago(1)) },
        { op: 'purchase', orderId: 'sid-3', memberId: 'sid', amountCents: 5000, couponCodes: [code, code] },
      ],
    }), { binary: true });
    const frame = await ack;
    ws.close();
    expect(frame.results[0]).toMatchObject({ ok: false, error: { code: 'insufficient_points' } });
    expect(frame.results[1]).toMatchObject({ ok: true, orderId: 'sid-1', netCents: 4000, couponDiscountCents: 1000 });
    expect(frame.results[2]).toEqual({ ok: false, error: { code: 'coupon_not_usable', message: 'used', field: 'couponCodes[0]' } });
    expect(frame.results[3]).toEqual({ ok: false, error: { code: 'invalid_request', message: 'couponCodes[1]: repeats couponCodes[0]', field: 'couponCodes[1]' } });
    expect((await server.call('GET /v1/coupons/:code', { params: { code } }))).toMatchObject({ state: 'used', usedOrderId: 'sid-1' });
  });
});

/** Registers members `prefix0..n-1` in one stream batch. */
async function registerMany(prefix: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: `Bearer ${server.adminKey}` } });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const ack = new Promise<{ results: Array<{ ok: boolean }> }>((resolve) => ws.on('message', (data: Buffer) => resolve(JSON.parse(data.toString('utf8')))));
  ws.send(JSON.stringify({ type: 'batch', id: 1, ops: ids.map((memberId) => ({ op: 'register', memberId, at: ago(1) })) }));
  const frame = await ack;
  ws.close();
  expect(frame.results.every((r) => r.ok)).toBe(true);
  return ids;
}

/**
 * How many of the members hold a coupon of the template, asked of each member's shard 32 at a time
 * (a shard's task queue holds 64: more reads at once would be answered 503 overloaded).
 */
async function holders(ids: readonly string[], templateId: string): Promise<number> {
  const lists: Coupon[][] = [];
  for (let i = 0; i < ids.length; i += 32) lists.push(...await Promise.all(ids.slice(i, i + 32).map((id) => coupons(id))));
  const held = lists.map((l) => l.filter((x) => x.templateId === templateId).length);
  expect(Math.max(...held)).toBeLessThanOrEqual(1);
  return held.reduce((a, b) => a + b, 0);
}

describe('totalMax across shards', () => {
  it('500 concurrent issues of a template capped at 100, over every shard, issue exactly 100', async () => {
    const ids = await registerMany('cap-', 500);
    expect(new Set(ids.map((id) => hashId(id) % SHARDS)).size).toBe(SHARDS);
    const statuses = await Promise.all(ids.map((id) => server.call('POST /v1/coupons/issue', { body: { requestId: `cap-${id}`, templateId: 'limited', memberId: id } })
      .then(() => 'issued', (e: unknown) => (e instanceof ApiError ? `${e.code} ${e.message}` : String(e)))));
    expect(statuses.filter((s) => s === 'issued')).toHaveLength(100);
    expect(statuses.filter((s) => s === 'coupon_limit total_limit')).toHaveLength(400);
    expect(await holders(ids, 'limited')).toBe(100);
  });

  it('and so they do across two SIGKILLs in the middle and restarts: retries replay, nobody gets a 101st', async () => {
    const ids = await registerMany('kill-', 500);
    // Raw requests: whether an issue was answered 201 (new) or 200 (a replay) across the kills is what this test reads.
    const first: Array<Reply | null> = new Array(ids.length).fill(null);
    const issuedSoFar = () => first.filter((a) => a !== null && a.status === 201).length;
    // Issued 25 at a time; once 30, then 70 are issued, the server is killed with the next 25 in flight.
    const killAt = [30, 70];
    for (let i = 0; i < ids.length; i += 25) {
      const sent = ids.slice(i, i + 25).map((id, k) => server.post('/v1/coupons/issue', { requestId: `kill-${id}`, templateId: 'limited2', memberId: id })
        .then((a) => { first[i + k] = a; }, () => undefined));
      if (killAt.length > 0 && issuedSoFar() >= killAt[0]!) {
        killAt.shift();
        await new Promise((r) => setTimeout(r, 3));
        await server.kill();
        await Promise.all(sent);
        await server.start();
      } else await Promise.all(sent);
    }
    expect(killAt).toEqual([]);
    expect(first.some((a) => a === null)).toBe(true);
    // Every member asks again with the same requestId; then 200 ask with new ones.
    const again = await Promise.all(ids.map((id) => server.post('/v1/coupons/issue', { requestId: `kill-${id}`, templateId: 'limited2', memberId: id })));
    const more = await Promise.all(ids.slice(0, 200).map((id) => server.post('/v1/coupons/issue', { requestId: `kill2-${id}`, templateId: 'limited2', memberId: id })));
    expect(again.filter((a) => a.status === 201 || (a.status === 200 && a.body.replayed === true))).toHaveLength(100);
    expect(again.filter((a) => a.status === 422 && a.body.error.message === 'total_limit')).toHaveLength(400);
    expect(more.every((a) => a.status === 422 && a.body.error.message === 'total_limit')).toBe(true);
    // Every coupon answered before a kill was kept, and is answered again as a replay.
    for (let i = 0; i < ids.length; i++) if (first[i]?.status === 201) expect(again[i]!.body).toMatchObject({ code: first[i]!.body.code, replayed: true });
    expect(await holders(ids, 'limited2')).toBe(100);
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });
});

describe('a bulk issue to an RFM segment', () => {
  it('issues one coupon to each member of the segment, and a retry issues none again', async () => {
    const body = { requestId: 'bulk-new', templateId: 'rfmgift', rfmSegment: 'new' } as const;
    const first = await server.call('POST /v1/coupons/bulk-issue', { body: body });
    const report = await server.call('GET /v1/reports/rfm', { query: { segment: 'new' } });
    const members = (report.segments.new.members as Array<{ memberId: string }>).map((m) => m.memberId);
    expect(members.length).toBeGreaterThanOrEqual(500);
    expect(first).toEqual({ issued: members.length, skipped: 0, failed: 0, members: members.length, failures: [] });
    const again = await server.call('POST /v1/coupons/bulk-issue', { body: body });
    expect(again).toEqual(first);
    expect(await holders(members, 'rfmgift')).toBe(members.length);
    // Another request for the same template skips them all: perMemberMax is 1.
    const other = await server.call('POST /v1/coupons/bulk-issue', { body: { ...body, requestId: 'bulk-new-2' } });
    expect(other).toEqual({ issued: 0, skipped: members.length, failed: 0, members: members.length, failures: [] });
  });
});

describe('revocation and lookups', () => {
  it('revokes an active coupon once; a retry replays, a second revocation is refused with the state', async () => {
    await register('rex', ago(4));
    const coupon = await issue('rex-1', 'pct', 'rex', ago(3));
    const r = await server.call('POST /v1/coupons/:code/revoke', { params: { code: coupon.code.toLowerCase() }, body: { requestId: 'rex-rv', at: ago(2) } });
    expect(r).toMatchObject({ code: coupon.code, memberId: 'rex', state: 'revoked', replayed: false });
    expect((await server.call('POST /v1/coupons/:code/revoke', { params: { code: coupon.code }, body: { requestId: 'rex-rv', at: ago(2) } }))).toMatchObject({ state: 'revoked', replayed: true });
    expect((await refusal(server.call('POST /v1/coupons/:code/revoke', { params: { code: coupon.code }, body: { requestId: 'rex-rv2' } })))).toMatchObject({ code: 'coupon_not_active', message: 'revoked', field: 'code' });
    expect((await refusal(server.call('POST /v1/coupons/:code/revoke', { params: { code: 'ZZZZZZZZZZZZ' }, body: { requestId: 'rex-rv3' } }))).code).toBe('coupon_not_found');
    const ledger = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'rex' } })).entries;
    expect(ledger.filter((e) => e.ref === coupon.code).map((e) => e.kind)).toEqual(['coupon_revoke', 'coupon_issue']);
  });

  it('finds a coupon by its code as typed, with its state at an earlier instant', async () => {
    const coupon = (await coupons('rex', 'revoked'))[0]!;
    const spaced = coupon.code.replace(/(....)(....)(....)/, '$1 $2 $3').toLowerCase();
    const now = await server.call('GET /v1/coupons/:code', { params: { code: spaced } });
    expect(now).toMatchObject({ code: coupon.code, templateId: 'pct', memberId: 'rex', state: 'revoked', source: 'admin' });
    expect((await server.call('GET /v1/coupons/:code', { params: { code: coupon.code }, query: { at: ago(2.5) } }))).toMatchObject({ state: 'revoked', stateAt: 'active' });
    expect((await server.call('GET /v1/coupons/:code', { params: { code: coupon.code }, query: { at: ago(3.5) } }))).toMatchObject({ stateAt: null });
    expect((await refusal(server.call('GET /v1/coupons/:code', { params: { code: 'not-a-code' } }))).code).toBe('coupon_not_found');
  });

  it('lists a member\'s coupons newest first, of one state when asked', async () => {
    await issue('rex-2', 'web', 'rex', ago(1));
    const all = await coupons('rex');
    expect(all.map((x) => [x.templateId, x.state])).toEqual([['web', 'active'], ['pct', 'revoked'], ['welcome10', 'active']]);
    expect((await coupons('rex', 'active')).map((x) => x.templateId)).toEqual(['web', 'welcome10']);
    expect(await coupons('rex', 'used')).toEqual([]);
    expect((await refusal(server.call('GET /v1/members/:id/coupons', { params: { id: 'nobody' } }))).status).toBe(404);
  });
});
