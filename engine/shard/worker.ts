// The body of one shard's worker thread: it owns the shard's LMDB environment and core, and
// answers three kinds of task: a batch of write ops, a read query, or a control change.
import { workerData } from 'piscina';
import { join } from 'node:path';
import { LedgerAppender, openShardStore } from './store.js';
import { loadCore, encodeProgram } from '../core/wasm.js';
import { BatchExecutor } from './batch.js';
import { answer } from './queries.js';
import { ensureSearchIndex } from './search-index.js';
import { programContext, type ProgramContext } from '../rules/member-state.js';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import type { Control } from '../ops.js';
import { importRowCount } from '../import-rows.js';
import type { Program } from '../rules/program-types.js';
import { opError } from '../errors.js';
import type { BatchReply, ShardTask, ShardWorkerData } from '../shard-protocol.js';
import { programNeedsSettling } from './batch-program.js';
import { SETTLE_SLICE_MEMBERS } from '../limits.js';


const { shardId, dataDir, mapBytes } = workerData as ShardWorkerData;
const store = openShardStore(join(dataDir, `shard-${shardId}`), mapBytes);
// A data folder written before the search index existed gets it now, before the first batch.
ensureSearchIndex(store);
const core = loadCore();
const executor = new BatchExecutor(store, core, shardId);

let ctx: ProgramContext | null = null;
const savedProgram = store.meta.get('program') as { version: number; program: Program } | undefined;
if (savedProgram !== undefined) ctx = programContext(savedProgram.version, savedProgram.program);

/**
 * Settles every member under `current` (engine/shard/batch-program.ts), slice by slice, each slice
 * its own transaction, then records the version as settled. Runs synchronously: no batch runs
 * before it is done. A crash midway leaves the version unsettled, and the next start finishes it.
 */
function settleMembers(current: ProgramContext, atMs: number): void {
  const encode = (out: Float64Array) => encodeProgram(current.program, out);
  let after: string | null = null;
  do after = store.root.transactionSync(() => executor.settle(current, atMs, after, SETTLE_SLICE_MEMBERS, encode));
  while (after !== null);
  store.root.transactionSync(() => store.meta.putSync('settledVersion', current.version));
}

// Data written before members were settled on program changes, or a settling a crash cut short.
if (ctx !== null && store.meta.get('settledVersion') !== ctx.version) {
  settleMembers(ctx, (store.meta.get('programAtMs') as number | undefined) ?? Date.now());
}

/** A write batch, or a batch of imported rows (BatchExecutor.importBatch), in one transaction. */
async function runBatch(task: ShardTask & { type: 'batch' | 'import' }): Promise<BatchReply> {
  if (ctx === null) throw new Error('shard has no program yet');
  const current = ctx;
  const encode = (out: Float64Array) => encodeProgram(current.program, out);
  const count = task.type === 'batch' ? task.ops.length : importRowCount(task.rows);
  let reply: BatchReply;
  try {
    reply = store.root.transactionSync(() => (task.type === 'import' ? executor.importBatch(current, task.rows, encode) : executor.apply(current, task.ops, encode)));
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    // The transaction was aborted: nothing of the batch is written, every op fails alike.
    const message = err instanceof Error ? err.message : String(err);
    const error = opError('storage_failed', `the ledger could not be written: ${message}`);
    return { results: Array.from({ length: count }, () => ({ ok: false, error })), outbox: [] };
  }
  // The commit above included its fdatasync (engine/shard/store.ts); `flushed` also covers any async write.
  await store.root.flushed;
  return reply;
}

async function runControl(control: Control): Promise<unknown> {
  switch (control.c) {
    case 'setProgram': {
      if (ctx !== null && ctx.version >= control.version) return { version: ctx.version };
      const program = control.program as Program;
      const previous = store.meta.get('program') as { version: number; program: Program } | undefined;
      const next = programContext(control.version, program);
      const settle = programNeedsSettling(previous?.program ?? null, program);
      store.root.transactionSync(() => {
        store.meta.putSync('program', { version: control.version, program });
        store.meta.putSync('programAtMs', control.atMs);
        if (!settle) store.meta.putSync('settledVersion', control.version);
        if (control.record) {
          const ledger = new LedgerAppender(store);
          ledger.append({
            prev: 0, at: control.atMs, kind: 'program', memberId: '', pointsDelta: 0, growthDelta: 0,
            walletDeltaCents: 0, spendDeltaCents: 0, tierId: null, ref: `program:${control.version}`, cause: null,
          });
          ledger.finish();
        }
      });
      // Before any batch runs under the new program, no member holds a tier it dropped.
      if (settle) settleMembers(next, control.atMs);
      ctx = next;
      await store.root.flushed;
      return { version: control.version };
    }
    case 'sweep': {
      if (ctx === null) throw new Error('shard has no program yet');
      const current = ctx;
      const slice = store.root.transactionSync(() => executor.sweep(current, control.asOfMs, control.limit, (out) => encodeProgram(current.program, out)));
      await store.root.flushed;
      return slice;
    }
    case 'outboxDone': {
      // Delivered messages leave the outbox; the target's key makes a repeat harmless anyway.
      store.root.transactionSync(() => { for (const seq of control.outSeqs) store.outbox.removeSync(seq); });
      return { removed: control.outSeqs.length };
    }
  }
}

/** An assertion of this engine or of the WASM core: the state is not what the code was written for. */
function isBrokenInvariant(err: unknown): err is Error {
  return err instanceof assert.AssertionError || (err instanceof Error && err.message.startsWith('core assertion failed'));
}

/**
 * A broken invariant stops the whole process (DESIGN, house style 4), not just this batch: the
 * transaction was aborted, so nothing of it is on disk, acked work is safe, and terminals resend
 * what was not acked. The line goes to stderr synchronously, as pino's fatal level would.
 */
function stopProcess(err: Error): never {
  writeSync(2, JSON.stringify({ level: 60, time: Date.now(), shard: shardId, msg: 'broken invariant: stopping the process', err: err.message, stack: err.stack }) + '\n');
  process.kill(process.pid, 'SIGKILL');
  throw err;
}

export default async function handle(msg: ShardTask): Promise<unknown> {
  try {
    switch (msg.type) {
      case 'batch': case 'import': return await runBatch(msg);
      case 'query': return answer(store, msg.query);
      case 'control': return await runControl(msg.control);
    }
  } catch (err) {
    if (isBrokenInvariant(err)) stopProcess(err);
    throw err;
  }
}
