// The server's what-ifs (`POST /v1/admin/what-if`): each runs on one thread of its own at a lower
// CPU priority (engine/history/what-if-worker.ts), one at a time, and is answered at once with a
// job id; `GET /v1/admin/what-if/{id}` shows its progress and, once done, its report. Jobs live
// in memory: a restart forgets them (a what-if changes nothing, so it is simply asked again).
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoyaltyError } from '../errors.js';
import { WHAT_IF_JOBS_KEPT } from '../limits.js';
import type { WhatIfReport, WhatIfRequest, WhatIfTask } from '../rules/what-if-report.js';

/**
 * The what-if thread's nice value: the reader thread's, so that while both cores are busy the
 * replay takes what the shards and the front end leave (a replay is minutes, a purchase must be ms).
 */
const WHAT_IF_NICE = 10;
/**
 * The what-if thread replays for WHAT_IF_WORK_MS, then pauses (LOYALTY_WHAT_IF_PAUSE_MS, default
 * WHAT_IF_PAUSE_MS_DEFAULT): at most half a core, and the disk left to the shards' commits between
 * slices, while the kernel writes the scratch copies' pages out.
 */
const WHAT_IF_WORK_MS = 20;
export const WHAT_IF_PAUSE_MS_DEFAULT = 20;
/** Bytes of the shared counters: three 64-bit integers (entries replayed, entries to replay, cancel). */
const PROGRESS_BYTES = 24;
/**
 * How long a stop waits for a running what-if to end by itself (it checks between entries, so
 * within one entry's replay; its scratch copies are made before the first, in one go) before the
 * thread is terminated anyway.
 */
const WHAT_IF_CANCEL_WAIT_MS = 10_000;
/** The thread is let go this long after a what-if ends, so a second what-if soon after starts at once. */
const WHAT_IF_THREAD_IDLE_MS = 60_000;

export interface WhatIfJobView {
  id: string;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  /** Log entries replayed, of those to replay (the latter known once the logs are opened; 0 before). */
  progress: { batches: number; totalBatches: number };
  request: { from: string | null; to: string | null };
  result: WhatIfReport | null;
  error: { message: string } | null;
}

interface Job {
  id: string;
  startedAtMs: number;
  finishedAtMs: number | null;
  progress: BigInt64Array;
  request: WhatIfRequest;
  result: WhatIfReport | null;
  error: string | null;
  /** The folder the thread makes its scratch copies in, removed here: also when a stop ends the thread mid-way. */
  scratchParent: string;
  /** Settles once the thread's task has (its result or error recorded, its scratch folder removed). */
  settled: Promise<void>;
}

export class WhatIfJobs {
  private pool: Piscina | null = null;
  private readonly jobs = new Map<string, Job>();
  private running: Job | null = null;

  constructor(private readonly dataDir: string, private readonly now: () => number, private readonly pauseMs = WHAT_IF_PAUSE_MS_DEFAULT) {}

  private poolOf(): Piscina {
    this.pool ??= new Piscina({
      filename: fileURLToPath(new URL('../history/what-if-worker.js', import.meta.url)),
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: WHAT_IF_THREAD_IDLE_MS,
      maxQueue: 1,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
      recordTiming: false,
    });
    return this.pool;
  }

  /** Starts a what-if; refused with `what_if_running` while another runs. */
  start(request: WhatIfRequest): WhatIfJobView {
    if (this.running !== null) throw new LoyaltyError('what_if_running', `what-if ${this.running.id} is still running; ask GET /v1/admin/what-if/${this.running.id}`);
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    const job: Job = {
      id: 'wi_' + randomBytes(8).toString('hex'), startedAtMs: this.now(), finishedAtMs: null,
      progress: new BigInt64Array(progress), request, result: null, error: null,
      scratchParent: mkdtempSync(join(tmpdir(), 'loyalty-what-if-job-')),
      settled: Promise.resolve(),
    };
    const task: WhatIfTask = {
      ...request, dataDir: this.dataDir, scratchParent: job.scratchParent, progress, nice: WHAT_IF_NICE,
      pace: { workMs: WHAT_IF_WORK_MS, pauseMs: this.pauseMs },
    };
    this.running = job;
    this.keep(job);
    job.settled = this.poolOf().run(task).then((report: WhatIfReport) => {
      job.result = report;
    }, (err: unknown) => {
      job.error = err instanceof Error ? err.message : String(err);
    }).finally(() => {
      job.finishedAtMs = this.now();
      rmSync(job.scratchParent, { recursive: true, force: true });
      if (this.running === job) this.running = null;
    });
    return this.view(job);
  }

  /** A job's progress and, once done, its report; null for an id this server does not know (or no longer keeps). */
  get(id: string): WhatIfJobView | null {
    const job = this.jobs.get(id);
    return job === undefined ? null : this.view(job);
  }

  private keep(job: Job): void {
    this.jobs.set(job.id, job);
    // The oldest finished jobs go first; the running one is always kept.
    for (const old of this.jobs.values()) {
      if (this.jobs.size <= WHAT_IF_JOBS_KEPT) break;
      if (old !== this.running) this.jobs.delete(old.id);
    }
  }

  private view(job: Job): WhatIfJobView {
    const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
    return {
      id: job.id,
      state: job.finishedAtMs === null ? 'running' : job.error === null ? 'done' : 'failed',
      startedAt: iso(job.startedAtMs)!,
      finishedAt: iso(job.finishedAtMs),
      progress: { batches: Number(Atomics.load(job.progress, 0)), totalBatches: Number(Atomics.load(job.progress, 1)) },
      request: { from: iso(job.request.fromMs), to: iso(job.request.toMs) },
      result: job.result,
      error: job.error === null ? null : { message: job.error },
    };
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    const running = this.running;
    if (running !== null) {
      // Asked to end between two entries, with its stores closed, rather than terminated in the
      // middle of a transaction (see engine/history/what-if.ts WhatIfOptions.cancelled).
      Atomics.store(running.progress, 2, 1n);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running.settled, new Promise((resolve) => { timer = setTimeout(resolve, WHAT_IF_CANCEL_WAIT_MS); })]);
      clearTimeout(timer);
    }
    if (pool !== null) await pool.destroy();
    // A what-if the stop ended mid-way left its scratch copies; its task's rejection removes them
    // too, but only on a later turn of the event loop, which a stopping process may not give.
    if (this.running !== null) rmSync(this.running.scratchParent, { recursive: true, force: true });
  }
}
