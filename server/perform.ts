// One place that turns a named operation and its body into an engine call, for the HTTP routes and
// the POS stream alike: validation, role checks, overload refusal and the engine's answer.
import { LoyaltyError, opError } from '../engine/errors.js';
import { FieldError } from '../engine/rules/validate.js';
import type { Engine } from '../engine/router/engine.js';
import type { OpResult, RegisterOp, WriteOp } from '../engine/ops.js';
import type { Role } from './auth.js';
import * as R from './requests.js';

export const STREAM_OPS = ['register', 'purchase', 'return', 'quote', 'topup', 'withdraw', 'transfer', 'redeem', 'adjust', 'product_purchase'] as const;
export type OpName = typeof STREAM_OPS[number];

/** The roles allowed to perform each op (SPEC section 11); admin may do everything. */
export const OP_ROLES: Record<OpName, readonly Role[]> = {
  register: ['admin', 'pos', 'storefront'],
  purchase: ['admin', 'pos', 'storefront'],
  return: ['admin', 'pos', 'storefront'],
  product_purchase: ['admin', 'pos', 'storefront'],
  transfer: ['admin'],
  quote: ['admin', 'pos', 'storefront'],
  topup: ['admin', 'pos', 'storefront'],
  redeem: ['admin', 'pos', 'storefront'],
  withdraw: ['admin'],
  adjust: ['admin'],
};

const BUILDERS: Record<Exclude<OpName, 'register' | 'return' | 'transfer'>, (body: unknown, ctx: R.RequestContext) => WriteOp> = {
  purchase: R.purchaseOp, product_purchase: R.productOp, quote: R.quoteOp, topup: R.topupOp, withdraw: R.withdrawOp, redeem: R.redeemOp, adjust: R.adjustOp,
};

/** A return goes to the shard of the order's member, which only the shards know. */
async function returnOf(engine: Engine, body: unknown, ctx: R.RequestContext, admitted: boolean): Promise<OpResult> {
  const op = R.returnOp(body, ctx);
  const memberId = await engine.orderMember(op.orderId);
  if (memberId === null) return { ok: false, error: opError('order_not_found', undefined, 'orderId') };
  if (!admitted && engine.saturatedFor(memberId)) return { ok: false, error: opError('overloaded') };
  return engine.submit({ ...op, memberId }, admitted);
}

/** A transfer's target must exist before its source is debited. */
async function transferOf(engine: Engine, body: unknown, ctx: R.RequestContext, admitted: boolean): Promise<OpResult> {
  const op = R.transferOp(body, ctx);
  if (await engine.queryMember({ q: 'member', memberId: op.toMemberId }) === null) {
    return { ok: false, error: opError('member_not_found', 'the transfer\'s target is not a member', 'toMemberId') };
  }
  if (!admitted && engine.saturatedFor(op.memberId)) return { ok: false, error: opError('overloaded') };
  return engine.submit(op, admitted);
}

async function register(engine: Engine, op: RegisterOp, admitted: boolean): Promise<OpResult> {
  if (op.referrerId !== undefined) {
    const referrer = await engine.queryMember({ q: 'member', memberId: op.referrerId }) as { referralChain: string[] } | null;
    if (referrer === null) return { ok: false, error: opError('referrer_not_found', undefined, 'referrerId') };
    op.referralChain = engine.referralChain(op.referrerId, referrer.referralChain);
  }
  if (!admitted && engine.saturatedFor(op.memberId)) return { ok: false, error: opError('overloaded') };
  return engine.registerOrPatch(op, admitted);
}

/**
 * Validates and runs one op; every failure comes back as a result, never as an exception.
 * `admitted`: the op belongs to a stream batch that was let in while the shards had room, so it
 * is queued even past the bound (a stream stops reading instead of refusing ops half-way).
 */
export async function perform(engine: Engine, name: OpName, body: unknown, role: Role, admitted = false): Promise<OpResult> {
  try {
    if (!OP_ROLES[name].includes(role)) return { ok: false, error: opError('forbidden') };
    const ctx: R.RequestContext = { role, nowMs: engine.now(), defaultCountry: engine.program.program.defaultCountry };
    if (name === 'register') {
      return await register(engine, R.registerOp(body, ctx, (key) => engine.newMemberId(key)), admitted);
    }
    if (name === 'return') return await returnOf(engine, body, ctx, admitted);
    if (name === 'transfer') return await transferOf(engine, body, ctx, admitted);
    const op = BUILDERS[name](body, ctx);
    if (op.op !== 'quote' && !admitted && engine.saturatedFor(op.memberId)) return { ok: false, error: opError('overloaded') };
    return await engine.submit(op, admitted);
  } catch (err) {
    return failure(err);
  }
}

/** An op's failure as its result: a field problem, a catalogued refusal, or an internal error. */
export function failure(err: unknown): OpResult & { ok: false } {
  if (err instanceof FieldError) return { ok: false, error: opError('invalid_request', `${err.field}: ${err.message}`, err.field) };
  if (err instanceof LoyaltyError) return { ok: false, error: opError(err.code, err.message, err.field) };
  // Anything else is a bug or a dead worker: this op fails alone, the caller's other ops go on.
  return { ok: false, error: opError('internal') };
}
