// The shard's batch log: one value per committed batch, written in the batch's own LMDB
// transaction, holding the task exactly as the executor received it (client ops with their
// server-assigned times, generated ids and directory verdicts; imported rows; a sweep slice's
// moment; a program change; delivered outbox messages; in cluster mode, a new owner's takeover)
// and a checksum of what it produced. The log
// alone determines the shard's books: replaying it from empty (engine/shard/replay.ts) through the
// same executor reproduces every database, and the checksums say at which batch a replay diverged.
//
// A value is a fixed 26-byte header followed by the task's payload:
//
//   offset  size  field
//        0     1  format (LOG_FORMAT)
//        1     1  kind (LOG_KIND_CODES)
//        2     4  ops: client write ops or imported rows in the task (u32; 0 for the controls)
//        6     4  program version the task ran under (u32; 0 before the first program)
//       10     8  committedAtMs: the shard's clock when it committed (f64)
//       18     8  checksum: the first 8 bytes of SHA-256 over what the batch produced (BatchDigest)
//       26     …  payload: a batch's ops as log-ops.ts lays them out (purchases field by field,
//                 the rest in msgpack); the other kinds in msgpack: rows | [asOfMs, limit] |
//                 [version, program, atMs, record] | outSeqs | [atMs, after, limit] | [term, nodeId]
//
// committedAtMs is a record of when, never an input of the execution: point-in-time recovery and
// `untilMs` stop on it, the executor never reads it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { RECORD_PACKR_OPTIONS } from '../batch-records.js';
import type { Transaction } from 'lmdb';
import type { OpResult, WriteOp } from '../ops.js';
import type { OutboxMessage } from '../rules/member-state.js';
import { Writer } from './codec.js';
import { importRowCount, type ImportRows } from '../import-rows.js';
import { decodeOps, encodeOps } from './log-ops.js';
import type { ShardStore } from './store.js';

/** The layout version of a log value; a reader refuses any other. */
export const LOG_FORMAT = 1;
export const LOG_HEADER_BYTES = 26;
export const LOG_CHECKSUM_BYTES = 8;

/** What a shard commits, as it is logged and replayed. */
export type LoggedTask =
  | { kind: 'batch'; ops: WriteOp[] }
  | { kind: 'import'; rows: ImportRows }
  | { kind: 'sweep'; asOfMs: number; limit: number; newCodes?: string[] }
  | { kind: 'program'; version: number; program: unknown; atMs: number; record: boolean; by?: string }
  | { kind: 'outboxDone'; outSeqs: number[] }
  | { kind: 'settle'; atMs: number; after: string | null; limit: number }
  // In cluster mode, the first entry a new owner appends at its takeover (docs/cluster.md,
  // "Ownership"): the owner record's term and the node's id. It changes no books; it is the append
  // that decides the takeover against a stale owner, and shows each hand-over in the log.
  | { kind: 'term'; term: number; nodeId: string };
export type LoggedKind = LoggedTask['kind'];

/** Kind codes on disk: append only, a code never changes meaning. */
export const LOG_KIND_CODES: Record<LoggedKind, number> = { batch: 1, import: 2, sweep: 3, program: 4, outboxDone: 5, settle: 6, term: 7 };
const KIND_OF_CODE = new Map<number, LoggedKind>(Object.entries(LOG_KIND_CODES).map(([k, c]) => [c, k as LoggedKind]));

/** The header of a log value: everything but the payload, readable without decoding it. */
export interface LogHeader {
  kind: LoggedKind;
  ops: number;
  programVersion: number;
  committedAtMs: number;
  checksum: Uint8Array;
}

/** One log entry, decoded. */
export interface LogRecord extends LogHeader {
  /** The entry's log sequence: 1, 2, 3, … per shard, never reused. */
  seq: number;
  task: LoggedTask;
}

/** Where a shard's log stands, kept in meta under `log`: the last sequence written and the ops the log holds. */
export interface LogPosition { seq: number; ops: number }
export const LOG_META_KEY = 'log';

// Records make each op shape's field names appear once per value rather than once per op; without
// shared structures each value carries its own definitions, so any value decodes alone, whatever
// was written before it. The options are the thread hand-over's (engine/batch-records.ts).
const packr = new Packr(RECORD_PACKR_OPTIONS);

/** The ops (or imported rows) a task carries: what bytes per op is measured against. */
export function opsOf(task: LoggedTask): number {
  return task.kind === 'batch' ? task.ops.length : task.kind === 'import' ? importRowCount(task.rows) : 0;
}

function payloadOf(task: Exclude<LoggedTask, { kind: 'batch' }>): unknown {
  switch (task.kind) {
    case 'import': return task.rows;
    // Codes for birthday coupons (ops.ts CouponSupply) only when the router supplied some: older entries are two items.
    case 'sweep': return task.newCodes === undefined || task.newCodes.length === 0 ? [task.asOfMs, task.limit] : [task.asOfMs, task.limit, task.newCodes];
    // The key id came later: a change logged before it has four elements.
    case 'program': return task.by === undefined ? [task.version, task.program, task.atMs, task.record] : [task.version, task.program, task.atMs, task.record, task.by];
    case 'outboxDone': return task.outSeqs;
    case 'settle': return [task.atMs, task.after, task.limit];
    case 'term': return [task.term, task.nodeId];
  }
}

function taskOf(kind: LoggedKind, payload: unknown): LoggedTask {
  switch (kind) {
    case 'batch': return { kind, ops: payload as WriteOp[] };
    case 'import': return { kind, rows: payload as ImportRows };
    case 'sweep': {
      const [asOfMs, limit, newCodes] = payload as [number, number, string[] | undefined];
      return newCodes === undefined ? { kind, asOfMs, limit } : { kind, asOfMs, limit, newCodes };
    }
    case 'program': {
      const [version, program, atMs, record, by] = payload as [number, unknown, number, boolean, string | undefined];
      return by === undefined ? { kind, version, program, atMs, record } : { kind, version, program, atMs, record, by };
    }
    case 'outboxDone': return { kind, outSeqs: payload as number[] };
    case 'settle': {
      const [atMs, after, limit] = payload as [number, string | null, number];
      return { kind, atMs, after, limit };
    }
    case 'term': {
      const [term, nodeId] = payload as [number, string];
      return { kind, term, nodeId };
    }
  }
}

/**
 * A log value with the task's payload packed and room left for the header (sealLogValue fills it
 * once the batch has run). Packed before the executor runs: the task exactly as it arrived.
 */
export function packTask(task: LoggedTask): Buffer {
  if (task.kind === 'batch') return encodeOps(task.ops, LOG_HEADER_BYTES, packr);
  return packr.pack(payloadOf(task), RESERVE_START_SPACE | LOG_HEADER_BYTES);
}

/** Writes the header into a value made by packTask, and returns the value. */
export function sealLogValue(value: Buffer, header: LogHeader): Buffer {
  assert.equal(header.checksum.length, LOG_CHECKSUM_BYTES, 'a log checksum is 8 bytes');
  assert.ok(value.length >= LOG_HEADER_BYTES, 'a log value has room for its header');
  value[0] = LOG_FORMAT;
  value[1] = LOG_KIND_CODES[header.kind];
  value.writeUInt32LE(header.ops, 2);
  value.writeUInt32LE(header.programVersion, 6);
  value.writeDoubleLE(header.committedAtMs, 10);
  value.set(header.checksum, 18);
  return value;
}

/** What a `term` entry answers, and so what its checksum covers: it writes nothing but its log entry. */
export function termReply(task: Extract<LoggedTask, { kind: 'term' }>): { term: number; nodeId: string } {
  return { term: task.term, nodeId: task.nodeId };
}

/**
 * The sealed value of a `term` entry, made without running it: it writes no member state and no
 * ledger entry, so its checksum is its reply's (termReply), as the machine computes it when it runs
 * the entry (engine/shard/machine.ts). A new owner appends this value to the stream before its copy
 * commits it (engine/shard/replicator.ts), and the copy then commits it through the replay, which
 * checks that checksum.
 */
export function termLogValue(term: number, nodeId: string, programVersion: number, committedAtMs: number): Buffer {
  const task = { kind: 'term' as const, term, nodeId };
  const digest = new BatchDigest();
  digest.begin();
  const checksum = digest.finish(termReply(task), undefined);
  return sealLogValue(packTask(task), { kind: 'term', ops: 0, programVersion, committedAtMs, checksum });
}

/** A log value that cannot be read: a corrupted entry, or a format this code does not know. */
export class LogFormatError extends Error {}

/** The header of a log value, without decoding its payload. */
export function decodeLogHeader(value: Uint8Array): LogHeader {
  if (value.length < LOG_HEADER_BYTES) throw new LogFormatError(`a log value of ${value.length} bytes is shorter than its header`);
  if (value[0] !== LOG_FORMAT) throw new LogFormatError(`log format ${value[0]} is not ${LOG_FORMAT}`);
  const kind = KIND_OF_CODE.get(value[1]!);
  if (kind === undefined) throw new LogFormatError(`unknown log kind ${value[1]}`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return {
    kind,
    ops: view.getUint32(2, true),
    programVersion: view.getUint32(6, true),
    committedAtMs: view.getFloat64(10, true),
    checksum: Uint8Array.prototype.slice.call(value, 18, 18 + LOG_CHECKSUM_BYTES),
  };
}

/** A whole log value: header and task. */
export function decodeLogValue(seq: number, value: Uint8Array): LogRecord {
  const header = decodeLogHeader(value);
  let payload: unknown;
  try {
    const bytes = value.subarray(LOG_HEADER_BYTES);
    payload = header.kind === 'batch' ? decodeOps(bytes, packr) : packr.unpack(bytes);
  } catch (err) {
    throw new LogFormatError(`the payload of log entry ${seq} does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { ...header, seq, task: taskOf(header.kind, payload) };
}

/**
 * What a batch produced, gathered for its checksum: what each op answered (ok, a replay, or the
 * error code), every member state it wrote (engine/shard/store.ts putState tells it), the outbox
 * messages it wrote, a control's reply, and the ledger value it appended. An answer's figures are
 * read from the state it wrote, so these cover the answers without encoding each one (which cost
 * more than the rest of the log together: about 4 µs per purchase, measured with bench/log.ts).
 * Two runs of the same task on the same state give the same 8 bytes; a replay that answers,
 * books or sends anything differently gives others.
 */
export class BatchDigest {
  private readonly w = new Writer(64 * 1024);

  /** Starts a batch: forgets the previous one. */
  begin(): void {
    this.w.reset();
  }

  /** A member state the batch wrote, as stored. */
  state(memberId: string, bytes: Uint8Array): void {
    const w = this.w;
    text(w, memberId);
    w.reserve(10 + bytes.length);
    w.int(bytes.length);
    w.buf.set(bytes, w.pos);
    w.pos += bytes.length;
  }

  /** The checksum of the batch: its reply (results and outbox, or a control's answer) with what it wrote. */
  finish(reply: unknown, ledgerValue: Uint8Array | undefined): Uint8Array {
    const w = this.w;
    const r = reply as { results?: OpResult[]; outbox?: Array<[number, OutboxMessage]> };
    if (r.results !== undefined && r.outbox !== undefined) {
      for (const result of r.results) {
        w.reserve(1);
        if (result.ok) w.u8(result['replayed'] === true ? 1 : 0);
        else { w.u8(2); text(w, result.error.code); }
      }
      value(w, r.outbox);
    } else {
      value(w, reply);
    }
    const hash = createHash('sha256').update(w.buf.subarray(0, w.pos));
    if (ledgerValue !== undefined) hash.update(ledgerValue);
    return hash.digest().subarray(0, LOG_CHECKSUM_BYTES);
  }
}

/** Any text, as UTF-8 ended by 0xff, a byte UTF-8 never uses. */
function text(w: Writer, s: string): void {
  const n = s.length;
  w.reserve(3 * n + 1);
  // Ids are ASCII, whose UTF-8 is one byte per char: copied by a loop, faster than Buffer#write for short text.
  const buf = w.buf;
  let pos = w.pos;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) { pos = w.pos + buf.write(s, w.pos, 'utf8'); break; }
    buf[pos++] = c;
  }
  w.pos = pos;
  w.u8(0xff);
}

/** A plain value (numbers, text, booleans, null, arrays, records), each with its type. */
function value(w: Writer, v: unknown): void {
  w.reserve(11);
  switch (typeof v) {
    case 'number':
      if (Number.isSafeInteger(v)) { w.u8(1); w.int(v); } else { w.u8(2); w.f64(v); }
      return;
    case 'string': w.u8(3); text(w, v); return;
    case 'boolean': w.u8(v ? 4 : 5); return;
    case 'undefined': w.u8(6); return;
    case 'object':
      if (v === null) { w.u8(7); return; }
      if (Array.isArray(v)) {
        w.u8(8);
        w.int(v.length);
        for (const item of v) value(w, item);
        return;
      }
      w.u8(9);
      for (const k in v) { text(w, k); value(w, (v as Record<string, unknown>)[k]); }
      w.reserve(1);
      w.u8(10);
      return;
    default:
      assert.fail(`a batch answered a ${typeof v}`);
  }
}

export function sameChecksum(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

export const checksumHex = (c: Uint8Array): string => Buffer.from(c).toString('hex');

/** The log's position as meta holds it (a shard that never logged is at 0). */
export function logPosition(store: ShardStore, transaction?: Transaction): LogPosition {
  const stored = store.meta.get(LOG_META_KEY, transaction === undefined ? undefined : { transaction }) as LogPosition | undefined;
  return stored ?? { seq: 0, ops: 0 };
}

/** The sequence of the log's first entry, or null when the log is empty (never written, or trimmed whole). */
export function firstLogSeq(store: ShardStore, transaction?: Transaction): number | null {
  for (const key of store.log.getKeys({ limit: 1, ...(transaction === undefined ? {} : { transaction }) })) return key;
  return null;
}

/** The raw log values from `fromSeq` (inclusive) to `toSeq` (inclusive), in order. */
export function* logValues(store: ShardStore, fromSeq = 1, toSeq = Number.MAX_SAFE_INTEGER, transaction?: Transaction): Generator<[number, Buffer]> {
  for (const { key, value } of store.log.getRange({ start: fromSeq, end: toSeq, inclusiveEnd: true, ...(transaction === undefined ? {} : { transaction }) })) {
    yield [key, value];
  }
}

/**
 * Appends one entry inside the caller's write transaction and moves the position. The position is
 * read here, not kept in memory, so that a `loyalty log trim` committed by another process between
 * two batches is seen by the next one.
 */
export function appendLogValue(store: ShardStore, value: Buffer, ops: number): number {
  const at = logPosition(store);
  const seq = at.seq + 1;
  store.log.putSync(seq, value, { append: true });
  store.meta.putSync(LOG_META_KEY, { seq, ops: at.ops + ops } satisfies LogPosition);
  return seq;
}
