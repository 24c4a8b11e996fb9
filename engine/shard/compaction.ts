// Compaction of a shard's data file after erasures (docs/rules.md §15): LMDB leaves the bytes of
// the pages a transaction freed in data.mdb until it reuses them, so an erased name stays in the
// file. A compacting copy (lmdb-js `root.backup(dir, true)`: mdb_env_copy2 with MDB_CP_COMPACT)
// writes only the pages in use, and replaces the file.
//
// The swap, on the shard's own thread while its other tasks wait (engine/shard/worker.ts):
//   1. the copy is written into `<shard>/compacting/data.mdb` and fsynced;
//   2. the shard's handle is closed, and a new one opened on the copy, where it lies: a new inode,
//      so lmdb-js, which shares environments within a process by device and inode, gives it a new
//      environment with its own new lock file; threads still holding the old one (the reader, a
//      what-if) read its unchanged snapshot until they reopen (the reader does at its next task);
//   3. the copy's data file, then its lock file, are renamed over the shard's, and the folder is
//      fsynced; the `compacting` folder is removed.
// A crash before 3 leaves the old file whole (the leftover copy is removed at start); after it, the
// new one, synced before its rename. Nothing is written between the copy and the swap, so both hold
// every acknowledged batch.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_FILE_MODE, DATA_FOLDER_MODE } from '../limits.js';
import { ERASURES_META_KEY } from './batch-erase.js';
import type { ShardStore } from './store.js';
import type { CompactionReport } from '../shard-protocol.js';

/** Where the compacting copy is written, inside the shard's folder. */
export const COMPACT_FOLDER = 'compacting';
/** The count of erasures the last compaction covered (the meta key `erasures` then), as text. */
export const COMPACTED_FILE = 'compacted-erasures';

export type { CompactionReport } from '../shard-protocol.js';

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Removes a copy a crash cut short: the shard's own file was not touched before the copy was whole. */
export function clearCompactionLeftovers(shardDir: string): void {
  rmSync(join(shardDir, COMPACT_FOLDER), { recursive: true, force: true });
}

/** The erasures the shard committed. */
export function erasuresOf(store: ShardStore): number {
  return (store.meta.get(ERASURES_META_KEY) as number | undefined) ?? 0;
}

/** The erasures the last compaction covered (0 when none ran). */
export function compactedErasures(shardDir: string): number {
  try {
    return Number(readFileSync(join(shardDir, COMPACTED_FILE), 'utf8')) || 0;
  } catch {
    return 0;
  }
}

/** Whether an erasure was committed since the last compaction. */
export function compactionDue(store: ShardStore, shardDir: string): boolean {
  return erasuresOf(store) > compactedErasures(shardDir);
}

/**
 * Compacts the shard in `shardDir` whose open handle is `store`, which nothing may write meanwhile
 * (the caller holds its tasks back). `reopen` opens a store on a folder as the shard opens its own.
 * Answers the new handle, on the compacted file, and the figures.
 */
export async function compactShard(store: ShardStore, shardId: number, shardDir: string, reopen: (dir: string) => ShardStore): Promise<{ store: ShardStore; report: CompactionReport }> {
  const dataFile = join(shardDir, 'data.mdb');
  const tmp = join(shardDir, COMPACT_FOLDER);
  clearCompactionLeftovers(shardDir);
  mkdirSync(tmp, { mode: DATA_FOLDER_MODE });
  const bytesBefore = statSync(dataFile).size;
  const erasures = erasuresOf(store);
  const started = performance.now();
  await store.root.backup(tmp, true);
  const copy = join(tmp, 'data.mdb');
  chmodSync(copy, DATA_FILE_MODE);
  fsyncPath(copy);
  const copied = performance.now();
  await store.root.close();
  const fresh = reopen(tmp);
  renameSync(copy, dataFile);
  renameSync(join(tmp, 'lock.mdb'), join(shardDir, 'lock.mdb'));
  fsyncPath(shardDir);
  rmdirSync(tmp);
  const marker = join(shardDir, COMPACTED_FILE);
  writeFileSync(marker, String(erasures), { mode: DATA_FILE_MODE });
  fsyncPath(marker);
  fsyncPath(shardDir);
  return { store: fresh, report: { shard: shardId, bytesBefore, bytesAfter: statSync(dataFile).size, copyMs: copied - started, swapMs: performance.now() - copied } };
}
