// Turns request bodies (HTTP JSON or stream ops) into validated engine ops: every field checked,
// unknown fields refused, `at` resolved, and the op fingerprinted for idempotency (fingerprint.ts).
import * as F from './fingerprint.js';
import {
  FieldError, checkDate, checkId, checkInt, checkString, fieldPath, has, idField, intField, optionalInt, parseInstant,
  readArray, readObject, stringField, checkEnum, type Fields,
} from '../engine/rules/validate.js';
import { normalisePhone } from '../engine/rules/phone.js';
import { normalizeCouponCode } from '../engine/rules/coupons.js';
import { LoyaltyError } from '../engine/errors.js';
import {
  AMOUNT_CENTS_MAX, AT_MIN_MS, COUPON_CODE_TEXT_LENGTH_MAX, COUPONS_PER_ORDER_MAX, FUTURE_SKEW_MS_MAX, ITEMS_MAX, JSON_DEPTH_MAX, PHONE_TEXT_LENGTH_MAX, POINTS_OP_MAX, TEXT_LENGTH_MAX,
} from '../engine/limits.js';
import { PROFILE_FIELDS } from '../engine/ops.js';
import type {
  AdjustOp, CouponIssueOp, CouponRevokeOp, EraseOp, PatchOp, ProductOp, Profile, PurchaseOp, QuoteOp, RedeemOp, RegisterOp, ReturnOp, TopupOp, TransferOp, WithdrawOp,
} from '../engine/ops.js';
import type { Role } from './auth.js';

/**
 * Marks an op with the API key id that sent it (engine/ops.ts Keyed.by), after its fingerprint:
 * a retry under another key still replays the first answer.
 */
export function signedBy<T extends { by?: string }>(op: T, keyId: string): T {
  op.by = keyId;
  return op;
}

export interface RequestContext {
  role: Role;
  nowMs: number;
  /** The program's `defaultCountry`: completes phones written without a country code. */
  defaultCountry: string | null;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}$/;

/**
 * Instants: ISO-8601 with an offset in JSON, integer ms in msgpack; not before 2000-01-01T00:00:00Z
 * (AT_MIN_MS) and at most 5 minutes ahead. Every instant a client sends goes through here: an op's
 * `at`, `balance?at=`, the sweep's and the RFM report's `asOf`.
 */
export function parseAt(value: unknown, field: string, nowMs: number): number {
  const ms = typeof value === 'number' ? checkInt(value, field, { min: 0, max: 8_640_000_000_000_000 }) : parseInstant(value, field);
  if (ms < AT_MIN_MS) throw new FieldError(field, 'must not be before 2000-01-01T00:00:00Z');
  if (ms > nowMs + FUTURE_SKEW_MS_MAX) throw new FieldError(field, 'is more than 5 minutes in the future');
  return ms;
}

function atOf(body: Fields, ctx: RequestContext): number {
  return has(body, 'at') ? parseAt(body['at'], 'at', ctx.nowMs) : ctx.nowMs;
}

const amount = (body: Fields, key: string, min = 1) => intField(body, key, '', { min, max: AMOUNT_CENTS_MAX });
const optAmount = (body: Fields, key: string) => optionalInt(body, key, '', { min: 0, max: AMOUNT_CENTS_MAX }) ?? 0;
const text = (body: Fields, key: string) => (has(body, key) ? stringField(body, key, '', { maxLength: TEXT_LENGTH_MAX }) : undefined);


/** Reads the profile fields of `body` into `p` (an op under construction), and returns it. */
function profile<T extends Profile>(body: Fields, p: T, ctx: RequestContext): T {
  const name = text(body, 'name'); if (name !== undefined) p.name = name;
  // Stored and compared in E.164 (engine/rules/phone.ts); the fingerprint keeps the body as sent.
  if (has(body, 'phone')) p.phone = normalisePhone(checkString(body['phone'], 'phone', { maxLength: PHONE_TEXT_LENGTH_MAX }), ctx.defaultCountry);
  if (has(body, 'email')) p.email = checkString(body['email'], 'email', { maxLength: 254, pattern: EMAIL, patternMessage: 'must be an email address' }).toLowerCase();
  if (has(body, 'birthday')) p.birthday = checkDate(body['birthday'], 'birthday');
  const gender = text(body, 'gender'); if (gender !== undefined) p.gender = gender;
  const address = text(body, 'address'); if (address !== undefined) p.address = address;
  if (has(body, 'storeId')) p.storeId = idField(body, 'storeId', '');
  if (has(body, 'channel')) p.channel = checkEnum(body['channel'], 'channel', ['online', 'offline'] as const);
  if (has(body, 'staffId')) p.staffId = idField(body, 'staffId', '');
  return p;
}

/**
 * Member ids the API's paths spell as a word of their own: `/v1/members/by-phone/{phone}` is the
 * phone lookup, so a member of id `by-phone` could not be read, erased or listed by its id.
 */
export const RESERVED_MEMBER_IDS: ReadonlySet<string> = new Set(['by-phone']);

const REGISTER_FIELDS = [...PROFILE_FIELDS, 'memberId', 'requestId', 'referrerId', 'at', 'tierId', 'points', 'walletCents'];
const OPENING_FIELDS = ['tierId', 'points', 'walletCents'];

export function registerOp(raw: unknown, ctx: RequestContext, newMemberId: (key?: string) => string): RegisterOp {
  const body = readObject(raw, '', REGISTER_FIELDS);
  const opening = ctx.role === 'admin' ? undefined : OPENING_FIELDS.find((k) => has(body, k));
  if (opening !== undefined) throw new LoyaltyError('forbidden', 'only an admin key may set the opening tier, points or wallet', opening);
  const requestId = has(body, 'requestId') ? idField(body, 'requestId', '') : undefined;
  // Every write carries a key (docs/rules.md §8): a registration is keyed by its memberId or requestId.
  if (requestId === undefined && !has(body, 'memberId')) throw new FieldError('requestId', 'required when memberId is omitted');
  const memberId = has(body, 'memberId') ? idField(body, 'memberId', '') : newMemberId(requestId === undefined ? undefined : 'reg:' + requestId);
  if (RESERVED_MEMBER_IDS.has(memberId)) throw new FieldError('memberId', `must not be "${memberId}": the API's paths use that word for the phone lookup`);
  const op = profile<RegisterOp>(body, {
    op: 'register', memberId, referralChain: [], atMs: atOf(body, ctx),
    key: has(body, 'memberId') ? 'reg:m:' + memberId : 'reg:' + requestId!,
    fp: 0,
  }, ctx);
  if (has(body, 'referrerId')) op.referrerId = idField(body, 'referrerId', '');
  if (has(body, 'tierId')) op.tierId = idField(body, 'tierId', '');
  if (has(body, 'points')) op.points = intField(body, 'points', '', { min: 0, max: POINTS_OP_MAX });
  if (has(body, 'walletCents')) op.walletCents = amount(body, 'walletCents', 0);
  op.fp = F.registerFingerprint(op, { at: has(body, 'at'), memberId: has(body, 'memberId'), requestId });
  return op;
}

export function patchOp(memberId: string, raw: unknown, ctx: RequestContext): PatchOp {
  const body = readObject(raw, '', PROFILE_FIELDS);
  if (Object.keys(body).length === 0) throw new FieldError('(root)', 'names no field to change');
  return profile<PatchOp>(body, { op: 'patch', memberId: checkId(memberId, 'memberId'), key: '', fp: 0, atMs: ctx.nowMs }, ctx);
}

/**
 * An order's `couponCodes`: at most COUPONS_PER_ORDER_MAX codes, each as a person may type it
 * (normalizeCouponCode: any case, hyphens and spaces) and kept as issued, none twice. Absent or
 * empty: undefined, so that the op (and its fingerprint) is that of an order without coupons.
 */
function couponCodesOf(body: Fields): string[] | undefined {
  if (!has(body, 'couponCodes')) return undefined;
  const raw = readArray(body['couponCodes'], 'couponCodes', { min: 0, max: COUPONS_PER_ORDER_MAX });
  const codes: string[] = [];
  raw.forEach((text, i) => {
    const path = `couponCodes[${i}]`;
    const code = typeof text === 'string' && text.length <= COUPON_CODE_TEXT_LENGTH_MAX ? normalizeCouponCode(text) : null;
    if (code === null) throw new FieldError(path, 'must be a coupon code: 12 letters and digits (hyphens and spaces allowed)');
    const first = codes.indexOf(code);
    if (first !== -1) throw new FieldError(path, `repeats couponCodes[${first}]`);
    codes.push(code);
  });
  return codes.length === 0 ? undefined : codes;
}

/** A coupon code in a path (`GET /v1/coupons/{code}`) as a person may type it, or null when it is not one. */
export function couponCodeParam(text: string): string | null {
  return text.length <= COUPON_CODE_TEXT_LENGTH_MAX ? normalizeCouponCode(text) : null;
}

export function purchaseOp(raw: unknown, ctx: RequestContext): PurchaseOp {
  const body = readObject(raw, '', ['orderId', 'memberId', 'amountCents', 'discountCents', 'redeemPoints', 'walletCents', 'storeId', 'channel', 'items', 'couponCodes', 'staffId', 'at']);
  const orderId = idField(body, 'orderId', '');
  const op: PurchaseOp = {
    op: 'purchase', orderId, memberId: idField(body, 'memberId', ''), key: 'order:' + orderId,
    fp: 0, atMs: atOf(body, ctx),
    amountCents: amount(body, 'amountCents'), discountCents: optAmount(body, 'discountCents'),
    redeemPoints: optionalInt(body, 'redeemPoints', '', { min: 0, max: POINTS_OP_MAX }) ?? 0,
    walletCents: optAmount(body, 'walletCents'),
  };
  readWhere(body, op);
  const couponCodes = couponCodesOf(body);
  if (couponCodes !== undefined) op.couponCodes = couponCodes;
  if (has(body, 'staffId')) op.staffId = idField(body, 'staffId', '');
  op.fp = F.purchaseFingerprint(op, has(body, 'at'));
  return op;
}

/** A purchase's (or a quote's) `storeId`, `channel` and `items`, when the body names them. */
function readWhere(body: Fields, op: PurchaseOp | QuoteOp): void {
  if (has(body, 'storeId')) op.storeId = idField(body, 'storeId', '');
  if (has(body, 'channel')) op.channel = checkEnum(body['channel'], 'channel', ['online', 'offline'] as const);
  if (has(body, 'items')) {
    op.items = readArray(body['items'], 'items', { min: 0, max: ITEMS_MAX }).map((raw, i) => {
      const path = `items[${i}]`;
      const item = readObject(raw, path, ['sku', 'qty', 'amountCents']);
      return {
        sku: idField(item, 'sku', path),
        qty: intField(item, 'qty', path, { min: 1, max: 1_000_000 }),
        amountCents: intField(item, 'amountCents', path, { min: 0, max: AMOUNT_CENTS_MAX }),
      };
    });
  }
}

/** The checkout quote: the purchase's store, channel and items are optional, for the campaigns it would get. */
export function quoteOp(raw: unknown, ctx: RequestContext): QuoteOp {
  const body = readObject(raw, '', ['memberId', 'amountCents', 'couponCodes', 'storeId', 'channel', 'items', 'at']);
  const op: QuoteOp = { op: 'quote', memberId: idField(body, 'memberId', ''), amountCents: amount(body, 'amountCents'), atMs: atOf(body, ctx) };
  const couponCodes = couponCodesOf(body);
  if (couponCodes !== undefined) op.couponCodes = couponCodes;
  readWhere(body, op);
  return op;
}

/** One coupon of a template to one member by hand (admin). Whether the template exists is the caller's to check. */
export function couponIssueOp(raw: unknown, ctx: RequestContext): CouponIssueOp {
  const body = readObject(raw, '', ['requestId', 'templateId', 'memberId', 'at']);
  const k = requestKeyed(body, ctx);
  const op: CouponIssueOp = { op: 'coupon_issue', memberId: k.memberId, templateId: idField(body, 'templateId', ''), source: 'admin', key: k.key, fp: 0, atMs: k.atMs };
  op.fp = F.couponIssueFingerprint(op, k.requestId, k.atSent);
  return op;
}

/**
 * One member's coupon of a bulk issue: keyed by the bulk's requestId and the member, so that a
 * retry of the bulk issues nobody a second coupon, and no key claim is needed (the key names the
 * member, so it lives on the member's shard alone).
 */
export function bulkIssueOp(requestId: string, templateId: string, memberId: string, nowMs: number): CouponIssueOp {
  const op: CouponIssueOp = { op: 'coupon_issue', memberId, templateId, source: 'bulk', key: `bulk:${requestId}:${memberId}`, fp: 0, atMs: nowMs };
  op.fp = F.couponIssueFingerprint(op, requestId, false);
  return op;
}

/**
 * A revocation's body, checked before its coupon is looked for: answers the op for the coupon
 * (its code as issued) and the member the code's shard says holds it.
 */
export function couponRevokeRequest(raw: unknown, ctx: RequestContext): (code: string, memberId: string) => CouponRevokeOp {
  const body = readObject(raw, '', ['requestId', 'at']);
  const requestId = idField(body, 'requestId', '');
  const atMs = atOf(body, ctx);
  const atSent = has(body, 'at');
  return (code, memberId) => {
    const op: CouponRevokeOp = { op: 'coupon_revoke', memberId, code, key: 'req:' + requestId, fp: 0, atMs };
    op.fp = F.couponRevokeFingerprint(op, requestId, atSent);
    return op;
  };
}

function requestKeyed(body: Fields, ctx: RequestContext) {
  const requestId = idField(body, 'requestId', '');
  return { requestId, key: 'req:' + requestId, atMs: atOf(body, ctx), atSent: has(body, 'at'), memberId: idField(body, 'memberId', '') };
}

/** An erasure of the member in the path (admin): `{ requestId }`, the key; the time is the server's. */
export function eraseOp(memberId: string, raw: unknown, ctx: RequestContext): EraseOp {
  const body = readObject(raw, '', ['requestId']);
  const requestId = idField(body, 'requestId', '');
  const op: EraseOp = { op: 'erase', memberId: checkId(memberId, 'memberId'), key: 'req:' + requestId, fp: 0, atMs: ctx.nowMs };
  op.fp = F.eraseFingerprint(op, requestId);
  return op;
}

export function redeemOp(raw: unknown, ctx: RequestContext): RedeemOp {
  const body = readObject(raw, '', ['requestId', 'memberId', 'points', 'at']);
  const k = requestKeyed(body, ctx);
  const op: RedeemOp = { op: 'redeem', memberId: k.memberId, key: k.key, fp: 0, atMs: k.atMs, points: intField(body, 'points', '', { min: 1, max: POINTS_OP_MAX }) };
  op.fp = F.redeemFingerprint(op, k.requestId, k.atSent);
  return op;
}

export function adjustOp(raw: unknown, ctx: RequestContext): AdjustOp {
  const body = readObject(raw, '', ['requestId', 'memberId', 'points', 'reason', 'at']);
  const k = requestKeyed(body, ctx);
  const points = intField(body, 'points', '', { min: -POINTS_OP_MAX, max: POINTS_OP_MAX });
  if (points === 0) throw new FieldError('points', 'must not be 0');
  const op: AdjustOp = { op: 'adjust', memberId: k.memberId, key: k.key, fp: 0, atMs: k.atMs, points, reason: stringField(body, 'reason', '', { maxLength: TEXT_LENGTH_MAX }) };
  op.fp = F.adjustFingerprint(op, k.requestId, k.atSent);
  return op;
}

export function topupOp(raw: unknown, ctx: RequestContext): TopupOp {
  const body = readObject(raw, '', ['requestId', 'memberId', 'amountCents', 'at']);
  const k = requestKeyed(body, ctx);
  const op: TopupOp = { op: 'topup', memberId: k.memberId, key: k.key, fp: 0, atMs: k.atMs, amountCents: amount(body, 'amountCents') };
  op.fp = F.walletFingerprint(op, k.requestId, k.atSent);
  return op;
}

export function withdrawOp(raw: unknown, ctx: RequestContext): WithdrawOp {
  const body = readObject(raw, '', ['requestId', 'memberId', 'amountCents', 'at']);
  const k = requestKeyed(body, ctx);
  const op: WithdrawOp = { op: 'withdraw', memberId: k.memberId, key: k.key, fp: 0, atMs: k.atMs, amountCents: amount(body, 'amountCents') };
  op.fp = F.walletFingerprint(op, k.requestId, k.atSent);
  return op;
}

/** A return; the member is found from the order by the caller. */
export function returnOp(raw: unknown, ctx: RequestContext): Omit<ReturnOp, 'memberId'> {
  const body = readObject(raw, '', ['returnId', 'orderId', 'amountCents', 'at']);
  const returnId = idField(body, 'returnId', '');
  const op: Omit<ReturnOp, 'memberId'> = {
    // 0 is the whole return of an order paid wholly with points (net 0); the shard checks that.
    op: 'return', returnId, orderId: idField(body, 'orderId', ''), amountCents: amount(body, 'amountCents', 0),
    key: 'ret:' + returnId, fp: 0, atMs: atOf(body, ctx),
  };
  op.fp = F.returnFingerprint(op, has(body, 'at'));
  return op;
}

export function transferOp(raw: unknown, ctx: RequestContext): TransferOp {
  const body = readObject(raw, '', ['requestId', 'fromMemberId', 'toMemberId', 'amountCents', 'at']);
  const requestId = idField(body, 'requestId', '');
  const from = idField(body, 'fromMemberId', '');
  const to = idField(body, 'toMemberId', '');
  if (from === to) throw new FieldError('toMemberId', 'must differ from fromMemberId');
  const op: TransferOp = {
    op: 'transfer', memberId: from, toMemberId: to, amountCents: amount(body, 'amountCents'),
    key: 'req:' + requestId, fp: 0, atMs: atOf(body, ctx),
  };
  op.fp = F.transferFingerprint(op, requestId, has(body, 'at'));
  return op;
}

/** A loyalty product purchase; without a channel, a POS key buys offline and a storefront key online. */
export function productOp(raw: unknown, ctx: RequestContext): ProductOp {
  const body = readObject(raw, '', ['orderId', 'memberId', 'productId', 'channel', 'at']);
  const orderId = idField(body, 'orderId', '');
  const op: ProductOp = {
    op: 'product', orderId, memberId: idField(body, 'memberId', ''), productId: idField(body, 'productId', ''),
    key: 'prod:' + orderId, fp: 0, atMs: atOf(body, ctx),
  };
  const channel = has(body, 'channel') ? checkEnum(body['channel'], 'channel', ['online', 'offline'] as const)
    : ctx.role === 'pos' ? 'offline' : ctx.role === 'storefront' ? 'online' : undefined;
  if (channel !== undefined) op.channel = channel;
  op.fp = F.productFingerprint(op, has(body, 'at'));
  return op;
}

export { fieldPath };
