// Unit tests of the router's coupon gate (engine/router/coupon-gate.ts), without shards: codes land
// on the shard asked for, are codes, and do not repeat; the ops of a batch get the codes and units
// their rules may need and nothing else; the totalMax counter's arithmetic over reservations,
// answers, replays, failed batches, program changes, sweep slices and the counts summed at start.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CouponGate, shardOfCode } from '../../engine/router/coupon-gate.js';
import { hashId } from '../../engine/router/member-hash.js';
import { isCouponCode } from '../../engine/rules/coupons.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { Campaign, CouponRule, CouponTemplate, Program } from '../../engine/rules/program-types.js';
import type { CouponIssueOp, OpResult, PurchaseOp, RegisterOp, WriteOp } from '../../engine/ops.js';

const template = (id: string, totalMax: number | null): CouponTemplate => ({
  id, name: id, active: true, discount: { amountCents: 1000 }, minSpendCents: 0, eligibleTiers: null,
  channels: ['online', 'offline'], validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax, restoreOnFullReturn: true,
});
const rule = (id: string, trigger: CouponRule['trigger'], templateId: string, over: Partial<CouponRule> = {}): CouponRule => ({
  id, trigger, templateId, minNetCents: 0, tiers: null, channels: null, ...over,
});
const programWith = (coupons: CouponTemplate[], couponRules: CouponRule[]): Program => ({ ...demoProgram(), coupons, couponRules });

const purchase = (memberId: string, over: Partial<PurchaseOp> = {}): PurchaseOp => ({
  op: 'purchase', memberId, orderId: 'o-' + memberId, key: 'order:o-' + memberId, fp: 0, atMs: 0,
  amountCents: 10_000, discountCents: 0, redeemPoints: 0, walletCents: 0, ...over,
});
const register = (memberId: string, over: Partial<RegisterOp> = {}): RegisterOp => ({
  op: 'register', memberId, key: 'reg:m:' + memberId, fp: 0, atMs: 0, referralChain: [], ...over,
});
const issue = (memberId: string, templateId: string): CouponIssueOp => ({
  op: 'coupon_issue', memberId, templateId, source: 'admin', key: 'req:' + memberId, fp: 0, atMs: 0,
});

/** A gate over `shards` shards whose program can be changed under it, as the engine's can. */
function gateOf(program: Program, counts: Array<Record<string, number>> = [], shards = 4) {
  const state = { program };
  const gate = new CouponGate(shards, () => state.program, counts);
  return { gate, state };
}

describe('coupon codes', () => {
  it('land on the shard asked for, are 12 characters of Crockford base32, and never repeat in 100,000 draws', () => {
    const { gate } = gateOf(demoProgram());
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const shard = i % 4;
      const code = gate.newCode(shard);
      expect(isCouponCode(code)).toBe(true);
      expect(hashId(code) % 4).toBe(shard);
      expect(shardOfCode(code, 4)).toBe(shard);
      seen.add(code);
    }
    expect(seen.size).toBe(100_000);
  });

  it('are drawn from the random bytes given, 8 per draw, redrawn until one lands on the shard', () => {
    const drawn: number[] = [];
    const gate = new CouponGate(7, () => demoProgram(), [], (n) => { drawn.push(n); return randomBytes(n); });
    const codes = Array.from({ length: 2000 }, () => gate.newCode(3));
    expect(codes.every((c) => shardOfCode(c, 7) === 3)).toBe(true);
    // About 7 draws of 8 bytes per code, from pools of 4,096 bytes: some 28 pools, not one per code.
    expect(drawn.every((n) => n === 4096)).toBe(true);
    expect(drawn.length).toBeGreaterThan(15);
    expect(drawn.length).toBeLessThan(45);
  });
});

describe('supplying a batch', () => {
  it('leaves plain purchases untouched and answers null when the program has no coupon rules', () => {
    const { gate } = gateOf(programWith([template('t', 10)], []));
    const ops: WriteOp[] = [purchase('a'), purchase('b'), register('c')];
    expect(gate.supply(ops, 0)).toBeNull();
    for (const op of ops) {
      expect('newCodes' in op).toBe(false);
      expect('couponAllow' in op).toBe(false);
    }
  });

  it('gives a purchase a code per rule it may fire and one spare, skipping rules of a minimum net or channel it cannot meet', () => {
    const { gate } = gateOf(programWith([template('big', null), template('web', null), template('up', null)], [
      rule('r-big', 'purchase', 'big', { minNetCents: 50_000 }),
      rule('r-web', 'purchase', 'web', { channels: ['online'] }),
      rule('r-up', 'upgrade', 'up'),
      rule('r-reg', 'register', 'up'),
    ]));
    const under = purchase('a', { amountCents: 60_000, discountCents: 10_001, channel: 'online' });
    const reaches = purchase('b', { amountCents: 60_000, discountCents: 10_000, channel: 'online' });
    const offline = purchase('c', { amountCents: 60_000, channel: 'offline' });
    const noChannel = purchase('d', { amountCents: 60_000 });
    const held = gate.supply([under, reaches, offline, noChannel], 2)!;
    // Under the minimum: the online and upgrade rules may fire.
    expect(under.newCodes).toHaveLength(3);
    // Exactly the minimum, online: all three.
    expect(reaches.newCodes).toHaveLength(4);
    // A rule with channels fires on neither another channel nor an order without one (firingCouponRules).
    expect(offline.newCodes).toHaveLength(3);
    expect(noChannel.newCodes).toHaveLength(3);
    for (const op of [under, reaches, offline, noChannel]) {
      expect(op.newCodes!.every((c) => shardOfCode(c, 4) === 2)).toBe(true);
      expect('couponAllow' in op).toBe(false);
    }
    // Uncapped, their possible issues are held until the answer all the same.
    expect(gate.countOf('big')).toEqual({ issued: 0, held: 3 });
    expect(gate.countOf('web')).toEqual({ issued: 0, held: 2 });
    expect(gate.countOf('up')).toEqual({ issued: 0, held: 4 });
    gate.settle(held, { big: 3, web: 1, up: 2 });
    expect(gate.countOf('big')).toEqual({ issued: 3, held: 0 });
    expect(gate.countOf('web')).toEqual({ issued: 1, held: 0 });
    expect(gate.countOf('up')).toEqual({ issued: 2, held: 0 });
  });

  it('gives a purchase a code and a unit per campaign with a coupon that may apply: every condition but the tier, the net at most amount less discount', () => {
    const campaign = (id: string, templateId: string, over: Partial<Campaign> = {}): Campaign => ({
      id, name: id, active: true, from: null, to: null, daysOfWeek: null, channels: null, storeIds: null, tiers: null, minNetCents: 0,
      pointsMultiplierPct: 100, bonusPoints: 0, itemPoints: [], couponTemplateId: templateId, ...over,
    });
    const program: Program = {
      ...programWith([template('open', 2), template('weekend', null)], [rule('r', 'purchase', 'weekend')]),
      campaigns: [
        // Hong Kong: 2026-12-05 is a Saturday from 2026-12-04T16:00Z.
        campaign('tst', 'open', { storeIds: ['tst'], tiers: ['gold'], minNetCents: 10_000 }),
        campaign('sat', 'weekend', { daysOfWeek: [6], channels: ['offline'] }),
        campaign('off', 'weekend', { active: false }),
        campaign('points-only', 'weekend', { couponTemplateId: null, bonusPoints: 5 }),
      ],
    };
    const { gate } = gateOf(program);
    const saturday = Date.parse('2026-12-04T16:00:00Z');
    const both = purchase('a', { amountCents: 10_000, storeId: 'tst', channel: 'offline', atMs: saturday });
    const friday = purchase('b', { amountCents: 10_000, storeId: 'tst', channel: 'offline', atMs: saturday - 1 });
    const under = purchase('c', { amountCents: 10_000, discountCents: 1, storeId: 'tst', channel: 'offline', atMs: saturday - 1 });
    const elsewhere = purchase('d', { amountCents: 10_000, channel: 'online', atMs: saturday });
    const held = gate.supply([both, friday, under, elsewhere], 1)!;
    // The rule's code, one per campaign that may apply, and a spare; the store campaign's capped template a unit each.
    expect([both, friday, under, elsewhere].map((op) => op.newCodes?.length)).toEqual([4, 3, 2, 2]);
    expect([both, friday, under, elsewhere].map((op) => op.couponAllow)).toEqual([['open'], ['open'], undefined, undefined]);
    expect(gate.countOf('open')).toEqual({ issued: 0, held: 2 });
    // The rule four times and the Saturday campaign once: uncapped, their possible issues are held too.
    expect(gate.countOf('weekend')).toEqual({ issued: 0, held: 5 });
    // The cap of 2 is held whole: a third purchase at the store gets a code but no unit.
    const third = purchase('e', { amountCents: 10_000, storeId: 'tst', atMs: saturday });
    gate.supply([third], 1);
    expect([third.newCodes?.length, third.couponAllow]).toEqual([3, undefined]);
    gate.settle(held, { open: 1, weekend: 3 });
    expect(gate.countOf('open')).toEqual({ issued: 1, held: 0 });
  });

  it('gives every op on a member codes for its birthday gift when the program has birthday rules', () => {
    const { gate } = gateOf(programWith([template('b', null), template('p', 9)], [rule('bd', 'birthday', 'b'), rule('bd2', 'birthday', 'b'), rule('pr', 'purchase', 'p')]));
    const ops: WriteOp[] = [
      purchase('a'), register('b'), issue('c', 'p'),
      { op: 'topup', memberId: 'd', amountCents: 100, key: 'req:t', fp: 0, atMs: 0 },
      { op: 'quote', memberId: 'e', amountCents: 100, atMs: 0 },
      { op: 'claim', keys: [], fps: [], memberIds: [], release: false, atMs: 0, memberId: '' },
    ];
    gate.supply(ops, 0);
    const codes = ops.map((op) => (op as { newCodes?: string[] }).newCodes?.length ?? 0);
    // A purchase: its rule, two birthday rules, a spare; a registration: no birthday yet; an issue: 2 + 2.
    expect(codes).toEqual([4, 0, 4, 3, 3, 0]);
    expect((ops[0] as PurchaseOp).couponAllow).toEqual(['p']);
    expect((ops[2] as CouponIssueOp).couponAllow).toEqual(['p']);
    expect(gate.countOf('b')).toEqual({ issued: 0, held: 8 });
    expect(gate.countOf('p')).toEqual({ issued: 0, held: 2 });
  });

  it('gives nothing to a purchase that can fire no rule, and takes back what an earlier supply left on the same op', () => {
    const { gate } = gateOf(programWith([template('big', 5)], [rule('r-big', 'purchase', 'big', { minNetCents: 50_000 })]));
    const op = purchase('a', { amountCents: 1000, newCodes: ['X'], couponAllow: ['big'] });
    gate.supply([op], 0);
    expect('newCodes' in op).toBe(false);
    expect('couponAllow' in op).toBe(false);
    expect(gate.countOf('big')).toEqual({ issued: 0, held: 0 });
  });

  it('gives a registration its register rules only, and a coupon issue two codes', () => {
    const { gate } = gateOf(programWith([template('w', null)], [rule('welcome', 'register', 'w'), rule('p', 'purchase', 'w')]));
    const reg = register('a');
    const iss = issue('b', 'w');
    const held = gate.supply([reg, iss], 1)!;
    expect(reg.newCodes).toHaveLength(2);
    expect(iss.newCodes).toHaveLength(2);
    expect([...reg.newCodes!, ...iss.newCodes!].every((c) => shardOfCode(c, 4) === 1)).toBe(true);
    // Uncapped: no units, but the possible issues are held until the answer.
    expect(reg.couponAllow).toBeUndefined();
    expect(gate.countOf('w')).toEqual({ issued: 0, held: 2 });
    gate.settle(held, { w: 2 });
    expect(gate.countOf('w')).toEqual({ issued: 2, held: 0 });
  });
});

describe('the totalMax counter', () => {
  it('starts from the counts of every shard summed', () => {
    const { gate } = gateOf(demoProgram(), [{ a: 2 }, { a: 3, b: 1 }, {}, { b: 4 }]);
    expect(gate.countOf('a')).toEqual({ issued: 5, held: 0 });
    expect(gate.countOf('b')).toEqual({ issued: 5, held: 0 });
    expect(gate.countOf('c')).toEqual({ issued: 0, held: 0 });
  });

  it('refuses a shard count that is not a count', () => {
    expect(() => gateOf(demoProgram(), [{ a: -1 }])).toThrow(/-1/);
    expect(() => gateOf(demoProgram(), [{ a: 1.5 }])).toThrow(/1.5/);
  });

  it('reserves while issued + held < totalMax, counts what the shard reports issued, and lets go of the rest', () => {
    const { gate } = gateOf(programWith([template('t', 5)], []), [{ t: 1 }, { t: 1 }]);
    const ops = Array.from({ length: 5 }, (_, i) => issue('m' + i, 't'));
    const held = gate.supply(ops, 0)!;
    // 2 issued before: 3 units left, for the first three ops.
    expect(ops.map((op) => op.couponAllow ?? null)).toEqual([['t'], ['t'], ['t'], null, null]);
    expect(gate.countOf('t')).toEqual({ issued: 2, held: 3 });
    // A second batch meanwhile gets nothing.
    const late = issue('late', 't');
    const lateHeld = gate.supply([late], 1)!;
    expect(late.couponAllow).toBeUndefined();
    // One issued; a replay of an issue counted before, one refused (e.g. member_limit) and the two without units issued nothing.
    gate.settle(held, { t: 1 });
    expect(gate.countOf('t')).toEqual({ issued: 3, held: 0 });
    gate.settle(lateHeld, undefined);
    // Two units are free again.
    const again = [issue('x', 't'), issue('y', 't'), issue('z', 't')];
    gate.supply(again, 0);
    expect(again.map((op) => op.couponAllow ?? null)).toEqual([['t'], ['t'], null]);
  });

  it('counts the coupons a batch reports per template, whatever issued them', () => {
    const { gate } = gateOf(programWith([template('t', 10), template('u', 10)], [rule('p', 'purchase', 'u')]));
    const ops: WriteOp[] = [issue('a', 't'), purchase('b')];
    const held = gate.supply(ops, 0)!;
    expect((ops[1] as PurchaseOp).couponAllow).toEqual(['u']);
    gate.settle(held, { t: 1, u: 1 });
    expect(gate.countOf('t')).toEqual({ issued: 1, held: 0 });
    expect(gate.countOf('u')).toEqual({ issued: 1, held: 0 });
  });

  it('gives back every unit of a failed batch and strips them from its ops', () => {
    const { gate } = gateOf(programWith([template('t', 2)], [rule('p', 'purchase', 't'), rule('q', 'purchase', 't')]));
    const op = purchase('a');
    const held = gate.supply([op], 0)!;
    // Two rules of the same capped template: two units.
    expect(op.couponAllow).toEqual(['t', 't']);
    expect(gate.countOf('t')).toEqual({ issued: 0, held: 2 });
    gate.release(held);
    expect(gate.countOf('t')).toEqual({ issued: 0, held: 0 });
    expect('couponAllow' in op).toBe(false);
  });

  it('applies a changed totalMax to the next reservation', () => {
    const { gate, state } = gateOf(programWith([template('t', 1)], []), [{ t: 1 }]);
    const first = issue('a', 't');
    gate.supply([first], 0);
    expect(first.couponAllow).toBeUndefined();
    state.program = programWith([template('t', 3)], []);
    const second = [issue('b', 't'), issue('c', 't'), issue('d', 't')];
    gate.supply(second, 0);
    expect(second.map((op) => op.couponAllow ?? null)).toEqual([['t'], ['t'], null]);
  });

  it('counts the possible issues of a template in flight against a cap set on it meanwhile', () => {
    const { gate, state } = gateOf(programWith([template('t', null)], []), [{ t: 7 }]);
    const uncapped = [issue('a', 't'), issue('b', 't')];
    const held = gate.supply(uncapped, 0)!;
    state.program = programWith([template('t', 10)], []);
    const capped = [issue('c', 't'), issue('d', 't')];
    gate.supply(capped, 1);
    // 7 issued and 2 that may be: one unit left of 10.
    expect(capped.map((op) => op.couponAllow ?? null)).toEqual([['t'], null]);
    gate.settle(held, { t: 2 });
    expect(gate.countOf('t')).toEqual({ issued: 9, held: 1 });
  });
});

describe('sweep slices', () => {
  const birthdayProgram = () => programWith([template('bday', null)], [rule('b', 'birthday', 'bday'), rule('b2', 'birthday', 'bday'), rule('w', 'register', 'bday')]);

  it('carry limit × birthday rules codes and one spare on the shard, and count what they issued', async () => {
    const { gate } = gateOf(birthdayProgram(), [{ bday: 5 }]);
    let sent: Record<string, unknown> = {};
    const reply = await gate.sweepSlice(3, { c: 'sweep', asOfMs: 1, limit: 40 }, async (control) => {
      sent = control as Record<string, unknown>;
      expect(gate.countOf('bday')).toEqual({ issued: 5, held: 80 });
      return { members: 2, more: false, couponCounts: { bday: 2 } };
    });
    expect(reply.members).toBe(2);
    expect(sent['newCodes']).toHaveLength(81);
    expect((sent['newCodes'] as string[]).every((c) => shardOfCode(c, 4) === 3)).toBe(true);
    expect('couponAllow' in sent).toBe(false);
    expect(gate.countOf('bday')).toEqual({ issued: 7, held: 0 });
  });

  it('are sent as they are when the program has no birthday rule', async () => {
    const { gate } = gateOf(programWith([], []));
    const control = { c: 'sweep', asOfMs: 1, limit: 40 } as const;
    await gate.sweepSlice(0, control, async (sent) => { expect(sent).toBe(control); return null; });
  });

  it('let go of what they held when they fail', async () => {
    const { gate } = gateOf(birthdayProgram());
    await expect(gate.sweepSlice(0, { c: 'sweep', asOfMs: 1, limit: 10 }, async () => { throw new Error('storage'); })).rejects.toThrow('storage');
    expect(gate.countOf('bday')).toEqual({ issued: 0, held: 0 });
  });
});
