// The data folder on disk: created readable by its owner only (folders 0700, files 0600), checked
// at start for anything wider, and described by engine.json, which fixes its shard count.
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_FILE_MODE, DATA_FOLDER_MODE } from '../limits.js';

interface EngineMeta { shards: number; createdAt: string }

/** A shard's folder inside the data folder (engine/shard/worker.ts opens the same path). */
export const shardFolder = (dataDir: string, shardId: number): string => join(dataDir, `shard-${shardId}`);

/**
 * Makes `dataDir` ready for `shards` shards: the folder, its shard folders (0700) and engine.json
 * (0600), each created only if missing; an existing folder's modes are left as they are (see
 * looseModes). A folder created with another shard count is refused, because member ids hash onto
 * the shards.
 */
export function prepareDataFolder(dataDir: string, shards: number): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_FOLDER_MODE });
  const metaPath = join(dataDir, 'engine.json');
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as EngineMeta;
    if (meta.shards !== shards) {
      throw new Error(`${dataDir} was created with ${meta.shards} shards; member ids hash onto them, so it must be opened with LOYALTY_SHARDS=${meta.shards}`);
    }
  } else {
    writeFileSync(metaPath, JSON.stringify({ shards, createdAt: new Date().toISOString() } satisfies EngineMeta), { mode: DATA_FILE_MODE, flag: 'wx' });
  }
  // Created here rather than by LMDB, which would make them 0755.
  for (let i = 0; i < shards; i++) mkdirSync(shardFolder(dataDir, i), { recursive: true, mode: DATA_FOLDER_MODE });
}

/** A folder or file of the data folder that others than its owner may read, write or enter. */
export interface LooseMode { path: string; mode: string; expected: string }

const octal = (mode: number): string => '0' + (mode & 0o777).toString(8);

/**
 * Every folder (the data folder and the folders in it) and file (in those folders) whose mode gives
 * anything to the group or to others. Symbolic links are not followed. The modes are reported,
 * not changed: an operator may have widened them on purpose (a backup user's group, say).
 */
export function looseModes(dataDir: string): LooseMode[] {
  const out: LooseMode[] = [];
  const visit = (path: string, depth: number): void => {
    const s = lstatSync(path, { throwIfNoEntry: false });
    if (s === undefined || s.isSymbolicLink()) return;
    const expected = s.isDirectory() ? DATA_FOLDER_MODE : DATA_FILE_MODE;
    if ((s.mode & 0o077) !== 0) out.push({ path, mode: octal(s.mode), expected: octal(expected) });
    if (s.isDirectory() && depth < 2) for (const name of readdirSync(path).sort()) visit(join(path, name), depth + 1);
  };
  visit(dataDir, 0);
  return out;
}
