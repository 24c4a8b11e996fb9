// The campaign fields of a checkout quote (docs/api.md, Campaigns): `channel`, `storeId` and `items`
// read as a purchase reads them (HTTP and stream ops share server/requests.ts), refused with the
// same codes and field paths, and absent from the op when the body leaves them out.
import { describe, expect, it } from 'vitest';
import * as R from '../../server/requests.js';
import { FieldError } from '../../engine/rules/validate.js';

const ctx: R.RequestContext = { role: 'pos', nowMs: Date.parse('2026-06-01T00:00:00Z'), defaultCountry: 'HK' };

function refusalOf(build: () => unknown): [string, string] {
  try {
    build();
  } catch (err) {
    if (err instanceof FieldError) return [err.field, err.message];
    throw err;
  }
  throw new Error('not refused');
}

describe('a quote names the purchase it prices', () => {
  it('takes channel, storeId and items as a purchase does', () => {
    const body = { memberId: 'm1', amountCents: 50_000, channel: 'offline', storeId: 'tst', items: [{ sku: 'TEA-01', qty: 2, amountCents: 20_000 }] };
    const quote = R.quoteOp(body, ctx);
    const purchase = R.purchaseOp({ ...body, orderId: 'o1' }, ctx);
    expect({ channel: quote.channel, storeId: quote.storeId, items: quote.items }).toEqual({ channel: purchase.channel, storeId: purchase.storeId, items: purchase.items });
    expect(quote).toEqual({ op: 'quote', memberId: 'm1', amountCents: 50_000, atMs: ctx.nowMs, channel: 'offline', storeId: 'tst', items: [{ sku: 'TEA-01', qty: 2, amountCents: 20_000 }] });
    expect(Object.keys(R.quoteOp({ memberId: 'm1', amountCents: 1 }, ctx)).sort()).toEqual(['amountCents', 'atMs', 'memberId', 'op']);
  });

  it('refuses what a purchase refuses, naming the field', () => {
    const quote = (extra: Record<string, unknown>) => () => R.quoteOp({ memberId: 'm1', amountCents: 1, ...extra }, ctx);
    expect(refusalOf(quote({ channel: 'phone' }))[0]).toBe('channel');
    expect(refusalOf(quote({ storeId: 'a b' }))[0]).toBe('storeId');
    expect(refusalOf(quote({ items: [{ sku: 'TEA-01', qty: 0, amountCents: 1 }] }))[0]).toBe('items[0].qty');
    expect(refusalOf(quote({ items: [{ sku: 'TEA-01', qty: 1 }] }))[0]).toBe('items[0].amountCents');
    expect(refusalOf(quote({ store: 'tst' }))[0]).toBe('store');
  });
});
