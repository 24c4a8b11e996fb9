// Pending points in the shard's batches (docs/rules.md §13.5), run in-process: growth that waits
// reaches a growth tier only at its activation (an upgrade dated then); a return in the same batch
// as its purchase cancels what is pending and leaves the metric alone; a purchase backdated past its
// window activates before the member's next op, dated at its end; and the books verify throughout.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram, validateProgram } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';

type Doc = Record<string, any>;
const DAY_MS = 86_400_000;
const T0 = Date.parse('2026-10-01T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h?.close(); });

/** The demo program with a 14-day window, tiers by growth (Silver at 100, a bonus of 7), through the validator. */
function growthProgram(): Program {
  const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
  doc.pointsPendingDays = 14;
  doc.qualifyBy = 'growth';
  doc.carryForward = 'excess';
  doc.tiers[1].threshold = 100;
  doc.tiers[1].upgradeBonusPoints = 7;
  doc.tiers[2].threshold = 10_000;
  doc.tiers[2].expressUpgradeCents = null;
  const result = validateProgram(doc);
  if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
  return result.program;
}

const register = (memberId: string): WriteOp =>
  ({ op: 'register', memberId, key: `reg:${memberId}`, fp: 1, atMs: T0 - DAY_MS, referralChain: [] } as WriteOp);
const purchase = (memberId: string, orderId: string, amountCents: number, atMs: number): WriteOp =>
  ({ op: 'purchase', memberId, orderId, key: 'order:' + orderId, fp: 7, atMs, amountCents, discountCents: 0, redeemPoints: 0, walletCents: 0 } as WriteOp);
const giveBack = (memberId: string, orderId: string, returnId: string, amountCents: number, atMs: number): WriteOp =>
  ({ op: 'return', memberId, orderId, returnId, amountCents, key: 'ret:' + returnId, fp: 1, atMs } as WriteOp);
const ok = (r: OpResult): Record<string, any> => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r;
};

describe('pending points in a shard batch', () => {
  it('counts pending growth towards a growth tier only at its activation, upgrading then', () => {
    h = new ShardHarness(growthProgram(), 1);
    ok(h.one(register('ann')));
    // 60 and 50 points (HK$1 = 1/20 point), growth 1:1, both pending.
    expect(ok(h.one(purchase('ann', 'o1', 120_000, T0)))).toMatchObject({ earnedPoints: 60, points: 0, growth: 0, upgradedTo: null });
    expect(ok(h.one(purchase('ann', 'o2', 100_000, T0 + DAY_MS)))).toMatchObject({ earnedPoints: 50, points: 0, growth: 0, upgradedTo: null });
    expect(h.state('ann')).toMatchObject({ periodMetric: 0, growth: 0, tierId: 'member' });
    h.sweep(T0 + 14 * DAY_MS);
    expect(h.state('ann')).toMatchObject({ points: 60, growth: 60, periodMetric: 60, tierId: 'member' });
    h.sweep(T0 + 15 * DAY_MS);
    // 110 reaches Silver at the second activation: its bonus, a new period from then, 10 carried.
    const upgradeAt = T0 + 15 * DAY_MS;
    expect(h.state('ann')).toMatchObject({ points: 117, growth: 110, periodMetric: 10, tierId: 'silver', periodStart: upgradeAt, periodEnd: upgradeAt + 365 * DAY_MS });
    const last = h.entries('ann').slice(-2).map((e) => [e.kind, e.at, e.pointsDelta, e.growthDelta, e.pendingDelta, e.tierId]);
    expect(last).toEqual([['points_activate', upgradeAt, 50, 50, -50, null], ['upgrade', upgradeAt, 7, 0, 0, 'silver']]);
    expect(h.mismatches()).toEqual([]);
  });

  it('cancels in the same batch as the purchase, leaving the growth metric alone', () => {
    h = new ShardHarness(growthProgram(), 1);
    ok(h.one(register('bob')));
    const [bought, back] = h.batch([purchase('bob', 'o1', 120_000, T0), giveBack('bob', 'o1', 'r1', 40_000, T0 + 1000)]);
    expect(ok(bought!)).toMatchObject({ earnedPoints: 60, points: 0 });
    expect(ok(back!)).toMatchObject({ clawedBackPoints: 0, cancelledPendingPoints: 20, points: 0 });
    expect(h.state('bob')).toMatchObject({ points: 0, growth: 0, periodMetric: 0, pending: [{ activatesAt: T0 + 14 * DAY_MS, points: 40, growth: 40, orderId: 'o1' }] });
    expect(h.mismatches()).toEqual([]);
  });

  it('activates a purchase backdated past its window before the member\'s next op, dated at its end', () => {
    h = new ShardHarness(growthProgram(), 1);
    ok(h.one(register('cat')));
    ok(h.one(purchase('cat', 'old', 40_000, T0)));
    // No sweep ran; the next purchase, 20 days later, first activates the old order's 20 points.
    expect(ok(h.one(purchase('cat', 'new', 20_000, T0 + 20 * DAY_MS)))).toMatchObject({ points: 20, earnedPoints: 10 });
    const kinds = h.entries('cat').map((e) => [e.kind, e.at, e.pendingDelta]);
    expect(kinds).toEqual([
      ['register', T0 - DAY_MS, 0], ['purchase', T0, 20], ['points_activate', T0 + 14 * DAY_MS, -20], ['purchase', T0 + 20 * DAY_MS, 10],
    ]);
    expect(h.mismatches()).toEqual([]);
  });
});
