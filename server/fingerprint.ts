// Request fingerprints for idempotency: a retry of a request replays its first answer only when
// its fingerprint is the same. A request is fingerprinted as understood: the validated op, with
// defaults filled (an explicit `"discountCents": 0` is the same as none) and times as ms (the same
// instant written with another offset, or as msgpack's integer, is the same), never its raw text.
import { Hash53 } from '../engine/rules/fingerprint.js';
import { FieldError } from '../engine/rules/validate.js';
import { JSON_DEPTH_MAX } from '../engine/limits.js';
import type {
  AdjustOp, CardAdjustOp, CardUseOp, CouponIssueOp, CouponRevokeOp, EraseOp, ProductOp, PurchaseOp, RedeemOp, RegisterOp, ReturnOp,
  RewardCancelOp, RewardFulfilOp, RewardRedeemOp, RewardStockOp, TopupOp, TransferOp, WithdrawOp,
} from '../engine/ops.js';

/** Characters JSON.stringify would escape: quotes, backslashes, controls, and UTF-16 surrogates. */
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Feeds a string as JSON.stringify writes it: plain text goes in as it is, between quotes. */
function hashJsonString(h: Hash53, s: string): void {
  if (JSON_ESCAPED.test(s)) h.update(JSON.stringify(s));
  else h.update('"').update(s).update('"');
}

/**
 * The op as a canonical JSON object, fed field by field without building the text: the caller
 * names the fields in sorted order, and fields that are absent or hold their default are left
 * out. For a body already written that way (no default spelled out, no `at`, a lower-case email)
 * the fingerprint is the one its raw text had before (`bodyFingerprint`), so keys stored then
 * still replay.
 */
class Canonical {
  private readonly h: Hash53;
  private first = true;

  constructor(kind: string) {
    this.h = new Hash53().update(kind).update('\0').update('{');
  }

  private field(name: string): Hash53 {
    if (!this.first) this.h.update(',');
    this.first = false;
    return this.h.update('"').update(name).update('":');
  }

  str(name: string, value: string | undefined): this {
    if (value !== undefined) hashJsonString(this.field(name), value);
    return this;
  }

  /** An integer, left out when absent or equal to `omitted` (its default). */
  int(name: string, value: number | undefined, omitted?: number): this {
    if (value !== undefined && value !== omitted) this.field(name).update(String(value));
    return this;
  }

  /** A list of strings (coupon codes, in the order given), left out when absent or empty. */
  strs(name: string, values: readonly string[] | undefined): this {
    if (values === undefined || values.length === 0) return this;
    const h = this.field(name).update('[');
    values.forEach((value, i) => {
      if (i > 0) h.update(',');
      hashJsonString(h, value);
    });
    h.update(']');
    return this;
  }

  /** A purchase's items, left out when there are none. */
  items(name: string, items: PurchaseOp['items']): this {
    if (items === undefined || items.length === 0) return this;
    const h = this.field(name).update('[');
    items.forEach((item, i) => {
      if (i > 0) h.update(',');
      h.update('{"amountCents":').update(String(item.amountCents)).update(',"qty":').update(String(item.qty)).update(',"sku":');
      hashJsonString(h, item.sku);
      h.update('}');
    });
    h.update(']');
    return this;
  }

  digest(): number {
    return this.h.update('}').digest();
  }
}

/** `at` counts only when the request named it: without one, a retry later means the same request. */
const sentAt = (atMs: number, sent: boolean): number | undefined => (sent ? atMs : undefined);

export function purchaseFingerprint(op: PurchaseOp, atSent: boolean): number {
  return new Canonical('purchase').int('amountCents', op.amountCents).int('at', sentAt(op.atMs, atSent))
    .str('channel', op.channel).strs('couponCodes', op.couponCodes).int('discountCents', op.discountCents, 0).items('items', op.items)
    .str('memberId', op.memberId).str('orderId', op.orderId).int('redeemPoints', op.redeemPoints, 0)
    .str('staffId', op.staffId).str('storeId', op.storeId).int('walletCents', op.walletCents, 0).digest();
}

/** A registration: its memberId counts only when sent (a generated one is the server's). */
export function registerFingerprint(op: RegisterOp, sent: { at: boolean; memberId: boolean; requestId: string | undefined }): number {
  return new Canonical('register').str('address', op.address).int('at', sentAt(op.atMs, sent.at)).str('birthday', op.birthday)
    .str('channel', op.channel).str('email', op.email).str('gender', op.gender).str('memberId', sent.memberId ? op.memberId : undefined)
    .str('name', op.name).str('phone', op.phone).int('points', op.points, 0).str('referrerId', op.referrerId)
    .str('requestId', sent.requestId).str('staffId', op.staffId).str('storeId', op.storeId).str('tierId', op.tierId)
    .int('walletCents', op.walletCents, 0).digest();
}

export function redeemFingerprint(op: RedeemOp, requestId: string, atSent: boolean): number {
  return new Canonical('redeem').int('at', sentAt(op.atMs, atSent)).str('memberId', op.memberId).int('points', op.points)
    .str('requestId', requestId).digest();
}

export function adjustFingerprint(op: AdjustOp, requestId: string, atSent: boolean): number {
  return new Canonical('adjust').int('at', sentAt(op.atMs, atSent)).str('memberId', op.memberId).int('points', op.points)
    .str('reason', op.reason).str('requestId', requestId).digest();
}

/** A top-up or a withdrawal: the same fields. */
export function walletFingerprint(op: TopupOp | WithdrawOp, requestId: string, atSent: boolean): number {
  return new Canonical(op.op).int('amountCents', op.amountCents).int('at', sentAt(op.atMs, atSent)).str('memberId', op.memberId)
    .str('requestId', requestId).digest();
}

export function returnFingerprint(op: Omit<ReturnOp, 'memberId'>, atSent: boolean): number {
  return new Canonical('return').int('amountCents', op.amountCents).int('at', sentAt(op.atMs, atSent)).str('orderId', op.orderId)
    .str('returnId', op.returnId).digest();
}

export function transferFingerprint(op: TransferOp, requestId: string, atSent: boolean): number {
  return new Canonical('transfer').int('amountCents', op.amountCents).int('at', sentAt(op.atMs, atSent)).str('fromMemberId', op.memberId)
    .str('requestId', requestId).str('toMemberId', op.toMemberId).digest();
}

/** A product purchase: the channel as resolved (a POS key's default is offline, a storefront key's online). */
export function productFingerprint(op: ProductOp, atSent: boolean): number {
  return new Canonical('product').int('at', sentAt(op.atMs, atSent)).str('channel', op.channel).str('memberId', op.memberId)
    .str('orderId', op.orderId).str('productId', op.productId).digest();
}

/** A coupon issued by hand; one member of a bulk issue is fingerprinted with the bulk's requestId and no `at`. */
export function couponIssueFingerprint(op: CouponIssueOp, requestId: string, atSent: boolean): number {
  return new Canonical(op.source === 'bulk' ? 'coupon_bulk' : 'coupon_issue').int('at', sentAt(op.atMs, atSent)).str('memberId', op.memberId)
    .str('requestId', requestId).str('templateId', op.templateId).digest();
}

/** An erasure: the member and the request. */
export function eraseFingerprint(op: EraseOp, requestId: string): number {
  return new Canonical('erase').str('memberId', op.memberId).str('requestId', requestId).digest();
}

/** A revocation: the code as normalized (any spelling of it is the same request). */
export function couponRevokeFingerprint(op: CouponRevokeOp, requestId: string, atSent: boolean): number {
  return new Canonical('coupon_revoke').int('at', sentAt(op.atMs, atSent)).str('code', op.code).str('requestId', requestId).digest();
}

/**
 * Feeds the value as stable JSON with sorted keys, so that the same body always has the same
 * fingerprint. Piece by piece: the JSON text itself is never built.
 */
function hashCanonical(h: Hash53, value: unknown, depth: number): void {
  // Bodies reach here before every field is checked: a hostile nesting must not overflow the stack.
  if (depth > JSON_DEPTH_MAX) throw new FieldError('(root)', `nests arrays and objects deeper than ${JSON_DEPTH_MAX} levels`);
  if (typeof value === 'string') { hashJsonString(h, value); return; }
  if (Array.isArray(value)) {
    h.update('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) h.update(',');
      hashCanonical(h, value[i], depth + 1);
    }
    h.update(']');
    return;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    h.update('{');
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) h.update(',');
      hashJsonString(h, keys[i]!);
      h.update(':');
      const v = obj[keys[i]!];
      // As the JSON text was once built: an undefined member wrote "undefined" (msgpack can carry one).
      if (v === undefined) h.update('undefined'); else hashCanonical(h, v, depth + 1);
    }
    h.update('}');
    return;
  }
  const text = JSON.stringify(value);
  // JSON.stringify(undefined) is undefined: inside an array it joined as nothing, so it adds nothing.
  if (text !== undefined) h.update(text);
}

/**
 * The fingerprint requests had before they were fingerprinted as understood: the raw body as JSON
 * with sorted keys. Kept so that a key stored then, whose body spelled a default or an `at`, still
 * replays: the router asks for it only when the new fingerprint conflicts (engine/router/orchestrate.ts).
 */
export function bodyFingerprint(kind: string, body: unknown): number {
  const h = new Hash53().update(kind).update('\0');
  hashCanonical(h, body, 0);
  return h.digest();
}

/** A reward redemption: its requestId is also the redemption's id. */
export function rewardRedeemFingerprint(op: RewardRedeemOp, atSent: boolean): number {
  return new Canonical('reward_redeem').int('at', sentAt(op.atMs, atSent)).str('memberId', op.memberId).int('quantity', op.quantity, 1)
    .str('requestId', op.redemptionId).str('rewardId', op.rewardId).str('staffId', op.staffId).str('storeId', op.storeId).digest();
}

/** A fulfilment or a cancellation of a redemption: keyed by the redemption, its body only `at` (and a fulfilment's store and staff). */
export function redemptionStepFingerprint(op: RewardFulfilOp | RewardCancelOp, atSent: boolean): number {
  const c = new Canonical(op.op).int('at', sentAt(op.atMs, atSent)).str('redemptionId', op.redemptionId);
  if (op.op === 'reward_fulfil') c.str('staffId', op.staffId).str('storeId', op.storeId);
  return c.digest();
}

export function rewardStockFingerprint(op: RewardStockOp, requestId: string, atSent: boolean): number {
  return new Canonical('reward_stock').int('at', sentAt(op.atMs, atSent)).int('delta', op.delta).str('requestId', requestId).str('rewardId', op.rewardId).digest();
}

export function cardUseFingerprint(op: CardUseOp, requestId: string, atSent: boolean): number {
  return new Canonical('card_use').int('at', sentAt(op.atMs, atSent)).str('memberId', op.memberId).str('requestId', requestId)
    .str('serviceId', op.serviceId).str('staffId', op.staffId).str('storeId', op.storeId).int('uses', op.uses, 1).digest();
}

export function cardAdjustFingerprint(op: CardAdjustOp, requestId: string, atSent: boolean): number {
  return new Canonical('card_adjust').int('at', sentAt(op.atMs, atSent)).str('memberId', op.memberId).str('reason', op.reason)
    .str('requestId', requestId).str('serviceId', op.serviceId).int('uses', op.uses).digest();
}
