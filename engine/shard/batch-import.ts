// The bulk import's op family: a batch of lean registrations without a referrer, as columns
// (engine/import-rows.ts), each written as the general path would write it (the same entry, grant,
// indexes, state and totals) without the core, which a registration does not use, and without
// the per-op machinery of mixed batches.
import type { OpResult } from '../ops.js';
import { importRowCount, importRowOp, type ImportRows } from '../import-rows.js';
import { conflictCode, MEMBER_KEY_PREFIX, storedKey } from './batch-keys.js';
import { finishRegister, newMember, registerProblem } from './batch-members.js';
import { copyState, fail, type BatchMember, type BatchScope } from './batch-scope.js';

/**
 * An imported row registered exactly as sent: the member holds the row's id, phone and email. One
 * object for every such row, so a batch's answer clones as one object and back-references.
 */
export const IMPORTED_AS_SENT: OpResult = Object.freeze({ ok: true, asSent: true, replayed: false });

/**
 * Registers the rows. A row keyed by its memberId keeps its fingerprint in the profile rather than
 * under a separate key: the member's existence already says the key was used.
 */
export function importRows(b: BatchScope, rows: ImportRows): OpResult[] {
  const { store } = b;
  const count = importRowCount(rows);
  const results: OpResult[] = new Array(count);
  const batchKeys = new Map<string, { fp: number; index: number }>();
  const created = new Set<string>();
  for (let i = 0; i < count; i++) {
    const op = importRowOp(rows, i);
    const earlier = batchKeys.get(op.key);
    if (earlier !== undefined) {
      const first = results[earlier.index]!;
      results[i] = earlier.fp !== op.fp ? fail(conflictCode(op)) : first.ok ? { ...first, replayed: true } : first;
      continue;
    }
    batchKeys.set(op.key, { fp: op.fp, index: i });
    const exists = created.has(op.memberId) || store.states.getBinaryFast(op.memberId) !== undefined;
    // A memberId key can only have been used if the member exists; a requestId key is looked up.
    const stored = exists || !op.key.startsWith(MEMBER_KEY_PREFIX) ? storedKey(store, op) : undefined;
    if (stored !== undefined) {
      results[i] = stored.fp === op.fp ? { ok: true, ...stored.res, replayed: true } : fail(conflictCode(op));
      continue;
    }
    const problem = registerProblem(b.ctx, op, exists);
    if (problem !== null) { results[i] = { ok: false, error: problem }; continue; }
    const { state, profile } = newMember(b.ctx, op);
    // Not attached to a core slot: an imported registration never reaches the core.
    const m: BatchMember = { memberId: op.memberId, created: true, state, profile, profileDirty: true, slot: -1, running: copyState(state), dueMs: Number.NaN, queued: false };
    created.add(op.memberId);
    finishRegister(b, op, m);
    if (op.key.startsWith(MEMBER_KEY_PREFIX)) profile.fp = op.fp;
    else store.keys.putSync(op.key, { fp: op.fp, res: { memberId: op.memberId, phone: op.phone ?? null, email: op.email ?? null } });
    b.writeMember(m);
    results[i] = IMPORTED_AS_SENT;
  }
  b.close();
  return results;
}
