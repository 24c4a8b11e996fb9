// A backup of a running server's data folder (POST /v1/admin/backup, `loyalty backup DIR`): every
// shard's LMDB environment, engine.json, keys.json and admin.key, and a manifest (backup.json) with
// each shard's position in its batch log and every file's size and SHA-256, written last.
//
// One consistent point across shards. The backup task is handed to every shard's pool in one
// synchronous step, and each pool delivers its tasks in the order they were handed over
// (engine/router/shard-client.ts sets Piscina's strict FIFO), so each shard's copy holds exactly
// the tasks handed to it before that step (engine/shard/shard-backup.ts holds the shard's next task
// until LMDB has fixed the copy's snapshot, and starts it together with the other shards'). Anything one shard did because of another shard's
// work (a cross-shard credit after its debit, an outbox removal after the credit, a referee after
// its referrer's lookup) was handed over after that work was answered, so the cut never holds an
// effect without its cause. In particular a cross-shard credit in the copy is either still in the
// sender's outbox or applied at the target, or both (applied, its removal not yet handed over):
// the copy's first start delivers it again, and the target, which keys every credit by its message
// id, answers the repeat without applying it twice.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LoyaltyError } from '../errors.js';
import { DATA_FILE_MODE, DATA_FOLDER_MODE, LIBUV_POOL_THREADS_DEFAULT } from '../limits.js';
import { BACKUP_FORMAT, BACKUP_MANIFEST_NAME, shardDataFile, type BackupFile, type BackupManifestDoc, type BackupShard } from '../rules/backup-manifest.js';
import type { ShardClient } from './shard-client.js';

/** The data folder's own files a backup takes besides the shards (admin.key and keys.json when present). */
export const BACKUP_FOLDER_FILES = ['engine.json', 'keys.json', 'admin.key'] as const;

/** What a backup answers: its manifest, where it is, and what it cost. */
export interface BackupReport extends BackupManifestDoc {
  dir: string;
  /** From the request to the manifest on disk. */
  ms: number;
  /** The longest any shard held its next task while its copy's snapshot was fixed. */
  pauseMs: number;
  bytes: number;
  members: number;
  perShard: Array<{ shard: number; pauseMs: number; barrierMs: number; copyMs: number; bytes: number }>;
}

interface ShardCopyReply {
  shard: number; batch: number; checksum: string | null; committedAtMs: number | null;
  members: number; bytes: number; pauseMs: number; barrierMs: number; copyMs: number;
}

/** Threads of libuv's pool in this process: what UV_THREADPOOL_SIZE said when it started. */
function poolThreads(): number {
  const n = Number(process.env['UV_THREADPOOL_SIZE']);
  return Number.isInteger(n) && n > 0 ? n : LIBUV_POOL_THREADS_DEFAULT;
}

// The backup's own file work is asynchronous (libuv's pool): an fsync on the main thread would hold
// every request and stream for as long as the disk takes.

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small new file whole, 0600, and syncs it. */
async function writeDurable(path: string, bytes: Buffer | string): Promise<void> {
  const handle = await open(path, 'wx', DATA_FILE_MODE);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Syncs and digests `paths` on a thread of their own (engine/shard/digest-worker.ts). */
function digestFiles(paths: string[]): Promise<Array<{ bytes: number; sha256: string }>> {
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(new URL('../shard/digest-worker.js', import.meta.url), { workerData: paths });
    worker.once('message', resolvePromise);
    worker.once('error', reject);
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`the digest thread exited with ${code}`)); });
  });
}

/**
 * Makes `dir` the backup's folder: a new folder (0700), or an existing empty one. Refuses anything
 * else, and a folder inside the data folder. Answers whether it created the folder.
 */
async function prepareFolder(dataDir: string, dir: string): Promise<boolean> {
  const rel = relative(resolve(dataDir), dir);
  if (rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel))) {
    throw new LoyaltyError('invalid_request', `${dir} is inside the data folder; a backup goes elsewhere`, 'dir');
  }
  const found = await stat(dir).catch(() => undefined);
  if (found !== undefined) {
    if (!found.isDirectory()) throw new LoyaltyError('invalid_request', `${dir} exists and is not a folder`, 'dir');
    if ((await readdir(dir)).length > 0) throw new LoyaltyError('invalid_request', `${dir} is not empty: a backup goes into a new or empty folder`, 'dir');
    return false;
  }
  try {
    await mkdir(dir, { recursive: true, mode: DATA_FOLDER_MODE });
  } catch (err) {
    throw new LoyaltyError('invalid_request', `${dir} cannot be created: ${err instanceof Error ? err.message : String(err)}`, 'dir');
  }
  return true;
}

/** Removes what a failed backup wrote: the folder if it made it, else the folder's content. */
async function removePartial(dir: string, created: boolean): Promise<void> {
  if (created) { await rm(dir, { recursive: true, force: true }); return; }
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

/**
 * Takes a backup of the running shards into `dir` (absolute; new or empty); `stallMs` is the kill
 * test's fault injection (engine/router/engine.ts). Throws LoyaltyError
 * `invalid_request` (field `dir`) for an unusable folder and `backup_failed` when a copy fails,
 * after removing what it wrote; the live data is only ever read.
 */
export async function takeBackup(shards: readonly ShardClient[], dataDir: string, dir: string, programVersion: number, stallMs = 0): Promise<BackupReport> {
  const started = performance.now();
  if (shards.length > poolThreads()) {
    throw new LoyaltyError('backup_failed', `a backup copies all ${shards.length} shards at once, one thread of libuv's pool each, and the pool has ${poolThreads()}: start the server with UV_THREADPOOL_SIZE=${shards.length + 2}`);
  }
  const created = await prepareFolder(dataDir, dir);
  try {
    for (let i = 0; i < shards.length; i++) await mkdir(join(dir, `shard-${i}`), { mode: DATA_FOLDER_MODE });
    // The cut: every shard is handed its copy in this one synchronous step (see the top of the
    // file), and the folder's own files (a few hundred bytes) are read in it too, so keys.json is of
    // the same moment.
    const createdAtMs = Date.now();
    const barrier = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const copying = shards.map((s, i) => s.control({ c: 'backup', dir: join(dir, `shard-${i}`), barrier, shards: shards.length }) as Promise<ShardCopyReply>);
    const folderFiles = BACKUP_FOLDER_FILES
      .filter((name) => existsSync(join(dataDir, name)))
      .map((name) => ({ name, bytes: readFileSync(join(dataDir, name)) }));
    const settled = await Promise.allSettled(copying);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed !== undefined) {
      const reason = (failed as PromiseRejectedResult).reason as unknown;
      throw new LoyaltyError('backup_failed', `a shard could not be copied: ${reason instanceof Error ? reason.message : String(reason)}`);
    }
    const copies = settled.map((s) => (s as PromiseFulfilledResult<ShardCopyReply>).value);
    for (const f of folderFiles) await writeDurable(join(dir, f.name), f.bytes);
    // Fault injection only (LOYALTY_TEST_BACKUP_STALL_MS): the copies are done, the manifest is not.
    if (stallMs > 0) await new Promise((r) => setTimeout(r, stallMs));
    const paths = [...copies.map((c) => shardDataFile(c.shard)), ...folderFiles.map((f) => f.name)];
    const digests = await digestFiles(paths.map((p) => join(dir, p)));
    const files: BackupFile[] = paths.map((path, i) => ({ path, bytes: digests[i]!.bytes, sha256: digests[i]!.sha256 }));
    const manifest: BackupManifestDoc = {
      format: BACKUP_FORMAT,
      createdAt: new Date(createdAtMs).toISOString(),
      programVersion,
      shards: copies.map((c): BackupShard => ({
        shard: c.shard, batch: c.batch, members: c.members,
        ...(c.checksum === null ? {} : { checksum: c.checksum }),
        ...(c.committedAtMs === null ? {} : { committedAtMs: c.committedAtMs }),
      })),
      files,
    };
    // The manifest last, whole or not at all: a folder without it is a backup that did not finish.
    const tmp = join(dir, `${BACKUP_MANIFEST_NAME}.partial`);
    await writeDurable(tmp, JSON.stringify(manifest, null, 2) + '\n');
    await rename(tmp, join(dir, BACKUP_MANIFEST_NAME));
    await fsyncPath(dir);
    return {
      ...manifest, dir,
      ms: Math.round(performance.now() - started),
      pauseMs: Math.max(...copies.map((c) => c.pauseMs)),
      bytes: files.reduce((s, f) => s + f.bytes, 0),
      members: copies.reduce((s, c) => s + c.members, 0),
      perShard: copies.map((c) => ({ shard: c.shard, pauseMs: c.pauseMs, barrierMs: c.barrierMs, copyMs: c.copyMs, bytes: c.bytes })),
    };
  } catch (err) {
    await removePartial(dir, created);
    if (err instanceof LoyaltyError) throw err;
    throw new LoyaltyError('backup_failed', `the backup could not be written: ${err instanceof Error ? err.message : String(err)}`);
  }
}
