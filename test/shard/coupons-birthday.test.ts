// The birthday gift's coupons (docs/rules.md §12.3, §12.7, §6.3) when a member's own op catches it
// up, as the deterministic simulator found them (test/sim, edges `birthday-coupons-in-order` and
// `coupon-only-birthday`): a birthday rule is checked on the tier the member holds after the
// birthday, not the tier a later event of the same catch-up leaves, and a gift of no points still
// brings its coupons. Both failed before the fix (engine/shard/batch-sweep.ts advanceMember issued
// the gift's coupons after the whole catch-up, and only for a `birthday` entry, which a gift of 0
// points does not write); the events now tell the batch of the birthday itself.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { CouponRule, CouponTemplate, Program } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';

const DAY_MS = 86_400_000;
/** Registration, in Hong Kong (the demo program's zone): 10 January 2026. */
const T0 = Date.parse('2026-01-10T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h?.close(); });

const template: CouponTemplate = {
  id: 'bday', name: 'Birthday treat', active: true, discount: { amountCents: 5_000 }, minSpendCents: 0, eligibleTiers: null,
  channels: ['online', 'offline'], validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax: null, restoreOnFullReturn: true,
};
const rule = (tiers: string[] | null): CouponRule => ({ id: 'r-bday', trigger: 'birthday', templateId: 'bday', minNetCents: 0, tiers, channels: null });

function program(bonusPoints: number, tiers: string[] | null): Program {
  // Gold lasts 40 days from registration: it ends on 19 February, after the birthday on 1 February.
  return { ...demoProgram(), membershipDays: 40, birthday: { bonusPoints, multiplierPct: 100 }, coupons: [template], couponRules: [rule(tiers)] };
}

let n = 0;
const codes = (k: number): string[] => Array.from({ length: k }, () => `B${String(++n).padStart(11, '0')}`);
const ok = (r: OpResult): Record<string, unknown> => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r;
};

/** Ann joins at gold on 10 January with a birthday on 1 February; an adjustment on 1 March catches her up. */
function run(p: Program): string[] {
  h = new ShardHarness(p, 1);
  ok(h.one({ op: 'register', memberId: 'ann', key: 'reg:ann', fp: 1, atMs: T0, referralChain: [], tierId: 'gold', birthday: '1990-02-01', newCodes: codes(2) } as WriteOp));
  ok(h.one({ op: 'adjust', memberId: 'ann', key: 'req:a1', fp: 1, atMs: T0 + 50 * DAY_MS, points: 10, reason: 'catch up', newCodes: codes(3) } as WriteOp));
  return h.entries('ann').map((e) => e.kind);
}

describe('a birthday gift\'s coupons when the member\'s op catches the gift up', () => {
  it('are checked on the tier held at the birthday and written with it, before a later period end of the same catch-up', () => {
    // The rule is for gold members; Ann is gold on her birthday and falls to member on 19 February.
    expect(run(program(50, ['gold']))).toEqual(['register', 'birthday', 'coupon_issue', 'downgrade', 'adjust']);
    expect(h.mismatches()).toEqual([]);
  });

  it('come with a gift of no points', () => {
    expect(run(program(0, null))).toEqual(['register', 'coupon_issue', 'downgrade', 'adjust']);
    expect(h.mismatches()).toEqual([]);
  });
});
