// A lock file naming its holder (pid, host, boot, pid namespace, process start time, command),
// created atomically, refreshed while held, and judged stale once that holder is gone: what keeps
// one writer process on a data folder, and one process at a time changing keys.json.
//
// Node has no flock(2) or fcntl(2) locks, which the kernel would release when their holder dies, and
// a native module for them is one more thing to build and trust; so the file records who holds it
// and a later process checks whether that process still runs. A pid alone can be reused after a
// crash (a restarted container's server often has the same pid as the one that died), so the
// holder's start time (/proc/<pid>/stat, field 22) is recorded too: a live pid with another start
// time is another process. A pid means something only in the pid namespace of the same boot of the
// same machine; a holder elsewhere (another host sharing the folder, another container, before a
// reboot) is judged by the file's mtime instead, which the holder refreshes every LOCK_REFRESH_MS.
// The file appears complete or not at all: it is written under a temporary name, fsynced and
// hard-linked into place (link(2) fails if the name exists), so no process ever reads a
// half-written lock and takes it for a broken one.
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, readlinkSync, rmSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DATA_FILE_MODE, LOCK_ATTEMPTS_MAX, LOCK_BREAK_STALE_MS, LOCK_REFRESH_MS, LOCK_RETRY_MS, LOCK_STALE_MS } from '../limits.js';

/** Who holds a lock, as its file records it. */
export interface LockHolder {
  pid: number; host: string; bootId: string | null; pidNs: string | null; startTicks: number | null; command: string; since: string;
}

/** A lock held by this process; `release` removes the file if it is still this holder's. */
export interface HeldLock { readonly path: string; release(): void }

/** The lock is held by a live process (or one this process cannot check, refreshed lately). */
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

function readOrNull(read: () => string): string | null {
  try {
    return read().trim();
  } catch {
    return null;
  }
}

/** Where this process's pids mean something: its machine, that machine's boot, and its pid namespace (null where Linux's /proc is missing). */
const here = {
  host: hostname(),
  bootId: readOrNull(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
  pidNs: readOrNull(() => readlinkSync('/proc/self/ns/pid')),
};

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

/** Whether the holder's pid can be checked from this process: same machine, same boot, same pid namespace. */
export function pidCheckable(holder: LockHolder): boolean {
  return holder.host === here.host && holder.bootId === here.bootId && holder.pidNs === here.pidNs;
}

/**
 * Whether the recorded holder is certainly gone. Checked by pid where that means something;
 * elsewhere by the lock's mtime (`mtimeMs`), which a live holder refreshes.
 */
export function holderGone(holder: LockHolder, mtimeMs: number): boolean {
  if (!pidCheckable(holder)) return Date.now() - mtimeMs > LOCK_STALE_MS;
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
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    return {
      pid: h.pid, host: h.host, bootId: text(h.bootId), pidNs: text(h.pidNs), startTicks: typeof h.startTicks === 'number' ? h.startTicks : null,
      command: String(h.command ?? ''), since: String(h.since ?? ''),
    };
  } catch {
    return null;
  }
}

/** The lock file's text and mtime, or undefined when there is none. */
function readLock(path: string): { raw: string; mtimeMs: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return { raw: readFileSync(fd, 'utf8'), mtimeMs: statSync(path).mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  } finally {
    closeSync(fd);
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
    if (readLock(path)?.raw === staleRaw) unlinkSync(path);
  } finally {
    closeSync(fd);
    rmSync(breaker, { force: true });
  }
}

function describe(holder: LockHolder): string {
  const where = pidCheckable(holder) ? '' : ` (on ${holder.host}, or in another container: checked by the lock's refreshes, not by pid)`;
  return `pid ${holder.pid} (${holder.command})${where} since ${holder.since}`;
}

export interface LockOptions {
  /** How long to wait while a live process holds the lock (default 0: refuse at once). */
  waitMs?: number;
  /**
   * Called when the held lock file is found to be another process's (this one was judged gone,
   * e.g. frozen for longer than LOCK_STALE_MS): its holder must stop writing. Without it, the
   * refresh stops and nothing else happens.
   */
  onLost?: (holder: LockHolder | null) => void;
}

/**
 * Takes the lock file at `path` for `command`, waiting up to `waitMs` while a live process holds it;
 * throws LockBusyError after that. A lock whose holder is gone (killed, crashed) is taken over. The
 * lock is released by `release`, or at the latest when the process exits normally; after a SIGKILL
 * it is left behind and judged stale by the next process.
 */
export function acquireLock(lockPath: string, command: string, options: LockOptions = {}): HeldLock {
  const path = resolve(lockPath);
  if (heldHere.has(path)) {
    throw new LockBusyError(path, null, `${path} is held by this process already (pid ${process.pid})`);
  }
  const mine: LockHolder = { pid: process.pid, ...here, startTicks: procStat(process.pid)?.startTicks ?? null, command, since: new Date().toISOString() };
  const text = JSON.stringify(mine) + '\n';
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
    if (tryCreate(path, text)) return held(path, text, options.onLost);
    const seen = readLock(path);
    if (seen === undefined) continue; // released meanwhile
    const holder = parseHolder(seen.raw);
    if (holder === null) {
      throw new LockBusyError(path, null, `${path} does not name the process holding it; if no loyalty process uses this folder, remove the file`);
    }
    if (!holderGone(holder, seen.mtimeMs)) {
      if (Date.now() < deadline) { sleepMs(LOCK_RETRY_MS); continue; }
      throw new LockBusyError(path, holder, `${path} is held by ${describe(holder)}`);
    }
    breakStale(path, seen.raw);
  }
  throw new LockBusyError(path, null, `${path} kept changing hands over ${LOCK_ATTEMPTS_MAX} attempts to take it`);
}

function held(path: string, text: string, onLost: LockOptions['onLost']): HeldLock {
  heldHere.add(path);
  let released = false;
  // The refresh that lets processes which cannot check this pid see the holder is alive; it also
  // notices a lock taken over from under this process.
  const refresh = setInterval(() => {
    const seen = readLock(path);
    if (seen?.raw === text) {
      const now = new Date();
      utimesSync(path, now, now);
      return;
    }
    clearInterval(refresh);
    onLost?.(seen === undefined ? null : parseHolder(seen.raw));
  }, LOCK_REFRESH_MS);
  refresh.unref();
  const release = (): void => {
    if (released) return;
    released = true;
    clearInterval(refresh);
    heldHere.delete(path);
    process.removeListener('exit', release);
    // Only this holder's own file: never one another process took after this one was judged gone.
    if (readLock(path)?.raw === text) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return { path, release };
}

/** The holder a lock file names, or null when there is no lock file or it names none. */
export function lockHolder(path: string): LockHolder | null {
  const seen = readLock(path);
  return seen === undefined ? null : parseHolder(seen.raw);
}
