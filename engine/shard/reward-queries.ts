// The read side of a shard's rewards, count cards and staff figures (docs/rules.md §14): the stock
// counters the router sums at start, one redemption, a member's redemptions and cards, the slices
// of the reward and staff reports, and the rewards-and-cards half of verify, which folds every
// card's uses and every redemption's states from the ledger and checks the records, their indexes
// and the stock counters against them. Point reads run on the shard's thread; the reports and
// verify scan, and run on the reader thread (engine/router/reader-client.ts).
import type { StaffScanPhase, StoredEntry } from '../ops.js';
import type { CardRecord, RedemptionRecord, RedemptionState } from '../rules/rewards.js';
import { MEMBER_CARDS_LIST_MAX } from '../limits.js';
import { getState, type ShardStore } from './store.js';
import { decodeOrder, isBinaryOrder, orderHasStaff } from './order-codec.js';
import { cardView } from './batch-cards.js';
import { REWARD_ADDED_PREFIX, REWARD_TAKEN_PREFIX, redemptionView } from './batch-rewards.js';
import { emptyRewardFigures, emptyStaffFigures, type RewardFigures, type StaffFigures } from '../rules/reward-report.js';

/** Per reward, units held redeemed on this shard (cancellations taken off) and units restocked on it. */
export function rewardCounts(store: ShardStore): Record<string, { taken: number; added: number }> {
  const out: Record<string, { taken: number; added: number }> = {};
  for (const [prefix, field] of [[REWARD_TAKEN_PREFIX, 'taken'], [REWARD_ADDED_PREFIX, 'added']] as const) {
    // The prefix's range: its last character's successor ends it (':' < ';').
    for (const { key, value } of store.meta.getRange({ start: prefix, end: prefix.slice(0, -1) + ';' })) {
      const rewardId = key.slice(prefix.length);
      (out[rewardId] ??= { taken: 0, added: 0 })[field] = value as number;
    }
  }
  return out;
}

/** One redemption as the API shows it, or null when this shard has none of that id. */
export function redemptionById(store: ShardStore, redemptionId: string): Record<string, unknown> | null {
  const r = store.redemptions.get(redemptionId);
  return r === undefined ? null : redemptionView(r);
}

/** The member's redemptions, newest first (ties by id), at most MEMBER_CARDS_LIST_MAX; null when the member does not exist. */
export function memberRedemptions(store: ShardStore, memberId: string): Array<Record<string, unknown>> | null {
  if (getState(store, memberId) === undefined) return null;
  const records: RedemptionRecord[] = [];
  for (const [, id] of store.memberRedemptions.getKeys({ start: [memberId], end: [memberId, '\uffff'] }) as Iterable<[string, string]>) {
    const r = store.redemptions.get(id);
    if (r !== undefined) records.push(r);
  }
  records.sort((a, b) => b.redeemedAtMs - a.redeemedAtMs || (a.redemptionId < b.redemptionId ? -1 : a.redemptionId > b.redemptionId ? 1 : 0));
  return records.slice(0, MEMBER_CARDS_LIST_MAX).map(redemptionView);
}

/** The member's count cards in service order, at most MEMBER_CARDS_LIST_MAX; null when the member does not exist. */
export function memberCards(store: ShardStore, memberId: string): Array<Record<string, unknown>> | null {
  if (getState(store, memberId) === undefined) return null;
  const out: Array<Record<string, unknown>> = [];
  for (const { value } of store.cards.getRange({ start: [memberId], end: [memberId, '\uffff'] })) {
    out.push(cardView(value));
    if (out.length >= MEMBER_CARDS_LIST_MAX) break;
  }
  return out;
}

/**
 * One slice of the reward report: redemptions in id order after `after`, at most `limit` read,
 * those made in [fromMs, toMs) folded per reward. `next` is the last read, null after the last.
 */
export function rewardReportPart(store: ShardStore, w: { fromMs: number; toMs: number }, after: string | null, limit: number): { part: Record<string, RewardFigures>; next: string | null } {
  const part: Record<string, RewardFigures> = {};
  let read = 0;
  let last: string | null = null;
  for (const { key, value: r } of store.redemptions.getRange(after === null ? {} : { start: after })) {
    if (key === after) continue;
    if (read >= limit) return { part, next: last };
    read += 1;
    last = key;
    if (r.redeemedAtMs < w.fromMs || r.redeemedAtMs >= w.toMs) continue;
    const f = part[r.rewardId] ??= emptyRewardFigures();
    f.redemptions += 1;
    f.units += r.quantity;
    f.points += r.points;
    f.cashCents += r.cashCents;
    if (r.state === 'reserved') f.reservedUnits += r.quantity;
    else if (r.state === 'fulfilled') f.fulfilledUnits += r.quantity;
    else f.cancelledUnits += r.quantity;
  }
  return { part, next: null };
}

/**
 * One slice of the staff report on this shard: in `phase` order, members registered in [fromMs,
 * toMs) by their profile's staffId, orders placed then by their staffId with their net after every
 * return so far, and card uses then by theirs; at most `limit` records read. `next` is where the
 * phase's following slice starts (a member or order id, or `atMs:seq` of a card use), null when the
 * phase is done.
 */
export function staffPart(store: ShardStore, w: { fromMs: number; toMs: number }, phase: StaffScanPhase, after: string | null, limit: number): { part: Record<string, StaffFigures>; next: string | null } {
  const part: Record<string, StaffFigures> = {};
  const of = (staffId: string): StaffFigures => (part[staffId] ??= emptyStaffFigures());
  let read = 0;
  let last: string | null = null;
  if (phase === 'members') {
    for (const { key, value } of store.members.getRange(after === null ? {} : { start: after })) {
      if (key === after) continue;
      if (read >= limit) return { part, next: last };
      read += 1;
      last = key;
      if (value.staffId !== undefined && value.createdAt >= w.fromMs && value.createdAt < w.toMs) of(value.staffId).registrations += 1;
    }
    return { part, next: null };
  }
  if (phase === 'orders') {
    for (const { key, value } of store.orders.getRange(after === null ? {} : { start: after })) {
      if (key === after) continue;
      if (read >= limit) return { part, next: last };
      read += 1;
      last = key;
      // Orders msgpack wrote predate staff on orders; a binary order's flags say whether it has one.
      if (!isBinaryOrder(value) || !orderHasStaff(value)) continue;
      const o = decodeOrder(value);
      if (o.at < w.fromMs || o.at >= w.toMs) continue;
      const f = of(o.staffId!);
      f.purchases += 1;
      f.netSalesCents += o.netCents - o.returns.reduce((sum, r) => sum + r.amountCents, 0);
    }
    return { part, next: null };
  }
  const start: [number, number] = after === null ? [w.fromMs, 0] : [Number(after.split(':')[0]), Number(after.split(':')[1]) + 1];
  for (const { key, value } of store.cardUses.getRange({ start, end: [w.toMs, 0] })) {
    if (read >= limit) return { part, next: last };
    read += 1;
    last = `${key[0]}:${key[1]}`;
    if (value.staffId !== null) of(value.staffId).cardUses += value.uses;
  }
  return { part, next: null };
}

/** A redemption as its entries tell it: the member, every state with its instant, and the points moved. */
interface RedemptionFold { memberId: string; history: Array<[RedemptionState, number]>; pointsDelta: number; redeemDelta: number | null }

const REDEMPTION_STATE_AFTER: Readonly<Record<string, RedemptionState>> = {
  reward_redeem: 'reserved', reward_fulfil: 'fulfilled', reward_cancel: 'cancelled',
};

/** Folds a shard's reward and card entries, given in seq order. */
export class RewardLedger {
  /** Uses per card (`memberId` NUL `serviceId`): the sum of its entries' usesDelta. */
  readonly cardUses = new Map<string, number>();
  /** Uses taken by card_use entries per card, which its recorded uses must add up to. */
  readonly usedByEntries = new Map<string, number>();
  readonly redemptions = new Map<string, RedemptionFold>();
  /** Units restocked per reward: the sum of its reward_stock entries. */
  readonly restocked = new Map<string, number>();

  /** Takes one ledger entry; entries of other kinds are ignored. Restocks have member ''. */
  add(e: StoredEntry): void {
    if (e.usesDelta !== undefined) {
      const key = `${e.memberId}\0${e.ref}`;
      this.cardUses.set(key, (this.cardUses.get(key) ?? 0) + e.usesDelta);
      if (e.kind === 'card_use') this.usedByEntries.set(key, (this.usedByEntries.get(key) ?? 0) - e.usesDelta);
      return;
    }
    if (e.kind === 'reward_stock') { this.restocked.set(e.ref, (this.restocked.get(e.ref) ?? 0) + (e.stockDelta ?? 0)); return; }
    const state = REDEMPTION_STATE_AFTER[e.kind];
    if (state === undefined) return;
    let f = this.redemptions.get(e.ref);
    if (f === undefined) { f = { memberId: e.memberId, history: [], pointsDelta: 0, redeemDelta: null }; this.redemptions.set(e.ref, f); }
    f.history.push([state, e.at]);
    f.pointsDelta += e.pointsDelta;
    if (e.kind === 'reward_redeem') f.redeemDelta = e.pointsDelta;
  }
}

const sameHistory = (a: ReadonlyArray<[string, number]>, b: ReadonlyArray<[string, number]>) =>
  a.length === b.length && a.every(([s, at], i) => s === b[i]![0] && at === b[i]![1]);

/**
 * Every difference between the shard's cards, redemptions and stock counters and its ledger, as
 * verify lists them (`{ memberId, field, stored, ledger }`): each card's uses against the fold of its
 * entries (`cards.<memberId>/<serviceId>.usesLeft`), its expiry index entry (one while active with an
 * expiry, none otherwise) and its recorded uses against its card_use entries; each redemption's
 * member, history and points against its entries, and its member index entry; records without
 * entries and entries without records; each reward's counters against the records and restocks.
 */
export function rewardMismatches(store: ShardStore, ledger: RewardLedger): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const due = new Map<string, number[]>();
  for (const [atMs, memberId, serviceId] of store.cardDue.getKeys({}) as Iterable<[number, string, string]>) {
    const key = `${memberId}\0${serviceId}`;
    const list = due.get(key);
    if (list === undefined) due.set(key, [atMs]); else list.push(atMs);
  }
  const recordedUses = new Map<string, number>();
  for (const { value } of store.cardUses.getRange({})) {
    const key = `${value.memberId}\0${value.serviceId}`;
    recordedUses.set(key, (recordedUses.get(key) ?? 0) + value.uses);
  }
  for (const { value: c } of store.cards.getRange({}) as Iterable<{ value: CardRecord }>) {
    const key = `${c.memberId}\0${c.serviceId}`;
    const field = (what: string) => `cards.${c.memberId}/${c.serviceId}.${what}`;
    const folded = ledger.cardUses.get(key);
    ledger.cardUses.delete(key);
    if (folded === undefined) out.push({ memberId: c.memberId, field: field('usesLeft'), stored: c.usesLeft, ledger: null });
    else if (folded !== c.usesLeft) out.push({ memberId: c.memberId, field: field('usesLeft'), stored: c.usesLeft, ledger: folded });
    if (c.state === 'expired' && c.usesLeft !== 0) out.push({ memberId: c.memberId, field: field('state'), stored: c.state, ledger: `${c.usesLeft} uses left` });
    const have = due.get(key) ?? [];
    due.delete(key);
    const want = c.state === 'active' && c.expiresAtMs !== null ? [c.expiresAtMs] : [];
    if (have.length !== want.length || have.some((t, i) => t !== want[i])) out.push({ memberId: c.memberId, field: field('cardDue'), stored: have, ledger: want });
    const used = ledger.usedByEntries.get(key) ?? 0;
    if ((recordedUses.get(key) ?? 0) !== used) out.push({ memberId: c.memberId, field: field('cardUses'), stored: recordedUses.get(key) ?? 0, ledger: used });
  }
  for (const [key, uses] of ledger.cardUses) {
    const [memberId, serviceId] = key.split('\0');
    out.push({ memberId, field: `cards.${memberId}/${serviceId}`, stored: null, ledger: uses });
  }
  for (const [key, times] of due) {
    const [memberId, serviceId] = key.split('\0');
    out.push({ memberId, field: `cards.${memberId}/${serviceId}.cardDue`, stored: times, ledger: 'no such card' });
  }
  const taken = new Map<string, number>();
  for (const { key: id, value: r } of store.redemptions.getRange({}) as Iterable<{ key: string; value: RedemptionRecord }>) {
    const field = (what: string) => `redemptions.${id}.${what}`;
    if (r.state !== 'cancelled') taken.set(r.rewardId, (taken.get(r.rewardId) ?? 0) + r.quantity);
    const f = ledger.redemptions.get(id);
    ledger.redemptions.delete(id);
    if (f === undefined) { out.push({ memberId: r.memberId, field: `redemptions.${id}`, stored: r.state, ledger: null }); continue; }
    if (f.memberId !== r.memberId) out.push({ memberId: r.memberId, field: field('memberId'), stored: r.memberId, ledger: f.memberId });
    if (!sameHistory(r.history, f.history)) out.push({ memberId: r.memberId, field: field('history'), stored: r.history, ledger: f.history });
    if (f.redeemDelta !== -r.points) out.push({ memberId: r.memberId, field: field('points'), stored: r.points, ledger: f.redeemDelta === null ? null : -f.redeemDelta });
    const net = r.state === 'cancelled' ? 0 : -r.points;
    if (f.pointsDelta !== net) out.push({ memberId: r.memberId, field: field('pointsDelta'), stored: net, ledger: f.pointsDelta });
    const indexed = store.memberRedemptions.get([r.memberId, id]) ?? null;
    if (indexed !== r.rewardId) out.push({ memberId: r.memberId, field: field('memberRedemptions'), stored: indexed, ledger: r.rewardId });
  }
  for (const [id, f] of ledger.redemptions) out.push({ memberId: f.memberId, field: `redemptions.${id}`, stored: null, ledger: f.history[f.history.length - 1]![0] });
  for (const { key: [memberId, id], value: rewardId } of store.memberRedemptions.getRange({}) as Iterable<{ key: [string, string]; value: string }>) {
    if (store.redemptions.get(id)?.memberId !== memberId) out.push({ memberId, field: `redemptions.${id}.memberRedemptions`, stored: rewardId, ledger: null });
  }
  const counters = rewardCounts(store);
  for (const rewardId of [...new Set([...Object.keys(counters), ...taken.keys(), ...ledger.restocked.keys()])].sort()) {
    const stored = counters[rewardId] ?? { taken: 0, added: 0 };
    if (stored.taken !== (taken.get(rewardId) ?? 0)) out.push({ memberId: null, field: `rewardCounts.${rewardId}.taken`, stored: stored.taken, ledger: taken.get(rewardId) ?? 0 });
    if (stored.added !== (ledger.restocked.get(rewardId) ?? 0)) out.push({ memberId: null, field: `rewardCounts.${rewardId}.added`, stored: stored.added, ledger: ledger.restocked.get(rewardId) ?? 0 });
  }
  return out;
}
