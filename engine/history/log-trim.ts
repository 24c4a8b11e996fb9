// Retention of the batch log (`loyalty log trim`): removes a shard's log entries before a given
// entry, or every shard's entries up to a backup's position, since that backup holds their effects.
// After a trim the log no longer replays from empty; a replay starts from the backup instead.
//
// A trim may run beside a running server: LMDB serialises the two processes' write transactions,
// the shard reads its log position in each batch's own transaction (engine/shard/batch-log.ts), and
// the trim removes entries in slices of LOG_TRIM_ENTRIES_PER_TXN so the server's batches interleave.
import { openShardStore, type ShardStore } from '../shard/store.js';
import { checksumHex, decodeLogHeader, firstLogSeq, LOG_META_KEY, logPosition, type LogPosition } from '../shard/batch-log.js';
import { LOG_TRIM_ENTRIES_PER_TXN } from '../limits.js';
import { FolderError, folderShards, readBackupManifest, shardDir } from './folder.js';

export interface TrimResult {
  shard: number;
  /** Entries and ops removed by this trim. */
  removed: number;
  removedOps: number;
  /** The log's first and last entries after the trim (first null: the log is empty). */
  firstSeq: number | null;
  lastSeq: number;
}

/** Refuses a trim that cannot be right, before anything is removed; the store is left open. */
function checkTrim(store: ShardStore, shard: number, beforeSeq: number, expectChecksum: string | undefined): void {
  const last = logPosition(store).seq;
  if (beforeSeq > last + 1) throw new FolderError(`shard ${shard}'s log ends at entry ${last}: a trim before entry ${beforeSeq} would reach entries not yet written`);
  if (expectChecksum === undefined) return;
  const value = store.log.getBinary(beforeSeq - 1);
  if (value !== undefined && checksumHex(decodeLogHeader(value).checksum) !== expectChecksum) {
    throw new FolderError(`shard ${shard}'s log entry ${beforeSeq - 1} is not the one the backup names: the backup is not of this data`);
  }
}

function openShard(dataDir: string, shards: number, shard: number): ShardStore {
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) throw new FolderError(`${dataDir} has shards 0..${shards - 1}, not ${shard}`);
  return openShardStore(shardDir(dataDir, shard));
}

/** Removes the entries before `beforeSeq`, a slice per transaction. */
function removeBefore(store: ShardStore, shard: number, beforeSeq: number): TrimResult {
  let removed = 0;
  let removedOps = 0;
  for (;;) {
    const slice = store.root.transactionSync(() => {
      let ops = 0;
      const keys: number[] = [];
      for (const { key, value } of store.log.getRange({ end: beforeSeq, limit: LOG_TRIM_ENTRIES_PER_TXN })) {
        ops += decodeLogHeader(value).ops;
        keys.push(key);
      }
      for (const key of keys) store.log.removeSync(key);
      if (keys.length > 0) {
        const at = logPosition(store);
        store.meta.putSync(LOG_META_KEY, { seq: at.seq, ops: at.ops - ops } satisfies LogPosition);
      }
      return { count: keys.length, ops };
    });
    removed += slice.count;
    removedOps += slice.ops;
    if (slice.count < LOG_TRIM_ENTRIES_PER_TXN) break;
  }
  return { shard, removed, removedOps, firstSeq: firstLogSeq(store), lastSeq: logPosition(store).seq };
}

/** Removes shard `shard`'s log entries before entry `beforeSeq`. */
export async function trimLog(dataDir: string, shard: number, beforeSeq: number): Promise<TrimResult> {
  const shards = folderShards(dataDir);
  if (!Number.isSafeInteger(beforeSeq) || beforeSeq < 1) throw new FolderError(`a trim needs an entry number of at least 1, got ${beforeSeq}`);
  const store = openShard(dataDir, shards, shard);
  try {
    checkTrim(store, shard, beforeSeq, undefined);
    return removeBefore(store, shard, beforeSeq);
  } finally {
    await store.root.close();
  }
}

/**
 * Trims every shard up to a backup's position: the entries its copy already holds. Every shard is
 * checked first (the backup lists this folder's shards, no position is past the log's end, and
 * the entry the manifest names carries its checksum where the log still has it); then each is trimmed.
 */
export async function trimLogToBackup(dataDir: string, backupDir: string): Promise<TrimResult[]> {
  const manifest = readBackupManifest(backupDir);
  const shards = folderShards(dataDir);
  if (manifest.shards.length !== shards || manifest.shards.some((s, i) => s.shard !== i)) {
    throw new FolderError(`the backup ${backupDir} lists shards ${manifest.shards.map((s) => s.shard).join(', ')}, but ${dataDir} has shards 0..${shards - 1}`);
  }
  const stores = manifest.shards.map((s) => openShard(dataDir, shards, s.shard));
  try {
    manifest.shards.forEach((s, i) => checkTrim(stores[i]!, s.shard, s.batch + 1, s.checksum));
    return manifest.shards.map((s, i) => removeBefore(stores[i]!, s.shard, s.batch + 1));
  } finally {
    for (const store of stores) await store.root.close();
  }
}
