// Turns the reward and count card request bodies (HTTP JSON or stream ops) into validated engine ops
// (docs/api.md, Rewards and count cards): every field checked, unknown fields refused, `at`
// resolved, the op fingerprinted for idempotency (fingerprint.ts).
import * as F from './fingerprint.js';
import { FieldError, checkId, has, idField, intField, readObject, stringField } from '../engine/rules/validate.js';
import { CARD_USES_OP_MAX, REWARD_QUANTITY_MAX, REWARD_STOCK_MAX, TEXT_LENGTH_MAX } from '../engine/limits.js';
import type { CardAdjustOp, CardUseOp, RewardCancelOp, RewardFulfilOp, RewardRedeemOp, RewardStockOp } from '../engine/ops.js';
import { parseAt, type RequestContext } from './requests.js';

const atOf = (body: Record<string, unknown>, ctx: RequestContext): number => (has(body, 'at') ? parseAt(body['at'], 'at', ctx.nowMs) : ctx.nowMs);

/** The key of a fulfilment and of a cancellation: the redemption's, so that asking twice answers once. */
export const FULFIL_KEY_PREFIX = 'rful:';
export const CANCEL_KEY_PREFIX = 'rcan:';

/** A redemption `{ requestId, memberId, rewardId, quantity = 1, storeId?, staffId?, at? }`; its id is its requestId. */
export function rewardRedeemOp(raw: unknown, ctx: RequestContext): RewardRedeemOp {
  const body = readObject(raw, '', ['requestId', 'memberId', 'rewardId', 'quantity', 'storeId', 'staffId', 'at']);
  const requestId = idField(body, 'requestId', '');
  const op: RewardRedeemOp = {
    op: 'reward_redeem', memberId: idField(body, 'memberId', ''), rewardId: idField(body, 'rewardId', ''),
    quantity: has(body, 'quantity') ? intField(body, 'quantity', '', { min: 1, max: REWARD_QUANTITY_MAX }) : 1,
    redemptionId: requestId, key: 'req:' + requestId, fp: 0, atMs: atOf(body, ctx),
  };
  if (has(body, 'storeId')) op.storeId = idField(body, 'storeId', '');
  if (has(body, 'staffId')) op.staffId = idField(body, 'staffId', '');
  op.fp = F.rewardRedeemFingerprint(op, has(body, 'at'));
  return op;
}

/**
 * A fulfilment's body `{ storeId?, staffId?, at? }` (empty allowed), checked before its redemption
 * is looked for: answers the op for the redemption's member.
 */
export function rewardFulfilRequest(redemptionId: string, raw: unknown, ctx: RequestContext): (memberId: string) => RewardFulfilOp {
  const id = checkId(redemptionId, 'redemptionId');
  const body = readObject(raw ?? {}, '', ['storeId', 'staffId', 'at']);
  const atMs = atOf(body, ctx);
  const storeId = has(body, 'storeId') ? idField(body, 'storeId', '') : undefined;
  const staffId = has(body, 'staffId') ? idField(body, 'staffId', '') : undefined;
  return (memberId) => {
    const op: RewardFulfilOp = { op: 'reward_fulfil', memberId, redemptionId: id, key: FULFIL_KEY_PREFIX + id, fp: 0, atMs };
    if (storeId !== undefined) op.storeId = storeId;
    if (staffId !== undefined) op.staffId = staffId;
    op.fp = F.redemptionStepFingerprint(op, has(body, 'at'));
    return op;
  };
}

/** A cancellation's body `{ at? }` (empty allowed), checked before its redemption is looked for. */
export function rewardCancelRequest(redemptionId: string, raw: unknown, ctx: RequestContext): (memberId: string) => RewardCancelOp {
  const id = checkId(redemptionId, 'redemptionId');
  const body = readObject(raw ?? {}, '', ['at']);
  const atMs = atOf(body, ctx);
  return (memberId) => {
    const op: RewardCancelOp = { op: 'reward_cancel', memberId, redemptionId: id, key: CANCEL_KEY_PREFIX + id, fp: 0, atMs };
    op.fp = F.redemptionStepFingerprint(op, has(body, 'at'));
    return op;
  };
}

/** A restock `{ requestId, delta (≠ 0), at? }` of the reward in the path. */
export function rewardStockOp(rewardId: string, raw: unknown, ctx: RequestContext): RewardStockOp {
  const body = readObject(raw, '', ['requestId', 'delta', 'at']);
  const requestId = idField(body, 'requestId', '');
  const delta = intField(body, 'delta', '', { min: -REWARD_STOCK_MAX, max: REWARD_STOCK_MAX });
  if (delta === 0) throw new FieldError('delta', 'must not be 0');
  const op: RewardStockOp = { op: 'reward_stock', memberId: '', rewardId: checkId(rewardId, 'rewardId'), delta, key: 'req:' + requestId, fp: 0, atMs: atOf(body, ctx) };
  op.fp = F.rewardStockFingerprint(op, requestId, has(body, 'at'));
  return op;
}

/** A card use `{ requestId, memberId, serviceId, uses = 1, storeId?, staffId?, at? }`. */
export function cardUseOp(raw: unknown, ctx: RequestContext): CardUseOp {
  const body = readObject(raw, '', ['requestId', 'memberId', 'serviceId', 'uses', 'storeId', 'staffId', 'at']);
  const requestId = idField(body, 'requestId', '');
  const op: CardUseOp = {
    op: 'card_use', memberId: idField(body, 'memberId', ''), serviceId: idField(body, 'serviceId', ''),
    uses: has(body, 'uses') ? intField(body, 'uses', '', { min: 1, max: CARD_USES_OP_MAX }) : 1,
    key: 'req:' + requestId, fp: 0, atMs: atOf(body, ctx),
  };
  if (has(body, 'storeId')) op.storeId = idField(body, 'storeId', '');
  if (has(body, 'staffId')) op.staffId = idField(body, 'staffId', '');
  op.fp = F.cardUseFingerprint(op, requestId, has(body, 'at'));
  return op;
}

/** An admin's card adjustment `{ requestId, memberId, serviceId, uses (≠ 0), reason, at? }`. */
export function cardAdjustOp(raw: unknown, ctx: RequestContext): CardAdjustOp {
  const body = readObject(raw, '', ['requestId', 'memberId', 'serviceId', 'uses', 'reason', 'at']);
  const requestId = idField(body, 'requestId', '');
  const uses = intField(body, 'uses', '', { min: -CARD_USES_OP_MAX, max: CARD_USES_OP_MAX });
  if (uses === 0) throw new FieldError('uses', 'must not be 0');
  const op: CardAdjustOp = {
    op: 'card_adjust', memberId: idField(body, 'memberId', ''), serviceId: idField(body, 'serviceId', ''), uses,
    reason: stringField(body, 'reason', '', { maxLength: TEXT_LENGTH_MAX }), key: 'req:' + requestId, fp: 0, atMs: atOf(body, ctx),
  };
  op.fp = F.cardAdjustFingerprint(op, requestId, has(body, 'at'));
  return op;
}
