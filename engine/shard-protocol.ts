// The messages between the router and a shard worker: what the worker is started with, the tasks
// it is sent (moved or cloned across the thread boundary) and what a write batch answers.
import type { Control, OpResult, Query, WriteOp } from './ops.js';
import type { ImportRows } from './import-rows.js';
import type { OutboxMessage } from './rules/member-state.js';

/** The bytes of the commit clock every shard of a process shares: one signed 64-bit count of microseconds. */
export const COMMIT_CLOCK_BYTES = 8;

export interface ShardWorkerData {
  shardId: number; dataDir: string; mapBytes?: number;
  /** The commit clock every shard of the process shares (engine/shard/commit-clock.ts). */
  commitClock?: SharedArrayBuffer;
}
export type ShardTask =
  | { type: 'batch'; ops: WriteOp[] } | { type: 'import'; rows: ImportRows }
  | { type: 'query'; query: Query } | { type: 'control'; control: Control };

export interface BatchReply { results: OpResult[]; outbox: Array<[number, OutboxMessage]> }

/** A shard's part of the phone/email directory: phones[i] is held by phoneOwners[i], and so on. */
export interface DirectoryPart { phones: string[]; phoneOwners: string[]; emails: string[]; emailOwners: string[] }
