// Unit tests of the pure coupon rules (docs/rules.md §12) and of the coupon part of the program
// validator: exact discounts, every refusal reason, validity in local dates, issue caps, which
// rules fire, the code format, and the field path of every coupon setting the validator refuses.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COUPON_CODE_BYTES, type CouponOrder, type CouponState, couponCodeBytes, couponCodeFromBytes, couponDiscountCents,
  couponRefusal, couponValidity, firingCouponRules, isCouponCode, issueRefusal, normalizeCouponCode, orderCouponDiscounts,
} from '../../engine/rules/coupons.js';
import { demoProgram, validateProgram, withProgramDefaults } from '../../engine/rules/program.js';
import type { CouponTemplate, Program } from '../../engine/rules/program-types.js';

type Doc = Record<string, any>;

const HK = 'Asia/Hong_Kong';
const at = (iso: string) => Date.parse(iso);

/** The welcome coupon of the docs' example, as the validator stores it. */
const welcome: CouponTemplate = {
  id: 'welcome10', name: 'HK$10 off your next visit', active: true, discount: { amountCents: 1000 },
  minSpendCents: 0, eligibleTiers: null, channels: ['online', 'offline'], validDays: 30, validFrom: null,
  validTo: null, perMemberMax: null, totalMax: null, restoreOnFullReturn: true,
};

const coupon = (over: Partial<CouponState> = {}): CouponState => ({
  code: '7K3M9QX2HD4P', templateId: 'welcome10', memberId: 'ann', state: 'active',
  issuedAtMs: at('2026-03-01T02:00:00Z'), validFromMs: at('2026-03-01T02:00:00Z'), expiresAtMs: at('2026-03-31T16:00:00Z'),
  ...over,
});

const order = (over: Partial<CouponOrder> = {}): CouponOrder => ({
  memberId: 'ann', tierId: 'member', channel: 'offline', baseCents: 20_000, atMs: at('2026-03-10T04:00:00Z'), ...over,
});

describe('couponDiscountCents', () => {
  it('takes amountCents off, never more than what is left of the order', () => {
    expect(couponDiscountCents({ amountCents: 1000 }, 20_000, 20_000)).toBe(1000);
    expect(couponDiscountCents({ amountCents: 1000 }, 600, 600)).toBe(600);
    expect(couponDiscountCents({ amountCents: 1000 }, 0, 0)).toBe(0);
  });

  it('takes a percentage of amountCents − discountCents, rounded down, capped at maxCents', () => {
    // HK$1,000 with a 20% tier discount: base HK$800; 10% of it is HK$80, capped at HK$50.
    expect(couponDiscountCents({ percentBps: 1000, maxCents: 5000 }, 80_000, 80_000)).toBe(5000);
    expect(couponDiscountCents({ percentBps: 1000, maxCents: 5000 }, 12_300, 12_300)).toBe(1230);
    expect(couponDiscountCents({ percentBps: 1000, maxCents: null }, 80_000, 80_000)).toBe(8000);
    expect(couponDiscountCents({ percentBps: 1250, maxCents: null }, 12_345, 12_345)).toBe(1543);
    expect(couponDiscountCents({ percentBps: 10_000, maxCents: null }, 12_345, 12_345)).toBe(12_345);
  });

  it('is exact where base × percentBps passes 2^53', () => {
    expect(couponDiscountCents({ percentBps: 9999, maxCents: null }, 999_999_999_999, 999_999_999_999)).toBe(999_899_999_999);
  });

  it('applies an order\'s coupons in the order given, each on the same base, within what the earlier ones left', () => {
    expect(orderCouponDiscounts([{ amountCents: 5000 }, { percentBps: 5000, maxCents: null }], 8000)).toEqual([5000, 3000]);
    expect(orderCouponDiscounts([{ percentBps: 5000, maxCents: null }, { amountCents: 5000 }], 8000)).toEqual([4000, 4000]);
    expect(orderCouponDiscounts([{ amountCents: 9000 }, { amountCents: 1000 }], 8000)).toEqual([8000, 0]);
  });

  it('is never negative and never more than the remainder; an order\'s total never passes its base (property)', () => {
    const discount = fc.oneof(
      fc.record({ amountCents: fc.integer({ min: 1, max: 1e12 }) }),
      fc.record({ percentBps: fc.integer({ min: 1, max: 10_000 }), maxCents: fc.option(fc.integer({ min: 1, max: 1e12 })) }),
    );
    fc.assert(fc.property(discount, fc.integer({ min: 0, max: 1e12 }), fc.nat(), (d, baseCents, seed) => {
      const leftCents = baseCents === 0 ? 0 : seed % (baseCents + 1);
      const cents = couponDiscountCents(d, baseCents, leftCents);
      return Number.isSafeInteger(cents) && cents >= 0 && cents <= leftCents;
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.array(discount, { maxLength: 5 }), fc.integer({ min: 0, max: 1e12 }), (ds, baseCents) => {
      const each = orderCouponDiscounts(ds, baseCents);
      return each.every((c) => c >= 0) && each.reduce((a, b) => a + b, 0) <= baseCents;
    }), { numRuns: 500 });
  });
});

describe('couponRefusal', () => {
  const none = new Set<string>();

  it('accepts an active coupon of the member inside its window', () => {
    expect(couponRefusal(coupon(), welcome, order(), none)).toBe(null);
  });

  it('names each reason', () => {
    expect(couponRefusal(coupon(), welcome, order({ memberId: 'bob' }), none)).toBe('other_member');
    expect(couponRefusal(coupon({ state: 'used' }), welcome, order(), none)).toBe('used');
    expect(couponRefusal(coupon({ state: 'revoked' }), welcome, order(), none)).toBe('revoked');
    expect(couponRefusal(coupon({ state: 'expired' }), welcome, order(), none)).toBe('expired');
    expect(couponRefusal(coupon({ validFromMs: at('2026-03-20T16:00:00Z') }), welcome, order(), none)).toBe('not_yet_valid');
    expect(couponRefusal(coupon(), undefined, order(), none)).toBe('template_removed');
    expect(couponRefusal(coupon(), welcome, order(), new Set(['welcome10']))).toBe('template_repeated');
    expect(couponRefusal(coupon(), { ...welcome, eligibleTiers: ['silver', 'gold'] }, order(), none)).toBe('tier');
    expect(couponRefusal(coupon(), { ...welcome, channels: ['online'] }, order(), none)).toBe('channel');
    expect(couponRefusal(coupon(), { ...welcome, minSpendCents: 20_001 }, order(), none)).toBe('min_spend');
  });

  it('is expired from its expiry instant on, even before the sweep marks it', () => {
    const c = coupon();
    expect(couponRefusal(c, welcome, order({ atMs: c.expiresAtMs - 1 }), none)).toBe(null);
    expect(couponRefusal(c, welcome, order({ atMs: c.expiresAtMs }), none)).toBe('expired');
  });

  it('checks the minimum spend on amountCents − discountCents, inclusive', () => {
    const t = { ...welcome, minSpendCents: 50_000 };
    // HK$600 with HK$120 tier discount: base HK$480, below HK$500.
    expect(couponRefusal(coupon(), t, order({ baseCents: 60_000 - 12_000 }), none)).toBe('min_spend');
    expect(couponRefusal(coupon(), t, order({ baseCents: 50_000 }), none)).toBe(null);
  });

  it('lets a coupon of an inactive template be used: active stops new issues only', () => {
    expect(couponRefusal(coupon(), { ...welcome, active: false }, order(), none)).toBe(null);
  });

  it('reports the first failing check: owner before state before time before template', () => {
    expect(couponRefusal(coupon({ state: 'used' }), undefined, order({ memberId: 'bob' }), none)).toBe('other_member');
    expect(couponRefusal(coupon({ state: 'used' }), undefined, order({ atMs: at('2027-01-01T00:00:00Z') }), none)).toBe('used');
    expect(couponRefusal(coupon(), { ...welcome, channels: ['online'], minSpendCents: 1e9 }, order(), none)).toBe('channel');
  });
});

describe('couponValidity', () => {
  it('runs validDays from the issue to the end of the local day validDays later (Hong Kong, UTC+8, no DST)', () => {
    // 2 March 04:00 in Hong Kong: valid through 1 April, until midnight 2 April local.
    expect(couponValidity(welcome, at('2026-03-01T20:00:00Z'), HK)).toEqual({
      validFromMs: at('2026-03-01T20:00:00Z'), expiresAtMs: at('2026-04-01T16:00:00Z'),
    });
  });

  it('follows the local date across the UTC day boundary', () => {
    // One second apart, on two local dates (1 and 2 March in Hong Kong), though the same UTC date.
    expect(couponValidity(welcome, at('2026-03-01T15:59:59Z'), HK).expiresAtMs).toBe(at('2026-03-31T16:00:00Z'));
    expect(couponValidity(welcome, at('2026-03-01T16:00:00Z'), HK).expiresAtMs).toBe(at('2026-04-01T16:00:00Z'));
    // The same instants in UTC are both on 1 March.
    expect(couponValidity(welcome, at('2026-03-01T15:59:59Z'), 'UTC').expiresAtMs).toBe(at('2026-04-01T00:00:00Z'));
    expect(couponValidity(welcome, at('2026-03-01T23:59:59Z'), 'UTC').expiresAtMs).toBe(at('2026-04-01T00:00:00Z'));
  });

  it('counts 29 February in a leap year and crosses a year end', () => {
    const oneDay = { validDays: 1, validFrom: null, validTo: null };
    expect(couponValidity(oneDay, at('2028-02-28T10:00:00Z'), 'UTC').expiresAtMs).toBe(at('2028-03-01T00:00:00Z'));
    expect(couponValidity(oneDay, at('2026-12-31T10:00:00Z'), HK).expiresAtMs).toBe(at('2027-01-01T16:00:00Z'));
  });

  it('makes a fixed window inclusive of its last local day, starting no earlier than the issue', () => {
    const december = { validDays: null, validFrom: '2026-12-01', validTo: '2026-12-31' };
    expect(couponValidity(december, at('2026-10-01T00:00:00Z'), HK)).toEqual({
      validFromMs: at('2026-11-30T16:00:00Z'), expiresAtMs: at('2026-12-31T16:00:00Z'),
    });
    expect(couponValidity(december, at('2026-12-15T08:00:00Z'), HK)).toEqual({
      validFromMs: at('2026-12-15T08:00:00Z'), expiresAtMs: at('2026-12-31T16:00:00Z'),
    });
    const oneDay = { validDays: null, validFrom: '2026-06-01', validTo: '2026-06-01' };
    expect(couponValidity(oneDay, at('2026-01-01T00:00:00Z'), 'UTC')).toEqual({
      validFromMs: at('2026-06-01T00:00:00Z'), expiresAtMs: at('2026-06-02T00:00:00Z'),
    });
  });

  it('gives a coupon issued before its window not_yet_valid until the window\'s first local midnight', () => {
    const t: CouponTemplate = { ...welcome, validDays: null, validFrom: '2026-12-01', validTo: '2026-12-31' };
    const v = couponValidity(t, at('2026-10-01T00:00:00Z'), HK);
    const c = coupon({ ...v, templateId: t.id });
    expect(couponRefusal(c, t, order({ atMs: at('2026-11-30T15:59:59Z') }), new Set())).toBe('not_yet_valid');
    expect(couponRefusal(c, t, order({ atMs: at('2026-11-30T16:00:00Z') }), new Set())).toBe(null);
    expect(couponRefusal(c, t, order({ atMs: at('2026-12-31T15:59:59Z') }), new Set())).toBe(null);
    expect(couponRefusal(c, t, order({ atMs: at('2026-12-31T16:00:00Z') }), new Set())).toBe('expired');
  });
});

describe('issueRefusal', () => {
  const none = { toMember: 0, total: 0 };

  it('refuses an inactive template, a window over, and each cap once reached', () => {
    expect(issueRefusal(welcome, at('2026-03-01T00:00:00Z'), HK, none)).toBe(null);
    expect(issueRefusal({ ...welcome, active: false }, at('2026-03-01T00:00:00Z'), HK, none)).toBe('template_inactive');
    const window = { ...welcome, validDays: null, validFrom: '2026-12-01', validTo: '2026-12-31' };
    expect(issueRefusal(window, at('2026-12-31T15:59:59Z'), HK, none)).toBe(null);
    expect(issueRefusal(window, at('2026-12-31T16:00:00Z'), HK, none)).toBe('window_over');
    const capped = { ...welcome, perMemberMax: 1, totalMax: 100 };
    expect(issueRefusal(capped, 0, HK, { toMember: 0, total: 99 })).toBe(null);
    expect(issueRefusal(capped, 0, HK, { toMember: 1, total: 0 })).toBe('member_limit');
    expect(issueRefusal(capped, 0, HK, { toMember: 0, total: 100 })).toBe('total_limit');
  });
});

describe('firingCouponRules', () => {
  const program: Program = {
    ...demoProgram(),
    coupons: [welcome],
    couponRules: [
      { id: 'welcome', trigger: 'register', templateId: 'welcome10', minNetCents: 0, tiers: null, channels: null },
      { id: 'big-order', trigger: 'purchase', templateId: 'welcome10', minNetCents: 50_000, tiers: null, channels: ['offline'] },
      { id: 'gold', trigger: 'upgrade', templateId: 'welcome10', minNetCents: 0, tiers: ['gold'], channels: null },
      { id: 'birthday', trigger: 'birthday', templateId: 'welcome10', minNetCents: 0, tiers: null, channels: null },
    ],
  };
  const ids = (rules: Array<{ id: string }>) => rules.map((r) => r.id);

  it('matches trigger, tier, channel and a purchase\'s net', () => {
    expect(ids(firingCouponRules(program, { trigger: 'register', tierId: 'member', channel: 'online', netCents: 0 }))).toEqual(['welcome']);
    expect(ids(firingCouponRules(program, { trigger: 'purchase', tierId: 'member', channel: 'offline', netCents: 50_000 }))).toEqual(['big-order']);
    expect(ids(firingCouponRules(program, { trigger: 'purchase', tierId: 'member', channel: 'offline', netCents: 49_999 }))).toEqual([]);
    expect(ids(firingCouponRules(program, { trigger: 'purchase', tierId: 'member', channel: 'online', netCents: 90_000 }))).toEqual([]);
    expect(ids(firingCouponRules(program, { trigger: 'upgrade', tierId: 'silver', channel: 'offline', netCents: 0 }))).toEqual([]);
    expect(ids(firingCouponRules(program, { trigger: 'upgrade', tierId: 'gold', channel: 'offline', netCents: 0 }))).toEqual(['gold']);
    expect(ids(firingCouponRules(program, { trigger: 'birthday', tierId: 'silver', channel: null, netCents: 0 }))).toEqual(['birthday']);
  });

  it('does not fire a rule with channels for an event without one', () => {
    expect(firingCouponRules(program, { trigger: 'purchase', tierId: 'member', channel: null, netCents: 90_000 })).toEqual([]);
  });
});

describe('coupon codes', () => {
  it('are 12 characters of Crockford base32 without I, L, O, U', () => {
    expect(isCouponCode('7K3M9QX2HD4P')).toBe(true);
    expect(isCouponCode('0123456789AB')).toBe(true);
    for (const bad of ['7K3M9QX2HD4', '7K3M9QX2HD4PQ', '7K3M9QX2HD4I', '7K3M9QX2HD4L', '7K3M9QX2HD4O', '7K3M9QX2HD4U', '7k3m9qx2hd4p', 12, null]) {
      expect(isCouponCode(bad)).toBe(false);
    }
  });

  it('read what a person typed: lower case, hyphens, O as 0, I and L as 1', () => {
    expect(normalizeCouponCode('7k3m-9qx2-hd4p')).toBe('7K3M9QX2HD4P');
    expect(normalizeCouponCode('O1IL 0000 0000')).toBe('011100000000');
    expect(normalizeCouponCode('7K3M9QX2HD4U')).toBe(null);
    expect(normalizeCouponCode('7K3M9QX2')).toBe(null);
  });

  it('take the first 60 bits of their bytes, most significant first', () => {
    expect(couponCodeFromBytes(new Uint8Array(8))).toBe('000000000000');
    expect(couponCodeFromBytes(new Uint8Array(8).fill(0xff))).toBe('ZZZZZZZZZZZZ');
    // 0x08 = 00001|000 …: the first group is 1, the rest 0; the last 4 bits never show.
    expect(couponCodeFromBytes(Uint8Array.of(0x08, 0, 0, 0, 0, 0, 0, 0x0f))).toBe('100000000000');
    expect(couponCodeFromBytes(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x10))).toBe('000000000001');
    expect(() => couponCodeFromBytes(new Uint8Array(7))).toThrow(/8 random bytes/);
  });

  it('round-trip: any 8 bytes give a code that decodes to their first 60 bits (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: COUPON_CODE_BYTES, maxLength: 16 }), (bytes) => {
      const code = couponCodeFromBytes(bytes);
      const back = couponCodeBytes(code);
      const expected = bytes.slice(0, COUPON_CODE_BYTES);
      expected[7] = expected[7]! & 0xf0;
      return isCouponCode(code) && Buffer.from(back).equals(Buffer.from(expected)) && couponCodeFromBytes(back) === code;
    }), { numRuns: 2000 });
  });
});

/** The demo program with SPEC-style coupons: a welcome coupon, a percent coupon with a window, and rules. */
function withCoupons(): Doc {
  const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
  doc.coupons = [
    { id: 'welcome10', name: 'HK$10 off your next visit', discount: { amountCents: 1000 }, validDays: 30 },
    {
      id: 'xmas', name: '10% off in December', discount: { percentBps: 1000, maxCents: 5000 }, minSpendCents: 20_000,
      eligibleTiers: ['silver', 'gold'], channels: ['offline'], validFrom: '2026-12-01', validTo: '2026-12-31',
      perMemberMax: 1, totalMax: 500, restoreOnFullReturn: false, active: true,
    },
  ];
  doc.couponRules = [
    { id: 'welcome', trigger: 'register', templateId: 'welcome10' },
    { id: 'big-order', trigger: 'purchase', templateId: 'xmas', minNetCents: 100_000, tiers: ['gold'], channels: ['offline'] },
  ];
  return doc;
}

function refusal(doc: unknown): string {
  const result = validateProgram(doc);
  if (result.ok) throw new Error('expected a refusal, but the document was accepted');
  return `${result.field}: ${result.message}`;
}

describe('validateProgram: coupons', () => {
  it('accepts templates and rules, filling every default', () => {
    const result = validateProgram(withCoupons());
    if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
    expect(result.program.coupons[0]).toEqual({ ...welcome });
    expect(result.program.coupons[1]).toMatchObject({ discount: { percentBps: 1000, maxCents: 5000 }, validDays: null, perMemberMax: 1 });
    expect(result.program.couponRules).toEqual([
      { id: 'welcome', trigger: 'register', templateId: 'welcome10', minNetCents: 0, tiers: null, channels: null },
      { id: 'big-order', trigger: 'purchase', templateId: 'xmas', minNetCents: 100_000, tiers: ['gold'], channels: ['offline'] },
    ]);
    const percent = withCoupons();
    delete percent.coupons[1].maxCents;
    percent.coupons[1].discount = { percentBps: 500 };
    const noCap = validateProgram(percent);
    expect(noCap.ok && noCap.program.coupons[1]!.discount).toEqual({ percentBps: 500, maxCents: null });
  });

  it('reads a program without coupons as empty lists, and a stored one from before them too', () => {
    const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
    delete doc.coupons;
    delete doc.couponRules;
    const result = validateProgram(doc);
    expect(result.ok && [result.program.coupons, result.program.couponRules]).toEqual([[], []]);
    const { coupons: _c, couponRules: _r, ...before } = demoProgram();
    expect(withProgramDefaults(before as Program)).toEqual(demoProgram());
  });

  const invalid: Array<[string, (d: Doc) => void, string]> = [
    ['coupons not an array', (d) => { d.coupons = {}; }, 'coupons: must be an array'],
    ['unknown template field', (d) => { d.coupons[0].colour = 'red'; }, 'coupons[0].colour: unknown field'],
    ['missing name', (d) => { delete d.coupons[0].name; }, 'coupons[0].name: required'],
    ['unsafe id', (d) => { d.coupons[0].id = 'wel come'; }, 'coupons[0].id: must be 1-64 characters of [A-Za-z0-9._:-]'],
    ['duplicate id', (d) => { d.coupons[1].id = 'welcome10'; }, 'coupons[1].id: duplicate coupon id'],
    ['no discount', (d) => { delete d.coupons[0].discount; }, 'coupons[0].discount: required'],
    ['empty discount', (d) => { d.coupons[0].discount = {}; }, 'coupons[0].discount: must have amountCents or percentBps'],
    ['both kinds', (d) => { d.coupons[0].discount.percentBps = 1000; }, 'coupons[0].discount.percentBps: amountCents and percentBps cannot both be set'],
    ['cap on an amount', (d) => { d.coupons[0].discount.maxCents = 1; }, 'coupons[0].discount.maxCents: only a percentBps discount has a cap'],
    ['amount zero', (d) => { d.coupons[0].discount.amountCents = 0; }, 'coupons[0].discount.amountCents: must be between 1 and 1000000000000'],
    ['amount unsafe', (d) => { d.coupons[0].discount.amountCents = 2 ** 53; }, 'coupons[0].discount.amountCents: must be a safe integer'],
    ['percent past 10,000 bps', (d) => { d.coupons[1].discount.percentBps = 10_001; }, 'coupons[1].discount.percentBps: must be between 1 and 10000'],
    ['percent fractional', (d) => { d.coupons[1].discount.percentBps = 10.5; }, 'coupons[1].discount.percentBps: must be an integer'],
    ['cap zero', (d) => { d.coupons[1].discount.maxCents = 0; }, 'coupons[1].discount.maxCents: must be between 1 and 1000000000000'],
    ['negative min spend', (d) => { d.coupons[0].minSpendCents = -1; }, 'coupons[0].minSpendCents: must be between 0 and 1000000000000'],
    ['unknown eligible tier', (d) => { d.coupons[1].eligibleTiers = ['silver', 'platinum']; }, 'coupons[1].eligibleTiers[1]: unknown tier id'],
    ['empty eligible tiers', (d) => { d.coupons[1].eligibleTiers = []; }, 'coupons[1].eligibleTiers: must have between 1 and 10 items'],
    ['unknown channel', (d) => { d.coupons[1].channels = ['phone']; }, 'coupons[1].channels[0]: must be one of "online", "offline"'],
    ['repeated channel', (d) => { d.coupons[1].channels = ['offline', 'offline']; }, 'coupons[1].channels[1]: duplicate channel'],
    ['validDays zero', (d) => { d.coupons[0].validDays = 0; }, 'coupons[0].validDays: must be between 1 and 36500'],
    ['validDays with a window', (d) => { d.coupons[0].validFrom = '2026-12-01'; }, 'coupons[0].validFrom: validDays and a fixed window cannot both be set'],
    ['validDays with an end', (d) => { d.coupons[0].validTo = '2026-12-01'; }, 'coupons[0].validTo: validDays and a fixed window cannot both be set'],
    ['neither', (d) => { delete d.coupons[0].validDays; }, 'coupons[0].validFrom: required when validDays is null'],
    ['window without an end', (d) => { d.coupons[1].validTo = null; }, 'coupons[1].validTo: required when validDays is null'],
    ['window backwards', (d) => { d.coupons[1].validFrom = '2027-01-01'; }, 'coupons[1].validTo: must not be before validFrom'],
    ['window date that does not exist', (d) => { d.coupons[1].validTo = '2026-02-30'; }, 'coupons[1].validTo: is not a date the calendar has (2026-02-30)'],
    ['window date with a time', (d) => { d.coupons[1].validFrom = '2026-12-01T00:00:00Z'; }, 'coupons[1].validFrom: must be a date YYYY-MM-DD'],
    ['window before 2000', (d) => { d.coupons[1].validFrom = '0099-12-01'; }, 'coupons[1].validFrom: must not be before 2000-01-01'],
    ['perMemberMax zero', (d) => { d.coupons[1].perMemberMax = 0; }, 'coupons[1].perMemberMax: must be between 1 and 9007199254740991'],
    ['totalMax fractional', (d) => { d.coupons[1].totalMax = 1.5; }, 'coupons[1].totalMax: must be an integer'],
    ['restoreOnFullReturn a string', (d) => { d.coupons[1].restoreOnFullReturn = 'yes'; }, 'coupons[1].restoreOnFullReturn: must be true or false'],
    ['1,001 templates', (d) => { d.coupons = Array.from({ length: 1001 }, (_, i) => ({ id: `c${i}`, name: 'c', discount: { amountCents: 1 }, validDays: 1 })); d.couponRules = []; }, 'coupons: must have between 0 and 1000 items'],
    ['rules not an array', (d) => { d.couponRules = null; }, 'couponRules: must be an array'],
    ['rule without a trigger', (d) => { delete d.couponRules[0].trigger; }, 'couponRules[0].trigger: required'],
    ['unknown trigger', (d) => { d.couponRules[0].trigger = 'login'; }, 'couponRules[0].trigger: must be one of "register", "purchase", "upgrade", "birthday"'],
    ['unknown template', (d) => { d.couponRules[1].templateId = 'easter'; }, 'couponRules[1].templateId: unknown coupon template id'],
    ['duplicate rule id', (d) => { d.couponRules[1].id = 'welcome'; }, 'couponRules[1].id: duplicate coupon rule id'],
    ['net on a register rule', (d) => { d.couponRules[0].minNetCents = 100; }, 'couponRules[0].minNetCents: only a purchase rule has a net to reach'],
    ['negative net', (d) => { d.couponRules[1].minNetCents = -1; }, 'couponRules[1].minNetCents: must be between 0 and 1000000000000'],
    ['unknown rule tier', (d) => { d.couponRules[1].tiers = ['platinum']; }, 'couponRules[1].tiers[0]: unknown tier id'],
    ['unknown rule channel', (d) => { d.couponRules[1].channels = ['online', 'kiosk']; }, 'couponRules[1].channels[1]: must be one of "online", "offline"'],
    ['channel on a birthday rule', (d) => { d.couponRules[0].trigger = 'birthday'; d.couponRules[0].channels = ['offline']; }, 'couponRules[0].channels: a birthday rule has no channel: must be null'],
    ['101 rules', (d) => { d.couponRules = Array.from({ length: 101 }, (_, i) => ({ id: `r${i}`, trigger: 'register', templateId: 'welcome10' })); }, 'couponRules: must have between 0 and 100 items'],
  ];

  it.each(invalid)('refuses %s', (_name, mutate, expected) => {
    const doc = withCoupons();
    mutate(doc);
    expect(refusal(doc)).toBe(expected);
  });
});
