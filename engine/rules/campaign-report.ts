// The campaign report (docs/rules.md §10.7): per campaign, the orders it applied to whose purchase
// falls in a window of instants, their net sales and the points the campaign added to them, each
// with what returns have taken back of it so far, and the coupons it issued with them. A shard folds
// its orders into a part per campaign, slice by slice on the reader thread (engine/shard/report-scans.ts
// campaignPart); the router sums the shards' parts into one row per campaign (mergeCampaignReport).
import type { OrderCampaign, OrderRecord } from './member-state.js';
import { mulDiv } from './returns.js';
import { addCounts, Tally, type Count } from './totals.js';

/** One campaign's figures over a window; docs/rules.md §10.7 defines each. */
export interface CampaignFigures {
  /** Orders placed in the window that the campaign applied to, returned ones included. */
  orders: number;
  /** Their net at the purchase (the net their points were earned on). */
  netSalesCents: Count;
  /** What returns, up to now, have taken back of that net. */
  returnedCents: Count;
  /** The points the campaign added to them at the purchase (its bonus, item and multiplier points). */
  extraPoints: Count;
  /** Of those, what returns up to now took back: all of it on a full return, the multiplier's share on the rest. */
  extraPointsReturned: Count;
  /** Coupons the campaign issued with them. */
  couponsIssued: number;
}

export function emptyCampaignFigures(): CampaignFigures {
  return { orders: 0, netSalesCents: 0, returnedCents: 0, extraPoints: 0, extraPointsReturned: 0, couponsIssued: 0 };
}

/** The window: purchases at `fromMs` or later and before `toMs`. */
export interface CampaignReportWindow { fromMs: number; toMs: number }

/** The index in `order.campaigns.applied` of the campaign whose multiplier is the order's M (docs/rules.md §13.2), or -1. */
export function multiplierCampaignIndex(order: OrderRecord): number {
  const c = order.campaigns;
  if (c === undefined) return -1;
  const m = order.rate.multiplierPct;
  // The first of the largest, and only above B and above 100 (engine/rules/campaigns.ts campaignOutcome).
  if (m <= c.baseMultiplierPct || m <= 100) return -1;
  return c.applied.findIndex((a) => a.multiplierPct === m);
}

/**
 * The points campaign `a` adds to `order` as it stands after its returns so far: none once it is
 * fully returned; otherwise its bonus and item points, and, for the campaign whose multiplier is M,
 * floor(regular × M ÷ 100) − floor(regular × B ÷ 100) on the regular points of the remaining net
 * (`orderPoints` included while part of the order remains: docs/rules.md §13.4).
 */
export function campaignPointsNow(order: OrderRecord, a: OrderCampaign, holdsMultiplier: boolean): number {
  if (order.now.fixedReversed) return 0;
  const fixed = a.bonusPoints + a.itemPoints;
  if (!holdsMultiplier) return fixed;
  if (order.returns.length === 0) return fixed + a.multiplierPoints;
  const r = order.rate;
  const remaining = order.netCents - order.returns.reduce((sum, x) => sum + x.amountCents, 0);
  const regular = mulDiv(remaining, r.earnPoints, r.earnCents) + r.orderPoints;
  return fixed + mulDiv(regular, r.multiplierPct, 100) - mulDiv(regular, order.campaigns!.baseMultiplierPct, 100);
}

/** A campaign's figures while a shard folds its orders: every sum exact. */
export class CampaignTally {
  orders = 0;
  couponsIssued = 0;
  readonly netSalesCents = new Tally();
  readonly returnedCents = new Tally();
  readonly extraPoints = new Tally();
  readonly extraPointsReturned = new Tally();

  get figures(): CampaignFigures {
    return {
      orders: this.orders, netSalesCents: this.netSalesCents.count, returnedCents: this.returnedCents.count,
      extraPoints: this.extraPoints.count, extraPointsReturned: this.extraPointsReturned.count, couponsIssued: this.couponsIssued,
    };
  }
}

/** One shard's part (or one slice of it): the figures per campaign id, and over the orders any campaign applied to. */
export interface CampaignReportPart { campaigns: Record<string, CampaignFigures>; totals: CampaignFigures }

/** Folds orders into a part: each order into the campaigns that applied to it, and once into the totals. */
export class CampaignReportFold {
  private readonly tallies = new Map<string, CampaignTally>();
  private readonly total = new CampaignTally();

  constructor(private readonly w: CampaignReportWindow) {}

  private tally(campaignId: string): CampaignTally {
    let t = this.tallies.get(campaignId);
    if (t === undefined) { t = new CampaignTally(); this.tallies.set(campaignId, t); }
    return t;
  }

  /** Adds one order, when campaigns applied to it and its purchase falls in the window. */
  add(order: OrderRecord): void {
    const c = order.campaigns;
    if (c === undefined || c.applied.length === 0 || order.at < this.w.fromMs || order.at >= this.w.toMs) return;
    const returnedCents = order.returns.reduce((sum, x) => sum + x.amountCents, 0);
    const total = this.total;
    total.orders += 1;
    total.netSalesCents.add(order.netCents);
    total.returnedCents.add(returnedCents);
    const m = multiplierCampaignIndex(order);
    c.applied.forEach((a, i) => {
      const t = this.tally(a.campaignId);
      const added = a.bonusPoints + a.itemPoints + a.multiplierPoints;
      const returned = added - campaignPointsNow(order, a, i === m);
      t.orders += 1;
      t.netSalesCents.add(order.netCents);
      t.returnedCents.add(returnedCents);
      t.extraPoints.add(added);
      t.extraPointsReturned.add(returned);
      total.extraPoints.add(added);
      total.extraPointsReturned.add(returned);
    });
    for (const issued of order.coupons?.issued ?? []) {
      if (issued.campaignId === undefined) continue;
      this.tally(issued.campaignId).couponsIssued += 1;
      total.couponsIssued += 1;
    }
  }

  get part(): CampaignReportPart {
    const campaigns: Record<string, CampaignFigures> = {};
    for (const [campaignId, t] of this.tallies) campaigns[campaignId] = t.figures;
    return { campaigns, totals: this.total.figures };
  }
}

/** A campaign's row: its id, name (null for a campaign the program no longer has) and figures. */
export type CampaignReportRow = { campaignId: string; name: string | null } & CampaignFigures;

function addFigures(into: CampaignFigures, f: CampaignFigures): void {
  into.orders += f.orders;
  into.couponsIssued += f.couponsIssued;
  into.netSalesCents = addCounts(into.netSalesCents, f.netSalesCents);
  into.returnedCents = addCounts(into.returnedCents, f.returnedCents);
  into.extraPoints = addCounts(into.extraPoints, f.extraPoints);
  into.extraPointsReturned = addCounts(into.extraPointsReturned, f.extraPointsReturned);
}

/**
 * The shards' parts as one row per campaign: every campaign of the program in program order, zeros
 * included, then campaigns the program no longer has whose orders show in the parts, by id; and the
 * totals, over the orders any campaign applied to (an order two campaigns applied to counts in both
 * rows and once in the totals' `orders`, `netSalesCents` and `returnedCents`; the points and coupons
 * of the totals are the rows' sums).
 */
export function mergeCampaignReport(
  campaigns: ReadonlyArray<{ id: string; name: string }>,
  parts: ReadonlyArray<CampaignReportPart>,
): { campaigns: CampaignReportRow[]; totals: CampaignFigures } {
  const sums = new Map<string, CampaignFigures>();
  for (const c of campaigns) sums.set(c.id, emptyCampaignFigures());
  const removed = new Set<string>();
  const totals = emptyCampaignFigures();
  for (const part of parts) {
    addFigures(totals, part.totals);
    for (const [campaignId, f] of Object.entries(part.campaigns)) {
      let sum = sums.get(campaignId);
      if (sum === undefined) { sum = emptyCampaignFigures(); sums.set(campaignId, sum); removed.add(campaignId); }
      addFigures(sum, f);
    }
  }
  const names = new Map(campaigns.map((c) => [c.id, c.name]));
  const order = [...campaigns.map((c) => c.id), ...[...removed].sort()];
  const rows = order.map((campaignId) => ({ campaignId, name: names.get(campaignId) ?? null, ...sums.get(campaignId)! }));
  return { campaigns: rows, totals };
}
