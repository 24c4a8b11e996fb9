// The data folder on disk: created readable by its owner only (folders 0700, files 0600), checked
// at start for anything wider, described by engine.json (which fixes its shard count), and opened
// by one writer process at a time (a lock file naming it) besides any number of readers.
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DATA_FILE_MODE, DATA_FOLDER_MODE, LOCK_STALE_MS } from '../limits.js';
import { acquireLock, LockBusyError, pidCheckable, type HeldLock, type LockHolder } from './lock-file.js';

interface EngineMeta { shards: number; createdAt: string }

/** A shard's folder inside the data folder (engine/shard/worker.ts opens the same path). */
export const shardFolder = (dataDir: string, shardId: number): string => join(dataDir, `shard-${shardId}`);

/** The lock file of the one writer process, in the data folder. */
export const WRITER_LOCK_FILE = 'writer.lock';

/** Why a data folder cannot be opened as asked; `holder` names the writer when it is in use. */
export class DataFolderError extends Error {
  constructor(readonly reason: 'missing' | 'not_a_data_folder' | 'in_use' | 'damaged', message: string, readonly holder: LockHolder | null = null) {
    super(message);
  }
}

export interface DataFolderAccess {
  shards: number;
  /** `write` takes the writer lock and may create what is missing; `read` changes nothing on disk. */
  access: 'write' | 'read';
  /** For `write`: create the folder when it does not exist (a server start), or refuse (the command line). */
  create: boolean;
  /** Who writes, as the lock records it and a refused process reads it: "the server", "loyalty import". */
  holder: string;
  /** For `write`: called if the writer lock is found taken over by another process (this one must stop writing). */
  onLost?: (message: string) => void;
}

/** An opened data folder; `release` lets the next writer in (nothing for a reader). */
export interface OpenDataFolder { release(): void }

/**
 * Opens `dataDir` for `shards` shards. For a writer: takes the writer lock (refused while another
 * live process holds it), then creates what is missing (the folder only when `create`; its shard
 * folders 0700 and engine.json 0600). For a reader: the folder must be a data folder already, and
 * nothing is created. A folder created with another shard count is refused either way, because
 * member ids hash onto the shards. An existing folder's modes are left as they are (looseModes).
 */
export function openDataFolder(dataDir: string, how: DataFolderAccess): OpenDataFolder {
  const dir = resolve(dataDir);
  if (!existsSync(dir)) {
    if (how.access === 'read' || !how.create) requireDataFolder(dir);
    mkdirSync(dir, { recursive: true, mode: DATA_FOLDER_MODE });
  }
  const metaPath = join(dir, 'engine.json');
  if (how.access === 'read') {
    if (!existsSync(metaPath)) throw new DataFolderError('not_a_data_folder', `${dir} is not a data folder (it has no engine.json)`);
    checkShards(dir, metaPath, how.shards);
    for (let i = 0; i < how.shards; i++) {
      if (!existsSync(shardFolder(dir, i))) throw new DataFolderError('not_a_data_folder', `${dir} has no ${shardFolder(dir, i)}`);
    }
    return { release() {} };
  }
  let lock: HeldLock;
  try {
    lock = acquireLock(join(dir, WRITER_LOCK_FILE), how.holder, {
      onLost: (holder) => how.onLost?.(`the writer lock of ${dir} was taken over by ${holder === null ? 'another process' : `${holder.command}, pid ${holder.pid} on ${holder.host}`}: this process was judged gone (frozen for over ${LOCK_STALE_MS / 1000} s?) and must stop writing`),
    });
  } catch (err) {
    if (!(err instanceof LockBusyError)) throw err;
    throw new DataFolderError('in_use', inUseMessage(dir, err), err.holder);
  }
  try {
    if (existsSync(metaPath) && !unfinishedMeta(dir, metaPath)) checkShards(dir, metaPath, how.shards);
    else writeMeta(dir, metaPath, { shards: how.shards, createdAt: new Date().toISOString() });
    // Created here rather than by LMDB, which would make them 0755.
    for (let i = 0; i < how.shards; i++) mkdirSync(shardFolder(dir, i), { recursive: true, mode: DATA_FOLDER_MODE });
  } catch (err) {
    lock.release();
    throw err;
  }
  return { release: () => lock.release() };
}

/**
 * Refuses a data folder that does not exist. The command line never creates one: a mistyped
 * LOYALTY_DATA would otherwise get a fresh, empty store that looks like a working one (only a
 * server start creates the folder; that is its job).
 */
export function requireDataFolder(dataDir: string): void {
  const dir = resolve(dataDir);
  if (!existsSync(dir)) {
    throw new DataFolderError('missing', `no data folder at ${dir}: set LOYALTY_DATA to the server's data folder, or start the server once to create it`);
  }
}

/**
 * The shard count an existing data folder was created with (its engine.json), or null when there is
 * no folder or no engine.json yet: a folder's count is fixed, so a start without LOYALTY_SHARDS
 * takes it from the folder rather than from the machine.
 */
export function folderShardCount(dataDir: string): number | null {
  const dir = resolve(dataDir);
  const metaPath = join(dir, 'engine.json');
  if (!existsSync(metaPath) || unfinishedMeta(dir, metaPath)) return null;
  // A damaged file is reported by the opening of the folder, which says what to do about it.
  try {
    return readMeta(metaPath).shards;
  } catch (err) {
    if (err instanceof DataFolderError) return null;
    throw err;
  }
}

function checkShards(dir: string, metaPath: string, shards: number): void {
  const meta = readMeta(metaPath);
  if (meta.shards !== shards) {
    throw new Error(`${dir} was created with ${meta.shards} shards; member ids hash onto them, so it must be opened with LOYALTY_SHARDS=${meta.shards}`);
  }
}

/**
 * engine.json's description of the folder. A file that does not hold one (edited by hand, or
 * damaged) stops the start with its path and the form it must have, rather than a parser's error
 * or a count of `undefined`: the shard count cannot be guessed, since member ids hash onto it.
 */
function readMeta(metaPath: string): EngineMeta {
  const text = readFileSync(metaPath, 'utf8');
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    meta = null;
  }
  const shards = typeof meta === 'object' && meta !== null ? (meta as Partial<EngineMeta>).shards : undefined;
  if (typeof shards !== 'number' || !Number.isSafeInteger(shards) || shards < 1) {
    throw new DataFolderError('damaged', `${metaPath} is damaged: it must hold {"shards": N, "createdAt": "…"}, N being the number of shard-0 … shard-(N-1) folders beside it (it holds ${JSON.stringify(text.slice(0, 80))})`);
  }
  return { shards, createdAt: String((meta as Partial<EngineMeta>).createdAt ?? '') };
}

/**
 * An empty engine.json in a folder whose shards hold no database yet: what a crash during the very
 * first start of an older version left (it wrote the file in place). Nothing was ever stored, so
 * the start writes the file again instead of refusing the folder for good.
 */
function unfinishedMeta(dir: string, metaPath: string): boolean {
  if (readFileSync(metaPath, 'utf8').trim() !== '') return false;
  return !readdirSync(dir).some((name) => /^shard-\d+$/.test(name) && existsSync(join(dir, name, 'data.mdb')));
}

/** Writes engine.json complete or not at all: under a temporary name, synced, renamed, the folder synced. */
function writeMeta(dir: string, metaPath: string, meta: EngineMeta): void {
  const tmp = `${metaPath}.tmp`;
  const fd = openSync(tmp, 'w', DATA_FILE_MODE);
  try {
    writeSync(fd, JSON.stringify(meta));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, metaPath);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function inUseMessage(dir: string, err: LockBusyError): string {
  const rule = 'one data folder has one writer process: stop it first, or use the HTTP API, or the read-only commands (verify, export)';
  const h = err.holder;
  if (h === null) return `${dir} is in use: ${err.message}; ${rule}`;
  // A holder in another container or on another machine is judged by its lock's refreshes, not its pid.
  const where = pidCheckable(h) ? '' : ` on ${h.host} (in another container or on another machine: its lock is taken over once not refreshed for ${LOCK_STALE_MS / 1000} s)`;
  return `${dir} is in use by ${h.command || 'another process'}, pid ${h.pid}${where}, since ${h.since}; ${rule}`;
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
