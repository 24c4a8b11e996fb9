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

/** The results as one msgpack array, in a buffer of their own (the packer reuses its buffer). */
export function packResults(results: readonly OpResult[]): Uint8Array {
  return new Uint8Array(resultPackr.pack(results));
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
