// The reference model's coupons (docs/rules.md §12), written from the rules and not from
// engine/rules/coupons.ts: a coupon's validity from its issue, the checks of an order in the order
// §12.5 lists them, what an order's coupons take off, whether one more may be issued, and which
// rules fire. The book keeps every issued coupon with each state it took and when. Codes are drawn
// by the server: a coupon whose code no answer carried holds a placeholder until the simulator reads
// the code from its member's ledger (CouponBook.rename).
import { localDate, startOfLocalDay } from './calendar.js';
import type { SimChannel, SimCouponRule, SimCouponTemplate, SimCouponTrigger, SimProgram } from './program.js';

export type CouponStateName = 'active' | 'used' | 'expired' | 'revoked';

export interface SimCoupon {
  code: string; templateId: string; memberId: string; state: CouponStateName;
  issuedAt: number; validFrom: number; expiresAt: number;
  /** `rule:<ruleId>` or `admin`. */
  source: string;
  issuedByOrderId: string | null; usedOrderId: string | null; discountCents: number;
  history: Array<[CouponStateName, number]>;
}

/** A coupon as `couponsIssued` lists it, with the rule or the campaign that issued it. */
export interface IssuedView { code: string; templateId: string; ruleId?: string; campaignId?: string; validFrom: string; expiresAt: string }
/** A rule (or a campaign) that fired and could not issue, as `couponsSkipped` lists it. */
export type SkippedView = ({ ruleId: string } | { campaignId: string }) & { templateId: string; reason: string };

/** The parts of an order the checks read. `channel` undefined: the order named none. */
export interface CouponOrder { memberId: string; tierId: string; channel: SimChannel | undefined; baseCents: number; at: number }

const PLACEHOLDER = '?';

/** §12.1: what a person typed, read as the code (capitals, no hyphens or spaces, O as 0, I and L as 1). */
export function normalizeCode(text: string): string {
  return text.toUpperCase().replace(/[-\s]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

function dateParts(date: string): [number, number, number] {
  return [Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10))];
}

/** The local midnight that ends a local date YYYY-MM-DD. */
export function endOfLocalDate(date: string, zone: string): number {
  const [y, m, d] = dateParts(date);
  return startOfLocalDay(y, m, d + 1, zone);
}

/**
 * §12.2: with validDays, from the issue through the local day validDays after the issue's local
 * date; with a window, from the start of validFrom (or the issue, if later) through validTo.
 */
export function couponValidity(t: SimCouponTemplate, issuedAt: number, zone: string): { validFrom: number; expiresAt: number } {
  if (t.validDays !== null) {
    const d = localDate(issuedAt, zone);
    return { validFrom: issuedAt, expiresAt: startOfLocalDay(d.year, d.month, d.day + t.validDays + 1, zone) };
  }
  const [y, m, d] = dateParts(t.validFrom!);
  return { validFrom: Math.max(startOfLocalDay(y, m, d, zone), issuedAt), expiresAt: endOfLocalDate(t.validTo!, zone) };
}

/** §12.3, checked in this order. */
export function issueRefusal(t: SimCouponTemplate, at: number, zone: string, toMember: number, total: number): string | null {
  if (!t.active) return 'template_inactive';
  if (t.validTo !== null && at >= endOfLocalDate(t.validTo, zone)) return 'window_over';
  if (t.perMemberMax !== null && toMember >= t.perMemberMax) return 'member_limit';
  if (t.totalMax !== null && total >= t.totalMax) return 'total_limit';
  return null;
}

/** §12.5: the first check that fails, in the table's order, or null. */
export function usabilityRefusal(c: SimCoupon, t: SimCouponTemplate | undefined, o: CouponOrder, templatesBefore: ReadonlySet<string>): string | null {
  if (c.memberId !== o.memberId) return 'other_member';
  if (c.state === 'used') return 'used';
  if (c.state === 'revoked') return 'revoked';
  if (c.state === 'expired' || o.at >= c.expiresAt) return 'expired';
  if (o.at < c.validFrom) return 'not_yet_valid';
  if (t === undefined) return 'template_removed';
  if (templatesBefore.has(c.templateId)) return 'template_repeated';
  if (t.eligibleTiers !== null && !t.eligibleTiers.includes(o.tierId)) return 'tier';
  // An order without a channel may be either: only a coupon of both channels is usable on it.
  if (o.channel === undefined ? t.channels.length < 2 : !t.channels.includes(o.channel)) return 'channel';
  if (o.baseCents < t.minSpendCents) return 'min_spend';
  return null;
}

/** §12.4: one coupon's value on `base` alone, in BigInt (base × percentBps passes 2^53). */
export function couponValue(t: SimCouponTemplate, baseCents: number): number {
  const d = t.discount;
  if ('amountCents' in d) return d.amountCents;
  const share = Number((BigInt(baseCents) * BigInt(d.percentBps)) / 10_000n);
  return d.maxCents === null ? share : Math.min(share, d.maxCents);
}

/** §12.4: each coupon valued on the same base, in the order given, none taking more than the earlier ones left. */
export function orderValues(templates: readonly SimCouponTemplate[], baseCents: number): number[] {
  let left = baseCents;
  return templates.map((t) => {
    const take = Math.max(0, Math.min(couponValue(t, baseCents), left));
    left -= take;
    return take;
  });
}

/** §12.3: the rules of `trigger` that fire, in program order; a rule with channels never fires for an event without one. */
export function firingRules(p: SimProgram, trigger: SimCouponTrigger, tierId: string, channel: SimChannel | undefined, netCents: number): SimCouponRule[] {
  return p.couponRules.filter((r) => r.trigger === trigger
    && (r.tiers === null || r.tiers.includes(tierId))
    && (r.channels === null || (channel !== undefined && r.channels.includes(channel)))
    && (trigger !== 'purchase' || netCents >= r.minNetCents));
}

/** Every coupon ever issued, by code and by member, and the counts the caps read. */
export class CouponBook {
  readonly byCode = new Map<string, SimCoupon>();
  /**
   * Every coupon in issue order: what the planner draws from. Not byCode's order, which a rename
   * changes, and a rename happens or not depending on where a kill fell: draws must not.
   */
  private readonly issued: SimCoupon[] = [];
  private readonly byMember = new Map<string, SimCoupon[]>();
  private readonly total = new Map<string, number>();
  private readonly toMember = new Map<string, number>();
  private placeholders = 0;
  /** Coupons still under a placeholder. */
  private readonly pending = new Set<SimCoupon>();

  static isPlaceholder(code: string): boolean {
    return code.startsWith(PLACEHOLDER);
  }

  /** A code the model uses until it learns the server's. */
  placeholder(): string {
    this.placeholders += 1;
    return `${PLACEHOLDER}${this.placeholders}`;
  }

  ofMember(memberId: string): readonly SimCoupon[] {
    return this.byMember.get(memberId) ?? [];
  }

  all(): readonly SimCoupon[] {
    return this.issued;
  }

  issuedTotal(templateId: string): number {
    return this.total.get(templateId) ?? 0;
  }

  issuedTo(memberId: string, templateId: string): number {
    return this.toMember.get(`${memberId}|${templateId}`) ?? 0;
  }

  add(c: SimCoupon): void {
    if (this.byCode.has(c.code)) throw new Error(`model: coupon ${c.code} issued twice`);
    this.byCode.set(c.code, c);
    this.issued.push(c);
    const list = this.byMember.get(c.memberId);
    if (list === undefined) this.byMember.set(c.memberId, [c]); else list.push(c);
    this.total.set(c.templateId, this.issuedTotal(c.templateId) + 1);
    this.toMember.set(`${c.memberId}|${c.templateId}`, this.issuedTo(c.memberId, c.templateId) + 1);
    if (CouponBook.isPlaceholder(c.code)) this.pending.add(c);
  }

  /** Puts the coupons issued after the first `from` in the order of `rank` of their members (a stable sort). */
  reorderSince(from: number, rank: (memberId: string) => number): void {
    const added = this.issued.splice(from).sort((a, b) => rank(a.memberId) - rank(b.memberId));
    this.issued.push(...added);
  }

  /** Gives a placeholder coupon the code the server drew. */
  rename(c: SimCoupon, code: string): void {
    this.byCode.delete(c.code);
    c.code = code;
    this.byCode.set(code, c);
    this.pending.delete(c);
  }

  /** Members holding a coupon whose code the model has not learnt yet. */
  unresolvedMembers(): Set<string> {
    const out = new Set<string>();
    for (const c of this.pending) out.add(c.memberId);
    return out;
  }
}
