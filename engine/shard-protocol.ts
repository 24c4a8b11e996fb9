// The messages between the router and a shard worker: what the worker is started with, the tasks
// it is sent (moved or cloned across the thread boundary) and what a write batch answers.
import type { Control, OpResult, Query, WriteOp } from './ops.js';
import type { ImportRows } from './import-rows.js';
import type { OutboxMessage } from './rules/member-state.js';

/** The bytes of the commit clock every shard of a process shares: one signed 64-bit count of microseconds. */
export const COMMIT_CLOCK_BYTES = 8;

/**
 * How a shard thread's error message starts when its stream refused an append (fence_refused):
 * another node wrote the stream, so this node's owner is stale. An error crosses the thread boundary
 * as its message only, so the router recognises it by this mark, answers the task's writes with a
 * retryable refusal and steps the whole node down (engine/router/shard-client.ts).
 */
export const STALE_OWNER_MARK = 'stale_owner:';

export interface ShardWorkerData {
  shardId: number; dataDir: string; mapBytes?: number;
  /** The commit clock every shard of the process shares (engine/shard/commit-clock.ts). */
  commitClock?: SharedArrayBuffer;
  /**
   * Cluster mode (docs/cluster.md): the shard starts as a standby that follows its stream, with the
   * settings of LOYALTY_NATS. Set by the engine of a cluster node only: a command-line tool that
   * opens the data folder beside it (verify, export) never follows or appends.
   */
  cluster?: boolean;
  /**
   * Cluster mode: one Int32 cell in which the shard's standby writes, at each follow turn, how many
   * log entries its copy lags the stream (-1 until its first turn), so that the election reads it
   * without asking the thread (engine/cluster/owner-election.ts).
   */
  followLag?: SharedArrayBuffer;
}
/**
 * A task as the shard thread receives it. A write batch travels as its ops packed into one moved
 * buffer (engine/batch-records.ts, `WriteOp[]`), and its BatchReply comes back the same way
 * (PackedBatchReply).
 */
export type ShardTask =
  | { type: 'batch'; packedOps: Uint8Array; resultsPacked: boolean } | { type: 'import'; rows: ImportRows }
  | { type: 'query'; query: Query } | { type: 'control'; control: Control };

/** What the reader thread (engine/shard/reader.ts) is started with: the data folder and its nice value. */
export interface ReaderWorkerData { dataDir: string; nice: number }
/**
 * A read that scans, answered by the reader thread from its read-only view of shard `shardId`; or
 * `close`, the last task a reader thread takes before it is let go: its views closed, and proof
 * that its module finished loading (a thread terminated while Node was still loading it aborted
 * the whole process with V8's fatal "IsGraphAsync must be used on an instantiated module").
 */
export type ReaderTask = { shardId: number; query: Query } | { close: true };

/**
 * `couponCounts`: the coupons the batch issued per template, when it issued any (engine/router/coupon-gate.ts
 * counts them); `rewardCounts`: per reward, the units the batch took (cancellations negative) and
 * restocked, when it moved any (engine/router/reward-gate.ts counts them).
 */
export interface BatchReply { results: OpResult[]; outbox: Array<[number, OutboxMessage]>; couponCounts?: Record<string, number>; rewardCounts?: Record<string, [number, number]> }

/**
 * A write batch's BatchReply as it crosses back (packed by engine/batch-records.ts). When the batch
 * asked for `resultsPacked` (it holds ops of stream batches), its results are one msgpack array in
 * the stream's own encoding (packResults), which the main thread splices into acks without decoding
 * them; otherwise they are records like the rest, which pack and unpack ~2.5× faster as objects
 * (an HTTP op's result is always read as one).
 */
export type PackedBatchReply = Omit<BatchReply, 'results'> & { results: Uint8Array | OpResult[] };

/** A shard's part of the phone/email directory: phones[i] is held by phoneOwners[i], and so on. */
export interface DirectoryPart { phones: string[]; phoneOwners: string[]; emails: string[]; emailOwners: string[] }

/** What a shard's `backup` control answers (engine/shard/shard-backup.ts): its copy's size and time. */
export interface ShardCopyReply { shard: number; bytes: number; copyMs: number }

/** What a shard's `compact` control answers (engine/shard/compaction.ts): the data file's size before and after, and the times. */
export interface CompactionReport {
  shard: number;
  bytesBefore: number;
  bytesAfter: number;
  /** The compacting copy; then the close, reopen, renames and syncs of the swap, while the shard's tasks wait. */
  copyMs: number;
  swapMs: number;
}

/**
 * Where a backup's copy of a shard stands in its batch log: its last entry (0: none), that entry's
 * commit time, and whether the shard ever ran with the log off (then its log cannot carry the copy).
 */
export interface CopyPosition { batch: number; committedAtMs: number | null; unlogged: boolean }

/** A copy carried forward to the backup's point: where it stands, what it holds, how many entries it took. */
export interface SealedCopy { shard: number; batch: number; checksum: string | null; committedAtMs: number | null; members: number; replayed: number }

/** A file's size and SHA-256 (hex). */
export interface FileDigest { bytes: number; sha256: string }

/** What the backup's own thread (engine/shard/backup-seal-worker.ts) is asked, and answers. */
export type SealRequest =
  /**
   * Watches a copy's data file being started: the time from its creation to its two meta pages
   * written, which LMDB writes holding the shard's writer lock (null: not seen within the bound).
   */
  | { kind: 'watch'; file: string }
  | { kind: 'positions'; dirs: string[] }
  | { kind: 'finish'; copies: Array<{ shard: number; dir: string; entries: Array<[number, Uint8Array]> }>; files: string[] };
export type SealReply = number | null | CopyPosition[] | { copies: SealedCopy[]; digests: FileDigest[] };
