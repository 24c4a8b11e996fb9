// The owner's append of a shard's log value to the shard's stream, fenced: the stream takes the
// message only when its last sequence is the one the owner knows, so that of two nodes that both
// believe they own the shard at most one appends, and the other learns it is stale. An append that
// gets no acknowledgement (a NATS server died, the stream elects a leader) is sent again with the
// same message id and the same fence until it is acknowledged, refused or out of time. An append
// sent while the one before it is still unacknowledged (a pipeline, append-pipeline.ts) is fenced
// on that message's id as well, and a refusal it meets before then is re-checked once it settles.
import assert from 'node:assert/strict';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_APPEND_DEADLINE_MS, CLUSTER_APPEND_RETRY_MS, CLUSTER_LOG_VALUE_BYTES_MAX } from '../limits.js';
import { ensureShardStream, LOG_SEQ_HEADER, logSeqOfStreamSeq, readStreamMapping, shardStream, type ShardStream, type StreamMapping } from './shard-stream.js';

/** Another writer appended after the sequence this owner knew: the owner is stale and must step down. */
export class FenceRefusedError extends Error {
  readonly code = 'fence_refused';
  constructor(readonly shard: number, readonly expectedLastSeq: number) {
    super(`shard ${shard}: the stream holds entries after sequence ${expectedLastSeq}, appended by another owner; this owner is stale`);
  }
}

/**
 * No acknowledgement within CLUSTER_APPEND_DEADLINE_MS: the entry may or may not be in the stream.
 * The owner cannot tell its clients either way, and steps down; whoever takes the shard next reads
 * the stream to learn which.
 */
export class ReplicationUnavailableError extends Error {
  readonly code = 'replication_unavailable';
  constructor(readonly shard: number, readonly logSeq: number, cause: unknown) {
    super(`shard ${shard}: log entry ${logSeq} was not acknowledged by the stream within ${CLUSTER_APPEND_DEADLINE_MS} ms: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Who writes: the node and its term of ownership, which make every message id its own. */
export interface LogWriter { nodeId: string; term: number }

const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Errors after which the same append is worth sending again: no answer, no leader, a connection between servers. */
function isTransient(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.status === 503;
  return err instanceof Error;
}

/** A node's access to the shards' streams, for appending. */
export class ReplicatedLog {
  private readonly streams = new Map<number, ShardStream>();
  /** Each stream's mapping of sequences, read once from its first message (shard-stream.ts). */
  private readonly mappings = new Map<number, StreamMapping>();
  /**
   * Appends sent again because they were refused or failed while the entry before them was still
   * unacknowledged: how often a pipeline's later appends overtook an earlier one's retry.
   */
  resentAfterPredecessor = 0;

  private constructor(private readonly js: JetStreamClient, private readonly jsm: JetStreamManager, readonly deployment: string, readonly writer: LogWriter) {
    if (!NODE_ID.test(writer.nodeId)) throw new RangeError(`a node id is 1 to 64 letters, digits, _ or -, not ${JSON.stringify(writer.nodeId)}`);
    assert.ok(Number.isSafeInteger(writer.term) && writer.term >= 0, 'a term is a non-negative integer');
  }

  /** Opens the logs of `shards` of `deployment`, creating their streams when they do not exist. */
  static async open(nc: NatsConnection, deployment: string, shards: readonly number[], writer: LogWriter): Promise<ReplicatedLog> {
    // No API check on opening: it is one more request that a meta election makes time out, and the
    // first real request says as much.
    const jsm = await jetstreamManager(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS, checkAPI: false });
    const log = new ReplicatedLog(jetstream(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS }), jsm, deployment, writer);
    for (const shard of shards) {
      const stream = shardStream(deployment, shard);
      await ensureShardStream(jsm, stream);
      log.streams.set(shard, stream);
    }
    return log;
  }

  private stream(shard: number): ShardStream {
    const stream = this.streams.get(shard);
    if (stream === undefined) throw new RangeError(`shard ${shard} is not one of this log's shards`);
    return stream;
  }

  /**
   * How the shard's stream numbers the log's entries, read from its first message once it has one
   * and kept for the log's life: the mapping never changes once the stream holds a message.
   */
  async mapping(shard: number): Promise<StreamMapping> {
    const known = this.mappings.get(shard);
    if (known !== undefined) return known;
    const { mapping, settled } = await readStreamMapping(this.jsm, this.stream(shard));
    if (settled) this.mappings.set(shard, mapping);
    return mapping;
  }

  /** The mapping, its read sent again while it fails, within an append's deadline (a stream leader may be electing). */
  private async mappingWithin(shard: number, expectedLastSeq: number): Promise<StreamMapping> {
    const deadline = Date.now() + CLUSTER_APPEND_DEADLINE_MS;
    for (;;) {
      try {
        return await this.mapping(shard);
      } catch (err) {
        // The mapping unknown, the entry is named by its stream sequence (the log's too, unless the stream has a base).
        if (Date.now() + CLUSTER_APPEND_RETRY_MS > deadline) throw new ReplicationUnavailableError(shard, expectedLastSeq + 1, err);
        await pause(CLUSTER_APPEND_RETRY_MS);
      }
    }
  }

  /** The stream's last sequence: what a new owner fences its first append on, once its copy has applied it. */
  async lastSeq(shard: number): Promise<number> {
    return (await this.jsm.streams.info(this.stream(shard).name)).state.last_seq;
  }

  /** The message id of this writer's append of log entry `logSeq`: its own retries share it, two writers never do. */
  private msgIdOf(logSeq: number): string {
    return `${this.writer.nodeId}.${this.writer.term}.${logSeq}`;
  }

  /**
   * Appends `logValue` (a sealed batch-log value, engine/shard/batch-log.ts) to the shard's stream
   * at the sequence after `expectedLastSeq`, and answers that sequence once a quorum of the stream's
   * servers acknowledged it. Throws FenceRefusedError when another writer appended after
   * `expectedLastSeq`, ReplicationUnavailableError when no answer came in time.
   *
   * `predecessor`, when given, is this writer's own append at `expectedLastSeq`, sent and not yet
   * acknowledged; it resolves once that append is acknowledged and rejects when it fails. Until then
   * the message is fenced on the predecessor's message id as well as on the sequence: a sequence
   * alone would let it land after another writer's message at `expectedLastSeq` when the
   * predecessor was refused. A refusal or failure met before the predecessor is acknowledged proves
   * nothing (the predecessor's own attempt may have been lost and be sent again): the append waits
   * for it and is sent again, and fails with the predecessor's failure when that fails. Only a
   * refusal of an append sent after everything before it was acknowledged means another writer.
   */
  async appendFenced(shard: number, logValue: Uint8Array, expectedLastSeq: number, predecessor?: Promise<unknown>): Promise<number> {
    const stream = this.stream(shard);
    assert.ok(Number.isSafeInteger(expectedLastSeq) && expectedLastSeq >= 0, 'the fence is a stream sequence');
    if (logValue.length > CLUSTER_LOG_VALUE_BYTES_MAX) throw new RangeError(`a log value of ${logValue.length} bytes is larger than a stream takes (${CLUSTER_LOG_VALUE_BYTES_MAX})`);
    // Known once the stream held a message (the levelling reads it): no await then, so that appends
    // of a pipeline are sent in the order they were called.
    const mapping = this.mappings.get(shard) ?? await this.mappingWithin(shard, expectedLastSeq);
    const seq = expectedLastSeq + 1;
    const logSeq = logSeqOfStreamSeq(seq, mapping);
    const msgID = this.msgIdOf(logSeq);
    const predecessorMsgID = this.msgIdOf(logSeqOfStreamSeq(expectedLastSeq, mapping));
    const h = headers();
    h.set(LOG_SEQ_HEADER, String(logSeq));
    const before = { acknowledged: predecessor === undefined };
    predecessor?.then(() => { before.acknowledged = true; }, () => { /* this append fails with it below */ });
    // The deadline runs from the predecessor's acknowledgement: before it, this append cannot land.
    let deadline = Date.now() + CLUSTER_APPEND_DEADLINE_MS;
    for (;;) {
      const early = !before.acknowledged;
      let failure: unknown;
      try {
        const ack = await this.js.publish(stream.subject, logValue, {
          msgID, headers: h, timeout: CLUSTER_APPEND_ATTEMPT_MS, retries: 1,
          expect: { streamName: stream.name, lastSequence: expectedLastSeq, ...(early ? { lastMsgID: predecessorMsgID } : {}) },
        });
        // A duplicate is this writer's own earlier attempt, acknowledged after all: same id, same place.
        assert.equal(ack.stream, stream.name, 'the ack comes from the shard\'s stream');
        assert.equal(ack.seq, seq, `shard ${shard}: an append fenced on ${expectedLastSeq} landed at ${ack.seq}`);
        return seq;
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        if (early) {
          // Refused on the predecessor's id (10070) or sequence, or unanswered: settled only once it is.
          await predecessor;
          this.resentAfterPredecessor += 1;
          deadline = Date.now() + CLUSTER_APPEND_DEADLINE_MS;
          continue;
        }
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
          // An earlier attempt of this append may have landed (its ack lost) and made the fence move:
          // the entry at `seq` is then this writer's own message.
          if (await this.holds(stream, seq, msgID)) return seq;
          throw new FenceRefusedError(shard, expectedLastSeq);
        }
        if (!isTransient(err)) throw err;
        failure = err;
      }
      if (Date.now() + CLUSTER_APPEND_RETRY_MS > deadline) throw new ReplicationUnavailableError(shard, logSeq, failure);
      await pause(CLUSTER_APPEND_RETRY_MS);
    }
  }

  /** The stream's message at `seq` (a stream sequence), or null when it holds none there. */
  async valueAt(shard: number, seq: number): Promise<Uint8Array | null> {
    return (await this.jsm.streams.getMessage(this.stream(shard).name, { seq }))?.data ?? null;
  }

  /** Whether the stream's message at `seq` is the one with `msgID` (retried until it can tell, within the append's deadline). */
  private async holds(stream: ShardStream, seq: number, msgID: string): Promise<boolean> {
    const deadline = Date.now() + CLUSTER_APPEND_DEADLINE_MS;
    for (;;) {
      try {
        const stored = await this.jsm.streams.getMessage(stream.name, { seq });
        return stored !== null && stored.header.get('Nats-Msg-Id') === msgID;
      } catch (err) {
        if (Date.now() + CLUSTER_APPEND_RETRY_MS > deadline) throw new ReplicationUnavailableError(stream.shard, logSeqOfStreamSeq(seq, this.mappings.get(stream.shard) ?? { base: null }), err);
        await pause(CLUSTER_APPEND_RETRY_MS);
      }
    }
  }
}
