// A lock file naming its holder (pid, host, process start time, command), created atomically, and
// judged stale once that holder is gone: what keeps one writer process on a data folder, and one
// process at a time changing keys.json.
//
// Node has no flock(2) or fcntl(2) locks, which the kernel would release when their holder dies, and
// a native module for them is one more thing to build and trust; so the file records who holds it
// and a later process checks whether that process still runs. A pid alone can be reused after a
// crash (a restarted container's server often has the same pid as the one that died), so the
// holder's start time (/proc/<pid>/stat, field 22) is recorded too: a live pid with another start
// time is another process. The file appears complete or not at all: it is written under a
// temporary name, fsynced and hard-linked into place (link(2) fails if the name exists), so no
// process ever reads a half-written lock and takes it for a broken one.
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DATA_FILE_MODE, LOCK_ATTEMPTS_MAX, LOCK_BREAK_STALE_MS, LOCK_RETRY_MS } from '../limits.js';

/** Who holds a lock, as its file records it. */
export interface LockHolder { pid: number; host: string; startTicks: number | null; command: string; since: string }

/** A lock held by this process; `release` removes the file if it is still this holder's. */
export interface HeldLock { readonly path: string; release(): void }

/** The lock is held by a live process (or one on another machine, which cannot be checked). */
export class LockBusyError extends Error {
  constructor(readonly path: string, readonly holder: LockHolder | null, message: string) {
    super(message);
  }
}

/** Lock files this process holds: a second take in the same process is refused, since its pid would look like a past incarnation's. */
const heldHere = new Set<string>();

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A process's state and start time in clock ticks since boot (Linux /proc), or null where there is no /proc. */
function procStat(pid: number): { state: string; startTicks: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2, the command name, is in parentheses and may hold spaces and parentheses: the fields
  // after the last ')' start at field 3 (state); field 22 (start time) is the 20th of them.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields[19]);
  return { state: fields[0] ?? '', startTicks: Number.isSafeInteger(startTicks) ? startTicks : -1 };
}

/** Whether the recorded holder is certainly gone: false when it runs, or when this machine cannot tell. */
export function holderGone(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return false;
  // Not a lock of this process (heldHere says so): an earlier process that had this pid.
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const stat = procStat(holder.pid);
  if (stat === null) return false;
  // A zombie has exited: only its parent has not collected its status yet.
  if (stat.state === 'Z' || stat.state === 'X') return true;
  return holder.startTicks !== null && stat.startTicks !== holder.startTicks;
}

function parseHolder(raw: string): LockHolder | null {
  try {
    const h = JSON.parse(raw) as Partial<LockHolder>;
    if (typeof h.pid !== 'number' || !Number.isSafeInteger(h.pid) || h.pid <= 0 || typeof h.host !== 'string') return null;
    return { pid: h.pid, host: h.host, startTicks: typeof h.startTicks === 'number' ? h.startTicks : null, command: String(h.command ?? ''), since: String(h.since ?? '') };
  } catch {
    return null;
  }
}

/** The lock file's text, or undefined when there is none. */
function readRaw(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Puts `text` at `path` complete, if nothing is there; false if something is. */
function tryCreate(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', DATA_FILE_MODE);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Removes a stale lock whose text is `staleRaw`. Two processes may find the same stale lock at once:
 * each must remove only that one, never a lock the other has taken meanwhile, so removal happens
 * under a second lock (`.break`, held for a read and an unlink) after reading the text again.
 */
function breakStale(path: string, staleRaw: string): void {
  const breaker = `${path}.break`;
  let fd: number;
  try {
    fd = openSync(breaker, 'wx', DATA_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const s = statSync(breaker, { throwIfNoEntry: false });
    if (s !== undefined && Date.now() - s.mtimeMs > LOCK_BREAK_STALE_MS) rmSync(breaker, { force: true });
    else sleepMs(LOCK_RETRY_MS);
    return;
  }
  try {
    if (readRaw(path) === staleRaw) unlinkSync(path);
  } finally {
    closeSync(fd);
    rmSync(breaker, { force: true });
  }
}

/**
 * Takes the lock file at `path` for `command`, waiting up to `waitMs` while a live process holds it;
 * throws LockBusyError after that (at once with the default 0). A lock whose holder is gone (killed,
 * crashed) is taken over. The lock is released by `release`, or at the latest when the process exits
 * normally; after a SIGKILL it is left behind and judged stale by the next process.
 */
export function acquireLock(lockPath: string, command: string, waitMs = 0): HeldLock {
  const path = resolve(lockPath);
  if (heldHere.has(path)) {
    throw new LockBusyError(path, null, `${path} is held by this process already (pid ${process.pid})`);
  }
  const mine: LockHolder = { pid: process.pid, host: hostname(), startTicks: procStat(process.pid)?.startTicks ?? null, command, since: new Date().toISOString() };
  const text = JSON.stringify(mine) + '\n';
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
    if (tryCreate(path, text)) return held(path, text);
    const raw = readRaw(path);
    if (raw === undefined) continue; // released meanwhile
    const holder = parseHolder(raw);
    if (holder === null) {
      throw new LockBusyError(path, null, `${path} does not name the process holding it; if no loyalty process uses this folder, remove the file`);
    }
    if (!holderGone(holder)) {
      if (Date.now() < deadline) { sleepMs(LOCK_RETRY_MS); continue; }
      throw new LockBusyError(path, holder, `${path} is held by pid ${holder.pid} (${holder.command}) on ${holder.host} since ${holder.since}`);
    }
    breakStale(path, raw);
  }
  throw new LockBusyError(path, null, `${path} kept changing hands over ${LOCK_ATTEMPTS_MAX} attempts to take it`);
}

function held(path: string, text: string): HeldLock {
  heldHere.add(path);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    heldHere.delete(path);
    process.removeListener('exit', release);
    // Only this holder's own file: never one another process took after this one was judged stale.
    if (readRaw(path) === text) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return { path, release };
}

/** The holder a lock file names, or null when there is no lock file or it names none. */
export function lockHolder(path: string): LockHolder | null {
  const raw = readRaw(path);
  return raw === undefined ? null : parseHolder(raw);
}
