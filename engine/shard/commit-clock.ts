// The clock that stamps each batch-log entry with its commit time, shared by every shard worker of
// one server process through a SharedArrayBuffer. Its readings are strictly increasing across all
// shards (a microsecond past the last one when the wall clock has not moved, or moved back), so an
// entry that caused another one on another shard (a transfer's outbox message and its credit, a
// registration and the referee registered under it) always has the earlier time. A point in time
// then cuts every shard's history consistently: point-in-time recovery (engine/history/restore.ts)
// replays each shard up to the same instant, and `--until-batch SHARD:N` is the instant of entry N.
//
// It is read by the worker (engine/shard/worker.ts), outside the commit path: the executor never
// reads it, and a replay writes the logged time again.
import { decodeLogHeader, logPosition } from './batch-log.js';
import type { ShardStore } from './store.js';
import { COMMIT_CLOCK_BYTES } from '../shard-protocol.js';

const US_PER_MS = 1000;

export class CommitClock {
  private readonly cell: BigInt64Array;

  /** A clock over `buffer` (shared by the shards of one process); a private one when none is given. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(COMMIT_CLOCK_BYTES)) {
    this.cell = new BigInt64Array(buffer, 0, 1);
  }

  /**
   * The commit time of a task that starts when the wall clock reads `nowMs`: `nowMs` to the
   * microsecond, or a microsecond past the last time any shard was given, whichever is later.
   * In ms since the epoch; distinct microseconds stay distinct numbers (a double holds them exactly
   * to a quarter of a microsecond at today's dates).
   */
  next(nowMs: number): number {
    const nowUs = BigInt(Math.round(nowMs * US_PER_MS));
    for (;;) {
      const last = Atomics.load(this.cell, 0);
      const next = nowUs > last ? nowUs : last + 1n;
      if (Atomics.compareExchange(this.cell, 0, last, next) === last) return Number(next) / US_PER_MS;
    }
  }

  /** Moves the clock to at least `ms` (a shard's last logged commit at start), never back. */
  raise(ms: number): void {
    const us = BigInt(Math.ceil(ms * US_PER_MS));
    for (;;) {
      const last = Atomics.load(this.cell, 0);
      if (last >= us || Atomics.compareExchange(this.cell, 0, last, us) === last) return;
    }
  }
}

/** The commit time of a shard's last log entry, or null when its log is empty. */
export function lastCommittedAtMs(store: ShardStore): number | null {
  const seq = logPosition(store).seq;
  const value = seq === 0 ? undefined : store.log.getBinary(seq);
  return value === undefined ? null : decodeLogHeader(value).committedAtMs;
}
