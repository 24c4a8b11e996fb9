// What a program change does to the members a shard already holds: a member whose tier (or whose
// period's starting tier) the new program no longer has moves to its first tier, with a
// `downgrade` entry dated at the change, so that every op, the sweep and every view see the tier
// the member is treated as holding (README, "Program changes"). Runs in slices, between batches.
import { decodeState } from './codec.js';
import type { Program } from '../rules/program-types.js';
import type { HotState } from '../rules/member-state.js';
import { copyState, entry, type BatchMember, type BatchScope } from './batch-scope.js';

/** Whether members must be settled when `next` replaces `previous`: it dropped a tier id. */
export function programDropsTiers(previous: Program | null, next: Program): boolean {
  if (previous === null) return false;
  const kept = new Set(next.tiers.map((t) => t.id));
  return previous.tiers.some((t) => !kept.has(t.id));
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
    if (ctx.tierIndex.has(state.tierId) && ctx.tierIndex.has(state.periodStartTierId)) continue;
    found.push([key, state]);
    if (found.length >= limit) { next = key; break; }
  }
  const first = ctx.program.tiers[0]!.id;
  for (const [memberId, state] of found) {
    const m: BatchMember = { memberId, created: false, state, profile: null, profileDirty: false, slot: -1, running: copyState(state) };
    const r = m.running;
    if (!ctx.tierIndex.has(r.tierId)) {
      // The first tier never expires; the period's start and metric stay as they were.
      b.append(m, entry(atMs, 'downgrade', memberId, `program:${ctx.version}`, { tierId: first }));
      r.tierId = first;
      r.periodEnd = null;
    }
    if (!ctx.tierIndex.has(r.periodStartTierId)) r.periodStartTierId = first;
    b.writeMember(m);
  }
  b.close();
  return next;
}
