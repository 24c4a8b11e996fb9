// Requests are fingerprinted as understood: the validated op with defaults filled and times as ms.
// A body already in its plain form keeps the fingerprint its raw text had before, so keys stored
// then still replay; spelling a default, another offset for the same instant, or an upper-case
// email changes nothing; any change of meaning changes the fingerprint.
import { describe, expect, it } from 'vitest';
import * as R from '../../server/requests.js';
import { bodyFingerprint } from '../../server/fingerprint.js';
import type { Role } from '../../server/auth.js';

const NOW_MS = Date.parse('2026-06-01T00:00:00Z');
const ctx = (role: Role = 'admin'): R.RequestContext => ({ role, nowMs: NOW_MS, defaultCountry: 'HK' });
const newId = (): string => 'generated';

const fpOf = (kind: string, body: Record<string, unknown>, role: Role = 'admin'): number => {
  switch (kind) {
    case 'register': return R.registerOp(body, ctx(role), newId).fp;
    case 'purchase': return R.purchaseOp(body, ctx(role)).fp;
    case 'redeem': return R.redeemOp(body, ctx(role)).fp;
    case 'adjust': return R.adjustOp(body, ctx(role)).fp;
    case 'topup': return R.topupOp(body, ctx(role)).fp;
    case 'withdraw': return R.withdrawOp(body, ctx(role)).fp;
    case 'return': return R.returnOp(body, ctx(role)).fp;
    case 'transfer': return R.transferOp(body, ctx(role)).fp;
    case 'product': return R.productOp(body, ctx(role)).fp;
    default: throw new Error(kind);
  }
};

/** Bodies in their plain form: every field, none holding its default, no `at`. */
const PLAIN: Array<[string, Record<string, unknown>]> = [
  ['register', { memberId: 'm1', requestId: 'r1', name: 'Ann "A" Lee\u00e9', phone: '+85255550001', email: 'ann@example.com', birthday: '1990-02-03', gender: 'f', address: 'x\ny', referrerId: 'm0', storeId: 's1', channel: 'offline', staffId: 'st', tierId: 'gold', points: 5, walletCents: 7 }],
  ['register', { requestId: 'r2', name: 'Bo' }],
  ['purchase', { orderId: 'o1', memberId: 'm1', amountCents: 1000, discountCents: 5, redeemPoints: 10, walletCents: 3, storeId: 's', channel: 'online', items: [{ sku: 'a', qty: 2, amountCents: 500 }, { sku: 'b', qty: 1, amountCents: 0 }] }],
  ['purchase', { orderId: 'o2', memberId: 'm1', amountCents: 1 }],
  ['redeem', { requestId: 'q', memberId: 'm1', points: 10 }],
  ['adjust', { requestId: 'q', memberId: 'm1', points: -3, reason: 'why' }],
  ['topup', { requestId: 'q', memberId: 'm1', amountCents: 100 }],
  ['withdraw', { requestId: 'q', memberId: 'm1', amountCents: 100 }],
  ['return', { returnId: 'r', orderId: 'o1', amountCents: 100 }],
  ['transfer', { requestId: 'q', fromMemberId: 'a', toMemberId: 'b', amountCents: 100 }],
  ['product', { orderId: 'p', memberId: 'm1', productId: 'vip', channel: 'online' }],
];

describe('request fingerprints', () => {
  it.each(PLAIN)('keeps the fingerprint of a plain %s body as it was before', (kind, body) => {
    expect(fpOf(kind, body)).toBe(bodyFingerprint(kind, body));
  });

  it('keeps it for a time sent as msgpack ms, as it was', () => {
    const body = { requestId: 'q', memberId: 'm1', amountCents: 100, at: NOW_MS - 1000 };
    expect(fpOf('topup', body)).toBe(bodyFingerprint('topup', body));
  });

  it('treats a default spelled out as the default', () => {
    const base = { orderId: 'o1', memberId: 'm1', amountCents: 1000 };
    const fp = fpOf('purchase', base);
    expect(fpOf('purchase', { ...base, discountCents: 0 })).toBe(fp);
    expect(fpOf('purchase', { ...base, discountCents: 0, redeemPoints: 0, walletCents: 0, items: [] })).toBe(fp);
    expect(fpOf('register', { memberId: 'm', points: 0, walletCents: 0 })).toBe(fpOf('register', { memberId: 'm' }));
    // Without a channel a POS key buys offline: saying so is the same request.
    expect(fpOf('product', { orderId: 'p', memberId: 'm', productId: 'x' }, 'pos')).toBe(fpOf('product', { orderId: 'p', memberId: 'm', productId: 'x', channel: 'offline' }, 'pos'));
  });

  it('treats one instant written three ways as one', () => {
    const base = { requestId: 'q', memberId: 'm1', amountCents: 100 };
    const fp = fpOf('topup', { ...base, at: '2026-01-01T08:00:00+08:00' });
    expect(fpOf('topup', { ...base, at: '2026-01-01T00:00:00Z' })).toBe(fp);
    expect(fpOf('topup', { ...base, at: '2026-01-01T00:00:00.000Z' })).toBe(fp);
    expect(fpOf('topup', { ...base, at: Date.parse('2026-01-01T00:00:00Z') })).toBe(fp);
    expect(fpOf('topup', base)).not.toBe(fp);
  });

  it('treats an email in another case as the same email', () => {
    expect(fpOf('register', { memberId: 'm', email: 'Ann@Example.COM' })).toBe(fpOf('register', { memberId: 'm', email: 'ann@example.com' }));
  });

  it('tells apart every change of meaning', () => {
    const base = { orderId: 'o1', memberId: 'm1', amountCents: 1000 };
    const variants = [
      base, { ...base, amountCents: 1001 }, { ...base, memberId: 'm2' }, { ...base, discountCents: 1 },
      { ...base, redeemPoints: 1 }, { ...base, walletCents: 1 }, { ...base, storeId: 's' }, { ...base, channel: 'online' },
      { ...base, items: [{ sku: 'a', qty: 1, amountCents: 1 }] }, { ...base, items: [{ sku: 'a', qty: 2, amountCents: 1 }] },
      { ...base, at: '2026-01-01T00:00:00Z' }, { ...base, at: '2026-01-01T00:00:01Z' },
    ];
    expect(new Set(variants.map((b) => fpOf('purchase', b))).size).toBe(variants.length);
    // The same fields under another op are another request.
    expect(fpOf('topup', { requestId: 'q', memberId: 'm1', amountCents: 100 })).not.toBe(fpOf('withdraw', { requestId: 'q', memberId: 'm1', amountCents: 100 }));
    // A generated memberId is the server's: a registration keyed by requestId does not depend on it.
    expect(R.registerOp({ requestId: 'r' }, ctx(), () => 'a').fp).toBe(R.registerOp({ requestId: 'r' }, ctx(), () => 'b').fp);
  });
});
