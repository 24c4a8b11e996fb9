// The manifest a backup folder describes itself with (`backup.json`): written last by the backup
// (engine/router/backup.ts), so a folder without it is a copy that never finished, and read by
// the restore (engine/history/restore.ts), which refuses a folder whose files do not match it, and
// by `loyalty log trim --before` and `replay --check --from-backup`, which need each shard's
// position in its batch log. Pure shapes and checks: no I/O.

/** The file name of the manifest, at the top of a backup folder. */
export const BACKUP_MANIFEST_NAME = 'backup.json';
/** The manifest's layout version; a restore refuses any other. */
export const BACKUP_FORMAT = 1;

/** One shard's copy: the last batch-log entry it includes, and what it holds. */
export interface BackupShard {
  shard: number;
  /** The last log entry the copy includes (0 when the shard had logged nothing). */
  batch: number;
  /** That entry's checksum (16 hex digits), absent when `batch` is 0. */
  checksum?: string;
  /** That entry's commit time (ms since the epoch, to the microsecond), absent when `batch` is 0. */
  committedAtMs?: number;
  members: number;
}

/** One file of the backup, relative to its folder, with its size and SHA-256 (hex). */
export interface BackupFile { path: string; bytes: number; sha256: string }

export interface BackupManifestDoc {
  format: number;
  /** When the backup was asked for (ISO 8601). */
  createdAt: string;
  /**
   * The instant every shard's copy stands at (ISO 8601): each holds every batch its shard committed
   * at or before it, and none after (engine/router/backup.ts).
   */
  pointAt: string;
  /** The program version the shards held. */
  programVersion: number;
  shards: BackupShard[];
  files: BackupFile[];
}

/** What is wrong with a manifest, in words a user can act on. */
export class BackupManifestError extends Error {}

const HEX16 = /^[0-9a-f]{16}$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** A file path inside the backup: plain names separated by `/`, never `..` or absolute. */
const SAFE_PATH = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Checks a parsed `backup.json` and returns it typed, shards in shard order; throws BackupManifestError. */
export function checkBackupManifest(doc: unknown): BackupManifestDoc {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new BackupManifestError('the manifest is not a JSON object');
  const m = doc as Record<string, unknown>;
  if (m['format'] !== BACKUP_FORMAT) throw new BackupManifestError(`the manifest's format is ${JSON.stringify(m['format'])}, this version reads format ${BACKUP_FORMAT}`);
  if (typeof m['createdAt'] !== 'string' || Number.isNaN(Date.parse(m['createdAt']))) throw new BackupManifestError('the manifest has no createdAt time');
  if (typeof m['pointAt'] !== 'string' || Number.isNaN(Date.parse(m['pointAt']))) throw new BackupManifestError('the manifest has no pointAt time');
  if (!isCount(m['programVersion'])) throw new BackupManifestError('the manifest has no programVersion');
  const shards = m['shards'];
  if (!Array.isArray(shards) || shards.length === 0) throw new BackupManifestError('the manifest lists no shards');
  const checkedShards = shards.map((s: unknown, i): BackupShard => {
    const r = (s ?? {}) as Record<string, unknown>;
    const ok = isCount(r['shard']) && isCount(r['batch']) && isCount(r['members'])
      && (r['checksum'] === undefined || (typeof r['checksum'] === 'string' && HEX16.test(r['checksum'])))
      && (r['committedAtMs'] === undefined || (typeof r['committedAtMs'] === 'number' && Number.isFinite(r['committedAtMs'])));
    if (!ok) throw new BackupManifestError(`the manifest's shards[${i}] is not { shard, batch, checksum?, committedAtMs?, members }: ${JSON.stringify(s)}`);
    const out: BackupShard = { shard: r['shard'] as number, batch: r['batch'] as number, members: r['members'] as number };
    if (r['checksum'] !== undefined) out.checksum = r['checksum'] as string;
    if (r['committedAtMs'] !== undefined) out.committedAtMs = r['committedAtMs'] as number;
    return out;
  }).sort((a, b) => a.shard - b.shard);
  checkedShards.forEach((s, i) => {
    if (s.shard !== i) throw new BackupManifestError(`the manifest lists shards ${checkedShards.map((x) => x.shard).join(', ')}, not 0..${checkedShards.length - 1}`);
  });
  const files = m['files'];
  if (!Array.isArray(files) || files.length === 0) throw new BackupManifestError('the manifest lists no files');
  const seen = new Set<string>();
  const checkedFiles = files.map((f: unknown, i): BackupFile => {
    const r = (f ?? {}) as Record<string, unknown>;
    if (typeof r['path'] !== 'string' || !SAFE_PATH.test(r['path']) || !isCount(r['bytes']) || typeof r['sha256'] !== 'string' || !HEX64.test(r['sha256'])) {
      throw new BackupManifestError(`the manifest's files[${i}] is not { path, bytes, sha256 } with a path inside the backup: ${JSON.stringify(f)}`);
    }
    if (seen.has(r['path'])) throw new BackupManifestError(`the manifest lists ${r['path']} twice`);
    seen.add(r['path']);
    return { path: r['path'], bytes: r['bytes'] as number, sha256: r['sha256'] };
  });
  for (let i = 0; i < checkedShards.length; i++) {
    if (!seen.has(shardDataFile(i))) throw new BackupManifestError(`the manifest lists no ${shardDataFile(i)}`);
  }
  if (!seen.has('engine.json')) throw new BackupManifestError('the manifest lists no engine.json');
  return { format: BACKUP_FORMAT, createdAt: m['createdAt'], pointAt: m['pointAt'], programVersion: m['programVersion'], shards: checkedShards, files: checkedFiles };
}

/** Where a shard's data file is inside a backup (and a data folder): `shard-N/data.mdb`. */
export function shardDataFile(shard: number): string {
  return `shard-${shard}/data.mdb`;
}
