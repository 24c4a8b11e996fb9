// Running totals of one shard's books, kept in the same transaction as the entries they count,
// so the summary report is a read of a few numbers per shard instead of a scan of every member.

export interface BookTotals {
  members: number;
  membersPerTier: Record<string, number>;
  pointsOutstanding: number;
  walletOutstandingCents: number;
  purchases: number;
  returns: number;
  netSalesCents: number;
  pointsIssued: number;
  pointsRedeemed: number;
  pointsExpired: number;
  pointsClawedBack: number;
  topupsCents: number;
}

export function emptyTotals(): BookTotals {
  return {
    members: 0, membersPerTier: {}, pointsOutstanding: 0, walletOutstandingCents: 0, purchases: 0,
    returns: 0, netSalesCents: 0, pointsIssued: 0, pointsRedeemed: 0, pointsExpired: 0,
    pointsClawedBack: 0, topupsCents: 0,
  };
}

/** Moves one member from tier `from` (null for a new member) to tier `to`. */
export function moveTier(t: BookTotals, from: string | null, to: string): void {
  if (from === to) return;
  if (from !== null) t.membersPerTier[from] = (t.membersPerTier[from] ?? 0) - 1;
  t.membersPerTier[to] = (t.membersPerTier[to] ?? 0) + 1;
}

/** The sum of several shards' totals. */
export function sumTotals(parts: BookTotals[]): BookTotals {
  const sum = emptyTotals();
  for (const p of parts) {
    for (const k of Object.keys(sum) as Array<keyof BookTotals>) {
      if (k === 'membersPerTier') continue;
      (sum[k] as number) += p[k] as number;
    }
    for (const [tier, n] of Object.entries(p.membersPerTier)) sum.membersPerTier[tier] = (sum.membersPerTier[tier] ?? 0) + n;
  }
  return sum;
}
