// The pipelined commit's ordering rule (engine/shard/group-sync.ts), with a sync the test completes
// by hand: no reply before a sync that started after its commit, replies in commit order, one sync
// at a time covering every commit made while the previous one ran, and a failed sync that answers
// nothing as done, tries no second sync and stops everything. The nometasync variant, where a
// commit's own fdatasync releases the commits before it and a sync starts only when the thread is
// idle. Then the same class over a real
// lmdb-js environment opened with noSync.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failedOnDisk, GroupSync, SyncFailedError, type SyncFile } from '../../engine/shard/group-sync.js';
import { commitModeFromEnv, commitWaitsForGroupSync } from '../../engine/limits.js';
import { openShardStore } from '../../engine/shard/store.js';

/** A sync the test ends itself: each call is recorded with what had been committed when it started. */
class ManualSync {
  readonly started: Array<{ commitsBefore: number; done: (err?: Error | null) => void }> = [];
  commits = 0;
  readonly file: SyncFile = (done) => { this.started.push({ commitsBefore: this.commits, done }); };
  finish(index: number, err?: Error): void { this.started[index]!.done(err ?? null); }
}

/** Lets every settled promise run its callbacks. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness() {
  const sync = new ManualSync();
  const failures: SyncFailedError[] = [];
  const group = new GroupSync(sync.file, (err) => failures.push(err));
  const replies: number[] = [];
  const errors: Array<[number, unknown]> = [];
  /** One commit: `n` is its place in commit order; its reply is recorded when released. */
  const commit = (n: number) => {
    sync.commits += 1;
    group.committed().then(() => replies.push(n), (err) => errors.push([n, err]));
  };
  return { sync, group, failures, replies, errors, commit };
}

describe('GroupSync: when a commit may be answered', () => {
  it('answers a commit only after a sync that started after it, and a sync running at its commit does not cover it', async () => {
    const { sync, replies, commit } = harness();
    commit(1);
    expect(sync.started).toHaveLength(1);
    expect(sync.started[0]!.commitsBefore).toBe(1);
    // Commit 2 lands while sync 0 runs: sync 0 may have flushed the file before commit 2's pages.
    commit(2);
    expect(sync.started).toHaveLength(1);
    await flush();
    expect(replies).toEqual([]);

    sync.finish(0);
    await flush();
    expect(replies).toEqual([1]);
    // The next sync started as soon as sync 0 ended, after commit 2.
    expect(sync.started).toHaveLength(2);
    expect(sync.started[1]!.commitsBefore).toBe(2);

    sync.finish(1);
    await flush();
    expect(replies).toEqual([1, 2]);
    expect(sync.started).toHaveLength(2);
  });

  it('groups every commit made during a sync into the next one, and releases replies in commit order', async () => {
    const { sync, group, replies, commit } = harness();
    let n = 0;
    commit(++n);
    // Three rounds: while each sync runs, 5 more commits arrive; the next sync covers them all.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) commit(++n);
      sync.finish(round);
      await flush();
      expect(sync.started).toHaveLength(round + 2);
      expect(sync.started[round + 1]!.commitsBefore).toBe(n);
      // Released: exactly the commits made before the sync that just ended started.
      expect(replies).toEqual(Array.from({ length: sync.started[round]!.commitsBefore }, (_, i) => i + 1));
    }
    sync.finish(3);
    await flush();
    expect(replies).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(group.stats).toEqual({ syncs: 4, synced: 4, commits: 16, released: 16, coveredByCommits: 0 });
    expect(group.pending).toBe(false);
  });

  it('lets a read through at once when nothing is waiting, else after the commits before it, in order', async () => {
    const { sync, group, replies, commit } = harness();
    expect(group.settled()).toBeUndefined();
    commit(1);
    // A read while sync 0 (covering commit 1) runs: it waits for sync 0 only.
    void group.settled()!.then(() => replies.push(101));
    commit(2);
    // A read after commit 2: it waits for the next sync, after commit 2's reply.
    void group.settled()!.then(() => replies.push(102));
    sync.finish(0);
    await flush();
    expect(replies).toEqual([1, 101]);
    sync.finish(1);
    await flush();
    expect(replies).toEqual([1, 101, 2, 102]);
    expect(group.settled()).toBeUndefined();
    expect(sync.started).toHaveLength(2);
  });

  it('answers nothing as done once a sync fails, stops at the first failure and never syncs again', async () => {
    const { sync, group, failures, replies, errors, commit } = harness();
    commit(1);
    sync.finish(0);
    await flush();
    expect(replies).toEqual([1]);

    commit(2); // covered by sync 1
    commit(3); // waits for sync 2
    const eio = Object.assign(new Error('Input/output error'), { code: 'EIO' });
    sync.finish(1, eio);
    await flush();
    expect(replies).toEqual([1]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(SyncFailedError);
    expect(failures[0]!.code).toBe('sync_failed');
    expect(failures[0]!.cause).toBe(eio);
    // Commit 3 was not covered by the failed sync, but no second sync is tried (fsyncgate: a retry
    // can succeed after the kernel dropped the pages that failed to write).
    expect(errors.map(([n, err]) => [n, (err as SyncFailedError).code])).toEqual([[2, 'sync_failed'], [3, 'sync_failed']]);
    expect(sync.started).toHaveLength(2);

    commit(4);
    await expect(group.settled()).rejects.toBeInstanceOf(SyncFailedError);
    await flush();
    expect(errors.map(([n]) => n)).toEqual([2, 3, 4]);
    expect(sync.started).toHaveLength(2);
    expect(failures).toHaveLength(1);
    // A late second answer from the failed sync changes nothing.
    sync.finish(1);
    await flush();
    expect(replies).toEqual([1]);
  });

  it('treats a sync that throws at its start as failed', async () => {
    const failures: SyncFailedError[] = [];
    const group = new GroupSync(() => { throw new Error('The environment is already closed.'); }, (err) => failures.push(err));
    await expect(group.committed()).rejects.toThrow(/already closed/);
    expect(failures).toHaveLength(1);
  });

  it('notices the failure before any waiter does (the worker stops the process there)', async () => {
    const sync = new ManualSync();
    const order: string[] = [];
    const group = new GroupSync(sync.file, () => order.push('stop'));
    group.committed().then(() => order.push('reply'), () => order.push('rejected'));
    sync.finish(0, new Error('No space left on device'));
    await flush();
    expect(order).toEqual(['stop', 'rejected']);
  });
});

describe('GroupSync under commits that fdatasync their own pages (nometasync)', () => {
  /** A harness whose sync starts only when the test runs the deferred start, as the idle thread would. */
  function ownSyncHarness() {
    const sync = new ManualSync();
    const deferred: Array<() => void> = [];
    const failures: SyncFailedError[] = [];
    const group = new GroupSync(sync.file, (err) => failures.push(err), (start) => deferred.push(start));
    const replies: number[] = [];
    const errors: number[] = [];
    const commit = (n: number) => {
      sync.commits += 1;
      group.committedAfterOwnSync().then(() => replies.push(n), () => errors.push(n));
    };
    const idle = () => { for (const start of deferred.splice(0)) start(); };
    return { sync, group, failures, replies, errors, commit, idle };
  }

  it('answers a commit when the next commit\'s own fdatasync has carried its meta page, in commit order, with no sync', async () => {
    const { sync, group, replies, commit } = ownSyncHarness();
    commit(1);
    await flush();
    expect(replies).toEqual([]);
    commit(2);
    commit(3);
    await flush();
    expect(replies).toEqual([1, 2]);
    expect(sync.started).toHaveLength(0);
    expect(group.stats.coveredByCommits).toBe(2);
  });

  it('syncs for the last commit only once the thread is idle, and a read waits for it', async () => {
    const { sync, group, replies, commit, idle } = ownSyncHarness();
    commit(1);
    const read = group.settled();
    expect(read).toBeDefined();
    let readDone = false;
    void read!.then(() => { readDone = true; });
    idle();
    expect(sync.started).toHaveLength(1);
    expect(sync.started[0]!.commitsBefore).toBe(1);
    await flush();
    expect(replies).toEqual([]);
    expect(readDone).toBe(false);
    sync.finish(0);
    await flush();
    expect(replies).toEqual([1]);
    expect(readDone).toBe(true);
    expect(group.pending).toBe(false);
  });

  it('releases a commit whose sync is still running when a later commit synced the file, and keeps the order', async () => {
    const { sync, replies, commit, idle } = ownSyncHarness();
    commit(1);
    idle();
    expect(sync.started).toHaveLength(1);
    commit(2);
    await flush();
    // Commit 2's fdatasync started after commit 1 returned: commit 1 is on disk before its sync ends.
    expect(replies).toEqual([1]);
    sync.finish(0);
    await flush();
    // The sync that ended started before commit 2: it does not cover it; the next starts when idle.
    expect(replies).toEqual([1]);
    expect(sync.started).toHaveLength(1);
    idle();
    expect(sync.started).toHaveLength(2);
    sync.finish(1);
    await flush();
    expect(replies).toEqual([1, 2]);
  });

  it('stops everything when the sync fails, as under pipelined commits', async () => {
    const { sync, group, failures, replies, errors, commit, idle } = ownSyncHarness();
    commit(1);
    idle();
    sync.finish(0, new Error('Input/output error'));
    await flush();
    expect(replies).toEqual([]);
    expect(errors).toEqual([1]);
    expect(failures).toHaveLength(1);
    await expect(group.committedAfterOwnSync()).rejects.toBeInstanceOf(SyncFailedError);
  });
});

describe('LOYALTY_COMMIT', () => {
  it('is sync unless set to pipelined or nometasync, and refuses anything else', () => {
    expect(commitModeFromEnv({})).toBe('sync');
    expect(commitModeFromEnv({ LOYALTY_COMMIT: '' })).toBe('sync');
    expect(commitModeFromEnv({ LOYALTY_COMMIT: 'pipelined' })).toBe('pipelined');
    expect(commitModeFromEnv({ LOYALTY_COMMIT: 'nometasync' })).toBe('nometasync');
    expect(commitModeFromEnv({ LOYALTY_COMMIT: 'sync' })).toBe('sync');
    expect(() => commitModeFromEnv({ LOYALTY_COMMIT: 'async' })).toThrow('LOYALTY_COMMIT must be sync, pipelined or nometasync, got "async"');
    expect(commitWaitsForGroupSync('sync')).toBe(false);
    expect(commitWaitsForGroupSync('pipelined')).toBe(true);
    expect(commitWaitsForGroupSync('nometasync')).toBe(true);
  });
});

describe('failedOnDisk', () => {
  it('tells a failed write or sync (a positive errno from lmdb-js) from LMDB\'s own failures', () => {
    expect(failedOnDisk(Object.assign(new Error('Input/output error'), { code: 5 }))).toBe(true);
    expect(failedOnDisk(Object.assign(new Error('No space left on device'), { code: 28 }))).toBe(true);
    expect(failedOnDisk(Object.assign(new Error('Input/output error'), { code: 'EIO' }))).toBe(true);
    // MDB_MAP_FULL and MDB_TXN_FULL: the transaction is aborted before anything reaches the file.
    expect(failedOnDisk(Object.assign(new Error('MDB_MAP_FULL'), { code: -30792 }))).toBe(false);
    expect(failedOnDisk(Object.assign(new Error('MDB_TXN_FULL'), { code: -30788 }))).toBe(false);
    expect(failedOnDisk(new Error('shard has no program yet'))).toBe(false);
    expect(failedOnDisk(null)).toBe(false);
  });
});

describe('GroupSync over lmdb-js', () => {
  const dir = mkdtempSync(join(tmpdir(), 'group-sync-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('syncs a noSync environment through sync(callback), and each commit resolves after its own sync', async () => {
    const store = openShardStore(join(dir, 'shard'), 64 * 1024 * 1024, { noSync: true });
    const root = store.root as unknown as { sync(callback: (err?: Error) => void): void };
    let syncCalls = 0;
    const group = new GroupSync((done) => { syncCalls += 1; root.sync((err) => done(err ?? null)); }, (err) => { throw err; });
    const answered: number[] = [];
    const waits: Array<Promise<void>> = [];
    for (let i = 1; i <= 50; i++) {
      store.root.transactionSync(() => store.meta.putSync(`k${i}`, i));
      waits.push(group.committed().then(() => { answered.push(i); }));
      // Some commits land while a sync runs, some after it ended.
      if (i % 7 === 0) await flush();
    }
    await Promise.all(waits);
    expect(answered).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(group.stats.synced).toBe(syncCalls);
    expect(syncCalls).toBeGreaterThanOrEqual(2);
    expect(syncCalls).toBeLessThan(50);
    await store.root.close();
  });

  it('moves LMDB\'s last transaction id for a commit that wrote under noMetaSync, and not for one that wrote nothing (the worker\'s test of a commit\'s own fdatasync)', async () => {
    const store = openShardStore(join(dir, 'meta'), 64 * 1024 * 1024, { noMetaSync: true });
    const lastTxnId = () => (store.root as unknown as { env: { info(): { lastTxnId: number } } }).env.info().lastTxnId;
    const before = lastTxnId();
    store.root.transactionSync(() => store.meta.putSync('k', 1));
    expect(lastTxnId()).toBe(before + 1);
    store.root.transactionSync(() => store.meta.get('k'));
    expect(lastTxnId()).toBe(before + 1);
    store.root.transactionSync(() => store.meta.putSync('k', 2));
    expect(lastTxnId()).toBe(before + 2);
    expect(store.meta.get('k')).toBe(2);
    await store.root.close();
  });
});
