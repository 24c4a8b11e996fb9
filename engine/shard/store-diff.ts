// Compares two shard stores database by database, key by key, value bytes against value bytes:
// the replay check's proof that a shard rebuilt from its log is the live one. Keys and values are
// read raw (LMDB orders keys by their bytes, so both sides walk in the same order); only the
// differences are decoded, to show them. Order records are the one exception: they have two
// encodings (engine/shard/order-codec.ts, and msgpack records written before it), so a live
// folder written by an older build replays into other bytes with the same content; two order
// values whose bytes differ are decoded and compared field by field.
import * as lmdb from 'lmdb';
import type { Database, Key, Transaction } from 'lmdb';
import { decodeState } from './codec.js';
import { decodeOrder, isBinaryOrder } from './order-codec.js';
import { decodeLogHeader, LOG_META_KEY, logPosition, checksumHex } from './batch-log.js';
import { SHARD_DATABASES, type ShardDatabaseName, type ShardStore } from './store.js';

/** One key whose value differs, or that only one side has. */
export interface StoreDifference {
  db: ShardDatabaseName;
  key: string;
  /** The value on each side, decoded where possible; null where that side has no such key. */
  live: unknown;
  replayed: unknown;
}

export interface StoreDiff {
  /** Entries compared per database (the union of both sides' keys). */
  entries: Record<string, number>;
  /** How many keys differ in all. */
  differenceCount: number;
  /** The first differences, in database then key order. */
  differences: StoreDifference[];
}

/** A shard's databases opened raw (keys and values as bytes), one handle per database. */
export type RawDatabases = ReadonlyArray<Database<Buffer, Buffer>>;

export interface DiffOptions {
  /**
   * The live store read in a read transaction: a consistent snapshot of a shard that is being
   * written. Its raw handles must be opened (openRawDatabases) before the transaction is taken,
   * because lmdb-js renews the environment's read transaction when it opens a database.
   */
  liveSnapshot?: { raw: RawDatabases; transaction: Transaction };
  /** Differences listed at most (all are counted). */
  listedMax: number;
  /**
   * The first log entry the live store still has: a trimmed log is compared from there on (a
   * replay that started from a backup holds the backup's older entries too).
   */
  logFromSeq?: number;
}

/**
 * Meta keys that are bookkeeping of the log itself, not of the books: the log position holds the
 * count of ops still in the log, which a trim lowers. Its sequence is compared on its own.
 */
const META_KEYS_SKIPPED = new Set([LOG_META_KEY]);

// lmdb-js exports ordered-binary's key decoder at run time; its typings leave it out.
const bufferToKeyValue = (lmdb as unknown as { bufferToKeyValue: (b: Buffer) => Key }).bufferToKeyValue;

function keyOf(raw: Buffer): Key | null {
  try {
    return bufferToKeyValue(raw);
  } catch {
    return null;
  }
}

function keyText(raw: Buffer): string {
  const key = keyOf(raw);
  if (key === null || typeof key === 'symbol') return `0x${raw.toString('hex')}`;
  return typeof key === 'string' ? key : JSON.stringify(key);
}

const SHOWN_CHARS_MAX = 400;

function shown(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text !== undefined && text.length > SHOWN_CHARS_MAX ? `${text.slice(0, SHOWN_CHARS_MAX)}…` : value;
}

/** An order value decoded from its bytes: the binary form by its codec, an older msgpack record by the store's msgpack handle. */
function orderOf(store: ShardStore, rawKey: Buffer, rawValue: Buffer, transaction?: Transaction): unknown {
  if (isBinaryOrder(rawValue)) return decodeOrder(rawValue);
  const key = keyOf(rawKey);
  if (typeof key !== 'string') throw new Error(`an order keyed by ${keyText(rawKey)}`);
  return store.legacyOrders.get(key, transaction === undefined ? undefined : { transaction });
}

/** Two decoded values equal field by field, in the same field order, numbers by Object.is. */
function sameContent(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  if (aKeys.length !== bKeys.length) return false;
  for (let i = 0; i < aKeys.length; i++) {
    const k = aKeys[i]!;
    if (k !== bKeys[i] || !sameContent((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Whether two order values hold the same record, whatever their encodings (a value that does not decode is only equal to itself). */
function sameOrder(live: ShardStore, l: { key: Buffer; value: Buffer }, tx: Transaction, replayed: ShardStore, r: { key: Buffer; value: Buffer }, rtx: Transaction): boolean {
  try {
    return sameContent(orderOf(live, l.key, l.value, tx), orderOf(replayed, r.key, r.value, rtx));
  } catch {
    return false;
  }
}

/** A value as a person can read it: the database's own decoding where one applies, else its bytes. */
function describe(store: ShardStore, db: ShardDatabaseName, rawKey: Buffer, rawValue: Buffer, transaction?: Transaction): unknown {
  try {
    switch (db) {
      case 'states': return decodeState(rawValue);
      case 'ledger': return { bytes: rawValue.length, entries: rawValue.readUInt32LE(0) };
      case 'orders': return orderOf(store, rawKey, rawValue, transaction);
      case 'log': {
        const h = decodeLogHeader(rawValue);
        return { kind: h.kind, ops: h.ops, programVersion: h.programVersion, committedAt: new Date(h.committedAtMs).toISOString(), checksum: checksumHex(h.checksum), bytes: rawValue.length };
      }
      default: {
        const key = keyOf(rawKey);
        if (key !== null && typeof key !== 'symbol') {
          const typed = store[db] as Database<unknown, Key>;
          return typed.get(key, transaction === undefined ? undefined : { transaction });
        }
      }
    }
  } catch {
    // Shown as bytes below.
  }
  return { bytes: rawValue.length, hex: rawValue.subarray(0, 64).toString('hex') };
}

/** Every database of `store` read raw, in SHARD_DATABASES order. */
export function openRawDatabases(store: ShardStore): RawDatabases {
  return SHARD_DATABASES.map((name) => store.root.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary', cache: false, compression: false }));
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Two decoded values, cut to the fields that differ when both are records: what a reader needs to see. */
function changedFields(live: unknown, replayed: unknown): { live: unknown; replayed: unknown } {
  if (!isRecord(live) || !isRecord(replayed)) return { live: shown(live), replayed: shown(replayed) };
  const a: Record<string, unknown> = {};
  const b: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(live), ...Object.keys(replayed)])) {
    if (JSON.stringify(live[k]) === JSON.stringify(replayed[k])) continue;
    a[k] = shown(live[k]);
    b[k] = shown(replayed[k]);
  }
  // Equal when decoded, different as bytes (an encoding difference): show both whole.
  return Object.keys(a).length === 0 ? { live: shown(live), replayed: shown(replayed) } : { live: a, replayed: b };
}

function* rawEntries(raw: Database<Buffer, Buffer>, transaction: Transaction): Generator<{ key: Buffer; value: Buffer }> {
  for (const { key, value } of raw.getRange({ transaction })) {
    // Copies: the two sides are walked in step, and a range may reuse its buffers between steps.
    yield { key: Buffer.from(key), value: Buffer.from(value) };
  }
}

/** The differences between a live shard store and a replayed one. */
export function diffStores(live: ShardStore, replayed: ShardStore, options: DiffOptions): StoreDiff {
  const entries: Record<string, number> = {};
  const differences: StoreDifference[] = [];
  let differenceCount = 0;
  const note = (d: StoreDifference): void => {
    differenceCount += 1;
    if (differences.length < options.listedMax) differences.push(d);
  };
  // Both sides are read in one explicit read transaction each, taken after their raw handles are
  // opened; each walk stays on its snapshot while the other one advances.
  const liveRaw = options.liveSnapshot?.raw ?? openRawDatabases(live);
  const replayedRaw = openRawDatabases(replayed);
  const ownLive = options.liveSnapshot === undefined ? live.root.useReadTransaction() : null;
  const tx = options.liveSnapshot?.transaction ?? ownLive!;
  const rtx = replayed.root.useReadTransaction();
  try {
    SHARD_DATABASES.forEach((db, d) => {
      const skipped = (rawKey: Buffer): boolean => {
        if (db === 'meta') return META_KEYS_SKIPPED.has(keyText(rawKey));
        // The shared record definitions of msgpack orders: how older records were encoded, not what
        // they hold (each order is compared by content).
        if (db === 'orders') return typeof keyOf(rawKey) === 'symbol';
        if (db === 'log' && options.logFromSeq !== undefined) {
          const seq = keyOf(rawKey);
          return typeof seq === 'number' && seq < options.logFromSeq;
        }
        return false;
      };
      const a = rawEntries(liveRaw[d]!, tx);
      const b = rawEntries(replayedRaw[d]!, rtx);
      let x = a.next();
      let y = b.next();
      let count = 0;
      while (!x.done || !y.done) {
        if (!x.done && skipped(x.value.key)) { x = a.next(); continue; }
        if (!y.done && skipped(y.value.key)) { y = b.next(); continue; }
        count += 1;
        const order = x.done ? 1 : y.done ? -1 : Buffer.compare(x.value.key, y.value.key);
        if (order === 0) {
          const l = x.value!;
          const r = y.value!;
          if (!l.value.equals(r.value) && !(db === 'orders' && sameOrder(live, l, tx, replayed, r, rtx))) note({ db, key: keyText(l.key), ...changedFields(describe(live, db, l.key, l.value, tx), describe(replayed, db, r.key, r.value, rtx)) });
          x = a.next();
          y = b.next();
        } else if (order < 0) {
          const l = x.value!;
          note({ db, key: keyText(l.key), live: shown(describe(live, db, l.key, l.value, tx)), replayed: null });
          x = a.next();
        } else {
          const r = y.value!;
          note({ db, key: keyText(r.key), live: null, replayed: shown(describe(replayed, db, r.key, r.value, rtx)) });
          y = b.next();
        }
      }
      entries[db] = count;
    });
    const liveSeq = logPosition(live, tx).seq;
    const replayedSeq = logPosition(replayed, rtx).seq;
    if (liveSeq !== replayedSeq) note({ db: 'meta', key: `${LOG_META_KEY}.seq`, live: liveSeq, replayed: replayedSeq });
  } finally {
    rtx.done();
    ownLive?.done();
  }
  return { entries, differenceCount, differences };
}
