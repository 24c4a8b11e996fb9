// One place that turns a named operation and its body into a validated engine op, for the HTTP
// routes and the POS stream alike: role checks, validation, and the mapping of failures to
// results. What the op needs from other shards is the engine's business (engine/router/orchestrate.ts).
import { LoyaltyError, opError } from '../engine/errors.js';
import { FieldError } from '../engine/rules/validate.js';
import type { Engine } from '../engine/router/engine.js';
import type { Intent } from '../engine/router/orchestrate.js';
import type { OpResult } from '../engine/ops.js';
import type { Role } from './auth.js';
import * as R from './requests.js';
import { cardUseOp, rewardRedeemOp } from './reward-requests.js';
import { bodyFingerprint } from './fingerprint.js';
import { OP_BODIES } from './schema/bodies.js';
import { checkBody, validatorOf } from './schema/body-check.js';

// Compiled when the server starts, not on a first op.
for (const schema of Object.values(OP_BODIES)) validatorOf(schema);

export const STREAM_OPS = ['register', 'purchase', 'return', 'quote', 'topup', 'withdraw', 'transfer', 'redeem', 'adjust', 'product_purchase', 'reward_redeem', 'card_use'] as const;
export type OpName = typeof STREAM_OPS[number];

/** The roles allowed to perform each op (docs/api.md); admin may do everything. */
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
  reward_redeem: ['admin', 'pos', 'storefront'],
  card_use: ['admin', 'pos', 'storefront'],
};

const BUILDERS: Record<Exclude<OpName, 'register'>, (body: unknown, ctx: R.RequestContext) => Intent> = {
  purchase: R.purchaseOp, product_purchase: R.productOp, quote: R.quoteOp, topup: R.topupOp, withdraw: R.withdrawOp,
  redeem: R.redeemOp, adjust: R.adjustOp, return: R.returnOp, transfer: R.transferOp,
  reward_redeem: rewardRedeemOp, card_use: cardUseOp,
};

/**
 * The validated op a named body asks for, or the result refusing it (a role or a field). The body's
 * shape is checked against its schema (server/schema/bodies.ts) unless the HTTP router has done so.
 */
export function buildOp(engine: Engine, name: OpName, body: unknown, role: Role, nowMs: number, keyId: string, shapeChecked = false): Intent | OpResult {
  if (!OP_ROLES[name].includes(role)) return { ok: false, error: opError('forbidden') };
  try {
    if (!shapeChecked) checkBody(OP_BODIES[name], body);
    const ctx: R.RequestContext = { role, nowMs, defaultCountry: engine.program.program.defaultCountry };
    if (name === 'register') return R.signedBy(R.registerOp(body, ctx, (key) => engine.newMemberId(key)), keyId);
    return R.signedBy(BUILDERS[name](body, ctx), keyId);
  } catch (err) {
    return failure(err);
  }
}

/**
 * Validates and runs one op (HTTP); every failure comes back as a result, never as an exception.
 * An HTTP op is refused with `overloaded` when its shard's queue is full.
 */
export async function perform(engine: Engine, name: OpName, body: unknown, role: Role, keyId: string): Promise<OpResult> {
  // Every HTTP route that performs an op has had its body checked against the same schema (routes.ts).
  const op = buildOp(engine, name, body, role, engine.now(), keyId, true);
  if ('ok' in op) return op;
  return engine.run(op, failure, () => bodyFingerprint(op.op, body));
}

/** An op's failure as its result: a field problem, a catalogued refusal, or an internal error. */
export function failure(err: unknown): OpResult & { ok: false } {
  if (err instanceof FieldError) return { ok: false, error: opError('invalid_request', `${err.field}: ${err.message}`, err.field) };
  if (err instanceof LoyaltyError) return { ok: false, error: opError(err.code, err.message, err.field) };
  // Anything else is a bug or a dead worker: this op fails alone, the caller's other ops go on.
  return { ok: false, error: opError('internal') };
}
