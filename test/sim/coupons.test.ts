// The simulator's own coupon arithmetic (test/sim/coupons.ts) against the worked figures of
// docs/rules.md §12, so that a disagreement in a run points at the engine or at a rule the model
// misreads, not at its calendar or its BigInt arithmetic.
import { describe, expect, it } from 'vitest';
import { couponValidity, couponValue, endOfLocalDate, issueRefusal, normalizeCode, orderValues, usabilityRefusal, type SimCoupon } from './coupons.js';
import type { SimCouponTemplate } from './program.js';

const HK = 'Asia/Hong_Kong';
const at = (iso: string) => Date.parse(iso);

function template(over: Partial<SimCouponTemplate> = {}): SimCouponTemplate {
  return {
    id: 't', name: 'T', active: true, discount: { amountCents: 1_000 }, minSpendCents: 0, eligibleTiers: null, channels: ['online', 'offline'],
    validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax: null, restoreOnFullReturn: true, ...over,
  };
}

function coupon(over: Partial<SimCoupon> = {}): SimCoupon {
  return {
    code: 'ABCDEFGHJKMN', templateId: 't', memberId: 'm1', state: 'active', issuedAt: at('2026-03-01T00:00:00Z'),
    validFrom: at('2026-03-01T00:00:00Z'), expiresAt: at('2026-04-01T00:00:00Z'), source: 'admin', issuedByOrderId: null,
    usedOrderId: null, discountCents: 0, history: [], ...over,
  };
}

describe('the simulator\'s coupon rules', () => {
  it('dates validity as §12.2 does: validDays through a local day, windows of whole local days', () => {
    // Issued on 2 March at 04:00 in Hong Kong: valid through 1 April.
    expect(couponValidity(template(), at('2026-03-01T20:00:00Z'), HK)).toEqual({ validFrom: at('2026-03-01T20:00:00Z'), expiresAt: at('2026-04-01T16:00:00Z') });
    // A second before local midnight on 1 March: a day earlier.
    expect(couponValidity(template(), at('2026-03-01T15:59:59Z'), HK).expiresAt).toBe(at('2026-03-31T16:00:00Z'));
    const december = template({ validDays: null, validFrom: '2026-12-01', validTo: '2026-12-31' });
    expect(couponValidity(december, at('2026-10-01T00:00:00Z'), HK)).toEqual({ validFrom: at('2026-11-30T16:00:00Z'), expiresAt: at('2026-12-31T16:00:00Z') });
    expect(couponValidity(december, at('2026-12-10T00:00:00Z'), HK).validFrom).toBe(at('2026-12-10T00:00:00Z'));
    expect(endOfLocalDate('2026-12-31', HK)).toBe(at('2026-12-31T16:00:00Z'));
  });

  it('values coupons as §12.4 does, exactly past 2^53', () => {
    const tenPct = template({ discount: { percentBps: 1_000, maxCents: 5_000 } });
    expect(couponValue(tenPct, 80_000)).toBe(5_000);
    expect(couponValue(tenPct, 12_300)).toBe(1_230);
    expect(orderValues([template({ discount: { amountCents: 5_000 } }), template({ discount: { percentBps: 5_000, maxCents: null } })], 8_000)).toEqual([5_000, 3_000]);
    expect(orderValues([template({ discount: { amountCents: 9_000 } })], 8_000)).toEqual([8_000]);
    // 999,999,999,999 × 9,999 passes 2^53: floor(9,998,999,999,990,001 / 10,000).
    expect(couponValue(template({ discount: { percentBps: 9_999, maxCents: null } }), 999_999_999_999)).toBe(999_899_999_999);
  });

  it('refuses issues and uses in the order §12.3 and §12.5 list', () => {
    const t = template({ active: false, validDays: null, validFrom: '2026-01-01', validTo: '2026-01-31', perMemberMax: 1, totalMax: 1 });
    expect(issueRefusal(t, at('2026-02-01T00:00:00Z'), HK, 1, 1)).toBe('template_inactive');
    expect(issueRefusal({ ...t, active: true }, at('2026-01-31T16:00:00Z'), HK, 1, 1)).toBe('window_over');
    expect(issueRefusal({ ...t, active: true }, at('2026-01-31T15:59:59Z'), HK, 1, 1)).toBe('member_limit');
    expect(issueRefusal({ ...t, active: true }, at('2026-01-31T15:59:59Z'), HK, 0, 1)).toBe('total_limit');
    const order = { memberId: 'm1', tierId: 'base', channel: undefined, baseCents: 500, at: at('2026-03-10T00:00:00Z') };
    const strict = template({ eligibleTiers: ['gold'], channels: ['online'], minSpendCents: 1_000 });
    expect(usabilityRefusal(coupon({ memberId: 'm2', state: 'used' }), strict, order, new Set())).toBe('other_member');
    expect(usabilityRefusal(coupon({ state: 'revoked', expiresAt: 0 }), strict, order, new Set())).toBe('revoked');
    expect(usabilityRefusal(coupon({ expiresAt: order.at }), strict, order, new Set())).toBe('expired');
    expect(usabilityRefusal(coupon({ validFrom: order.at + 1 }), undefined, order, new Set())).toBe('not_yet_valid');
    expect(usabilityRefusal(coupon(), undefined, order, new Set(['t']))).toBe('template_removed');
    expect(usabilityRefusal(coupon(), strict, order, new Set(['t']))).toBe('template_repeated');
    expect(usabilityRefusal(coupon(), strict, order, new Set())).toBe('tier');
    expect(usabilityRefusal(coupon(), { ...strict, eligibleTiers: null }, order, new Set())).toBe('channel');
    expect(usabilityRefusal(coupon(), { ...strict, eligibleTiers: null }, { ...order, channel: 'online' }, new Set())).toBe('min_spend');
    expect(usabilityRefusal(coupon(), { ...strict, eligibleTiers: null }, { ...order, channel: 'online', baseCents: 1_000 }, new Set())).toBeNull();
    expect(usabilityRefusal(coupon(), template(), order, new Set())).toBeNull();
  });

  it('reads typed codes as §12.1 does', () => {
    expect(normalizeCode('7k3m-9qx2-hd4p')).toBe('7K3M9QX2HD4P');
    expect(normalizeCode('oil0 abcd efgh')).toBe('0110ABCDEFGH');
  });
});
