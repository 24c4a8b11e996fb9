// A shard's part of a backup (engine/router/backup.ts), on the shard's own thread: LMDB's hot copy
// of its environment, and the log entries that carry a copy forward to the backup's point.
//
// The copy is lmdb-js `root.backup(dir, true)`: mdb_env_copy2 with compaction (MDB_CP_COMPACT), in
// a thread of libuv's pool. Compaction writes only the pages in use, so the bytes of pages an
// erasure freed (engine/shard/compaction.ts) never reach a backup; it costs about the plain copy's
// time (README, "Backups"). LMDB takes its snapshot under a read transaction, after holding its writer lock for
// as long as it writes the copy's two meta pages, and copies the snapshot's pages while the shard
// goes on committing; the shard's thread only waits for the answer, between its other tasks. Where
// the copy stands in the batch log is read from the copy itself (storePosition, on the backup's
// own thread), since LMDB, not this thread, chose the moment of its snapshot.
import { chmodSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_FILE_MODE } from '../limits.js';
import { decodeLogHeader, logPosition, logValues } from './batch-log.js';
import { openShardStore, type ShardStore } from './store.js';
import type { CopyPosition, ShardCopyReply } from '../shard-protocol.js';


/** The log position of the shard store in `dir`, opened read-only and closed again (with the lock file it made). */
export async function storePosition(dir: string): Promise<CopyPosition> {
  const store = openShardStore(dir, undefined, { readOnly: true });
  try {
    const batch = logPosition(store).seq;
    const last = batch === 0 ? undefined : store.log.getBinary(batch);
    return { batch, committedAtMs: last === undefined ? null : decodeLogHeader(last).committedAtMs, unlogged: store.meta.get('unlogged') === true };
  } finally {
    await store.root.close();
    rmSync(join(dir, 'lock.mdb'), { force: true });
  }
}

/**
 * Copies `store` into the existing empty folder `dir` as `dir/data.mdb`, mode 0600. Its fsync is
 * left to the backup's own thread (engine/shard/backup-seal-worker.ts), so that this thread never
 * waits for the disk.
 */
export async function copyShard(store: ShardStore, shardId: number, dir: string, compact = true): Promise<ShardCopyReply> {
  const file = join(dir, 'data.mdb');
  if (statSync(file, { throwIfNoEntry: false }) !== undefined) throw new Error(`${file} exists already`);
  const started = performance.now();
  await store.root.backup(dir, compact);
  const copyMs = performance.now() - started;
  // LMDB creates the file 0644 (less the umask); the folder is 0700 already.
  chmodSync(file, DATA_FILE_MODE);
  return { shard: shardId, bytes: statSync(file).size, copyMs };
}

/**
 * Up to `limit` raw log entries after `afterSeq` committed at or before `untilMs`, in order: what a
 * copy of this shard lacks to reach the backup's point. Read-only, between the shard's batches.
 */
export function logEntriesUntil(store: ShardStore, afterSeq: number, untilMs: number, limit: number): Array<[number, Uint8Array]> {
  const out: Array<[number, Uint8Array]> = [];
  for (const [seq, value] of logValues(store, afterSeq + 1)) {
    if (out.length >= limit || decodeLogHeader(value).committedAtMs > untilMs) break;
    // A copy of the bytes: a range's values may share lmdb-js's read buffer.
    out.push([seq, Uint8Array.prototype.slice.call(value)]);
  }
  return out;
}
