// Validates a whole loyalty program document (docs/program.md) into a normalised Program,
// or names the first wrong field; also builds the demo program a fresh install starts with.

import {
  AMOUNT_CENTS_MAX,
  CAMPAIGN_ITEM_POINTS_MAX,
  CAMPAIGN_STORES_MAX,
  CAMPAIGNS_MAX,
  COUPON_RULES_MAX,
  COUPON_TEMPLATES_MAX,
  DAYS_MAX,
  MULTIPLIER_PCT_MAX,
  POINTS_OP_MAX,
  POINTS_PENDING_DAYS_MAX,
  PRODUCTS_MAX,
  RATE_PART_MAX,
  REFERRAL_LEVELS_MAX,
  REWARDS_MAX,
  SAFE_INTEGER_MAX,
  THRESHOLD_MAX,
  TEXT_LENGTH_MAX,
  NOTIFY_EXPIRING_DAYS_DEFAULT,
  NOTIFY_EXPIRING_DAYS_MAX,
} from '../limits.js';
import type {
  Campaign, Channel, CouponDiscount, CouponRule, CouponTemplate, ItemPoints, Product, ProductIncludes, Program,
  ReferralLevel, Tier,
} from './program-types.js';
import { isPhoneCountry } from './phone.js';
import { checkServiceNames, readCardInclude, readRewards, readStaffCommission } from './program-rewards.js';
import {
  FieldError,
  type Fields,
  type IntRange,
  arrayField,
  boolField,
  checkDate,
  checkEnum,
  checkId,
  checkInt,
  enumField,
  fieldPath,
  has,
  idField,
  indexPath,
  intField,
  nullableInt,
  objectField,
  readArray,
  readObject,
  stringField,
  validate,
} from './validate.js';

/** Most tiers in one program (docs/rules.md §1). */
export const TIERS_MAX = 10;
/** Most top-up bonus steps: a bonus table longer than this is a price list, not a promotion. */
export const TOPUP_BONUSES_MAX = 16;

export type ProgramValidation =
  | { ok: true; program: Program }
  | { ok: false; field: string; message: string };

const CURRENCY_PATTERN = /^[A-Z]{3}$/;
const CHANNELS = ['online', 'offline'] as const;
const COUPON_TRIGGERS = ['register', 'purchase', 'upgrade', 'birthday'] as const;
/**
 * The first local date a coupon's fixed window or a campaign's window may name: the date arithmetic
 * behind windows uses Date.UTC, which reads years 0-99 as 1900-1999, and no op is dated before this
 * anyway (AT_MIN_MS).
 */
const WINDOW_FIRST_DATE = '2000-01-01';

const POINTS: IntRange = { min: 0, max: POINTS_OP_MAX };
const POSITIVE_POINTS: IntRange = { min: 1, max: POINTS_OP_MAX };
const CENTS: IntRange = { min: 0, max: AMOUNT_CENTS_MAX };
const POSITIVE_CENTS: IntRange = { min: 1, max: AMOUNT_CENTS_MAX };
const DAYS: IntRange = { min: 1, max: DAYS_MAX };
const THRESHOLD: IntRange = { min: 0, max: THRESHOLD_MAX };
const BPS: IntRange = { min: 0, max: 10_000 };
const POSITIVE_BPS: IntRange = { min: 1, max: 10_000 };
/** A multiplier in percent (the birthday month's): 100 is no change, 0 earns nothing. */
const MULTIPLIER_PCT: IntRange = { min: 0, max: MULTIPLIER_PCT_MAX };
/**
 * A campaign's multiplier: a campaign adds to what a purchase earns, never takes from it (a
 * multiplier below 100 would also lose to the birthday month's and to every other campaign's).
 */
const CAMPAIGN_MULTIPLIER_PCT: IntRange = { min: 100, max: MULTIPLIER_PCT_MAX };
/** ISO days of the week: 1 = Monday … 7 = Sunday. */
const ISO_WEEKDAY: IntRange = { min: 1, max: 7 };
/** A count cap (`perMemberMax`, `totalMax`): at least one, or the template could never be issued. */
const CAP: IntRange = { min: 1, max: SAFE_INTEGER_MAX };
/** A rate's denominator: never zero, because every conversion divides by it. */
const RATE_DENOMINATOR: IntRange = { min: 1, max: RATE_PART_MAX };
/**
 * A rate's numerator: at least 1, because the core divides by each part somewhere (the quote
 * divides by `redeem.cents` to find how many points cover an amount). A tier that should earn
 * (almost) nothing takes a large `earn.cents` instead.
 */
const RATE_NUMERATOR: IntRange = { min: 1, max: RATE_PART_MAX };

const PROGRAM_KEYS = [
  'name', 'currency', 'timezone', 'qualifyBy', 'membershipDays', 'carryForward', 'downgrade', 'tiers',
  'orderPoints', 'growth', 'signupPoints', 'birthday', 'pointsExpiryDays', 'allowNegativePoints',
  'referral', 'wallet', 'products', 'defaultCountry', 'csvDayFirst', 'coupons', 'couponRules', 'campaigns',
  'pointsPendingDays', 'rewards', 'staffCommissionBps', 'notifyExpiringDays',
] as const;
const TIER_KEYS = [
  'id', 'name', 'threshold', 'earn', 'redeem', 'discountBps', 'retainThreshold', 'expressUpgradeCents',
  'upgradeBonusPoints', 'renewalBonusPoints',
] as const;
const REFERRAL_LEVEL_KEYS = ['registerPoints', 'firstPurchasePoints', 'repeatPurchasePoints', 'purchaseSharePct'] as const;
const PRODUCT_KEYS = ['id', 'name', 'priceCents', 'active', 'channels', 'eligibleTiers', 'includes'] as const;
const INCLUDE_KEYS = ['walletCents', 'points', 'tierId', 'forceTierId', 'extendDays', 'card'] as const;
const COUPON_KEYS = [
  'id', 'name', 'active', 'discount', 'minSpendCents', 'eligibleTiers', 'channels', 'validDays', 'validFrom', 'validTo',
  'perMemberMax', 'totalMax', 'restoreOnFullReturn',
] as const;
const DISCOUNT_KEYS = ['amountCents', 'percentBps', 'maxCents'] as const;
const COUPON_RULE_KEYS = ['id', 'trigger', 'templateId', 'minNetCents', 'tiers', 'channels'] as const;
const CAMPAIGN_KEYS = [
  'id', 'name', 'active', 'from', 'to', 'daysOfWeek', 'channels', 'storeIds', 'tiers', 'minNetCents',
  'pointsMultiplierPct', 'bonusPoints', 'itemPoints', 'couponTemplateId',
] as const;
const ITEM_POINTS_KEYS = ['sku', 'points'] as const;

/**
 * Validates the whole document. Every top-level field is required except `products`, `coupons`,
 * `couponRules` and `campaigns` (default []), `defaultCountry` (default null), `csvDayFirst`
 * (default true), `pointsPendingDays` (default 0) and `notifyExpiringDays` (default NOTIFY_EXPIRING_DAYS_DEFAULT). Inside, settings with an obvious neutral value may be left
 * out: a tier's `discountBps`, `upgradeBonusPoints` and `renewalBonusPoints` (0), `retainThreshold`
 * and `expressUpgradeCents` (null); `referral.refereePoints` (0) and `referral.levels` ([]);
 * `wallet.maxSpendCentsPerOrder` (null) and `wallet.topupBonuses` ([]); a product's `active`
 * (true), `channels` (both) and `eligibleTiers` (null); a coupon template's `active` and
 * `restoreOnFullReturn` (true), `minSpendCents` (0), `eligibleTiers`, `validDays`, `validFrom`,
 * `validTo`, `perMemberMax` and `totalMax` (null), `channels` (both), a percent discount's
 * `maxCents` (null); a coupon rule's `minNetCents` (0), `tiers` and `channels` (null); a campaign's
 * `active` (true), `from`, `to`, `daysOfWeek`, `channels`, `storeIds`, `tiers` and
 * `couponTemplateId` (null), `minNetCents` and `bonusPoints` (0), `pointsMultiplierPct` (100) and
 * `itemPoints` ([]); `rewards` ([]) and `staffCommissionBps` (0), a reward's defaults in
 * program-rewards.ts. Unknown fields are refused, so a misspelt
 * setting never falls back to its default silently.
 */
export function validateProgram(doc: unknown): ProgramValidation {
  const result = validate(() => readProgram(doc));
  if (result.ok) return { ok: true, program: result.value };
  return { ok: false, field: result.field, message: result.message };
}

function readProgram(doc: unknown): Program {
  const obj = readObject(doc, '', PROGRAM_KEYS);
  const name = stringField(obj, 'name', '');
  const currency = stringField(obj, 'currency', '', {
    pattern: CURRENCY_PATTERN,
    patternMessage: 'must be 3 uppercase letters (ISO 4217)',
  });
  const timezone = readTimezone(obj);
  const qualifyBy = enumField(obj, 'qualifyBy', '', ['spend', 'growth'] as const);
  const membershipDays = nullableInt(obj, 'membershipDays', '', DAYS);
  const carryForward = enumField(obj, 'carryForward', '', ['excess', 'all', 'none'] as const);
  const downgrade = enumField(obj, 'downgrade', '', ['qualify', 'one'] as const);
  const tiers = readTiers(arrayField(obj, 'tiers', '', { min: 1, max: TIERS_MAX }));
  const orderPoints = intField(obj, 'orderPoints', '', POINTS);
  const growthObj = objectField(obj, 'growth', '', ['points', 'growth']);
  const growth = {
    points: intField(growthObj, 'points', 'growth', RATE_DENOMINATOR),
    growth: intField(growthObj, 'growth', 'growth', RATE_NUMERATOR),
  };
  const signupPoints = intField(obj, 'signupPoints', '', POINTS);
  const birthdayObj = objectField(obj, 'birthday', '', ['bonusPoints', 'multiplierPct']);
  const birthday = {
    bonusPoints: has(birthdayObj, 'bonusPoints') ? intField(birthdayObj, 'bonusPoints', 'birthday', POINTS) : 0,
    multiplierPct: has(birthdayObj, 'multiplierPct')
      ? intField(birthdayObj, 'multiplierPct', 'birthday', MULTIPLIER_PCT)
      : 100,
  };
  const pointsExpiryDays = nullableInt(obj, 'pointsExpiryDays', '', DAYS);
  const allowNegativePoints = boolField(obj, 'allowNegativePoints', '');
  const referral = readReferral(objectField(obj, 'referral', '', ['enabled', 'refereePoints', 'levels']));
  const wallet = readWallet(objectField(obj, 'wallet', '', ['minTopupCents', 'maxSpendCentsPerOrder', 'topupBonuses']));
  const tierIds = new Set(tiers.map((tier) => tier.id));
  const products = has(obj, 'products')
    ? readProducts(arrayField(obj, 'products', '', { min: 0, max: PRODUCTS_MAX }), tierIds)
    : [];
  const defaultCountry = has(obj, 'defaultCountry') ? readDefaultCountry(obj['defaultCountry']) : null;
  const csvDayFirst = has(obj, 'csvDayFirst') ? boolField(obj, 'csvDayFirst', '') : true;
  const coupons = has(obj, 'coupons')
    ? readCoupons(arrayField(obj, 'coupons', '', { min: 0, max: COUPON_TEMPLATES_MAX }), tierIds)
    : [];
  const couponRules = has(obj, 'couponRules')
    ? readCouponRules(arrayField(obj, 'couponRules', '', { min: 0, max: COUPON_RULES_MAX }), tierIds, new Set(coupons.map((c) => c.id)),
      new Set(coupons.filter((c) => c.totalMax !== null).map((c) => c.id)))
    : [];
  const campaigns = has(obj, 'campaigns')
    ? readCampaigns(arrayField(obj, 'campaigns', '', { min: 0, max: CAMPAIGNS_MAX }), tierIds, new Set(coupons.map((c) => c.id)))
    : [];
  const pointsPendingDays = has(obj, 'pointsPendingDays')
    ? intField(obj, 'pointsPendingDays', '', { min: 0, max: POINTS_PENDING_DAYS_MAX })
    : 0;
  const rewards = has(obj, 'rewards')
    ? readRewards(arrayField(obj, 'rewards', '', { min: 0, max: REWARDS_MAX }), tierIds, new Set(coupons.map((c) => c.id)))
    : [];
  const staffCommissionBps = readStaffCommission(obj);
  const notifyExpiringDays = has(obj, 'notifyExpiringDays')
    ? intField(obj, 'notifyExpiringDays', '', { min: 0, max: NOTIFY_EXPIRING_DAYS_MAX })
    : NOTIFY_EXPIRING_DAYS_DEFAULT;
  return {
    name, currency, timezone, qualifyBy, membershipDays, carryForward, downgrade, tiers, orderPoints, growth,
    signupPoints, birthday, pointsExpiryDays, allowNegativePoints, referral, wallet, products, defaultCountry,
    csvDayFirst, coupons, couponRules, campaigns, pointsPendingDays, rewards, staffCommissionBps, notifyExpiringDays,
  };
}

/** The country that completes phones written without a country code: null, or an ISO 3166 alpha-2 code the phone metadata knows. */
function readDefaultCountry(value: unknown): string | null {
  if (value === null) return null;
  if (!isPhoneCountry(value)) throw new FieldError('defaultCountry', 'must be null or an ISO 3166 country code of 2 uppercase letters, such as "HK"');
  return value;
}

/**
 * A stored program with the fields added after it may have been stored, at the values a program
 * that leaves them out gets: programs are kept as validated when they were set.
 */
export function withProgramDefaults(program: Program): Program {
  const stored = program as Partial<Program>;
  if (
    stored.defaultCountry !== undefined && stored.csvDayFirst !== undefined && stored.coupons !== undefined &&
    stored.couponRules !== undefined && stored.campaigns !== undefined && stored.pointsPendingDays !== undefined &&
    stored.rewards !== undefined && stored.staffCommissionBps !== undefined && stored.notifyExpiringDays !== undefined
  ) {
    return program;
  }
  return {
    ...program,
    defaultCountry: stored.defaultCountry ?? null,
    csvDayFirst: stored.csvDayFirst ?? true,
    coupons: stored.coupons ?? [],
    couponRules: stored.couponRules ?? [],
    campaigns: stored.campaigns ?? [],
    pointsPendingDays: stored.pointsPendingDays ?? 0,
    rewards: stored.rewards ?? [],
    staffCommissionBps: stored.staffCommissionBps ?? 0,
    notifyExpiringDays: stored.notifyExpiringDays ?? NOTIFY_EXPIRING_DAYS_DEFAULT,
  };
}

/** Accepts any zone the runtime's ICU knows and stores its canonical spelling. */
function readTimezone(obj: Fields): string {
  const given = stringField(obj, 'timezone', '', { maxLength: 64 });
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: given }).resolvedOptions().timeZone;
  } catch {
    throw new FieldError('timezone', 'must be an IANA time zone such as "Asia/Hong_Kong"');
  }
}

function readTiers(items: unknown[]): Tier[] {
  const tiers: Tier[] = [];
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const path = indexPath('tiers', index);
    const tier = readTier(item, path);
    if (seen.has(tier.id)) throw new FieldError(fieldPath(path, 'id'), 'duplicate tier id');
    seen.add(tier.id);
    if (index === 0 && tier.threshold !== 0) {
      throw new FieldError(fieldPath(path, 'threshold'), 'the first tier\'s threshold must be 0');
    }
    const previous = tiers[index - 1];
    if (previous !== undefined && tier.threshold <= previous.threshold) {
      throw new FieldError(fieldPath(path, 'threshold'), 'thresholds must be strictly ascending');
    }
    tiers.push(tier);
  });
  return tiers;
}

function readTier(item: unknown, path: string): Tier {
  const obj = readObject(item, path, TIER_KEYS);
  const id = idField(obj, 'id', path);
  const name = stringField(obj, 'name', path);
  const threshold = intField(obj, 'threshold', path, THRESHOLD);
  const earnPath = fieldPath(path, 'earn');
  const earnObj = objectField(obj, 'earn', path, ['cents', 'points']);
  const earn = {
    cents: intField(earnObj, 'cents', earnPath, RATE_DENOMINATOR),
    points: intField(earnObj, 'points', earnPath, RATE_NUMERATOR),
  };
  const redeemPath = fieldPath(path, 'redeem');
  const redeemObj = objectField(obj, 'redeem', path, ['points', 'cents']);
  const redeem = {
    points: intField(redeemObj, 'points', redeemPath, RATE_DENOMINATOR),
    cents: intField(redeemObj, 'cents', redeemPath, RATE_NUMERATOR),
  };
  return {
    id,
    name,
    threshold,
    earn,
    redeem,
    discountBps: has(obj, 'discountBps') ? intField(obj, 'discountBps', path, BPS) : 0,
    retainThreshold: has(obj, 'retainThreshold') ? nullableInt(obj, 'retainThreshold', path, THRESHOLD) : null,
    expressUpgradeCents: has(obj, 'expressUpgradeCents')
      ? nullableInt(obj, 'expressUpgradeCents', path, POSITIVE_CENTS)
      : null,
    upgradeBonusPoints: has(obj, 'upgradeBonusPoints') ? intField(obj, 'upgradeBonusPoints', path, POINTS) : 0,
    renewalBonusPoints: has(obj, 'renewalBonusPoints') ? intField(obj, 'renewalBonusPoints', path, POINTS) : 0,
  };
}

function readReferral(obj: Fields): Program['referral'] {
  const enabled = boolField(obj, 'enabled', 'referral');
  const refereePoints = has(obj, 'refereePoints') ? intField(obj, 'refereePoints', 'referral', POINTS) : 0;
  const items = has(obj, 'levels') ? arrayField(obj, 'levels', 'referral', { min: 0, max: REFERRAL_LEVELS_MAX }) : [];
  const levels = items.map((item, index): ReferralLevel => {
    const path = indexPath('referral.levels', index);
    const level = readObject(item, path, REFERRAL_LEVEL_KEYS);
    return {
      registerPoints: intField(level, 'registerPoints', path, POINTS),
      firstPurchasePoints: intField(level, 'firstPurchasePoints', path, POINTS),
      repeatPurchasePoints: intField(level, 'repeatPurchasePoints', path, POINTS),
      purchaseSharePct: intField(level, 'purchaseSharePct', path, { min: 0, max: 100 }),
    };
  });
  return { enabled, refereePoints, levels };
}

function readWallet(obj: Fields): Program['wallet'] {
  const minTopupCents = intField(obj, 'minTopupCents', 'wallet', POSITIVE_CENTS);
  const maxSpendCentsPerOrder = has(obj, 'maxSpendCentsPerOrder')
    ? nullableInt(obj, 'maxSpendCentsPerOrder', 'wallet', CENTS)
    : null;
  const items = has(obj, 'topupBonuses')
    ? arrayField(obj, 'topupBonuses', 'wallet', { min: 0, max: TOPUP_BONUSES_MAX })
    : [];
  const seen = new Set<number>();
  const topupBonuses = items.map((item, index) => {
    const path = indexPath('wallet.topupBonuses', index);
    const step = readObject(item, path, ['minCents', 'bonusCents']);
    const minCents = intField(step, 'minCents', path, POSITIVE_CENTS);
    if (seen.has(minCents)) throw new FieldError(fieldPath(path, 'minCents'), 'duplicate top-up bonus step');
    seen.add(minCents);
    return { minCents, bonusCents: intField(step, 'bonusCents', path, CENTS) };
  });
  // Stored ascending so that the engine can pick the largest step reached with one scan.
  topupBonuses.sort((a, b) => a.minCents - b.minCents);
  return { minTopupCents, maxSpendCentsPerOrder, topupBonuses };
}

function readProducts(items: unknown[], tierIds: ReadonlySet<string>): Product[] {
  const seen = new Set<string>();
  const products = items.map((item, index) => {
    const path = indexPath('products', index);
    const product = readProduct(item, path, tierIds);
    if (seen.has(product.id)) throw new FieldError(fieldPath(path, 'id'), 'duplicate product id');
    seen.add(product.id);
    return product;
  });
  checkServiceNames(products);
  return products;
}

function readProduct(item: unknown, path: string, tierIds: ReadonlySet<string>): Product {
  const obj = readObject(item, path, PRODUCT_KEYS);
  const id = idField(obj, 'id', path);
  const name = stringField(obj, 'name', path, { maxLength: TEXT_LENGTH_MAX });
  const priceCents = intField(obj, 'priceCents', path, CENTS);
  const active = has(obj, 'active') ? boolField(obj, 'active', path) : true;
  const channels = has(obj, 'channels') ? readChannels(obj, path) : [...CHANNELS];
  const eligibleTiers = has(obj, 'eligibleTiers') ? readTierList(obj, 'eligibleTiers', path, tierIds) : null;
  const includes = readIncludes(objectField(obj, 'includes', path, INCLUDE_KEYS), fieldPath(path, 'includes'), tierIds);
  return { id, name, priceCents, active, channels, eligibleTiers, includes };
}

function readChannels(obj: Fields, path: string): Channel[] {
  const field = fieldPath(path, 'channels');
  const items = arrayField(obj, 'channels', path, { min: 1, max: CHANNELS.length });
  const channels: Channel[] = [];
  items.forEach((item, index) => {
    const channel = checkEnum(item, indexPath(field, index), CHANNELS);
    if (channels.includes(channel)) throw new FieldError(indexPath(field, index), 'duplicate channel');
    channels.push(channel);
  });
  return channels;
}

/** A list of tier ids of this program under `key` (a product's or coupon's `eligibleTiers`, a coupon rule's `tiers`), or null. */
export function readTierList(obj: Fields, key: string, path: string, tierIds: ReadonlySet<string>): string[] | null {
  const field = fieldPath(path, key);
  const value = obj[key];
  if (value === null) return null;
  // An empty list would leave nobody eligible; an inactive product, or no coupon rule, says that more plainly.
  const items = readArray(value, field, { min: 1, max: TIERS_MAX });
  const tiers: string[] = [];
  items.forEach((item, index) => {
    const tierId = checkId(item, indexPath(field, index));
    if (!tierIds.has(tierId)) throw new FieldError(indexPath(field, index), 'unknown tier id');
    if (tiers.includes(tierId)) throw new FieldError(indexPath(field, index), 'duplicate tier id');
    tiers.push(tierId);
  });
  return tiers;
}

function readIncludes(obj: Fields, path: string, tierIds: ReadonlySet<string>): ProductIncludes {
  const includes: ProductIncludes = {};
  if (has(obj, 'walletCents')) includes.walletCents = intField(obj, 'walletCents', path, POSITIVE_CENTS);
  if (has(obj, 'points')) includes.points = intField(obj, 'points', path, POSITIVE_POINTS);
  if (has(obj, 'tierId')) includes.tierId = readTierRef(obj, 'tierId', path, tierIds);
  if (has(obj, 'forceTierId')) {
    if (includes.tierId !== undefined) {
      throw new FieldError(fieldPath(path, 'forceTierId'), 'tierId and forceTierId cannot both be set');
    }
    includes.forceTierId = readTierRef(obj, 'forceTierId', path, tierIds);
  }
  if (has(obj, 'extendDays')) includes.extendDays = intField(obj, 'extendDays', path, DAYS);
  if (has(obj, 'card')) includes.card = readCardInclude(obj, path);
  if (Object.keys(includes).length === 0) {
    throw new FieldError(path, 'must include at least one of walletCents, points, tierId, forceTierId, extendDays, card');
  }
  return includes;
}

function readTierRef(obj: Fields, key: string, path: string, tierIds: ReadonlySet<string>): string {
  const tierId = idField(obj, key, path);
  if (!tierIds.has(tierId)) throw new FieldError(fieldPath(path, key), 'unknown tier id');
  return tierId;
}

function readCoupons(items: unknown[], tierIds: ReadonlySet<string>): CouponTemplate[] {
  const seen = new Set<string>();
  return items.map((item, index) => {
    const path = indexPath('coupons', index);
    const coupon = readCoupon(item, path, tierIds);
    if (seen.has(coupon.id)) throw new FieldError(fieldPath(path, 'id'), 'duplicate coupon id');
    seen.add(coupon.id);
    return coupon;
  });
}

function readCoupon(item: unknown, path: string, tierIds: ReadonlySet<string>): CouponTemplate {
  const obj = readObject(item, path, COUPON_KEYS);
  const id = idField(obj, 'id', path);
  const name = stringField(obj, 'name', path, { maxLength: TEXT_LENGTH_MAX });
  const active = has(obj, 'active') ? boolField(obj, 'active', path) : true;
  const discount = readDiscount(objectField(obj, 'discount', path, DISCOUNT_KEYS), fieldPath(path, 'discount'));
  const minSpendCents = has(obj, 'minSpendCents') ? intField(obj, 'minSpendCents', path, CENTS) : 0;
  const eligibleTiers = has(obj, 'eligibleTiers') ? readTierList(obj, 'eligibleTiers', path, tierIds) : null;
  const channels = has(obj, 'channels') ? readChannels(obj, path) : [...CHANNELS];
  const validity = readValidity(obj, path);
  const perMemberMax = has(obj, 'perMemberMax') ? nullableInt(obj, 'perMemberMax', path, CAP) : null;
  const totalMax = has(obj, 'totalMax') ? nullableInt(obj, 'totalMax', path, CAP) : null;
  const restoreOnFullReturn = has(obj, 'restoreOnFullReturn') ? boolField(obj, 'restoreOnFullReturn', path) : true;
  return {
    id, name, active, discount, minSpendCents, eligibleTiers, channels, ...validity, perMemberMax, totalMax,
    restoreOnFullReturn,
  };
}

/** Exactly one kind of discount: `{ amountCents }`, or `{ percentBps, maxCents? }`. */
function readDiscount(obj: Fields, path: string): CouponDiscount {
  if (has(obj, 'amountCents')) {
    if (has(obj, 'percentBps')) throw new FieldError(fieldPath(path, 'percentBps'), 'amountCents and percentBps cannot both be set');
    if (has(obj, 'maxCents')) throw new FieldError(fieldPath(path, 'maxCents'), 'only a percentBps discount has a cap');
    return { amountCents: intField(obj, 'amountCents', path, POSITIVE_CENTS) };
  }
  if (!has(obj, 'percentBps')) throw new FieldError(path, 'must have amountCents or percentBps');
  const percentBps = intField(obj, 'percentBps', path, POSITIVE_BPS);
  const maxCents = has(obj, 'maxCents') ? nullableInt(obj, 'maxCents', path, POSITIVE_CENTS) : null;
  return { percentBps, maxCents };
}

/** `validDays` from the issue, or a fixed window of local dates `validFrom`..`validTo`: one of the two. */
function readValidity(obj: Fields, path: string): Pick<CouponTemplate, 'validDays' | 'validFrom' | 'validTo'> {
  const validDays = has(obj, 'validDays') ? nullableInt(obj, 'validDays', path, DAYS) : null;
  const validFrom = readWindowDate(obj, 'validFrom', path);
  const validTo = readWindowDate(obj, 'validTo', path);
  if (validDays !== null) {
    if (validFrom !== null) throw new FieldError(fieldPath(path, 'validFrom'), 'validDays and a fixed window cannot both be set');
    if (validTo !== null) throw new FieldError(fieldPath(path, 'validTo'), 'validDays and a fixed window cannot both be set');
    return { validDays, validFrom, validTo };
  }
  if (validFrom === null) throw new FieldError(fieldPath(path, 'validFrom'), 'required when validDays is null');
  if (validTo === null) throw new FieldError(fieldPath(path, 'validTo'), 'required when validDays is null');
  // Dates YYYY-MM-DD compare as text.
  if (validTo < validFrom) throw new FieldError(fieldPath(path, 'validTo'), 'must not be before validFrom');
  return { validDays, validFrom, validTo };
}

export function readWindowDate(obj: Fields, key: string, path: string): string | null {
  if (!has(obj, key) || obj[key] === null) return null;
  const date = checkDate(obj[key], fieldPath(path, key));
  if (date < WINDOW_FIRST_DATE) throw new FieldError(fieldPath(path, key), `must not be before ${WINDOW_FIRST_DATE}`);
  return date;
}

function readCouponRules(items: unknown[], tierIds: ReadonlySet<string>, templateIds: ReadonlySet<string>, cappedIds: ReadonlySet<string>): CouponRule[] {
  const seen = new Set<string>();
  return items.map((item, index) => {
    const path = indexPath('couponRules', index);
    const rule = readCouponRule(item, path, tierIds, templateIds);
    // A birthday comes to every member, found by the sweep or by the member's next op in any order:
    // a capped gift would go to whichever birthdays were reached first, so it is refused.
    if (rule.trigger === 'birthday' && cappedIds.has(rule.templateId)) {
      throw new FieldError(fieldPath(path, 'templateId'), 'a birthday rule\'s template may not have a totalMax');
    }
    if (seen.has(rule.id)) throw new FieldError(fieldPath(path, 'id'), 'duplicate coupon rule id');
    seen.add(rule.id);
    return rule;
  });
}

function readCouponRule(item: unknown, path: string, tierIds: ReadonlySet<string>, templateIds: ReadonlySet<string>): CouponRule {
  const obj = readObject(item, path, COUPON_RULE_KEYS);
  const id = idField(obj, 'id', path);
  const trigger = enumField(obj, 'trigger', path, COUPON_TRIGGERS);
  const templateId = idField(obj, 'templateId', path);
  if (!templateIds.has(templateId)) throw new FieldError(fieldPath(path, 'templateId'), 'unknown coupon template id');
  const minNetCents = has(obj, 'minNetCents') ? intField(obj, 'minNetCents', path, CENTS) : 0;
  // Only a purchase has a net; a threshold on any other trigger would be silently ignored.
  if (minNetCents !== 0 && trigger !== 'purchase') throw new FieldError(fieldPath(path, 'minNetCents'), 'only a purchase rule has a net to reach');
  const tiers = has(obj, 'tiers') ? readTierList(obj, 'tiers', path, tierIds) : null;
  const channels = has(obj, 'channels') && obj['channels'] !== null ? readChannels(obj, path) : null;
  // The birthday gift comes from the sweep, which has no channel: such a rule could never fire.
  if (channels !== null && trigger === 'birthday') throw new FieldError(fieldPath(path, 'channels'), 'a birthday rule has no channel: must be null');
  return { id, trigger, templateId, minNetCents, tiers, channels };
}

function readCampaigns(items: unknown[], tierIds: ReadonlySet<string>, templateIds: ReadonlySet<string>): Campaign[] {
  const seen = new Set<string>();
  return items.map((item, index) => {
    const path = indexPath('campaigns', index);
    const campaign = readCampaign(item, path, tierIds, templateIds);
    if (seen.has(campaign.id)) throw new FieldError(fieldPath(path, 'id'), 'duplicate campaign id');
    seen.add(campaign.id);
    return campaign;
  });
}

function readCampaign(item: unknown, path: string, tierIds: ReadonlySet<string>, templateIds: ReadonlySet<string>): Campaign {
  const obj = readObject(item, path, CAMPAIGN_KEYS);
  const id = idField(obj, 'id', path);
  const name = stringField(obj, 'name', path, { maxLength: TEXT_LENGTH_MAX });
  const active = has(obj, 'active') ? boolField(obj, 'active', path) : true;
  const from = readWindowDate(obj, 'from', path);
  const to = readWindowDate(obj, 'to', path);
  // Dates YYYY-MM-DD compare as text.
  if (from !== null && to !== null && to < from) throw new FieldError(fieldPath(path, 'to'), 'must not be before from');
  const daysOfWeek = has(obj, 'daysOfWeek') ? readDaysOfWeek(obj, path) : null;
  const channels = has(obj, 'channels') && obj['channels'] !== null ? readChannels(obj, path) : null;
  const storeIds = has(obj, 'storeIds') ? readStoreIds(obj, path) : null;
  const tiers = has(obj, 'tiers') ? readTierList(obj, 'tiers', path, tierIds) : null;
  const minNetCents = has(obj, 'minNetCents') ? intField(obj, 'minNetCents', path, CENTS) : 0;
  const pointsMultiplierPct = has(obj, 'pointsMultiplierPct') ? intField(obj, 'pointsMultiplierPct', path, CAMPAIGN_MULTIPLIER_PCT) : 100;
  const bonusPoints = has(obj, 'bonusPoints') ? intField(obj, 'bonusPoints', path, POINTS) : 0;
  const itemPoints = has(obj, 'itemPoints') ? readItemPoints(obj, path) : [];
  let couponTemplateId: string | null = null;
  if (has(obj, 'couponTemplateId') && obj['couponTemplateId'] !== null) {
    // Like a purchase rule's: a template with a totalMax is allowed, and a purchase past the cap
    // keeps the campaign's points and skips the coupon (docs/rules.md §13.3).
    couponTemplateId = idField(obj, 'couponTemplateId', path);
    if (!templateIds.has(couponTemplateId)) throw new FieldError(fieldPath(path, 'couponTemplateId'), 'unknown coupon template id');
  }
  return {
    id, name, active, from, to, daysOfWeek, channels, storeIds, tiers, minNetCents, pointsMultiplierPct, bonusPoints,
    itemPoints, couponTemplateId,
  };
}

/** ISO days of the week, or null for every day; an empty list would never apply, so it is refused. */
function readDaysOfWeek(obj: Fields, path: string): number[] | null {
  if (obj['daysOfWeek'] === null) return null;
  const field = fieldPath(path, 'daysOfWeek');
  const items = readArray(obj['daysOfWeek'], field, { min: 1, max: 7 });
  const days: number[] = [];
  items.forEach((item, index) => {
    const day = checkInt(item, indexPath(field, index), ISO_WEEKDAY);
    if (days.includes(day)) throw new FieldError(indexPath(field, index), 'duplicate day');
    days.push(day);
  });
  return days;
}

/** Store ids, or null for every store (and purchases that name none); an empty list is refused like daysOfWeek. */
function readStoreIds(obj: Fields, path: string): string[] | null {
  if (obj['storeIds'] === null) return null;
  const field = fieldPath(path, 'storeIds');
  const items = readArray(obj['storeIds'], field, { min: 1, max: CAMPAIGN_STORES_MAX });
  const seen = new Set<string>();
  return items.map((item, index) => {
    const storeId = checkId(item, indexPath(field, index));
    if (seen.has(storeId)) throw new FieldError(indexPath(field, index), 'duplicate store id');
    seen.add(storeId);
    return storeId;
  });
}

function readItemPoints(obj: Fields, path: string): ItemPoints[] {
  const field = fieldPath(path, 'itemPoints');
  const items = readArray(obj['itemPoints'], field, { min: 0, max: CAMPAIGN_ITEM_POINTS_MAX });
  const seen = new Set<string>();
  return items.map((item, index) => {
    const itemPath = indexPath(field, index);
    const entry = readObject(item, itemPath, ITEM_POINTS_KEYS);
    const sku = idField(entry, 'sku', itemPath);
    if (seen.has(sku)) throw new FieldError(fieldPath(itemPath, 'sku'), 'duplicate sku');
    seen.add(sku);
    return { sku, points: intField(entry, 'points', itemPath, POSITIVE_POINTS) };
  });
}

/** The program of a fresh install: docs/program.md, reference programs, example 1 (spend tiers with an express upgrade to Gold). */
export function demoProgram(): Program {
  const tier = (id: string, name: string, threshold: number): Tier => ({
    id,
    name,
    threshold,
    earn: { cents: 2000, points: 1 },
    redeem: { points: 10, cents: 100 },
    discountBps: 0,
    retainThreshold: null,
    expressUpgradeCents: null,
    upgradeBonusPoints: 0,
    renewalBonusPoints: 0,
  });
  return {
    name: 'Demo Store',
    currency: 'HKD',
    timezone: 'Asia/Hong_Kong',
    qualifyBy: 'spend',
    membershipDays: 365,
    carryForward: 'excess',
    downgrade: 'qualify',
    tiers: [
      tier('member', 'Member', 0),
      { ...tier('silver', 'Silver', 100_000), discountBps: 500 },
      {
        ...tier('gold', 'Gold', 1_000_000),
        earn: { cents: 1000, points: 1 },
        redeem: { points: 5, cents: 100 },
        discountBps: 1000,
        expressUpgradeCents: 500_000,
      },
    ],
    orderPoints: 0,
    growth: { points: 1, growth: 1 },
    signupPoints: 0,
    birthday: { bonusPoints: 0, multiplierPct: 100 },
    pointsExpiryDays: null,
    allowNegativePoints: true,
    referral: { enabled: false, refereePoints: 0, levels: [] },
    wallet: { minTopupCents: 100, maxSpendCentsPerOrder: null, topupBonuses: [{ minCents: 100_000, bonusCents: 10_000 }] },
    products: [
      {
        id: 'wallet-500',
        name: 'HK$550 of wallet credit for HK$500',
        priceCents: 50_000,
        active: true,
        channels: ['online', 'offline'],
        eligibleTiers: null,
        includes: { walletCents: 55_000 },
      },
      {
        id: 'silver-upgrade',
        name: 'Silver membership upgrade',
        priceCents: 20_000,
        active: true,
        channels: ['online'],
        eligibleTiers: ['member'],
        includes: { tierId: 'silver' },
      },
    ],
    defaultCountry: 'HK',
    csvDayFirst: true,
    coupons: [],
    couponRules: [],
    campaigns: [],
    pointsPendingDays: 0,
    rewards: [],
    staffCommissionBps: 0,
    notifyExpiringDays: NOTIFY_EXPIRING_DAYS_DEFAULT,
  };
}
