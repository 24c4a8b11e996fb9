// The body of one shard's worker thread: it owns the shard's LMDB environment and core, and
// answers three kinds of task: a batch of write ops, a read query, or a control change. Every
// write goes through the shard's machine (machine.ts), which logs it with its effects.
import { move, workerData } from 'piscina';
import { join } from 'node:path';
import { openShardStore } from './store.js';
import { loadCore } from '../core/wasm.js';
import { answer } from './queries.js';
import { ensureSearchIndex } from './search-index.js';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import type { Control } from '../ops.js';
import { importRowCount } from '../import-rows.js';
import { opError } from '../errors.js';
import type { BatchReply, ShardTask, ShardWorkerData } from '../shard-protocol.js';
import type { WriteOp } from '../ops.js';
import { packRecords, unpackRecords } from '../batch-records.js';
import { ShardMachine } from './machine.js';
import { SETTLE_SLICE_MEMBERS } from '../limits.js';
import { CommitClock, lastCommittedAtMs } from './commit-clock.js';
import { copyShard } from './shard-backup.js';

/**
 * BENCHMARK SWITCH, never for production: `LOYALTY_TEST_NO_BATCH_LOG=1` commits batches without
 * their batch-log entries, so that bench/load.ts can measure what the log costs. A shard that ran
 * with it is marked `unlogged` and can no longer be replayed, backed up to a point or recovered.
 */
const BATCH_LOG_ON = process.env['LOYALTY_TEST_NO_BATCH_LOG'] !== '1';

const { shardId, dataDir, mapBytes, commitClock } = workerData as ShardWorkerData;
const store = openShardStore(join(dataDir, `shard-${shardId}`), mapBytes);
// A data folder written before the search index existed gets it now, before the first batch.
ensureSearchIndex(store);
const machine = new ShardMachine(store, loadCore(), shardId, { log: BATCH_LOG_ON });
/** Shared with the other shards of this process (engine/shard/commit-clock.ts says why). */
const clock = new CommitClock(commitClock);
clock.raise(lastCommittedAtMs(store) ?? 0);

/**
 * The time a task is committed, recorded in its log entry for point-in-time recovery. It is read
 * here, outside the machine, and never reaches the executor.
 */
const committedAtMs = (): number => clock.next(Date.now());

// Data written before members were settled on program changes, or a settling a crash cut short.
machine.settleMembers((store.meta.get('programAtMs') as number | undefined) ?? committedAtMs(), committedAtMs, SETTLE_SLICE_MEMBERS);

/** A write batch, or a batch of imported rows (BatchExecutor.importBatch), in one transaction. */
async function runBatch(task: ShardTask & { type: 'batch' | 'import' }): Promise<BatchReply> {
  if (machine.program === null) throw new Error('shard has no program yet');
  const ops = task.type === 'batch' ? unpackRecords<WriteOp[]>(task.packedOps) : null;
  const count = ops !== null ? ops.length : importRowCount((task as ShardTask & { type: 'import' }).rows);
  let reply: BatchReply;
  try {
    const logged = ops === null ? { kind: 'import' as const, rows: (task as ShardTask & { type: 'import' }).rows } : { kind: 'batch' as const, ops };
    reply = machine.run(logged, committedAtMs()) as BatchReply;
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
      const { version, program, atMs, record } = control;
      const reply = machine.run({ kind: 'program', version, program, atMs, record }, committedAtMs());
      // Before any batch runs under the new program, no member holds a tier it dropped.
      machine.settleMembers(atMs, committedAtMs, SETTLE_SLICE_MEMBERS);
      await store.root.flushed;
      return reply;
    }
    case 'sweep': {
      if (machine.program === null) throw new Error('shard has no program yet');
      const slice = machine.run({ kind: 'sweep', asOfMs: control.asOfMs, limit: control.limit }, committedAtMs());
      await store.root.flushed;
      return slice;
    }
    case 'outboxDone':
      return machine.run({ kind: 'outboxDone', outSeqs: control.outSeqs }, committedAtMs());
    case 'backup':
      // Not a write: a copy of the shard as of this task (engine/shard/shard-backup.ts).
      return copyShard(store, shardId, control.dir);
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
      // A write batch's reply goes back as one moved buffer (engine/batch-records.ts).
      case 'batch': return move(packRecords(await runBatch(msg)));
      case 'import': return await runBatch(msg);
      case 'query': return answer(store, msg.query);
      case 'control': return await runControl(msg.control);
    }
  } catch (err) {
    if (isBrokenInvariant(err)) stopProcess(err);
    throw err;
  }
}
