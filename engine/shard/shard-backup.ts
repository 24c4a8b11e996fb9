// Copies one shard's LMDB environment while the shard goes on committing: LMDB's own hot copy
// (lmdb-js `root.backup(dir, false)`, mdb_env_copy2 without compaction), which runs in a thread of
// libuv's pool, takes its snapshot under a read transaction after holding writers for as long as it
// writes the two meta pages, and then copies every page of that snapshot while writes go on.
//
// The copy must hold exactly the tasks this shard had run when the backup task reached it, because
// the router sends the backup task to every shard at one moment and relies on that for a
// consistent cut across shards (engine/router/backup.ts). LMDB takes the snapshot when the pool
// thread gets to it, not when it is asked, so this worker runs nothing else until the copy's meta
// pages are in the file: that wait is the only pause a write sees, measured as `pauseMs`.
import { closeSync, fsyncSync, openSync, statSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { BACKUP_SNAPSHOT_POLL_MS, BACKUP_SNAPSHOT_WAIT_MS, DATA_FILE_MODE } from '../limits.js';
import { checksumHex, decodeLogHeader, logPosition } from './batch-log.js';
import type { ShardStore } from './store.js';

/** LMDB keeps two meta pages at the start of the file; the copy writes them first, holding writers. */
const META_PAGES = 2;

/** What one shard's copy holds and what it cost. */
export interface ShardCopy {
  shard: number;
  /** The last log entry the copy includes (0: none), with its checksum and commit time. */
  batch: number;
  checksum: string | null;
  committedAtMs: number | null;
  /** Members in the copy. */
  members: number;
  /** The copy's data file, in bytes. */
  bytes: number;
  /** How long this shard held its next task while LMDB fixed the copy's snapshot. */
  pauseMs: number;
  /** From the start of the copy to the data file on disk. */
  copyMs: number;
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));

function fileBytes(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

/**
 * Copies `store` into the existing empty folder `dir` (as `dir/data.mdb`, mode 0600, fsynced) as of
 * now. Blocks this thread until the copy's snapshot is fixed, then resolves once the copy is done.
 */
export async function copyShard(store: ShardStore, shardId: number, dir: string): Promise<ShardCopy> {
  const file = join(dir, 'data.mdb');
  if (fileBytes(file) > 0) throw new Error(`${file} exists already`);
  const metaBytes = META_PAGES * (store.root.getStats() as { pageSize: number }).pageSize;
  // Read before the copy starts; nothing of this thread writes until its snapshot is fixed, so
  // these are the copy's figures too.
  const at = logPosition(store);
  const last = at.seq === 0 ? undefined : store.log.getBinary(at.seq);
  const header = last === undefined ? null : decodeLogHeader(last);
  const members = (store.states.getStats() as { entryCount: number }).entryCount;
  const started = performance.now();
  const done = store.root.backup(dir, false);
  let snapshotLate = false;
  while (fileBytes(file) < metaBytes) {
    if (performance.now() - started > BACKUP_SNAPSHOT_WAIT_MS) { snapshotLate = true; break; }
    Atomics.wait(pauseCell, 0, 0, BACKUP_SNAPSHOT_POLL_MS);
  }
  const pauseMs = performance.now() - started;
  await done;
  if (snapshotLate) {
    // The snapshot may hold tasks that came after the backup's moment: the cut is not guaranteed.
    throw new Error(`LMDB did not start the copy of shard ${shardId} within ${BACKUP_SNAPSHOT_WAIT_MS} ms`);
  }
  chmodSync(file, DATA_FILE_MODE);
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return {
    shard: shardId, batch: at.seq, checksum: header === null ? null : checksumHex(header.checksum),
    committedAtMs: header?.committedAtMs ?? null, members, bytes: fileBytes(file), pauseMs, copyMs: performance.now() - started,
  };
}
