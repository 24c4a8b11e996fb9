// A write batch and its answer cross the thread boundary as one msgpack buffer with records, moved
// (transferred) rather than cloned: the structured clone of op and result objects cost each side
// ~1.8 µs per op, packing them as records and moving the buffer ~0.5 µs to pack and ~0.3 µs to
// unpack (measured on this project's machine with 500 purchases per batch). Records write each op
// shape's field names once per buffer, and every buffer carries its own record definitions, so the
// two threads share no encoder state.
//
// A write batch's results are the exception: the shard packs them once in the stream's own msgpack,
// so that the main thread splices each op's bytes into its ack instead of unpacking them to objects
// and packing those again (that round trip, and the garbage it made, were a third of the main
// thread's time per stream purchase). A result is decoded to an object only when something reads
// it: a refusal looked at again, a claim settled with it, an HTTP answer, a JSON stream's ack.
import { Packr } from 'msgpackr';
import type { OpResult } from './ops.js';

/**
 * Every option spelled out (house style 6); the batch log (engine/shard/batch-log.ts) packs its
 * values with the same options, each in its own Packr (a Packr keeps its buffer between calls).
 */
export const RECORD_PACKR_OPTIONS = {
  useRecords: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  encodeUndefinedAsNil: false,
  useFloat32: 0,
  useTimestamp32: false,
  mapsAsObjects: true,
  variableMapSize: false,
  int64AsType: 'number',
  largeBigIntToFloat: false,
  copyBuffers: true,
} as const;

const packr = new Packr(RECORD_PACKR_OPTIONS);

/** The value packed into a buffer of its own, fit to be transferred (the packer reuses its buffer). */
export function packRecords(value: unknown): Uint8Array {
  return new Uint8Array(packr.pack(value));
}

/** A value packed by packRecords. */
export function unpackRecords<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}

/**
 * The stream's msgpack (server/stream/frames.ts packs and reads its frames with these): plain maps,
 * no records, so that one op's bytes stand alone and read the same inside any ack.
 */
export const STREAM_PACKR_OPTIONS = { useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' } as const;

const resultPackr = new Packr(STREAM_PACKR_OPTIONS);

/**
 * The shape of a purchase's answer as engine/rules/member-state.ts purchaseResult builds it when the
 * order used, issued and applied no coupon or campaign and has no pending points: the answer of
 * nearly every stream purchase. The executor (engine/shard/batch.ts) says which of a batch's
 * results have it, and those are packed field by field, the keys' bytes made once: msgpackr's
 * generic walk of the same object cost about twice as much (test/server/stream-ack-bytes.test.ts
 * checks that both give the same bytes). Any other result, or one of these with a value this path
 * does not write (text that is not ASCII), goes through msgpackr.
 */
export interface PlainPurchaseAnswer {
  ok: true; orderId: string; memberId: string; netCents: number; earnedPoints: number; redeemedPoints: number;
  redeemValueCents: number; walletCents: number; points: number; walletBalanceCents: number; growth: number;
  tierId: string; upgradedTo: string | null; referralRewards: Array<{ memberId: string; points: number }>; replayed: boolean;
}

/**
 * The results array the executor last marked, and its marks (1: a PlainPurchaseAnswer). Kept by
 * the array's identity rather than on each result (a WeakSet's add cost 0.2 µs per purchase): the
 * marks count only for that very array, whose elements the executor set once.
 */
let markedResults: readonly OpResult[] | null = null;
let resultMarks: Uint8Array = new Uint8Array(0);

/** Says which of `results` are plain purchase answers (marks[i] === 1), for packResults's fast path. */
export function markPlainPurchaseAnswers(results: readonly OpResult[], marks: Uint8Array): void {
  markedResults = results;
  resultMarks = marks;
}

/** A map key (ASCII) as msgpack text. */
function keyBytes(key: string): Uint8Array {
  return Uint8Array.from(resultPackr.pack(key));
}

const K_OK_TRUE = Uint8Array.from([0xde, 0x00, 0x0f, ...keyBytes('ok'), 0xc3]);
const K_ORDER_ID = keyBytes('orderId');
const K_MEMBER_ID = keyBytes('memberId');
const K_NET_CENTS = keyBytes('netCents');
const K_EARNED_POINTS = keyBytes('earnedPoints');
const K_REDEEMED_POINTS = keyBytes('redeemedPoints');
const K_REDEEM_VALUE_CENTS = keyBytes('redeemValueCents');
const K_WALLET_CENTS = keyBytes('walletCents');
const K_POINTS = keyBytes('points');
const K_WALLET_BALANCE_CENTS = keyBytes('walletBalanceCents');
const K_GROWTH = keyBytes('growth');
const K_TIER_ID = keyBytes('tierId');
const K_UPGRADED_TO = keyBytes('upgradedTo');
const K_REFERRAL_REWARDS = keyBytes('referralRewards');
const K_REWARD_MEMBER_ID = Uint8Array.from([0xde, 0x00, 0x02, ...keyBytes('memberId')]);
const K_REPLAYED = keyBytes('replayed');

/** The largest fixed part of a plain purchase answer (keys, headers, numbers), without its text and rewards. */
const PLAIN_PURCHASE_FIXED_BYTES_MAX = 512;

/** A growing buffer that writes msgpack the way msgpackr does with STREAM_PACKR_OPTIONS. */
class ResultWriter {
  buf = Buffer.allocUnsafe(256 * 1024);
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  pos = 0;

  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  /** Constant bytes (a key); the caller reserved room. A loop: for a few bytes it beats TypedArray#set. */
  raw(bytes: Uint8Array): void {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i]!;
    this.pos = pos;
  }

  arrayHeader(n: number): void {
    const buf = this.buf;
    if (n < 0x10) buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) { buf[this.pos++] = 0xdc; buf[this.pos++] = n >> 8; buf[this.pos++] = n & 0xff; }
    else { buf[this.pos++] = 0xdd; this.view.setUint32(this.pos, n); this.pos += 4; }
  }

  /** A number as msgpackr writes it (without float32): the smallest integer form, else a float64. At most 9 bytes. */
  num(v: number): void {
    const buf = this.buf;
    if (v >>> 0 === v) {
      if (v < 0x80) buf[this.pos++] = v;
      else if (v < 0x100) { buf[this.pos++] = 0xcc; buf[this.pos++] = v; }
      else if (v < 0x10000) { buf[this.pos++] = 0xcd; buf[this.pos++] = v >> 8; buf[this.pos++] = v & 0xff; }
      else { buf[this.pos++] = 0xce; this.view.setUint32(this.pos, v); this.pos += 4; }
    } else if (v >> 0 === v) {
      if (v >= -0x20) buf[this.pos++] = 0x100 + v;
      else if (v >= -0x80) { buf[this.pos++] = 0xd0; buf[this.pos++] = v + 0x100; }
      else if (v >= -0x8000) { buf[this.pos++] = 0xd1; this.view.setInt16(this.pos, v); this.pos += 2; }
      else { buf[this.pos++] = 0xd2; this.view.setInt32(this.pos, v); this.pos += 4; }
    } else { buf[this.pos++] = 0xcb; this.view.setFloat64(this.pos, v); this.pos += 8; }
  }

  /** ASCII text (reserving its room), or false, having written nothing that counts, when it is not ASCII. */
  ascii(s: string): boolean {
    const n = s.length;
    this.reserve(n + 5);
    const buf = this.buf;
    const header = n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    let pos = this.pos + header;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[pos++] = c;
    }
    const at = this.pos;
    if (header === 1) buf[at] = 0xa0 | n;
    else if (header === 2) { buf[at] = 0xd9; buf[at + 1] = n; }
    else if (header === 3) { buf[at] = 0xda; buf[at + 1] = n >> 8; buf[at + 2] = n & 0xff; }
    else { buf[at] = 0xdb; this.view.setUint32(at + 1, n); }
    this.pos = pos;
    return true;
  }

  /** A plain purchase answer, or false when one of its values needs msgpackr's path (the caller rewinds). */
  plainPurchase(r: PlainPurchaseAnswer): boolean {
    this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
    this.raw(K_OK_TRUE);
    this.raw(K_ORDER_ID); if (!this.ascii(r.orderId)) return false;
    this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
    this.raw(K_MEMBER_ID); if (!this.ascii(r.memberId)) return false;
    this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
    this.raw(K_NET_CENTS); this.num(r.netCents);
    this.raw(K_EARNED_POINTS); this.num(r.earnedPoints);
    this.raw(K_REDEEMED_POINTS); this.num(r.redeemedPoints);
    this.raw(K_REDEEM_VALUE_CENTS); this.num(r.redeemValueCents);
    this.raw(K_WALLET_CENTS); this.num(r.walletCents);
    this.raw(K_POINTS); this.num(r.points);
    this.raw(K_WALLET_BALANCE_CENTS); this.num(r.walletBalanceCents);
    this.raw(K_GROWTH); this.num(r.growth);
    this.raw(K_TIER_ID); if (!this.ascii(r.tierId)) return false;
    this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
    this.raw(K_UPGRADED_TO);
    if (r.upgradedTo === null) this.buf[this.pos++] = 0xc0;
    else if (!this.ascii(r.upgradedTo)) return false;
    this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
    this.raw(K_REFERRAL_REWARDS);
    const rewards = r.referralRewards;
    this.arrayHeader(rewards.length);
    for (let i = 0; i < rewards.length; i++) {
      const reward = rewards[i]!;
      this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
      this.raw(K_REWARD_MEMBER_ID); if (!this.ascii(reward.memberId)) return false;
      this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
      this.raw(K_POINTS); this.num(reward.points);
    }
    this.reserve(PLAIN_PURCHASE_FIXED_BYTES_MAX);
    this.raw(K_REPLAYED); this.buf[this.pos++] = r.replayed ? 0xc3 : 0xc2;
    return true;
  }
}

const resultWriter = new ResultWriter();

/**
 * The results as one msgpack array, in a buffer of their own: the bytes msgpackr gives for the
 * array, each plain purchase answer written by ResultWriter and every other result by msgpackr
 * (an element's bytes do not depend on the others': no records, no bundled strings).
 */
export function packResults(results: readonly OpResult[]): Uint8Array {
  const w = resultWriter;
  const marks = markedResults === results && resultMarks.length === results.length ? resultMarks : null;
  markedResults = null;
  w.pos = 0;
  w.reserve(5);
  w.arrayHeader(results.length);
  for (let i = 0; i < results.length; i++) {
    const result = results[i]!;
    const at = w.pos;
    if (marks !== null && marks[i] === 1 && w.plainPurchase(result as unknown as PlainPurchaseAnswer)) continue;
    w.pos = at;
    const bytes = resultPackr.pack(result);
    w.reserve(bytes.length);
    w.buf.set(bytes, w.pos);
    w.pos += bytes.length;
  }
  return Uint8Array.prototype.slice.call(w.buf, 0, w.pos);
}

/** The result packed at bytes[start, end) (by packResults), as an object. */
export function unpackResult(bytes: Uint8Array, start: number, end: number): OpResult {
  return resultPackr.unpack(bytes.subarray(start, end)) as OpResult;
}

/** Where each element of a msgpack array starts: `count + 1` offsets, the last one the array's end. */
export function arrayBounds(bytes: Uint8Array): Uint32Array {
  const head = bytes[0]!;
  let count: number;
  let at: number;
  if ((head & 0xf0) === 0x90) { count = head & 0x0f; at = 1; }
  else if (head === 0xdc) { count = (bytes[1]! << 8) | bytes[2]!; at = 3; }
  else if (head === 0xdd) { count = ((bytes[1]! << 24) >>> 0) + ((bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!); at = 5; }
  else throw new Error(`packed results: not a msgpack array (0x${head.toString(16)})`);
  const bounds = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) {
    bounds[i] = at;
    at = skipValue(bytes, at);
  }
  bounds[count] = at;
  if (at !== bytes.byteLength) throw new Error(`packed results: ${bytes.byteLength - at} bytes after the array`);
  return bounds;
}

/** A big-endian unsigned length of `size` bytes at `at`. */
function lengthAt(bytes: Uint8Array, at: number, size: number): number {
  let n = 0;
  for (let k = 0; k < size; k++) n = n * 256 + bytes[at + k]!;
  return n;
}

/** The offset just past the msgpack value at `at`: walks its bytes, building nothing. */
function skipValue(bytes: Uint8Array, start: number): number {
  let at = start;
  // Values still to skip: a map or array adds its elements.
  let remaining = 1;
  while (remaining > 0) {
    remaining -= 1;
    const b = bytes[at]!;
    if (b === undefined) throw new Error('packed results: truncated');
    if (b <= 0x7f || b >= 0xe0) { at += 1; continue; }
    if (b <= 0x8f) { remaining += 2 * (b & 0x0f); at += 1; continue; }
    if (b <= 0x9f) { remaining += b & 0x0f; at += 1; continue; }
    if (b <= 0xbf) { at += 1 + (b & 0x1f); continue; }
    switch (b) {
      case 0xc0: case 0xc2: case 0xc3: at += 1; break;
      case 0xc4: case 0xd9: at += 2 + lengthAt(bytes, at + 1, 1); break;
      case 0xc5: case 0xda: at += 3 + lengthAt(bytes, at + 1, 2); break;
      case 0xc6: case 0xdb: at += 5 + lengthAt(bytes, at + 1, 4); break;
      case 0xc7: at += 3 + lengthAt(bytes, at + 1, 1); break;
      case 0xc8: at += 4 + lengthAt(bytes, at + 1, 2); break;
      case 0xc9: at += 6 + lengthAt(bytes, at + 1, 4); break;
      case 0xca: at += 5; break;
      case 0xcb: at += 9; break;
      case 0xcc: case 0xd0: at += 2; break;
      case 0xcd: case 0xd1: at += 3; break;
      case 0xce: case 0xd2: at += 5; break;
      case 0xcf: case 0xd3: at += 9; break;
      case 0xd4: at += 3; break;
      case 0xd5: at += 4; break;
      case 0xd6: at += 6; break;
      case 0xd7: at += 10; break;
      case 0xd8: at += 18; break;
      case 0xdc: remaining += lengthAt(bytes, at + 1, 2); at += 3; break;
      case 0xdd: remaining += lengthAt(bytes, at + 1, 4); at += 5; break;
      case 0xde: remaining += 2 * lengthAt(bytes, at + 1, 2); at += 3; break;
      case 0xdf: remaining += 2 * lengthAt(bytes, at + 1, 4); at += 5; break;
      default: throw new Error(`packed results: byte 0x${b.toString(16)} is not msgpack`);
    }
  }
  if (at > bytes.byteLength) throw new Error('packed results: truncated');
  return at;
}

/** The map's first key, `ok`, and `true` (a msgpack fixmap, or map16, then fixstr "ok" and true). */
function packedOk(bytes: Uint8Array, at: number): boolean {
  const head = bytes[at]!;
  const key = (head & 0xf0) === 0x80 ? at + 1 : head === 0xde ? at + 3 : -1;
  return key >= 0 && bytes[key] === 0xa2 && bytes[key + 1] === 0x6f && bytes[key + 2] === 0x6b && bytes[key + 3] === 0xc3;
}

/**
 * Op results in op order, each an object or a range of a shard's packed results. Three arrays for
 * the whole list instead of one object per op; a range is decoded (once) only when read.
 */
export class ResultList {
  private readonly objects: Array<OpResult | undefined>;
  private readonly packed: Array<Uint8Array | undefined>;
  private readonly starts: Uint32Array;
  private readonly ends: Uint32Array;

  constructor(readonly length: number) {
    this.objects = new Array(length);
    this.packed = new Array(length);
    this.starts = new Uint32Array(length);
    this.ends = new Uint32Array(length);
  }

  /** A list of results that are objects already. */
  static of(results: readonly OpResult[]): ResultList {
    const list = new ResultList(results.length);
    for (let i = 0; i < results.length; i++) list.objects[i] = results[i];
    return list;
  }

  set(i: number, result: OpResult): void {
    this.objects[i] = result;
    this.packed[i] = undefined;
  }

  /** Result `i` is the msgpack value at bytes[start, end). */
  setPacked(i: number, bytes: Uint8Array, start: number, end: number): void {
    this.objects[i] = undefined;
    this.packed[i] = bytes;
    this.starts[i] = start;
    this.ends[i] = end;
  }

  /** Result `i` is result `k` of `from`, packed or not, without decoding it. */
  copyFrom(i: number, from: ResultList, k: number): void {
    const bytes = from.packed[k];
    if (bytes === undefined) this.set(i, from.get(k));
    else this.setPacked(i, bytes, from.starts[k]!, from.ends[k]!);
  }

  /** Result `i` as an object, decoded the first time it is read. */
  get(i: number): OpResult {
    const known = this.objects[i];
    if (known !== undefined) return known;
    const bytes = this.packed[i];
    if (bytes === undefined) throw new Error(`result ${i} of ${this.length} was never set`);
    const result = unpackResult(bytes, this.starts[i]!, this.ends[i]!);
    this.objects[i] = result;
    this.packed[i] = undefined;
    return result;
  }

  /** Whether result `i` succeeded, read from its bytes without decoding it when it did. */
  ok(i: number): boolean {
    const bytes = this.packed[i];
    if (bytes !== undefined && packedOk(bytes, this.starts[i]!)) return true;
    return this.get(i).ok;
  }

  /** Result `i`'s msgpack bytes when it is still packed (a view, not a copy), else null. */
  packedAt(i: number): Uint8Array | null {
    const bytes = this.packed[i];
    return bytes === undefined ? null : bytes.subarray(this.starts[i]!, this.ends[i]!);
  }

  /** The length of result `i`'s msgpack bytes when it is still packed, else -1. */
  packedLength(i: number): number {
    return this.packed[i] === undefined ? -1 : this.ends[i]! - this.starts[i]!;
  }

  /**
   * The end of the run of packed results from `i` (packed itself) whose bytes follow each other in
   * one buffer: a group's ops answered by one shard batch are usually one run, copied at once.
   */
  packedRunEnd(i: number): number {
    const bytes = this.packed[i];
    let j = i + 1;
    while (j < this.length && this.packed[j] === bytes && this.starts[j] === this.ends[j - 1]) j++;
    return j;
  }

  /** Copies the bytes of the packed run [from, to) (packedRunEnd) into `target` at `at`; answers the offset past them. */
  copyPackedRun(from: number, to: number, target: Uint8Array, at: number): number {
    const start = this.starts[from]!;
    const end = this.ends[to - 1]!;
    target.set(this.packed[from]!.subarray(start, end), at);
    return at + end - start;
  }

  /** Every result as an object. */
  toArray(): OpResult[] {
    const all = new Array<OpResult>(this.length);
    for (let i = 0; i < this.length; i++) all[i] = this.get(i);
    return all;
  }
}
