// The read side of a shard's coupons (docs/rules.md §10.6, §12): one coupon by code, a member's
// coupons, the per-template issue counters, the report's part, pages for the CSV export, and the
// coupon half of verify, which recounts every coupon from the ledger and checks the three coupon
// databases and the counters against each other. Point reads run on the shard's thread; the report,
// the pages and verify scan, and run on the reader thread (engine/router/reader-client.ts).
import assert from 'node:assert/strict';
import type { StoredEntry } from '../ops.js';
import type { CouponRecord, CouponStateName } from '../rules/coupons.js';
import { couponCells, couponView, heldCoupon, type CouponView, type HeldCoupon } from '../rules/coupon-views.js';
import { couponReportPart, type CouponFigures, type CouponReportWindow } from '../rules/coupon-report.js';
import { Tally, type Count } from '../rules/totals.js';
import { MEMBER_COUPONS_LIST_MAX } from '../limits.js';
import { getState, type ShardStore } from './store.js';
import { COUPON_NOTICE } from './batch-coupons.js';

/** Meta keys of the executor's per-template counters: `cc:<templateId>` → coupons of it ever issued on this shard. */
const COUNTER_PREFIX = 'cc:';
const COUNTER_RANGE = { start: COUNTER_PREFIX, end: 'cc;' } as const;

/** The keys of a member's entries in `memberCoupons` ([memberId, code]; codes are capitals and digits). */
const memberRange = (memberId: string) => ({ start: [memberId], end: [memberId, '\uffff'] });

/** The coupon of `code` as the API shows it, with its state at `atMs` when asked; null when this shard has none. */
export function couponByCode(store: ShardStore, code: string, atMs?: number): CouponView | null {
  const c = store.coupons.get(code);
  return c === undefined ? null : couponView(c, atMs);
}

/** The member's coupon records, newest issue first (ties by code). */
function memberRecords(store: ShardStore, memberId: string): CouponRecord[] {
  const out: CouponRecord[] = [];
  for (const [, code] of store.memberCoupons.getKeys(memberRange(memberId)) as Iterable<[string, string]>) {
    const c = store.coupons.get(code);
    assert.ok(c !== undefined, `memberCoupons lists ${code} for ${memberId} but no such coupon is stored`);
    out.push(c);
  }
  return out.sort((a, b) => b.issuedAtMs - a.issuedAtMs || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

/**
 * The member's coupons, newest issue first, of one state when `state` is given, at most
 * MEMBER_COUPONS_LIST_MAX; null when the member does not exist.
 */
export function memberCoupons(store: ShardStore, memberId: string, state?: CouponStateName): CouponView[] | null {
  if (getState(store, memberId) === undefined) return null;
  const out: CouponView[] = [];
  for (const c of memberRecords(store, memberId)) {
    if (state !== undefined && c.state !== state) continue;
    out.push(couponView(c));
    if (out.length >= MEMBER_COUPONS_LIST_MAX) break;
  }
  return out;
}

/** The member's active coupons for the member view, soonest expiry first (ties by code). */
export function heldCoupons(store: ShardStore, memberId: string): HeldCoupon[] {
  return memberRecords(store, memberId)
    .filter((c) => c.state === 'active')
    .sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
    .slice(0, MEMBER_COUPONS_LIST_MAX)
    .map(heldCoupon);
}

/** Coupons of each template ever issued on this shard, from the executor's counters. */
export function couponCounts(store: ShardStore): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { key, value } of store.meta.getRange(COUNTER_RANGE)) out[key.slice(COUNTER_PREFIX.length)] = value as number;
  return out;
}

/** This shard's part of the coupon report: every coupon it holds folded by template (engine/rules/coupon-report.ts). */
export function couponReportOf(store: ShardStore, w: CouponReportWindow): Record<string, CouponFigures> {
  return couponReportPart(store.coupons.getRange({}).map(({ value }) => value), w);
}

/**
 * One page of coupons in code order after `after` (null: from the first), as the export's cells;
 * `next` is the cursor of the following page, null after the last.
 */
export function couponsPage(store: ShardStore, after: string | null, limit: number): { rows: Array<Array<string | number | null>>; next: string | null } {
  const rows: Array<Array<string | number | null>> = [];
  let last: string | null = null;
  for (const { key, value } of store.coupons.getRange(after === null ? {} : { start: after })) {
    if (key === after) continue;
    if (rows.length >= limit) return { rows, next: last };
    rows.push(couponCells(value));
    last = key;
  }
  return { rows, next: null };
}

/** The totals' count each state change of a history adds to (the first change, the issue, is counted apart). */
const RECOUNTED = { active: 'couponsRestored', used: 'couponsUsed', expired: 'couponsExpired', revoked: 'couponsRevoked' } as const;

/** A coupon as its ledger entries tell it: the member, the state and every change with its instant. */
interface CouponFold { memberId: string; state: CouponStateName; history: Array<[CouponStateName, number]> }

/** The state each coupon entry kind leaves its coupon in. */
const STATE_AFTER: Readonly<Record<string, CouponStateName>> = {
  coupon_issue: 'active', coupon_use: 'used', coupon_restore: 'active', coupon_expire: 'expired', coupon_revoke: 'revoked',
};

/** Folds a shard's coupon entries, given in seq order, per code (the entry's `ref`). */
export class CouponLedger {
  readonly folds = new Map<string, CouponFold>();
  /** Codes whose entries name more than one member: [code, members]. */
  readonly members = new Map<string, Set<string>>();
  /** How many `coupon_expiring` notices each code has (one at most). */
  readonly notices = new Map<string, number>();

  /** Takes one ledger entry; entries of other kinds are ignored. */
  add(e: StoredEntry): void {
    if (e.kind === 'coupon_expiring') { this.notices.set(e.ref, (this.notices.get(e.ref) ?? 0) + 1); return; }
    const state = STATE_AFTER[e.kind];
    if (state === undefined) return;
    let f = this.folds.get(e.ref);
    if (f === undefined) { f = { memberId: e.memberId, state, history: [] }; this.folds.set(e.ref, f); }
    if (e.memberId !== f.memberId) {
      let names = this.members.get(e.ref);
      if (names === undefined) { names = new Set([f.memberId]); this.members.set(e.ref, names); }
      names.add(e.memberId);
    }
    f.state = state;
    f.history.push([state, e.at]);
  }
}

/**
 * The coupon figures of a shard's running totals, recounted from its coupon records: the events of
 * every history (a first `active` is the issue, a later one a restore) and the discount of the
 * coupons used now.
 */
export interface CouponRecount {
  couponsIssued: number; couponsUsed: number; couponsRestored: number; couponsExpired: number; couponsRevoked: number; couponDiscountCents: Count;
}

const sameHistory = (a: ReadonlyArray<[string, number]>, b: ReadonlyArray<[string, number]>) =>
  a.length === b.length && a.every(([s, at], i) => s === b[i]![0] && at === b[i]![1]);

/**
 * Every difference between the shard's coupons and its ledger, as verify lists them (`{ memberId,
 * field, stored, ledger }`, `field` naming `coupons.<code>.<what>` or `couponCounts.<templateId>`):
 * each record's member, state and history against the fold of its entries, a record without
 * entries and entries without a record; its `memberCoupons` entry (there, under its member, with
 * its template) and no entry there without a record; its `couponDue` entry (exactly one at its
 * expiry while active, none otherwise) and none without a record; its notice (at most one
 * `coupon_expiring` entry, and a notice key in `couponDue` only before its expiry and while no
 * notice was written; coupons issued before notices existed have none); and each template's issue
 * counter against the records of that template. Also the recount of the totals' coupon figures.
 */
export function couponMismatches(store: ShardStore, ledger: CouponLedger): { mismatches: Array<Record<string, unknown>>; recount: CouponRecount } {
  const out: Array<Record<string, unknown>> = [];
  const due = new Map<string, number[]>();
  const noticeKeys = new Map<string, number[]>();
  for (const { key: [atMs, code], value } of store.couponDue.getRange({}) as Iterable<{ key: [number, string]; value: string }>) {
    const into = value === COUPON_NOTICE ? noticeKeys : due;
    const list = into.get(code);
    if (list === undefined) into.set(code, [atMs]); else list.push(atMs);
  }
  const perTemplate = new Map<string, number>();
  const recount = { couponsIssued: 0, couponsUsed: 0, couponsRestored: 0, couponsExpired: 0, couponsRevoked: 0 };
  const discountCents = new Tally();
  for (const { key: code, value: c } of store.coupons.getRange({})) {
    const field = (what: string) => `coupons.${code}.${what}`;
    // A state that is none of the four (a damaged record) counts nowhere: its history differs from its entries.
    c.history.forEach(([state], i) => { const counted = RECOUNTED[state] as keyof typeof recount | undefined; if (i > 0 && counted !== undefined) recount[counted] += 1; });
    recount.couponsIssued += 1;
    if (c.state === 'used') discountCents.add(c.discountCents);
    perTemplate.set(c.templateId, (perTemplate.get(c.templateId) ?? 0) + 1);
    const f = ledger.folds.get(code);
    if (f === undefined) {
      out.push({ memberId: c.memberId, field: `coupons.${code}`, stored: c.state, ledger: null });
    } else {
      ledger.folds.delete(code);
      const named = ledger.members.get(code);
      if (f.memberId !== c.memberId || named !== undefined) out.push({ memberId: c.memberId, field: field('memberId'), stored: c.memberId, ledger: named === undefined ? f.memberId : [...named] });
      if (f.state !== c.state) out.push({ memberId: c.memberId, field: field('state'), stored: c.state, ledger: f.state });
      if (!sameHistory(c.history, f.history)) out.push({ memberId: c.memberId, field: field('history'), stored: c.history, ledger: f.history });
    }
    const indexed = store.memberCoupons.get([c.memberId, code]) ?? null;
    if (indexed !== c.templateId) out.push({ memberId: c.memberId, field: field('memberCoupons'), stored: indexed, ledger: c.templateId });
    const have = due.get(code) ?? [];
    due.delete(code);
    const want = c.state === 'active' ? [c.expiresAtMs] : [];
    if (have.length !== want.length || have.some((t, i) => t !== want[i])) out.push({ memberId: c.memberId, field: field('couponDue'), stored: have, ledger: want });
    const noticesWritten = ledger.notices.get(code) ?? 0;
    ledger.notices.delete(code);
    if (noticesWritten > 1) out.push({ memberId: c.memberId, field: field('notices'), stored: noticesWritten, ledger: 1 });
    const noticeAt = noticeKeys.get(code) ?? [];
    noticeKeys.delete(code);
    if (noticeAt.length > 1 || (noticeAt.length === 1 && (noticesWritten > 0 || noticeAt[0]! >= c.expiresAtMs || noticeAt[0]! < c.issuedAtMs))) {
      out.push({ memberId: c.memberId, field: field('couponDue.notice'), stored: noticeAt, ledger: noticesWritten > 0 ? 'notice written' : `one before ${c.expiresAtMs} at most` });
    }
  }
  for (const [code, times] of noticeKeys) out.push({ memberId: null, field: `coupons.${code}.couponDue.notice`, stored: times, ledger: 'no such coupon' });
  for (const [code, n] of ledger.notices) out.push({ memberId: null, field: `coupons.${code}.notices`, stored: n, ledger: 'no such coupon' });
  for (const [code, f] of ledger.folds) out.push({ memberId: f.memberId, field: `coupons.${code}`, stored: null, ledger: f.state });
  for (const { key: [memberId, code], value: templateId } of store.memberCoupons.getRange({}) as Iterable<{ key: [string, string]; value: string }>) {
    if (store.coupons.get(code)?.memberId !== memberId) out.push({ memberId, field: `coupons.${code}.memberCoupons`, stored: templateId, ledger: null });
  }
  for (const [code, times] of due) out.push({ memberId: null, field: `coupons.${code}.couponDue`, stored: times, ledger: 'no such coupon' });
  const counters = couponCounts(store);
  for (const templateId of [...new Set([...Object.keys(counters), ...perTemplate.keys()])].sort()) {
    const stored = counters[templateId] ?? 0;
    const records = perTemplate.get(templateId) ?? 0;
    if (stored !== records) out.push({ memberId: null, field: `couponCounts.${templateId}`, stored, ledger: records });
  }
  return { mismatches: out, recount: { ...recount, couponDiscountCents: discountCents.count } };
}
