// The body of the reader thread: read-only views of every shard's LMDB environment, answering the
// queries that scan (member search and listing, reports, exports, verify) from committed state, so
// that a scan never waits behind a shard's write batches nor holds them up.
import { workerData } from 'piscina';
import assert from 'node:assert/strict';
import { statSync, writeSync } from 'node:fs';
import { lowerThreadPriority } from './thread-priority.js';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from './store.js';
import { answer } from './queries.js';
import type { ReaderTask, ReaderWorkerData } from '../shard-protocol.js';

const { dataDir, nice } = workerData as ReaderWorkerData;
/** Each shard's view, and the inode of the data file it was opened on. */
const stores = new Map<number, { store: ShardStore; inode: number }>();

lowerThreadPriority(nice);

/**
 * A shard's read-only view, opened at its first read. The shard's worker opened the environment and
 * every database first (the engine asks each shard before it reads through this thread), so the
 * read transaction that opens a database here only finds it. A compaction (engine/shard/compaction.ts)
 * renames a new data file over the shard's, which the worker opened before the rename: a view still
 * on the old file sees nothing written since, so a task that finds another inode at the path
 * closes the view and opens the new file (a stat per task, a few microseconds beside a scan).
 */
async function storeOf(shardId: number): Promise<ShardStore> {
  const dir = join(dataDir, `shard-${shardId}`);
  const inode = statSync(join(dir, 'data.mdb')).ino;
  let view = stores.get(shardId);
  if (view !== undefined && view.inode !== inode) {
    stores.delete(shardId);
    await view.store.root.close();
    view = undefined;
  }
  if (view === undefined) {
    view = { store: openShardStore(dir, { readOnly: true }), inode };
    stores.set(shardId, view);
  }
  return view.store;
}

/** An assertion of this engine: the state is not what the code was written for (as in the shard worker). */
function stopProcess(err: Error): never {
  writeSync(2, JSON.stringify({ level: 60, time: Date.now(), msg: 'broken invariant in the reader thread: stopping the process', err: err.message, stack: err.stack }) + '\n');
  process.kill(process.pid, 'SIGKILL');
  throw err;
}

/** Closes every view: the reader's last task (engine/router/reader-client.ts release). */
async function closeViews(): Promise<null> {
  const views = [...stores.values()];
  stores.clear();
  for (const view of views) await view.store.root.close();
  return null;
}

export default async function handle(task: ReaderTask): Promise<unknown> {
  if ('close' in task) return closeViews();
  const store = await storeOf(task.shardId);
  // lmdb-js keeps a read snapshot until a timer turn passes; a read sent after a write was
  // acknowledged must see it, so every task starts from the newest committed state.
  store.root.resetReadTxn();
  try {
    return answer(store, task.query);
  } catch (err) {
    if (err instanceof assert.AssertionError) stopProcess(err);
    throw err;
  }
}
