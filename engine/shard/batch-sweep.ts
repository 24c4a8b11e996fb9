// Time-driven events in a batch (docs/rules.md §6): the catch-up that brings a member up to an op's
// time before the op, and the sweep's slices that bring every due member up to a moment.
import assert from 'node:assert/strict';
import * as L from '../core/layout.js';
import { advance, nextDueOf } from '../rules/member-events.js';
import type { ProgramContext } from '../rules/member-state.js';
import { getState } from './store.js';
import { DAY_MS, entry, type BatchMember, type BatchScope } from './batch-scope.js';
import { CouponSupplyCursor, expireCoupons, issueByRules } from './batch-coupons.js';
import { cardsDue, expireCards } from './batch-cards.js';

/** The member's next event time as the batch has it so far (Infinity for none). */
export function nextEventMs(b: BatchScope, m: BatchMember): number {
  const due = nextDueOf(b.ctx, m.state, m.running);
  return due < 0 ? Number.POSITIVE_INFINITY : due;
}

/**
 * How soon after its time an arithmetic op (a core op) can make an event of its member: the points
 * it credits expire `pointsExpiryDays` later, the points a purchase leaves pending activate
 * `pointsPendingDays` later, and the period its upgrade opens ends `membershipDays` later (each at
 * least a day). Until then a member's queued core ops need not run to know that no
 * event they made is due.
 */
export function coreEventLeadMs(ctx: ProgramContext): number {
  const p = ctx.program;
  const pendingDays = p.pointsPendingDays > 0 ? p.pointsPendingDays : Number.POSITIVE_INFINITY;
  // A grant's expiry notice falls `notifyExpiringDays` before its expiry: at once when that is as long as the expiry itself.
  const expiryDays = p.pointsExpiryDays === null ? Number.POSITIVE_INFINITY : Math.max(0, p.pointsExpiryDays - p.notifyExpiringDays);
  return Math.min(expiryDays, p.membershipDays ?? Number.POSITIVE_INFINITY, pendingDays) * DAY_MS;
}

/**
 * Applies the member's events up to `toMs` and puts the result into its core slot. A birthday gift
 * also issues the birthday rules' coupons, with the codes `supply` brought (the op being caught up
 * to, or the sweep slice: the router supplies codes to both when the program has birthday rules).
 */
export function advanceMember(b: BatchScope, m: BatchMember, toMs: number, supply: CouponSupplyCursor | null = null): void {
  const birthdayRules = b.ctx.program.couponRules.length > 0;
  advance(b.ctx, m.state, m.running, toMs, {
    entry: (kind, atMs, pointsDelta, tierId) => b.append(m, entry(atMs, kind, m.memberId, `${kind}:${atMs}`, { pointsDelta, ...(tierId === null ? {} : { tierId }) })),
    addPoints: (points, atMs, grantId) => { b.addPoints(m, points, atMs, grantId); b.totals.pointsIssued.add(points); },
    activate: (p, points, growth) => {
      b.totals.pointsPending.add(-p.points);
      return b.append(m, entry(p.activatesAt, 'points_activate', m.memberId, p.orderId, { pointsDelta: points, growthDelta: growth, pendingDelta: -p.points }, p.id));
    },
    expired: (points) => { b.totals.pointsExpired.add(points); },
    expiring: (g, atMs) => {
      // Named by its expiry, as an expiry entry is by its time: a grant's id is a seq, which differs with how ops were batched.
      const notice = entry(atMs, 'points_expiring', m.memberId, `points_expiring:${g.expiresAt}`, {});
      notice.expiringPoints = g.remaining;
      notice.expiresAtMs = g.expiresAt;
      b.append(m, notice);
    },
    // The gift's coupons at the birthday itself, on the tier the member holds then, also for a gift of no points.
    birthday: birthdayRules ? (atMs, seq) => { issueByRules(b, m, 'birthday', null, 0, atMs, supply ?? new CouponSupplyCursor([], []), null, seq); } : undefined,
  });
  b.toSlot(m);
}

/**
 * Meta key of the last complete sweep: `{ asOfMs, batch }`. When the last slice of a sweep as of
 * `asOfMs` finds nothing more due, no member is due at or before `asOfMs`; after it, only a batch
 * that writes a member's entries (a backdated op) can make it due that early again. Verify checks
 * exactly that (engine/shard/queries.ts). The record with the latest `asOfMs` is kept.
 */
export const SWEPT_TO_KEY = 'sweptTo';

export interface SweptTo { asOfMs: number; batch: number }

/**
 * One slice of the sweep: members whose next event is due at or before `asOfMs`, at most `limit`
 * of them, each brought up to `asOfMs`. Returns how many and whether more are due.
 */
export function sweepSlice(b: BatchScope, asOfMs: number, limit: number, supply: CouponSupplyCursor): { members: number; more: boolean } {
  let count = 0;
  let more = false;
  const membersMax = Math.min(limit, L.CORE_MEMBERS_MAX);
  for (const { key } of b.store.due.getRange({ end: [asOfMs, '\uffff'] })) {
    if (count >= membersMax) { more = true; break; }
    const memberId = key[1];
    const state = getState(b.store, memberId);
    assert.ok(state !== undefined && state.nextDue === key[0], `due index out of step for ${memberId}`);
    advanceMember(b, b.attach(memberId, state, null, false), asOfMs, supply);
    count += 1;
  }
  // Coupons expire in the same slices, counted against the same bound (their members take core slots too).
  if (!more) {
    const room = membersMax - b.slotsUsed;
    more = room <= 0 ? b.store.couponDue.getKeysCount({ end: [asOfMs, '\uffff'], limit: 1 }) > 0 : expireCoupons(b, asOfMs, room).more;
  }
  // So do count cards (docs/rules.md §14.3), after the coupons.
  if (!more) {
    const room = membersMax - b.slotsUsed;
    more = room <= 0 ? cardsDue(b, asOfMs) : expireCards(b, asOfMs, room).more;
  }
  b.finish();
  if (!more) {
    const store = b.store;
    const last = store.meta.get(SWEPT_TO_KEY) as SweptTo | undefined;
    if (last === undefined || last.asOfMs <= asOfMs) {
      const swept: SweptTo = { asOfMs, batch: (store.meta.get('batch') as number | undefined) ?? 0 };
      store.meta.putSync(SWEPT_TO_KEY, swept);
    }
  }
  return { members: count, more };
}
