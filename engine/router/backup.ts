// A backup of a running server's data folder (POST /v1/admin/backup, `loyalty backup DIR`): every
// shard's LMDB environment, engine.json, keys.json and admin.key, the webhook subscriptions with
// their cursors, and a manifest (backup.json) with each shard's position in its batch log and every
// file's size and SHA-256, written last.
//
// One consistent point across shards, without holding any shard's writes:
//
// 1. Each shard is copied in turn with LMDB's hot copy (engine/shard/shard-backup.ts). LMDB picks
//    each copy's snapshot itself, and the shards go on committing, so the copies stand at
//    different moments. (One at a time: LMDB writes a whole copy in one O_DIRECT write, and the
//    first pages of a copy started beside it queue behind that write on the disk.)
// 2. The backup's point is the latest commit time among the copies' last log entries. Commit times
//    come from one clock all shards share and are strictly increasing across them
//    (engine/shard/commit-clock.ts), so "every entry committed at or before the point, on every
//    shard" is a consistent cut: nothing in it was caused by work after it.
// 3. Each copy is carried forward to the point by replaying, on the backup's own thread
//    (engine/shard/backup-seal-worker.ts), the entries its shard committed between the copy's
//    snapshot and the point, read from the shard between its batches. Every task that was given a
//    commit time at or before the point had started before the last copy finished, so by the time
//    the shard answers that read it has committed.
//
// A cross-shard credit in flight at the point is, in the backup, in its sender's outbox, or
// applied at its target, or both (applied, the removal of its message not yet committed): the
// restored folder's first start delivers what is in an outbox, and the target, which keys every
// credit by its message id, answers a repeat without applying it twice.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LoyaltyError } from '../errors.js';
import { BACKUP_LOG_ENTRIES_PER_QUERY, DATA_FILE_MODE, DATA_FOLDER_MODE } from '../limits.js';
import { BACKUP_FORMAT, BACKUP_MANIFEST_NAME, shardDataFile, type BackupFile, type BackupManifestDoc, type BackupShard } from '../rules/backup-manifest.js';
import type { CopyPosition, FileDigest, SealedCopy, SealReply, SealRequest, ShardCopyReply } from '../shard-protocol.js';
import type { ShardClient } from './shard-client.js';

/** The data folder's own files a backup takes besides the shards (admin.key, keys.json and the audit trail when present). */
export const BACKUP_FOLDER_FILES = ['engine.json', 'keys.json', 'admin.key', 'audit.jsonl'] as const;

/**
 * The webhook subscriptions' folder and the files of it a backup takes: each subscription (its
 * secret) and its state (cursors, failed events, the event being retried), not its attempts (a
 * record of deliveries, not needed to go on). The cursors are copied a moment after the backup's
 * point; the delivery thread moves a cursor past the ledger's end back to it at its start, so a
 * restored folder neither skips the entries it writes anew nor misses any (server/webhooks).
 */
const WEBHOOKS_FOLDER = 'webhooks';
const WEBHOOK_BACKUP_FILE = /^wh_[0-9a-f]{1,64}(\.state)?\.json$/;

/** The webhook files a backup takes, as they are now (a subscription removed meanwhile is left out). */
function webhookFiles(dataDir: string): Array<{ name: string; bytes: Buffer }> {
  const dir = join(dataDir, WEBHOOKS_FOLDER);
  if (!existsSync(dir)) return [];
  const out: Array<{ name: string; bytes: Buffer }> = [];
  for (const file of readdirSync(dir).filter((f) => WEBHOOK_BACKUP_FILE.test(f)).sort()) {
    try {
      out.push({ name: `${WEBHOOKS_FOLDER}/${file}`, bytes: readFileSync(join(dir, file)) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  // A state without its subscription (removed between the two reads) is no subscription.
  const subs = new Set(out.filter((f) => !f.name.endsWith('.state.json')).map((f) => f.name.slice(0, -'.json'.length)));
  return out.filter((f) => subs.has(f.name.endsWith('.state.json') ? f.name.slice(0, -'.state.json'.length) : f.name.slice(0, -'.json'.length)));
}

/** What a backup answers: its manifest, where it is, and what it cost. */
export interface BackupReport extends BackupManifestDoc {
  dir: string;
  /** From the request to the manifest on disk. */
  ms: number;
  bytes: number;
  members: number;
  /**
   * Per shard: the copy's time and size, the log entries that carried it to the point, and `lockMs`,
   * how long LMDB held the shard's writer lock to start the copy (null: not measured).
   */
  perShard: Array<{ shard: number; copyMs: number; lockMs: number | null; bytes: number; replayed: number }>;
}

// The backup's own file work is asynchronous (libuv's pool) or on its own thread: an fsync on the
// main thread would hold every request and stream for as long as the disk takes.

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

/** The backup's own thread (engine/shard/backup-seal-worker.ts), asked one thing at a time. */
export class SealThread {
  private readonly worker: Worker;

  /** `script` is the seal worker; a test passes another to see a thread that ends without answering. */
  constructor(script: URL = new URL('../shard/backup-seal-worker.js', import.meta.url)) {
    this.worker = new Worker(script);
    this.worker.once('exit', (code) => { this.exitCode = code; });
  }

  /** Set once the thread has ended: later questions are refused at once, nobody being there to answer. */
  private exitCode: number | null = null;

  ask(req: { kind: 'watch'; file: string }): Promise<number | null>;
  ask(req: { kind: 'positions'; dirs: string[] }): Promise<CopyPosition[]>;
  ask(req: Extract<SealRequest, { kind: 'finish' }>): Promise<{ copies: SealedCopy[]; digests: FileDigest[] }>;
  ask(req: SealRequest): Promise<SealReply> {
    return new Promise((resolvePromise, reject) => {
      if (this.exitCode !== null) { reject(new Error(`the backup's seal thread has ended (exit code ${this.exitCode})`)); return; }
      // A thread that ends without answering (an error, or an exit: out of memory, process.exit in
      // a dependency) settles the question, so that neither a backup nor a stop waits for it forever.
      const done = () => { this.worker.off('message', onMessage); this.worker.off('error', onError); this.worker.off('exit', onExit); };
      const onError = (err: Error) => { done(); reject(err); };
      const onExit = (code: number) => { done(); reject(new Error(`the backup's seal thread ended (exit code ${code}) without answering`)); };
      const onMessage = (m: { ok: true; reply: SealReply } | { ok: false; error: string }) => {
        done();
        if (m.ok) resolvePromise(m.reply); else reject(new Error(m.error));
      };
      this.worker.once('message', onMessage);
      this.worker.once('error', onError);
      this.worker.once('exit', onExit);
      this.worker.postMessage(req);
    });
  }

  async close(): Promise<void> {
    // An empty question first: answered only once the thread has loaded, and a thread terminated
    // while Node was still loading it aborts the process (engine/router/reader-client.ts release).
    await this.ask({ kind: 'positions', dirs: [] }).catch(() => null);
    // A thread that has ended is not terminated: that promise would never settle.
    if (this.exitCode === null) await this.worker.terminate();
  }
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

/** Every entry shard `shard` committed after `afterSeq` and at or before `untilMs`, read a slice at a time. */
async function entriesUntil(shard: ShardClient, afterSeq: number, untilMs: number): Promise<Array<[number, Uint8Array]>> {
  const out: Array<[number, Uint8Array]> = [];
  for (let after = afterSeq; ;) {
    const slice = await shard.query({ q: 'logEntries', afterSeq: after, untilMs, limit: BACKUP_LOG_ENTRIES_PER_QUERY }) as Array<[number, Uint8Array]>;
    out.push(...slice);
    if (slice.length < BACKUP_LOG_ENTRIES_PER_QUERY) return out;
    after = slice[slice.length - 1]![0];
  }
}

/**
 * Takes a backup of the running shards into `dir` (absolute; new or empty); `stallMs` is the kill
 * test's fault injection (engine/router/engine.ts). Throws LoyaltyError `invalid_request` (field
 * `dir`) for an unusable folder and `backup_failed` when a copy fails, after removing what it
 * wrote; the live data is only ever read.
 */
export async function takeBackup(shards: readonly ShardClient[], dataDir: string, dir: string, programVersion: number, stallMs = 0): Promise<BackupReport> {
  const started = performance.now();
  const createdAt = new Date().toISOString();
  const created = await prepareFolder(dataDir, dir);
  const seal = new SealThread();
  try {
    const shardDirs = shards.map((_, i) => join(dir, `shard-${i}`));
    for (const d of shardDirs) await mkdir(d, { mode: DATA_FOLDER_MODE });
    const copies: ShardCopyReply[] = [];
    const lockMs: Array<number | null> = [];
    for (let i = 0; i < shards.length; i++) {
      const watching = seal.ask({ kind: 'watch', file: join(shardDirs[i]!, 'data.mdb') });
      try {
        copies.push(await shards[i]!.control({ c: 'backup', dir: shardDirs[i]! }) as ShardCopyReply);
      } catch (err) {
        await watching.catch(() => null);
        throw new LoyaltyError('backup_failed', `shard ${i} could not be copied: ${err instanceof Error ? err.message : String(err)}`);
      }
      lockMs.push(await watching);
    }
    const positions = await seal.ask({ kind: 'positions', dirs: shardDirs });
    const unlogged = positions.findIndex((p) => p.unlogged);
    if (unlogged !== -1) {
      throw new LoyaltyError('backup_failed', `shard ${unlogged} ran with the batch log off (LOYALTY_TEST_NO_BATCH_LOG, a benchmark switch): its log cannot bring the copies to one point`);
    }
    // The point: the latest commit among the copies (see the top of the file).
    const pointMs = Math.max(0, ...positions.map((p) => p.committedAtMs ?? 0));
    const lacking = await Promise.all(shards.map((s, i) => entriesUntil(s, positions[i]!.batch, pointMs)));
    // keys.json, admin.key and the audit trail are not in the log: as they are now, a moment after the point.
    const folderFiles: Array<{ name: string; bytes: Buffer }> = [
      ...BACKUP_FOLDER_FILES.filter((name) => existsSync(join(dataDir, name))).map((name) => ({ name, bytes: readFileSync(join(dataDir, name)) })),
      ...webhookFiles(dataDir),
    ];
    if (folderFiles.some((f) => f.name.startsWith(`${WEBHOOKS_FOLDER}/`))) await mkdir(join(dir, WEBHOOKS_FOLDER), { mode: DATA_FOLDER_MODE });
    for (const f of folderFiles) await writeDurable(join(dir, f.name), f.bytes);
    // Fault injection only (LOYALTY_TEST_BACKUP_STALL_MS): the copies are done, the manifest is not.
    if (stallMs > 0) await new Promise((r) => setTimeout(r, stallMs));
    const paths = [...shards.map((_, i) => shardDataFile(i)), ...folderFiles.map((f) => f.name)];
    const sealed = await seal.ask({
      kind: 'finish',
      copies: shards.map((_, i) => ({ shard: i, dir: shardDirs[i]!, entries: lacking[i]! })),
      files: paths.map((p) => join(dir, p)),
    });
    const files: BackupFile[] = paths.map((path, i) => ({ path, bytes: sealed.digests[i]!.bytes, sha256: sealed.digests[i]!.sha256 }));
    const manifest: BackupManifestDoc = {
      format: BACKUP_FORMAT,
      createdAt,
      pointAt: new Date(pointMs).toISOString(),
      programVersion,
      shards: sealed.copies.map((c): BackupShard => ({
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
      bytes: files.reduce((s, f) => s + f.bytes, 0),
      members: sealed.copies.reduce((s, c) => s + c.members, 0),
      perShard: copies.map((c, i) => ({ shard: c.shard, copyMs: c.copyMs, lockMs: lockMs[i] ?? null, bytes: c.bytes, replayed: sealed.copies[i]!.replayed })),
    };
  } catch (err) {
    await removePartial(dir, created);
    if (err instanceof LoyaltyError) throw err;
    throw new LoyaltyError('backup_failed', `the backup could not be written: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await seal.close();
  }
}
