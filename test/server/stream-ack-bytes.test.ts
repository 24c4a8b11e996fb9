// The stream's acks splice the results the shards packed: an ack must be byte for byte the msgpack
// of `{ type: 'ack', id, results }` as objects, whatever mix of packed and unpacked results it holds.
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { arrayBounds, markPlainPurchaseAnswers, packResults, ResultList, STREAM_PACKR_OPTIONS } from '../../engine/batch-records.js';
import { encodeAck } from '../../server/stream/frames.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';
import { purchaseResult, type OrderRecord } from '../../engine/rules/member-state.js';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';

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

describe('plain purchase answers, packed field by field', () => {
  const order = (i: number, over: Partial<OrderRecord> = {}): OrderRecord => ({
    orderId: `p-${i}`, memberId: `m${i}`, at: 0, seq: i, amountCents: 100 + i, discountCents: 0, redeemPoints: i % 3, redeemValueCents: i % 11 === 10 ? 1.5 : -i,
    walletCents: 2 ** 32 + i, netCents: i * 1_000, earnedPoints: [0, 31, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 40, 3][i % 11]!,
    growth: [-1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, -0, Number.NaN][i % 11]!,
    tierIdBefore: 'silver', upgradedTo: i % 4 === 0 ? 'gold' : null, birthday: false, returns: [], fp: 1,
    after: { points: 2 ** 53 - 1 - i, walletBalanceCents: i, growth: i, tierId: i % 4 === 0 ? 'gold' : 'x'.repeat(i % 300) },
    rate: { earnCents: 100, earnPoints: 1, orderPoints: 0, multiplierPct: 100, growthPoints: 1, growthGrowth: 1 },
    express: false, before: { periodStart: 0, periodEnd: null, periodStartTierId: 'silver', periodMetric: 0 },
    rewards: i % 5 === 0 ? [{ memberId: `r${i}`, fixedPoints: 10, sharePct: 10, sharePoints: 3 }, { memberId: `s${i}`, fixedPoints: 0, sharePct: 5, sharePoints: 1 }] : [],
    now: { earnedPoints: 0, growth: 0, restoredPoints: 0, walletRefundedCents: 0, fixedReversed: false }, redeemedFrom: [],
    ...over,
  });
  /** Results with the plain answers' places marked, as the executor marks them. */
  const withMarks = (items: Array<OpResult | OrderRecord>): OpResult[] => {
    const marks = new Uint8Array(items.length);
    const results = items.map((item, i) => {
      if (!('orderId' in item && 'rate' in item)) return item as OpResult;
      marks[i] = 1;
      return purchaseResult(item as OrderRecord, i % 2 === 1);
    });
    markPlainPurchaseAnswers(results, marks);
    return results;
  };

  it('gives the bytes msgpackr gives, for answers of every number and text size, mixed with other results', () => {
    const items: Array<OpResult | OrderRecord> = [];
    for (let i = 0; i < 700; i++) items.push(i % 9 === 8 ? refusal(i) : i % 13 === 12 ? purchase(i) : order(i));
    const results = withMarks(items);
    const bytes = packResults(results);
    expect(Buffer.from(bytes).equals(Buffer.from(packr.pack(results)))).toBe(true);
    expect(arrayBounds(bytes).length).toBe(701);
  });

  it('falls back to msgpackr for an answer whose text is not ASCII', () => {
    const results = withMarks([
      order(3), order(1, { memberId: 'mé' }), order(2, { upgradedTo: 'gölden' }),
      order(5, { rewards: [{ memberId: 'r✓', fixedPoints: 1, sharePct: 0, sharePoints: 0 }] }), order(4),
    ]);
    expect(Buffer.from(packResults(results)).equals(Buffer.from(packr.pack(results)))).toBe(true);
    expect(packr.unpack(packResults(results))).toEqual(results);
  });

  it('uses the marks only for the very array they were given with, and once', () => {
    const marked = withMarks([order(1), order(2)]);
    // Another array with an object of another shape where a mark was: packed by msgpackr, whole.
    const other = [refusal(1), purchase(2)];
    expect(Buffer.from(packResults(other)).equals(Buffer.from(packr.pack(other)))).toBe(true);
    // The marked array, after another was packed, is still packed right (by msgpackr now).
    marked[0] = refusal(3);
    expect(Buffer.from(packResults(marked)).equals(Buffer.from(packr.pack(marked)))).toBe(true);
  });

  it('packs the answers of a real shard batch as msgpackr does', () => {
    const h = new ShardHarness(demoProgram(), 1);
    try {
      const at = Date.parse('2026-03-10T02:00:00Z');
      h.one({ op: 'register', memberId: 'm1', key: 'reg:m:m1', fp: 1, atMs: at, referralChain: [] });
      h.one({ op: 'register', memberId: 'm2', key: 'reg:m:m2', fp: 1, atMs: at, referralChain: ['m1'] });
      const ops: WriteOp[] = Array.from({ length: 40 }, (_, i) => ({
        op: 'purchase', memberId: i % 2 === 0 ? 'm1' : 'm2', orderId: `o-${i}`, key: `o-${i}`, fp: 2, atMs: at + i, amountCents: 1_000 * (i + 1), discountCents: 0, redeemPoints: 0, walletCents: 0,
      }));
      // The last one repeats the first in the same batch: its answer is a copy (replayed), packed by msgpackr.
      ops.push({ ...ops[0]! } as WriteOp);
      const results = h.batch(ops);
      expect(results.every((r) => r.ok)).toBe(true);
      // The program has no coupon rules, campaigns or pending points: every first answer has the plain shape.
      expect(results.filter((r) => Object.keys(r).join() === 'ok,orderId,memberId,netCents,earnedPoints,redeemedPoints,redeemValueCents,walletCents,points,walletBalanceCents,growth,tierId,upgradedTo,referralRewards,replayed')).toHaveLength(41);
      expect(Buffer.from(packResults(results)).equals(Buffer.from(packr.pack(results)))).toBe(true);
    } finally {
      void h.close();
    }
  });
});
