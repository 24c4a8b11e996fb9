// The replay check of a whole data folder (`loyalty replay --check`): every shard's batch log is
// replayed into a scratch folder, from empty or from a backup's copy, every entry's checksum is
// compared as it runs, and then every database of the rebuilt shard is compared with the live one,
// key by key and byte for byte. The live folder is only read, in one read transaction per shard,
// so it works beside a running server: the check proves the shard as it stood at that snapshot.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../shard/store.js';
import { ensureSearchIndex } from '../shard/search-index.js';
import { firstLogSeq, logPosition } from '../shard/batch-log.js';
import { LogReplayError, replayShard, storeLogSource } from '../shard/replay.js';
import { LOG_STARTED_LATE } from '../shard/machine.js';
import { diffStores, openRawDatabases, type StoreDifference } from '../shard/store-diff.js';
import { REPLAY_DIFFERENCES_LISTED_MAX } from '../limits.js';
import { FolderError, folderShards, readBackupManifest, shardDir, type BackupManifest } from './folder.js';

export interface ReplayCheckOptions {
  /** The live data folder (only read). */
  dataDir: string;
  /** A backup folder to start each shard from (its copy, then the live log's later entries). */
  fromBackup?: string;
  /** Where the scratch folder is made (default: the system's temporary folder); it is removed after. */
  scratchParent?: string;
  /** Called every few thousand entries, and at the end of each shard. */
  onProgress?: (p: { shard: number; shards: number; seq: number; lastSeq: number; batches: number; ops: number }) => void;
}

export interface ShardCheck {
  shard: number;
  /** The log entries replayed: after `fromSeq` (0 from empty, the backup's entry otherwise) up to `lastSeq`. */
  fromSeq: number;
  lastSeq: number;
  batches: number;
  ops: number;
  ms: number;
  /** Entries compared per database. */
  entries: Record<string, number>;
  differenceCount: number;
}

export interface ReplayCheckReport {
  ok: boolean;
  shards: number;
  batches: number;
  ops: number;
  ms: number;
  batchesPerS: number;
  opsPerS: number;
  perShard: ShardCheck[];
  /** The first differences between the live and the replayed databases. */
  differences: Array<StoreDifference & { shard: number }>;
  /** A replay that stopped: the entry whose checksum differs, or a log that cannot be read. */
  error: { shard: number; seq: number; reason: string; message: string } | null;
}

/**
 * Why a check cannot run at all (not a data folder, a shard without a log, a log trimmed past
 * where the replay must start): the command says so and exits 2, as for a usage error.
 */
export class ReplayCheckUnavailable extends FolderError {}

const PROGRESS_EVERY_BATCHES = 5_000;
const MS_PER_S = 1000;

/** Opens the starting point of one shard's replay in the scratch folder: empty, or the backup's copy. */
function scratchShard(scratch: string, shard: number, backup: { dir: string; manifest: BackupManifest } | null): ShardStore {
  const dir = shardDir(scratch, shard);
  mkdirSync(dir, { recursive: true });
  if (backup !== null) {
    const listed = backup.manifest.shards.find((s) => s.shard === shard);
    if (listed === undefined) throw new ReplayCheckUnavailable(`the backup ${backup.dir} has no shard ${shard}`);
    const copy = join(shardDir(backup.dir, shard), 'data.mdb');
    if (!existsSync(copy)) throw new ReplayCheckUnavailable(`the backup ${backup.dir} has no copy of shard ${shard} (${copy})`);
    copyFileSync(copy, join(dir, 'data.mdb'));
    const store = openShardStore(dir, undefined, { noSync: true });
    const at = logPosition(store).seq;
    if (at !== listed.batch) throw new ReplayCheckUnavailable(`the backup's copy of shard ${shard} is at log entry ${at}, but its manifest says ${listed.batch}`);
    return store;
  }
  // The scratch copy is thrown away if the machine stops: no fdatasync per replayed entry. It starts
  // as a shard worker starts an empty folder: with its (empty) search index marked built.
  const store = openShardStore(dir, undefined, { noSync: true });
  ensureSearchIndex(store);
  return store;
}

/** Checks one shard: replay into the scratch folder, then compare. Throws LogReplayError where the replay diverged. */
async function checkShard(options: ReplayCheckOptions, scratch: string, shard: number, shards: number, backup: { dir: string; manifest: BackupManifest } | null, differences: ReplayCheckReport['differences']): Promise<ShardCheck> {
  const started = performance.now();
  let live: ShardStore;
  try {
    live = openShardStore(shardDir(options.dataDir, shard), undefined, { readOnly: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ReplayCheckUnavailable(/no log database/.test(message) ? `shard ${shard} has no batch log: it was written by a version without one, so it cannot be replayed` : message);
  }
  const target = scratchShard(scratch, shard, backup);
  // One read transaction for the whole shard: its log and its databases as of one moment. The raw
  // handles the comparison reads through are opened before it (store-diff.ts says why).
  const liveRaw = openRawDatabases(live);
  const tx = live.root.useReadTransaction();
  try {
    if (live.meta.get('unlogged', { transaction: tx }) === true) {
      throw new ReplayCheckUnavailable(`shard ${shard} ran with the batch log off (LOYALTY_TEST_NO_BATCH_LOG, a benchmark switch): its log cannot reproduce it`);
    }
    const untilBatch = logPosition(live, tx).seq;
    if (backup === null && live.meta.get(LOG_STARTED_LATE, { transaction: tx }) === true) {
      throw new ReplayCheckUnavailable(`shard ${shard} held books before its batch log began (data written by an earlier version): check it from a backup taken since, with --from-backup DIR`);
    }
    const firstSeq = firstLogSeq(live, tx);
    const fromSeq = logPosition(target).seq;
    if (fromSeq > untilBatch) throw new ReplayCheckUnavailable(`the backup's copy of shard ${shard} is at log entry ${fromSeq}, past the live log's last entry ${untilBatch}: it is not a backup of this data`);
    if (fromSeq < untilBatch && (firstSeq === null || firstSeq > fromSeq + 1)) {
      throw new ReplayCheckUnavailable(backup === null
        ? `shard ${shard}'s log was trimmed (it starts at entry ${firstSeq ?? untilBatch + 1}): check it from the backup it was trimmed to, with --from-backup DIR`
        : `shard ${shard}'s log starts at entry ${firstSeq ?? untilBatch + 1}, after the backup's entry ${fromSeq}: the entries between were trimmed`);
    }
    let ops = 0;
    const result = replayShard(storeLogSource(live, shard, tx), target, {
      untilBatch,
      onBatch: (b) => {
        ops += b.ops;
        if (b.seq % PROGRESS_EVERY_BATCHES === 0) options.onProgress?.({ shard, shards, seq: b.seq, lastSeq: untilBatch, batches: b.seq - fromSeq, ops });
      },
    });
    const diff = diffStores(live, target, { liveSnapshot: { raw: liveRaw, transaction: tx }, listedMax: REPLAY_DIFFERENCES_LISTED_MAX, ...(firstSeq === null ? {} : { logFromSeq: firstSeq }) });
    for (const d of diff.differences) if (differences.length < REPLAY_DIFFERENCES_LISTED_MAX) differences.push({ shard, ...d });
    options.onProgress?.({ shard, shards, seq: result.lastSeq, lastSeq: untilBatch, batches: result.batches, ops: result.ops });
    return {
      shard, fromSeq: result.fromSeq, lastSeq: result.lastSeq, batches: result.batches, ops: result.ops,
      ms: Math.round(performance.now() - started), entries: diff.entries, differenceCount: diff.differenceCount,
    };
  } finally {
    tx.done();
    await target.root.close();
    await live.root.close();
  }
}

/**
 * Replays every shard of `dataDir` and compares it with the live data. Resolves with the report
 * (ok: every checksum matched and no database differs); rejects with ReplayCheckUnavailable when
 * the check cannot run. The scratch folder is removed in every case.
 */
export async function checkReplay(options: ReplayCheckOptions): Promise<ReplayCheckReport> {
  const shards = folderShards(options.dataDir);
  const backup = options.fromBackup === undefined ? null : { dir: options.fromBackup, manifest: readBackupManifest(options.fromBackup) };
  const scratch = mkdtempSync(join(options.scratchParent ?? tmpdir(), 'loyalty-replay-'));
  const started = performance.now();
  const perShard: ShardCheck[] = [];
  const differences: ReplayCheckReport['differences'] = [];
  let error: ReplayCheckReport['error'] = null;
  try {
    for (let shard = 0; shard < shards && error === null; shard++) {
      try {
        perShard.push(await checkShard(options, scratch, shard, shards, backup, differences));
      } catch (err) {
        if (!(err instanceof LogReplayError)) throw err;
        error = { shard: err.shard, seq: err.seq, reason: err.reason, message: err.message };
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const ms = performance.now() - started;
  const batches = perShard.reduce((s, p) => s + p.batches, 0);
  const ops = perShard.reduce((s, p) => s + p.ops, 0);
  return {
    ok: error === null && perShard.every((p) => p.differenceCount === 0),
    shards, batches, ops, ms: Math.round(ms),
    batchesPerS: Math.round(batches / (ms / MS_PER_S)), opsPerS: Math.round(ops / (ms / MS_PER_S)),
    perShard, differences, error,
  };
}
