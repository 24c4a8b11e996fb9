// Replays a shard's batch log into a store: each logged task runs again through the shard's own
// commit path (machine.ts: BatchExecutor.apply, importBatch, the sweep slice, the program change,
// the outbox removal), in log order, one transaction per entry, and must give the logged checksum.
// From an empty store this rebuilds the shard; from a restored copy it carries it forward to a
// chosen entry or moment (point-in-time recovery); with `rewrite` it runs the history changed (what-if).
import type { Transaction } from 'lmdb';
import { loadCore } from '../core/wasm.js';
import { decodeLogHeader, decodeLogValue, logPosition, logValues, LogFormatError, type LoggedKind, type LoggedTask, type LogHeader } from './batch-log.js';
import { LogReplayError, ShardMachine } from './machine.js';
import type { ShardStore } from './store.js';

export { LogReplayError } from './machine.js';

/** Where logged entries come from: a shard's log, in sequence order. */
export interface LogSource {
  readonly shardId: number;
  /** The raw log values from `fromSeq` on, in order (engine/shard/batch-log.ts). */
  values(fromSeq: number): Iterable<[number, Uint8Array]>;
}

/** A shard store's own log as a source, read in `transaction` when given (a consistent snapshot of a live shard). */
export function storeLogSource(store: ShardStore, shardId: number, transaction?: Transaction): LogSource {
  return { shardId, values: (fromSeq) => logValues(store, fromSeq, Number.MAX_SAFE_INTEGER, transaction) };
}

export interface ReplayedBatch { seq: number; kind: LoggedKind; ops: number; committedAtMs: number }

export interface ReplayOptions {
  /** The last log entry to replay (inclusive). */
  untilBatch?: number;
  /** Entries committed after this moment (ms since epoch) are not replayed. */
  untilMs?: number;
  /** Called after each replayed entry is committed. */
  onBatch?: (batch: ReplayedBatch) => void;
  /**
   * Replaces each logged task before it runs (a what-if under another program). The checksums and
   * program versions are then not compared, and the target logs the tasks as they ran.
   */
  rewrite?: (task: LoggedTask, header: LogHeader, seq: number) => LoggedTask;
}

export interface ReplayResult {
  shard: number;
  /** The target's log position before and after the replay. */
  fromSeq: number;
  lastSeq: number;
  batches: number;
  ops: number;
  stoppedBy: 'end' | 'untilBatch' | 'untilMs';
}

/**
 * Replays `source` into `target` from the entry after the target's own log position, so an empty
 * store starts at entry 1 and a restored copy at the entry after the copy's. A gap (entries the
 * source no longer has) or a checksum that differs stops the replay with a LogReplayError naming
 * the shard and the entry; the entries before it stay committed in the target.
 */
export function replayShard(source: LogSource, target: ShardStore, options: ReplayOptions = {}): ReplayResult {
  const shard = source.shardId;
  const machine = new ShardMachine(target, loadCore(), shard, { log: true });
  const fromSeq = logPosition(target).seq;
  let next = fromSeq + 1;
  let batches = 0;
  let ops = 0;
  let stoppedBy: ReplayResult['stoppedBy'] = 'end';
  for (const [seq, value] of source.values(next)) {
    if (seq !== next) {
      throw new LogReplayError(shard, next, 'sequence', next === fromSeq + 1
        ? `the log starts at entry ${seq} but the replay needs entry ${next}: the entries before ${seq} were trimmed, so start from a backup taken at entry ${seq - 1} or later`
        : `entry ${next} is missing from the log (the next one is ${seq})`);
    }
    let header: LogHeader;
    try {
      header = decodeLogHeader(value);
    } catch (err) {
      if (err instanceof LogFormatError) throw new LogReplayError(shard, seq, 'format', err.message);
      throw err;
    }
    if (options.untilBatch !== undefined && seq > options.untilBatch) { stoppedBy = 'untilBatch'; break; }
    if (options.untilMs !== undefined && header.committedAtMs > options.untilMs) { stoppedBy = 'untilMs'; break; }
    let task: LoggedTask;
    try {
      task = decodeLogValue(seq, value).task;
    } catch (err) {
      if (err instanceof LogFormatError) throw new LogReplayError(shard, seq, 'format', err.message);
      throw err;
    }
    try {
      if (options.rewrite !== undefined) machine.run(options.rewrite(task, header, seq), header.committedAtMs);
      else machine.run(task, header.committedAtMs, { seq, header, value });
    } catch (err) {
      // A broken invariant or an error of the entry's own: it names the entry like any divergence.
      if (err instanceof LogReplayError) throw err;
      throw new LogReplayError(shard, seq, 'execution', `a ${header.kind} that fails to run: ${err instanceof Error ? err.message : String(err)}`);
    }
    batches += 1;
    ops += header.ops;
    next = seq + 1;
    options.onBatch?.({ seq, kind: header.kind, ops: header.ops, committedAtMs: header.committedAtMs });
  }
  if (stoppedBy === 'end' && options.untilBatch !== undefined && next - 1 < options.untilBatch) {
    throw new LogReplayError(shard, next, 'sequence', `the log ends at entry ${next - 1}, before entry ${options.untilBatch}`);
  }
  return { shard, fromSeq, lastSeq: next - 1, batches, ops, stoppedBy };
}
