// A follower of one shard in cluster mode (docs/cluster.md): reads the shard's stream from the entry after its own copy's log
// position and applies each value into its copy through the replay path (engine/shard/replay.ts),
// which runs the task again through the shard's own commit path and refuses a value whose checksum
// differs from what the copy produced. A follower's copy is the owner's books, proved entry by entry.
import type { MsgHdrs, NatsConnection } from '@nats-io/nats-core';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_APPEND_RETRY_MS, CLUSTER_FOLLOW_DEADLINE_MS, CLUSTER_FOLLOW_FETCH_ENTRIES_MAX, CLUSTER_FOLLOW_FETCH_WAIT_MS } from '../limits.js';
import { logPosition } from './batch-log.js';
import { LogReplayError } from './machine.js';
import { replayShard, type LogSource } from './replay.js';
import type { ShardStore } from './store.js';
import { LOG_SEQ_HEADER, logSeqOfStreamSeq, readStreamMapping, requireAtBase, streamSeqOfLogSeq, type ShardStream, type StreamMapping } from '../cluster/shard-stream.js';

/** What one catch-up did: the copy's log position before and after, and the entries applied. */
export interface CatchUp { fromSeq: number; lastSeq: number; applied: number }

/**
 * Runs a request to the stream again while it fails, until CLUSTER_FOLLOW_DEADLINE_MS: after a
 * server died, the stream's leader and the meta leader that creates consumers may both be electing.
 */
async function persistently<T>(what: string, request: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + CLUSTER_FOLLOW_DEADLINE_MS;
  for (;;) {
    try {
      return await request();
    } catch (err) {
      if (Date.now() + CLUSTER_APPEND_RETRY_MS > deadline) throw new Error(`${what}: no answer within ${CLUSTER_FOLLOW_DEADLINE_MS} ms: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, CLUSTER_APPEND_RETRY_MS));
    }
  }
}

/** A message of the shard's stream as the follower reads it: delivered by its consumer or fetched by sequence. */
export interface StreamMessage { seq: number; headers?: MsgHdrs; data: Uint8Array }

export interface ShardFollowerOptions {
  /**
   * Stands between the consumer and the follower, so that a test can drop or repeat a delivered
   * message deterministically (what a replica that has not caught up, or a redelivery, does).
   * Without it the follower reads what the consumer delivers.
   */
  delivered?: (messages: AsyncIterable<StreamMessage>) => AsyncIterable<StreamMessage>;
  /**
   * The stream's mapping of sequences when the caller has read it already (its ReplicatedLog keeps
   * it); without it the follower reads it from the stream's first message.
   */
  mapping?: StreamMapping;
}

/** The log entry a stream message carries, after checking its header names the log sequence its stream sequence maps to. */
function checkedEntry(shard: number, m: StreamMessage, mapping: StreamMapping): [number, Uint8Array] {
  const logSeq = logSeqOfStreamSeq(m.seq, mapping);
  const carried = m.headers?.get(LOG_SEQ_HEADER);
  if (carried !== String(logSeq)) {
    throw new LogReplayError(shard, logSeq, 'sequence', `stream message ${m.seq} carries log sequence ${carried === undefined || carried === '' ? '(none)' : carried}, expected ${logSeq}`);
  }
  return [logSeq, m.data];
}

/** Entries fetched and not applied yet, as the replay reads a log. */
function fetchedSource(shard: number, entries: Array<[number, Uint8Array]>): LogSource {
  return { shardId: shard, values: (fromSeq) => entries.filter(([seq]) => seq >= fromSeq) };
}

export class ShardFollower {
  /** Entries this follower read by sequence from the stream's leader because its consumer skipped them. */
  fetchedFromLeader = 0;

  private mapping: StreamMapping | null;

  private constructor(private readonly js: JetStreamClient, private readonly jsm: JetStreamManager, readonly stream: ShardStream, readonly store: ShardStore, private readonly options: ShardFollowerOptions) {
    this.mapping = options.mapping ?? null;
  }

  static async open(nc: NatsConnection, stream: ShardStream, store: ShardStore, options: ShardFollowerOptions = {}): Promise<ShardFollower> {
    // No API check on opening: it is one more request that a meta election makes time out, and the
    // first real request says as much.
    const jsm = await jetstreamManager(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS, checkAPI: false });
    return new ShardFollower(jetstream(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS }), jsm, stream, store, options);
  }

  /**
   * Log entry `logSeq` read from the stream's leader. `jsm.streams.getMessage` sends the
   * STREAM.MSG.GET API request (in @nats-io/jetstream 3.4 it is `$JS.API.STREAM.MSG.GET.<stream>`,
   * not the direct get of `jsm.direct`), which only the stream's Raft leader answers; a direct get
   * may be answered by any replica, since the stream has `allow_direct`, and a replica that has not
   * caught up is what skipped the entry in the first place. The leader holds every entry up to the
   * last sequence it reported, so a message it does not have is a stream that lost an entry, and
   * stops the follower naming it.
   */
  private async entryFromLeader(logSeq: number, mapping: StreamMapping): Promise<[number, Uint8Array]> {
    const shard = this.stream.shard;
    const seq = streamSeqOfLogSeq(logSeq, mapping);
    const stored = await persistently(`message ${seq} of stream ${this.stream.name}`, () => this.jsm.streams.getMessage(this.stream.name, { seq }));
    if (stored === null) throw new LogReplayError(shard, logSeq, 'sequence', `the leader of stream ${this.stream.name} has no message ${seq}`);
    if (stored.seq !== seq) throw new LogReplayError(shard, logSeq, 'sequence', `the leader of stream ${this.stream.name} answered message ${stored.seq} when asked for message ${seq}`);
    const entry = checkedEntry(shard, { seq: stored.seq, headers: stored.header, data: stored.data }, mapping);
    this.fetchedFromLeader++;
    return entry;
  }

  /** The stream's mapping, read once from its first message (an empty stream is read again next time). */
  private async streamMapping(): Promise<StreamMapping> {
    if (this.mapping !== null) return this.mapping;
    const { mapping, settled } = await persistently(`stream ${this.stream.name}`, () => readStreamMapping(this.jsm, this.stream));
    if (settled) this.mapping = mapping;
    return mapping;
  }

  /**
   * Applies every entry the stream holds after the copy's log position, up to the stream's last
   * sequence when called (or `untilSeq`). Entries its consumer skips are read from the stream's
   * leader by sequence, and entries delivered again are passed over. A value that does not replay
   * to its checksum, or a message whose header does not carry the log sequence its stream sequence
   * maps to, stops it with a LogReplayError naming the entry; the entries before it stay applied.
   */
  async catchUp(untilSeq?: number): Promise<CatchUp> {
    const shard = this.stream.shard;
    const fromSeq = logPosition(this.store).seq;
    const mapping = await this.streamMapping();
    const target = untilSeq ?? logSeqOfStreamSeq((await persistently(`stream ${this.stream.name}`, () => this.jsm.streams.info(this.stream.name))).state.last_seq, mapping);
    if (target <= fromSeq) return { fromSeq, lastSeq: fromSeq, applied: 0 };
    // A stream that starts after a trimmed log's first entries cannot bring a copy before them there.
    requireAtBase(shard, fromSeq, mapping);
    // An ordered consumer: an ephemeral consumer the client recreates from the last sequence it
    // delivered if a message goes missing, so the entries arrive in order and without gaps. It
    // takes no subject filter: the stream has one subject, and NATS 2.9 refuses `filter_subjects`.
    const consumer = await persistently(`a consumer of stream ${this.stream.name}`, () => this.js.consumers.get(this.stream.name, {
      deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: streamSeqOfLogSeq(fromSeq + 1, mapping),
    }));
    let next = fromSeq + 1;
    try {
      while (next <= target) {
        const entries: Array<[number, Uint8Array]> = [];
        const wanted = Math.min(CLUSTER_FOLLOW_FETCH_ENTRIES_MAX, target - next + 1);
        const messages = await consumer.fetch({ max_messages: wanted, expires: CLUSTER_FOLLOW_FETCH_WAIT_MS });
        // Every delivered message is checked against the next entry expected. A consumer's first
        // message can come from a replica that has not caught up and skip entries the stream holds
        // (seen after a NATS server restarted: made from entry 769, it delivered 770 first): the
        // entries skipped are read from the stream's leader before the delivered one. A message
        // older than expected is a redelivery of an entry already taken, and is passed over.
        const roundEnd = next + wanted - 1;
        let expected = next;
        let delivered = 0;
        for await (const m of this.options.delivered?.(messages) ?? messages) {
          delivered++;
          const logSeq = logSeqOfStreamSeq(m.seq, mapping);
          if (logSeq >= expected) {
            while (expected < logSeq && expected <= target) entries.push(await this.entryFromLeader(expected++, mapping));
            if (logSeq > target) break;
            entries.push(checkedEntry(shard, m, mapping));
            expected++;
          }
          if (delivered === wanted) break;
        }
        // A fetch that ended short of the round's entries waited out its expiry on a server that
        // does not have them, though the stream's leader said they exist: they are read from the
        // leader rather than asked of that server again, which is what stalled a takeover when the
        // follower only made a new consumer. The consumer delivers them later as redeliveries.
        while (expected <= roundEnd) entries.push(await this.entryFromLeader(expected++, mapping));
        const result = replayShard(fetchedSource(shard, entries), this.store, { untilBatch: Math.min(target, entries[entries.length - 1]![0]) });
        next = result.lastSeq + 1;
      }
    } finally {
      await consumer.delete().catch(() => { /* an ordered consumer is ephemeral: the server drops it anyway */ });
    }
    return { fromSeq, lastSeq: next - 1, applied: next - 1 - fromSeq };
  }
}
