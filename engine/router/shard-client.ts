// The front end's handle on one shard: one Piscina pool of exactly one thread, and the group-commit
// queue that gathers ops into batches, closing a batch when the shard is free or the batch is full.
import assert from 'node:assert/strict';
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { BATCH_OPS_MAX, commitModeFromEnv, commitWaitsForGroupSync, SHARD_PENDING_OPS_MAX, SHARD_QUEUE_BATCHES_MAX } from '../limits.js';
import { LoyaltyError } from '../errors.js';
import type { Control, OpResult, Query, RegisterOp, WriteOp } from '../ops.js';
import { toImportRows } from '../import-rows.js';
import { STALE_OWNER_MARK, type BatchReply, type PackedBatchReply, type ShardTask, type ShardWorkerData } from '../shard-protocol.js';
import { arrayBounds, packRecords, ResultList, unpackRecords, unpackResult } from '../batch-records.js';
import type { OutboxMessage } from '../rules/member-state.js';
import { answeredByReader, ReaderClient } from './reader-client.js';
import type { CouponGate } from './coupon-gate.js';
import type { RewardGate } from './reward-gate.js';

/**
 * Batches a shard runs at once, by how its commits reach the disk (engine/limits.ts CommitMode).
 *
 * `sync`: a commit includes its fdatasync, so batches in flight do not overlap their flushes; a
 * second one only hides the hop to the worker, and more make everything that arrives meanwhile
 * wait behind small batches instead of joining the next one. Measured with `npm run bench:load`:
 * 1 → stream 26.6 k/s, HTTP half-rate p50 5.9 ms; 2 → 29.6 k/s, 7.3 ms; 4 → 31.0 k/s, 10.3 ms.
 *
 * `pipelined`: a batch commits while the ones before it wait for their sync, and one sync covers
 * every batch committed while the previous sync ran, so more in flight means fewer syncs per
 * batch: with 2, strace counts one fdatasync per 1.00 batches; with 4, per 1.2; with 8, per 1.5.
 * The commit path alone (20 puts + 40 µs of CPU per transaction, one sync in flight): 2 → 3,490-
 * 3,671 txn/s, 4 → 6,598-6,753, 8 → 8,144-8,184 (synchronous commits: 2,663-2,805 at any depth).
 * The whole server (`node dist/bench/load.js --duration 5`, two runs each, alternated, on this
 * shared 2-core machine): stream 29.5 / 45.0 k purchases/s with 2, 29.0 / 35.2 k with 4, 28.8 /
 * 50.3 k with 8; HTTP closed loop 4.9 / 6.6 k, 4.9 / 7.6 k, 3.7 / 8.3 k req/s; HTTP half-rate p99
 * 34 / 23 ms, 31 / 20 ms, 77 / 259 ms. Eight let batches shrink until the half-rate tail
 * grows; four is the depth where the group sync pays without that.
 *
 * `nometasync`: the commit still fdatasyncs its pages on the shard's thread, but its reply waits for
 * the group sync as a pipelined one does, so it takes the pipelined depth: with two, the shard would
 * stand idle while the first batch's reply waits for its sync and the second has already committed.
 */
const SHARD_BATCHES_IN_FLIGHT = commitWaitsForGroupSync(commitModeFromEnv(process.env)) ? 4 : 2;

/** Piscina's message when its task queue is at `maxQueue` (piscina/dist/errors.js TaskQueueAtLimit). */
const PISCINA_QUEUE_FULL = 'Task queue is at limit';

/**
 * Ops submitted together (a stream batch's ops for this shard): one promise for all of them
 * instead of one per op, answered once the last of them is durable (they may span batches).
 */
interface Group { results: ResultList; remaining: number; resolve: (r: ResultList) => void; failure: (err: unknown) => OpResult }

/** One queued op: answered alone (`resolve`/`reject`), or as member `index` of a group. */
interface Pending { op: WriteOp; resolve: ((r: OpResult) => void) | null; reject: ((e: unknown) => void) | null; group: Group | null; index: number }

export interface ShardStats {
  ops: number; batches: number; batchOpsSum: number; commitMsSum: number; queuedOps: number; inFlight: number;
}

function answerInGroup(group: Group, index: number, result: OpResult): void {
  group.results.set(index, result);
  group.remaining -= 1;
  if (group.remaining === 0) group.resolve(group.results);
}

/** Answers a group's op with its result's bytes in a shard's packed results, left packed. */
function answerPackedInGroup(group: Group, index: number, packed: Uint8Array, start: number, end: number): void {
  group.results.setPacked(index, packed, start, end);
  group.remaining -= 1;
  if (group.remaining === 0) group.resolve(group.results);
}

/** Why a write is refused once the node stepped down: the client resends it, and another node owns by then. */
const STEPPED_DOWN = 'this node is handing the deployment over to another node; resend this request shortly';

/** Why a write is refused once another node took the deployment over from this one: resent, it applies once at the new owner under its key. */
const NO_LONGER_OWNER = 'this node no longer owns the deployment: another node took it over; resend this request shortly';

/** A batch sent to the shard and not answered yet; `abandoned` once its ops were answered without it. */
interface InFlightBatch { batch: Pending[]; abandoned: boolean }

export class ShardClient {
  private readonly pool: Piscina;
  /** The data folder's reader thread: the queries that scan go there (engine/router/reader-client.ts). */
  private readonly reader: ReaderClient;
  private queue: Pending[] = [];
  /**
   * Ops that go into the next batch ahead of the queue: idempotency-key claims and their releases
   * (engine/router/key-claims.ts), tiny ops that a whole stream batch waits for. Behind a
   * saturated queue they doubled a stream batch's latency; in order among themselves.
   */
  private urgent: Pending[] = [];
  /**
   * Ops held back until a batch settles somewhere (reward-gate.ts): a redemption whose last units
   * ops in flight hold, and every later op of its member, in their order. They go ahead of the
   * queue when the reward gate's counts next change.
   */
  private waiting: Pending[] = [];
  private readonly waitingMembers = new Set<string>();
  private inFlight = 0;
  private scheduled = false;
  private closing = false;
  /**
   * Cluster mode, from a planned step-down (Engine.stepDown) until the next takeover: new writes are
   * refused with shutting_down, which clients resend (to the next owner, through the forwarding).
   */
  private steppedDown = false;
  /** The batches sent and not answered, which an unplanned step-down answers at once (`abandon`). */
  private readonly sending = new Set<InFlightBatch>();
  readonly stats: ShardStats = { ops: 0, batches: 0, batchOpsSum: 0, commitMsSum: 0, queuedOps: 0, inFlight: 0 };

  /** Called with the outbox messages each batch wrote, once the batch is durable. */
  onOutbox: (shardId: number, messages: Array<[number, OutboxMessage]>) => void = () => {};

  /**
   * Supplies each batch's ops that may issue coupons with codes and totalMax units, and counts what
   * they issued (coupon-gate.ts); set by the engine once it has the shards' counts, before any write.
   */
  couponGate: CouponGate | null = null;

  /** Gives each batch's ops that take reward stock their units, and counts what they moved (reward-gate.ts). */
  private rewardGateOf: RewardGate | null = null;

  get rewardGate(): RewardGate | null {
    return this.rewardGateOf;
  }

  set rewardGate(gate: RewardGate | null) {
    this.rewardGateOf = gate;
    gate?.onChange(() => this.resumeWaiting());
  }

  /** Puts the ops held back for reward units ahead of the queue again, in their order. */
  private resumeWaiting(): void {
    if (this.waiting.length === 0) return;
    this.queue.unshift(...this.waiting);
    this.waiting = [];
    this.waitingMembers.clear();
    this.schedule();
  }

  /**
   * Called when the shard's stream refused an append (another node wrote it): this node's owner is
   * stale, and the engine steps the whole node down (Engine.stepDown with `stale`).
   */
  onStale: (reason: string) => void = () => {};

  /** Called once per durable batch with its ops and the time from sending it to its reply (server/metrics.ts). */
  onBatch: (ops: number, commitMs: number) => void = () => {};

  /** Cluster mode: the cell in which the shard's standby writes how far its copy lags the stream (-1 before its first turn). */
  private readonly followLag: Int32Array | null;

  constructor(readonly shardId: number, dataDir: string, mapBytes?: number, private readonly pendingOpsMax = SHARD_PENDING_OPS_MAX, commitClock?: SharedArrayBuffer, cluster = false) {
    this.followLag = cluster ? new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)).fill(-1) : null;
    const workerData: ShardWorkerData = {
      shardId, dataDir, ...(mapBytes === undefined ? {} : { mapBytes }), ...(commitClock === undefined ? {} : { commitClock }),
      ...(cluster && this.followLag !== null ? { cluster, followLag: this.followLag.buffer as SharedArrayBuffer } : {}),
    };
    this.pool = new Piscina({
      filename: fileURLToPath(new URL('../shard/worker.js', import.meta.url)),
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      maxQueue: SHARD_QUEUE_BATCHES_MAX,
      concurrentTasksPerWorker: SHARD_BATCHES_IN_FLIGHT + 2,
      // Tasks reach the worker in the order they were handed over. Without it, a task Piscina
      // could not place at once goes to the back of its queue, behind later ones (measured: ten
      // import batches handed over together committed as 1,2,3,4,5,7,9,6,10,8), so with queries or
      // imports waiting beside them, a batch could run before the batch sent ahead of it (a return
      // before the purchase it returns, from one terminal).
      stricterFIFO: true,
      atomics: 'disabled',
      recordTiming: false,
      workerData,
    });
    this.reader = ReaderClient.acquire(dataDir);
  }

  /**
   * Cluster mode: how many log entries this shard's copy lagged its stream at its standby's last
   * turn (0 once it owns), or null before that turn and outside cluster mode. Read from shared
   * memory: no task goes to the shard's thread.
   */
  get standbyLagEntries(): number | null {
    const entries = this.followLag === null ? -1 : Atomics.load(this.followLag, 0);
    return entries < 0 ? null : entries;
  }

  /** Whether new work would be refused: the queue is at its bound. */
  get saturated(): boolean {
    return this.queue.length + this.urgent.length + this.waiting.length >= this.pendingOpsMax;
  }

  get pendingOps(): number {
    return this.queue.length + this.urgent.length + this.waiting.length;
  }

  /**
   * Queues one write op; resolves with its result once its batch is durable. `urgent`: the op
   * joins the next batch ahead of the queue.
   */
  submit(op: WriteOp, admitted = false, urgent = false): Promise<OpResult> {
    if (this.closing) return Promise.reject(new LoyaltyError('shutting_down'));
    if (this.steppedDown) return Promise.reject(new LoyaltyError('shutting_down', STEPPED_DOWN));
    if (this.saturated && !admitted) return Promise.reject(new LoyaltyError('overloaded'));
    return new Promise((resolve, reject) => {
      (urgent ? this.urgent : this.queue).push({ op, resolve, reject, group: null, index: 0 });
      this.schedule();
    });
  }

  /**
   * Queues several ops at once, in order; resolves with their results in that order once every one
   * is durable. One promise and no closure per op: on the stream's path, per-op promises and the
   * garbage they made were most of the front end's cost (38% of its time in GC); the results stay
   * as the shard packed them until something reads one (engine/batch-records.ts). An op whose batch
   * failed is answered `failure(err)`, each alone: the group's other ops may have committed in
   * another batch and keep their own answers. Rejects only when nothing was queued.
   */
  submitGroup(ops: readonly WriteOp[], admitted: boolean, failure: (err: unknown) => OpResult): Promise<ResultList> {
    if (this.closing) return Promise.reject(new LoyaltyError('shutting_down'));
    if (this.steppedDown) return Promise.reject(new LoyaltyError('shutting_down', STEPPED_DOWN));
    if (this.saturated && !admitted) return Promise.reject(new LoyaltyError('overloaded'));
    return new Promise((resolve) => {
      const group: Group = { results: new ResultList(ops.length), remaining: ops.length, resolve, failure };
      for (let i = 0; i < ops.length; i++) this.queue.push({ op: ops[i]!, resolve: null, reject: null, group, index: i });
      this.schedule();
    });
  }

  /** Sends a batch at once when one is full, else on the next turn of the event loop. */
  private schedule(): void {
    if (this.queue.length + this.urgent.length >= BATCH_OPS_MAX) this.pump();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => { this.scheduled = false; this.pump(); });
    }
  }

  private pump(): void {
    while ((this.queue.length > 0 || this.urgent.length > 0) && this.inFlight < SHARD_BATCHES_IN_FLIGHT) {
      const first = this.urgent.splice(0, BATCH_OPS_MAX);
      const batch = first.length === 0 ? this.queue.splice(0, BATCH_OPS_MAX) : first.concat(this.queue.splice(0, BATCH_OPS_MAX - first.length));
      void this.send(batch);
    }
  }

  private async send(whole: Pending[]): Promise<void> {
    let batch = whole;
    let ops = batch.map((p) => p.op);
    // Reward stock units first: an op that must wait for them stays back with its member's later ops.
    const rewards = this.rewardGateOf;
    const admission = rewards === null ? null : rewards.admit(ops, this.waitingMembers);
    if (admission !== null && admission.wait !== null) {
      const wait = admission.wait;
      for (let i = 0; i < batch.length; i++) {
        if (!wait[i]) continue;
        this.waiting.push(batch[i]!);
        this.waitingMembers.add(batch[i]!.op.memberId);
      }
      batch = batch.filter((_, i) => !wait[i]);
      ops = batch.map((p) => p.op);
      // Every op waits: nothing was given units (an op given some would be sent), so nothing is held.
      if (batch.length === 0) return;
    }
    // Codes and totalMax units for the ops that may issue coupons, before the ops are packed.
    const gate = this.couponGate;
    const held = gate === null ? null : gate.supply(ops, this.shardId);
    let results: Uint8Array | OpResult[];
    let couponCounts: Record<string, number> | undefined;
    let rewardCounts: Record<string, [number, number]> | undefined;
    const sent: InFlightBatch = { batch, abandoned: false };
    this.sending.add(sent);
    try {
      // Results packed for the acks only when some op is a stream batch's (a group's): see PackedBatchReply.
      const resultsPacked = batch.some((p) => p.group !== null);
      ({ results, couponCounts, rewardCounts } = await this.execute({ type: 'batch', packedOps: packRecords(ops), resultsPacked }, batch.length) as PackedBatchReply);
    } catch (err) {
      this.sending.delete(sent);
      // Its ops were answered when the node stepped down; the gates are dropped with the step-down.
      if (sent.abandoned) return;
      if (held !== null) gate!.release(held);
      if (admission !== null) rewards!.release(admission.held);
      for (const p of batch) {
        if (p.group === null) p.reject!(err);
        else answerInGroup(p.group, p.index, p.group.failure(err));
      }
      return;
    }
    this.sending.delete(sent);
    if (sent.abandoned) return;
    // Counted before any op is answered, so that an op sent on its answer meets the new count.
    if (held !== null) gate!.settle(held, couponCounts);
    else if (couponCounts !== undefined) gate!.count(couponCounts);
    if (admission !== null) rewards!.settle(admission.held, rewardCounts);
    else if (rewardCounts !== undefined) rewards?.counted(rewardCounts);
    if (!(results instanceof Uint8Array)) {
      assert.equal(results.length, batch.length, `shard ${this.shardId} answered ${results.length} results for ${batch.length} ops`);
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve!(results[i]!);
      return;
    }
    // An op answered alone gets an object, a group's op its bytes.
    const bounds = arrayBounds(results);
    assert.equal(bounds.length, batch.length + 1, `shard ${this.shardId} answered ${bounds.length - 1} results for ${batch.length} ops`);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      if (p.group === null) p.resolve!(unpackResult(results, bounds[i]!, bounds[i + 1]!));
      else answerPackedInGroup(p.group, p.index, results, bounds[i]!, bounds[i + 1]!);
    }
  }

  /**
   * Runs one batch of imported rows on the shard (BatchExecutor.importBatch), past the group-commit
   * queue: the CSV import gathers its own batches and bounds how many it has in flight.
   */
  async runImport(ops: RegisterOp[]): Promise<OpResult[]> {
    if (this.closing) return Promise.reject(new LoyaltyError('shutting_down'));
    if (this.steppedDown) return Promise.reject(new LoyaltyError('shutting_down', STEPPED_DOWN));
    return (await this.execute({ type: 'import', rows: toImportRows(ops) }, ops.length) as BatchReply).results;
  }

  private async execute(task: ShardTask & { type: 'batch' | 'import' }, count: number): Promise<BatchReply | PackedBatchReply> {
    this.inFlight += 1;
    const started = performance.now();
    try {
      const answer = await this.call(task, task.type === 'batch' ? task.packedOps : undefined);
      const reply = task.type === 'batch' ? unpackRecords<PackedBatchReply>(answer as Uint8Array) : answer as BatchReply;
      if (reply.outbox.length > 0) this.onOutbox(this.shardId, reply.outbox);
      this.stats.batches += 1;
      this.stats.ops += count;
      this.stats.batchOpsSum += count;
      const commitMs = performance.now() - started;
      this.stats.commitMsSum += commitMs;
      this.onBatch(count, commitMs);
      return reply;
    } finally {
      this.inFlight -= 1;
      if (this.queue.length > 0 || this.urgent.length > 0) this.pump();
    }
  }

  /** A read: one that scans goes to the reader thread, a point read to the shard's own thread. */
  query(query: Query): Promise<unknown> {
    return answeredByReader(query) ? this.reader.query(this.shardId, query) : this.call({ type: 'query', query });
  }

  control(control: Control): Promise<unknown> {
    return this.call({ type: 'control', control });
  }

  /**
   * Queries, controls and import columns travel by structured clone; a write batch's ops and its
   * reply as one moved buffer (engine/batch-records.ts). A full task queue (SHARD_QUEUE_BATCHES_MAX
   * waiting) is back-pressure: `overloaded`, which HTTP answers with 503 and Retry-After and the
   * importer waits out, not an internal error.
   */
  private async call(task: ShardTask, moved?: Uint8Array): Promise<unknown> {
    try {
      return await this.pool.run(task, moved === undefined ? {} : { transferList: [moved.buffer as ArrayBuffer] });
    } catch (err) {
      if (err instanceof Error && err.message === PISCINA_QUEUE_FULL) throw new LoyaltyError('overloaded', 'the shard\'s task queue is full');
      if (err instanceof Error && err.message.startsWith(STALE_OWNER_MARK)) {
        // Another node wrote the stream: nothing this task did may be answered as done.
        this.onStale(err.message.slice(STALE_OWNER_MARK.length).trim());
        throw new LoyaltyError('shutting_down', NO_LONGER_OWNER);
      }
      throw err;
    }
  }

  /**
   * A planned step-down: refuses new writes from now on and resolves once every write already
   * queued has been sent and answered (each answered only once its append is acknowledged), so
   * that the `standBy` control sent next finds nothing of this router in flight.
   */
  async stepDown(): Promise<void> {
    this.steppedDown = true;
    while (this.queue.length > 0 || this.urgent.length > 0 || this.inFlight > 0) {
      this.pump();
      await new Promise((r) => setTimeout(r, 1));
    }
    // Ops held back for reward units never reached a batch, and no batch of this node will give
    // units back any more: they are refused as the new ones are, and resent to the next owner.
    const refused = new LoyaltyError('shutting_down', STEPPED_DOWN);
    const held = this.waiting;
    this.waiting = [];
    this.waitingMembers.clear();
    for (const p of held) {
      if (p.group === null) p.reject!(refused);
      else answerInGroup(p.group, p.index, p.group.failure(refused));
    }
  }

  /**
   * An unplanned step-down (another node owns the deployment): refuses new writes from now on and
   * answers, at once, every op queued, held back or in a batch the shard has not answered, with a
   * retryable refusal. None of them may be answered as done: a batch not acknowledged by its stream
   * may never be, and the client resends each op to the next owner, where its key makes it apply
   * once. The shard's later answers to those batches are dropped; `stepDown` then waits for them.
   */
  abandon(): void {
    this.steppedDown = true;
    const refused = new LoyaltyError('shutting_down', NO_LONGER_OWNER);
    const refuse = (p: Pending): void => {
      if (p.group === null) p.reject!(refused);
      else answerInGroup(p.group, p.index, p.group.failure(refused));
    };
    for (const sent of this.sending) {
      sent.abandoned = true;
      for (const p of sent.batch) refuse(p);
    }
    this.sending.clear();
    const waiting = [...this.urgent, ...this.queue, ...this.waiting];
    this.urgent = [];
    this.queue = [];
    this.waiting = [];
    this.waitingMembers.clear();
    for (const p of waiting) refuse(p);
  }

  /** Takes writes again: this node owns the shard once more (Engine.takeOver). */
  resume(): void {
    this.steppedDown = false;
  }

  /** Stops taking work, lets queued and running batches finish, then ends the worker. */
  async close(): Promise<void> {
    this.closing = true;
    while (this.queue.length > 0 || this.urgent.length > 0 || this.inFlight > 0 || this.waiting.length > 0) {
      this.pump();
      await new Promise((r) => setTimeout(r, 1));
    }
    // The thread closes its store itself before Piscina ends it (engine/shard/worker.ts closeNow);
    // the task also runs only once the thread has loaded, and a thread terminated while Node was
    // still loading it aborts the process (engine/router/reader-client.ts release).
    try {
      await this.pool.run({ type: 'control', control: { c: 'close' } } satisfies ShardTask);
    } catch {
      // A shard whose start failed has no store open to close; it ends all the same.
    }
    await this.pool.close();
    await this.reader.release();
  }
}
