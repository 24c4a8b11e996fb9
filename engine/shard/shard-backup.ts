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
//
// The shards of one backup start their copies together: each waits, up to BACKUP_BARRIER_WAIT_MS,
// until every shard has reached its copy task. LMDB writes all of a copy after its meta pages in
// one O_DIRECT write, and a copy started a moment later queues its meta pages behind that write on
// the disk (measured: 2 ms apart, the later snapshot took 14-37 ms instead of 0.5-3 ms, for 100 MB
// shards; it grows with the data). Waiting for the other shards costs at most what is left of the
// task each of them is running.
import { statSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { BACKUP_BARRIER_WAIT_MS, BACKUP_SNAPSHOT_POLL_MS, BACKUP_SNAPSHOT_WAIT_MS, DATA_FILE_MODE } from '../limits.js';
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
  /** How long this shard held its next task: waiting for the other shards, then for the copy's snapshot. */
  pauseMs: number;
  /** The part of the pause spent waiting for the other shards to reach their copy tasks. */
  barrierMs: number;
  /** From the start of the copy to its end. */
  copyMs: number;
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));

function fileBytes(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

/** The shards of one backup: a shared count of those that reached their copy task, and how many there are. */
export interface CopyBarrier { barrier: SharedArrayBuffer; shards: number }

/** Counts this shard in, and waits until every shard is in or BACKUP_BARRIER_WAIT_MS have passed. */
function awaitOtherShards({ barrier, shards }: CopyBarrier): void {
  const arrived = new Int32Array(barrier, 0, 1);
  const started = performance.now();
  if (Atomics.add(arrived, 0, 1) + 1 >= shards) {
    Atomics.notify(arrived, 0);
    return;
  }
  for (;;) {
    const seen = Atomics.load(arrived, 0);
    const left = BACKUP_BARRIER_WAIT_MS - (performance.now() - started);
    if (seen >= shards || left <= 0) return;
    Atomics.wait(arrived, 0, seen, left);
  }
}

/**
 * Copies `store` into the existing empty folder `dir` (as `dir/data.mdb`, mode 0600, not yet
 * fsynced) as of now. Blocks this thread until the other shards of the backup are ready and the
 * copy's snapshot is fixed, then resolves once the copy is done.
 */
export async function copyShard(store: ShardStore, shardId: number, dir: string, together: CopyBarrier): Promise<ShardCopy> {
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
  awaitOtherShards(together);
  const barrierMs = performance.now() - started;
  const done = store.root.backup(dir, false);
  let snapshotLate = false;
  while (fileBytes(file) < metaBytes) {
    if (performance.now() - started - barrierMs > BACKUP_SNAPSHOT_WAIT_MS) { snapshotLate = true; break; }
    Atomics.wait(pauseCell, 0, 0, BACKUP_SNAPSHOT_POLL_MS);
  }
  const pauseMs = performance.now() - started;
  await done;
  if (snapshotLate) {
    // The snapshot may hold tasks that came after the backup's moment: the cut is not guaranteed.
    throw new Error(`LMDB did not start the copy of shard ${shardId} within ${BACKUP_SNAPSHOT_WAIT_MS} ms`);
  }
  // LMDB creates the file 0644 (less the umask); the folder is already 0700. The fsync is left to
  // the backup's digest thread (engine/shard/digest-worker.ts): on this thread it would hold the
  // shard's batches for as long as the disk takes.
  chmodSync(file, DATA_FILE_MODE);
  return {
    shard: shardId, batch: at.seq, checksum: header === null ? null : checksumHex(header.checksum),
    committedAtMs: header?.committedAtMs ?? null, members, bytes: fileBytes(file), pauseMs, barrierMs, copyMs: performance.now() - started,
  };
}
