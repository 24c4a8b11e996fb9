// What the history commands need to know about a data folder and a backup folder: how many shards
// a data folder has (engine.json, written at its first start), where each shard lives, and the
// backup's manifest (backup.json), which says up to which log entry each shard's copy holds.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARDS_MAX } from '../limits.js';

/** The file a backup folder describes itself in. */
export const BACKUP_MANIFEST_FILE = 'backup.json';

/**
 * A backup's manifest: for each shard, the last log entry its copy includes (`batch`), and
 * optionally that entry's checksum (hex), with which a trim makes sure the backup is of this data.
 */
export interface BackupManifest { shards: Array<{ shard: number; batch: number; checksum?: string }> }

/** A folder the history commands cannot use, with the reason in words. */
export class FolderError extends Error {}

/** Where shard `shard` lives in a data folder, and in a backup folder (the same layout). */
export function shardDir(folder: string, shard: number): string {
  return join(folder, `shard-${shard}`);
}

/** The number of shards of a data folder, from its engine.json. */
export function folderShards(dataDir: string): number {
  const path = join(dataDir, 'engine.json');
  if (!existsSync(path)) throw new FolderError(`${dataDir} is not a data folder: it has no engine.json`);
  let shards: unknown;
  try {
    shards = (JSON.parse(readFileSync(path, 'utf8')) as { shards?: unknown }).shards;
  } catch (err) {
    throw new FolderError(`${path} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Number.isInteger(shards) || (shards as number) < 1 || (shards as number) > SHARDS_MAX) throw new FolderError(`${path} names no valid shard count`);
  return shards as number;
}

/** Reads and checks a backup folder's manifest. */
export function readBackupManifest(backupDir: string): BackupManifest {
  const path = join(backupDir, BACKUP_MANIFEST_FILE);
  if (!existsSync(path)) throw new FolderError(`${backupDir} is not a complete backup: it has no ${BACKUP_MANIFEST_FILE}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FolderError(`${path} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const shards = (parsed as { shards?: unknown } | null)?.shards;
  if (!Array.isArray(shards) || shards.length === 0) throw new FolderError(`${path} lists no shards`);
  const seen = new Set<number>();
  for (const s of shards as Array<Record<string, unknown>>) {
    const ok = s !== null && typeof s === 'object' && Number.isInteger(s['shard']) && (s['shard'] as number) >= 0
      && Number.isSafeInteger(s['batch']) && (s['batch'] as number) >= 0
      && (s['checksum'] === undefined || (typeof s['checksum'] === 'string' && /^[0-9a-f]{16}$/.test(s['checksum'])));
    if (!ok) throw new FolderError(`${path}: each shard needs { shard, batch } (whole numbers) and at most a 16-hex-digit checksum, got ${JSON.stringify(s)}`);
    if (seen.has(s['shard'] as number)) throw new FolderError(`${path} lists shard ${String(s['shard'])} twice`);
    seen.add(s['shard'] as number);
  }
  return { shards: (shards as BackupManifest['shards']).slice().sort((a, b) => a.shard - b.shard) };
}
