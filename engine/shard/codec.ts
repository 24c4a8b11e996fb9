// Compact binary records for the two hot databases: ledger entries (zigzag varints, about 45
// bytes each) and member state (fixed f64 block plus short strings). Hand-written because these
// are written once per op and read on every batch: msgpack's generic path costs more than the rest.
import assert from 'node:assert/strict';
import { LEDGER_KINDS, type LedgerKind, type StoredEntry } from '../ops.js';
import type { HotState } from '../rules/member-state.js';
import type { Grant } from '../rules/grants.js';
import type { PendingPoints } from '../rules/pending.js';
import { readEntryExtras, writeEntryExtras } from './entry-extras.js';

const KIND_INDEX = new Map<LedgerKind, number>(LEDGER_KINDS.map((k, i) => [k, i]));

/** The largest encoded entry's fixed part: 8 varints of at most 10 bytes, 3 strings of at most 255 bytes. */
const ENTRY_BYTES_MAX = 1 + 8 * 10 + 3 * 256;

/** Records shorter than this have their views kept (Writer#view): a member state or an order is about 100 bytes. */
const VIEWS_KEPT_BYTES_MAX = 1024;

export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(bytes: number) { this.buf = Buffer.allocUnsafe(bytes); }

  reset(): this { this.pos = 0; return this; }

  /** Makes room for `bytes` more, keeping what was written. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  u8(v: number): void { this.buf[this.pos++] = v; }

  /**
   * A safe integer as a zigzag varint: small magnitudes, positive or negative, take 1-3 bytes. The
   * zigzag value (2v for v >= 0, 2|v| - 1 below) passes 2^53 for |v| > 2^52, where a double can no
   * longer hold it (an odd one rounds to even: the sign bit was lost). So it is never computed as a
   * double: the magnitude's two 32-bit halves are doubled apart, carrying one bit, and written 7
   * bits at a time with shifts: the same bytes as the plain zigzag varint, for every safe integer.
   */
  int(v: number): void {
    const buf = this.buf;
    // Most values (points, cents, seqs below 2^30) fit 32-bit arithmetic whole.
    if (v >= -0x40000000 && v < 0x40000000 && (v | 0) === v) {
      let z = (v << 1) ^ (v >> 31);
      while (z >= 0x80) { buf[this.pos++] = (z & 0x7f) | 0x80; z >>>= 7; }
      buf[this.pos++] = z;
      return;
    }
    if (!Number.isSafeInteger(v)) assert.fail(`not a safe integer: ${v}`);
    const negative = v < 0;
    // The zigzag value is 2 * magnitude + sign, with magnitude = -v - 1 for a negative v.
    const magnitude = negative ? -v - 1 : v;
    const high = Math.floor(magnitude / 0x100000000);
    const low = (magnitude - high * 0x100000000) >>> 0;
    // The zigzag value's low 32 bits, and the rest (below 2^22): at least 2^31 in all, five bytes or more.
    let zLow = ((low << 1) | (negative ? 1 : 0)) >>> 0;
    let rest = high * 2 + (low >>> 31);
    let pos = this.pos;
    for (let k = 0; k < 4; k++) { buf[pos++] = (zLow & 0x7f) | 0x80; zLow >>>= 7; }
    rest = zLow | (rest << 4);
    while (rest >= 0x80) { buf[pos++] = (rest & 0x7f) | 0x80; rest >>>= 7; }
    buf[pos++] = rest;
    this.pos = pos;
  }

  f64(v: number): void { this.buf.writeDoubleLE(v, this.pos); this.pos += 8; }

  /** A short ASCII string (ids), or null as length 255. */
  str(v: string | null): void {
    if (v === null) { this.buf[this.pos++] = 255; return; }
    const n = v.length;
    if (n >= 255) assert.fail('string too long for a record');
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = n;
    // Ids are ASCII ([A-Za-z0-9._:-]); a char loop beats Buffer#write for strings this short.
    for (let i = 0; i < n; i++) buf[pos++] = v.charCodeAt(i);
    this.pos = pos;
  }

  /**
   * What was written, as a view of the writer's buffer: valid until the writer is used again. A
   * put copies it into the transaction at once, so a record about to be put needs no copy of its own.
   * A record is written from the buffer's start, so the view of a length is the same object each
   * time: views of short records are kept by length (making a Buffer view cost more than encoding
   * a member's state).
   */
  view(): Buffer {
    const n = this.pos;
    if (n >= VIEWS_KEPT_BYTES_MAX) return this.buf.subarray(0, n);
    if (this.viewsOf !== this.buf) {
      this.views = new Array<Buffer | undefined>(VIEWS_KEPT_BYTES_MAX).fill(undefined);
      this.viewsOf = this.buf;
    }
    let v = this.views[n];
    if (v === undefined) { v = this.buf.subarray(0, n); this.views[n] = v; }
    return v;
  }

  /** The views view() keeps, by length, and the buffer they are views of (a grown buffer starts afresh). */
  private views: Array<Buffer | undefined> = [];
  private viewsOf: Buffer | null = null;

  /** A copy of what was written. */
  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }
}

export class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  u8(): number { return this.buf[this.pos++]!; }

  /** The inverse of Writer#int: the sign from the first byte's low bit, the magnitude exact. */
  int(): number {
    const buf = this.buf;
    let pos = this.pos;
    let b = buf[pos++]!;
    // Up to four bytes (a zigzag value below 2^28) in 32-bit arithmetic.
    let z = b & 0x7f;
    if (b >= 0x80) {
      b = buf[pos++]!; z |= (b & 0x7f) << 7;
      if (b >= 0x80) {
        b = buf[pos++]!; z |= (b & 0x7f) << 14;
        if (b >= 0x80) {
          b = buf[pos++]!; z |= (b & 0x7f) << 21;
          if (b >= 0x80) {
            // The bits past the 28th, in floating point: the magnitude is z / 2, exact for every
            // safe integer, where the zigzag value itself need not be (it passes 2^53).
            let high = 0;
            let scale = 1;
            for (;;) {
              b = buf[pos++]!;
              high += (b & 0x7f) * scale;
              if (b < 0x80) break;
              scale *= 0x80;
            }
            this.pos = pos;
            const magnitude = (z >>> 1) + high * 0x8000000;
            return (z & 1) === 1 ? -magnitude - 1 : magnitude;
          }
        }
      }
    }
    this.pos = pos;
    return (z & 1) === 1 ? -(z >>> 1) - 1 : z >>> 1;
  }

  f64(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset).getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  str(): string | null {
    const n = this.buf[this.pos++]!;
    if (n === 255) return null;
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.buf[this.pos + i]!);
    this.pos += n;
    return s;
  }

  /**
   * A string written by Writer#str that is one of few values (a tier id), taken from a small table
   * of those read before when its bytes match: every member's state names a tier, and building the
   * same string char by char for each member read cost more than the rest of its decoding.
   */
  commonStr(): string {
    const buf = this.buf;
    const start = this.pos;
    const n = buf[start]!;
    assert.ok(n !== 255, 'a common string is never null');
    const slot = (n * 31 + (n > 0 ? buf[start + 1]! * 7 + buf[start + n]! : 0)) & (COMMON_STRINGS_SLOTS - 1);
    const known = commonStrings[slot];
    if (known !== undefined && known.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) if (known.charCodeAt(i) !== buf[start + 1 + i]) { same = false; break; }
      if (same) { this.pos = start + 1 + n; return known; }
    }
    const s = this.str()!;
    commonStrings[slot] = s;
    return s;
  }
}

/** Slots of Reader#commonStr's table (a power of two): far more than a program's tiers. */
const COMMON_STRINGS_SLOTS = 64;
const commonStrings: Array<string | undefined> = new Array(COMMON_STRINGS_SLOTS).fill(undefined);

/** Appends one entry to `w`; `keyIndex` is its key id's index (engine/shard/key-ids.ts), -1 for none. */
export function writeEntry(w: Writer, e: StoredEntry, keyIndex = -1): void {
  w.reserve(ENTRY_BYTES_MAX);
  w.u8(KIND_INDEX.get(e.kind)!);
  w.int(e.at);
  w.int(e.prev);
  w.int(e.cause ?? -1);
  w.int(e.pointsDelta);
  w.int(e.growthDelta);
  w.int(e.walletDeltaCents);
  w.int(e.spendDeltaCents);
  w.str(e.memberId);
  w.str(e.ref);
  w.str(e.tierId);
  writeEntryExtras(w, e, keyIndex);
}

export function decodeEntry(buf: Uint8Array): StoredEntry {
  const r = new Reader(buf);
  const kind = LEDGER_KINDS[r.u8()]!;
  const at = r.int();
  const prev = r.int();
  const cause = r.int();
  const pointsDelta = r.int();
  const growthDelta = r.int();
  const walletDeltaCents = r.int();
  const spendDeltaCents = r.int();
  const memberId = r.str()!;
  const ref = r.str()!;
  const tierId = r.str();
  const e: StoredEntry = { kind, at, prev, cause: cause === -1 ? null : cause, pointsDelta, growthDelta, walletDeltaCents, spendDeltaCents, memberId, ref, tierId, pendingDelta: 0 };
  if (r.pos < buf.length) readEntryExtras(r, buf.length, e);
  return e;
}


const stateWriter = new Writer(16 * 10 + 4 * 256 + 64 * 30);

/** A state's bytes, as a view that the next call overwrites (Writer#view): put them, or copy them. */
export function encodeState(s: HotState): Buffer {
  const w = stateWriter.reset();
  w.int(s.periodStart);
  w.int(s.periodEnd ?? -1);
  w.int(s.periodMetric);
  w.int(s.points);
  w.int(s.growth);
  w.int(s.walletCents);
  w.int(s.lifetimeSpendCents);
  w.int(s.purchaseCount);
  w.int(s.firstPurchaseAt ?? -1);
  w.int(s.lastPurchaseAt ?? -1);
  w.int(s.lastSeq);
  w.int(s.standingOrders);
  w.u8(s.birthdayMonth);
  w.u8(s.birthdayDay);
  w.int(s.lastBirthdayYear);
  w.int(s.nextDue);
  w.str(s.tierId);
  w.str(s.periodStartTierId);
  w.u8(s.referralChain.length);
  for (const id of s.referralChain) w.str(id);
  w.reserve(4 + s.grants.length * 30);
  w.int(s.grants.length);
  for (const g of s.grants) { w.int(g.id); w.int(g.expiresAt); w.int(g.remaining); }
  // Pending points, the grants given their expiry notice and an erased member's erasure time come
  // last, each only when it or a later one is there: a state without them is what was written before
  // they existed, and reads back the same.
  const notices = s.expiryNotices.length > 0 || s.erasedAt !== undefined;
  if (s.pending.length > 0 || notices) {
    w.reserve(4 + s.pending.length * (40 + 256));
    w.int(s.pending.length);
    for (const p of s.pending) { w.int(p.id); w.int(p.activatesAt); w.int(p.points); w.int(p.growth); w.str(p.orderId); }
  }
  if (notices) {
    w.reserve(10 + s.expiryNotices.length * 10);
    w.int(s.expiryNotices.length);
    for (const id of s.expiryNotices) w.int(id);
  }
  if (s.erasedAt !== undefined) { w.reserve(10); w.int(s.erasedAt); }
  return w.view();
}

export function decodeState(buf: Uint8Array): HotState {
  const r = new Reader(buf);
  const periodStart = r.int();
  const periodEnd = r.int();
  const periodMetric = r.int();
  const points = r.int();
  const growth = r.int();
  const walletCents = r.int();
  const lifetimeSpendCents = r.int();
  const purchaseCount = r.int();
  const firstPurchaseAt = r.int();
  const lastPurchaseAt = r.int();
  const lastSeq = r.int();
  const standingOrders = r.int();
  const birthdayMonth = r.u8();
  const birthdayDay = r.u8();
  const lastBirthdayYear = r.int();
  const nextDue = r.int();
  const tierId = r.commonStr();
  const periodStartTierId = r.commonStr();
  const chainLength = r.u8();
  const referralChain: string[] = [];
  for (let i = 0; i < chainLength; i++) referralChain.push(r.str()!);
  const grantCount = r.int();
  const grants: Grant[] = [];
  for (let i = 0; i < grantCount; i++) grants.push({ id: r.int(), expiresAt: r.int(), remaining: r.int() });
  const pending: PendingPoints[] = [];
  if (r.pos < buf.length) {
    const pendingCount = r.int();
    for (let i = 0; i < pendingCount; i++) pending.push({ id: r.int(), activatesAt: r.int(), points: r.int(), growth: r.int(), orderId: r.str()! });
  }
  const expiryNotices: number[] = [];
  if (r.pos < buf.length) {
    const noticeCount = r.int();
    for (let i = 0; i < noticeCount; i++) expiryNotices.push(r.int());
  }
  const erasedAt = r.pos < buf.length ? r.int() : undefined;
  const state: HotState = {
    periodStart, periodEnd: periodEnd === -1 ? null : periodEnd, periodMetric, points, growth,
    walletCents, lifetimeSpendCents, purchaseCount,
    firstPurchaseAt: firstPurchaseAt === -1 ? null : firstPurchaseAt,
    lastPurchaseAt: lastPurchaseAt === -1 ? null : lastPurchaseAt,
    lastSeq, standingOrders, birthdayMonth, birthdayDay, lastBirthdayYear, nextDue, tierId, periodStartTierId, referralChain, grants, pending, expiryNotices,
  };
  if (erasedAt !== undefined) state.erasedAt = erasedAt;
  return state;
}
