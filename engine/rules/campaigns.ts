// Which campaigns apply to a purchase and what they add to its points (docs/rules.md §13.1-13.2):
// the multiplier M the core multiplies with, the bonus and item points it adds after, the points
// each campaign added (for answers and the campaign report) and the coupons they issue. Pure: the
// caller passes the purchase's instant, the member's tier and the net, and the program.

import { localDateOf } from './calendar.js';
import { CAMPAIGN_EXTRA_POINTS_MAX, SAFE_INTEGER_MAX } from '../limits.js';
import type { Campaign, Program, Tier } from './program-types.js';
import { mulDiv } from './returns.js';

const DAY_MS = 86_400_000;
const PCT_ONE = 100;
const BPS_ONE = 10_000;
/** The multiplier that changes nothing. */
const NO_MULTIPLIER_PCT = 100;
/** daysOfWeek as a bit mask: bit d set for ISO day d (1 = Monday … 7 = Sunday); every day is bits 1-7. */
const EVERY_DAY_MASK = 0b1111_1110;
/** Day keys year × 10,000 + month × 100 + day compare like the dates; these bound an open window. */
const OPEN_FROM_DAY_KEY = 0;
const OPEN_TO_DAY_KEY = 99_999_999;

/** A purchase as the campaigns see it (docs/rules.md §13.1). */
export interface CampaignPurchase {
  atMs: number;
  /** The purchase's channel; null when it names none. */
  channel: string | null;
  /** The purchase's store; null when it names none. */
  storeId: string | null;
  /** The tier the member holds before the purchase, after the events due by `atMs`: the tier it earns at. */
  tierId: string;
  /** The net the purchase earns on (purchaseNetCents, quoteNetCents). */
  netCents: number;
  items: ReadonlyArray<{ sku: string; qty: number }> | null;
  /** Whether `atMs` falls in the member's birthday month in the program's zone (calendar.ts inBirthdayMonth). */
  inBirthdayMonth: boolean;
}

/** One applying campaign and the points it added (docs/rules.md §13.2). */
export interface AppliedCampaign {
  campaignId: string;
  /** The campaign's own `pointsMultiplierPct` (100: none); the order keeps it so a return knows which one was M. */
  multiplierPct: number;
  bonusPoints: number;
  /** Σ points × qty over the purchase's item lines of the SKUs it lists. */
  itemPoints: number;
  /** What its multiplier added over the birthday month's (or 100): non-zero only for the campaign whose multiplier is M. */
  multiplierPoints: number;
  /** bonusPoints + itemPoints + multiplierPoints. */
  points: number;
}

/** What the campaigns do to one purchase. */
export interface CampaignOutcome {
  /** The applying campaigns in program order. */
  applied: AppliedCampaign[];
  /** B: the birthday multiplier in the birthday month, else 100. */
  baseMultiplierPct: number;
  /** M: the largest of B and the applying campaigns' multipliers above 100; the core multiplies the regular points by it. */
  multiplierPct: number;
  /** Σ bonus points + Σ item points of the applying campaigns: what the core adds after the multiplier. */
  extraPoints: number;
  /**
   * False when the campaigns would add more than CAMPAIGN_EXTRA_POINTS_MAX: the purchase must then
   * be refused with balance_limit before the core's call (which asserts the bound), and
   * `extraPoints` and the per-campaign figures are not exact.
   */
  extraWithinLimit: boolean;
  /** A coupon of each template per applying campaign that names one, in program order. */
  coupons: Array<{ campaignId: string; templateId: string }>;
}

/** A campaign with its conditions in the shape a purchase is checked against quickly. */
interface CompiledCampaign {
  campaign: Campaign;
  fromDayKey: number;
  toDayKey: number;
  dayMask: number;
  /** Whether the local date of the purchase is needed at all (a window or days of the week). */
  dated: boolean;
  channels: ReadonlySet<string> | null;
  stores: ReadonlySet<string> | null;
  tiers: ReadonlySet<string> | null;
  itemPoints: ReadonlyMap<string, number> | null;
}

/** Compiled once per program object: a shard keeps one per program version. */
const compiledByProgram = new WeakMap<Program, CompiledCampaign[]>();

const dayKeyOf = (date: string): number => Number(date.slice(0, 4)) * 10_000 + Number(date.slice(5, 7)) * 100 + Number(date.slice(8, 10));

function compile(program: Program): CompiledCampaign[] {
  let compiled = compiledByProgram.get(program);
  if (compiled !== undefined) return compiled;
  compiled = program.campaigns.filter((c) => c.active).map((campaign): CompiledCampaign => {
    const dayMask = campaign.daysOfWeek === null ? EVERY_DAY_MASK : campaign.daysOfWeek.reduce((mask, d) => mask | (1 << d), 0);
    return {
      campaign,
      fromDayKey: campaign.from === null ? OPEN_FROM_DAY_KEY : dayKeyOf(campaign.from),
      toDayKey: campaign.to === null ? OPEN_TO_DAY_KEY : dayKeyOf(campaign.to),
      dayMask,
      dated: campaign.from !== null || campaign.to !== null || dayMask !== EVERY_DAY_MASK,
      channels: campaign.channels === null ? null : new Set(campaign.channels),
      stores: campaign.storeIds === null ? null : new Set(campaign.storeIds),
      tiers: campaign.tiers === null ? null : new Set(campaign.tiers),
      itemPoints: campaign.itemPoints.length === 0 ? null : new Map(campaign.itemPoints.map((i) => [i.sku, i.points])),
    };
  });
  compiledByProgram.set(program, compiled);
  return compiled;
}

/** Whether the program has an active campaign: without one, no purchase or quote needs resolving. */
export function campaignsActive(program: Program): boolean {
  return compile(program).length > 0;
}

const issuesCouponsByProgram = new WeakMap<Program, boolean>();

/** Whether an active campaign of the program issues coupons: then every purchase's answer lists its coupons. */
export function campaignsIssueCoupons(program: Program): boolean {
  let issues = issuesCouponsByProgram.get(program);
  if (issues === undefined) {
    issues = compile(program).some((c) => c.campaign.couponTemplateId !== null);
    issuesCouponsByProgram.set(program, issues);
  }
  return issues;
}

/** A purchase as the router knows it before its shard: no tier, and a net of at most `netCentsMax`. */
export interface CampaignPurchaseBound {
  atMs: number;
  channel: string | null;
  storeId: string | null;
  /** `amountCents − discountCents`: coupons and redeemed points only lower the net. */
  netCentsMax: number;
}

/**
 * The active campaigns with a coupon that may apply to a purchase (docs/rules.md §13.1) whatever
 * the member's tier and the net its coupons and points leave: every condition but the tier is
 * checked, the net against its upper bound. The router supplies a code (and a totalMax unit) for
 * each (engine/router/coupon-gate.ts); the shard decides exactly.
 */
export function couponCampaignsMayApply(program: Program, p: CampaignPurchaseBound): Campaign[] {
  const compiled = compile(program);
  let out: Campaign[] | null = null;
  let day: LocalDay | null = null;
  for (const c of compiled) {
    if (c.campaign.couponTemplateId === null) continue;
    if (!matches(c, { tierId: '', channel: p.channel, storeId: p.storeId, netCents: p.netCentsMax }, false)) continue;
    if (c.dated) {
      day ??= localDayOf(p.atMs, program.timezone);
      if (!onItsDays(c, day.dayKey, day.isoDay)) continue;
    }
    (out ??= []).push(c.campaign);
  }
  return out ?? [];
}

/** The ISO day of the week (1 = Monday … 7 = Sunday) of a calendar date; 1970-01-01 was a Thursday. */
export function isoWeekday(year: number, month: number, day: number): number {
  const days = Math.floor(Date.UTC(year, month - 1, day) / DAY_MS);
  return ((((days + 3) % 7) + 7) % 7) + 1;
}

/** B of docs/rules.md §13.2: the birthday multiplier in the member's birthday month, else 100. */
export function baseMultiplierPct(program: Program, inBirthdayMonth: boolean): number {
  return inBirthdayMonth ? program.birthday.multiplierPct : NO_MULTIPLIER_PCT;
}

/**
 * The net a purchase earns on (docs/rules.md §3.2 step 2, §12.6), as the core computes it:
 * `amountCents − discountCents − couponDiscountCents − floor(redeemPoints × redeem.cents ÷ redeem.points)`
 * at the tier held before the purchase. Negative when the core will refuse the purchase
 * (negative_net); no campaign applies to a negative net.
 */
export function purchaseNetCents(tier: Tier, amountCents: number, discountCents: number, couponDiscountCents: number, redeemPoints: number): number {
  return amountCents - discountCents - couponDiscountCents - mulDiv(redeemPoints, tier.redeem.cents, tier.redeem.points);
}

/** The net a checkout quote earns on (docs/rules.md §3.4): the amount after the tier's discount. */
export function quoteNetCents(tier: Tier, amountCents: number): number {
  return amountCents - mulDiv(amountCents, tier.discountBps, BPS_ONE);
}

/** Whether campaign `c`'s conditions other than the date (and the tier, unless `withTier`) hold for `p`: the cheap ones, checked first. */
function matches(c: CompiledCampaign, p: Pick<CampaignPurchase, 'tierId' | 'channel' | 'storeId' | 'netCents'>, withTier: boolean): boolean {
  if (withTier && c.tiers !== null && !c.tiers.has(p.tierId)) return false;
  if (c.channels !== null && (p.channel === null || !c.channels.has(p.channel))) return false;
  if (c.stores !== null && (p.storeId === null || !c.stores.has(p.storeId))) return false;
  return p.netCents >= c.campaign.minNetCents;
}

/** Whether a local date (its day key and ISO day of the week) is in campaign `c`'s window and days. */
/** The local date of an instant as a number (YYYYMMDD) and its ISO weekday (1 = Monday), in the program's zone. */
interface LocalDay { dayKey: number; isoDay: number }

function localDayOf(atMs: number, timeZone: string): LocalDay {
  const date = localDateOf(atMs, timeZone);
  return { dayKey: date.year * 10_000 + date.month * 100 + date.day, isoDay: isoWeekday(date.year, date.month, date.day) };
}

function onItsDays(c: CompiledCampaign, dayKey: number, isoDay: number): boolean {
  return dayKey >= c.fromDayKey && dayKey <= c.toDayKey && (c.dayMask & (1 << isoDay)) !== 0;
}

/**
 * Σ points × qty over the purchase's item lines of the SKUs `itemPoints` lists. Every term is
 * non-negative, so the sum stops as soon as it passes `limit`: below it every product and sum is
 * under 2^53 and exact, and a product past 2^53 rounds to a value that is past the limit too.
 */
function itemPointsOf(itemPoints: ReadonlyMap<string, number>, items: ReadonlyArray<{ sku: string; qty: number }>, limit: number): number {
  let sum = 0;
  for (const item of items) {
    const points = itemPoints.get(item.sku);
    if (points === undefined) continue;
    sum += points * item.qty;
    if (sum > limit) return sum;
  }
  return sum;
}

/**
 * floor(regular × m ÷ 100) − floor(regular × b ÷ 100), with regular = floor(net × earn.points ÷
 * earn.cents) + orderPoints: what a multiplier m adds over b. Exact whenever the purchase's
 * earnings are a safe integer (past that the purchase is refused and the figure is never shown).
 */
function multiplierPointsOf(program: Program, tier: Tier, netCents: number, m: number, b: number): number {
  const base = netCents * tier.earn.points;
  if (base <= SAFE_INTEGER_MAX) {
    const regular = (base - (base % tier.earn.cents)) / tier.earn.cents + program.orderPoints;
    const high = regular * m;
    // b < m, so regular × b is below regular × m and exact too.
    if (high <= SAFE_INTEGER_MAX) {
      const low = regular * b;
      return (high - (high % PCT_ONE)) / PCT_ONE - (low - (low % PCT_ONE)) / PCT_ONE;
    }
  }
  const regular = (BigInt(netCents) * BigInt(tier.earn.points)) / BigInt(tier.earn.cents) + BigInt(program.orderPoints);
  return Number((regular * BigInt(m)) / 100n - (regular * BigInt(b)) / 100n);
}

const NONE_APPLIED: AppliedCampaign[] = [];
const NO_COUPONS: CampaignOutcome['coupons'] = [];

/** The campaigns of `program` that apply to purchase `p`, and what they add (docs/rules.md §13.1-13.2). */
export function campaignOutcome(program: Program, p: CampaignPurchase): CampaignOutcome {
  const b = baseMultiplierPct(program, p.inBirthdayMonth);
  const compiled = compile(program);
  let applied = NONE_APPLIED;
  let coupons = NO_COUPONS;
  let day: LocalDay | null = null;
  let m = b;
  let multiplierIndex = -1;
  let extraPoints = 0;
  for (const c of compiled) {
    if (!matches(c, p, true)) continue;
    if (c.dated) {
      // The local date is found once per purchase, and only when a campaign that needs it matches otherwise.
      day ??= localDayOf(p.atMs, program.timezone);
      if (!onItsDays(c, day.dayKey, day.isoDay)) continue;
    }
    const campaign = c.campaign;
    const itemPoints = c.itemPoints === null || p.items === null ? 0 : itemPointsOf(c.itemPoints, p.items, CAMPAIGN_EXTRA_POINTS_MAX);
    if (applied === NONE_APPLIED) applied = [];
    applied.push({ campaignId: campaign.id, multiplierPct: campaign.pointsMultiplierPct, bonusPoints: campaign.bonusPoints, itemPoints, multiplierPoints: 0, points: 0 });
    // The first of the largest wins; a multiplier of 100 is none, so it never displaces B.
    if (campaign.pointsMultiplierPct > NO_MULTIPLIER_PCT && campaign.pointsMultiplierPct > m) {
      m = campaign.pointsMultiplierPct;
      multiplierIndex = applied.length - 1;
    }
    extraPoints += campaign.bonusPoints + itemPoints;
    if (campaign.couponTemplateId !== null) {
      if (coupons === NO_COUPONS) coupons = [];
      coupons.push({ campaignId: campaign.id, templateId: campaign.couponTemplateId });
    }
  }
  const extraWithinLimit = extraPoints <= CAMPAIGN_EXTRA_POINTS_MAX;
  if (multiplierIndex >= 0 && extraWithinLimit) {
    const tier = program.tiers.find((t) => t.id === p.tierId) ?? program.tiers[0]!;
    applied[multiplierIndex]!.multiplierPoints = multiplierPointsOf(program, tier, p.netCents, m, b);
  }
  for (const a of applied) a.points = a.bonusPoints + a.itemPoints + a.multiplierPoints;
  return { applied, baseMultiplierPct: b, multiplierPct: m, extraPoints, extraWithinLimit, coupons };
}
