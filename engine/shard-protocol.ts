// The messages between the router and a shard worker: what the worker is started with, the tasks
// it is sent (moved or cloned across the thread boundary) and what a write batch answers.
import type { Control, OpResult, Query, WriteOp } from './ops.js';
import type { ImportRows } from './import-rows.js';
import type { OutboxMessage } from './rules/member-state.js';

export interface ShardWorkerData { shardId: number; dataDir: string; mapBytes?: number }
export type ShardTask =
  | { type: 'batch'; ops: WriteOp[] } | { type: 'import'; rows: ImportRows }
  | { type: 'query'; query: Query } | { type: 'control'; control: Control };

/** What the reader thread (engine/shard/reader.ts) is started with: the data folder and its nice value. */
export interface ReaderWorkerData { dataDir: string; nice: number }
/** A read that scans, answered by the reader thread from its read-only view of shard `shardId`. */
export interface ReaderTask { shardId: number; query: Query }

export interface BatchReply { results: OpResult[]; outbox: Array<[number, OutboxMessage]> }

/** A shard's part of the phone/email directory: phones[i] is held by phoneOwners[i], and so on. */
export interface DirectoryPart { phones: string[]; phoneOwners: string[]; emails: string[]; emailOwners: string[] }
