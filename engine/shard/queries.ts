// Read-only questions a shard answers from committed state, outside the write batches: members,
// ledgers, balances at a past moment, orders, coupons (coupon-queries.ts), the verify fold and the
// front end's directory.
import { keyIdNames, keyIdOf } from './key-ids.js';
import { allEntries, getEntry, getMember, getOrder, getOrderHead, getState, SEQS_PER_BATCH, SHARD_DATABASES, type ShardDatabaseName, type ShardStore } from './store.js';
import type { Program } from '../rules/program-types.js';
import { nextDueOf } from '../rules/member-events.js';
import { SWEPT_TO_KEY, type SweptTo } from './batch-sweep.js';
import type { DirectoryPart } from '../shard-protocol.js';
import type { LedgerEntry, Query, StoredEntry } from '../ops.js';
import { memberView, programContext, type HotState, type MemberProfile, type ProgramContext } from '../rules/member-state.js';
import { scanMembers, searchIndexReady, searchMembers, type MemberSearch } from './search-index.js';
import { decodeState } from './codec.js';
import { pendingTotal } from '../rules/pending.js';
import { readTotals, Tally, type Count } from '../rules/totals.js';
import { campaignPart, dailyPart, ledgerPage, rfmPart } from './report-scans.js';
import { REPORT_SCAN_ENTRIES_MAX, REPORT_SCAN_MEMBERS_MAX, REPORT_SCAN_ORDERS_MAX } from '../limits.js';
import { firstLogSeq, logPosition } from './batch-log.js';
import { logEntriesUntil } from './shard-backup.js';
import { RewardLedger, memberCards, memberRedemptions, redemptionById, rewardCounts, rewardMismatches, rewardReportPart, staffPart } from './reward-queries.js';
import { CouponLedger, couponByCode, couponCounts, couponMismatches, couponReportOf, couponsPage, heldCoupons, memberCoupons } from './coupon-queries.js';


/** Balances as the fold of a member's entries (docs/rules.md §8). */
export interface Fold { points: number; growth: number; walletCents: number; lifetimeSpendCents: number; purchaseCount: number; tierId: string | null; pendingPoints: number }

export function emptyFold(): Fold {
  return { points: 0, growth: 0, walletCents: 0, lifetimeSpendCents: 0, purchaseCount: 0, tierId: null, pendingPoints: 0 };
}

export function foldEntry(f: Fold, e: Omit<LedgerEntry, 'seq'>): void {
  f.points += e.pointsDelta;
  f.pendingPoints += e.pendingDelta;
  f.growth += e.growthDelta;
  f.walletCents += e.walletDeltaCents;
  f.lifetimeSpendCents += e.spendDeltaCents;
  if (e.kind === 'purchase') f.purchaseCount += 1;
  if (e.tierId !== null) f.tierId = e.tierId;
}

/** An entry as the ledger API shows it; `keyIds` is the shard's table (engine/shard/key-ids.ts). */
export function ledgerView(seq: number, e: StoredEntry, keyIds: readonly string[]): Record<string, unknown> {
  const { prev: _prev, keyIndex, ...rest } = e;
  return { seq, ...rest, at: new Date(e.at).toISOString(), keyId: keyIdOf(keyIds, keyIndex) ?? null };
}

/** A member's entries newest first, following the chain from `fromSeq` (inclusive) backwards. */
function* chain(store: ShardStore, fromSeq: number): Generator<[number, StoredEntry]> {
  for (let seq = fromSeq; seq !== 0;) {
    const e = getEntry(store, seq);
    if (e === undefined) throw new Error(`ledger chain broken at seq ${seq}`);
    yield [seq, e];
    seq = e.prev;
  }
}

export function answer(store: ShardStore, q: Query): unknown {
  switch (q.q) {
    case 'member': {
      const m = getMember(store, q.memberId);
      return m === undefined ? null : { ...memberView(m, m, m.grants, m.pending), coupons: heldCoupons(store, q.memberId) };
    }
    case 'members': {
      if (q.prefix === undefined || !searchIndexReady(store)) return scanMembers(store, q);
      const search: MemberSearch = { prefix: q.prefix, limit: q.limit };
      if (q.phonePrefixes !== undefined) search.phonePrefixes = q.phonePrefixes;
      if (q.tierId !== undefined) search.tierId = q.tierId;
      if (q.after !== undefined) search.after = q.after;
      return searchMembers(store, search);
    }
    case 'ledger': {
      const m = getState(store, q.memberId);
      if (m === undefined) return null;
      let from = m.lastSeq;
      if (q.beforeSeq !== undefined) {
        const cursor = getEntry(store, q.beforeSeq);
        if (cursor === undefined || cursor.memberId !== q.memberId) return [];
        from = cursor.prev;
      }
      const out: Record<string, unknown>[] = [];
      const keyIds = keyIdNames(store);
      for (const [seq, e] of chain(store, from)) {
        out.push(ledgerView(seq, e, keyIds));
        if (out.length >= q.limit) break;
      }
      return out;
    }
    case 'balance': {
      const m = getState(store, q.memberId);
      if (m === undefined) return null;
      const f = emptyFold();
      for (const [, e] of chain(store, m.lastSeq)) if (e.at <= q.atMs) foldEntry(f, e);
      return { at: new Date(q.atMs).toISOString(), points: f.points, growth: f.growth, walletCents: f.walletCents, pendingPoints: f.pendingPoints };
    }
    case 'order': {
      const o = getOrder(store, q.orderId);
      if (o === undefined) return null;
      const iso = (ms: number) => new Date(ms).toISOString();
      const returnedCents = o.returns.reduce((s, r) => s + r.amountCents, 0);
      const { fp: _fp, after: _after, ...order } = o;
      const view: Record<string, unknown> = { ...order, at: iso(o.at), returns: o.returns.map((r) => ({ ...r, at: iso(r.at) })), remainingCents: o.netCents - returnedCents };
      // An instant, like every other time a client reads (docs/rules.md §13.5).
      if (o.pendingUntil !== undefined) view['pendingUntil'] = iso(o.pendingUntil);
      return view;
    }
    case 'verify': return verify(store);
    case 'directory': {
      // Every phone and email the shard's members hold (engine/router/engine.ts keeps the directory), as
      // columns: a million members clone as four flat arrays.
      const out: DirectoryPart = { phones: [], phoneOwners: [], emails: [], emailOwners: [] };
      for (const { key, value } of store.members.getRange({})) {
        if (value.phone !== undefined) { out.phones.push(value.phone); out.phoneOwners.push(key); }
        if (value.email !== undefined) { out.emails.push(value.email); out.emailOwners.push(key); }
      }
      return out;
    }
    case 'program': return store.meta.get('program') ?? null;
    case 'totals': return readTotals(store.meta.get('totals'));
    case 'storage': return storageBytes(store);
    case 'outbox': {
      const out: Array<[number, unknown]> = [];
      for (const { key, value } of store.outbox.getRange({})) out.push([key, value]);
      return out;
    }
    case 'log': return logStatus(store);
    case 'logEntries': return logEntriesUntil(store, q.afterSeq, q.untilMs, q.limit);
    case 'orderMember': return getOrderHead(store, q.orderId)?.memberId ?? null;
    case 'referrals': {
      // One slice of members after `after`: the report reads a shard between its batches.
      const members: string[][] = [[], [], []];
      let read = 0;
      for (const { key, value } of store.states.getRange(q.after === null ? {} : { start: q.after })) {
        if (key === q.after) continue;
        if (read >= REPORT_SCAN_MEMBERS_MAX) return { members, points: [0, 0, 0], next: key };
        read += 1;
        const i = decodeState(value).referralChain.indexOf(q.memberId);
        if (i !== -1) members[i]!.push(key);
      }
      const points = q.after === null ? [1, 2, 3].map((level) => store.refstats.get(`${q.memberId}|${level}`) ?? 0) : [0, 0, 0];
      return { members, points, next: null };
    }
    case 'daily': return dailyPart(store, q.from, q.to, q.timeZone, q.fromBatch, REPORT_SCAN_ENTRIES_MAX);
    case 'rfm': return rfmPart(store, q.after, REPORT_SCAN_MEMBERS_MAX);
    case 'campaignReport': return campaignPart(store, { fromMs: q.fromMs, toMs: q.toMs }, q.after, REPORT_SCAN_ORDERS_MAX);
    case 'ledgerPage': return ledgerPage(store, q);
    case 'ledgerEnd': return ledgerEnd(store);
    case 'coupon': return couponByCode(store, q.code, q.atMs);
    case 'memberCoupons': return memberCoupons(store, q.memberId, q.state);
    case 'couponCounts': return couponCounts(store);
    case 'couponReport': return couponReportOf(store, q);
    case 'couponsPage': return couponsPage(store, q.after, q.limit);
    case 'rewardCounts': return rewardCounts(store);
    case 'redemption': return redemptionById(store, q.redemptionId);
    case 'memberRedemptions': return memberRedemptions(store, q.memberId);
    case 'memberCards': return memberCards(store, q.memberId);
    case 'rewardReport': return rewardReportPart(store, q, q.after, REPORT_SCAN_ORDERS_MAX);
    case 'staffReport': return staffPart(store, q, q.phase, q.after, REPORT_SCAN_ORDERS_MAX);
  }
}

/**
 * The time invariants of one member (README, "Reliability"): its stored next event time is the one
 * its state gives under the program, the due index holds it there and nowhere else, and it is not
 * due at or before the last complete sweep unless a batch wrote its entries since.
 */
function timeMismatches(ctx: ProgramContext, memberId: string, state: HotState, indexed: number[] | undefined, swept: SweptTo | undefined): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const expected = nextDueOf(ctx, state, state);
  if (state.nextDue !== expected) out.push({ memberId, field: 'nextDue', stored: state.nextDue, ledger: expected });
  const want = state.nextDue >= 0 ? [state.nextDue] : [];
  const have = indexed ?? [];
  if (have.length !== want.length || have.some((t, i) => t !== want[i])) out.push({ memberId, field: 'due', stored: have, ledger: want });
  if (swept !== undefined && expected >= 0 && expected <= swept.asOfMs && Math.floor(state.lastSeq / SEQS_PER_BATCH) <= swept.batch) {
    out.push({ memberId, field: 'overdue', stored: expected, ledger: `applied by the sweep as of ${swept.asOfMs}` });
  }
  return out;
}

/** Recomputes every member and coupon from its entries and reports each difference from the stored state. */
export function verify(store: ShardStore): { members: number; entries: number; mismatches: Array<Record<string, unknown>> } {
  const mismatches: Array<Record<string, unknown>> = [];
  let members = 0;
  let entries = 0;
  const folds = new Map<string, Fold>();
  const sums = { points: new Tally(), walletCents: new Tally(), pendingPoints: new Tally() };
  const tiers = new Map<string, number>();
  const coupons = new CouponLedger();
  const rewards = new RewardLedger();
  for (const [, value] of allEntries(store)) {
    entries += 1;
    rewards.add(value);
    if (value.memberId === '') continue;
    coupons.add(value);
    let fold = folds.get(value.memberId);
    if (fold === undefined) { fold = emptyFold(); folds.set(value.memberId, fold); }
    foldEntry(fold, value);
  }
  // The due index by member, and the program its times follow (none yet on a fresh shard).
  const saved = store.meta.get('program') as { version: number; program: Program } | undefined;
  const ctx = saved === undefined ? null : programContext(saved.version, saved.program);
  const swept = store.meta.get(SWEPT_TO_KEY) as SweptTo | undefined;
  const due = new Map<string, number[]>();
  for (const [atMs, memberId] of store.due.getKeys({})) {
    const list = due.get(memberId);
    if (list === undefined) due.set(memberId, [atMs]); else list.push(atMs);
  }
  for (const { key, value: buf } of store.states.getRange({})) {
    members += 1;
    const value = decodeState(buf);
    if (ctx !== null) mismatches.push(...timeMismatches(ctx, key, value, due.get(key), swept));
    due.delete(key);
    sums.points.add(value.points);
    sums.walletCents.add(value.walletCents);
    const pendingPoints = pendingTotal(value.pending);
    sums.pendingPoints.add(pendingPoints);
    tiers.set(value.tierId, (tiers.get(value.tierId) ?? 0) + 1);
    const f = folds.get(key) ?? emptyFold();
    const stored: Fold = {
      points: value.points, growth: value.growth, walletCents: value.walletCents,
      lifetimeSpendCents: value.lifetimeSpendCents, purchaseCount: value.purchaseCount, tierId: value.tierId, pendingPoints,
    };
    for (const field of Object.keys(stored) as Array<keyof Fold>) {
      if (stored[field] !== f[field]) mismatches.push({ memberId: key, field, stored: stored[field], ledger: f[field] });
    }
    folds.delete(key);
  }
  const couponCheck = couponMismatches(store, coupons);
  mismatches.push(...couponCheck.mismatches);
  mismatches.push(...rewardMismatches(store, rewards));
  const totals = readTotals(store.meta.get('totals'));
  // Counts compare exactly: each is a number while it is a safe integer, else its decimal digits.
  const recount = {
    members, pointsOutstanding: sums.points.count, walletOutstandingCents: sums.walletCents.count, pointsPending: sums.pendingPoints.count,
    ...couponCheck.recount,
  };
  for (const [field, value] of Object.entries(recount) as Array<[keyof typeof recount, Count]>) {
    if (totals[field] !== value) mismatches.push({ memberId: null, field: `totals.${field}`, stored: totals[field], ledger: value });
  }
  for (const tier of new Set([...Object.keys(totals.membersPerTier), ...tiers.keys()])) {
    const stored = totals.membersPerTier[tier] ?? 0;
    if ((tiers.get(tier) ?? 0) !== stored) mismatches.push({ memberId: null, field: `totals.membersPerTier.${tier}`, stored, ledger: tiers.get(tier) ?? 0 });
  }
  for (const memberId of folds.keys()) mismatches.push({ memberId, field: 'member', stored: null, ledger: 'entries without a member' });
  for (const [memberId, times] of due) mismatches.push({ memberId, field: 'due', stored: times, ledger: 'no such member' });
  return { members, entries, mismatches };
}

/** Bytes of pages each database occupies (branch, leaf and overflow pages). */
export function storageBytes(store: ShardStore): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of SHARD_DATABASES) out[name] = databaseBytes(store, name);
  return out;
}

function databaseBytes(store: ShardStore, name: ShardDatabaseName): number {
  const s = store[name].getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
  return s.pageSize * (s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages);
}

/** What the batch log holds: its first and last entries, the ops in it and the bytes of its pages. */
export interface LogStatus { firstSeq: number | null; lastSeq: number; ops: number; bytes: number; unlogged: boolean }

export function logStatus(store: ShardStore): LogStatus {
  const at = logPosition(store);
  return { firstSeq: firstLogSeq(store), lastSeq: at.seq, ops: at.ops, bytes: databaseBytes(store, 'log'), unlogged: store.meta.get('unlogged') === true };
}

/** The seq of the newest entry: the last batch's first seq plus its count of entries, less one (0 for an empty ledger). */
function ledgerEnd(store: ShardStore): number {
  for (const { key, value } of store.ledger.getRange({ reverse: true, limit: 1 })) {
    const n = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0, true);
    return key * SEQS_PER_BATCH + n - 1;
  }
  return 0;
}
