// The time-driven events of one member (docs/rules.md §6): period ends (renewal or downgrade), points
// grant expiries and their notices `notifyExpiringDays` before, pending points becoming spendable (§13.5) and the yearly birthday gift, applied in time order up to a moment, each entry
// dated when it took effect. The sweep and the catch-up before a late op both run through here.
import assert from 'node:assert/strict';
import { birthdayGiftAt, localDateOf } from './calendar.js';
import { expireAt, type Grant } from './grants.js';
import type { HotState, MemberState, ProgramContext } from './member-state.js';
import { creditable } from './safe-range.js';
import type { PendingPoints } from './pending.js';
import { qualifyingTier } from './returns.js';

const DAY_MS = 86_400_000;
/** More events than this for one member in one pass means a broken period or grant: stop. */
const EVENTS_PER_MEMBER_MAX = 100_000;

/**
 * A member joining after this year's birthday waits for next year's gift; one joining before it
 * gets this year's (docs/rules.md §6 pays the current year's gift only).
 */
export function settleBirthdayYear(state: HotState, atMs: number, timeZone: string): void {
  if (state.birthdayMonth === 0) return;
  const year = localDateOf(atMs, timeZone).year;
  state.lastBirthdayYear = atMs >= birthdayGiftAt(year, state.birthdayMonth, state.birthdayDay, timeZone) ? year : year - 1;
}

export function nextBirthdayAt(state: HotState, timeZone: string): number | null {
  if (state.birthdayMonth === 0) return null;
  return birthdayGiftAt(state.lastBirthdayYear + 1, state.birthdayMonth, state.birthdayDay, timeZone);
}

/**
 * The member's next event time, or -1 for none: the key of the sweep's due index. An event before
 * 1970 (data written before `at` was bounded) is due at 0, at once: -1 must never mean "an event
 * the index cannot hold", or the member would leave the sweep for good.
 */
export function nextDueOf(ctx: ProgramContext, state: HotState, running: MemberState): number {
  let next = Number.POSITIVE_INFINITY;
  if (running.periodEnd !== null) next = Math.min(next, running.periodEnd);
  const notice = nextNotice(ctx, state);
  if (notice !== null) next = Math.min(next, notice.atMs);
  if (state.grants.length > 0) next = Math.min(next, state.grants[0]!.expiresAt);
  if (state.pending.length > 0) next = Math.min(next, state.pending[0]!.activatesAt);
  const birthday = nextBirthdayAt(state, ctx.program.timezone);
  if (birthday !== null) next = Math.min(next, birthday);
  return next === Number.POSITIVE_INFINITY ? -1 : Math.max(0, next);
}

/**
 * A birthday set or changed at `atMs` (a profile change): the day as well as the month, and the
 * gift counted from the change, as for a new member (a birthday already past this year waits for
 * next year), without paying a year whose gift was already paid.
 */
export function changeBirthday(state: HotState, birthday: string, atMs: number, timeZone: string): void {
  const month = Number(birthday.slice(5, 7));
  const day = Number(birthday.slice(8, 10));
  if (month === state.birthdayMonth && day === state.birthdayDay) return;
  const settledYear = state.lastBirthdayYear;
  state.birthdayMonth = month;
  state.birthdayDay = day;
  settleBirthdayYear(state, atMs, timeZone);
  state.lastBirthdayYear = Math.max(state.lastBirthdayYear, settledYear);
}

/**
 * The next grant to be told of (the first held, in expiry order, without its notice yet) and when:
 * `notifyExpiringDays` before it expires. Null when notices are off or every grant has had its own.
 */
export function nextNotice(ctx: ProgramContext, state: HotState): { grant: Grant; atMs: number } | null {
  const days = ctx.program.notifyExpiringDays;
  if (days === 0) return null;
  for (const g of state.grants) {
    if (!state.expiryNotices.includes(g.id)) return { grant: g, atMs: g.expiresAt - days * DAY_MS };
  }
  return null;
}

/** What applying events needs from the batch: entries, points with grants, and totals. */
export interface EventSink {
  entry(kind: 'renew' | 'downgrade' | 'expire' | 'birthday' | 'upgrade', atMs: number, pointsDelta: number, tierId: string | null): number;
  /** Writes the `points_activate` entry of `p`: `points` and `growth` credited (what fits), all of `p` leaving the pending points. */
  activate(p: PendingPoints, points: number, growth: number): number;
  /** Writes the `points_expiring` notice of grant `g` at `atMs`: no balance moves, the points and the expiry in the entry. */
  expiring(g: Grant, atMs: number): void;
  addPoints(points: number, atMs: number, grantId: number): void;
  expired(points: number): void;
  /**
   * The member's birthday of the current year happened at `atMs` (its gift entry `seq`, or null for
   * a gift of no points), on the member as it stands then: what else the birthday brings (its
   * coupons) comes here, in time order with the other events.
   */
  birthday?(atMs: number, seq: number | null): void;
}

/** Applies every event of the member due at or before `toMs`, in time order. */
export function advance(ctx: ProgramContext, state: HotState, r: MemberState, toMs: number, sink: EventSink): void {
  const p = ctx.program;
  forgetGoneNotices(state);
  for (let n = 0; ; n++) {
    assert.ok(n < EVENTS_PER_MEMBER_MAX, 'too many events for one member');
    const periodEnd = r.periodEnd;
    const notice = nextNotice(ctx, state);
    const noticeAt = notice === null ? null : notice.atMs;
    const expiry = state.grants.length > 0 ? state.grants[0]!.expiresAt : null;
    const activation = state.pending.length > 0 ? state.pending[0]!.activatesAt : null;
    const birthday = nextBirthdayAt(state, p.timezone);
    let next = Number.POSITIVE_INFINITY;
    for (const t of [periodEnd, noticeAt, expiry, activation, birthday]) if (t !== null && t < next) next = t;
    if (next > toMs) return;
    // At equal times: a period end, then an expiry's notice, then an expiry, then an activation, then a birthday gift.
    if (next === periodEnd) endPeriod(ctx, r, next, sink);
    else if (next === noticeAt) {
      state.expiryNotices.push(notice!.grant.id);
      // A grant with nothing left (spent before its notice fell due) is marked without a word.
      if (notice!.grant.remaining > 0) sink.expiring(notice!.grant, next);
    } else if (next === expiry) {
      const points = expireAt(state.grants, next);
      sink.entry('expire', next, -points, null);
      r.points -= points;
      sink.expired(points);
      forgetGoneNotices(state);
    } else if (next === activation) {
      activate(ctx, r, state.pending.shift()!, sink);
    } else {
      const year = state.lastBirthdayYear + 1;
      state.lastBirthdayYear = year;
      // Only the current year's gift is paid: a year the sweep missed entirely is skipped.
      const currentYear = localDateOf(toMs, p.timezone).year;
      // A gift that would take the balance past 2^53 − 1 pays what fits (the entry says how much).
      const gift = creditable(r.points, p.birthday.bonusPoints);
      if (year === currentYear) {
        let seq: number | null = null;
        if (gift > 0) {
          seq = sink.entry('birthday', next, gift, null);
          sink.addPoints(gift, next, seq);
        }
        sink.birthday?.(next, seq);
      }
    }
  }
}

/**
 * Pending points become spendable (docs/rules.md §13.5): credited with their growth, as a grant that
 * expires counted from now. In a program whose tiers follow growth, the growth counts towards the
 * tier now, and reaching a threshold upgrades the member now, as a purchase would have.
 */
function activate(ctx: ProgramContext, r: MemberState, pending: PendingPoints, sink: EventSink): void {
  const atMs = pending.activatesAt;
  // A credit that would take a balance past 2^53 − 1 pays what fits (the entry says how much).
  const points = creditable(r.points, pending.points);
  const growth = creditable(r.growth, pending.growth);
  const seq = sink.activate(pending, points, growth);
  sink.addPoints(points, atMs, seq);
  r.growth += growth;
  const p = ctx.program;
  if (p.qualifyBy !== 'growth' || growth === 0) return;
  r.periodMetric += creditable(r.periodMetric, growth);
  const from = ctx.tierIndex.get(r.tierId) ?? 0;
  const to = qualifyingTier(ctx, r.periodMetric);
  if (to <= from) return;
  const tier = p.tiers[to]!;
  const bonus = creditable(r.points, tier.upgradeBonusPoints);
  const upgradeSeq = sink.entry('upgrade', atMs, bonus, tier.id);
  sink.addPoints(bonus, atMs, upgradeSeq);
  r.periodMetric = p.carryForward === 'all' ? r.periodMetric : p.carryForward === 'none' ? 0 : Math.max(0, r.periodMetric - tier.threshold);
  r.tierId = tier.id; r.periodStart = atMs; r.periodStartTierId = tier.id;
  r.periodEnd = p.membershipDays === null ? null : atMs + p.membershipDays * DAY_MS;
}

/** A period ends at `atMs`: the tier renews if the metric meets its retain threshold, else falls. */
function endPeriod(ctx: ProgramContext, r: MemberState, atMs: number, sink: EventSink): void {
  const p = ctx.program;
  const tiers = p.tiers;
  const t = ctx.tierIndex.get(r.tierId) ?? 0;
  const retain = (i: number) => tiers[i]!.retainThreshold ?? tiers[i]!.threshold;
  const days = p.membershipDays;
  if (days === null) { r.periodEnd = null; return; } // the program no longer ends periods
  if (t > 0 && r.periodMetric >= retain(t)) {
    // A bonus that would take the balance past 2^53 − 1 pays what fits (the entry says how much).
    const bonus = creditable(r.points, tiers[t]!.renewalBonusPoints);
    const seq = sink.entry('renew', atMs, bonus, r.tierId);
    sink.addPoints(bonus, atMs, seq);
    r.periodStart = atMs; r.periodEnd = atMs + days * DAY_MS; r.periodMetric = 0; r.periodStartTierId = r.tierId;
    return;
  }
  let to = 0;
  if (p.downgrade === 'one') to = Math.max(0, t - 1);
  else for (let i = t - 1; i > 0; i--) if (r.periodMetric >= retain(i)) { to = i; break; }
  const tierId = tiers[to]!.id;
  sink.entry('downgrade', atMs, 0, tierId);
  r.tierId = tierId; r.periodStart = atMs; r.periodMetric = 0; r.periodStartTierId = tierId;
  r.periodEnd = to === 0 || days === null ? null : atMs + days * DAY_MS;
}

/** Drops the notices of grants no longer held (expired or spent): the list stays as long as the grants at most. */
function forgetGoneNotices(state: HotState): void {
  if (state.expiryNotices.length === 0) return;
  const held = new Set(state.grants.map((g) => g.id));
  state.expiryNotices = state.expiryNotices.filter((id) => held.has(id));
}
