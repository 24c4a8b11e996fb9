// The front end's handle on the reader thread: one Piscina pool per data folder, shared by its
// shard clients, that runs the queries which scan a shard (member search and listing, reports,
// exports, verify, storage figures) on read-only views, away from the shards' write threads.
import { Piscina } from 'piscina';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { READER_QUEUE_TASKS_MAX, READER_THREAD_NICE, READER_THREADS } from '../limits.js';
import { LoyaltyError } from '../errors.js';
import type { Query } from '../ops.js';
import type { ReaderTask, ReaderWorkerData } from '../shard-protocol.js';

/**
 * The queries the reader thread answers: those that read many members or entries. The rest (one
 * member, its ledger page or balance, an order, the directory at start, the outbox) are point reads
 * that cost a shard's thread microseconds, and stay there.
 */
const READER_QUERIES: ReadonlySet<Query['q']> = new Set(['members', 'referrals', 'daily', 'rfm', 'ledgerPage', 'ledgerEnd', 'verify', 'storage', 'couponReport', 'couponsPage', 'campaignReport', 'rewardReport', 'staffReport']);

export function answeredByReader(query: Query): boolean {
  return READER_QUERIES.has(query.q);
}

/** Piscina's message when its task queue is at `maxQueue` (piscina/dist/errors.js TaskQueueAtLimit). */
const PISCINA_QUEUE_FULL = 'Task queue is at limit';

export class ReaderClient {
  /** One reader per data folder in this process, and how many shard clients use it. */
  private static readonly shared = new Map<string, { reader: ReaderClient; users: number }>();

  private readonly pool: Piscina;

  private constructor(private readonly dataDir: string) {
    const workerData: ReaderWorkerData = { dataDir, nice: READER_THREAD_NICE };
    this.pool = new Piscina({
      filename: fileURLToPath(new URL('../shard/reader.js', import.meta.url)),
      minThreads: READER_THREADS,
      maxThreads: READER_THREADS,
      idleTimeout: Number.POSITIVE_INFINITY,
      maxQueue: READER_QUEUE_TASKS_MAX,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
      recordTiming: false,
      workerData,
    });
  }

  /** The data folder's reader, started by its first user. */
  static acquire(dataDir: string): ReaderClient {
    const key = resolve(dataDir);
    let entry = ReaderClient.shared.get(key);
    if (entry === undefined) {
      entry = { reader: new ReaderClient(key), users: 0 };
      ReaderClient.shared.set(key, entry);
    }
    entry.users += 1;
    return entry.reader;
  }

  /** Ends the reader once its last user lets go (its queued reads finish first). */
  async release(): Promise<void> {
    const entry = ReaderClient.shared.get(this.dataDir);
    if (entry === undefined || entry.reader !== this) return;
    entry.users -= 1;
    if (entry.users > 0) return;
    ReaderClient.shared.delete(this.dataDir);
    // Each thread's last task, run before Piscina terminates it: it closes the thread's views, and
    // it runs only once the thread has loaded its module. A thread terminated while Node was still
    // loading it (a reader started with the process and never asked anything, as the webhook
    // delivery thread's is when nobody subscribes, and a short-lived server stopped) aborted the
    // whole process with V8's fatal "IsGraphAsync must be used on an instantiated module".
    await Promise.allSettled(Array.from({ length: READER_THREADS }, () => this.pool.run({ close: true } satisfies ReaderTask)));
    await this.pool.close();
  }

  /** A full queue is back-pressure, answered as `overloaded` (HTTP 503 with Retry-After), as for a shard. */
  async query(shardId: number, query: Query): Promise<unknown> {
    const task: ReaderTask = { shardId, query };
    try {
      return await this.pool.run(task);
    } catch (err) {
      if (err instanceof Error && err.message === PISCINA_QUEUE_FULL) throw new LoyaltyError('overloaded', 'the reader thread\'s queue is full');
      throw err;
    }
  }
}
