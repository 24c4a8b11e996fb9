// The reference model's pending points (test/sim/model.ts) against the worked figures of the return
// window in docs/rules.md §13.5, as the integration test over a real server states them: so that a
// disagreement in a simulation points at the engine, not at the model's reading of the window, the
// cancels, the activation's grant and growth, the referrer's reward or the reports.
import { describe, expect, it } from 'vitest';
import { Model, type Body } from './model.js';
import type { SimProgram, SimTier } from './program.js';

const DAY_MS = 86_400_000;
/** Noon in Hong Kong on 2026-03-02 + `day` days. */
const at = (day: number): string => new Date(Date.parse('2026-03-02T04:00:00Z') + day * DAY_MS).toISOString();

const tier = (id: string, threshold: number, over: Partial<SimTier> = {}): SimTier => ({
  id, name: id, threshold, earn: { cents: 2_000, points: 1 }, redeem: { points: 10, cents: 100 }, discountBps: 0,
  retainThreshold: null, expressUpgradeCents: null, upgradeBonusPoints: 0, renewalBonusPoints: 0, ...over,
});

/** The demo program's tiers with a 14-day window, a year's expiry and one referral level (10 points for a first purchase, 10%). */
function program(over: Partial<SimProgram> = {}): SimProgram {
  return {
    name: 'Demo Store', currency: 'HKD', timezone: 'Asia/Hong_Kong', qualifyBy: 'spend', membershipDays: 365, carryForward: 'excess', downgrade: 'qualify',
    tiers: [tier('member', 0), tier('silver', 100_000), tier('gold', 1_000_000, { earn: { cents: 1_000, points: 1 } })],
    orderPoints: 0, growth: { points: 1, growth: 1 }, signupPoints: 0, birthday: { bonusPoints: 0, multiplierPct: 100 },
    pointsExpiryDays: 365, notifyExpiringDays: 0, allowNegativePoints: false,
    referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 0, firstPurchasePoints: 10, repeatPurchasePoints: 0, purchaseSharePct: 10 }] },
    wallet: { minTopupCents: 100, maxSpendCentsPerOrder: null, topupBonuses: [] }, products: [],
    coupons: [], couponRules: [], campaigns: [], pointsPendingDays: 14, ...over,
  };
}

function apply(model: Model, name: Parameters<Model['apply']>[0], body: Body): Body {
  const outcome = model.apply(name, body, { role: 'admin', nowMs: Date.parse(String(body['at'])) });
  if (!outcome.ok) throw new Error(`${name} refused: ${outcome.codes.join(', ')}`);
  return outcome.answer;
}

const pendingOf = (model: Model, id: string): Body => {
  const v = model.view(model.members.get(id)!);
  return { points: v['points'], pendingPoints: v['pendingPoints'], pointsActivating: v['pointsActivating'] };
};

describe('the reference model\'s pending points', () => {
  it('keeps, cancels, activates and claws back as §13.5 and its integration test say', () => {
    const model = new Model(program(), 1, { shards: 2, globalRequestKeys: false, refuseAncientAt: true, patchBirthdayFully: true });
    apply(model, 'register', { memberId: 'rita', at: at(-1) });
    apply(model, 'register', { memberId: 'ann', referrerId: 'rita', at: at(-1) });

    const o1 = apply(model, 'purchase', { orderId: 'o1', memberId: 'ann', amountCents: 100_000, at: at(0) });
    expect(o1).toMatchObject({ earnedPoints: 50, points: 0, tierId: 'silver', upgradedTo: 'silver', pointsPendingUntil: at(14), referralRewards: [{ memberId: 'rita', points: 15 }] });
    expect(pendingOf(model, 'ann')).toEqual({ points: 0, pendingPoints: 50, pointsActivating: [{ at: at(14), points: 50 }] });
    expect(pendingOf(model, 'rita')).toEqual({ points: 0, pendingPoints: 15, pointsActivating: [{ at: at(14), points: 15 }] });
    // Pending points cannot be spent.
    const spend = model.apply('purchase', { orderId: 'o-spend', memberId: 'ann', amountCents: 10_000, redeemPoints: 10, at: at(1) }, { role: 'admin', nowMs: 0 });
    expect(spend.ok ? null : spend.codes).toEqual(['insufficient_points']);
    expect(apply(model, 'purchase', { orderId: 'o2', memberId: 'ann', amountCents: 60_000, at: at(3) }))
      .toMatchObject({ earnedPoints: 30, points: 0, pointsPendingUntil: at(17), referralRewards: [{ memberId: 'rita', points: 3 }] });

    // Inside the window: 20,000 of o2's 60,000 back cancels 10 of its 30 pending points, and 1 of the referrer's 3.
    expect(apply(model, 'return', { returnId: 'r2a', orderId: 'o2', amountCents: 20_000, at: at(4) }))
      .toMatchObject({ clawedBackPoints: 0, cancelledPendingPoints: 10, points: 0, referralReversals: [{ memberId: 'rita', points: 1 }] });
    expect(pendingOf(model, 'ann')).toEqual({ points: 0, pendingPoints: 70, pointsActivating: [{ at: at(14), points: 50 }, { at: at(17), points: 20 }] });
    expect(pendingOf(model, 'rita')).toEqual({ points: 0, pendingPoints: 17, pointsActivating: [{ at: at(14), points: 15 }, { at: at(17), points: 2 }] });
    expect(model.members.get('ann')!.entries.slice(-2).map((e) => [e.kind, e.ref, e.points, e.pending])).toEqual([['return', 'r2a', 0, 0], ['points_cancel', 'r2a', 0, -10]]);

    // The sweep activates at purchase + 14 days, dated then, as a grant expiring a year later.
    expect(model.sweep(Date.parse(at(14)) - 1)).toBe(0);
    expect(model.sweep(Date.parse(at(14)))).toBe(2);
    const ann = model.members.get('ann')!;
    expect(pendingOf(model, 'ann')).toEqual({ points: 50, pendingPoints: 20, pointsActivating: [{ at: at(17), points: 20 }] });
    expect(model.view(ann)['pointsExpiring']).toEqual([{ at: at(14 + 365), points: 50 }]);
    expect(pendingOf(model, 'rita')).toEqual({ points: 15, pendingPoints: 2, pointsActivating: [{ at: at(17), points: 2 }] });
    expect(ann.entries.at(-1)).toMatchObject({ kind: 'points_activate', at: Date.parse(at(14)), ref: 'o1', points: 50, growth: 50, pending: -50 });

    expect(model.balanceAt(ann, Date.parse(at(2)))).toMatchObject({ points: 0, pendingPoints: 50 });
    expect(model.balanceAt(ann, Date.parse(at(14)) - 1)).toMatchObject({ points: 0, pendingPoints: 70 });
    expect(model.balanceAt(ann, Date.parse(at(14)))).toMatchObject({ points: 50, pendingPoints: 20, growth: 50 });

    // After the activation a return claws back from the balance; what still waits is cancelled.
    expect(apply(model, 'return', { returnId: 'r1', orderId: 'o1', amountCents: 100_000, at: at(15) }))
      .toMatchObject({ clawedBackPoints: 50, cancelledPendingPoints: 0, points: 0, referralReversals: [{ memberId: 'rita', points: 15 }] });
    expect(apply(model, 'return', { returnId: 'r2b', orderId: 'o2', amountCents: 40_000, at: at(16) }))
      .toMatchObject({ clawedBackPoints: 0, cancelledPendingPoints: 20, points: 0, referralReversals: [{ memberId: 'rita', points: 2 }] });
    expect(pendingOf(model, 'ann')).toEqual({ points: 0, pendingPoints: 0, pointsActivating: [] });
    expect(pendingOf(model, 'rita')).toEqual({ points: 0, pendingPoints: 0, pointsActivating: [] });
    expect(model.sweep(Date.parse(at(18)))).toBe(0);

    expect(model.summary()).toMatchObject({ pointsPending: 0n, pointsPendingCancelled: 33n, pointsIssued: 65n, pointsClawedBack: 65n });
    const daily = model.dailyPending('2026-03-02', '2026-03-18');
    expect(Object.fromEntries(daily)).toEqual({
      '2026-03-02': { pointsPending: 65, pointsPendingCancelled: 0 },
      '2026-03-05': { pointsPending: 33, pointsPendingCancelled: 0 },
      '2026-03-06': { pointsPending: 0, pointsPendingCancelled: 11 },
      '2026-03-18': { pointsPending: 0, pointsPendingCancelled: 22 },
    });

    // A change of the window applies to later purchases: what waits keeps its date.
    expect(apply(model, 'purchase', { orderId: 'o4', memberId: 'ann', amountCents: 20_000, at: at(20) })).toMatchObject({ earnedPoints: 10, points: 0, pointsPendingUntil: at(34) });
    model.setProgram(program({ pointsPendingDays: 0 }), Date.parse(at(21)));
    const o5 = apply(model, 'purchase', { orderId: 'o5', memberId: 'ann', amountCents: 20_000, at: at(21) });
    expect(o5).toMatchObject({ earnedPoints: 10, points: 10, pointsPendingUntil: undefined });
    expect(pendingOf(model, 'ann')).toEqual({ points: 10, pendingPoints: 10, pointsActivating: [{ at: at(34), points: 10 }] });
    model.sweep(Date.parse(at(34)));
    expect(pendingOf(model, 'ann')).toEqual({ points: 20, pendingPoints: 0, pointsActivating: [] });
  });

  it('counts waiting growth towards a growth tier at its activation, upgrading then', () => {
    const t0 = Date.parse('2026-10-01T02:00:00Z');
    const growthTiers = program({
      qualifyBy: 'growth', referral: { enabled: false, refereePoints: 0, levels: [] }, pointsExpiryDays: null,
      tiers: [tier('member', 0), tier('silver', 100, { upgradeBonusPoints: 7 }), tier('gold', 10_000)],
    });
    const model = new Model(growthTiers, 1, { shards: 1, globalRequestKeys: false, refuseAncientAt: true, patchBirthdayFully: true });
    apply(model, 'register', { memberId: 'ann', at: new Date(t0 - DAY_MS).toISOString() });
    expect(apply(model, 'purchase', { orderId: 'o1', memberId: 'ann', amountCents: 120_000, at: new Date(t0).toISOString() })).toMatchObject({ earnedPoints: 60, points: 0, growth: 0, upgradedTo: null });
    expect(apply(model, 'purchase', { orderId: 'o2', memberId: 'ann', amountCents: 100_000, at: new Date(t0 + DAY_MS).toISOString() })).toMatchObject({ earnedPoints: 50, points: 0, growth: 0, upgradedTo: null });
    const ann = model.members.get('ann')!;
    expect(ann).toMatchObject({ periodMetric: 0, growth: 0, tierId: 'member' });
    model.sweep(t0 + 14 * DAY_MS);
    expect(ann).toMatchObject({ points: 60, growth: 60, periodMetric: 60, tierId: 'member' });
    model.sweep(t0 + 15 * DAY_MS);
    // 110 reaches Silver at the second activation: its bonus, a new period from then, 10 carried.
    const upgradeAt = t0 + 15 * DAY_MS;
    expect(ann).toMatchObject({ points: 117, growth: 110, periodMetric: 10, tierId: 'silver', periodStart: upgradeAt, periodEnd: upgradeAt + 365 * DAY_MS });
    expect(ann.entries.slice(-2).map((e) => [e.kind, e.at, e.points, e.growth, e.pending, e.tierId]))
      .toEqual([['points_activate', upgradeAt, 50, 50, -50, null], ['upgrade', upgradeAt, 7, 0, 0, 'silver']]);
  });

  it('activates a purchase backdated past its window before the member\'s next op, dated at its end', () => {
    const t0 = Date.parse('2026-10-01T02:00:00Z');
    const model = new Model(program({ referral: { enabled: false, refereePoints: 0, levels: [] } }), 1, { shards: 1, globalRequestKeys: false, refuseAncientAt: true, patchBirthdayFully: true });
    apply(model, 'register', { memberId: 'cat', at: new Date(t0 - DAY_MS).toISOString() });
    apply(model, 'purchase', { orderId: 'old', memberId: 'cat', amountCents: 40_000, at: new Date(t0).toISOString() });
    expect(apply(model, 'purchase', { orderId: 'new', memberId: 'cat', amountCents: 20_000, at: new Date(t0 + 20 * DAY_MS).toISOString() })).toMatchObject({ points: 20, earnedPoints: 10 });
    expect(model.members.get('cat')!.entries.map((e) => [e.kind, e.at, e.pending]))
      .toEqual([['register', t0 - DAY_MS, 0], ['purchase', t0, 20], ['points_activate', t0 + 14 * DAY_MS, -20], ['purchase', t0 + 20 * DAY_MS, 10]]);
  });
});
