// The back-office reports' shapes and their merge across shards (docs/rules.md §10): one day's
// figures, a shard's recency/frequency/monetary columns, an exported ledger entry. The per-shard
// scans that produce them run in the shard (engine/shard/report-scans.ts).
import type { StoredEntry } from '../ops.js';

/** One day's figures; README "Reports" defines each. */
export interface DayFigures {
  newMembers: number;
  purchases: number;
  returns: number;
  netSalesCents: number;
  pointsIssued: number;
  pointsRedeemed: number;
  topups: number;
  topupsCents: number;
  /** Points that started waiting for their return window that day (docs/rules.md §13.5); they count in `pointsIssued` on the day they activate. */
  pointsPending: number;
  /** Pending points that returns cancelled that day. */
  pointsPendingCancelled: number;
}

export function emptyDay(): DayFigures {
  return {
    newMembers: 0, purchases: 0, returns: 0, netSalesCents: 0, pointsIssued: 0, pointsRedeemed: 0, topups: 0, topupsCents: 0,
    pointsPending: 0, pointsPendingCancelled: 0,
  };
}

/** Sums shards' daily parts into one row per day, zeros included, and the range's totals. */
export function mergeDaily(days: string[], parts: Array<Record<string, DayFigures>>): { days: Array<{ date: string } & DayFigures>; totals: DayFigures } {
  const totals = emptyDay();
  const rows = days.map((date) => {
    const row = { date, ...emptyDay() };
    for (const part of parts) {
      const p = part[date];
      if (p === undefined) continue;
      for (const k of Object.keys(p) as Array<keyof DayFigures>) row[k] += p[k];
    }
    for (const k of Object.keys(totals) as Array<keyof DayFigures>) totals[k] += row[k];
    return row;
  });
  return { days: rows, totals };
}

/** One shard's members as columns (cheap to clone): last purchase (-1: none), count, spend, registration. */
export interface RfmColumns {
  memberIds: string[];
  lastPurchaseAt: number[];
  purchaseCount: number[];
  lifetimeSpendCents: number[];
  createdAt: number[];
}

/** One exported ledger entry: its seq and the stored entry less the chain pointer. */
export type ExportedEntry = { seq: number; keyId: string | null } & Omit<StoredEntry, 'prev' | 'keyIndex'>;

