// What a program change does to the members a shard already holds: a member whose tier (or whose
// period's starting tier) the new program no longer has moves to its first tier, with a
// `downgrade` entry dated at the change, so that every op, the sweep and every view see the tier
// the member is treated as holding (README, "Program changes"); and every member's place in the
// sweep's due index is recomputed under the new program (its time zone moves birthdays). Runs in
// slices, before any batch runs under the new program.
import { decodeState } from './codec.js';
import type { Program } from '../rules/program-types.js';
import type { HotState } from '../rules/member-state.js';
import { nextDueOf } from '../rules/member-events.js';
import { copyState, entry, type BatchMember, type BatchScope } from './batch-scope.js';
import { SWEPT_TO_KEY } from './batch-sweep.js';

/** Whether members must be settled when `next` replaces `previous`: a tier id dropped, or the time zone moved. */
export function programNeedsSettling(previous: Program | null, next: Program): boolean {
  if (previous === null) return false;
  const kept = new Set(next.tiers.map((t) => t.id));
  return previous.timezone !== next.timezone || previous.tiers.some((t) => !kept.has(t.id));
}

/**
 * Settles at most `limit` members after `after` (null: from the first) as of the change at
 * `atMs`, and closes the scope. Returns the key to continue after, or null when every member is done.
 */
export function settleSlice(b: BatchScope, atMs: number, after: string | null, limit: number): string | null {
  const { ctx, store } = b;
  const found: Array<[string, HotState]> = [];
  let next: string | null = null;
  // Read first, write after: the range is not walked while its database changes.
  for (const { key, value } of store.states.getRange(after === null ? {} : { start: after })) {
    if (key === after) continue;
    const state = decodeState(value);
    if (ctx.tierIndex.has(state.tierId) && ctx.tierIndex.has(state.periodStartTierId) && state.nextDue === nextDueOf(ctx, state, state)) continue;
    found.push([key, state]);
    if (found.length >= limit) { next = key; break; }
  }
  const first = ctx.program.tiers[0]!.id;
  for (const [memberId, state] of found) {
    const m: BatchMember = { memberId, created: false, state, profile: null, profileDirty: false, slot: -1, running: copyState(state), dueMs: Number.NaN, queued: false };
    const r = m.running;
    if (!ctx.tierIndex.has(r.tierId)) {
      // The first tier never expires; the period's start and metric stay as they were.
      b.append(m, entry(atMs, 'downgrade', memberId, `program:${ctx.version}`, { tierId: first }));
      r.tierId = first;
      r.periodEnd = null;
    }
    if (!ctx.tierIndex.has(r.periodStartTierId)) r.periodStartTierId = first;
    // Writing the member puts it in the due index at its next event's time under this program.
    b.writeMember(m);
  }
  // A settled member may be due at once, with no entry to say it was written: the promise of the
  // last complete sweep (verify's overdue check) starts again with the next one.
  if (next === null) store.meta.removeSync(SWEPT_TO_KEY);
  b.close();
  return next;
}
