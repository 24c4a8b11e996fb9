// The body of the reader thread: read-only views of every shard's LMDB environment, answering the
// queries that scan (member search and listing, reports, exports, verify) from committed state, so
// that a scan never waits behind a shard's write batches nor holds them up.
import { workerData } from 'piscina';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { lowerThreadPriority } from './thread-priority.js';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from './store.js';
import { answer } from './queries.js';
import type { ReaderTask, ReaderWorkerData } from '../shard-protocol.js';

const { dataDir, nice } = workerData as ReaderWorkerData;
const stores = new Map<number, ShardStore>();

lowerThreadPriority(nice);

/**
 * A shard's read-only view, opened at its first read. The shard's worker opened the environment and
 * every database first (the engine asks each shard before it reads through this thread), so the
 * read transaction that opens a database here only finds it.
 */
function storeOf(shardId: number): ShardStore {
  let store = stores.get(shardId);
  if (store === undefined) {
    store = openShardStore(join(dataDir, `shard-${shardId}`), { readOnly: true });
    stores.set(shardId, store);
  }
  return store;
}

/** An assertion of this engine: the state is not what the code was written for (as in the shard worker). */
function stopProcess(err: Error): never {
  writeSync(2, JSON.stringify({ level: 60, time: Date.now(), msg: 'broken invariant in the reader thread: stopping the process', err: err.message, stack: err.stack }) + '\n');
  process.kill(process.pid, 'SIGKILL');
  throw err;
}

export default function handle(task: ReaderTask): unknown {
  const store = storeOf(task.shardId);
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
