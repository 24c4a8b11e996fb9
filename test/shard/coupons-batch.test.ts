// Coupons in the shard's batches (docs/rules.md §12), run in-process: issued by rules and by hand
// with the codes and totalMax units the router supplies, used at the checkout inside the purchase's
// all-or-nothing checks, held against a later op of the same batch, given back by full returns,
// expired by the sweep dated at expiry; every refusal leaves the books as they were.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { Program, CouponTemplate } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';
import type { CouponRecord } from '../../engine/rules/coupons.js';

const AT = Date.parse('2026-03-10T02:00:00Z');
const DAY = 86_400_000;
let h: ShardHarness;
afterEach(async () => { await h?.close(); });

const template = (id: string, more: Partial<CouponTemplate> = {}): CouponTemplate => ({
  id, name: id, active: true, discount: { amountCents: 1_000 }, minSpendCents: 0, eligibleTiers: null,
  channels: ['online', 'offline'], validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax: null,
  restoreOnFullReturn: true, ...more,
});

function program(more: Partial<Program> = {}): Program {
  return {
    ...demoProgram(),
    coupons: [
      template('welcome10'),
      template('pct', { discount: { percentBps: 1_500, maxCents: 2_000 } }),
      template('min', { minSpendCents: 50_000 }),
      template('gold', { eligibleTiers: ['gold'] }),
      template('web', { channels: ['online'] }),
      template('once', { perMemberMax: 1 }),
      template('few', { totalMax: 2 }),
      template('norestore', { restoreOnFullReturn: false }),
      template('thanks', { validDays: 10 }),
    ],
    couponRules: [{ id: 'welcome', trigger: 'register', templateId: 'welcome10', minNetCents: 0, tiers: null, channels: null }],
    ...more,
  };
}

let codeSeq = 0;
/** Codes as the router would supply them: distinct, valid Crockford base32 (the harness has one shard, so any lands). */
const codes = (n: number): string[] => Array.from({ length: n }, () => `C${String(++codeSeq).padStart(11, '0')}`);

const register = (memberId: string, atMs = AT): WriteOp =>
  ({ op: 'register', memberId, key: `reg:${memberId}`, fp: 1, atMs, referralChain: [], newCodes: codes(2) });
const purchase = (memberId: string, orderId: string, amountCents: number, more: Record<string, unknown> = {}, atMs = AT + 60_000): WriteOp =>
  ({ op: 'purchase', memberId, orderId, key: 'order:' + orderId, fp: 7, atMs, amountCents, discountCents: 0, redeemPoints: 0, walletCents: 0, ...more } as WriteOp);
const issue = (memberId: string, templateId: string, key: string, more: Record<string, unknown> = {}, atMs = AT + 1_000): WriteOp =>
  ({ op: 'coupon_issue', memberId, templateId, source: 'admin', key, fp: 3, atMs, newCodes: codes(2), ...more } as WriteOp);
const ok = (r: OpResult): Record<string, unknown> => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r;
};
const refusal = (r: OpResult): string => (r.ok ? 'ok' : `${r.error.code}:${r.error.message}:${r.error.field ?? ''}`);
const coupon = (code: string): CouponRecord => h.shards[0]!.store.coupons.get(code)!;

describe('coupons in a shard batch', () => {
  it('issues the welcome coupon on registration and takes it off the first purchase, points earned on what is left', () => {
    h = new ShardHarness(program(), 1);
    const reg = ok(h.one(register('m1')));
    const issued = reg['couponsIssued'] as Array<{ code: string; templateId: string; ruleId: string; expiresAt: string }>;
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({ templateId: 'welcome10', ruleId: 'welcome' });
    // Valid through the end of the 30th local day after the issue: 2026-04-09 in Hong Kong.
    expect(issued[0]!.expiresAt).toBe('2026-04-09T16:00:00.000Z');
    const code = issued[0]!.code;
    const p = ok(h.one(purchase('m1', 'o1', 10_000, { couponCodes: [code] })));
    expect(p).toMatchObject({ netCents: 9_000, earnedPoints: 4, couponDiscountCents: 1_000, couponsUsed: [{ code, templateId: 'welcome10', discountCents: 1_000 }] });
    ok(h.one(purchase('m1', 'o2', 40_000)));
    // 9,000 + 40,000 cents at 1 point per 2,000: 4 + 20 points.
    expect(h.state('m1')).toMatchObject({ points: 24, lifetimeSpendCents: 49_000 });
    expect(coupon(code)).toMatchObject({ state: 'used', usedOrderId: 'o1', discountCents: 1_000 });
    expect(h.entries('m1').map((e) => `${e.kind}:${e.ref === code ? 'code' : e.ref}`)).toEqual(['register:reg:m1', 'coupon_issue:code', 'purchase:o1', 'coupon_use:code', 'purchase:o2']);
    // A retry of the purchase answers what it answered, coupon included.
    expect(h.one(purchase('m1', 'o1', 10_000, { couponCodes: [code] }))).toMatchObject({ ok: true, replayed: true, couponDiscountCents: 1_000 });
    expect(h.mismatches()).toEqual([]);
  });

  it('values a percentage on the amount after the order discount, capped', () => {
    h = new ShardHarness(program({ couponRules: [] }), 1);
    h.one(register('m1'));
    const small = ok(h.one(issue('m1', 'pct', 'i1')))['code'] as string;
    const big = ok(h.one(issue('m1', 'pct', 'i2')))['code'] as string;
    // 15% of (10,000 − 1,000) = 1,350; of 100,000: 15,000 capped at 2,000.
    expect(ok(h.one(purchase('m1', 'o1', 10_000, { discountCents: 1_000, couponCodes: [small] })))).toMatchObject({ couponDiscountCents: 1_350, netCents: 7_650 });
    expect(ok(h.one(purchase('m1', 'o2', 100_000, { couponCodes: [big] })))).toMatchObject({ couponDiscountCents: 2_000, netCents: 98_000 });
  });

  it('refuses a coupon that cannot be used, naming the reason and the code, and changes nothing', () => {
    h = new ShardHarness(program({ couponRules: [] }), 1);
    h.one(register('m1'));
    h.one(register('m2'));
    const mine = (templateId: string, key: string): string => ok(h.one(issue('m1', templateId, key)))['code'] as string;
    const welcome = mine('welcome10', 'a');
    const welcome2 = mine('welcome10', 'b');
    const min = mine('min', 'c');
    const gold = mine('gold', 'd');
    const web = mine('web', 'e');
    const other = ok(h.one(issue('m2', 'welcome10', 'f')))['code'] as string;
    const revoked = mine('welcome10', 'g');
    ok(h.one({ op: 'coupon_revoke', memberId: 'm1', code: revoked, key: 'rv', fp: 1, atMs: AT + 2_000 }));
    const before = h.state('m1');
    const cases: Array<[string[], Record<string, unknown>, string]> = [
      [['ZZZZZZZZZZZZ'], {}, 'coupon_not_found:no coupon with that code:couponCodes[0]'],
      [[other], {}, 'coupon_not_usable:other_member:couponCodes[0]'],
      [[welcome, revoked], {}, 'coupon_not_usable:revoked:couponCodes[1]'],
      [[min], {}, 'coupon_not_usable:min_spend:couponCodes[0]'],
      [[gold], {}, 'coupon_not_usable:tier:couponCodes[0]'],
      [[web], { channel: 'offline' }, 'coupon_not_usable:channel:couponCodes[0]'],
      // An order that names no channel may be either: only a coupon for both channels is sure to apply.
      [[web], {}, 'coupon_not_usable:channel:couponCodes[0]'],
      [[welcome, welcome2], {}, 'coupon_not_usable:template_repeated:couponCodes[1]'],
      [[welcome], { atMs: AT + 31 * DAY }, 'coupon_not_usable:expired:couponCodes[0]'],
    ];
    cases.forEach(([couponCodes, more, expected], i) => {
      const { atMs, ...rest } = more as { atMs?: number };
      expect(refusal(h.one(purchase('m1', `bad-${i}`, 10_000, { couponCodes, ...rest }, atMs)))).toBe(expected);
    });
    expect(h.state('m1')).toEqual(before);
    for (const code of [welcome, welcome2, min, gold, web]) expect(coupon(code).state).toBe('active');
    expect(h.shards[0]!.store.orders.get('bad-0')).toBeUndefined();
    // The web coupon on an online order, the min-spend one at 500.00: both fine.
    expect(ok(h.one(purchase('m1', 'good', 50_000, { channel: 'online', couponCodes: [web, min] })))).toMatchObject({ couponDiscountCents: 2_000, netCents: 48_000 });
    expect(h.mismatches()).toEqual([]);
  });

  it('holds a coupon against a later op of the same batch, and lets it go when the core refuses its purchase', () => {
    h = new ShardHarness(program(), 1);
    const code = (ok(h.one(register('m1')))['couponsIssued'] as Array<{ code: string }>)[0]!.code;
    const results = h.batch([
      // Refused by the core (no points to redeem): its coupon is free again for the next op.
      purchase('m1', 'o1', 10_000, { couponCodes: [code], redeemPoints: 100 }),
      purchase('m1', 'o2', 10_000, { couponCodes: [code] }),
      purchase('m1', 'o3', 10_000, { couponCodes: [code] }),
      { op: 'coupon_revoke', memberId: 'm1', code, key: 'rv', fp: 1, atMs: AT + 70_000 },
    ]);
    expect(results.map(refusal)).toEqual(['insufficient_points:the member does not have enough points:', 'ok', 'coupon_not_usable:used:couponCodes[0]', 'coupon_not_active:used:code']);
    expect(coupon(code)).toMatchObject({ state: 'used', usedOrderId: 'o2' });
    expect(h.mismatches()).toEqual([]);
  });

  it('gives a coupon back on a full return before its expiry, keeps it used on a partial one, and takes back what the order issued', () => {
    const rules = [{ id: 'thanks', trigger: 'purchase' as const, templateId: 'thanks', minNetCents: 5_000, tiers: null, channels: null }];
    h = new ShardHarness(program({ couponRules: rules }), 1);
    h.one(register('m1'));
    const c1 = ok(h.one(issue('m1', 'welcome10', 'a')))['code'] as string;
    const c2 = ok(h.one(issue('m1', 'welcome10', 'b')))['code'] as string;
    const c3 = ok(h.one(issue('m1', 'norestore', 'c')))['code'] as string;
    const supply = { newCodes: codes(2) };
    const o1 = ok(h.one(purchase('m1', 'o1', 10_000, { couponCodes: [c1, c3], ...supply })));
    expect(o1['couponsIssued']).toMatchObject([{ templateId: 'thanks', ruleId: 'thanks' }]);
    const thanks = (o1['couponsIssued'] as Array<{ code: string }>)[0]!.code;
    ok(h.one(purchase('m1', 'o2', 10_000, { couponCodes: [c2], newCodes: codes(2) })));
    // A partial return keeps the coupon used.
    const part = ok(h.one({ op: 'return', memberId: 'm1', returnId: 'r1', orderId: 'o2', amountCents: 1_000, key: 'ret:r1', fp: 1, atMs: AT + 2 * DAY }));
    expect(part['couponsRestored']).toBeUndefined();
    expect(coupon(c2).state).toBe('used');
    const full = ok(h.one({ op: 'return', memberId: 'm1', returnId: 'r2', orderId: 'o1', amountCents: 8_000, key: 'ret:r2', fp: 1, atMs: AT + 3 * DAY }));
    expect(full).toMatchObject({ couponsRestored: [c1], couponsRevoked: [thanks] });
    expect(coupon(c1)).toMatchObject({ state: 'active', usedOrderId: null, discountCents: 0, expiresAtMs: coupon(c1).expiresAtMs });
    expect(coupon(c3).state).toBe('used');
    expect(coupon(thanks).state).toBe('revoked');
    // Given back, it is usable again.
    expect(ok(h.one(purchase('m1', 'o3', 10_000, { couponCodes: [c1], newCodes: codes(2) })))).toMatchObject({ couponDiscountCents: 1_000 });
    // A full return after the coupon's expiry does not give it back.
    ok(h.one({ op: 'return', memberId: 'm1', returnId: 'r3', orderId: 'o3', amountCents: 9_000, key: 'ret:r3', fp: 1, atMs: AT + 40 * DAY }));
    expect(coupon(c1).state).toBe('used');
    expect(h.mismatches()).toEqual([]);
  });

  it('expires coupons in the sweep, dated at their expiry, and keeps each state change with its instant', () => {
    h = new ShardHarness(program(), 1);
    const code = (ok(h.one(register('m1')))['couponsIssued'] as Array<{ code: string }>)[0]!.code;
    const expiresAtMs = coupon(code).expiresAtMs;
    h.sweep(expiresAtMs - 1);
    expect(coupon(code).state).toBe('active');
    h.sweep(expiresAtMs + 5 * DAY);
    expect(coupon(code)).toMatchObject({ state: 'expired', history: [['active', AT], ['expired', expiresAtMs]] });
    const last = h.entries('m1').at(-1)!;
    expect(last).toMatchObject({ kind: 'coupon_expire', ref: code, at: expiresAtMs });
    expect(h.shards[0]!.store.couponDue.getKeysCount()).toBe(0);
    expect(h.mismatches()).toEqual([]);
  });

  it('issues a capped template only with a unit the router reserved, and never past perMemberMax', () => {
    h = new ShardHarness(program({ couponRules: [] }), 1);
    h.one(register('m1'));
    expect(refusal(h.one(issue('m1', 'few', 'f1')))).toBe('coupon_limit:total_limit:templateId');
    expect(ok(h.one(issue('m1', 'few', 'f2', { couponAllow: ['few'] })))).toMatchObject({ templateId: 'few', state: 'active' });
    expect(ok(h.one(issue('m1', 'once', 'o1')))).toMatchObject({ templateId: 'once' });
    expect(refusal(h.one(issue('m1', 'once', 'o2')))).toBe('coupon_limit:member_limit:templateId');
    expect(refusal(h.one(issue('m1', 'nope', 'n1')))).toBe('coupon_template_not_found:no coupon template with that id in the program:templateId');
    // A retried issue answers its coupon again and issues nothing more.
    const again = h.one(issue('m1', 'few', 'f2', { couponAllow: ['few'] }));
    expect(again).toMatchObject({ ok: true, replayed: true });
    expect(h.shards[0]!.store.meta.get('cc:few')).toBe(1);
    expect(h.shards[0]!.store.meta.get('cc:once')).toBe(1);
    expect(h.mismatches()).toEqual([]);
  });

  it('lists the member\'s active coupons in a quote, usable or why not, and values the ones named', () => {
    h = new ShardHarness(program({ couponRules: [] }), 1);
    h.one(register('m1'));
    const a = ok(h.one(issue('m1', 'welcome10', 'a')))['code'] as string;
    const m = ok(h.one(issue('m1', 'min', 'b')))['code'] as string;
    const q = ok(h.one({ op: 'quote', memberId: 'm1', amountCents: 10_000, atMs: AT + 5_000, couponCodes: [a] }));
    expect(q['couponDiscountCents']).toBe(1_000);
    const listed = (q['coupons'] as Array<Record<string, unknown>>).map((c) => [c['code'], c['usable'], c['reason'] ?? null, c['discountCents']]);
    expect(listed.sort()).toEqual([[a, true, null, 1_000], [m, false, 'min_spend', 1_000]].sort());
    expect(refusal(h.one({ op: 'quote', memberId: 'm1', amountCents: 10_000, atMs: AT + 5_000, couponCodes: [m] }))).toBe('coupon_not_usable:min_spend:couponCodes[0]');
    expect(coupon(a).state).toBe('active');
  });
});
