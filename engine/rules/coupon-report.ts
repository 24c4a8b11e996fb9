// The coupon report (docs/rules.md §10.6): what each template's coupons did over a window of
// instants, from the coupons' own histories. A shard folds its coupons into a part per template
// (couponReportPart, run on the reader thread: engine/shard/coupon-queries.ts); the router merges
// the shards' parts into one row per template with its use rate (mergeCouponReport).
import type { CouponRecord } from './coupons.js';
import { addCounts, Tally, type Count } from './totals.js';

/** One template's figures over a window; docs/rules.md §10.6 defines each. */
export interface CouponFigures {
  issued: number;
  used: number;
  restored: number;
  expired: number;
  revoked: number;
  activeNow: number;
  /** Exact at any size: a number while a safe integer, past that its decimal digits (engine/rules/totals.ts Count). */
  discountCents: Count;
  /** Of the coupons issued in the window, those whose state is `used` now. */
  issuedUsed: number;
}

export function emptyCouponFigures(): CouponFigures {
  return { issued: 0, used: 0, restored: 0, expired: 0, revoked: 0, activeNow: 0, discountCents: 0, issuedUsed: 0 };
}

/** The window and the instant `activeNow` is judged at. */
export interface CouponReportWindow { fromMs: number; toMs: number; nowMs: number }

/** A template's figures while a shard folds its coupons: the discount summed exactly. */
class FiguresTally {
  readonly f = emptyCouponFigures();
  readonly discountCents = new Tally();
}

/** Adds one coupon to its template's figures: each event of its history that falls in the window. */
function addCoupon(t: FiguresTally, c: CouponRecord, w: CouponReportWindow): void {
  const f = t.f;
  const inWindow = (atMs: number) => atMs >= w.fromMs && atMs < w.toMs;
  c.history.forEach(([state, atMs], i) => {
    if (!inWindow(atMs)) return;
    // The first `active` is the issue; a later one is a full return giving the coupon back.
    if (state === 'active') { if (i === 0) f.issued += 1; else f.restored += 1; }
    else if (state === 'used') f.used += 1;
    else if (state === 'expired') f.expired += 1;
    else f.revoked += 1;
  });
  if (c.state === 'active' && c.expiresAtMs > w.nowMs) f.activeNow += 1;
  if (c.state === 'used') {
    // A used coupon's last change is its current use, and its discountCents what that use took off.
    if (inWindow(c.history[c.history.length - 1]![1])) t.discountCents.add(c.discountCents);
    if (inWindow(c.history[0]![1])) f.issuedUsed += 1;
  }
}

/** One shard's figures per template id, over every coupon it holds. */
export function couponReportPart(coupons: Iterable<CouponRecord>, w: CouponReportWindow): Record<string, CouponFigures> {
  const tallies = new Map<string, FiguresTally>();
  for (const c of coupons) {
    let t = tallies.get(c.templateId);
    if (t === undefined) { t = new FiguresTally(); tallies.set(c.templateId, t); }
    addCoupon(t, c, w);
  }
  const out: Record<string, CouponFigures> = {};
  for (const [templateId, t] of tallies) out[templateId] = { ...t.f, discountCents: t.discountCents.count };
  return out;
}

/** A template's row: its figures and `useRate` = issuedUsed ÷ issued, to 4 decimal places (null when none was issued). */
export type CouponReportRow = { templateId: string; name: string | null } & CouponFigures & { useRate: number | null };

function addFigures(into: CouponFigures, f: CouponFigures): void {
  into.issued += f.issued;
  into.used += f.used;
  into.restored += f.restored;
  into.expired += f.expired;
  into.revoked += f.revoked;
  into.activeNow += f.activeNow;
  into.issuedUsed += f.issuedUsed;
  into.discountCents = addCounts(into.discountCents, f.discountCents);
}

export function useRate(f: Pick<CouponFigures, 'issued' | 'issuedUsed'>): number | null {
  return f.issued === 0 ? null : Math.round((f.issuedUsed / f.issued) * 10_000) / 10_000;
}

/**
 * The shards' parts as one row per template: every template of the program in program order,
 * zeros included, then templates the program no longer has whose coupons show in the parts, by id;
 * and the totals over all rows.
 */
export function mergeCouponReport(
  templates: ReadonlyArray<{ id: string; name: string }>,
  parts: ReadonlyArray<Record<string, CouponFigures>>,
): { templates: CouponReportRow[]; totals: CouponFigures & { useRate: number | null } } {
  const sums = new Map<string, CouponFigures>();
  for (const t of templates) sums.set(t.id, emptyCouponFigures());
  const removed = new Set<string>();
  for (const part of parts) {
    for (const [templateId, f] of Object.entries(part)) {
      let sum = sums.get(templateId);
      if (sum === undefined) { sum = emptyCouponFigures(); sums.set(templateId, sum); removed.add(templateId); }
      addFigures(sum, f);
    }
  }
  const names = new Map(templates.map((t) => [t.id, t.name]));
  const order = [...templates.map((t) => t.id), ...[...removed].sort()];
  const totals = emptyCouponFigures();
  const rows = order.map((templateId) => {
    const f = sums.get(templateId)!;
    addFigures(totals, f);
    return { templateId, name: names.get(templateId) ?? null, ...f, useRate: useRate(f) };
  });
  return { templates: rows, totals: { ...totals, useRate: useRate(totals) } };
}
