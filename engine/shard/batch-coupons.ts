// The coupon op family (docs/rules.md §12) inside a batch: issuing a coupon (by hand, by a rule of a
// registration, purchase, upgrade or birthday, by a campaign of a purchase), checking and taking the coupons an order uses,
// giving them back on a full return, revoking, and expiring them in the sweep. Every change writes
// the coupon's record, its member's index entry, its expiry entry and a ledger entry on the member
// (kind coupon_*, ref = the code), in the batch's transaction.
//
// Codes and totalMax units come from the router with the op (ops.ts CouponSupply): a shard never
// draws randomness and never asks another shard, so a replay issues the very same codes.
import assert from 'node:assert/strict';
import type { CouponIssueOp, CouponRevokeOp, CouponSupply, OpResult } from '../ops.js';
import type { Channel, CouponTemplate, CouponTrigger } from '../rules/program-types.js';
import {
  couponRefusal, couponValidity, firingCouponRules, issueRefusal, orderCouponDiscounts,
  type CouponIssueRefusal, type CouponRecord, type CouponStateName,
} from '../rules/coupons.js';
import { DAY_MS, entry, fail, type BatchMember, type BatchScope } from './batch-scope.js';

/** The meta key counting a template's coupons ever issued on this shard: the router sums them at start. */
export const COUPON_COUNT_PREFIX = 'cc:';

/** A coupon as an answer lists it, with the rule or the campaign (docs/rules.md §13.4) that issued it. */
export interface IssuedCoupon { code: string; templateId: string; ruleId?: string; campaignId?: string; validFrom: string; expiresAt: string }

/** A rule (or a campaign) that fired but could not issue, and why. */
export type SkippedCoupon = ({ ruleId: string } | { campaignId: string }) & { templateId: string; reason: CouponIssueRefusal | 'template_removed' | 'no_code' };

/** What an op brought to issue with: its codes and totalMax units, used up in order. */
export class CouponSupplyCursor {
  private codeAt = 0;
  private readonly allow: string[];
  constructor(private readonly codes: readonly string[], allow: readonly string[]) {
    this.allow = allow.slice();
  }

  static of(op: CouponSupply): CouponSupplyCursor {
    return new CouponSupplyCursor(op.newCodes ?? [], op.couponAllow ?? []);
  }

  /** The next code not yet on this shard, or null when the op brought none left. */
  nextCode(b: BatchScope): string | null {
    while (this.codeAt < this.codes.length) {
      const code = this.codes[this.codeAt++]!;
      // A code already issued (60 random bits: practically never) is passed over, deterministically.
      if (getCoupon(b, code) === undefined) return code;
    }
    return null;
  }

  /**
   * How many more coupons the op's supply can issue of `templateId` (capped: with a unit each),
   * looking ahead without taking anything: a redemption of several coupon units checks this first,
   * so that it issues all of them or none (engine/shard/batch-rewards.ts).
   */
  canIssue(b: BatchScope, templateId: string, capped: boolean): number {
    let codes = 0;
    for (let i = this.codeAt; i < this.codes.length; i++) if (getCoupon(b, this.codes[i]!) === undefined) codes += 1;
    return capped ? Math.min(codes, this.allow.filter((t) => t === templateId).length) : codes;
  }

  /** Takes one unit of the template's totalMax, if the router reserved one for this op. */
  takeUnit(templateId: string): boolean {
    const i = this.allow.indexOf(templateId);
    if (i < 0) return false;
    this.allow.splice(i, 1);
    return true;
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The value of a coupon's notice key in the due index (its expiry key's value is ''): the coupon's
 * `coupon_expiring` notice is due at the key's instant. One per coupon, set at its issue; the sweep
 * takes it when it falls due (and writes the notice if the coupon is still active then).
 */
export const COUPON_NOTICE = 'notice';

/**
 * When a coupon issued at `issuedAtMs` that expires at `expiresAtMs` gets its notice:
 * `notifyExpiringDays` before its expiry, or at its issue when it is valid for less than that;
 * null when notices are off (0 days) or it expires at its issue. The moment is fixed at the issue,
 * so a later change of notifyExpiringDays applies to coupons issued after it.
 */
function couponNoticeAt(b: BatchScope, issuedAtMs: number, expiresAtMs: number): number | null {
  const days = b.ctx.program.notifyExpiringDays;
  if (days === 0 || expiresAtMs <= issuedAtMs) return null;
  return Math.max(issuedAtMs, expiresAtMs - days * DAY_MS);
}

/** A coupon record as this batch has it: read through the batch's transaction (its own writes included). */
export function getCoupon(b: BatchScope, code: string): CouponRecord | undefined {
  return b.store.coupons.get(code);
}

function putCoupon(b: BatchScope, c: CouponRecord): void {
  b.store.coupons.putSync(c.code, c);
}

/** Coupons of `templateId` the member was ever issued (perMemberMax counts them). */
function issuedToMember(b: BatchScope, memberId: string, templateId: string): number {
  let n = 0;
  for (const { value } of b.store.memberCoupons.getRange({ start: [memberId, ''], end: [memberId, '\uffff'] })) {
    if (value === templateId) n += 1;
  }
  return n;
}

function templateOf(b: BatchScope, templateId: string): CouponTemplate | undefined {
  return b.ctx.program.coupons.find((t) => t.id === templateId);
}

/**
 * Issues one coupon of `template` to the member at `atMs`, or says why not. `cause` is the entry
 * that caused it (the purchase, the registration), null for one by hand.
 */
export function issueCoupon(
  b: BatchScope, m: BatchMember, template: CouponTemplate, atMs: number, supply: CouponSupplyCursor,
  source: string, issuedByOrderId: string | null, cause: number | null,
): CouponRecord | CouponIssueRefusal | 'no_code' {
  const tz = b.ctx.program.timezone;
  const toMember = template.perMemberMax === null ? 0 : issuedToMember(b, m.memberId, template.id);
  // The router reserved a unit of totalMax for this op, or there was none left to reserve.
  const capped = template.totalMax !== null;
  const refusal = issueRefusal(template, atMs, tz, { toMember, total: 0 });
  if (refusal !== null) return refusal;
  if (capped && !supply.takeUnit(template.id)) return 'total_limit';
  const code = supply.nextCode(b);
  if (code === null) return 'no_code';
  const { validFromMs, expiresAtMs } = couponValidity(template, atMs, tz);
  const coupon: CouponRecord = {
    code, templateId: template.id, memberId: m.memberId, state: 'active', issuedAtMs: atMs, validFromMs, expiresAtMs,
    source, issuedByOrderId, usedOrderId: null, discountCents: 0, history: [['active', atMs]],
  };
  putCoupon(b, coupon);
  b.store.memberCoupons.putSync([m.memberId, code], template.id);
  b.store.couponDue.putSync([expiresAtMs, code], '');
  const noticeAtMs = couponNoticeAt(b, atMs, expiresAtMs);
  if (noticeAtMs !== null) b.store.couponDue.putSync([noticeAtMs, code], COUPON_NOTICE);
  const countKey = COUPON_COUNT_PREFIX + template.id;
  b.store.meta.putSync(countKey, ((b.store.meta.get(countKey) as number | undefined) ?? 0) + 1);
  b.append(m, entry(atMs, 'coupon_issue', m.memberId, code, {}, cause));
  b.totals.couponsIssued += 1;
  b.couponsIssuedByTemplate.set(template.id, (b.couponsIssuedByTemplate.get(template.id) ?? 0) + 1);
  return coupon;
}

export function issuedView(c: CouponRecord, ruleId?: string, campaignId?: string): IssuedCoupon {
  const v: IssuedCoupon = { code: c.code, templateId: c.templateId, validFrom: iso(c.validFromMs), expiresAt: iso(c.expiresAtMs) };
  if (ruleId !== undefined) v.ruleId = ruleId;
  if (campaignId !== undefined) v.campaignId = campaignId;
  return v;
}

/** Issues the coupons of every rule of `trigger` that fires for the member; what could not issue is listed. */
export function issueByRules(
  b: BatchScope, m: BatchMember, trigger: CouponTrigger, channel: Channel | null, netCents: number, atMs: number,
  supply: CouponSupplyCursor, issuedByOrderId: string | null, cause: number | null,
): { issued: IssuedCoupon[]; skipped: SkippedCoupon[] } {
  const issued: IssuedCoupon[] = [];
  const skipped: SkippedCoupon[] = [];
  if (b.ctx.program.couponRules.length === 0) return { issued, skipped };
  for (const rule of firingCouponRules(b.ctx.program, { trigger, tierId: m.running.tierId, channel, netCents })) {
    const template = templateOf(b, rule.templateId);
    if (template === undefined) { skipped.push({ ruleId: rule.id, templateId: rule.templateId, reason: 'template_removed' }); continue; }
    const made = issueCoupon(b, m, template, atMs, supply, `rule:${rule.id}`, issuedByOrderId, cause);
    if (typeof made === 'string') skipped.push({ ruleId: rule.id, templateId: rule.templateId, reason: made });
    else issued.push(issuedView(made, rule.id));
  }
  return { issued, skipped };
}

/**
 * Issues a coupon for each campaign that applied to a purchase and names a template (docs/rules.md
 * §13.4), in program order, after the purchase's rules; what could not issue is listed by campaign.
 */
export function issueByCampaigns(
  b: BatchScope, m: BatchMember, coupons: ReadonlyArray<{ campaignId: string; templateId: string }>, atMs: number,
  supply: CouponSupplyCursor, orderId: string, cause: number,
): { issued: IssuedCoupon[]; skipped: SkippedCoupon[] } {
  const issued: IssuedCoupon[] = [];
  const skipped: SkippedCoupon[] = [];
  for (const { campaignId, templateId } of coupons) {
    // The validator keeps every campaign's template in the program; a template removed is still said so, never thrown.
    const template = templateOf(b, templateId);
    if (template === undefined) { skipped.push({ campaignId, templateId, reason: 'template_removed' }); continue; }
    const made = issueCoupon(b, m, template, atMs, supply, `campaign:${campaignId}`, orderId, cause);
    if (typeof made === 'string') skipped.push({ campaignId, templateId, reason: made });
    else issued.push(issuedView(made, undefined, campaignId));
  }
  return { issued, skipped };
}

/** A coupon issued by hand (POST /v1/coupons/issue, one member of a bulk issue). */
export function finishCouponIssue(b: BatchScope, op: CouponIssueOp, m: BatchMember): OpResult {
  const template = templateOf(b, op.templateId);
  if (template === undefined) return fail('coupon_template_not_found', undefined, 'templateId');
  const made = issueCoupon(b, m, template, op.atMs, CouponSupplyCursor.of(op), op.source, null, null);
  if (made === 'no_code') return fail('internal', 'no coupon code was supplied for the issue');
  if (typeof made === 'string') return fail('coupon_limit', made, 'templateId');
  return { ok: true, ...couponAnswer(made), couponsIssued: [issuedView(made)], replayed: false };
}

/** The answer's view of a coupon just changed. */
function couponAnswer(c: CouponRecord): Record<string, unknown> {
  return {
    code: c.code, templateId: c.templateId, memberId: c.memberId, state: c.state,
    issuedAt: iso(c.issuedAtMs), validFrom: iso(c.validFromMs), expiresAt: iso(c.expiresAtMs),
  };
}

/** Moves a coupon to a new state at `atMs`: its record, its expiry entry and a ledger entry. */
function changeState(b: BatchScope, m: BatchMember, c: CouponRecord, state: CouponStateName, atMs: number, kind: 'coupon_use' | 'coupon_restore' | 'coupon_expire' | 'coupon_revoke', cause: number | null): void {
  const wasActive = c.state === 'active';
  c.state = state;
  c.history.push([state, atMs]);
  putCoupon(b, c);
  if (wasActive && state !== 'active') b.store.couponDue.removeSync([c.expiresAtMs, c.code]);
  if (!wasActive && state === 'active') b.store.couponDue.putSync([c.expiresAtMs, c.code], '');
  b.append(m, entry(atMs, kind, m.memberId, c.code, {}, cause));
}

/** Whether a coupon is active and no op of this batch holds it: one a cancelled redemption may revoke. */
export function revocable(b: BatchScope, code: string): boolean {
  const c = getCoupon(b, code);
  return c !== undefined && c.state === 'active' && !b.couponsHeld.has(code);
}

/** Revokes an active coupon (revocable) as a consequence of entry `cause` (a cancelled redemption). */
export function revokeCoupon(b: BatchScope, m: BatchMember, code: string, atMs: number, cause: number): void {
  const c = getCoupon(b, code);
  assert.ok(c !== undefined && c.state === 'active', `coupon ${code} is not active`);
  changeState(b, m, c, 'revoked', atMs, 'coupon_revoke', cause);
  b.totals.couponsRevoked += 1;
}

/** Revokes an active coupon of the member (POST /v1/coupons/{code}/revoke). */
export function finishCouponRevoke(b: BatchScope, op: CouponRevokeOp, m: BatchMember): OpResult {
  const c = getCoupon(b, op.code);
  if (c === undefined || c.memberId !== op.memberId) return fail('coupon_not_found', undefined, 'code');
  if (b.couponsHeld.has(c.code)) return fail('coupon_not_active', 'used', 'code');
  if (c.state !== 'active') return fail('coupon_not_active', c.state, 'code');
  changeState(b, m, c, 'revoked', op.atMs, 'coupon_revoke', null);
  b.totals.couponsRevoked += 1;
  return { ok: true, ...couponAnswer(c), replayed: false };
}

/**
 * The channel a coupon's check sees: the order's, or for an order that names none, one the
 * template allows only when it allows both (such an order may be either).
 */
function orderChannel(template: CouponTemplate | undefined, channel: string | undefined): Channel {
  if (channel !== undefined) return channel as Channel;
  return template !== undefined && template.channels.length === 2 ? template.channels[0]! : ('none' as Channel);
}

/** The coupons an order uses, checked and valued (couponUse), held by the batch until its core call answers. */
export interface CouponUse { coupons: CouponRecord[]; discounts: number[]; totalCents: number }

/**
 * Checks the coupons a purchase names, in order, and values them (docs/rules.md §12): an unknown
 * code is `coupon_not_found`, any other refusal `coupon_not_usable` with the reason as message;
 * both name the code's index. The coupons are then held by the batch, so a later op of the batch
 * cannot use them, until the purchase's core result takes them (useCoupons) or lets them go.
 */
export function holdCoupons(
  b: BatchScope, m: BatchMember, codes: readonly string[], order: { amountCents: number; discountCents: number; channel?: string | undefined; atMs: number },
): CouponUse | OpResult {
  const baseCents = order.amountCents - order.discountCents;
  const coupons: CouponRecord[] = [];
  const templates: CouponTemplate[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < codes.length; i++) {
    const field = `couponCodes[${i}]`;
    const c = getCoupon(b, codes[i]!);
    if (c === undefined) return fail('coupon_not_found', undefined, field);
    const template = templateOf(b, c.templateId);
    // The owner is checked first (§12.5): a coupon an earlier purchase of the batch holds is `used`
    // to its own member, and `other_member` to anyone else, as it is once that purchase has run.
    const reason = b.couponsHeld.has(c.code) && c.memberId === m.memberId ? 'used' : couponRefusal(c, template, {
      memberId: m.memberId, tierId: m.running.tierId, channel: orderChannel(template, order.channel), baseCents, atMs: order.atMs,
    }, seen);
    if (reason !== null) return fail('coupon_not_usable', reason, field);
    seen.add(c.templateId);
    coupons.push(c);
    templates.push(template!);
  }
  const discounts = orderCouponDiscounts(templates.map((t) => t.discount), baseCents);
  for (const c of coupons) b.couponsHeld.add(c.code);
  return { coupons, discounts, totalCents: discounts.reduce((s, d) => s + d, 0) };
}

/** Lets go of held coupons whose purchase the core refused. */
export function releaseCoupons(b: BatchScope, use: CouponUse): void {
  for (const c of use.coupons) b.couponsHeld.delete(c.code);
}

/** Marks held coupons used by the purchase (entry `seq`); returns them as the answer lists them. */
export function useCoupons(b: BatchScope, m: BatchMember, use: CouponUse, orderId: string, atMs: number, seq: number): Array<{ code: string; templateId: string; discountCents: number }> {
  return use.coupons.map((c, i) => {
    b.couponsHeld.delete(c.code);
    c.usedOrderId = orderId;
    c.discountCents = use.discounts[i]!;
    changeState(b, m, c, 'used', atMs, 'coupon_use', seq);
    b.totals.couponsUsed += 1;
    b.totals.couponDiscountCents.add(use.discounts[i]!);
    return { code: c.code, templateId: c.templateId, discountCents: use.discounts[i]! };
  });
}

/**
 * A full return's coupons: those the order used come back (active, same expiry) when their template
 * says so and they have not expired by the return; those the order's rules issued and that are
 * still unused are revoked, as its points are taken back. A partial return changes no coupon.
 */
export function unwindCoupons(
  b: BatchScope, m: BatchMember, used: ReadonlyArray<{ code: string }>, issued: ReadonlyArray<{ code: string }>, orderId: string, atMs: number, seq: number,
): { restored: string[]; revoked: string[] } {
  const restored: string[] = [];
  const revoked: string[] = [];
  for (const { code } of used) {
    const c = getCoupon(b, code);
    assert.ok(c !== undefined, `coupon ${code} of order ${orderId} is missing`);
    const template = templateOf(b, c.templateId);
    if (c.state !== 'used' || c.usedOrderId !== orderId || template === undefined || !template.restoreOnFullReturn || atMs >= c.expiresAtMs) continue;
    c.usedOrderId = null;
    b.totals.couponDiscountCents.add(-c.discountCents);
    c.discountCents = 0;
    changeState(b, m, c, 'active', atMs, 'coupon_restore', seq);
    b.totals.couponsRestored += 1;
    restored.push(code);
  }
  for (const { code } of issued) {
    const c = getCoupon(b, code);
    if (c === undefined || c.state !== 'active' || b.couponsHeld.has(code)) continue;
    changeState(b, m, c, 'revoked', atMs, 'coupon_revoke', seq);
    b.totals.couponsRevoked += 1;
    revoked.push(code);
  }
  return { restored, revoked };
}

/**
 * The sweep's coupon expiries and notices: due index keys at or before `asOfMs`, at most `limit`,
 * in key order (time, then code). An expiry key marks its coupon expired dated at its expiry; a
 * notice key writes the coupon's `coupon_expiring` notice dated at its moment when the coupon is
 * active now, and is dropped either way. Returns how many keys and whether more are due.
 */
export function expireCoupons(b: BatchScope, asOfMs: number, limit: number): { coupons: number; more: boolean } {
  const due: Array<{ key: [number, string]; value: string }> = [];
  for (const { key, value } of b.store.couponDue.getRange({ end: [asOfMs, '\uffff'] })) {
    if (due.length >= limit) return { coupons: expire(b, due), more: true };
    due.push({ key, value });
  }
  return { coupons: expire(b, due), more: false };
}

function expire(b: BatchScope, due: ReadonlyArray<{ key: [number, string]; value: string }>): number {
  for (const { key: [atMs, code], value } of due) {
    if (value === COUPON_NOTICE) { notice(b, atMs, code); continue; }
    const expiresAtMs = atMs;
    const c = getCoupon(b, code);
    assert.ok(c !== undefined && c.state === 'active' && c.expiresAtMs === expiresAtMs, `coupon expiry index out of step for ${code}`);
    const m = b.load(c.memberId);
    assert.ok(m !== null, `coupon ${code} belongs to no member`);
    changeState(b, m, c, 'expired', expiresAtMs, 'coupon_expire', null);
    b.totals.couponsExpired += 1;
  }
  return due.length;
}

/** A coupon's notice falls due at `atMs`: its key goes; an active coupon's member gets the notice entry. */
function notice(b: BatchScope, atMs: number, code: string): void {
  b.store.couponDue.removeSync([atMs, code]);
  const c = getCoupon(b, code);
  assert.ok(c !== undefined, `coupon notice for ${code}, which does not exist`);
  // A coupon used, revoked or expired before its notice (or one whose expiry moved) is not told of.
  if (c.state !== 'active' || c.expiresAtMs <= atMs) return;
  const m = b.load(c.memberId);
  assert.ok(m !== null, `coupon ${code} belongs to no member`);
  const e = entry(atMs, 'coupon_expiring', m.memberId, code, {});
  e.expiresAtMs = c.expiresAtMs;
  b.append(m, e);
}

/** The quote's list: every active coupon of the member, valued on the order alone, usable or why not. */
export function quoteCoupons(
  b: BatchScope, m: BatchMember, baseCents: number, atMs: number, codes: readonly string[],
): { coupons: Array<Record<string, unknown>>; couponDiscountCents: number; problem: OpResult | null } {
  const list: Array<Record<string, unknown>> = [];
  for (const { key } of b.store.memberCoupons.getRange({ start: [m.memberId, ''], end: [m.memberId, '\uffff'] })) {
    const c = getCoupon(b, key[1])!;
    if (c.state !== 'active') continue;
    const template = templateOf(b, c.templateId);
    const reason = b.couponsHeld.has(c.code) ? 'used' : couponRefusal(c, template, { memberId: m.memberId, tierId: m.running.tierId, channel: orderChannel(template, undefined), baseCents, atMs }, new Set());
    const usable = reason === null;
    const view: Record<string, unknown> = { code: c.code, templateId: c.templateId, discountCents: template === undefined ? 0 : orderCouponDiscounts([template.discount], baseCents)[0]!, usable, expiresAt: iso(c.expiresAtMs) };
    if (!usable) view['reason'] = reason;
    list.push(view);
  }
  if (codes.length === 0) return { coupons: list, couponDiscountCents: 0, problem: null };
  const held = holdCoupons(b, m, codes, { amountCents: baseCents, discountCents: 0, channel: undefined, atMs });
  if ('ok' in held) return { coupons: list, couponDiscountCents: 0, problem: held };
  releaseCoupons(b, held);
  return { coupons: list, couponDiscountCents: held.totalCents, problem: null };
}
