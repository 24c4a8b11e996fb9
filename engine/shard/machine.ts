// A shard's commit path, shared by the worker thread and the replay: each task (a batch of ops,
// imported rows, a sweep slice, a program change, delivered outbox messages, a cluster owner's
// term) runs in one LMDB
// write transaction that also appends its batch-log entry (engine/shard/batch-log.ts). The replay
// feeds logged tasks through the very same code, so a replayed shard is what the live one did.
//
// Determinism: nothing here or in the executor reads a clock or randomness
// (test/architecture/determinism.test.ts); the time a task was committed is passed in by the
// caller and only recorded.
import assert from 'node:assert/strict';
import type { CoreRegions } from '../core/api.js';
import { encodeProgram } from '../core/wasm.js';
import { programContext, type OutboxMessage, type ProgramContext } from '../rules/member-state.js';
import type { Program } from '../rules/program-types.js';
import type { OpResult } from '../ops.js';
import { BatchExecutor } from './batch.js';
import { programNeedsSettling } from './batch-program.js';
import { redactTask } from './log-redaction.js';
import { LedgerAppender, type ShardStore } from './store.js';
import {
  appendLogValue, BatchDigest, checksumHex, logPosition, opsOf, packTask, sameChecksum, sealLogValue, termReply,
  type LoggedTask, type LogHeader,
} from './batch-log.js';

/** The meta key that marks a shard whose log began after it already held books (batch-log.ts came later). */
export const LOG_STARTED_LATE = 'logStartedLate';

/** What a task answers: a batch its results and outbox, a control its small reply. */
export type TaskReply =
  | { results: OpResult[]; outbox: Array<[number, OutboxMessage]>; couponCounts?: Record<string, number>; rewardCounts?: Record<string, [number, number]> }
  | { members: number; more: boolean; couponCounts?: Record<string, number>; rewardCounts?: Record<string, [number, number]> }
  | { version: number }
  | { removed: number }
  | { after: string | null }
  | { term: number; nodeId: string };

/** Where a replay diverged from its log, or why it cannot go on: names the shard and the entry. */
export class LogReplayError extends Error {
  constructor(readonly shard: number, readonly seq: number, readonly reason: 'checksum' | 'program' | 'sequence' | 'format' | 'execution', detail: string) {
    super(`shard ${shard}, log entry ${seq}: ${detail}`);
  }
}

/** A logged entry being replayed: its sequence, header and value (written again as it was). */
export interface ReplayedEntry { seq: number; header: LogHeader; value: Uint8Array }

export interface ShardMachineOptions {
  /**
   * Whether tasks are logged. Off only for the benchmark that measures the log's cost
   * (LOYALTY_TEST_NO_BATCH_LOG); a shard that ran without it is marked `unlogged` in meta, and its
   * log can no longer reproduce it.
   */
  log: boolean;
}

export class ShardMachine {
  private ctx: ProgramContext | null = null;
  private readonly executor: BatchExecutor;
  private readonly digest = new BatchDigest();

  constructor(readonly store: ShardStore, core: CoreRegions, readonly shardId: number, private readonly options: ShardMachineOptions) {
    this.executor = new BatchExecutor(store, core, shardId);
    if (options.log) store.onStateWrite = (memberId, bytes) => this.digest.state(memberId, bytes);
    const saved = store.meta.get('program') as { version: number; program: Program } | undefined;
    if (saved !== undefined) this.ctx = programContext(saved.version, saved.program);
    if (!options.log && store.meta.get('unlogged') !== true) store.root.transactionSync(() => store.meta.putSync('unlogged', true));
    // A shard with books but no log entry was written before the log existed (an upgrade): its log
    // starts part-way, so a replay must start from a backup taken since. Marked once, for the check.
    if (options.log && saved !== undefined && logPosition(store).seq === 0 && store.meta.get(LOG_STARTED_LATE) !== true) {
      store.root.transactionSync(() => store.meta.putSync(LOG_STARTED_LATE, true));
    }
  }

  /** The program the shard runs, or null before the first one. */
  get program(): ProgramContext | null {
    return this.ctx;
  }

  /**
   * Runs one task in one write transaction with its log entry, and answers it. `committedAtMs` is
   * recorded in the entry (the worker passes its clock, a replay the logged time). With `replaying`,
   * the task is a logged entry: the program version and the checksum must equal the logged ones,
   * else the transaction is aborted and a LogReplayError names the entry; its value is written
   * to this shard's log unchanged.
   */
  run(task: LoggedTask, committedAtMs: number, replaying?: ReplayedEntry): TaskReply {
    const ctx = this.ctx;
    if (task.kind === 'program' && ctx !== null && ctx.version >= task.version) {
      // An older or repeated change (a shard that caught up at start) changes nothing and is not logged.
      if (replaying !== undefined) throw new LogReplayError(this.shardId, replaying.seq, 'program', `program version ${task.version} is logged but the replay already holds version ${ctx.version}`);
      return { version: ctx.version };
    }
    const programVersion = ctx?.version ?? 0;
    if (replaying !== undefined && replaying.header.programVersion !== programVersion) {
      throw new LogReplayError(this.shardId, replaying.seq, 'program', `ran under program version ${replaying.header.programVersion}, the replay holds version ${programVersion}`);
    }
    const logOn = this.options.log;
    let value = logOn && replaying === undefined ? packTask(task) : undefined;
    const reply = this.store.root.transactionSync((): TaskReply => {
      const ledgerBatchBefore = this.ledgerBatch();
      this.digest.begin();
      const answer = this.execute(task);
      if (!logOn) return answer;
      // Every sweep slice is logged, an empty one too: the last slice of a sweep records the moment
      // the shard was swept to (engine/shard/batch-sweep.ts), which verify relies on.
      const ledgerBatch = this.ledgerBatch();
      const checksum = this.digest.finish(answer, ledgerBatch === ledgerBatchBefore ? undefined : this.ledgerValue(ledgerBatch));
      if (replaying !== undefined) {
        if (!sameChecksum(checksum, replaying.header.checksum)) {
          throw new LogReplayError(this.shardId, replaying.seq, 'checksum', `a ${task.kind} whose results differ from the logged ones (checksum ${checksumHex(checksum)}, logged ${checksumHex(replaying.header.checksum)})`);
        }
        const seq = appendLogValue(this.store, Buffer.from(replaying.value.buffer, replaying.value.byteOffset, replaying.value.byteLength), replaying.header.ops);
        assert.equal(seq, replaying.seq, 'a replayed entry keeps its sequence');
      } else {
        // A member this batch erased after registering or patching it in the same batch: its
        // personal values leave the entry before it is written, as from every entry before it.
        if (task.kind === 'batch' && this.executor.pendingRedactions.length > 0) {
          let redacted: LoggedTask = task;
          for (const r of this.executor.pendingRedactions) redacted = redactTask(redacted, r.memberId, r.names);
          value = packTask(redacted);
        }
        const header: LogHeader = { kind: task.kind, ops: opsOf(task), programVersion, committedAtMs, checksum };
        appendLogValue(this.store, sealLogValue(value!, header), header.ops);
      }
      return answer;
    });
    if (task.kind === 'program') this.ctx = programContext(task.version, task.program as Program);
    return reply;
  }

  /** The ledger's last batch number (engine/shard/store.ts LedgerAppender). */
  private ledgerBatch(): number {
    return (this.store.meta.get('batch') as number | undefined) ?? 0;
  }

  /**
   * The ledger value just appended, as a view of exactly its bytes: lmdb-js's getBinaryFast answers
   * its 16 MiB shared buffer with a `length` property set to the value's size, which a hash would
   * read past (the whole buffer).
   */
  private ledgerValue(batch: number): Uint8Array {
    const shared = this.store.ledger.getBinaryFast(batch);
    assert.ok(shared !== undefined, `ledger batch ${batch} was just written`);
    return Uint8Array.prototype.subarray.call(shared, 0, shared.length);
  }

  /** The task's effects, inside the caller's transaction: the executor's entry points. */
  private execute(task: LoggedTask): TaskReply {
    const { store } = this;
    switch (task.kind) {
      case 'batch': case 'import': case 'sweep': {
        const ctx = this.ctx;
        if (ctx === null) throw new Error('shard has no program yet');
        const encode = (out: Float64Array) => encodeProgram(ctx.program, out);
        if (task.kind === 'batch') return this.executor.apply(ctx, task.ops, encode);
        if (task.kind === 'import') return this.executor.importBatch(ctx, task.rows, encode);
        return this.executor.sweep(ctx, task.asOfMs, task.limit, encode, task.newCodes);
      }
      case 'program': {
        const previous = store.meta.get('program') as { version: number; program: Program } | undefined;
        store.meta.putSync('program', { version: task.version, program: task.program });
        store.meta.putSync('programAtMs', task.atMs);
        // A change that drops no tier and keeps the time zone leaves every member as it is: settled.
        if (!programNeedsSettling(previous?.program ?? null, task.program as Program)) store.meta.putSync('settledVersion', task.version);
        if (task.record) {
          const ledger = new LedgerAppender(store);
          ledger.by = task.by;
          ledger.append({
            prev: 0, at: task.atMs, kind: 'program', memberId: '', pointsDelta: 0, growthDelta: 0,
            walletDeltaCents: 0, spendDeltaCents: 0, tierId: null, ref: `program:${task.version}`, cause: null, pendingDelta: 0,
          });
          ledger.finish();
        }
        return { version: task.version };
      }
      case 'settle': {
        // One slice of the members settled under the program just changed (engine/shard/batch-program.ts);
        // the last slice records the version as settled.
        const ctx = this.ctx;
        if (ctx === null) throw new Error('shard has no program yet');
        const after = this.executor.settle(ctx, task.atMs, task.after, task.limit, (out) => encodeProgram(ctx.program, out));
        if (after === null) store.meta.putSync('settledVersion', ctx.version);
        return { after };
      }
      case 'outboxDone': {
        // Delivered messages leave the outbox; the target's key makes a repeat harmless anyway.
        for (const seq of task.outSeqs) store.outbox.removeSync(seq);
        return { removed: task.outSeqs.length };
      }
      case 'term':
        // A cluster owner's takeover (batch-log.ts): only its log entry is written.
        return termReply(task);
    }
  }

  /**
   * Settles every member under the current program when its version is not settled yet (a change
   * that dropped a tier or moved the time zone, or one a crash cut short), slice by slice, each slice
   * a logged task of its own. Runs before any batch under that program; `atMs` dates the change.
   */
  settleMembers(atMs: number, committedAtMs: () => number, sliceMembers: number): void {
    const ctx = this.ctx;
    if (ctx === null || this.store.meta.get('settledVersion') === ctx.version) return;
    let after: string | null = null;
    do after = (this.run({ kind: 'settle', atMs, after, limit: sliceMembers }, committedAtMs()) as { after: string | null }).after;
    while (after !== null);
  }

  /** The log's position: the last entry written and the ops the log holds. */
  logPosition(): { seq: number; ops: number } {
    return logPosition(this.store);
  }
}
