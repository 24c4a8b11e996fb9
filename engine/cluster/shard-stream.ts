// The JetStream stream that holds one shard's batch log in cluster mode: its name, its subject and
// its settings, passed explicitly (NATS's defaults change between versions), and the mapping
// between the stream's sequence and the log's.
import { DiscardPolicy, RetentionPolicy, StorageType, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { CLUSTER_DUPLICATE_WINDOW_MS, CLUSTER_LOG_VALUE_BYTES_MAX, CLUSTER_STREAM_REPLICAS, SHARDS_MAX } from '../limits.js';

/** The header that carries a message's log sequence, checked by every follower against the stream's. */
export const LOG_SEQ_HEADER = 'Loyalty-Log-Seq';

/** A deployment's name appears in stream names and subjects: letters, digits, `_` and `-` only. */
const DEPLOYMENT_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** One shard's stream: where its log is appended and read. */
export interface ShardStream {
  shard: number;
  name: string;
  subject: string;
}

export function shardStream(deployment: string, shard: number): ShardStream {
  if (!DEPLOYMENT_NAME.test(deployment)) throw new RangeError(`a deployment name is 1 to 32 letters, digits, _ or -, not ${JSON.stringify(deployment)}`);
  if (!Number.isInteger(shard) || shard < 0 || shard >= SHARDS_MAX) throw new RangeError(`shard ${shard} is outside 0..${SHARDS_MAX - 1}`);
  return { shard, name: `LOYALTY_${deployment}_SHARD_${shard}`, subject: `loyalty.${deployment}.log.${shard}` };
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

/**
 * The log sequence a stream message holds. A shard's stream starts with its log's first entry, so
 * the two are equal; a stream that begins part-way (an imported folder whose log was trimmed,
 * docs/cluster.md) would add a fixed offset here, which is not built yet.
 */
export function logSeqOfStreamSeq(streamSeq: number): number {
  return streamSeq;
}

export function streamSeqOfLogSeq(logSeq: number): number {
  return logSeq;
}
