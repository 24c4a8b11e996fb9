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
import { PROFILE_FIELDS, type WriteOp } from '../ops.js';
import { decodeLogHeader, decodeLogValue, packTask, sealLogValue, type LoggedTask } from './batch-log.js';
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

