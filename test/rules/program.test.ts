// Unit tests of the program validator: the demo program passes, every rule names the exact wrong field,
// and the accepted document comes back normalised.

import { describe, expect, it } from 'vitest';
import { demoProgram, validateProgram } from '../../engine/rules/program.js';
import { FieldError, ROOT_FIELD, idField, isId, isSafeInt, readObject, validate } from '../../engine/rules/validate.js';

type Doc = Record<string, any>;

/** A fresh, mutable JSON copy of the demo program. */
function base(): Doc {
  return JSON.parse(JSON.stringify(demoProgram())) as Doc;
}

function tier(id: string, threshold: number): Doc {
  return { id, name: id, threshold, earn: { cents: 100, points: 1 }, redeem: { points: 1, cents: 1 } };
}

function expectField(doc: unknown, field: string): string {
  const result = validateProgram(doc);
  if (result.ok) throw new Error(`expected ${field} to be refused, but the document was accepted`);
  expect(result.field).toBe(field);
  expect(result.message.length).toBeGreaterThan(0);
  return result.message;
}

describe('demoProgram', () => {
  it('passes its own validator unchanged', () => {
    const demo = demoProgram();
    const result = validateProgram(demo);
    expect(result).toEqual({ ok: true, program: demo });
  });

  it('survives a JSON round trip', () => {
    expect(validateProgram(JSON.parse(JSON.stringify(demoProgram())))).toEqual({ ok: true, program: demoProgram() });
  });
});

const invalid: Array<[string, (doc: Doc) => unknown, string]> = [
  ['document is not an object', () => [], ROOT_FIELD],
  ['document is null', () => null, ROOT_FIELD],
  ['missing name', (d) => { delete d.name; return d; }, 'name'],
  ['empty name', (d) => { d.name = ''; return d; }, 'name'],
  ['unknown top-level key', (d) => { d.colour = 'red'; return d; }, 'colour'],
  ['__proto__ key via JSON.parse', (d) => JSON.parse(JSON.stringify(d).replace('{', '{"__proto__":{"x":1},')), '__proto__'],
  ['constructor key in a tier', (d) => { d.tiers[1].constructor = 1; return d; }, 'tiers[1].constructor'],
  ['nested __proto__ via JSON.parse', (d) => {
    const text = JSON.stringify(d).replace('"earn":{', '"earn":{"__proto__":{"cents":1},');
    return JSON.parse(text);
  }, 'tiers[0].earn.__proto__'],
  ['lower-case currency', (d) => { d.currency = 'hkd'; return d; }, 'currency'],
  ['four-letter currency', (d) => { d.currency = 'HKDX'; return d; }, 'currency'],
  ['unknown timezone', (d) => { d.timezone = 'Mars/Olympus_Mons'; return d; }, 'timezone'],
  ['missing timezone', (d) => { delete d.timezone; return d; }, 'timezone'],
  ['bad qualifyBy', (d) => { d.qualifyBy = 'visits'; return d; }, 'qualifyBy'],
  ['membershipDays zero', (d) => { d.membershipDays = 0; return d; }, 'membershipDays'],
  ['membershipDays past DAYS_MAX', (d) => { d.membershipDays = 36_501; return d; }, 'membershipDays'],
  ['membershipDays missing', (d) => { delete d.membershipDays; return d; }, 'membershipDays'],
  ['bad carryForward', (d) => { d.carryForward = 'some'; return d; }, 'carryForward'],
  ['bad downgrade', (d) => { d.downgrade = 'two'; return d; }, 'downgrade'],
  ['no tiers', (d) => { d.tiers = []; return d; }, 'tiers'],
  ['tiers not an array', (d) => { d.tiers = {}; return d; }, 'tiers'],
  ['11 tiers', (d) => { d.tiers = Array.from({ length: 11 }, (_, i) => tier(`t${i}`, i * 10)); return d; }, 'tiers'],
  ['first threshold not 0', (d) => { d.tiers[0].threshold = 1; return d; }, 'tiers[0].threshold'],
  ['equal thresholds', (d) => { d.tiers[2].threshold = d.tiers[1].threshold; return d; }, 'tiers[2].threshold'],
  ['descending thresholds', (d) => { d.tiers[1].threshold = 2_000_000; return d; }, 'tiers[2].threshold'],
  ['duplicate tier id', (d) => { d.tiers[2].id = 'member'; return d; }, 'tiers[2].id'],
  ['tier id with a space', (d) => { d.tiers[1].id = 'sil ver'; return d; }, 'tiers[1].id'],
  ['tier id of 65 characters', (d) => { d.tiers[1].id = 'x'.repeat(65); return d; }, 'tiers[1].id'],
  ['tier without a name', (d) => { delete d.tiers[1].name; return d; }, 'tiers[1].name'],
  ['unsafe threshold 2**53', (d) => { d.tiers[1].threshold = 2 ** 53; return d; }, 'tiers[1].threshold'],
  ['threshold past THRESHOLD_MAX', (d) => { d.tiers[2].threshold = 1e15 + 1; return d; }, 'tiers[2].threshold'],
  ['fractional earn cents', (d) => { d.tiers[1].earn.cents = 20.5; return d; }, 'tiers[1].earn.cents'],
  ['earn cents zero (division by zero)', (d) => { d.tiers[0].earn.cents = 0; return d; }, 'tiers[0].earn.cents'],
  ['earn points past RATE_PART_MAX', (d) => { d.tiers[0].earn.points = 1_000_001; return d; }, 'tiers[0].earn.points'],
  ['earn points zero', (d) => { d.tiers[0].earn.points = 0; return d; }, 'tiers[0].earn.points'],
  ['redeem cents zero', (d) => { d.tiers[1].redeem.cents = 0; return d; }, 'tiers[1].redeem.cents'],
  ['string for a number', (d) => { d.tiers[1].redeem.points = '10'; return d; }, 'tiers[1].redeem.points'],
  ['unknown key in redeem', (d) => { d.tiers[1].redeem.rate = 1; return d; }, 'tiers[1].redeem.rate'],
  ['discountBps past 10000', (d) => { d.tiers[2].discountBps = 10_001; return d; }, 'tiers[2].discountBps'],
  ['negative retainThreshold', (d) => { d.tiers[1].retainThreshold = -1; return d; }, 'tiers[1].retainThreshold'],
  ['expressUpgradeCents zero', (d) => { d.tiers[2].expressUpgradeCents = 0; return d; }, 'tiers[2].expressUpgradeCents'],
  ['negative upgradeBonusPoints', (d) => { d.tiers[1].upgradeBonusPoints = -5; return d; }, 'tiers[1].upgradeBonusPoints'],
  ['orderPoints past POINTS_OP_MAX', (d) => { d.orderPoints = 1e12 + 1; return d; }, 'orderPoints'],
  ['orderPoints NaN-like string', (d) => { d.orderPoints = 'NaN'; return d; }, 'orderPoints'],
  ['growth points zero', (d) => { d.growth.points = 0; return d; }, 'growth.points'],
  ['growth missing', (d) => { delete d.growth; return d; }, 'growth'],
  ['signupPoints negative', (d) => { d.signupPoints = -1; return d; }, 'signupPoints'],
  ['birthday multiplierPct past 10000', (d) => { d.birthday.multiplierPct = 10_001; return d; }, 'birthday.multiplierPct'],
  ['birthday bonusPoints negative', (d) => { d.birthday.bonusPoints = -1; return d; }, 'birthday.bonusPoints'],
  ['pointsExpiryDays zero', (d) => { d.pointsExpiryDays = 0; return d; }, 'pointsExpiryDays'],
  ['allowNegativePoints as a string', (d) => { d.allowNegativePoints = 'true'; return d; }, 'allowNegativePoints'],
  ['referral.enabled missing', (d) => { delete d.referral.enabled; return d; }, 'referral.enabled'],
  ['four referral levels', (d) => {
    const level = { registerPoints: 0, firstPurchasePoints: 0, repeatPurchasePoints: 0, purchaseSharePct: 0 };
    d.referral.levels = [level, level, level, level];
    return d;
  }, 'referral.levels'],
  ['referral purchaseSharePct past 100', (d) => {
    d.referral.levels = [{ registerPoints: 0, firstPurchasePoints: 0, repeatPurchasePoints: 0, purchaseSharePct: 101 }];
    return d;
  }, 'referral.levels[0].purchaseSharePct'],
  ['referral level missing a field', (d) => {
    d.referral.levels = [{ registerPoints: 0, firstPurchasePoints: 0, purchaseSharePct: 0 }];
    return d;
  }, 'referral.levels[0].repeatPurchasePoints'],
  ['minTopupCents zero', (d) => { d.wallet.minTopupCents = 0; return d; }, 'wallet.minTopupCents'],
  ['maxSpendCentsPerOrder negative', (d) => { d.wallet.maxSpendCentsPerOrder = -1; return d; }, 'wallet.maxSpendCentsPerOrder'],
  ['duplicate top-up step', (d) => {
    d.wallet.topupBonuses = [{ minCents: 500, bonusCents: 1 }, { minCents: 100, bonusCents: 1 }, { minCents: 500, bonusCents: 2 }];
    return d;
  }, 'wallet.topupBonuses[2].minCents'],
  ['17 top-up steps', (d) => {
    d.wallet.topupBonuses = Array.from({ length: 17 }, (_, i) => ({ minCents: (i + 1) * 100, bonusCents: i }));
    return d;
  }, 'wallet.topupBonuses'],
  ['top-up step with unsafe bonus', (d) => { d.wallet.topupBonuses[0].bonusCents = 2 ** 53 + 2; return d; }, 'wallet.topupBonuses[0].bonusCents'],
  ['products not an array', (d) => { d.products = null; return d; }, 'products'],
  ['duplicate product id', (d) => { d.products[1].id = d.products[0].id; return d; }, 'products[1].id'],
  ['product id invalid', (d) => { d.products[0].id = 'wallet/500'; return d; }, 'products[0].id'],
  ['negative product price', (d) => { d.products[0].priceCents = -1; return d; }, 'products[0].priceCents'],
  ['product active as a number', (d) => { d.products[0].active = 1; return d; }, 'products[0].active'],
  ['empty channels', (d) => { d.products[0].channels = []; return d; }, 'products[0].channels'],
  ['unknown channel', (d) => { d.products[0].channels = ['online', 'phone']; return d; }, 'products[0].channels[1]'],
  ['duplicate channel', (d) => { d.products[1].channels = ['online', 'online']; return d; }, 'products[1].channels[1]'],
  ['unknown tier in eligibleTiers', (d) => { d.products[0].eligibleTiers = ['member', 'platinum']; return d; }, 'products[0].eligibleTiers[1]'],
  ['empty eligibleTiers', (d) => { d.products[0].eligibleTiers = []; return d; }, 'products[0].eligibleTiers'],
  ['no includes', (d) => { d.products[0].includes = {}; return d; }, 'products[0].includes'],
  ['includes missing', (d) => { delete d.products[0].includes; return d; }, 'products[0].includes'],
  ['both tierId and forceTierId', (d) => { d.products[1].includes.forceTierId = 'gold'; return d; }, 'products[1].includes.forceTierId'],
  ['unknown include tier', (d) => { d.products[1].includes.tierId = 'platinum'; return d; }, 'products[1].includes.tierId'],
  ['unknown forceTierId', (d) => { d.products[0].includes.forceTierId = 'platinum'; return d; }, 'products[0].includes.forceTierId'],
  ['extendDays zero', (d) => { d.products[0].includes.extendDays = 0; return d; }, 'products[0].includes.extendDays'],
  ['unknown include', (d) => { d.products[0].includes.coupon = 'X'; return d; }, 'products[0].includes.coupon'],
  ['product missing name', (d) => { delete d.products[0].name; return d; }, 'products[0].name'],
  ['defaultCountry in lower case', (d) => { d.defaultCountry = 'hk'; return d; }, 'defaultCountry'],
  ['defaultCountry not a country', (d) => { d.defaultCountry = 'XX'; return d; }, 'defaultCountry'],
  ['defaultCountry as a calling code', (d) => { d.defaultCountry = '852'; return d; }, 'defaultCountry'],
  ['defaultCountry not a string', (d) => { d.defaultCountry = 852; return d; }, 'defaultCountry'],
  ['1001 products', (d) => {
    d.products = Array.from({ length: 1001 }, (_, i) => ({ id: `p${i}`, name: 'p', priceCents: 1, includes: { points: 1 } }));
    return d;
  }, 'products'],
];

describe('validateProgram refuses', () => {
  it.each(invalid)('%s', (_name, mutate, field) => {
    expectField(mutate(base()), field);
  });

  it('with a message that says why', () => {
    const doc = base();
    doc.tiers[2].threshold = doc.tiers[1].threshold;
    expect(expectField(doc, 'tiers[2].threshold')).toBe('thresholds must be strictly ascending');
    const unknown = base();
    unknown.wallet.bonus = 1;
    expect(expectField(unknown, 'wallet.bonus')).toBe('unknown field');
    expect(expectField({ ...base(), orderPoints: 2 ** 53 }, 'orderPoints')).toBe('must be a safe integer');
    expect(expectField({ ...base(), orderPoints: 1.5 }, 'orderPoints')).toBe('must be an integer');
  });
});

describe('validateProgram normalises', () => {
  it('sorts top-up bonuses ascending by minCents', () => {
    const doc = base();
    doc.wallet.topupBonuses = [
      { minCents: 500_000, bonusCents: 80_000 },
      { minCents: 100_000, bonusCents: 10_000 },
      { minCents: 200_000, bonusCents: 25_000 },
    ];
    const result = validateProgram(doc);
    expect(result.ok && result.program.wallet.topupBonuses.map((s) => s.minCents)).toEqual([100_000, 200_000, 500_000]);
  });

  it('fills defaults: products [], tier and product settings, referral levels', () => {
    const doc = base();
    delete doc.products;
    doc.tiers = [{ id: 'member', name: 'Member', threshold: 0, earn: { cents: 100, points: 1 }, redeem: { points: 1, cents: 1 } }];
    doc.referral = { enabled: true };
    delete doc.wallet.topupBonuses;
    delete doc.wallet.maxSpendCentsPerOrder;
    const result = validateProgram(doc);
    if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
    expect(result.program.products).toEqual([]);
    expect(result.program.tiers[0]).toEqual({
      id: 'member', name: 'Member', threshold: 0, earn: { cents: 100, points: 1 }, redeem: { points: 1, cents: 1 },
      discountBps: 0, retainThreshold: null, expressUpgradeCents: null, upgradeBonusPoints: 0, renewalBonusPoints: 0,
    });
    expect(result.program.referral).toEqual({ enabled: true, refereePoints: 0, levels: [] });
    expect(result.program.wallet).toEqual({ minTopupCents: 100, maxSpendCentsPerOrder: null, topupBonuses: [] });

    const withProduct = base();
    withProduct.products = [{ id: 'pts', name: 'Points pack', priceCents: 0, includes: { points: 50 } }];
    const second = validateProgram(withProduct);
    if (!second.ok) throw new Error(`${second.field}: ${second.message}`);
    expect(second.program.products[0]).toEqual({
      id: 'pts', name: 'Points pack', priceCents: 0, active: true, channels: ['online', 'offline'], eligibleTiers: null,
      includes: { points: 50 },
    });
  });

  it('has no defaultCountry unless told (phones must then carry their country code); the demo has HK', () => {
    const doc = base();
    delete doc.defaultCountry;
    const result = validateProgram(doc);
    expect(result.ok && result.program.defaultCountry).toBe(null);
    expect(demoProgram().defaultCountry).toBe('HK');
    const gb = validateProgram({ ...base(), defaultCountry: 'GB' });
    expect(gb.ok && gb.program.defaultCountry).toBe('GB');
    expect(validateProgram({ ...base(), defaultCountry: null }).ok).toBe(true);
  });

  it('stores the canonical spelling of the time zone', () => {
    const result = validateProgram({ ...base(), timezone: 'asia/hong_kong' });
    expect(result.ok && result.program.timezone).toBe('Asia/Hong_Kong');
  });

  it('returns fresh objects, not the caller\'s', () => {
    const doc = base();
    const result = validateProgram(doc);
    if (!result.ok) throw new Error('demo refused');
    expect(result.program.tiers[0]).not.toBe(doc.tiers[0]);
    doc.tiers[0].name = 'changed';
    expect(result.program.tiers[0]!.name).toBe('Member');
  });

  it('accepts ten tiers, three referral levels and a forced tier', () => {
    const doc = base();
    doc.tiers = Array.from({ length: 10 }, (_, i) => tier(`t${i}`, i * 10));
    doc.products = [{ id: 'reset', name: 'Reset', priceCents: 0, channels: ['offline'], eligibleTiers: ['t9'], includes: { forceTierId: 't0', extendDays: 30 } }];
    const level = { registerPoints: 1, firstPurchasePoints: 2, repeatPurchasePoints: 3, purchaseSharePct: 100 };
    doc.referral = { enabled: true, refereePoints: 5, levels: [level, level, level] };
    expect(validateProgram(doc).ok).toBe(true);
  });
});

describe('validate helpers', () => {
  it('check ids and safe integers', () => {
    expect(isId('a.b:c-d_e')).toBe(true);
    expect(isId('')).toBe(false);
    expect(isId('x'.repeat(64))).toBe(true);
    expect(isId('x'.repeat(65))).toBe(false);
    expect(isId('é')).toBe(false);
    expect(isSafeInt(2 ** 53 - 1)).toBe(true);
    expect(isSafeInt(2 ** 53)).toBe(false);
    expect(isSafeInt(1.5)).toBe(false);
    expect(isSafeInt('1')).toBe(false);
  });

  it('turn a FieldError into a result and let other errors through', () => {
    expect(validate(() => idField({ memberId: 'm 1' }, 'memberId', 'body'))).toMatchObject({ ok: false, field: 'body.memberId' });
    expect(validate(() => readObject(JSON.parse('{"prototype":1}'), '', ['a']))).toMatchObject({ ok: false, field: 'prototype' });
    expect(() => validate(() => { throw new TypeError('bug'); })).toThrow(TypeError);
    expect(new FieldError('a', 'b')).toBeInstanceOf(Error);
  });
});
