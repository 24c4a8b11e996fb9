// The backup's own thread (engine/router/backup.ts): it watches each shard's copy start (how long
// LMDB holds the shard's writer lock for it), reads where each copy stands in its batch log, carries each copy forward to the backup's point by replaying the log entries it lacks
// (engine/shard/replay.ts: the shard's commit path, every entry checked against its checksum), then
// makes every file of the backup durable (fsync) and digests it (SHA-256). None of this runs on the
// main thread, where requests and streams are served, or on a shard's thread, where it would hold
// the shard's batches. Requests arrive as messages, each answered with `{ ok, reply | error }`.
import { closeSync, fsyncSync, openSync, rmSync, statSync } from 'node:fs';
import { lowerThreadPriority } from './thread-priority.js';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { checksumHex, decodeLogHeader, logPosition } from './batch-log.js';
import { digestFileSync } from './file-digest.js';
import { replayShard } from './replay.js';
import { storePosition } from './shard-backup.js';
import { openShardStore } from './store.js';
import { BACKUP_THREAD_NICE, BACKUP_WATCH_MS, BACKUP_WATCH_POLL_MS, LMDB_PAGE_BYTES } from '../limits.js';
import type { CopyPosition, FileDigest, SealedCopy, SealReply, SealRequest } from '../shard-protocol.js';

async function carryForward(shard: number, dir: string, entries: Array<[number, Uint8Array]>): Promise<SealedCopy> {
  // Synced once with the other files below, not per replayed entry.
  const store = openShardStore(dir, undefined, { noSync: true });
  try {
    const result = replayShard({ shardId: shard, values: (fromSeq) => entries.filter(([seq]) => seq >= fromSeq) }, store);
    const batch = logPosition(store).seq;
    const last = batch === 0 ? undefined : store.log.getBinary(batch);
    const header = last === undefined ? null : decodeLogHeader(last);
    return {
      shard, batch, checksum: header === null ? null : checksumHex(header.checksum), committedAtMs: header?.committedAtMs ?? null,
      members: (store.states.getStats() as { entryCount: number }).entryCount, replayed: result.batches,
    };
  } finally {
    await store.root.close();
    rmSync(join(dir, 'lock.mdb'), { force: true });
  }
}

function seal(path: string): FileDigest {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return digestFileSync(path);
}

/** LMDB keeps two meta pages at the start of a data file; a copy writes them first. */
const META_PAGES = 2;
const pollCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * From the last look that found no data file of the copy to the first that found its two meta
 * pages written: LMDB takes the shard's writer lock after creating the file and releases it once
 * those pages are written, so this bounds how long a write of the shard could wait for the copy
 * (to within the looks' spacing). Null when not seen within the bound.
 */
function watchCopyStart(file: string): number | null {
  const metaBytes = META_PAGES * LMDB_PAGE_BYTES;
  const deadline = performance.now() + BACKUP_WATCH_MS;
  let absentAt = performance.now();
  while (performance.now() < deadline) {
    const size = statSync(file, { throwIfNoEntry: false })?.size;
    const now = performance.now();
    if (size === undefined) absentAt = now;
    else if (size >= metaBytes) return now - absentAt;
    Atomics.wait(pollCell, 0, 0, BACKUP_WATCH_POLL_MS);
  }
  return null;
}

async function answer(req: SealRequest): Promise<SealReply> {
  if (req.kind === 'watch') return watchCopyStart(req.file);
  if (!lowered) { lowerThreadPriority(BACKUP_THREAD_NICE); lowered = true; }
  if (req.kind === 'positions') {
    const out: CopyPosition[] = [];
    for (const dir of req.dirs) out.push(await storePosition(dir));
    return out;
  }
  const copies: SealedCopy[] = [];
  for (const c of req.copies) copies.push(await carryForward(c.shard, c.dir, c.entries));
  return { copies, digests: req.files.map(seal) };
}

let lowered = false;
parentPort!.on('message', (req: SealRequest) => {
  answer(req).then(
    (reply) => parentPort!.postMessage({ ok: true, reply }),
    (err: unknown) => parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
