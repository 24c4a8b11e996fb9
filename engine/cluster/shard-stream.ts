// The JetStream stream that holds one shard's batch log in cluster mode: its name, its subject and
// its settings, passed explicitly (NATS's defaults change between versions), and the mapping
// between the stream's sequence and the log's, which a base message at the stream's start offsets
// for a folder imported with a trimmed log, and which a trimmed stream's first remaining message
// carries in its header (docs/cluster.md, "Stream sequence and log sequence", "Trimming the streams").
import { DiscardPolicy, RetentionPolicy, StorageType, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { BASE_RECORD_BYTES_MAX, CLUSTER_DUPLICATE_WINDOW_MS, CLUSTER_LOG_VALUE_BYTES_MAX, CLUSTER_STREAM_REPLICAS, MAPPING_READ_ATTEMPTS, SHARDS_MAX } from '../limits.js';

/** The header that carries a message's log sequence, checked by every follower against the stream's. */
export const LOG_SEQ_HEADER = 'Loyalty-Log-Seq';

/** A deployment's name appears in stream names and subjects: letters, digits, `_` and `-` only. */
const DEPLOYMENT_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** One shard's stream: where its log is appended and read. */
export interface ShardStream {
  deployment: string;
  shard: number;
  name: string;
  subject: string;
}

export function shardStream(deployment: string, shard: number): ShardStream {
  if (!DEPLOYMENT_NAME.test(deployment)) throw new RangeError(`a deployment name is 1 to 32 letters, digits, _ or -, not ${JSON.stringify(deployment)}`);
  if (!Number.isInteger(shard) || shard < 0 || shard >= SHARDS_MAX) throw new RangeError(`shard ${shard} is outside 0..${SHARDS_MAX - 1}`);
  return { deployment, shard, name: `LOYALTY_${deployment}_SHARD_${shard}`, subject: `loyalty.${deployment}.log.${shard}` };
}

/**
 * The stream's settings. Limits retention that never drops an entry on its own (no age, count or
 * size limit; a full stream refuses new appends rather than discarding old ones): a follower must
 * find every entry it has not applied. Trimming is a deliberate purge (docs/cluster.md).
 */
export function shardStreamConfig(stream: ShardStream): Partial<StreamConfig> & { name: string } {
  return {
    name: stream.name,
    subjects: [stream.subject],
    num_replicas: CLUSTER_STREAM_REPLICAS,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.New,
    max_age: 0,
    max_msgs: -1,
    max_bytes: -1,
    max_msgs_per_subject: -1,
    max_msg_size: CLUSTER_LOG_VALUE_BYTES_MAX,
    // Nanoseconds, as the JetStream API counts durations.
    duplicate_window: CLUSTER_DUPLICATE_WINDOW_MS * 1_000_000,
    allow_direct: true,
    deny_delete: true,
    deny_purge: false,
  };
}

/** Creates the shard's stream, or checks that the existing one has the settings that safety rests on. */
export async function ensureShardStream(jsm: JetStreamManager, stream: ShardStream): Promise<StreamInfo> {
  const config = shardStreamConfig(stream);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(stream.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    return jsm.streams.add(config);
  }
  const c = info.config;
  if (c.num_replicas !== config.num_replicas || c.discard !== config.discard || c.retention !== config.retention || c.max_age !== 0 || c.max_msgs !== -1) {
    throw new Error(`stream ${stream.name} exists with other settings than a shard's log needs (replicas ${c.num_replicas}, discard ${c.discard}, retention ${c.retention})`);
  }
  return info;
}

/** The headers of a stream's base message: the log position the stream starts after, and the backup that holds it. */
export const BASE_AFTER_HEADER = 'Loyalty-Base-After';
export const BASE_BACKUP_HEADER = 'Loyalty-Base-Backup';

/**
 * What a stream's base message says: the stream begins after log entry `afterLogSeq` (a trimmed
 * log's first entry less one), and `backup` names the backup a node's copy starts from.
 */
export interface StreamBase { afterLogSeq: number; backup: string }

/**
 * How a stream's sequences map to the log's. A shard's stream starts with its log's first entry
 * (no base: the two are equal), or with a base message standing for log position
 * `base.afterLogSeq`, after which log entry k is stream message k − afterLogSeq + 1 (k − f + 2 for
 * a log whose first entry is f). A trimmed stream (its first messages purged) starts after the
 * entry before its first remaining message: `base` says that position and the backup recorded by
 * the trim, and `offset` the fixed difference log − stream sequence, which the purge left as it was.
 * Without `offset` the difference is a base message's, afterLogSeq − 1, or 0 without a base.
 */
export interface StreamMapping { base: StreamBase | null; offset?: number }

/** The mapping of a stream without a base message: stream message k is log entry k. */
export const IDENTITY_MAPPING: StreamMapping = Object.freeze({ base: null });

/** Log sequence less stream sequence, the same for every message of the stream. */
function offsetOf(mapping: StreamMapping): number {
  return mapping.offset ?? (mapping.base === null ? 0 : mapping.base.afterLogSeq - 1);
}

/** A node's copy is before the log position a stream starts at: it cannot follow the stream, and needs a backup. */
export class CopyBehindStreamBaseError extends Error {
  readonly code = 'copy_behind_stream_base';
  /** `divergedAt`: the copy differs from the stream at that entry, and its rebuild would start from an empty copy. */
  constructor(readonly shard: number, readonly copySeq: number, readonly base: StreamBase, readonly divergedAt?: number) {
    super(`shard ${shard}: ${divergedAt === undefined ? `this node's copy is at log entry ${copySeq}` : `this node's copy differs from the stream at log entry ${divergedAt} and a rebuild would start from an empty copy`}, ` +
      `but the shard's stream starts after entry ${base.afterLogSeq} (the entries before were trimmed, from the folder it was imported from or from the stream): ` +
      `${base.backup === '' ? `restore a backup at entry ${base.afterLogSeq} or later (no trim recorded one)` : `restore the backup ${JSON.stringify(base.backup)}`} (loyalty restore BACKUP --data DIR), or copy any folder of this deployment at entry ${base.afterLogSeq} or later, ` +
      `into this node's folder before starting it`);
  }
}

/** The log sequence stream message `streamSeq` holds (for the base message, the position it stands for). */
export function logSeqOfStreamSeq(streamSeq: number, mapping: StreamMapping): number {
  return streamSeq + offsetOf(mapping);
}

/**
 * The stream sequence of log entry `logSeq`. A stream with a base has no message for an entry
 * before its base: a caller checks the copy with `requireAtBase` first, so reaching one is a bug.
 */
export function streamSeqOfLogSeq(logSeq: number, mapping: StreamMapping): number {
  if (mapping.base !== null && logSeq < mapping.base.afterLogSeq) throw new RangeError(`log entry ${logSeq} is before the stream's base (entry ${mapping.base.afterLogSeq})`);
  return logSeq - offsetOf(mapping);
}

/** Refuses a copy at log position `copySeq` that is before the stream's base: the entries between are in no stream. */
export function requireAtBase(shard: number, copySeq: number, mapping: StreamMapping): void {
  if (mapping.base !== null && copySeq < mapping.base.afterLogSeq) throw new CopyBehindStreamBaseError(shard, copySeq, mapping.base);
}

/** The base a stream's first message declares, from its headers, or null for a message that is a log value. */
export function baseOfMessage(headers: { get(key: string): string } | undefined): StreamBase | null {
  const after = headers?.get(BASE_AFTER_HEADER) ?? '';
  if (after === '') return null;
  const afterLogSeq = Number(after);
  if (!Number.isSafeInteger(afterLogSeq) || afterLogSeq < 1) throw new Error(`a stream's base message names log position ${JSON.stringify(after)}, not a positive entry number`);
  return { afterLogSeq, backup: headers?.get(BASE_BACKUP_HEADER) ?? '' };
}

/**
 * The small stream where `loyalty cluster trim` records, per shard, the position a trimmed stream
 * starts after and the backup to restore (the last record of a shard's subject is the one that counts):
 * a purge removes the stream's first messages, and none of the remaining ones can be rewritten to say it.
 */
export function basesStream(deployment: string): { name: string; subjectOf: (shard: number) => string } {
  if (!DEPLOYMENT_NAME.test(deployment)) throw new RangeError(`a deployment name is 1 to 32 letters, digits, _ or -, not ${JSON.stringify(deployment)}`);
  return { name: `LOYALTY_${deployment}_BASES`, subjectOf: (shard) => `loyalty.${deployment}.base.${shard}` };
}

/** The bases stream's settings: one record kept per shard's subject, replicated as the shards' streams are. */
export function basesStreamConfig(deployment: string): Partial<StreamConfig> & { name: string } {
  const bases = basesStream(deployment);
  return {
    name: bases.name,
    subjects: [bases.subjectOf(0).replace(/\.0$/, '.*')],
    num_replicas: CLUSTER_STREAM_REPLICAS,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: 1,
    max_msg_size: BASE_RECORD_BYTES_MAX,
  };
}

/** The base the trim recorded for a shard, or null when no trim recorded one (or the bases stream does not exist). */
export async function readRecordedBase(jsm: JetStreamManager, deployment: string, shard: number): Promise<StreamBase | null> {
  const bases = basesStream(deployment);
  try {
    const record = await jsm.streams.getMessage(bases.name, { last_by_subj: bases.subjectOf(shard) });
    return record === null ? null : baseOfMessage(record.header);
  } catch (err) {
    if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.NoMessageFound)) return null;
    throw err;
  }
}

/**
 * The stream's mapping, read from its first message; `settled` is false while the stream is empty
 * (identity until its first message lands), and the caller reads it again then rather than keep it.
 * A first message that is stream message 1 decides as it always did (a base message, or a log
 * value: the identity). A first message past 1 is what a trim left: its `Loyalty-Log-Seq` header
 * gives the offset, the stream starts after the entry before it, and the trim's record names the
 * backup (a record for an earlier position than that would name a backup too old to follow from).
 */
export async function readStreamMapping(jsm: JetStreamManager, stream: ShardStream): Promise<{ mapping: StreamMapping; settled: boolean }> {
  // A trim may purge between the stream's state and the read of its first message: read both again then.
  for (let attempt = 0; ; attempt++) {
    const state = (await jsm.streams.info(stream.name)).state;
    if (state.messages === 0 && state.last_seq === 0) return { mapping: IDENTITY_MAPPING, settled: false };
    if (state.messages === 0) throw new Error(`stream ${stream.name} holds no message but has held ${state.last_seq}: it was purged whole, outside \`loyalty cluster trim\`, and no message says how its sequences map to shard ${stream.shard}'s log`);
    const first = await jsm.streams.getMessage(stream.name, { seq: state.first_seq });
    if (first === null) {
      if (attempt < MAPPING_READ_ATTEMPTS) continue;
      throw new Error(`stream ${stream.name}'s first message ${state.first_seq} went away ${MAPPING_READ_ATTEMPTS + 1} times while being read`);
    }
    const base = baseOfMessage(first.header);
    if (first.seq === 1) return { mapping: base === null ? IDENTITY_MAPPING : { base }, settled: true };
    if (base !== null) throw new Error(`stream ${stream.name} has a base message at sequence ${first.seq}: a base is only ever a stream's first message`);
    const logSeq = Number(first.header?.get(LOG_SEQ_HEADER) ?? '');
    if (!Number.isSafeInteger(logSeq) || logSeq < first.seq) {
      throw new Error(`stream ${stream.name}'s first message ${first.seq} does not carry a log sequence in ${LOG_SEQ_HEADER} at or after its own: the mapping of a trimmed stream cannot be read`);
    }
    const afterLogSeq = logSeq - 1;
    const recorded = await readRecordedBase(jsm, stream.deployment, stream.shard);
    const backup = recorded !== null && recorded.afterLogSeq >= afterLogSeq ? recorded.backup : '';
    return { mapping: { base: { afterLogSeq, backup }, offset: logSeq - first.seq }, settled: true };
  }
}
