// The safe-integer range every balance stays in (|n| ≤ 2^53 − 1): what the state codec, the ledger
// codec and the core can hold exactly. Credits that do not pass through the core check it here.

/** Whether a balance (computed one credit or debit at a time) is still a safe integer. */
export function fits(balance: number): boolean {
  return Number.isSafeInteger(balance);
}

/**
 * The part of a credit of `points` (≥ 0) that a balance of `balance` can take: all of it, or what
 * is left up to 2^53 − 1. Used where nobody can be refused (the sweep's renewal and birthday
 * bonuses): the entry records what was paid.
 */
export function creditable(balance: number, points: number): number {
  return Number.isSafeInteger(balance + points) ? points : Math.max(0, Number.MAX_SAFE_INTEGER - balance);
}
