// Ops whose route or precondition spans shards, decided here before an op reaches its shard: a
// return goes to the shard of its order's member, a referred registration carries its referrer's
// chain, a transfer's target must exist, and a key whose home is another shard is claimed there
// first (key-claims.ts). Those lookups know what is in flight: a lookup naming an order being
// purchased or a member being registered waits for that op's answer first, so ops of one batch
// (and of one connection's batches) see each other in op order.
import { opError } from '../errors.js';
import type { ClaimOp, OpResult, PurchaseOp, QuoteOp, RegisterOp, ReturnOp, TransferOp, WriteOp } from '../ops.js';
import type { Engine } from './engine.js';
import { KeyClaims, type Claim, type ClaimRequest } from './key-claims.js';
import type { ShardClient } from './shard-client.js';
import { hashId } from './member-hash.js';
import { shardOfCode } from './coupon-gate.js';
import { ResultList } from '../batch-records.js';

/** A return as the front end knows it: its member is the order's, which only the shards know. */
export type ReturnRequest = Omit<ReturnOp, 'memberId'> & { memberId?: undefined };

/** A validated op as the front end hands it over. */
/** What memberChain answers for an erased member. */
const ERASED = 'erased' as const;

export type Intent = Exclude<WriteOp, ReturnOp | ClaimOp> | ReturnRequest;

/** Maps an op's unexpected failure (an error thrown on its way) to its result. */
export type FailureMap = (err: unknown) => OpResult;

/**
 * The fingerprint a request had before requests were fingerprinted as understood (its raw
 * body's), computed only when an op conflicts with its key's stored fingerprint: a key stored
 * then still replays (server/fingerprint.ts).
 */
export type EarlierFingerprint = () => number;

/** A conflict on an op's key: the key was stored with another fingerprint. */
const isKeyConflict = (r: OpResult): boolean => !r.ok && (r.error.code === 'idempotency_conflict' || r.error.code === 'member_exists');

/**
 * Ops in flight under one order or member id: their answers joined (never rejecting), and how many.
 * The answer is made only when a lookup asks for it: a grouped op has no promise of its own.
 */
interface InFlight { answer: () => Promise<OpResult>; count: number; seq: number }

/**
 * The purchases of a group queued at once (submitGrouped), in flight as one: a Map entry and a
 * closure per purchase cost the stream's main thread ~0.9 µs per purchase, and a lookup that needs
 * them is rare (a return of an order still being bought). Which of its ops buys which order is
 * indexed only when a lookup first asks.
 */
interface GroupInFlight { ops: readonly WriteOp[]; answers: Promise<ResultList>; seq: number; lastIndexOf: Map<string, number> | null }

const overloaded = (): OpResult => ({ ok: false, error: opError('overloaded') });

/** What a claim is settled with when its op was not queued or its batch did not commit. */
const refused: OpResult = { ok: false, error: opError('internal') };

/** Whether an op names coupons a shard may not find because they live on another (couponElsewhere). */
function namesCoupons(op: Intent): op is PurchaseOp | QuoteOp {
  return (op.op === 'purchase' || op.op === 'quote') && op.couponCodes !== undefined;
}

/** Whether an op looks something up on another shard before it can be queued. */
function looksUp(op: Intent): boolean {
  return op.op === 'return' || op.op === 'transfer' || (op.op === 'register' && op.referrerId !== undefined);
}

/** Where each order id of a group's purchases is bought, by its last purchase in the group. */
function indexOrders(ops: readonly WriteOp[]): Map<string, number> {
  const index = new Map<string, number>();
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k]!;
    if (op.op === 'purchase') index.set(op.orderId, k);
  }
  return index;
}

/**
 * Runs ops for the front end. Purchases and registrations in flight are tracked by order and
 * member id (one Map entry each, removed when answered; a stream group's purchases one entry per
 * group), so that a dependent lookup can wait for them; the common path, an op that depends on
 * nothing in flight, queues at once as before.
 */
export class Orchestrator {
  /** Purchases in flight, by orderId. */
  private readonly orders = new Map<string, InFlight>();
  /** Registrations in flight, by memberId. */
  private readonly members = new Map<string, InFlight>();
  /** Groups of ops in flight that hold purchases: see GroupInFlight. */
  private readonly orderGroups = new Set<GroupInFlight>();
  /** Counts the purchases tracked: of two in flight with one order id, a lookup reads the later one's answer. */
  private trackSeq = 0;

  private readonly claims: KeyClaims;

  constructor(private readonly engine: Engine) {
    this.claims = new KeyClaims(engine.shards);
  }

  /**
   * Runs one op: its cross-shard lookups, then its shard; resolves with its result, never
   * rejects. `admitted`: the op belongs to a stream batch that was let in while the shards had
   * room, so it is queued even past the bound (a stream stops reading instead of refusing ops
   * half-way); otherwise a full queue answers `overloaded`.
   */
  run(op: Intent, admitted: boolean, failure: FailureMap, earlier?: EarlierFingerprint): Promise<OpResult> {
    const result = this.start(op, admitted, failure);
    if (op.op === 'purchase' || op.op === 'register') {
      const forget = (): void => this.forget(op);
      void result.then(forget);
    }
    const checked = namesCoupons(op) ? result.then((r) => this.couponElsewhere(op, r)) : result;
    if (earlier === undefined) return checked;
    return checked.then((r) => (isKeyConflict(r) ? this.replayEarlier(op, earlier(), r) : r));
  }

  /**
   * Runs a batch of ops (or results already decided, such as validation failures, kept in their
   * place) and answers in op order. Ops on one member apply in batch order: an op that looks
   * something up first finishes before the batch's later ops are queued. `submitted` settles once
   * every op is queued on its shard; `results` once every op is answered. The results of ops
   * queued in groups stay as their shards packed them (engine/batch-records.ts ResultList).
   */
  runBatch(items: ReadonlyArray<Intent | OpResult>, admitted: boolean, failure: FailureMap, earlier?: (i: number) => number): { submitted: Promise<void>; results: Promise<ResultList> } {
    const answered = new ResultList(items.length);
    /** The ops queued one by one, answered by a promise each: their indexes and promises. */
    const alone: Array<[number, Promise<OpResult>]> = [];
    const started: boolean[] = new Array(items.length);
    const grouped: Array<Promise<void>> = [];
    const tracked: GroupInFlight[] = [];
    const submitted = this.submitFrom(items, answered, alone, started, admitted, failure, grouped, tracked);
    const results = submitted.then(() => Promise.all(grouped)).then(() => Promise.all(alone.map(([, r]) => r))).then((answers) => {
      for (let k = 0; k < alone.length; k++) answered.set(alone[k]![0], answers[k]!);
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (started[i] === true && !('ok' in item) && (item.op === 'purchase' || item.op === 'register')) this.forget(item);
      }
      for (const group of tracked) this.orderGroups.delete(group);
      const checked = this.couponsElsewhere(items, answered);
      if (earlier === undefined) return checked;
      return checked === null ? this.replayEarlierAll(items, answered, earlier) : checked.then(() => this.replayEarlierAll(items, answered, earlier));
    }).then(() => answered);
    return { submitted, results };
  }

  /**
   * Queues the items in order, waiting for each op that looks something up before going on.
   * First, every op whose member is known and whose key's home is another shard claims its key
   * there, all at once (one commit on each home shard), so the batch waits for its claims once.
   * An op repeating a key of an earlier op of the batch claims in op order instead, queued behind
   * that op, so that of two uses of a key the first in the batch is the one that holds it.
   */
  private async submitFrom(
    items: ReadonlyArray<Intent | OpResult>, answered: ResultList, alone: Array<[number, Promise<OpResult>]>, started: boolean[], admitted: boolean,
    failure: FailureMap, grouped: Array<Promise<void>>, tracked: GroupInFlight[],
  ): Promise<void> {
    /** Whether every op can be queued at once, without waiting for any other: see submitGrouped. */
    let independent = true;
    let requests: ClaimRequest[] | null = null;
    let claimIndex: number[] | null = null;
    /** The batch's keys so far, and the ops repeating one: those claim in op order, not ahead. */
    let keys: Set<string> | null = null;
    let repeats: boolean[] | null = null;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if ('ok' in item) continue;
      if (looksUp(item) || item.op === 'register') independent = false;
      if (item.op === 'return') continue;
      const home = this.claims.homeOf(item, this.engine.shardOf(item.memberId).shardId);
      if (home === 'none') continue;
      const key = (item as WriteOp & { key: string }).key;
      keys ??= new Set();
      if (keys.has(key)) { (repeats ??= new Array(items.length))[i] = true; independent = false; continue; }
      keys.add(key);
      if (home === 'local') continue;
      (requests ??= []).push({ op: item as WriteOp & { key: string; fp: number }, memberId: item.memberId, home });
      (claimIndex ??= new Array(items.length))[i] = requests.length - 1;
    }
    const claims = requests === null ? null : await this.claims.claimAll(requests, admitted, true, failure);
    if (independent) { this.submitGrouped(items, answered, admitted, failure, claims, claimIndex, grouped, tracked); return; }
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if ('ok' in item) { answered.set(i, item); continue; }
      const at = claimIndex?.[i];
      const claim = at === undefined ? undefined : claims![at]!;
      if (claim !== undefined && claim.refusal !== null) {
        // The key is held for another member or body (or the claim failed): the op is not queued.
        this.claims.settle((item as WriteOp & { key: string }).key, claim, claim.refusal.ok);
        answered.set(i, claim.refusal);
        continue;
      }
      const result = this.start(item, admitted, failure, claim, repeats?.[i] === true);
      alone.push([i, result]);
      started[i] = true;
      if (looksUp(item) || repeats?.[i] === true) await result;
    }
  }

  /**
   * Queues a batch whose ops wait for nothing (no lookup, no registration, no key used twice: the
   * common POS batch of purchases) as one group per shard: one promise per shard instead of a chain
   * of promises per op. Their keys were claimed already (submitFrom's first pass); each op's answer
   * lands in `answered` (still packed) when its group is answered, and settles its claim then.
   */
  private submitGrouped(
    items: ReadonlyArray<Intent | OpResult>, answered: ResultList, admitted: boolean, failure: FailureMap,
    claims: Claim[] | null, claimIndex: number[] | null, grouped: Array<Promise<void>>, tracked: GroupInFlight[],
  ): void {
    const groups = new Map<ShardClient, { ops: WriteOp[]; at: number[] }>();
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if ('ok' in item) { answered.set(i, item); continue; }
      const op = item as WriteOp;
      const at = claimIndex?.[i];
      const claim = at === undefined ? undefined : claims![at]!;
      if (claim !== undefined && claim.refusal !== null) {
        this.claims.settle((op as WriteOp & { key: string }).key, claim, claim.refusal.ok);
        answered.set(i, claim.refusal);
        continue;
      }
      const shard = this.engine.shardOf(op.memberId);
      if (claim === undefined && this.claims.homeOf(op, shard.shardId) === 'local') (op as WriteOp & { keyHome?: true }).keyHome = true;
      if (op.op !== 'quote' && !admitted && shard.saturated) {
        if (claim !== undefined) this.claims.settle((op as WriteOp & { key: string }).key, claim, false);
        answered.set(i, overloaded());
        continue;
      }
      let group = groups.get(shard);
      if (group === undefined) { group = { ops: [], at: [] }; groups.set(shard, group); }
      group.ops.push(op);
      group.at.push(i);
    }
    for (const [shard, { ops, at }] of groups) {
      const answers = shard.submitGroup(ops, admitted, failure).catch((err: unknown) => ResultList.of(ops.map(() => failure(err))));
      if (ops.some((op) => op.op === 'purchase')) {
        const group: GroupInFlight = { ops, answers, seq: ++this.trackSeq, lastIndexOf: null };
        this.orderGroups.add(group);
        tracked.push(group);
      }
      grouped.push(answers.then((rs) => {
        for (let k = 0; k < at.length; k++) {
          const i = at[k]!;
          answered.copyFrom(i, rs, k);
          const claimAt = claimIndex?.[i];
          if (claimAt !== undefined) this.claims.settle((ops[k] as WriteOp & { key: string }).key, claims![claimAt]!, rs.ok(k));
        }
      }));
    }
  }

  /** Checks the coupon refusals of a batch's answers as couponElsewhere does; null when there is none to check. */
  private couponsElsewhere(items: ReadonlyArray<Intent | OpResult>, answered: ResultList): Promise<void> | null {
    let checks: Array<Promise<void>> | null = null;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if ('ok' in item || !namesCoupons(item) || answered.ok(i)) continue;
      (checks ??= []).push(this.couponElsewhere(item, answered.get(i)).then((r) => { answered.set(i, r); }));
    }
    return checks === null ? null : Promise.all(checks).then(() => undefined);
  }

  /**
   * A coupon code lives on its member's shard (coupon-gate.ts), so the member's shard finds no coupon
   * of another shard's code and answers `coupon_not_found`, where for another member's coupon on its
   * own shard it answers `coupon_not_usable` (`other_member`). The code's shard is asked, so that
   * the answer does not depend on where the coupon's member happens to live.
   */
  private async couponElsewhere(op: PurchaseOp | QuoteOp, result: OpResult): Promise<OpResult> {
    if (result.ok || result.error.code !== 'coupon_not_found') return result;
    const field = result.error.field ?? '';
    const at = /^couponCodes\[(\d)\]$/.exec(field);
    const code = at === null ? undefined : op.couponCodes![Number(at[1])];
    const shards = this.engine.shards.length;
    if (code === undefined || shardOfCode(code, shards) === hashId(op.memberId) % shards) return result;
    const coupon = await this.engine.shardOfCode(code).query({ q: 'coupon', code });
    return coupon === null || coupon === undefined ? result : { ok: false, error: opError('coupon_not_usable', 'other_member', field) };
  }

  /** Answers conflicting ops of a batch again under their earlier fingerprints (replayEarlier). */
  private replayEarlierAll(items: ReadonlyArray<Intent | OpResult>, answered: ResultList, earlier: (i: number) => number): Promise<void> | null {
    let replays: Array<Promise<void>> | null = null;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if ('ok' in item || answered.ok(i) || !isKeyConflict(answered.get(i))) continue;
      (replays ??= []).push(this.replayEarlier(item, earlier(i), answered.get(i)).then((r) => { answered.set(i, r); }));
    }
    return replays === null ? null : Promise.all(replays).then(() => undefined);
  }

  /**
   * An op whose key is stored under another fingerprint, asked again under the request's earlier
   * fingerprint (its raw body's) as a replay only: a key stored before requests were fingerprinted
   * as understood replays its answer; otherwise the conflict stands.
   */
  private async replayEarlier(op: Intent, fp: number, conflict: OpResult): Promise<OpResult> {
    if (!('fp' in op) || fp === op.fp) return conflict;
    const memberId = op.op === 'return' ? await this.engine.orderMember(op.orderId) : op.memberId;
    if (memberId === null) return conflict;
    try {
      const replay = await this.engine.submit({ ...op, memberId, fp, replayOnly: true } as WriteOp, true);
      return replay.ok ? replay : conflict;
    } catch {
      return conflict;
    }
  }

  /** Starts an op and, for a purchase or a registration, records it as in flight. */
  private start(op: Intent, admitted: boolean, failure: FailureMap, claim?: Claim, inOrder = false): Promise<OpResult> {
    let result: Promise<OpResult>;
    try {
      result = this.dispatch(op, admitted, claim, inOrder).catch(failure);
    } catch (err) {
      result = Promise.resolve(failure(err));
    }
    if (op.op === 'purchase') this.track(this.orders, op.orderId, () => result);
    else if (op.op === 'register') this.track(this.members, op.memberId, () => result);
    return result;
  }

  private dispatch(op: Intent, admitted: boolean, claim: Claim | undefined, inOrder: boolean): Promise<OpResult> {
    switch (op.op) {
      case 'return': return this.runReturn(op, admitted, inOrder);
      case 'transfer': return this.runTransfer(op, admitted, claim, inOrder);
      case 'register': return this.runRegister(op, admitted);
      default:
        if (op.op !== 'quote' && !admitted && this.engine.saturatedFor(op.memberId)) {
          if (claim !== undefined) this.claims.settle((op as WriteOp & { key: string }).key, claim, false);
          return Promise.resolve(overloaded());
        }
        return this.submit(op, admitted, claim, inOrder);
    }
  }

  /**
   * Queues an op on its member's shard, its key claimed on its home shard first when that is
   * another shard (or already claimed by the batch's first pass: `claim`). The claim joins the
   * home shard's next batch ahead of its queue, unless `inOrder`: a key repeated within a batch
   * claims behind the ops queued before it, so that the batch's first use of the key holds it.
   */
  private async submit(op: WriteOp, admitted: boolean, claim: Claim | undefined, inOrder: boolean): Promise<OpResult> {
    const home = claim?.home ?? this.claims.homeOf(op, this.engine.shardOf(op.memberId).shardId);
    if (home === 'none') return this.engine.submit(op, admitted);
    if (home === 'local') { (op as WriteOp & { keyHome?: true }).keyHome = true; return this.engine.submit(op, admitted); }
    const key = (op as WriteOp & { key: string }).key;
    let held = claim;
    if (held === undefined) {
      // A claim op that fails on its way is thrown again once the claim is settled.
      let thrown: { err: unknown } | null = null;
      const [made] = await this.claims.claimAll([{ op: op as WriteOp & { key: string; fp: number }, memberId: op.memberId, home }], admitted, !inOrder,
        (err) => { thrown = { err }; return refused; });
      held = made!;
      if (held.refusal !== null) {
        this.claims.settle(key, held, held.refusal.ok);
        if (thrown !== null) throw (thrown as { err: unknown }).err;
        return held.refusal;
      }
    }
    let result: OpResult;
    try {
      result = await this.engine.submit(op, admitted);
    } catch (err) {
      // The op was not queued, or its batch did not commit: nothing of it was written.
      this.claims.settle(key, held, false);
      throw err;
    }
    this.claims.settle(key, held, result.ok);
    return result;
  }

  /** Another op with the same id may be in flight too (a retry): a lookup then waits for both. */
  private track(map: Map<string, InFlight>, id: string, result: () => Promise<OpResult>): void {
    const seq = ++this.trackSeq;
    const entry = map.get(id);
    if (entry === undefined) { map.set(id, { answer: result, count: 1, seq }); return; }
    const before = entry.answer;
    entry.answer = () => Promise.all([before(), result()]).then(([, r]) => r);
    entry.count += 1;
    entry.seq = seq;
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
    const purchase = await this.purchaseInFlight(orderId);
    if (purchase !== null && purchase.ok) return purchase['memberId'] as string;
    return this.engine.orderMember(orderId);
  }

  /**
   * The answer of the purchase of `orderId` tracked last, once every purchase of it in flight is
   * answered (alone or in a group); null when none is in flight.
   */
  private async purchaseInFlight(orderId: string): Promise<OpResult | null> {
    const waits: Array<Promise<unknown>> = [];
    let latest: (() => OpResult) | null = null;
    let latestSeq = -1;
    const alone = this.orders.get(orderId);
    if (alone !== undefined) {
      const answer = alone.answer();
      let result: OpResult | null = null;
      waits.push(answer.then((r) => { result = r; }));
      latest = () => result!;
      latestSeq = alone.seq;
    }
    for (const group of this.orderGroups) {
      group.lastIndexOf ??= indexOrders(group.ops);
      const k = group.lastIndexOf.get(orderId);
      if (k === undefined) continue;
      let results: ResultList | null = null;
      waits.push(group.answers.then((rs) => { results = rs; }));
      if (group.seq > latestSeq) { latestSeq = group.seq; latest = () => results!.get(k); }
    }
    if (latest === null) return null;
    await Promise.all(waits);
    return latest();
  }

  /**
   * A member's referral chain, or null when there is no such member: from its registration in
   * flight once answered, else from its shard.
   */
  private async memberChain(memberId: string): Promise<string[] | null | typeof ERASED> {
    const inFlight = this.members.get(memberId);
    if (inFlight !== undefined) {
      const registered = await inFlight.answer();
      if (registered.ok && Array.isArray(registered['referralChain'])) return registered['referralChain'] as string[];
    }
    const member = await this.engine.queryMember({ q: 'member', memberId }) as { referralChain: string[]; erased?: true } | null;
    // An erased member is named by no new write (docs/rules.md §15): neither as a referrer nor as a transfer's target.
    return member === null ? null : member.erased === true ? ERASED : member.referralChain;
  }

  /** A return goes to the shard of the order's member. */
  private async runReturn(op: ReturnRequest, admitted: boolean, inOrder: boolean): Promise<OpResult> {
    const memberId = await this.orderMember(op.orderId);
    if (memberId === null) return { ok: false, error: opError('order_not_found', undefined, 'orderId') };
    if (!admitted && this.engine.saturatedFor(memberId)) return overloaded();
    return this.submit({ ...op, memberId }, admitted, undefined, inOrder);
  }

  /** A transfer's target must exist before its source is debited. */
  private async runTransfer(op: TransferOp, admitted: boolean, claim: Claim | undefined, inOrder: boolean): Promise<OpResult> {
    const target = await this.memberChain(op.toMemberId);
    if (target === null || target === ERASED) {
      const refusal: OpResult = target === null ? { ok: false, error: opError('member_not_found', 'the transfer\'s target is not a member', 'toMemberId') }
        : { ok: false, error: opError('member_erased', undefined, 'toMemberId') };
      if (claim !== undefined) this.claims.settle(op.key, claim, refusal.ok);
      return refusal;
    }
    if (!admitted && this.engine.saturatedFor(op.memberId)) {
      if (claim !== undefined) this.claims.settle(op.key, claim, false);
      return overloaded();
    }
    return this.submit(op, admitted, claim, inOrder);
  }

  /** A referred registration carries its referrer's chain. */
  private async runRegister(op: RegisterOp, admitted: boolean): Promise<OpResult> {
    if (op.referrerId !== undefined) {
      const chain = await this.memberChain(op.referrerId);
      if (chain === null) return { ok: false, error: opError('referrer_not_found', undefined, 'referrerId') };
      if (chain === ERASED) return { ok: false, error: opError('member_erased', undefined, 'referrerId') };
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

  runBatch(items: ReadonlyArray<Intent | OpResult>, admitted: boolean, failure: FailureMap, earlier?: (i: number) => number): Promise<ResultList> {
    if (this.busy === 0) {
      // Nothing of this connection is still being queued (the usual case): start at once.
      return this.follow(this.orchestrator.runBatch(items, admitted, failure, earlier));
    }
    const started = this.tail.then(() => this.orchestrator.runBatch(items, admitted, failure, earlier));
    return this.follow({ submitted: started.then((b) => b.submitted), results: started.then((b) => b.results) });
  }

  private follow(batch: { submitted: Promise<void>; results: Promise<ResultList> }): Promise<ResultList> {
    this.busy += 1;
    this.tail = batch.submitted.finally(() => { this.busy -= 1; });
    return batch.results;
  }
}
