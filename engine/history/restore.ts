// Restore and point-in-time recovery (`loyalty restore BACKUP --data DIR [--until ISO |
// --until-batch SHARD:N] [--log-from LIVE_DATA]`): a backup folder (engine/router/backup.ts) is
// checked against its manifest and copied into a new data folder; with a live folder to read logs
// from, each shard is then carried forward by replaying the live log's later entries through the
// shard's own commit path (engine/shard/replay.ts), each checked against its logged checksum, up to
// the point asked. The live folder is only read (one read transaction per shard), so it may belong
// to a running server.
//
// The point. Commit times come from one clock shared by every shard of a server and are strictly
// increasing across them (engine/shard/commit-clock.ts), so an entry that caused another on another
// shard always has the earlier time. `--until ISO` replays, on every shard, each entry committed at
// or before that instant; `--until-batch SHARD:N` is the instant entry N of that shard was
// committed: that shard stops exactly at N, the others at the same instant. Either way the result
// is a consistent cut: what the live books were at that moment. A cross-shard credit written before
// the point and applied after it is, as it was at that moment, in its sender's outbox: the restored
// folder's first start delivers it.
//
// The folder is built beside the target (`DIR.restoring-PID`) and renamed into place at the end,
// so a target is never left half restored, and a server that started on the target meanwhile makes
// the rename fail rather than be overwritten.
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { openShardStore, type ShardStore } from '../shard/store.js';
import { checksumHex, decodeLogHeader, firstLogSeq, logPosition } from '../shard/batch-log.js';
import { LogReplayError, replayShard, storeLogSource } from '../shard/replay.js';
import { copyFileDigestSync } from '../shard/file-digest.js';
import { DATA_FILE_MODE, DATA_FOLDER_MODE } from '../limits.js';
import { BACKUP_MANIFEST_NAME, BackupManifestError, checkBackupManifest, type BackupManifestDoc } from '../rules/backup-manifest.js';
import { FolderError, folderShards, shardDir } from './folder.js';
import { clampWebhookCursors } from './webhook-cursors.js';

/** A restore that cannot or must not run, with the reason in words; nothing was written to the target. */
export class RestoreRefused extends FolderError {}

/** The file a running server's writer lock lives in, in its data folder (a server that has one). */
const WRITER_LOCK_FILE = 'writer.lock';
const PROGRESS_EVERY_BATCHES = 5_000;

export interface RestoreOptions {
  backupDir: string;
  /** The folder to restore into: new, or an empty folder. */
  dataDir: string;
  /** A data folder whose batch logs carry the backup forward (only read; its server may run). */
  logFrom?: string;
  /** Replay every entry committed at or before this instant (ms since the epoch). */
  untilMs?: number;
  /** Replay shard `shard` up to entry `batch`, and every other shard up to the instant that entry was committed. */
  untilBatch?: { shard: number; batch: number };
  onProgress?: (p: { shard: number; shards: number; seq: number; batches: number }) => void;
}

export interface RestoredShard {
  shard: number;
  /** The backup's position, and where the replay left the shard. */
  fromBatch: number;
  toBatch: number;
  batches: number;
  ops: number;
  /** Why the replay stopped: the point asked, or the end of the live log. */
  stoppedBy: 'end' | 'untilBatch' | 'untilMs' | 'no log';
  /** Commit time of the shard's last entry after the restore (ISO), null for an empty log. */
  lastCommittedAt: string | null;
  members: number;
  /** Cross-shard credits in the shard's outbox: delivered when a server first starts on the folder. */
  outboxPending: number;
}

export interface RestoreReport {
  dir: string;
  backup: { dir: string; createdAt: string };
  /** The point replayed to: its instant (full precision in `atMs`), or null without --log-from. */
  until: { at: string; atMs: number } | null;
  shards: RestoredShard[];
  ms: number;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Reads and checks a backup's manifest; refuses a folder without one (a backup that did not finish). */
export function readManifest(backupDir: string): BackupManifestDoc {
  const path = join(backupDir, BACKUP_MANIFEST_NAME);
  if (!existsSync(backupDir)) throw new RestoreRefused(`no backup at ${backupDir}`);
  if (!existsSync(path)) {
    throw new RestoreRefused(`${backupDir} is not a complete backup: it has no ${BACKUP_MANIFEST_NAME}, which a backup writes last (it was stopped before it finished, or this is not a backup folder)`);
  }
  try {
    return checkBackupManifest(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    if (err instanceof BackupManifestError || err instanceof SyntaxError) throw new RestoreRefused(`${path} cannot be used: ${err.message}`);
    throw err;
  }
}

/** Who a writer lock names, in words, or null when it names no one readable. */
function lockHolder(path: string): string | null {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; command?: unknown; host?: unknown; since?: unknown };
    return typeof h.pid === 'number' ? `${typeof h.command === 'string' && h.command !== '' ? h.command : 'a process'}, pid ${h.pid}${typeof h.host === 'string' ? ` on ${h.host}` : ''}${typeof h.since === 'string' ? ` since ${h.since}` : ''}` : null;
  } catch {
    return null;
  }
}

/** Refuses a target that is in use or holds anything. */
function checkTarget(target: string): void {
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new RestoreRefused(`${target} exists and is not a folder`);
  const names = readdirSync(target);
  if (names.includes(WRITER_LOCK_FILE)) {
    const holder = lockHolder(join(target, WRITER_LOCK_FILE));
    throw new RestoreRefused(`${target} is in use${holder === null ? '' : ` by ${holder}`} (it holds a writer lock): a restore goes into a new or empty folder`);
  }
  if (names.includes('engine.json')) throw new RestoreRefused(`${target} is a data folder already (it may be in use by a running server): a restore goes into a new or empty folder`);
  if (names.length > 0) throw new RestoreRefused(`${target} is not empty: a restore goes into a new or empty folder`);
}

/** The point asked for, as one instant, checked against the live logs; null without a point. */
function pointOf(options: RestoreOptions, manifest: BackupManifestDoc, live: ShardStore[]): number | null {
  if (options.untilMs !== undefined) return options.untilMs;
  if (options.untilBatch === undefined) return null;
  const { shard, batch } = options.untilBatch;
  if (!Number.isInteger(shard) || shard < 0 || shard >= manifest.shards.length) throw new RestoreRefused(`--until-batch names shard ${shard}; the backup has shards 0..${manifest.shards.length - 1}`);
  const held = manifest.shards[shard]!;
  if (batch < held.batch) throw new RestoreRefused(`--until-batch ${shard}:${batch} is before the backup, which holds shard ${shard} up to entry ${held.batch}: restore an earlier backup`);
  if (batch === held.batch && held.committedAtMs !== undefined) return held.committedAtMs;
  const value = live[shard]!.log.getBinary(batch);
  if (value === undefined) {
    const last = logPosition(live[shard]!).seq;
    throw new RestoreRefused(batch > last
      ? `shard ${shard}'s live log ends at entry ${last}, before entry ${batch}`
      : `shard ${shard}'s live log no longer holds entry ${batch} (it was trimmed)`);
  }
  return decodeLogHeader(value).committedAtMs;
}

interface ShardPlan { untilMs?: number; untilBatch?: number }

/** Carries one staged shard forward from the live log, after checking that the log is of this backup. */
function replayOne(
  shard: number, shards: number, staged: ShardStore, live: ShardStore, manifest: BackupManifestDoc, plan: ShardPlan, options: RestoreOptions,
): Pick<RestoredShard, 'toBatch' | 'batches' | 'ops' | 'stoppedBy'> {
  const held = manifest.shards[shard]!;
  const tx = live.root.useReadTransaction();
  try {
    if (live.meta.get('unlogged', { transaction: tx }) === true) {
      throw new RestoreRefused(`shard ${shard} of ${options.logFrom} ran with the batch log off (a benchmark switch): its log cannot carry a backup forward`);
    }
    const liveLast = logPosition(live, tx).seq;
    if (liveLast < held.batch) throw new RestoreRefused(`shard ${shard}'s live log ends at entry ${liveLast}, before the backup's entry ${held.batch}: ${options.logFrom} is not the folder this backup was taken from`);
    const heldValue = held.batch === 0 ? undefined : live.log.get(held.batch, { transaction: tx });
    if (heldValue !== undefined && held.checksum !== undefined && checksumHex(decodeLogHeader(heldValue).checksum) !== held.checksum) {
      throw new RestoreRefused(`shard ${shard}'s live log entry ${held.batch} is not the one the backup holds: ${options.logFrom} is not the folder this backup was taken from`);
    }
    if (plan.untilMs !== undefined && held.committedAtMs !== undefined && held.committedAtMs > plan.untilMs && plan.untilBatch === undefined) {
      throw new RestoreRefused(`the backup holds shard ${shard} up to entry ${held.batch}, committed at ${iso(held.committedAtMs)}, after the point asked (${iso(plan.untilMs)}): restore an earlier backup`);
    }
    const firstSeq = firstLogSeq(live, tx);
    if (liveLast > held.batch && (firstSeq === null || firstSeq > held.batch + 1)) {
      throw new RestoreRefused(`shard ${shard}'s live log starts at entry ${firstSeq ?? liveLast + 1}, after the backup's entry ${held.batch}: the entries between were trimmed`);
    }
    let batches = 0;
    const result = replayShard(storeLogSource(live, shard, tx), staged, {
      ...(plan.untilBatch === undefined ? {} : { untilBatch: plan.untilBatch }),
      ...(plan.untilMs === undefined ? {} : { untilMs: plan.untilMs }),
      onBatch: (b) => {
        batches += 1;
        if (batches % PROGRESS_EVERY_BATCHES === 0) options.onProgress?.({ shard, shards, seq: b.seq, batches });
      },
    });
    if (plan.untilBatch !== undefined && result.lastSeq !== plan.untilBatch) {
      throw new RestoreRefused(`shard ${shard}'s replay stopped at entry ${result.lastSeq}, not at entry ${plan.untilBatch}`);
    }
    return { toBatch: result.lastSeq, batches: result.batches, ops: result.ops, stoppedBy: result.stoppedBy };
  } catch (err) {
    if (err instanceof LogReplayError) throw new RestoreRefused(`the replay of ${options.logFrom} onto the backup failed: ${err.message}`);
    throw err;
  } finally {
    tx.done();
  }
}

/**
 * Restores `options.backupDir` into `options.dataDir`, carried forward from `options.logFrom` up to
 * the point given. Throws RestoreRefused (nothing written to the target) when the backup, the
 * target or the live folder cannot be used.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreReport> {
  const started = performance.now();
  const backupDir = resolve(options.backupDir);
  const target = resolve(options.dataDir);
  if ((options.untilMs !== undefined || options.untilBatch !== undefined) && options.logFrom === undefined) {
    throw new RestoreRefused('--until and --until-batch replay the live folder\'s batch logs: name it with --log-from LIVE_DATA');
  }
  if (options.untilMs !== undefined && options.untilBatch !== undefined) throw new RestoreRefused('give --until or --until-batch, not both');
  const manifest = readManifest(backupDir);
  checkTarget(target);
  if (!existsSync(dirname(target))) throw new RestoreRefused(`the folder ${dirname(target)} does not exist`);
  const shards = manifest.shards.length;
  const logFrom = options.logFrom === undefined ? undefined : resolve(options.logFrom);
  if (logFrom !== undefined) {
    let liveShards: number;
    try {
      liveShards = folderShards(logFrom);
    } catch (err) {
      throw new RestoreRefused(err instanceof Error ? err.message : String(err));
    }
    if (liveShards !== shards) throw new RestoreRefused(`${logFrom} has ${liveShards} shards, the backup ${shards}: it is not the folder this backup was taken from`);
  }

  const staging = join(dirname(target), `${basename(target)}.restoring-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: DATA_FOLDER_MODE });
  const live: ShardStore[] = [];
  const staged: Array<ShardStore | null> = [];
  try {
    // The copy, checked file by file against the manifest as it is written.
    for (const file of manifest.files) {
      const from = join(backupDir, file.path);
      if (!existsSync(from)) throw new RestoreRefused(`${backupDir} does not match its manifest: ${file.path} is missing`);
      mkdirSync(dirname(join(staging, file.path)), { recursive: true, mode: DATA_FOLDER_MODE });
      const got = copyFileDigestSync(from, join(staging, file.path), DATA_FILE_MODE);
      if (got.bytes !== file.bytes) throw new RestoreRefused(`${backupDir} does not match its manifest: ${file.path} is ${got.bytes} bytes, the manifest says ${file.bytes}`);
      if (got.sha256 !== file.sha256) throw new RestoreRefused(`${backupDir} does not match its manifest: the SHA-256 of ${file.path} differs from the manifest's`);
    }
    const engineMeta = JSON.parse(readFileSync(join(staging, 'engine.json'), 'utf8')) as { shards?: unknown };
    if (engineMeta.shards !== shards) throw new RestoreRefused(`the backup's engine.json says ${String(engineMeta.shards)} shards, its manifest lists ${shards}`);

    for (let shard = 0; shard < shards; shard++) {
      if (logFrom === undefined) break;
      try {
        live.push(openShardStore(shardDir(logFrom, shard), undefined, { readOnly: true }));
      } catch (err) {
        throw new RestoreRefused(`shard ${shard} of ${logFrom} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const pointMs = logFrom === undefined ? null : pointOf(options, manifest, live);

    const restored: RestoredShard[] = [];
    for (let shard = 0; shard < shards; shard++) {
      // The replay commits without fdatasync per entry; the file is synced once, below.
      const store = openShardStore(join(staging, `shard-${shard}`), undefined, { noSync: true });
      staged.push(store);
      const held = manifest.shards[shard]!;
      const at = logPosition(store).seq;
      if (at !== held.batch) throw new RestoreRefused(`the backup's copy of shard ${shard} is at log entry ${at}, its manifest says ${held.batch}`);
      let replayed: Pick<RestoredShard, 'toBatch' | 'batches' | 'ops' | 'stoppedBy'> = { toBatch: at, batches: 0, ops: 0, stoppedBy: 'no log' };
      if (logFrom !== undefined) {
        const plan: ShardPlan = pointMs === null ? {} : { untilMs: pointMs };
        if (options.untilBatch?.shard === shard) plan.untilBatch = options.untilBatch.batch;
        replayed = replayOne(shard, shards, store, live[shard]!, manifest, plan, options);
      }
      const lastSeq = logPosition(store).seq;
      const lastValue = lastSeq === 0 ? undefined : store.log.getBinary(lastSeq);
      restored.push({
        shard, fromBatch: held.batch, ...replayed,
        lastCommittedAt: lastValue === undefined ? null : iso(decodeLogHeader(lastValue).committedAtMs),
        members: (store.states.getStats() as { entryCount: number }).entryCount,
        outboxPending: (store.outbox.getStats() as { entryCount: number }).entryCount,
      });
    }
    clampWebhookCursors(staging, staged.map((s) => s!));
    for (let shard = 0; shard < shards; shard++) {
      await staged[shard]!.root.close();
      staged[shard] = null;
      const dir = join(staging, `shard-${shard}`);
      // LMDB makes its lock file again at need; data files are the owner's only, as in a data folder.
      rmSync(join(dir, 'lock.mdb'), { force: true });
      chmodSync(join(dir, 'data.mdb'), DATA_FILE_MODE);
      fsyncPath(join(dir, 'data.mdb'));
      fsyncPath(dir);
    }
    fsyncPath(staging);
    try {
      renameSync(staging, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw new RestoreRefused(`${target} was written to while the restore ran (a server started on it?): it is left as it is`);
      throw err;
    }
    fsyncPath(dirname(target));
    return {
      dir: target,
      backup: { dir: backupDir, createdAt: manifest.createdAt },
      until: pointMs === null ? null : { at: iso(pointMs), atMs: pointMs },
      shards: restored,
      ms: Math.round(performance.now() - started),
    };
  } catch (err) {
    for (const store of staged) if (store !== null) await store.root.close();
    staged.length = 0;
    rmSync(staging, { recursive: true, force: true });
    throw err;
  } finally {
    for (const store of live) await store.root.close();
  }
}
