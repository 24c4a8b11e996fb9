// The batch log's compact purchases carry the key id that sent them (engine/shard/log-ops.ts): the
// first purchase of a payload names it, the next ones of the same key take one flag bit; a
// purchase without one decodes without one, as every purchase logged before key ids were.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { RECORD_PACKR_OPTIONS } from '../../engine/batch-records.js';
import { decodeOps, encodeOps, OpsLayoutError } from '../../engine/shard/log-ops.js';
import type { PurchaseOp, WriteOp } from '../../engine/ops.js';

const packr = new Packr(RECORD_PACKR_OPTIONS);
const purchase = (n: number, extra: Partial<PurchaseOp> = {}): PurchaseOp => ({
  op: 'purchase', orderId: `o-${n}`, memberId: `m${n}`, key: `order:o-${n}`, fp: 1000 + n, atMs: 1_700_000_000_000 + n,
  amountCents: 100 * n, discountCents: 0, redeemPoints: 0, walletCents: 0, ...extra,
});

describe('key ids in the log of purchases', () => {
  it('round-trips purchases with and without a key id, the same one repeated in a byte', () => {
    const ops: WriteOp[] = [
      purchase(1, { by: 'k_aaaaaaaaaaaa' }), purchase(2, { by: 'k_aaaaaaaaaaaa', keyHome: true }), purchase(3),
      purchase(4, { by: 'k_bbbbbbbbbbbb' }), purchase(5, { by: 'k_aaaaaaaaaaaa' }),
    ];
    expect(decodeOps(encodeOps(ops, 0, packr), packr)).toEqual(ops);
    const withOne = encodeOps([purchase(1, { by: 'k_aaaaaaaaaaaa' }), purchase(2, { by: 'k_aaaaaaaaaaaa' })], 0, packr).length;
    const without = encodeOps([purchase(1), purchase(2)], 0, packr).length;
    // The id's 14 bytes and its length once; the second purchase costs nothing more (its flag byte was there already).
    expect(withOne - without).toBe(15);
  });

  it('keeps purchases with a key id compact, not packed whole', () => {
    const bytes = encodeOps([purchase(1, { by: 'k_aaaaaaaaaaaa' })], 0, packr);
    // Layout, count, the compact tag: no msgpack array after the op.
    expect(bytes[2]).toBe(1);
    expect(decodeOps(bytes, packr)).toEqual([purchase(1, { by: 'k_aaaaaaaaaaaa' })]);
  });

  it('reads a payload written before key ids: flags 0..3 only, no key id', () => {
    const old = encodeOps([purchase(7, { keyHome: true })], 0, packr);
    expect(decodeOps(old, packr)).toEqual([purchase(7, { keyHome: true })]);
    expect('by' in decodeOps(old, packr)[0]!).toBe(false);
  });

  it('refuses a repeat with no key id before it', () => {
    const bytes = Buffer.from(encodeOps([purchase(1)], 0, packr));
    // The key flags byte follows the tag and the order id (1 + 3 bytes).
    const flagsAt = 3 + 1 + 3;
    expect(bytes[flagsAt]).toBe(0);
    bytes[flagsAt] = 8;
    expect(() => decodeOps(bytes, packr)).toThrow(OpsLayoutError);
  });
});
