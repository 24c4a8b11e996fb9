// The back-office reports' per-shard parts (docs/rules.md §10): the daily figures from one scan of a
// shard's ledger, the campaign figures from one scan of its orders, the raw recency/frequency/monetary
// columns of its members, and bounded pages of its ledger for the export. Each runs as a read query on the shard's worker between batches; the
// router merges the shards' parts (engine/rules/reports.ts, engine/rules/rfm.ts).
import assert from 'node:assert/strict';
import { keyIdNames, keyIdOf } from './key-ids.js';
import { allEntries, getEntry, getOrderHead, SEQS_PER_BATCH, type ShardStore } from './store.js';
import { decodeState } from './codec.js';
import { dayRangeMs, localDay } from '../rules/local-day.js';
import type { StoredEntry } from '../ops.js';
import { emptyDay, type DayFigures, type ExportedEntry, type RfmColumns } from '../rules/reports.js';
import { CampaignReportFold, type CampaignReportPart, type CampaignReportWindow } from '../rules/campaign-report.js';
import { decodeOrder, orderHasCampaigns } from './order-codec.js';

/** Kinds whose positive points delta is points given to the member (as the summary counts them). */
const ISSUING_KINDS: ReadonlySet<string> = new Set([
  'register', 'upgrade', 'adjust', 'referral_reward', 'referral_reversal', 'transfer_in', 'renew', 'birthday', 'product',
  'points_activate',
]);

/** Adds one entry to its day's figures. A purchase's split into earned and redeemed is on its order. */
function addEntry(store: ShardStore, d: DayFigures, e: StoredEntry): void {
  // Points that start waiting (a purchase's, a referral reward's) and pending points a return cancels.
  if (e.pendingDelta > 0) d.pointsPending += e.pendingDelta;
  else if (e.kind === 'points_cancel') d.pointsPendingCancelled -= e.pendingDelta;
  switch (e.kind) {
    case 'register':
      d.newMembers += 1;
      break;
    case 'purchase': {
      const order = getOrderHead(store, e.ref);
      assert.ok(order !== undefined, `purchase entry for order ${e.ref} has no order record`);
      d.purchases += 1;
      d.netSalesCents += e.spendDeltaCents;
      // Pending earnings are issued when they activate (a points_activate entry).
      if (e.pendingDelta === 0) d.pointsIssued += order.earnedPoints;
      d.pointsRedeemed += order.redeemPoints;
      return;
    }
    case 'return':
      d.returns += 1;
      d.netSalesCents += e.spendDeltaCents;
      return;
    case 'redeem':
    // Points spent on rewards (docs/rules.md §14.1) are redeemed points too; a cancellation gives them back.
    case 'reward_redeem': case 'reward_cancel':
      d.pointsRedeemed -= e.pointsDelta;
      return;
    case 'topup':
      d.topups += 1;
      d.topupsCents += e.walletDeltaCents;
      return;
    default:
      break;
  }
  if (ISSUING_KINDS.has(e.kind) && e.pointsDelta > 0) d.pointsIssued += e.pointsDelta;
}

/** The figures of every local day from `from` to `to` (inclusive) with any activity on this shard. */
/**
 * One slice of a shard's daily figures: the entries of the ledger values from batch `fromBatch`,
 * stopping at a batch boundary once `entriesMax` were read, so a report over a long ledger runs as
 * many short reads between the shard's batches. `next` is where the following slice starts.
 */
export function dailyPart(store: ShardStore, from: string, to: string, timeZone: string, fromBatch: number, entriesMax: number): { days: Record<string, DayFigures>; next: number | null } {
  const { lowMs, highMs } = dayRangeMs(from, to);
  const days: Record<string, DayFigures> = {};
  let read = 0;
  for (const [seq, e] of allEntries(store, fromBatch)) {
    const batch = Math.floor(seq / SEQS_PER_BATCH);
    if (read >= entriesMax && seq % SEQS_PER_BATCH === 0) return { days, next: batch };
    read += 1;
    if (e.at < lowMs || e.at > highMs || e.memberId === '') continue;
    const day = localDay(e.at, timeZone);
    if (day < from || day > to) continue;
    addEntry(store, days[day] ??= emptyDay(), e);
  }
  return { days, next: null };
}

/**
 * One slice of a shard's campaign figures (engine/rules/campaign-report.ts): its orders in id order
 * after `after` (null: from the first), at most `ordersMax` read. Only an order whose flags name
 * campaigns is decoded; orders msgpack wrote predate campaigns. `next` is the last order read, after
 * which the following slice starts; null after the last.
 */
export function campaignPart(store: ShardStore, w: CampaignReportWindow, after: string | null, ordersMax: number): { part: CampaignReportPart; next: string | null } {
  const fold = new CampaignReportFold(w);
  let read = 0;
  let last: string | null = null;
  for (const { key, value } of store.orders.getRange(after === null ? {} : { start: after })) {
    if (key === after) continue;
    // The next slice starts after the last order read.
    if (read >= ordersMax) return { part: fold.part, next: last };
    read += 1;
    last = key;
    if (orderHasCampaigns(value)) fold.add(decodeOrder(value));
  }
  return { part: fold.part, next: null };
}

export function rfmPart(store: ShardStore, after: string | null, limit: number): { columns: RfmColumns; next: string | null } {
  const out: RfmColumns = { memberIds: [], lastPurchaseAt: [], purchaseCount: [], lifetimeSpendCents: [], createdAt: [] };
  for (const { key, value } of store.states.getRange(after === null ? {} : { start: after })) {
    if (key === after) continue;
    if (out.memberIds.length >= limit) return { columns: out, next: out.memberIds[out.memberIds.length - 1]! };
    const s = decodeState(value);
    const profile = store.members.get(key);
    assert.ok(profile !== undefined, `member ${key} has a state but no profile`);
    out.memberIds.push(key);
    out.lastPurchaseAt.push(s.lastPurchaseAt ?? -1);
    out.purchaseCount.push(s.purchaseCount);
    out.lifetimeSpendCents.push(s.lifetimeSpendCents);
    out.createdAt.push(profile.createdAt);
  }
  return { columns: out, next: null };
}

/**
 * Entries after `afterSeq` (0: from the start) in seq order, those on local days `from`..`to` only
 * when given, at most `limit` of them and at most `scanMax` examined. `nextSeq` is the cursor of the
 * next page, null once the ledger is exhausted; a page may be empty and still have a next one.
 */
export function ledgerPage(
  store: ShardStore,
  q: { afterSeq: number; limit: number; scanMax: number; from?: string; to?: string; timeZone: string },
): { entries: ExportedEntry[]; nextSeq: number | null } {
  const entries: ExportedEntry[] = [];
  const range = q.from !== undefined && q.to !== undefined ? dayRangeMs(q.from, q.to) : null;
  let scanned = 0;
  let last = q.afterSeq;
  const keyIds = keyIdNames(store);
  const firstBatch = Math.floor(q.afterSeq / SEQS_PER_BATCH);
  for (const batchNo of store.ledger.getKeys({ start: firstBatch })) {
    for (let seq = Math.max(batchNo * SEQS_PER_BATCH, q.afterSeq + 1); ; seq++) {
      const e = getEntry(store, seq);
      if (e === undefined) break;
      last = seq;
      scanned += 1;
      const inRange = range === null || (e.at >= range.lowMs && e.at <= range.highMs && (() => {
        const day = localDay(e.at, q.timeZone);
        return day >= q.from! && day <= q.to!;
      })());
      if (inRange) {
        const { prev: _prev, keyIndex, ...rest } = e;
        entries.push({ seq, ...rest, keyId: keyIdOf(keyIds, keyIndex) ?? null });
      }
      if (entries.length >= q.limit || scanned >= q.scanMax) return { entries, nextSeq: last };
    }
  }
  return { entries, nextSeq: null };
}
