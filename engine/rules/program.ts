// Validates a whole loyalty program document (docs/program.md) into a normalised Program,
// or names the first wrong field; also builds the demo program a fresh install starts with.

import {
  AMOUNT_CENTS_MAX,
  DAYS_MAX,
  POINTS_OP_MAX,
  PRODUCTS_MAX,
  RATE_PART_MAX,
  REFERRAL_LEVELS_MAX,
  THRESHOLD_MAX,
  TEXT_LENGTH_MAX,
} from '../limits.js';
import type { Product, ProductIncludes, Program, ReferralLevel, Tier } from './program-types.js';
import { isPhoneCountry } from './phone.js';
import {
  FieldError,
  type Fields,
  type IntRange,
  arrayField,
  boolField,
  checkEnum,
  checkId,
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

const POINTS: IntRange = { min: 0, max: POINTS_OP_MAX };
const POSITIVE_POINTS: IntRange = { min: 1, max: POINTS_OP_MAX };
const CENTS: IntRange = { min: 0, max: AMOUNT_CENTS_MAX };
const POSITIVE_CENTS: IntRange = { min: 1, max: AMOUNT_CENTS_MAX };
const DAYS: IntRange = { min: 1, max: DAYS_MAX };
const THRESHOLD: IntRange = { min: 0, max: THRESHOLD_MAX };
const BPS: IntRange = { min: 0, max: 10_000 };
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
  'referral', 'wallet', 'products', 'defaultCountry', 'csvDayFirst',
] as const;
const TIER_KEYS = [
  'id', 'name', 'threshold', 'earn', 'redeem', 'discountBps', 'retainThreshold', 'expressUpgradeCents',
  'upgradeBonusPoints', 'renewalBonusPoints',
] as const;
const REFERRAL_LEVEL_KEYS = ['registerPoints', 'firstPurchasePoints', 'repeatPurchasePoints', 'purchaseSharePct'] as const;
const PRODUCT_KEYS = ['id', 'name', 'priceCents', 'active', 'channels', 'eligibleTiers', 'includes'] as const;
const INCLUDE_KEYS = ['walletCents', 'points', 'tierId', 'forceTierId', 'extendDays'] as const;

/**
 * Validates the whole document. Every top-level field is required except `products` (default []),
 * `defaultCountry` (default null) and `csvDayFirst` (default true). Inside, settings with an obvious neutral value may be left
 * out: a tier's `discountBps`, `upgradeBonusPoints` and `renewalBonusPoints` (0), `retainThreshold`
 * and `expressUpgradeCents` (null); `referral.refereePoints` (0) and `referral.levels` ([]);
 * `wallet.maxSpendCentsPerOrder` (null) and `wallet.topupBonuses` ([]); a product's `active`
 * (true), `channels` (both) and `eligibleTiers` (null). Unknown fields are refused, so a misspelt
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
      ? intField(birthdayObj, 'multiplierPct', 'birthday', { min: 0, max: 10_000 })
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
  return {
    name, currency, timezone, qualifyBy, membershipDays, carryForward, downgrade, tiers, orderPoints, growth,
    signupPoints, birthday, pointsExpiryDays, allowNegativePoints, referral, wallet, products, defaultCountry,
    csvDayFirst,
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
  if (stored.defaultCountry !== undefined && stored.csvDayFirst !== undefined) return program;
  return { ...program, defaultCountry: stored.defaultCountry ?? null, csvDayFirst: stored.csvDayFirst ?? true };
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
  return items.map((item, index) => {
    const path = indexPath('products', index);
    const product = readProduct(item, path, tierIds);
    if (seen.has(product.id)) throw new FieldError(fieldPath(path, 'id'), 'duplicate product id');
    seen.add(product.id);
    return product;
  });
}

function readProduct(item: unknown, path: string, tierIds: ReadonlySet<string>): Product {
  const obj = readObject(item, path, PRODUCT_KEYS);
  const id = idField(obj, 'id', path);
  const name = stringField(obj, 'name', path, { maxLength: TEXT_LENGTH_MAX });
  const priceCents = intField(obj, 'priceCents', path, CENTS);
  const active = has(obj, 'active') ? boolField(obj, 'active', path) : true;
  const channels = has(obj, 'channels') ? readChannels(obj, path) : [...CHANNELS];
  const eligibleTiers = has(obj, 'eligibleTiers') ? readEligibleTiers(obj, path, tierIds) : null;
  const includes = readIncludes(objectField(obj, 'includes', path, INCLUDE_KEYS), fieldPath(path, 'includes'), tierIds);
  return { id, name, priceCents, active, channels, eligibleTiers, includes };
}

function readChannels(obj: Fields, path: string): Product['channels'] {
  const field = fieldPath(path, 'channels');
  const items = arrayField(obj, 'channels', path, { min: 1, max: CHANNELS.length });
  const channels: Product['channels'] = [];
  items.forEach((item, index) => {
    const channel = checkEnum(item, indexPath(field, index), CHANNELS);
    if (channels.includes(channel)) throw new FieldError(indexPath(field, index), 'duplicate channel');
    channels.push(channel);
  });
  return channels;
}

function readEligibleTiers(obj: Fields, path: string, tierIds: ReadonlySet<string>): string[] | null {
  const field = fieldPath(path, 'eligibleTiers');
  const value = obj['eligibleTiers'];
  if (value === null) return null;
  // An empty list would make the product unbuyable; `active: false` says that more plainly.
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
  if (Object.keys(includes).length === 0) {
    throw new FieldError(path, 'must include at least one of walletCents, points, tierId, forceTierId, extendDays');
  }
  return includes;
}

function readTierRef(obj: Fields, key: string, path: string, tierIds: ReadonlySet<string>): string {
  const tierId = idField(obj, key, path);
  if (!tierIds.has(tierId)) throw new FieldError(fieldPath(path, key), 'unknown tier id');
  return tierId;
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
  };
}
