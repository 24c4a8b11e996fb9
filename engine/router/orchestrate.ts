// Ops whose route or precondition spans shards, decided here before an op reaches its shard: a
// return goes to the shard of its order's member, a referred registration carries its referrer's
// chain, a transfer's target must exist. Batches of such ops (the POS stream) run in op order.
import { opError } from '../errors.js';
import type { OpResult, RegisterOp, ReturnOp, TransferOp, WriteOp } from '../ops.js';
import type { Engine } from './engine.js';

/** A return as the front end knows it: its member is the order's, which only the shards know. */
export type ReturnRequest = Omit<ReturnOp, 'memberId'> & { memberId?: undefined };

/** A validated op as the front end hands it over. */
export type Intent = Exclude<WriteOp, ReturnOp> | ReturnRequest;

/** Maps an op's unexpected failure (an error thrown on its way) to its result. */
export type FailureMap = (err: unknown) => OpResult;

const overloaded = (): OpResult => ({ ok: false, error: opError('overloaded') });

/** Whether an op looks something up on another shard before it can be queued. */
function looksUp(op: Intent): boolean {
  return op.op === 'return' || op.op === 'transfer' || (op.op === 'register' && op.referrerId !== undefined);
}

/** A return goes to the shard of the order's member. */
async function runReturn(engine: Engine, op: ReturnRequest, admitted: boolean): Promise<OpResult> {
  const memberId = await engine.orderMember(op.orderId);
  if (memberId === null) return { ok: false, error: opError('order_not_found', undefined, 'orderId') };
  if (!admitted && engine.saturatedFor(memberId)) return overloaded();
  return engine.submit({ ...op, memberId }, admitted);
}

/** A transfer's target must exist before its source is debited. */
async function runTransfer(engine: Engine, op: TransferOp, admitted: boolean): Promise<OpResult> {
  if (await engine.queryMember({ q: 'member', memberId: op.toMemberId }) === null) {
    return { ok: false, error: opError('member_not_found', 'the transfer\'s target is not a member', 'toMemberId') };
  }
  if (!admitted && engine.saturatedFor(op.memberId)) return overloaded();
  return engine.submit(op, admitted);
}

/** A referred registration carries its referrer's chain, read from the referrer's shard. */
async function runRegister(engine: Engine, op: RegisterOp, admitted: boolean): Promise<OpResult> {
  if (op.referrerId !== undefined) {
    const referrer = await engine.queryMember({ q: 'member', memberId: op.referrerId }) as { referralChain: string[] } | null;
    if (referrer === null) return { ok: false, error: opError('referrer_not_found', undefined, 'referrerId') };
    op.referralChain = engine.referralChain(op.referrerId, referrer.referralChain);
  }
  if (!admitted && engine.saturatedFor(op.memberId)) return overloaded();
  return engine.registerOrPatch(op, admitted);
}

/**
 * Runs one op: its cross-shard lookups, then its shard. `admitted`: the op belongs to a stream
 * batch that was let in while the shards had room, so it is queued even past the bound (a stream
 * stops reading instead of refusing ops half-way). Throws what the shard client throws.
 */
export function run(engine: Engine, op: Intent, admitted: boolean): Promise<OpResult> {
  switch (op.op) {
    case 'return': return runReturn(engine, op, admitted);
    case 'transfer': return runTransfer(engine, op, admitted);
    case 'register': return runRegister(engine, op, admitted);
    default:
      if (op.op !== 'quote' && !admitted && engine.saturatedFor(op.memberId)) return Promise.resolve(overloaded());
      return engine.submit(op, admitted);
  }
}

/**
 * Runs a batch of ops (or results already decided, such as validation failures, kept in their
 * place) and answers in op order. Ops on one member apply in batch order: an op that looks
 * something up first finishes before the batch's later ops are queued.
 */
export async function runBatch(engine: Engine, items: ReadonlyArray<Intent | OpResult>, admitted: boolean, failure: FailureMap): Promise<OpResult[]> {
  const pending: Array<OpResult | Promise<OpResult>> = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if ('ok' in item) { pending[i] = item; continue; }
    let result: Promise<OpResult>;
    try {
      result = run(engine, item, admitted).catch(failure);
    } catch (err) {
      result = Promise.resolve(failure(err));
    }
    pending[i] = result;
    if (looksUp(item)) await result;
  }
  return Promise.all(pending);
}
