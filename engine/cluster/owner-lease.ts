// The deployment's owner record in cluster mode (docs/cluster.md, "Ownership"): which node writes
// every shard, in which term, and where its HTTP front end answers. The record is the last message
// of a small replicated stream, and every change to it is a compare-and-set on the stream's last
// sequence (the stream-level `Nats-Expected-Last-Sequence`, which held under concurrent writers on
// NATS 2.9 where the key-value store's `update(revision)` did not). The record decides who should
// write; the shards' fenced appends alone make two writers impossible.
import type { NatsConnection } from '@nats-io/nats-core';
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_DUPLICATE_WINDOW_MS, CLUSTER_LEASE_RECORDS_MAX, CLUSTER_STREAM_REPLICAS } from '../limits.js';
import { openMarkedStream } from './marked-stream.js';

/** Who owns the deployment: a node id ('' while nobody ever did), its term, and its HTTP address. */
export interface OwnerRecord { nodeId: string; term: number; httpAddress: string }

/** A record as read, with its revision (the stream sequence it sits at): the next change is fenced on it. */
export interface LeaseView { record: OwnerRecord; revision: number }

/** The record a new deployment starts with: no owner, term 0. */
export const VACANT: OwnerRecord = { nodeId: '', term: 0, httpAddress: '' };

const encode = (record: OwnerRecord): Uint8Array => new TextEncoder().encode(JSON.stringify(record));

/** The owners stream of a deployment: its name and its one subject. */
export function ownersStream(deployment: string): { name: string; subject: string } {
  return { name: `LOYALTY_${deployment}_OWNERS`, subject: `loyalty.${deployment}.owner` };
}

function isRecord(value: unknown): value is OwnerRecord {
  const r = value as OwnerRecord;
  return typeof r === 'object' && r !== null && typeof r.nodeId === 'string' && Number.isSafeInteger(r.term) && r.term >= 0 && typeof r.httpAddress === 'string';
}

export class OwnerLease {
  private constructor(private readonly js: JetStreamClient, private readonly jsm: JetStreamManager, readonly stream: { name: string; subject: string }) {}

  /**
   * Opens the deployment's owners stream, creating it (and its vacant first record) when it does
   * not exist. Two nodes creating it at once both succeed: the stream's settings are the same, and
   * the vacant record carries one message id, so the stream keeps it once.
   */
  static async open(nc: NatsConnection, deployment: string): Promise<OwnerLease> {
    const jsm = await jetstreamManager(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS, checkAPI: false });
    const lease = new OwnerLease(jetstream(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS }), jsm, ownersStream(deployment));
    const config: Partial<StreamConfig> & { name: string } = {
      name: lease.stream.name, subjects: [lease.stream.subject], num_replicas: CLUSTER_STREAM_REPLICAS,
      storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old,
      max_msgs: CLUSTER_LEASE_RECORDS_MAX, max_age: 0, max_bytes: -1, max_msgs_per_subject: -1,
      // Nanoseconds, as the JetStream API counts durations.
      duplicate_window: CLUSTER_DUPLICATE_WINDOW_MS * 1_000_000, allow_direct: true, deny_delete: true, deny_purge: true,
    };
    // Every claim is fenced on a real sequence: the stream starts with the vacant record.
    await openMarkedStream(lease.js, jsm, config, { subject: lease.stream.subject, data: encode(VACANT), msgID: 'vacant' });
    return lease;
  }

  /** The current record and its revision. */
  async read(): Promise<LeaseView> {
    const stored = await this.jsm.streams.getMessage(this.stream.name, { last_by_subj: this.stream.subject });
    if (stored === null) throw new Error(`the owners stream ${this.stream.name} holds no record`);
    const record = stored.json<unknown>();
    if (!isRecord(record)) throw new Error(`the owners stream ${this.stream.name} holds a record that is not one at ${stored.seq}`);
    return { record, revision: stored.seq };
  }

  /**
   * Writes `record` in place of the one at `revision`, and answers the new view; null when another
   * record was written after `revision` (whoever wrote it won). An answer lost on the way (a timeout)
   * is checked by reading the record back: a record equal to `record` is this write's.
   */
  async replace(revision: number, record: OwnerRecord, attempt: { timeoutMs: number; retries: number } = { timeoutMs: CLUSTER_APPEND_ATTEMPT_MS, retries: 1 }): Promise<LeaseView | null> {
    try {
      const ack = await this.js.publish(this.stream.subject, encode(record), {
        timeout: attempt.timeoutMs, retries: attempt.retries, expect: { streamName: this.stream.name, lastSequence: revision },
      });
      return { record, revision: ack.seq };
    } catch (err) {
      const refused = err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
      const now = await this.read();
      if (now.record.nodeId === record.nodeId && now.record.term === record.term) return now;
      if (refused || now.revision !== revision) return null;
      throw err;
    }
  }
}
