// The body of one shard's worker thread: it owns the shard's LMDB environment and core, and
// answers three kinds of task: a batch of write ops, a read query, or a control change. Every
// write goes through the shard's machine (machine.ts), which logs it with its effects; every reply
// leaves only once what it answers is on disk (durable(), below).
import { move, workerData } from 'piscina';
import { join } from 'node:path';
import { openShardStore } from './store.js';
import { loadCore } from '../core/wasm.js';
import { answer } from './queries.js';
import { ensureSearchIndex } from './search-index.js';
import assert from 'node:assert/strict';
import { existsSync, renameSync, writeSync } from 'node:fs';
import type { Control } from '../ops.js';
import { importRowCount } from '../import-rows.js';
import { opError } from '../errors.js';
import { STALE_OWNER_MARK, type BatchReply, type PackedBatchReply, type ShardTask, type ShardWorkerData } from '../shard-protocol.js';
import type { WriteOp } from '../ops.js';
import { packRecords, packResults, unpackRecords } from '../batch-records.js';
import { ShardMachine } from './machine.js';
import { commitModeFromEnv, commitWaitsForGroupSync, SETTLE_SLICE_MEMBERS } from '../limits.js';
import { CommitClock, lastCommittedAtMs } from './commit-clock.js';
import { copyShard } from './shard-backup.js';
import { failedOnDisk, GroupSync, type SyncFile } from './group-sync.js';
import { clearCompactionLeftovers, compactionDue, compactShard, type CompactionReport } from './compaction.js';
import { ERASURE_COMPACT_DELAY_MS } from '../limits.js';
import { clusterFromEnv, type ClusterConfig } from '../cluster/config.js';
import type { ShardReplicator } from './replicator.js';
import type { ShardStandby } from './standby.js';
import { logPosition } from './batch-log.js';

/**
 * BENCHMARK SWITCH, never for production: `LOYALTY_TEST_NO_BATCH_LOG=1` commits batches without
 * their batch-log entries, so that bench/load.ts can measure what the log costs. A shard that ran
 * with it is marked `unlogged` and can no longer be replayed, backed up to a point or recovered.
 */
const BATCH_LOG_ON = process.env['LOYALTY_TEST_NO_BATCH_LOG'] !== '1';

/**
 * How commits reach the disk (LOYALTY_COMMIT, engine/limits.ts): `sync`, each LMDB commit
 * includes its fdatasync; `pipelined`, commits skip it and a group sync runs beside the next batches;
 * `nometasync`, commits fdatasync their pages but not their meta page, which the group sync carries.
 */
const COMMIT_MODE = commitModeFromEnv(process.env);

/**
 * Fault injection for the failed-sync test (LOYALTY_TEST_FAIL_SYNC=PATH): once a file exists at
 * PATH, a shard's next sync reports EIO instead of syncing, as a disk that failed a write back would.
 */
const FAIL_SYNC_FILE = process.env['LOYALTY_TEST_FAIL_SYNC'] ?? '';

/**
 * Cluster mode (LOYALTY_NATS, LOYALTY_NODE_ID, docs/cluster.md), when the engine of a cluster node
 * asked for it: the shard follows its stream until this node owns it, then appends every log entry
 * it commits before any reply depends on it. Null on a single machine, and in a command-line tool
 * that opens the folder beside a node, where nothing below changes.
 */
const CLUSTER = (workerData as ShardWorkerData).cluster === true ? clusterFromEnv(process.env) : null;
assert.ok((workerData as ShardWorkerData).cluster !== true || CLUSTER !== null, 'a cluster shard needs LOYALTY_NATS in its environment');

/**
 * Test hook (LOYALTY_TEST_COMMIT_TRACE=1): writes `commit <shard> <n>` to stderr after each write
 * task's commit and `reply <shard> <n>` just before its reply leaves, so that `strace -f -tt` shows
 * each reply after an fdatasync that started after its commit.
 */
const TRACE = process.env['LOYALTY_TEST_COMMIT_TRACE'] === '1';

/** Test hook (LOYALTY_TEST_COMPACT_DELAY_MS): the delay of the compaction after an erasure, shortened. */
const COMPACT_DELAY_MS = Number(process.env['LOYALTY_TEST_COMPACT_DELAY_MS'] ?? ERASURE_COMPACT_DELAY_MS);

const { shardId, dataDir, mapBytes, commitClock, followLag } = workerData as ShardWorkerData;
/** Where the standby reports how far its copy lags the stream (ShardWorkerData.followLag), read by the election. */
const followLagCell = followLag === undefined ? null : new Int32Array(followLag);
const shardDir = join(dataDir, `shard-${shardId}`);
const openStore = (dir: string) => openShardStore(dir, mapBytes, { noSync: COMMIT_MODE === 'pipelined', noMetaSync: COMMIT_MODE === 'nometasync' });
// A compaction a crash cut short left its copy beside the shard's file, which it never touched.
clearCompactionLeftovers(shardDir);
/** The shard's handle: replaced by a compaction (engine/shard/compaction.ts), which reopens the shard on its copy. */
let store = openStore(shardDir);
// A data folder written before the search index existed gets it now, before the first batch.
ensureSearchIndex(store);
// Reassigned after a compaction, and after cluster mode levelled the copy with its stream.
let machine = new ShardMachine(store, loadCore(), shardId, { log: BATCH_LOG_ON });
/** Shared with the other shards of this process (engine/shard/commit-clock.ts says why). */
const clock = new CommitClock(commitClock);
clock.raise(lastCommittedAtMs(store) ?? 0);

/**
 * The time a task is committed, recorded in its log entry for point-in-time recovery. It is read
 * here, outside the machine, and never reaches the executor.
 */
const committedAtMs = (): number => clock.next(Date.now());

/** Settles members on the shard's program: data written before settling existed, or a settling a crash cut short. */
const settle = (): void => {
  machine.settleMembers((store.meta.get('programAtMs') as number | undefined) ?? committedAtMs(), committedAtMs, SETTLE_SLICE_MEMBERS);
};
// In cluster mode a standby writes nothing of its own: the shard settles once this node owns it.
if (CLUSTER === null) settle();

/**
 * lmdb-js 3.5.6 `sync(callback)` (open.js; its typings do not declare it): a SyncWorker runs
 * mdb_env_sync(env, 1) on a thread of libuv's pool, which, without MDB_WRITEMAP, is one fdatasync of
 * data.mdb, and calls back on this thread with the error LMDB reported, if any.
 */
const rootSync = () => (store.root as unknown as { sync(callback: (err?: Error) => void): void });
const syncDataFile: SyncFile = (done) => {
  if (FAIL_SYNC_FILE !== '' && existsSync(FAIL_SYNC_FILE)) {
    setImmediate(() => done(Object.assign(new Error('Input/output error (injected: LOYALTY_TEST_FAIL_SYNC)'), { code: 'EIO' })));
    return;
  }
  rootSync().sync((err?: Error) => done(err ?? null));
};

/** The group sync of a pipelined or nometasync shard; null when each commit syncs itself and its meta page. */
const syncs = commitWaitsForGroupSync(COMMIT_MODE) ? new GroupSync(syncDataFile, (err) => stopProcess('the data file could not be synced: stopping the process', err)) : null;

/**
 * The shard's stream in cluster mode once this node owns the shard (the `own` control), levelled
 * with this copy before the next task is taken. An append refused by the fence (another node wrote
 * the stream) makes this owner stale (`staleReason`): the tasks waiting for it fail with a mark the
 * router turns into a retryable refusal and a step-down of the whole node, which the `standBy`
 * control with `stale` completes. An unanswered append stops the process, as a failed sync does:
 * the copy holds a commit the stream may or may not hold, and the next start levels the two again
 * or rebuilds the copy (engine/shard/replicator.ts, engine/shard/standby.ts). It is loaded only in
 * cluster mode: a single machine's shard threads never load the NATS client.
 */
let replicator: ShardReplicator | null = null;
/**
 * Set when the stream refused an append of this shard until the `standBy` control: why this owner
 * is stale. Meanwhile the shard commits no write and answers no read, since what it holds beyond
 * the stream will never be in it.
 */
let staleReason: string | null = null;

/** The error a task of a stale owner fails with: its message starts with the mark the router looks for. */
const staleOwnerError = (): Error => new Error(`${STALE_OWNER_MARK} shard ${shardId}: ${staleReason ?? 'this node no longer owns the shard'}`);

/**
 * A replicator's failure, for a task waiting on it: a refusal by the fence makes this owner stale
 * and fails the task with the stale mark; any other failure (no acknowledgement in time) stops the
 * process, since the stream may or may not hold the entry.
 */
function replicationFailed(err: unknown, stopMessage: string): never {
  if (err instanceof Error && (err as { code?: unknown }).code === 'fence_refused') {
    staleReason ??= err.message;
    throw staleOwnerError();
  }
  return stopProcess(stopMessage, err instanceof Error ? err : new Error(String(err)));
}
/**
 * In cluster mode, from the start until this node owns the shard: the standby that follows the
 * shard's stream into this copy. While it runs the shard takes no write.
 */
let standby: ShardStandby | null = null;

/**
 * Moves a copy that cannot be levelled with its stream aside (`shard-<n>.diverged-<ms>`, kept for
 * an operator to look at or delete) and opens an empty one in its place, which the standby then
 * fills from the stream: LMDB cannot undo a committed transaction, so the stream's history is
 * replayed from its first entry.
 */
async function rebuildCopy(reason: string): Promise<void> {
  const aside = `${shardDir}.diverged-${Date.now()}`;
  await store.root.close();
  renameSync(shardDir, aside);
  writeSync(2, JSON.stringify({ level: 40, time: Date.now(), shard: shardId, msg: 'this copy cannot be levelled with the shard\'s stream: it was moved aside and is rebuilt from the stream', reason, movedTo: aside }) + '\n');
  store = openStore(shardDir);
  ensureSearchIndex(store);
}

/**
 * Makes this node the shard's owner in term `term`: the standby stops, the copy is levelled with
 * the stream (its last entries applied, or its own unacknowledged ones appended), the `term` entry
 * is appended and committed (engine/shard/replicator.ts), the shard settles its members, and from
 * here on every commit is appended fenced on the stream's last entry.
 */
async function ownNow(term: number): Promise<Done> {
  assert.ok(CLUSTER !== null && replicator === null, 'a shard is taken over only while it stands by, in cluster mode');
  const startedMs = Date.now();
  await standby?.stop();
  standby = null;
  const standbyStoppedMs = Date.now();
  // The term entry is stamped after every entry the levelling applied: the clock is raised to the copy's last first.
  const commitTime = (): number => { clock.raise(lastCommittedAtMs(store) ?? 0); return committedAtMs(); };
  replicator = await (await import('./replicator.js')).ShardReplicator.open(CLUSTER, shardId, store, term, commitTime);
  // A takeover's time is the failover's but for the lease: its two parts are logged, so that a slow
  // one says whether the standby's last turn or the levelling with the stream (its term entry
  // included) held it up.
  writeSync(2, JSON.stringify({ level: 30, time: Date.now(), shard: shardId, term, standbyStopMs: standbyStoppedMs - startedMs, levelMs: Date.now() - standbyStoppedMs, logSeq: logPosition(store).seq, msg: 'cluster: shard taken over' }) + '\n');
  // Levelling replays what the stream holds beyond the copy with a machine of its own, which takes
  // the store's state-write hook and may change its program: this thread's machine is made again.
  machine = new ShardMachine(store, loadCore(), shardId, { log: BATCH_LOG_ON });
  clock.raise(lastCommittedAtMs(store) ?? 0);
  settle();
  await replicator.replicate();
  // The copy is the stream's last entry now: after a step-down the node is level until its standby's first turn says otherwise.
  if (followLagCell !== null) Atomics.store(followLagCell, 0, 0);
  return { reply: { term, logSeq: logPosition(store).seq }, wrote: false };
}

/** Starts following the shard's stream from the copy's position: at start, and after a planned step-down. */
async function followStream(config: ClusterConfig): Promise<void> {
  standby = await (await import('./standby.js')).ShardStandby.open(config, shardId, {
    store: () => store,
    rebuild: rebuildCopy,
    // A copy behind a trimmed stream's base needs a backup, not an investigation of diverged books.
    fail: (err) => stopProcess((err as { code?: string }).code === 'copy_behind_stream_base'
      ? 'a standby shard cannot follow its stream: copy_behind_stream_base (restore the backup its message names)'
      : 'a standby shard could not apply its stream: its books differ from the owner\'s', err),
    warn: (msg, err) => writeSync(2, JSON.stringify({ level: 40, time: Date.now(), shard: shardId, msg, err: err instanceof Error ? err.message : String(err) }) + '\n'),
    rebuilt: (logSeq, ms) => writeSync(2, JSON.stringify({ level: 30, time: Date.now(), shard: shardId, msg: 'the copy moved aside was rebuilt from the stream', logSeq, rebuildMs: ms }) + '\n'),
    lag: (entries) => { if (followLagCell !== null) Atomics.store(followLagCell, 0, Math.min(entries, 0x7fffffff)); },
  });
}

/**
 * A step-down of this node (the `standBy` control), run with the shard to itself, so after every
 * task begun before it. Planned (a drain): what those tasks committed is synced, then appended and
 * acknowledged by the stream (an append refused or unanswered stops the process, as for a batch).
 * Unplanned (`stale`: another node owns the deployment): nothing more is appended, and the appends
 * already sent settle as they may. Only then does the shard let its stream connection go and follow
 * the stream as a standby; a copy holding a commit that another owner's entries replaced in the
 * stream is moved aside and rebuilt by the standby, in this process. From here on the shard refuses
 * every write, so nothing it commits can miss the stream once another node owns it.
 */
async function standByNow(stale: boolean): Promise<{ logSeq: number }> {
  assert.ok(CLUSTER !== null && replicator !== null && standby === null, 'only a shard this node owns steps down, in cluster mode');
  if (syncs !== null) await syncs.settled();
  if (!stale) {
    try {
      await replicator.replicate();
    } catch (err) {
      stopProcess('the shard\'s stream refused or did not acknowledge an append during a step-down: stopping the process', err instanceof Error ? err : new Error(String(err)));
    }
  }
  await replicator.close();
  replicator = null;
  staleReason = null;
  await followStream(CLUSTER);
  return { logSeq: logPosition(store).seq };
}

/**
 * Set while the start-up or a compaction holds the shard: every task that arrives meanwhile waits
 * for it, in the order it arrived, and none fails. `active` counts the tasks begun and not
 * answered (a backup's copy among them), which a compaction waits for.
 */
let holding: Promise<void> | null = null;
let active = 0;
let idle: (() => void) | null = null;
/** Why the start-up failed, if it did: every task is refused with it. */
let startFailure: Error | null = null;

/** Runs `work` with the shard to itself: after every task begun before it, before any after it. */
async function exclusive<T>(work: () => Promise<T>): Promise<T> {
  while (holding !== null) await holding;
  let release!: () => void;
  holding = new Promise((resolve) => { release = resolve; });
  try {
    if (active > 0) await new Promise<void>((resolve) => { idle = resolve; });
    return await work();
  } finally {
    holding = null;
    release();
  }
}

/**
 * Compacts the data file (engine/shard/compaction.ts) and carries on with the new handle. A copy
 * that fails (a full disk) leaves the shard as it was; a failure after the old handle was closed
 * leaves no shard to write to, and stops the process.
 */
async function compactNow(): Promise<CompactionReport> {
  let closed = false;
  try {
    const { store: fresh, report } = await compactShard(store, shardId, shardDir, (dir) => { closed = true; return openStore(dir); });
    store = fresh;
    replicator?.reopen(store);
    machine = new ShardMachine(store, loadCore(), shardId, { log: BATCH_LOG_ON });
    return report;
  } catch (err) {
    if (closed) stopProcess('the compaction of the data file failed after its swap began: stopping the process', err instanceof Error ? err : new Error(String(err)));
    clearCompactionLeftovers(shardDir);
    throw err;
  }
}

let compactionTimer: NodeJS.Timeout | null = null;

/**
 * Compacts once, ERASURE_COMPACT_DELAY_MS after the first erasure of a burst: the later erasures
 * of the burst are covered by the same compaction.
 */
function compactSoon(): void {
  if (compactionTimer !== null) return;
  compactionTimer = setTimeout(() => {
    compactionTimer = null;
    void exclusive(async () => {
      if (compactionDue(store, shardDir)) await compactNow();
    }).catch((err: unknown) => {
      writeSync(2, JSON.stringify({ level: 40, time: Date.now(), shard: shardId, msg: 'the compaction after an erasure failed: the next erasure or start retries it', err: err instanceof Error ? err.message : String(err) }) + '\n');
    });
  }, COMPACT_DELAY_MS);
  compactionTimer.unref();
}

/**
 * The asynchronous part of the start-up, done before the first task is taken. It is not top-level
 * await: Piscina loads this module with require(), which a module with top-level await turns into
 * a fallback to import(); with several tasks sent at once, a second task's require() then races
 * that import() and Node 20 stops the whole process (V8's fatal "IsGraphAsync must be used on an
 * instantiated module"). Held as `holding`, it makes the first tasks wait as a compaction does.
 */
async function start(): Promise<void> {
  // What the start-up wrote (the search index, settling) is on disk before the first task is taken.
  if (syncs !== null) await syncs.committed();
  // An erasure committed since the last compaction (a stop or crash came first): compacted before
  // the first task. A copy that fails (a full disk) is reported and the shard starts as it is.
  if (compactionDue(store, shardDir)) {
    await compactNow().catch((err: unknown) => {
      writeSync(2, JSON.stringify({ level: 40, time: Date.now(), shard: shardId, msg: 'the compaction at start failed: the next erasure or start retries it', err: err instanceof Error ? err.message : String(err) }) + '\n');
    });
  }
  // Cluster mode starts every shard as a standby; the `own` control makes it the owner.
  if (CLUSTER !== null) await followStream(CLUSTER);
}
holding = start()
  .catch((err: unknown) => { startFailure = err instanceof Error ? err : new Error(String(err)); })
  .finally(() => { holding = null; });

/**
 * The id of the last transaction LMDB committed on this shard (mdb_env_info; lmdb-js 3.5.6 has
 * `env.info()` on the root store, undeclared in its typings).
 */
const lastTxnId = (): number => (store.root as unknown as { env: { info(): { lastTxnId: number } } }).env.info().lastTxnId;
/** The transaction id at the last write task's commit under nometasync. */
let txnIdSeen = COMMIT_MODE === 'nometasync' ? lastTxnId() : 0;

/**
 * Whether the write task that just returned made a commit that fdatasynced the data file itself
 * (LOYALTY_COMMIT=nometasync): LMDB skips the whole commit, fdatasync included, for a transaction
 * that dirtied no page, and then its transaction id does not move. Any commit at all since the last
 * write task (a settling, a sweep slice) synced the file after that task's meta page was written
 * too, so a moved id is enough.
 */
function committedWithOwnSync(): boolean {
  if (COMMIT_MODE !== 'nometasync') return false;
  const txnId = lastTxnId();
  const moved = txnId !== txnIdSeen;
  txnIdSeen = txnId;
  return moved;
}

/** Write tasks committed by this thread, for the trace. */
let writesCommitted = 0;

/** A task's answer, and whether the task committed a transaction. */
interface Done { reply: unknown; wrote: boolean }

/**
 * Waits until what `done` answers is on disk. With synchronous commits the commit included its
 * fdatasync and nothing is awaited; pipelined, a write waits for a sync that started after its
 * commit, and anything else for the commits made before it, so that no reply reveals or overtakes
 * a commit that is not on disk yet. Every task passes here the same way, so replies leave in the
 * order their waits were registered: commit order.
 */
async function durable({ reply, wrote }: Done): Promise<unknown> {
  const write = TRACE && wrote ? ++writesCommitted : 0;
  if (write > 0) writeSync(2, `commit ${shardId} ${write}\n`);
  const wait = syncs === null ? undefined : !wrote ? syncs.settled() : committedWithOwnSync() ? syncs.committedAfterOwnSync() : syncs.committed();
  if (wait !== undefined) await wait;
  if (replicator !== null) {
    try {
      await (wrote ? replicator.replicate() : replicator.settled());
    } catch (err) {
      replicationFailed(err, 'the shard\'s stream did not acknowledge an append: stopping the process');
    }
  }
  if (write > 0) writeSync(2, `reply ${shardId} ${write}\n`);
  return reply;
}

/**
 * A write batch, or a batch of imported rows (BatchExecutor.importBatch), in one transaction. A
 * write batch's reply goes back as one moved buffer (engine/batch-records.ts), packed before its
 * sync is waited for.
 */
function runBatch(task: ShardTask & { type: 'batch' | 'import' }): Done {
  if (machine.program === null) throw new Error('shard has no program yet');
  const ops = task.type === 'batch' ? unpackRecords<WriteOp[]>(task.packedOps) : null;
  const count = ops !== null ? ops.length : importRowCount((task as ShardTask & { type: 'import' }).rows);
  // A batch of stream ops gets its results packed on their own, as the stream's acks carry them (engine/batch-records.ts).
  const resultsPacked = task.type === 'batch' && task.resultsPacked;
  const wire = (reply: BatchReply): unknown => (ops === null ? reply
    : move(packRecords(resultsPacked ? { ...reply, results: packResults(reply.results) } satisfies PackedBatchReply : reply)));
  try {
    const logged = ops === null ? { kind: 'import' as const, rows: (task as ShardTask & { type: 'import' }).rows } : { kind: 'batch' as const, ops };
    const reply = machine.run(logged, committedAtMs()) as BatchReply;
    if (ops !== null && ops.some((op) => op.op === 'erase')) compactSoon();
    return { reply: wire(reply), wrote: true };
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    stopIfCommitFailedOnDisk(err);
    // The transaction was aborted: nothing of the batch is written, every op fails alike.
    const message = err instanceof Error ? err.message : String(err);
    const error = opError('storage_failed', `the ledger could not be written: ${message}`);
    return { reply: wire({ results: Array.from({ length: count }, () => ({ ok: false, error })), outbox: [] }), wrote: false };
  }
}

function runControl(control: Control): Done | Promise<Done> {
  switch (control.c) {
    case 'setProgram': {
      const { version, program, atMs, record, by } = control;
      const reply = machine.run(by === undefined ? { kind: 'program', version, program, atMs, record } : { kind: 'program', version, program, atMs, record, by }, committedAtMs());
      // Before any batch runs under the new program, no member holds a tier it dropped.
      machine.settleMembers(atMs, committedAtMs, SETTLE_SLICE_MEMBERS);
      return { reply, wrote: true };
    }
    case 'sweep': {
      if (machine.program === null) throw new Error('shard has no program yet');
      const sweep = control.newCodes === undefined ? { kind: 'sweep' as const, asOfMs: control.asOfMs, limit: control.limit }
        : { kind: 'sweep' as const, asOfMs: control.asOfMs, limit: control.limit, newCodes: control.newCodes };
      return { reply: machine.run(sweep, committedAtMs()), wrote: true };
    }
    case 'outboxDone':
      return { reply: machine.run({ kind: 'outboxDone', outSeqs: control.outSeqs }, committedAtMs()), wrote: true };
    case 'backup':
      // Not a write: a copy of the shard as of a moment LMDB picks while it runs
      // (engine/shard/shard-backup.ts). It is answered once everything the copy can hold is on the
      // live shard's disk, so that a backup never holds a batch a power loss could still undo here.
      return copyShard(store, shardId, control.dir, control.compact !== false).then((reply) => ({ reply, wrote: false }));
    case 'compact': case 'close': case 'own': case 'standBy':
      // Handled by handle(), which gives each the shard to itself.
      throw new Error(`${control.c} is not a task among others`);
  }
}

/** Runs a task up to its answer: its commits, if any, are made before this returns (but a backup's copy). */
function perform(msg: ShardTask): Done | Promise<Done> {
  switch (msg.type) {
    case 'batch': case 'import': return runBatch(msg);
    case 'query': return { reply: answer(store, msg.query), wrote: false };
    case 'control': return runControl(msg.control);
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
function stopProcess(msg: string, err: Error): never {
  writeSync(2, JSON.stringify({ level: 60, time: Date.now(), shard: shardId, msg, err: err.message, stack: err.stack }) + '\n');
  process.kill(process.pid, 'SIGKILL');
  throw err;
}

/**
 * Under LOYALTY_COMMIT=nometasync a commit's own fdatasync also carries the meta page of the commit
 * before it, whose reply may still wait for the group sync: when that fdatasync fails, a later sync
 * may report success for pages the kernel dropped (engine/shard/group-sync.ts failedOnDisk), so the
 * process stops as it does for a failed group sync. With synchronous commits the failed commit is
 * aborted and every commit before it was flushed whole, so the batch answers `storage_failed`.
 */
function stopIfCommitFailedOnDisk(err: unknown): void {
  if (COMMIT_MODE === 'nometasync' && failedOnDisk(err)) stopProcess('a commit could not write or sync the data file: stopping the process', err as Error);
}

/** Set by the `close` control: the store is closed and every later task refused. */
let closed = false;

/**
 * Closes the store before the thread is let go. lmdb-js cleans up an environment a terminated
 * thread left open in its own exit hooks, and a thread ended with a transaction open made that
 * cleanup deadlock (the what-if thread, engine/router/what-if-jobs.ts): a shard ends closed instead.
 */
async function closeNow(): Promise<null> {
  closed = true;
  if (compactionTimer !== null) { clearTimeout(compactionTimer); compactionTimer = null; }
  await standby?.stop();
  standby = null;
  await replicator?.close();
  await store.root.close();
  return null;
}

export default async function handle(msg: ShardTask): Promise<unknown> {
  while (holding !== null) await holding;
  if (startFailure !== null) throw startFailure;
  if (closed) throw new Error(`shard ${shardId} is closed`);
  if (msg.type === 'control' && msg.control.c === 'compact') return exclusive(compactNow);
  if (msg.type === 'control' && msg.control.c === 'close') return exclusive(closeNow);
  if (msg.type === 'control' && msg.control.c === 'own') { const { term } = msg.control; return exclusive(async () => (await ownNow(term)).reply); }
  if (msg.type === 'control' && msg.control.c === 'standBy') { const stale = msg.control.stale === true; return exclusive(() => standByNow(stale)); }
  // A stale owner's copy must not get further from the stream: it takes nothing until it stands by.
  if (staleReason !== null) throw staleOwnerError();
  // A standby's copy is written by its stream alone: a write of its own would make it differ.
  if (standby !== null && !(msg.type === 'query' || (msg.type === 'control' && msg.control.c === 'backup'))) {
    throw new Error(`shard ${shardId} stands by in cluster mode: it takes no write until this node owns it`);
  }
  active += 1;
  try {
    const done = perform(msg);
    return await durable(done instanceof Promise ? await done : done);
  } catch (err) {
    if (isBrokenInvariant(err)) stopProcess('broken invariant: stopping the process', err);
    stopIfCommitFailedOnDisk(err);
    throw err;
  } finally {
    active -= 1;
    if (active === 0 && idle !== null) {
      const wake = idle;
      idle = null;
      wake();
    }
  }
}
