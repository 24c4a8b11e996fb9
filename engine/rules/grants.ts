// Points grants (docs/rules.md §5): with `pointsExpiryDays`, every credit of points is a grant that
// expires on its own date; debits consume grants oldest expiry first and remember which, so that
// a restored debit returns to the grants it came from. The grants always hold exactly the
// positive part of the balance: a debt (a clawback below zero) is repaid by the next credits first.

/** `id` is the seq of the entry that granted the points. */
export interface Grant { id: number; expiresAt: number; remaining: number }

/** Which grants a debit took, so a later restore can put the points back where they were. */
export type Consumption = Array<[id: number, expiresAt: number, points: number]>;

function insert(grants: Grant[], g: Grant): void {
  let i = grants.length;
  while (i > 0 && (grants[i - 1]!.expiresAt > g.expiresAt || (grants[i - 1]!.expiresAt === g.expiresAt && grants[i - 1]!.id > g.id))) i--;
  grants.splice(i, 0, g);
}

/** Credits `points` (> 0) to a balance of `pointsBefore`: only the part above zero becomes a grant. */
export function creditGrant(grants: Grant[], id: number, expiresAt: number, points: number, pointsBefore: number): void {
  const granted = Math.min(points, Math.max(0, pointsBefore + points));
  if (granted > 0) insert(grants, { id, expiresAt, remaining: granted });
}

/** Debits `points` (> 0), oldest expiry first; what the grants cannot cover is debt. */
export function debitGrants(grants: Grant[], points: number): Consumption {
  const taken: Consumption = [];
  let left = points;
  while (left > 0 && grants.length > 0) {
    const g = grants[0]!;
    const take = Math.min(left, g.remaining);
    g.remaining -= take;
    left -= take;
    taken.push([g.id, g.expiresAt, take]);
    if (g.remaining === 0) grants.shift();
  }
  return taken;
}

/**
 * Returns `points` of a debit to the grants it consumed, in the order it consumed them, keeping
 * their expiry. `pointsBefore` is the balance before the restore: a debt is repaid first.
 */
export function restoreGrants(grants: Grant[], consumed: Consumption, points: number, pointsBefore: number): Consumption {
  let left = Math.min(points, Math.max(0, pointsBefore + points));
  const used: Consumption = [];
  for (const [id, expiresAt, took] of consumed) {
    if (left === 0) break;
    const back = Math.min(left, took);
    const existing = grants.find((g) => g.id === id);
    if (existing !== undefined) existing.remaining += back;
    else insert(grants, { id, expiresAt, remaining: back });
    used.push([id, expiresAt, back]);
    left -= back;
  }
  return used;
}

/** Removes and returns what is left of the grants expiring exactly at `expiresAt`. */
export function expireAt(grants: Grant[], expiresAt: number): number {
  let expired = 0;
  while (grants.length > 0 && grants[0]!.expiresAt <= expiresAt) {
    expired += grants[0]!.remaining;
    grants.shift();
  }
  return expired;
}

/** The next expiry dates and amounts (for the member view). */
export function expiring(grants: Grant[], count: number): Array<{ at: number; points: number }> {
  const out: Array<{ at: number; points: number }> = [];
  for (const g of grants) {
    const last = out[out.length - 1];
    if (last !== undefined && last.at === g.expiresAt) last.points += g.remaining;
    else if (out.length < count) out.push({ at: g.expiresAt, points: g.remaining });
    else break;
  }
  return out;
}
