// The optional tail of an encoded ledger entry (codec.ts): fields only a few kinds carry, each as a
// tag and a zigzag varint after the fixed part, so that every other entry stays exactly as long as
// before and entries written before the tail existed read the same. A count card's `usesDelta` and a
// restock's `stockDelta` (docs/rules.md §14) and a change of pending points, `pendingDelta` (§13.5,
// present on every entry as a number, written only when it is not 0), live here, and so do the
// index of the API key id that caused the entry (engine/shard/key-ids.ts) and an adjustment's
// reason (a varint byte length and its UTF-8 bytes).
import assert from 'node:assert/strict';
import type { StoredEntry } from '../ops.js';
import type { Reader, Writer } from './codec.js';

const TAG_USES_DELTA = 1;
const TAG_STOCK_DELTA = 2;
const TAG_PENDING_DELTA = 3;
const TAG_KEY_INDEX = 4;
const TAG_REASON = 5;
// A notice's points and their expiry (points_expiring). Numbered apart from the first tags so that
// fields added beside them in the same release do not collide.
const TAG_EXPIRING_POINTS = 16;
const TAG_EXPIRES_AT_MS = 17;
/** One tagged field: its tag byte and a varint of at most 10 bytes. */
const EXTRA_BYTES_MAX = 11;

/** Appends the entry's optional fields, when it has any; `keyIndex` is -1 for an entry without a key id. */
export function writeEntryExtras(w: Writer, e: StoredEntry, keyIndex: number): void {
  if (e.usesDelta !== undefined) { w.reserve(EXTRA_BYTES_MAX); w.u8(TAG_USES_DELTA); w.int(e.usesDelta); }
  if (e.stockDelta !== undefined) { w.reserve(EXTRA_BYTES_MAX); w.u8(TAG_STOCK_DELTA); w.int(e.stockDelta); }
  if (e.pendingDelta !== 0) { w.reserve(EXTRA_BYTES_MAX); w.u8(TAG_PENDING_DELTA); w.int(e.pendingDelta); }
  if (keyIndex >= 0) { w.reserve(EXTRA_BYTES_MAX); w.u8(TAG_KEY_INDEX); w.int(keyIndex); }
  if (e.reason !== undefined) {
    const bytes = Buffer.from(e.reason, 'utf8');
    w.reserve(EXTRA_BYTES_MAX + bytes.length);
    w.u8(TAG_REASON);
    w.int(bytes.length);
    w.buf.set(bytes, w.pos);
    w.pos += bytes.length;
  }
  if (e.expiringPoints !== undefined) { w.reserve(EXTRA_BYTES_MAX); w.u8(TAG_EXPIRING_POINTS); w.int(e.expiringPoints); }
  if (e.expiresAtMs !== undefined) { w.reserve(EXTRA_BYTES_MAX); w.u8(TAG_EXPIRES_AT_MS); w.int(e.expiresAtMs); }
}

/** Reads the optional fields between the reader's position and `end` (the entry's last byte) into `e` (whose pendingDelta is 0 until read). */
export function readEntryExtras(r: Reader, end: number, e: StoredEntry): void {
  while (r.pos < end) {
    const tag = r.u8();
    const value = r.int();
    if (tag === TAG_USES_DELTA) e.usesDelta = value;
    else if (tag === TAG_STOCK_DELTA) e.stockDelta = value;
    else if (tag === TAG_PENDING_DELTA) e.pendingDelta = value;
    else if (tag === TAG_KEY_INDEX) e.keyIndex = value;
    else if (tag === TAG_REASON) { e.reason = Buffer.from(r.buf.subarray(r.pos, r.pos + value)).toString('utf8'); r.pos += value; }
    else if (tag === TAG_EXPIRING_POINTS) e.expiringPoints = value;
    else if (tag === TAG_EXPIRES_AT_MS) e.expiresAtMs = value;
    else assert.fail(`unknown ledger entry field tag ${tag}`);
  }
}
