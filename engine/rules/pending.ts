// Pending points (docs/rules.md §13.5): with `pointsPendingDays` above 0, what a purchase earns (and
// the referral rewards it causes) waits outside the spendable balance until the return window has
// passed. Each wait is one record on the member, ordered by when it activates; a return inside the
// window cancels from its order's record first, so it never takes the spendable balance below zero.

/** Points (and their growth) waiting to become spendable at `activatesAt`. */
export interface PendingPoints {
  /** The seq of the entry that made them pending: the purchase, or the referral reward's credit. */
  id: number;
  activatesAt: number;
  points: number;
  /** Growth that comes with them at activation (a purchase's; referral rewards bring none). */
  growth: number;
  /** The order they came from: a return of it, or the reversal of its referral reward, cancels from here. */
  orderId: string;
}

/** Keeps `list` ordered by activation time, then by the entry that made them pending. */
export function addPending(list: PendingPoints[], p: PendingPoints): void {
  let i = list.length;
  while (i > 0 && (list[i - 1]!.activatesAt > p.activatesAt || (list[i - 1]!.activatesAt === p.activatesAt && list[i - 1]!.id > p.id))) i--;
  list.splice(i, 0, p);
}

/** The points pending in all. */
export function pendingTotal(list: readonly PendingPoints[]): number {
  let sum = 0;
  for (const p of list) sum += p.points;
  return sum;
}

export interface Cancel { points: number; growth: number }

/**
 * What cancelling up to `points` and `growth` of what `orderId` left pending would take (zeros when
 * nothing of the order is pending any more: it was activated, or nothing was pending), without
 * changing `list`: the caller checks the rest of its op before it cancels.
 */
export function planCancel(list: readonly PendingPoints[], orderId: string, points: number, growth: number): Cancel {
  const p = list.find((x) => x.orderId === orderId);
  if (p === undefined) return { points: 0, growth: 0 };
  return { points: Math.min(points, p.points), growth: Math.min(growth, p.growth) };
}

/** Takes a planned cancel off the order's record; a record left with nothing is removed. */
export function applyCancel(list: PendingPoints[], orderId: string, c: Cancel): void {
  if (c.points === 0 && c.growth === 0) return;
  const i = list.findIndex((x) => x.orderId === orderId);
  const p = list[i]!;
  p.points -= c.points;
  p.growth -= c.growth;
  if (p.points === 0 && p.growth === 0) list.splice(i, 1);
}

/** Whether anything of `orderId` is still pending. */
export function isPending(list: readonly PendingPoints[], orderId: string): boolean {
  return list.some((p) => p.orderId === orderId);
}

/** The next activations, one line per moment, for the member view. */
export function activations(list: readonly PendingPoints[], count: number): Array<{ at: number; points: number }> {
  const out: Array<{ at: number; points: number }> = [];
  for (const p of list) {
    const last = out[out.length - 1];
    if (last !== undefined && last.at === p.activatesAt) last.points += p.points;
    else if (out.length < count) out.push({ at: p.activatesAt, points: p.points });
    else break;
  }
  return out;
}
