// The campaigns of a purchase or a checkout quote inside a batch (docs/rules.md §13): resolved
// before the core's call on the member as the ops before it left it, into the multiplier M and the
// bonus and item points the core adds after it; kept by the batch until the op's finish, which
// writes what applied into the order (and its answer) or the quote's answer.
//
// Everything a campaign matches on is known before the call: the tier is the member's running
// tier (batch.ts runs the member's queued core ops first), and the net the points are earned on is
// `amountCents − discountCents − couponDiscountCents − redeemValueCents`, where the redeemed value
// is `floor(redeemPoints × redeem.cents ÷ redeem.points)` at that tier: the very integers the core
// computes (assembly/index.ts purchase), so no result of the call is needed and the call stays one.
import { inBirthdayMonth } from '../rules/calendar.js';
import { baseMultiplierPct, campaignOutcome, purchaseNetCents, quoteNetCents, type CampaignOutcome } from '../rules/campaigns.js';
import { tierIndexOf, type OrderCampaigns } from '../rules/member-state.js';
import { CAMPAIGN_EXTRA_POINTS_MAX } from '../limits.js';
import type { OpResult, PurchaseOp, QuoteOp } from '../ops.js';
import { fail, type BatchMember, type BatchScope } from './batch-scope.js';

/**
 * The campaigns that apply to `op` on member `m`, whose running state must be the ops' before it
 * (no queued core op of the member): at its `at`, at the tier it earns at, on its net after
 * `couponCents` of coupons (a quote: the amount after the tier's discount).
 */
export function resolveCampaigns(b: BatchScope, op: PurchaseOp | QuoteOp, m: BatchMember, couponCents: number): CampaignOutcome {
  const { program } = b.ctx;
  // A tier the program dropped counts as its first tier, as the core's slot has it (tierIndexOf).
  const tier = program.tiers[tierIndexOf(b.ctx, m.running.tierId)]!;
  const netCents = op.op === 'purchase'
    ? purchaseNetCents(tier, op.amountCents, op.discountCents, couponCents, op.redeemPoints)
    : quoteNetCents(tier, op.amountCents);
  return campaignOutcome(program, {
    atMs: op.atMs, channel: op.channel ?? null, storeId: op.storeId ?? null, tierId: tier.id, netCents,
    items: op.items ?? null, inBirthdayMonth: inBirthdayMonth(m.state.birthdayMonth, op.atMs, program.timezone),
  });
}

/**
 * The refusal of an op whose campaigns would add more than CAMPAIGN_EXTRA_POINTS_MAX (docs/rules.md
 * §13.2), before the core (which asserts the bound): `items` when item points are part of it.
 */
export function extraPastLimit(outcome: CampaignOutcome): OpResult {
  const field = outcome.applied.some((a) => a.itemPoints > 0) ? 'items' : 'amountCents';
  return fail('balance_limit', `the campaigns would add more than ${CAMPAIGN_EXTRA_POINTS_MAX} points to one purchase`, field);
}

/**
 * What the order keeps of its campaigns (docs/rules.md §13.4): B and each applying campaign's
 * parts. `outcome` is undefined when the program had no active campaign: none applied.
 */
export function orderCampaigns(b: BatchScope, outcome: CampaignOutcome | undefined, birthday: boolean): OrderCampaigns {
  if (outcome === undefined) return { baseMultiplierPct: baseMultiplierPct(b.ctx.program, birthday), applied: [] };
  return {
    baseMultiplierPct: outcome.baseMultiplierPct,
    applied: outcome.applied.map((a) => ({
      campaignId: a.campaignId, multiplierPct: a.multiplierPct, bonusPoints: a.bonusPoints, itemPoints: a.itemPoints, multiplierPoints: a.multiplierPoints,
    })),
  };
}

/** The quote's list of the campaigns a purchase of it would get: id and points added, in program order. */
export function quoteCampaigns(outcome: CampaignOutcome | undefined): Array<{ id: string; points: number }> {
  return outcome === undefined ? [] : outcome.applied.map((a) => ({ id: a.campaignId, points: a.points }));
}
