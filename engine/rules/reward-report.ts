// The reward and staff reports (docs/rules.md §10.8, §10.9) and the rewards list: the figures one
// shard folds (engine/shard/reward-queries.ts), and how the router merges every shard's parts and
// adds what only it knows (the stock left, from its counter) or what the program sets (the commission).
import type { Reward } from './program-types.js';
import { commissionCents } from './rewards.js';

/** One reward's figures over the redemptions made in a report's window. */
export interface RewardFigures {
  redemptions: number; units: number; points: number; cashCents: number;
  /** Units of those redemptions by their state now. */
  reservedUnits: number; fulfilledUnits: number; cancelledUnits: number;
}

export function emptyRewardFigures(): RewardFigures {
  return { redemptions: 0, units: 0, points: 0, cashCents: 0, reservedUnits: 0, fulfilledUnits: 0, cancelledUnits: 0 };
}

function addRewardFigures(to: RewardFigures, f: RewardFigures): void {
  to.redemptions += f.redemptions; to.units += f.units; to.points += f.points; to.cashCents += f.cashCents;
  to.reservedUnits += f.reservedUnits; to.fulfilledUnits += f.fulfilledUnits; to.cancelledUnits += f.cancelledUnits;
}

/** One staff member's figures on one shard; the router adds the commission. */
export interface StaffFigures { registrations: number; purchases: number; netSalesCents: number; cardUses: number }

export function emptyStaffFigures(): StaffFigures {
  return { registrations: 0, purchases: 0, netSalesCents: 0, cardUses: 0 };
}

/** A reward's stock as the router counts it (engine/router/reward-gate.ts stockOf). */
export interface RewardStock { stockLeft: number | null; held: number; redeemed: number; restocked: number }

/** A reward as `GET /v1/rewards` lists it: the program's fields and its stock now. */
export type RewardListing = Reward & { stockLeft: number | null; redeemedUnits: number; restockedUnits: number };

/** The program's rewards in program order, each with its stock left (null: unlimited). */
export function rewardList(rewards: readonly Reward[], stockOf: (r: Reward) => RewardStock): RewardListing[] {
  return rewards.map((r) => {
    const s = stockOf(r);
    return { ...r, stockLeft: s.stockLeft, redeemedUnits: s.redeemed, restockedUnits: s.restocked };
  });
}

export type RewardReportRow = { rewardId: string; name: string | null; stockLeft: number | null } & RewardFigures;

/**
 * Every reward of the program in program order (those without redemptions with zeros), then any
 * reward no longer in the program that still has redemptions in the window, in id order (name and
 * stock null); and the totals.
 */
export function mergeRewardReport(listing: readonly RewardListing[], parts: ReadonlyArray<Record<string, RewardFigures>>): { rewards: RewardReportRow[]; totals: RewardFigures } {
  const sums = new Map<string, RewardFigures>();
  for (const part of parts) {
    for (const [rewardId, f] of Object.entries(part)) {
      let sum = sums.get(rewardId);
      if (sum === undefined) { sum = emptyRewardFigures(); sums.set(rewardId, sum); }
      addRewardFigures(sum, f);
    }
  }
  const rows: RewardReportRow[] = listing.map((r) => ({ rewardId: r.id, name: r.name, stockLeft: r.stockLeft, ...(sums.get(r.id) ?? emptyRewardFigures()) }));
  const listed = new Set(listing.map((r) => r.id));
  for (const rewardId of [...sums.keys()].filter((id) => !listed.has(id)).sort()) rows.push({ rewardId, name: null, stockLeft: null, ...sums.get(rewardId)! });
  const totals = emptyRewardFigures();
  for (const row of rows) addRewardFigures(totals, row);
  return { rewards: rows, totals };
}

export type StaffReportRow = { staffId: string } & StaffFigures & { commissionCents: number };

/**
 * Every staff member with any figure in the window, in id order, with the commission on their net
 * sales after returns; and the totals (staffId '*', the commission the sum of the rows').
 */
export function mergeStaffReport(parts: ReadonlyArray<Record<string, StaffFigures>>, commissionBps: number): { staff: StaffReportRow[]; totals: StaffReportRow } {
  const sums = new Map<string, StaffFigures>();
  for (const part of parts) {
    for (const [staffId, f] of Object.entries(part)) {
      let sum = sums.get(staffId);
      if (sum === undefined) { sum = emptyStaffFigures(); sums.set(staffId, sum); }
      sum.registrations += f.registrations; sum.purchases += f.purchases; sum.netSalesCents += f.netSalesCents; sum.cardUses += f.cardUses;
    }
  }
  const staff = [...sums.keys()].sort().map((staffId): StaffReportRow => {
    const f = sums.get(staffId)!;
    return { staffId, ...f, commissionCents: commissionCents(f.netSalesCents, commissionBps) };
  });
  const totals: StaffReportRow = { staffId: '*', ...emptyStaffFigures(), commissionCents: 0 };
  for (const row of staff) {
    totals.registrations += row.registrations; totals.purchases += row.purchases; totals.netSalesCents += row.netSalesCents;
    totals.cardUses += row.cardUses; totals.commissionCents += row.commissionCents;
  }
  return { staff, totals };
}
