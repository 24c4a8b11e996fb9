// Ops whose route or precondition spans shards, decided here before an op reaches its shard: a
// return goes to the shard of its order's member, a referred registration carries its referrer's
// chain, a transfer's target must exist. Those lookups know what is in flight: a lookup naming an
// order being purchased or a member being registered waits for that op's answer first, so ops of
// one batch (and of one connection's batches) see each other in op order.
import { opError } from '../errors.js';
import type { OpResult, PurchaseOp, RegisterOp, ReturnOp, TransferOp, WriteOp } from '../ops.js';
import type { Engine } from './engine.js';

/** A return as the front end knows it: its member is the order's, which only the shards know. */
export type ReturnRequest = Omit<ReturnOp, 'memberId'> & { memberId?: undefined };

/** A validated op as the front end hands it over. */
export type Intent = Exclude<WriteOp, ReturnOp> | ReturnRequest;

/** Maps an op's unexpected failure (an error thrown on its way) to its result. */
export type FailureMap = (err: unknown) => OpResult;

/** Ops in flight under one order or member id: their answers joined (never rejecting), and how many. */
interface InFlight { answer: Promise<OpResult>; count: number }

const overloaded = (): OpResult => ({ ok: false, error: opError('overloaded') });

/** Whether an op looks something up on another shard before it can be queued. */
function looksUp(op: Intent): boolean {
  return op.op === 'return' || op.op === 'transfer' || (op.op === 'register' && op.referrerId !== undefined);
}

/**
 * Runs ops for the front end. Purchases and registrations in flight are tracked by order and
 * member id (one Map entry each, removed when answered), so that a dependent lookup can wait for
 * them; the common path, an op that depends on nothing in flight, queues at once as before.
 */
export class Orchestrator {
  /** Purchases in flight, by orderId. */
  private readonly orders = new Map<string, InFlight>();
  /** Registrations in flight, by memberId. */
  private readonly members = new Map<string, InFlight>();

  constructor(private readonly engine: Engine) {}

  /**
   * Runs one op: its cross-shard lookups, then its shard; resolves with its result, never
   * rejects. `admitted`: the op belongs to a stream batch that was let in while the shards had
   * room, so it is queued even past the bound (a stream stops reading instead of refusing ops
   * half-way); otherwise a full queue answers `overloaded`.
   */
  run(op: Intent, admitted: boolean, failure: FailureMap): Promise<OpResult> {
    const result = this.start(op, admitted, failure);
    if (op.op === 'purchase' || op.op === 'register') {
      const forget = (): void => this.forget(op);
      void result.then(forget);
    }
    return result;
  }

  /**
   * Runs a batch of ops (or results already decided, such as validation failures, kept in their
   * place) and answers in op order. Ops on one member apply in batch order: an op that looks
   * something up first finishes before the batch's later ops are queued. `submitted` settles once
   * every op is queued on its shard; `results` once every op is answered.
   */
  runBatch(items: ReadonlyArray<Intent | OpResult>, admitted: boolean, failure: FailureMap): { submitted: Promise<void>; results: Promise<OpResult[]> } {
    const pending: Array<OpResult | Promise<OpResult>> = new Array(items.length);
    const submitted = this.submitFrom(items, 0, pending, admitted, failure);
    const results = submitted.then(() => Promise.all(pending)).then((answered) => {
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (!('ok' in item) && (item.op === 'purchase' || item.op === 'register')) this.forget(item);
      }
      return answered;
    });
    return { submitted, results };
  }

  /** Queues items[from..] in order, waiting for each op that looks something up before going on. */
  private async submitFrom(items: ReadonlyArray<Intent | OpResult>, from: number, pending: Array<OpResult | Promise<OpResult>>, admitted: boolean, failure: FailureMap): Promise<void> {
    for (let i = from; i < items.length; i++) {
      const item = items[i]!;
      if ('ok' in item) { pending[i] = item; continue; }
      const result = this.start(item, admitted, failure);
      pending[i] = result;
      if (looksUp(item)) await result;
    }
  }

  /** Starts an op and, for a purchase or a registration, records it as in flight. */
  private start(op: Intent, admitted: boolean, failure: FailureMap): Promise<OpResult> {
    let result: Promise<OpResult>;
    try {
      result = this.dispatch(op, admitted).catch(failure);
    } catch (err) {
      result = Promise.resolve(failure(err));
    }
    if (op.op === 'purchase') this.track(this.orders, op.orderId, result);
    else if (op.op === 'register') this.track(this.members, op.memberId, result);
    return result;
  }

  private dispatch(op: Intent, admitted: boolean): Promise<OpResult> {
    const { engine } = this;
    switch (op.op) {
      case 'return': return this.runReturn(op, admitted);
      case 'transfer': return this.runTransfer(op, admitted);
      case 'register': return this.runRegister(op, admitted);
      default:
        if (op.op !== 'quote' && !admitted && engine.saturatedFor(op.memberId)) return Promise.resolve(overloaded());
        return engine.submit(op, admitted);
    }
  }

  /** Another op with the same id may be in flight too (a retry): a lookup then waits for both. */
  private track(map: Map<string, InFlight>, id: string, result: Promise<OpResult>): void {
    const entry = map.get(id);
    if (entry === undefined) { map.set(id, { answer: result, count: 1 }); return; }
    entry.answer = Promise.all([entry.answer, result]).then(() => result);
    entry.count += 1;
  }

  /** Called once per tracked op, once it is answered. */
  private forget(op: PurchaseOp | RegisterOp): void {
    const map = op.op === 'purchase' ? this.orders : this.members;
    const id = op.op === 'purchase' ? op.orderId : op.memberId;
    const entry = map.get(id)!;
    entry.count -= 1;
    if (entry.count === 0) map.delete(id);
  }

  /** The member an order belongs to: from its purchase in flight once answered, else from the shards. */
  private async orderMember(orderId: string): Promise<string | null> {
    const inFlight = this.orders.get(orderId);
    if (inFlight !== undefined) {
      const purchase = await inFlight.answer;
      if (purchase.ok) return purchase['memberId'] as string;
    }
    return this.engine.orderMember(orderId);
  }

  /**
   * A member's referral chain, or null when there is no such member: from its registration in
   * flight once answered, else from its shard.
   */
  private async memberChain(memberId: string): Promise<string[] | null> {
    const inFlight = this.members.get(memberId);
    if (inFlight !== undefined) {
      const registered = await inFlight.answer;
      if (registered.ok && Array.isArray(registered['referralChain'])) return registered['referralChain'] as string[];
    }
    const member = await this.engine.queryMember({ q: 'member', memberId }) as { referralChain: string[] } | null;
    return member === null ? null : member.referralChain;
  }

  /** A return goes to the shard of the order's member. */
  private async runReturn(op: ReturnRequest, admitted: boolean): Promise<OpResult> {
    const memberId = await this.orderMember(op.orderId);
    if (memberId === null) return { ok: false, error: opError('order_not_found', undefined, 'orderId') };
    if (!admitted && this.engine.saturatedFor(memberId)) return overloaded();
    return this.engine.submit({ ...op, memberId }, admitted);
  }

  /** A transfer's target must exist before its source is debited. */
  private async runTransfer(op: TransferOp, admitted: boolean): Promise<OpResult> {
    if (await this.memberChain(op.toMemberId) === null) {
      return { ok: false, error: opError('member_not_found', 'the transfer\'s target is not a member', 'toMemberId') };
    }
    if (!admitted && this.engine.saturatedFor(op.memberId)) return overloaded();
    return this.engine.submit(op, admitted);
  }

  /** A referred registration carries its referrer's chain. */
  private async runRegister(op: RegisterOp, admitted: boolean): Promise<OpResult> {
    if (op.referrerId !== undefined) {
      const chain = await this.memberChain(op.referrerId);
      if (chain === null) return { ok: false, error: opError('referrer_not_found', undefined, 'referrerId') };
      op.referralChain = this.engine.referralChain(op.referrerId, chain);
    }
    if (!admitted && this.engine.saturatedFor(op.memberId)) return overloaded();
    return this.engine.registerOrPatch(op, admitted);
  }
}

/**
 * The batches of one connection, queued in the order they arrived: a batch's ops are queued only
 * after every op of the batches before it, so that a lookup in a later batch sees what an earlier
 * one has in flight, even when that earlier batch waited on a lookup of its own.
 */
export class OpSequence {
  /** Settles when the last batch given has queued all its ops. */
  private tail: Promise<void> = Promise.resolve();
  private busy = 0;

  constructor(private readonly orchestrator: Orchestrator) {}

  runBatch(items: ReadonlyArray<Intent | OpResult>, admitted: boolean, failure: FailureMap): Promise<OpResult[]> {
    if (this.busy === 0) {
      // Nothing of this connection is still being queued (the usual case): start at once.
      return this.follow(this.orchestrator.runBatch(items, admitted, failure));
    }
    const started = this.tail.then(() => this.orchestrator.runBatch(items, admitted, failure));
    return this.follow({ submitted: started.then((b) => b.submitted), results: started.then((b) => b.results) });
  }

  private follow(batch: { submitted: Promise<void>; results: Promise<OpResult[]> }): Promise<OpResult[]> {
    this.busy += 1;
    this.tail = batch.submitted.finally(() => { this.busy -= 1; });
    return batch.results;
  }
}
