// The stream's acks splice the results the shards packed: an ack must be byte for byte the msgpack
// of `{ type: 'ack', id, results }` as objects, whatever mix of packed and unpacked results it holds.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { arrayBounds, packResults, ResultList, STREAM_PACKR_OPTIONS } from '../../engine/batch-records.js';
import { encodeAck } from '../../server/stream/frames.js';
import type { OpResult } from '../../engine/ops.js';

const packr = new Packr(STREAM_PACKR_OPTIONS);

const purchase = (i: number): OpResult => ({
  ok: true, memberId: `m${i}`, orderId: `p-${i}`, pointsEarned: i * 3, points: 2 ** 40 + i, walletBalanceCents: -i, tierId: 'gold',
  share: i / 7, campaigns: [{ id: 'c1', bonusPoints: 5 }], note: i % 2 === 0 ? null : 'é'.repeat(40 + (i % 300)), replayed: false,
});
const refusal = (i: number): OpResult => ({ ok: false, error: { code: 'member_not_found', message: `no member m${i}`, field: 'memberId' } });

/** The results of a shard batch as they come back: packed, then split at each element. */
function packed(results: OpResult[]): ResultList {
  const bytes = packResults(results);
  const bounds = arrayBounds(bytes);
  expect(bounds.length).toBe(results.length + 1);
  const list = new ResultList(results.length);
  for (let i = 0; i < results.length; i++) list.setPacked(i, bytes, bounds[i]!, bounds[i + 1]!);
  return list;
}

describe('stream acks from packed results', () => {
  for (const n of [1, 15, 16, 500, 70_000]) {
    it(`${n} results, packed, mixed with objects and refusals: the same bytes as packing the objects`, () => {
      const results = Array.from({ length: n }, (_, i) => (i % 5 === 3 ? refusal(i) : purchase(i)));
      const list = packed(results);
      // Some results set as objects (validation refusals), some decoded once already (a claim read them).
      for (let i = 0; i < n; i += 7) list.set(i, refusal(-i));
      for (let i = 1; i < n; i += 11) list.get(i);
      const objects = list.toArray();
      const viaObjects = packr.pack({ type: 'ack', id: 2 ** 33, results: objects });
      const spliced = encodeAck(2 ** 33, packed(objects), true) as Uint8Array;
      expect(Buffer.from(spliced).equals(Buffer.from(viaObjects))).toBe(true);
      expect(Buffer.from(encodeAck(2 ** 33, list, true) as Uint8Array).equals(Buffer.from(viaObjects))).toBe(true);
      expect(encodeAck(7, list, false)).toBe(JSON.stringify({ type: 'ack', id: 7, results: objects }));
    });
  }

  it('splices results from two shard batches, out of their order in each, as packing the objects does', () => {
    const a = Array.from({ length: 40 }, (_, i) => purchase(i));
    const b = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? refusal(100 + i) : purchase(100 + i)));
    const [fromA, fromB] = [packed(a), packed(b)];
    const list = new ResultList(80);
    const objects: OpResult[] = [];
    for (let i = 0; i < 80; i++) {
      // Runs of three from one batch, then the other; every fifth result of a run taken from the end.
      const from = Math.floor(i / 3) % 2 === 0 ? fromA : fromB;
      const k = i % 5 === 4 ? 39 - (i >> 1) : i >> 1;
      list.copyFrom(i, from, k);
      objects.push((from === fromA ? a : b)[k]!);
    }
    const spliced = encodeAck(9, list, true) as Uint8Array;
    expect(Buffer.from(spliced).equals(Buffer.from(packr.pack({ type: 'ack', id: 9, results: objects })))).toBe(true);
  });

  it('reads whether a packed result succeeded without decoding it, and decodes a refusal', () => {
    const list = packed([purchase(1), refusal(2)]);
    expect(list.ok(0)).toBe(true);
    expect(list.packedAt(0)).not.toBeNull();
    expect(list.ok(1)).toBe(false);
    expect(list.packedAt(1)).toBeNull();
    expect(list.get(1)).toEqual(refusal(2));
    expect(list.get(0)).toEqual(purchase(1));
  });

  it('refuses bytes that are not one whole msgpack array', () => {
    const bytes = packResults([purchase(1)]);
    expect(() => arrayBounds(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(() => arrayBounds(packr.pack({ a: 1 }))).toThrow(/not a msgpack array/);
  });
});
