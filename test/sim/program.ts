// The loyalty program as the simulator writes it (the JSON of PUT /v1/program), and a seeded
// generator of valid programs. Tier ids come from one ordered pool, so a changed program keeps the
// tiers members hold in the same order; a tier nobody ever held may be dropped.
import type { Random } from './prng.js';
import { DAY_MS, ZONES, localDate } from './calendar.js';
import { drawRewards, type SimCardInclude, type SimReward } from './rewards.js';

export interface SimTier {
  id: string; name: string; threshold: number;
  earn: { cents: number; points: number };
  redeem: { points: number; cents: number };
  discountBps: number; retainThreshold: number | null; expressUpgradeCents: number | null;
  upgradeBonusPoints: number; renewalBonusPoints: number;
}

export interface SimLevel { registerPoints: number; firstPurchasePoints: number; repeatPurchasePoints: number; purchaseSharePct: number }

export interface SimIncludes { walletCents?: number; points?: number; tierId?: string; forceTierId?: string; extendDays?: number; card?: SimCardInclude }

export interface SimProduct {
  id: string; name: string; priceCents: number; active: boolean;
  channels: Array<'online' | 'offline'>; eligibleTiers: string[] | null; includes: SimIncludes;
}

export type SimChannel = 'online' | 'offline';

/** A coupon template (docs/program.md, Coupons), every field spelled out. */
export interface SimCouponTemplate {
  id: string; name: string; active: boolean;
  discount: { amountCents: number } | { percentBps: number; maxCents: number | null };
  minSpendCents: number; eligibleTiers: string[] | null; channels: SimChannel[];
  validDays: number | null; validFrom: string | null; validTo: string | null;
  perMemberMax: number | null; totalMax: number | null; restoreOnFullReturn: boolean;
}

export type SimCouponTrigger = 'register' | 'purchase' | 'upgrade' | 'birthday';

export interface SimCouponRule {
  id: string; trigger: SimCouponTrigger; templateId: string; minNetCents: number;
  tiers: string[] | null; channels: SimChannel[] | null;
}

/** A campaign (docs/program.md, Campaigns), every field spelled out. */
export interface SimCampaign {
  id: string; name: string; active: boolean; from: string | null; to: string | null; daysOfWeek: number[] | null;
  channels: SimChannel[] | null; storeIds: string[] | null; tiers: string[] | null; minNetCents: number;
  pointsMultiplierPct: number; bonusPoints: number; itemPoints: Array<{ sku: string; points: number }>; couponTemplateId: string | null;
}

export interface SimProgram {
  name: string; currency: string; timezone: string;
  qualifyBy: 'spend' | 'growth'; membershipDays: number | null;
  carryForward: 'excess' | 'all' | 'none'; downgrade: 'qualify' | 'one';
  tiers: SimTier[]; orderPoints: number; growth: { points: number; growth: number };
  signupPoints: number; birthday: { bonusPoints: number; multiplierPct: number };
  pointsExpiryDays: number | null; notifyExpiringDays: number; allowNegativePoints: boolean;
  referral: { enabled: boolean; refereePoints: number; levels: SimLevel[] };
  wallet: { minTopupCents: number; maxSpendCentsPerOrder: number | null; topupBonuses: Array<{ minCents: number; bonusCents: number }> };
  products: SimProduct[];
  coupons: SimCouponTemplate[];
  couponRules: SimCouponRule[];
  campaigns: SimCampaign[];
  /** Rewards and the staff commission (test/sim/rewards.ts), under the `rewards` edge. */
  rewards?: SimReward[];
  staffCommissionBps?: number;
  /** The return window (docs/rules.md §13.5): a purchase's points and the referral rewards it causes wait this many days. */
  pointsPendingDays: number;
}

/** Every coupon template id a program may have: a template dropped by one program may come back in a later one. */
export const COUPON_POOL = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'] as const;

/** Every tier id a program may have, in the order they rank. */
export const TIER_POOL = ['base', 'silver', 'gold', 'platinum', 'diamond'] as const;

export interface ProgramConstraints {
  /** Tier ids some member holds or held (state, period start, orders): the program must keep them. */
  keepTiers: ReadonlySet<string>;
  /** A held tier the program should drop (the `tier-removal` edge), or null. */
  dropTier: string | null;
  /** The time zone to keep, or null to draw one (the `timezone-change` edge, or the first program). */
  timezone: string | null;
  /** Coupon templates and rules to draw (the `coupons` edge), with birthday rules (`birthday-coupons`) or without. */
  coupons: { birthdayRules: boolean } | null;
  /** The timeline's clock: fixed coupon windows are drawn around it. */
  clockMs: number;
  /** Rewards and products with count cards (the `rewards` edge), drawn after everything else. */
  rewards?: boolean;
}

/** A valid program: every field drawn from the seed, within the bounds the simulator's amounts make interesting. */
export function generateProgram(rng: Random, c: ProgramConstraints): SimProgram {
  const qualifyBy = rng.chance(0.7) ? 'spend' : 'growth';
  // The metric is net cents or growth (about a twentieth of the cents at the usual earn rates).
  const unit = qualifyBy === 'spend' ? 1 : 1 / 20;
  // The first tier is always 'base'; the others are kept while held and otherwise drawn.
  const ids = TIER_POOL.filter((id, i) => i === 0 || (c.keepTiers.has(id) && id !== c.dropTier) || (id !== c.dropTier && rng.chance(0.5)));
  const tiers: SimTier[] = [];
  let threshold = 0;
  ids.forEach((id, i) => {
    if (i > 0) threshold += Math.max(1, Math.floor(rng.int(30_000, 400_000) * unit * (i === 1 ? 1 : rng.int(1, 4))));
    const retain = i === 0 || rng.chance(0.5) ? null : Math.max(0, threshold - rng.int(0, Math.floor(threshold / 2)));
    tiers.push({
      id, name: `Tier ${id}`, threshold,
      earn: { cents: rng.pick([100, 500, 1000, 2000, 2500, 5000]), points: rng.int(1, 5) },
      redeem: { points: rng.pick([1, 5, 10, 20, 50]), cents: rng.pick([1, 10, 50, 100, 200]) },
      discountBps: i === 0 ? 0 : rng.int(0, 2000),
      retainThreshold: retain,
      expressUpgradeCents: i === 0 || rng.chance(0.6) ? null : rng.int(100_000, 1_500_000),
      upgradeBonusPoints: rng.chance(0.5) ? 0 : rng.int(1, 500),
      renewalBonusPoints: rng.chance(0.5) ? 0 : rng.int(1, 300),
    });
  });
  // Mostly deep: a chain only grows to 3 levels through members registered while 3 levels paid.
  const levelCount = rng.pick([0, 1, 2, 3, 3, 3]);
  const levels: SimLevel[] = Array.from({ length: levelCount }, () => ({
    registerPoints: rng.chance(0.3) ? 0 : rng.int(1, 200),
    firstPurchasePoints: rng.chance(0.3) ? 0 : rng.int(1, 300),
    repeatPurchasePoints: rng.chance(0.5) ? 0 : rng.int(1, 50),
    purchaseSharePct: rng.chance(0.4) ? 0 : rng.int(1, 30),
  }));
  const bonusSteps = rng.int(0, 3);
  const minCents = rng.shuffle([20_000, 50_000, 100_000, 200_000, 500_000]).slice(0, bonusSteps);
  const tierIds = tiers.map((t) => t.id);
  const drawn = rng.chance(0.5) ? 'Asia/Hong_Kong' : rng.pick(ZONES);
  const zone = c.timezone ?? drawn;
  const products: SimProduct[] = [];
  for (let i = 0, n = rng.int(1, 5); i < n; i++) products.push(generateProduct(rng, `p${i}`, tierIds));
  const program: SimProgram = {
    name: `Sim ${rng.int(1, 999)}`, currency: 'HKD', timezone: zone,
    qualifyBy, membershipDays: rng.chance(0.15) ? null : rng.int(20, 400),
    carryForward: rng.pick(['excess', 'all', 'none'] as const), downgrade: rng.pick(['qualify', 'one'] as const),
    tiers, orderPoints: rng.chance(0.6) ? 0 : rng.int(1, 50),
    growth: { points: rng.int(1, 4), growth: rng.int(1, 4) },
    signupPoints: rng.chance(0.5) ? 0 : rng.int(1, 200),
    birthday: { bonusPoints: rng.chance(0.4) ? 0 : rng.int(1, 500), multiplierPct: rng.pick([50, 100, 100, 150, 200, 300]) },
    pointsExpiryDays: rng.chance(0.4) ? null : rng.int(20, 400),
    // The model keeps no expiry notices (ledger entries without balance moves, read by webhooks): they are off here.
    notifyExpiringDays: 0,
    allowNegativePoints: rng.chance(0.5),
    referral: { enabled: rng.chance(0.7), refereePoints: rng.chance(0.4) ? 0 : rng.int(1, 100), levels },
    wallet: {
      minTopupCents: rng.int(100, 5_000),
      maxSpendCentsPerOrder: rng.chance(0.7) ? null : rng.int(5_000, 300_000),
      topupBonuses: minCents.map((m) => ({ minCents: m, bonusCents: rng.int(0, Math.floor(m / 5)) })),
    },
    products,
    ...(c.coupons === null ? { coupons: [], couponRules: [] } : generateCoupons(rng, tierIds, c.clockMs, zone, c.coupons)),
    campaigns: [],
    pointsPendingDays: 0,
  };
  // Campaigns, then rewards, are drawn last, so that every other field of a seed's programs is what it was before them.
  program.campaigns = generateCampaigns(rng, tierIds, program.coupons, c.clockMs);
  // A return window in most programs: shorter than a step of the clock or spanning several, or as
  // long as the points' expiry or the tier periods, so that a purchase's activation falls at the
  // same instant as the expiry of its upgrade bonus or the end of the period its upgrade opened
  // (ties decided by docs/rules.md §6.4). Each program change draws it again, so windows open,
  // close and change while points are pending.
  const window = rng.pick(['none', 'none', '3', '14', '30', 'expiry', 'period'] as const);
  program.pointsPendingDays = window === 'none' ? 0 : window === 'expiry' ? Math.min(365, program.pointsExpiryDays ?? 30)
    : window === 'period' ? Math.min(365, program.membershipDays ?? 30) : Number(window);
  if (c.rewards === true) drawRewards(rng, program, c.clockMs);
  return program;
}

/** A local date `days` after the local date of `atMs`, as YYYY-MM-DD. */
function localDay(atMs: number, days: number, zone: string): string {
  const d = localDate(atMs, zone);
  return new Date(Date.UTC(d.year, d.month - 1, d.day) + days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * Templates of every kind and rules of every trigger. Caps are small so that they are reached;
 * validity is days to a year (the clock moves days per step), or a fixed window around the clock,
 * so that coupons are used and expire and some are issued before their window; a birthday rule's template has no totalMax (the validator
 * refuses one).
 */
function generateCoupons(rng: Random, tierIds: string[], clockMs: number, zone: string, opts: { birthdayRules: boolean }): Pick<SimProgram, 'coupons' | 'couponRules'> {
  const channelSets: SimChannel[][] = [['online', 'offline'], ['online', 'offline'], ['online'], ['offline']];
  const tierSubset = (): string[] => rng.shuffle(tierIds).slice(0, rng.int(1, tierIds.length));
  const coupons: SimCouponTemplate[] = COUPON_POOL.filter(() => rng.chance(0.55)).map((id) => {
    const window = rng.chance(0.3);
    const fromDays = rng.int(-40, 40);
    return {
      id, name: `Coupon ${id}`, active: rng.chance(0.88),
      discount: rng.chance(0.5)
        ? { amountCents: rng.chance(0.85) ? rng.int(100, 20_000) : rng.int(20_000, 500_000) }
        : { percentBps: rng.chance(0.1) ? 10_000 : rng.int(1, 9_999), maxCents: rng.chance(0.3) ? null : rng.int(1, 50_000) },
      minSpendCents: rng.chance(0.5) ? 0 : rng.int(1_000, 100_000),
      eligibleTiers: rng.chance(0.75) ? null : tierSubset(),
      channels: rng.pick(channelSets),
      validDays: window ? null : rng.chance(0.4) ? rng.int(1, 30) : rng.int(31, 400),
      validFrom: window ? localDay(clockMs, fromDays, zone) : null,
      validTo: window ? localDay(clockMs, fromDays + rng.int(0, 400), zone) : null,
      perMemberMax: rng.chance(0.6) ? null : rng.int(1, 3),
      totalMax: rng.chance(0.6) ? null : rng.int(1, 8),
      restoreOnFullReturn: rng.chance(0.7),
    };
  });
  const couponRules: SimCouponRule[] = [];
  if (coupons.length === 0) return { coupons, couponRules };
  for (let i = 0, n = rng.int(0, 5); i < n; i++) {
    const trigger = rng.weighted({ register: 3, purchase: 4, upgrade: 2, birthday: opts.birthdayRules ? 2 : 0 });
    const template = rng.pick(coupons);
    // Birthdays reach every member: the validator refuses a capped gift.
    if (trigger === 'birthday') template.totalMax = null;
    couponRules.push({
      id: `r${i}`, trigger, templateId: template.id,
      minNetCents: trigger === 'purchase' && rng.chance(0.5) ? rng.int(1_000, 100_000) : 0,
      tiers: rng.chance(0.75) ? null : tierSubset(),
      channels: trigger === 'birthday' || rng.chance(0.6) ? null : rng.pick(channelSets),
    });
  }
  return { coupons, couponRules };
}

/**
 * Half the programs run 1-3 campaigns: windows of local dates around the clock or open, days of
 * the week, the planner's channels, stores (`store-1`…`store-5`) and SKUs (`SKU-1`…`SKU-20`),
 * tiers, minimum nets around the planner's amounts, multipliers that beat the birthday month's or
 * not, bonuses and item points, and, when the program has coupon templates, a coupon of one of
 * them (capped templates included, so that a campaign's coupon meets its totalMax).
 */
function generateCampaigns(rng: Random, tierIds: string[], templates: readonly SimCouponTemplate[], clockMs: number): SimCampaign[] {
  if (rng.chance(0.5)) return [];
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return Array.from({ length: rng.int(1, 3) }, (_, i): SimCampaign => {
    const fromMs = clockMs + rng.int(-120, 60) * DAY_MS;
    const window = rng.next();
    const skus = rng.shuffle(Array.from({ length: 20 }, (_, k) => `SKU-${k + 1}`)).slice(0, rng.int(0, 4));
    return {
      id: `camp${i}`, name: `Campaign ${i}`, active: rng.chance(0.9),
      from: window < 0.5 ? null : day(fromMs), to: window < 0.3 || window >= 0.8 ? null : day(fromMs + rng.int(0, 200) * DAY_MS),
      daysOfWeek: rng.chance(0.5) ? null : rng.shuffle([1, 2, 3, 4, 5, 6, 7]).slice(0, rng.int(1, 4)),
      channels: rng.chance(0.6) ? null : [rng.pick(['online', 'offline'] as const)],
      storeIds: rng.chance(0.7) ? null : rng.shuffle(['store-1', 'store-2', 'store-3', 'store-4', 'store-5']).slice(0, rng.int(1, 3)),
      tiers: rng.chance(0.6) ? null : rng.shuffle(tierIds).slice(0, rng.int(1, tierIds.length)),
      minNetCents: rng.chance(0.6) ? 0 : rng.pick([1_000, 20_000, 100_000]),
      pointsMultiplierPct: rng.pick([100, 100, 120, 150, 200, 300]),
      bonusPoints: rng.chance(0.5) ? 0 : rng.int(1, 200),
      itemPoints: skus.map((sku) => ({ sku, points: rng.int(1, 100) })),
      couponTemplateId: templates.length > 0 && rng.chance(0.5) ? rng.pick(templates).id : null,
    };
  });
}

function generateProduct(rng: Random, id: string, tierIds: string[]): SimProduct {
  const includes: SimIncludes = {};
  if (rng.chance(0.5)) includes.walletCents = rng.int(1_000, 100_000);
  if (rng.chance(0.5)) includes.points = rng.int(1, 2_000);
  const tierRoll = rng.next();
  if (tierRoll < 0.3 && tierIds.length > 1) includes.tierId = rng.pick(tierIds.slice(1));
  else if (tierRoll < 0.45) includes.forceTierId = rng.pick(tierIds);
  if (rng.chance(0.3)) includes.extendDays = rng.int(1, 200);
  if (Object.keys(includes).length === 0) includes.points = rng.int(1, 100);
  const channels = rng.pick([['online', 'offline'], ['online'], ['offline']] as Array<Array<'online' | 'offline'>>);
  const eligible = rng.chance(0.7) ? null : rng.shuffle(tierIds).slice(0, rng.int(1, tierIds.length));
  return { id, name: `Product ${id}`, priceCents: rng.int(0, 100_000), active: rng.chance(0.85), channels, eligibleTiers: eligible, includes };
}
