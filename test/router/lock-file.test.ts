// The lock file that keeps one writer process on a data folder: taken atomically, refused while its
// holder runs (in this process too), taken over once the holder is gone (dead, a zombie, or its pid
// reused by another process, told apart by start time), judged by its refreshes where a pid means
// nothing (another host, container or boot), and released only by its own holder.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { LOCK_REFRESH_MS, LOCK_STALE_MS } from '../../engine/limits.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, LockBusyError, lockHolder } from '../../engine/router/lock-file.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `lock-${++n}`);

/** Start time in clock ticks since boot (/proc/<pid>/stat field 22). */
function startTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]);
}

/** Where this process's pids mean something, as a lock records it. */
const here = { host: hostname(), bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pidNs: readlinkSync('/proc/self/ns/pid') };

function writeHolder(path: string, fields: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify({ ...here, command: 'test holder', since: '2026-01-01T00:00:00.000Z', ...fields }));
}

function busyMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LockBusyError);
    return (err as Error).message;
  }
  throw new Error('the lock was taken');
}

describe('the lock file', () => {
  it('names its holder, is refused to a second taker in this process, and is removed on release', () => {
    const path = freshPath();
    const lock = acquireLock(path, 'the server');
    expect(lockHolder(path)).toMatchObject({ pid: process.pid, host: hostname(), startTicks: startTicks(process.pid), command: 'the server' });
    expect(busyMessage(() => acquireLock(path, 'again'))).toBe(`${path} is held by this process already (pid ${process.pid})`);
    lock.release();
    expect(existsSync(path)).toBe(false);
    acquireLock(path, 'after release').release();
  });

  it('is refused while another live process holds it, naming its pid', async () => {
    const sleeper = spawn('sleep', ['30']);
    await new Promise((r) => sleeper.once('spawn', r));
    try {
      const path = freshPath();
      writeHolder(path, { pid: sleeper.pid, startTicks: startTicks(sleeper.pid!) });
      expect(busyMessage(() => acquireLock(path, 'second'))).toBe(`${path} is held by pid ${sleeper.pid} (test holder) since 2026-01-01T00:00:00.000Z`);
      // The same pid with another start time is another process: the holder is gone.
      writeHolder(path, { pid: sleeper.pid, startTicks: startTicks(sleeper.pid!) - 1 });
      acquireLock(path, 'reused pid').release();
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('is taken over from a killed holder, a zombie, and an earlier process that had this pid', async () => {
    const dead = spawn('sleep', ['30']);
    await new Promise((r) => dead.once('spawn', r));
    const deadPid = dead.pid!;
    const deadTicks = startTicks(deadPid);
    dead.kill('SIGKILL');
    await new Promise((r) => dead.once('exit', r));
    const path = freshPath();
    writeHolder(path, { pid: deadPid, startTicks: deadTicks });
    const lock = acquireLock(path, 'after a kill');
    expect(lockHolder(path)?.pid).toBe(process.pid);
    lock.release();

    // A zombie: killed, not yet collected by its parent (a shell that sleeps on and never waits).
    const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; kill -9 $!; exec sleep 30']);
    const zombiePid = await new Promise<number>((r) => parent.stdout.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
    try {
      for (let i = 0; i < 100 && !/\) Z /.test(readFileSync(`/proc/${zombiePid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
      writeHolder(path, { pid: zombiePid, startTicks: startTicks(zombiePid) });
      acquireLock(path, 'after a zombie').release();
    } finally {
      parent.kill('SIGKILL');
    }

    // A restarted container's process often gets the pid its predecessor had.
    writeHolder(path, { pid: process.pid, startTicks: 1 });
    acquireLock(path, 'same pid, earlier process').release();
  });

  it('judges a holder whose pid it cannot check (another host, container or boot) by the lock\'s refreshes', () => {
    const path = freshPath();
    const elsewhere = [{ host: 'another-host' }, { pidNs: 'pid:[1]' }, { bootId: 'another-boot' }];
    for (const fields of elsewhere) {
      // Pid 1 and this very pid would both be judged gone if the pid were checked here.
      for (const pid of [1, process.pid]) {
        writeHolder(path, { pid, startTicks: 5, ...fields });
        expect(busyMessage(() => acquireLock(path, 'here'))).toContain(`held by pid ${pid} (test holder) (on ${fields.host ?? hostname()}, or in another container: checked by the lock's refreshes, not by pid)`);
        const old = new Date(Date.now() - LOCK_STALE_MS - 1_000);
        utimesSync(path, old, old);
        acquireLock(path, 'after its refreshes stopped').release();
      }
    }
  });

  it('refreshes a held lock, and reports a lock taken over from under it', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const path = freshPath();
      const lost: unknown[] = [];
      const lock = acquireLock(path, 'refreshed', { onLost: (holder) => lost.push(holder) });
      const old = new Date(Date.now() - 60_000);
      utimesSync(path, old, old);
      vi.advanceTimersByTime(LOCK_REFRESH_MS);
      expect(Date.now() - statSync(path).mtimeMs).toBeLessThan(5_000);
      expect(lost).toEqual([]);
      writeHolder(path, { pid: 1, host: 'another-host', startTicks: 5 });
      vi.advanceTimersByTime(LOCK_REFRESH_MS);
      expect(lost).toEqual([expect.objectContaining({ pid: 1, host: 'another-host' })]);
      lock.release();
      expect(lockHolder(path)?.host).toBe('another-host');
    } finally {
      vi.useRealTimers();
    }
  });

  it('is never judged when it names no holder', () => {
    const path = freshPath();
    writeFileSync(path, 'not a lock');
    expect(busyMessage(() => acquireLock(path, 'here'))).toBe(`${path} does not name the process holding it; if no loyalty process uses this folder, remove the file`);
  });

  it('is removed at release only if it is still its holder\'s', () => {
    const path = freshPath();
    const lock = acquireLock(path, 'first');
    writeHolder(path, { pid: 1, startTicks: 5 });
    lock.release();
    expect(lockHolder(path)?.pid).toBe(1);
  });

  it('waits up to the time given for a live holder to let go', async () => {
    const path = freshPath();
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      const { acquireLock } = await import(${JSON.stringify(new URL('../../dist/engine/router/lock-file.js', import.meta.url).href)});
      const lock = acquireLock(${JSON.stringify(path)}, 'holder');
      console.log('held');
      setTimeout(() => { lock.release(); }, 300);
    `]);
    await new Promise((r) => holder.stdout.once('data', r));
    const started = performance.now();
    const lock = acquireLock(path, 'waiter', { waitMs: 5_000 });
    expect(performance.now() - started).toBeGreaterThan(100);
    expect(lockHolder(path)?.command).toBe('waiter');
    lock.release();
  });
});
