// Pipelined durability for a shard whose commits skip their fdatasync (LOYALTY_COMMIT=pipelined):
// one sync of the data file at a time runs off the shard's thread while the thread commits the next
// batches, and a commit counts as on disk only once a sync that STARTED AFTER it has completed. A
// sync already running when a batch commits may have flushed the file before the batch's pages
// reached it, so it never covers that batch; the batch joins the next sync, which starts as soon
// as the running one ends and covers every commit made meanwhile (group commit at the disk).
//
// Under LOYALTY_COMMIT=nometasync each commit fdatasyncs its own pages before writing its meta page
// unflushed, so that fdatasync also carries the meta pages of every commit before it: those are
// released by the commit (committedAfterOwnSync), and a sync starts only for what is left once the
// shard's thread has nothing else in hand.
//
// Every waiter is resolved in the order it asked, and syncs complete one after the other, so the
// replies that wait here leave in commit order.
//
// A failed sync (EIO, ENOSPC) means committed data may not be on disk, and a second sync may
// report success for pages the kernel already dropped (PostgreSQL's "fsyncgate"): so nothing
// waiting is ever answered as done, no sync is tried again, and `onFailure` stops the process.

/** The sync of the data file: calls `done` once, with an error if the disk did not confirm it. */
export type SyncFile = (done: (err?: Error | null) => void) => void;

/** What a waiter gets instead of its reply when the sync that would have covered it failed. */
export class SyncFailedError extends Error {
  readonly code = 'sync_failed';
  constructor(cause: Error) {
    super(`the data file's sync failed, so committed data may not be on disk: ${cause.message}`, { cause });
  }
}

/**
 * Whether a failed LMDB commit failed on the disk (a write or an fdatasync of the data file), not in
 * LMDB's own logic: lmdb-js sets an error's `code` to LMDB's return value, which is a positive errno
 * (EIO 5, ENOSPC 28, ...) for a failed system call and a negative MDB_* code (MDB_MAP_FULL, ...)
 * otherwise. Under LOYALTY_COMMIT=nometasync such a commit's fdatasync was also the one that carried
 * the previous commit's meta page, which may now never reach the disk while a later sync reports
 * success: the worker stops the process as it does for a failed group sync.
 */
export function failedOnDisk(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'number' && code > 0) || (typeof code === 'string' && /^E[A-Z]+$/.test(code));
}

interface Waiter { resolve: () => void; reject: (err: Error) => void }

export interface GroupSyncStats {
  /** Syncs started, and completed without error. */
  syncs: number; synced: number;
  /** Commits registered (committed()), and replies released. */
  commits: number; released: number;
  /** Waiters released by a later commit's own fdatasync rather than by a sync (committedAfterOwnSync). */
  coveredByCommits: number;
}

export class GroupSync {
  /** Commits and reads made since the running sync started (or while none runs): the next sync's. */
  private next: Waiter[] = [];
  /** What the running sync covers, in the order it was asked. */
  private covered: Waiter[] = [];
  private running = false;
  private failure: SyncFailedError | null = null;
  /** Whether a sync's start is deferred until the shard has nothing else in hand (committedAfterOwnSync). */
  private startDeferred = false;
  /** Set by the first committedAfterOwnSync: this shard's commits sync their own pages. */
  private ownSyncs = false;
  readonly stats: GroupSyncStats = { syncs: 0, synced: 0, commits: 0, released: 0, coveredByCommits: 0 };

  /**
   * `syncFile` syncs the environment's data file; `onFailure` is called once, with the first
   * failure, before any waiter hears of it (the worker stops the process there). `deferStart` runs a
   * sync's start once the thread has handled the tasks already in hand (setImmediate), so that under
   * committedAfterOwnSync a next commit can cover the waiters instead.
   */
  constructor(
    private readonly syncFile: SyncFile,
    private readonly onFailure: (err: SyncFailedError) => void,
    private readonly deferStart: (start: () => void) => void = setImmediate,
  ) {}

  /**
   * Called right after a commit returned: resolves once a sync that started after this call has
   * completed, which covers the commit. Starts that sync now when none is running.
   */
  committed(): Promise<void> {
    // After a failure nothing is synced again: the commit can never be answered as done.
    if (this.failure !== null) return Promise.reject(this.failure);
    this.stats.commits += 1;
    const waiting = this.enqueue(this.next);
    if (!this.running) this.start();
    return waiting;
  }

  /**
   * Called right after a commit that fdatasynced the data file itself before writing its own meta
   * page without a flush (LMDB's MDB_NOMETASYNC): that fdatasync started after every commit and read
   * registered before it, and carried their pages and meta pages to disk, so they are released now,
   * in the order they asked. This commit's own meta page waits for the next such commit or, once the
   * shard has nothing else in hand (the constructor's `deferStart`), for a sync.
   */
  committedAfterOwnSync(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.ownSyncs = true;
    this.stats.commits += 1;
    this.stats.coveredByCommits += this.covered.length + this.next.length;
    const released = this.covered.concat(this.next);
    this.covered = [];
    this.next = [];
    this.stats.released += released.length;
    for (const waiter of released) waiter.resolve();
    const waiting = this.enqueue(this.next);
    this.startSoon();
    return waiting;
  }

  /** Starts a sync for what waits in `next` once `deferStart` runs, unless a commit released it first. */
  private startSoon(): void {
    if (this.startDeferred) return;
    this.startDeferred = true;
    this.deferStart((): void => {
      this.startDeferred = false;
      if (!this.running && this.next.length > 0 && this.failure === null) this.start();
    });
  }

  /**
   * For a reply that wrote nothing (a read, a refused batch): resolves once everything committed
   * before this call is on disk, so that it neither reveals nor overtakes a commit that is not;
   * undefined when everything already is.
   */
  settled(): Promise<void> | undefined {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.next.length > 0) return this.enqueue(this.next);
    if (this.running) return this.enqueue(this.covered);
    return undefined;
  }

  /** Whether a commit is waiting for its sync. */
  get pending(): boolean {
    return this.next.length > 0 || this.covered.length > 0;
  }

  private enqueue(queue: Waiter[]): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => queue.push({ resolve, reject }));
  }

  private start(): void {
    this.running = true;
    this.covered = this.next;
    this.next = [];
    this.stats.syncs += 1;
    let answered = false;
    const done = (err?: Error | null): void => {
      if (answered) return;
      answered = true;
      this.finished(err ?? null);
    };
    try {
      this.syncFile(done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finished(err: Error | null): void {
    this.running = false;
    if (err !== null) {
      this.fail(err);
      return;
    }
    this.stats.synced += 1;
    const covered = this.covered;
    this.covered = [];
    this.stats.released += covered.length;
    for (const waiter of covered) waiter.resolve();
    if (this.next.length > 0 && this.failure === null) {
      // With commits that sync themselves, the next commit may cover what waits: start when idle.
      if (this.ownSyncs) this.startSoon();
      else this.start();
    }
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    const failure = new SyncFailedError(err);
    this.failure = failure;
    const lost = this.covered.concat(this.next);
    this.covered = [];
    this.next = [];
    this.onFailure(failure);
    for (const waiter of lost) waiter.reject(failure);
  }
}
