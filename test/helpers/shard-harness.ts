// Shards run in-process for tests of the batch executor: N LMDB stores in a temporary folder, one
// BatchExecutor each, members routed as the router routes them, and the outbox delivered by hand
// as the router's delivery loop would (each message as a `credit` op keyed by its id).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allEntries, getState, openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { encodeProgram, loadCore } from '../../engine/core/wasm.js';
import { BatchExecutor } from '../../engine/shard/batch.js';
import { creditOp, programContext, type HotState, type OutboxMessage, type ProgramContext } from '../../engine/rules/member-state.js';
import { verify } from '../../engine/shard/queries.js';
import { hashId } from '../../engine/router/member-hash.js';
import { programNeedsSettling } from '../../engine/shard/batch-program.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { CreditOp, OpResult, StoredEntry, WriteOp } from '../../engine/ops.js';

export interface HarnessShard { store: ShardStore; exec: BatchExecutor }

export class ShardHarness {
  readonly shards: HarnessShard[];
  ctx: ProgramContext;
  /** Outbox messages written and not yet delivered, in the order they were written. */
  mail: OutboxMessage[] = [];
  /** Every delivery's answer, in delivery order. */
  readonly deliveries: Array<{ msg: OutboxMessage; result: OpResult }> = [];

  constructor(program: Program, shardCount = 2, readonly dir = mkdtempSync(join(tmpdir(), 'loyalty-shards-'))) {
    this.ctx = programContext(1, program);
    this.shards = Array.from({ length: shardCount }, (_, i) => {
      const store = openShardStore(join(dir, `shard-${i}`), 1024 * 1024 * 1024);
      return { store, exec: new BatchExecutor(store, loadCore(), i) };
    });
    // A shard keeps the program it runs under, as the worker does on a program change.
    for (const s of this.shards) s.store.root.transactionSync(() => s.store.meta.putSync('program', { version: 1, program }));
  }

  shardOf(memberId: string): HarnessShard {
    return this.shards[hashId(memberId) % this.shards.length]!;
  }

  /** Runs `ops` (all on members of one shard) as one batch; keeps the outbox messages it wrote. */
  batch(ops: WriteOp[]): OpResult[] {
    const s = this.shardOf(ops[0]!.memberId);
    for (const op of ops) if (this.shardOf(op.memberId) !== s) throw new Error('a harness batch runs on one shard');
    const ctx = this.ctx;
    const reply = s.store.root.transactionSync(() => s.exec.apply(ctx, ops, (out) => encodeProgram(ctx.program, out)));
    this.mail.push(...reply.outbox.map(([, m]) => m));
    return reply.results;
  }

  /** One op, as a batch of its own. */
  one(op: WriteOp): OpResult {
    return this.batch([op])[0]!;
  }

  /** The credit op the router's delivery loop builds for an outbox message. */
  static creditOf(m: OutboxMessage): CreditOp {
    return creditOp(m);
  }

  /** Delivers every outbox message, and those the deliveries write, until none is left. */
  deliver(): void {
    while (this.mail.length > 0) {
      const msg = this.mail.shift()!;
      this.deliveries.push({ msg, result: this.one(ShardHarness.creditOf(msg)) });
    }
  }

  /**
   * A program change as the worker makes it (engine/shard/worker.ts): the program stored, then,
   * when it drops a tier, every member settled in slices of `limit`.
   */
  setProgram(program: Program, atMs: number, limit = 1_000): void {
    const previous = this.ctx.program;
    this.ctx = programContext(this.ctx.version + 1, program);
    const ctx = this.ctx;
    for (const s of this.shards) {
      s.store.root.transactionSync(() => s.store.meta.putSync('program', { version: ctx.version, program }));
      if (!programNeedsSettling(previous, program)) continue;
      let after: string | null = null;
      do after = s.store.root.transactionSync(() => s.exec.settle(ctx, atMs, after, limit, (out) => encodeProgram(program, out)));
      while (after !== null);
    }
  }

  /** Runs a sweep as of `asOfMs` on every shard, slice by slice. */
  sweep(asOfMs: number, limit = 1_000): void {
    const ctx = this.ctx;
    for (const s of this.shards) {
      for (;;) {
        const slice = s.store.root.transactionSync(() => s.exec.sweep(ctx, asOfMs, limit, (out) => encodeProgram(ctx.program, out)));
        if (!slice.more) break;
      }
    }
  }

  state(memberId: string): HotState | undefined {
    return getState(this.shardOf(memberId).store, memberId);
  }

  /** A member's entries in seq order. */
  entries(memberId: string): StoredEntry[] {
    return [...allEntries(this.shardOf(memberId).store)].map(([, e]) => e).filter((e) => e.memberId === memberId);
  }

  /** Every shard's verify mismatches. */
  mismatches(): Array<Record<string, unknown>> {
    return this.shards.flatMap((s) => verify(s.store).mismatches);
  }

  async close(): Promise<void> {
    for (const s of this.shards) await s.store.root.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
