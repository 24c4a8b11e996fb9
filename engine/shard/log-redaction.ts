// How an erasure takes a member's personal data out of the batch log (docs/rules.md §15): the
// registrations, profile patches and imported rows that carried it are found through the member's
// own index of log sequences (MemberProfile.logSeqs, written when such an op commits), and their
// personal values are rewritten in place, inside the erasure's transaction.
//
// A redacted value must replay to exactly what the original did, so that every checksum
// (BatchDigest) and the books stay the same: the digest covers the member states written, and a
// patch's `member_update` entry names the fields whose value changed. So each value becomes a
// placeholder that keeps only what the rules read: equal values stay equal and different ones
// different (a per-member ordinal, `erased:<memberId>:<field>:<n>`), and a birthday keeps its month
// and day, which decide the birthday gifts, with the ordinal in place of its year (`0001-03-04`).
// Redacting an entry already redacted gives the same bytes, so a replay's own erasure rewrites its
// copy of the log to exactly the live one.
//
// In cluster mode the stream keeps an entry as it was appended, so a copy's redacted entry is
// compared with the stream's message by `sameLogEntry`: the same entry is the message itself, or
// the message with the copy's placeholders in the places an erasure writes them.
import { PROFILE_FIELDS, type WriteOp } from '../ops.js';
import { decodeLogHeader, decodeLogValue, LOG_HEADER_BYTES, LogFormatError, packTask, sealLogValue, type LoggedTask } from './batch-log.js';
import type { ShardStore } from './store.js';

/** The profile fields that are personal data, removed by an erasure; store, channel and staff stay. */
export const PERSONAL_FIELDS = ['name', 'phone', 'email', 'birthday', 'gender', 'address'] as const satisfies ReadonlyArray<typeof PROFILE_FIELDS[number]>;
type PersonalField = typeof PERSONAL_FIELDS[number];

/** Whether an op (or imported row as its op) carries any personal field. */
export function carriesPersonalData(op: Partial<Record<PersonalField, unknown>>): boolean {
  for (const f of PERSONAL_FIELDS) if (op[f] !== undefined && op[f] !== null) return true;
  return false;
}

/** The placeholders of one member's values, numbered in the order the log first shows them. */
export class Placeholders {
  private readonly seen = new Map<string, string>();

  constructor(private readonly memberId: string) {}

  of(field: PersonalField, value: string): string {
    const key = `${field}\u0000${value}`;
    let out = this.seen.get(key);
    if (out === undefined) {
      let n = 1;
      for (const k of this.seen.keys()) if (k.startsWith(`${field}\u0000`)) n += 1;
      out = field === 'birthday' ? `${String(n).padStart(4, '0')}${value.slice(4)}` : `erased:${this.memberId}:${field}:${n}`;
      this.seen.set(key, out);
    }
    return out;
  }
}

/** The op with its personal values replaced, or the op itself when it is not this member's register or patch. */
function redactOp(op: WriteOp, memberId: string, names: Placeholders): WriteOp {
  if ((op.op !== 'register' && op.op !== 'patch') || op.memberId !== memberId) return op;
  const out = { ...op } as Record<string, unknown>;
  for (const f of PERSONAL_FIELDS) {
    const v = out[f];
    if (typeof v === 'string') out[f] = names.of(f, v);
  }
  return out as unknown as WriteOp;
}

/** The task with `memberId`'s personal values replaced by `names`' placeholders. */
export function redactTask(task: LoggedTask, memberId: string, names: Placeholders): LoggedTask {
  if (task.kind === 'batch') return { kind: 'batch', ops: task.ops.map((op) => redactOp(op, memberId, names)) };
  if (task.kind !== 'import') return task;
  const rows = task.rows;
  for (let i = 0; i < rows.memberId.length; i++) {
    if (rows.memberId[i] !== memberId) continue;
    for (const f of PERSONAL_FIELDS) {
      const column = rows.profile[f];
      const v = column[i];
      if (typeof v === 'string') column[i] = names.of(f, v);
    }
  }
  return task;
}

/**
 * Rewrites the log entries `seqs` (in order) with `memberId`'s personal values replaced, inside the
 * caller's write transaction; entries trimmed from the log are gone already, and the entry of the
 * batch running now is not written yet (the machine redacts it with the placeholders answered,
 * engine/shard/machine.ts). Answers the placeholders given.
 */
export function redactMemberLog(store: ShardStore, memberId: string, seqs: readonly number[]): Placeholders {
  const names = new Placeholders(memberId);
  for (const seq of seqs) {
    const stored = store.log.getBinary(seq);
    if (stored === undefined) continue;
    const header = decodeLogHeader(stored);
    const task = redactTask(decodeLogValue(seq, stored).task, memberId, names);
    store.log.putSync(seq, sealLogValue(packTask(task), header));
  }
  return names;
}

/** A member erased by the batch running now, whose own ops in that batch its log entry must not keep. */
export interface PendingRedaction { memberId: string; names: Placeholders }

/** Whether `value` is a placeholder an erasure of `memberId` writes for `field` in place of `original`. */
function isPlaceholder(memberId: string, field: PersonalField, value: string, original: string): boolean {
  if (field === 'birthday') return /^[0-9]{4}$/.test(value.slice(0, 4)) && value.length === original.length && value.slice(4) === original.slice(4);
  const prefix = `erased:${memberId}:${field}:`;
  return value.startsWith(prefix) && /^[1-9][0-9]*$/.test(value.slice(prefix.length));
}

/**
 * Puts into `original` (a decoded task, changed in place) the copy's placeholders where an erasure
 * of an erased member wrote them: the personal fields of that member's registrations and patches,
 * and of its imported rows, at the same op or row. Every other value stays the original's.
 */
function takePlaceholders(original: LoggedTask, copy: LoggedTask, erased: (memberId: string) => boolean): void {
  const take = (memberId: string, f: PersonalField, theirs: unknown, mine: unknown): boolean =>
    typeof theirs === 'string' && typeof mine === 'string' && theirs !== mine && erased(memberId) && isPlaceholder(memberId, f, mine, theirs);
  if (original.kind === 'batch' && copy.kind === 'batch') {
    original.ops.forEach((op, i) => {
      const other = copy.ops[i];
      if ((op.op !== 'register' && op.op !== 'patch') || other === undefined || other.op !== op.op || other.memberId !== op.memberId) return;
      const theirs = op as unknown as Record<string, unknown>;
      const mine = other as unknown as Record<string, unknown>;
      for (const f of PERSONAL_FIELDS) if (take(op.memberId, f, theirs[f], mine[f])) theirs[f] = mine[f];
    });
  } else if (original.kind === 'import' && copy.kind === 'import') {
    const theirs = original.rows;
    const mine = copy.rows;
    for (let i = 0; i < theirs.memberId.length; i++) {
      const memberId = theirs.memberId[i]!;
      if (mine.memberId[i] !== memberId) continue;
      for (const f of PERSONAL_FIELDS) if (take(memberId, f, theirs.profile[f][i], mine.profile[f]?.[i])) theirs.profile[f][i] = mine.profile[f][i]!;
    }
  }
}

/**
 * Whether the copy's log entry `seq` (`copy`) is the entry the stream holds at its place
 * (`streamed`), once erasures exist: the stream's messages cannot be rewritten, so an erasure in
 * this copy leaves its entry different from the message that carried it. The same entry is the
 * message byte for byte, or the message with the copy's placeholders put in the places an erasure
 * writes them (the personal fields of a registration, patch or imported row of a member this copy
 * holds as erased, where the copy's value has that member's placeholder form) and then packed as
 * an erasure packs it: byte for byte the copy's entry. The header is compared whole (kind, ops,
 * program version, commit time and the checksum of what the batch produced) and every other value
 * of the payload too, so two different batches at one sequence still differ.
 */
export function sameLogEntry(store: ShardStore, seq: number, copy: Uint8Array, streamed: Uint8Array): boolean {
  if (Buffer.compare(copy, streamed) === 0) return true;
  if (copy.length < LOG_HEADER_BYTES || streamed.length < LOG_HEADER_BYTES) return false;
  if (Buffer.compare(copy.subarray(0, LOG_HEADER_BYTES), streamed.subarray(0, LOG_HEADER_BYTES)) !== 0) return false;
  let original: LoggedTask;
  let mine: LoggedTask;
  try {
    original = decodeLogValue(seq, streamed).task;
    mine = decodeLogValue(seq, copy).task;
  } catch (err) {
    if (err instanceof LogFormatError) return false;
    throw err;
  }
  takePlaceholders(original, mine, (memberId) => store.members.get(memberId)?.erasedAt !== undefined);
  return Buffer.compare(sealLogValue(packTask(original), decodeLogHeader(streamed)), copy) === 0;
}
