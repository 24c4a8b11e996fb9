// The deployment's API keys in cluster mode (docs/cluster.md, "API keys"): one replicated stream
// whose messages are key records (id, role, SHA-256 hash, creation time, revoked), never a key
// itself. Each key has its own subject and the stream keeps only the last record of each subject,
// so the stream holds exactly the deployment's keys as they are now, and every change (a creation,
// a revocation) gets a new stream sequence: a node that read up to a sequence reads only what
// changed after it. It knows keys only as records: checking a presented key is the server's.
import type { NatsConnection } from '@nats-io/nats-core';
import { DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_DUPLICATE_WINDOW_MS, CLUSTER_FOLLOW_FETCH_ENTRIES_MAX, CLUSTER_FOLLOW_FETCH_WAIT_MS, CLUSTER_KEY_RECORD_BYTES_MAX, CLUSTER_KEY_RECORDS_MAX, CLUSTER_STREAM_REPLICAS } from '../limits.js';
import { openMarkedStream } from './marked-stream.js';

/** One key as the deployment knows it: what keys.json holds for it, the hash and never the key. */
export interface KeyRecord { id: string; role: string; hash: string; createdAt: string; revoked: boolean }

/** The stream's sequence of its first message, the empty marker every bootstrap is fenced on. */
const GENESIS_SEQ = 1;

/** A key id is one subject token: the ids the server makes are `k_` and twelve hex digits. */
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const HASH = /^[0-9a-f]{64}$/;

/** The keys stream of a deployment: its name, the subject of its marker, and the subject of each key. */
export function keysStream(deployment: string): { name: string; genesisSubject: string; subjectOf(id: string): string } {
  const base = `loyalty.${deployment}.keys`;
  return { name: `LOYALTY_${deployment}_KEYS`, genesisSubject: base, subjectOf: (id) => `${base}.${id}` };
}

function isKeyRecord(value: unknown): value is KeyRecord {
  const r = value as KeyRecord;
  return typeof r === 'object' && r !== null && typeof r.id === 'string' && KEY_ID.test(r.id) && typeof r.role === 'string'
    && typeof r.hash === 'string' && HASH.test(r.hash) && typeof r.createdAt === 'string' && typeof r.revoked === 'boolean';
}

const encode = (record: KeyRecord): Uint8Array => new TextEncoder().encode(JSON.stringify({
  id: record.id, role: record.role, hash: record.hash, createdAt: record.createdAt, revoked: record.revoked,
}));

/** What a read found: the records changed after the sequence asked for, in stream order, and the sequence read up to. */
export interface KeysRead { records: KeyRecord[]; lastSeq: number }

export class KeysStream {
  private readonly names: ReturnType<typeof keysStream>;

  private constructor(private readonly js: JetStreamClient, private readonly jsm: JetStreamManager, deployment: string) {
    this.names = keysStream(deployment);
  }

  get name(): string { return this.names.name; }

  /**
   * Opens the deployment's keys stream, creating it and its empty marker when it does not exist.
   * Two nodes creating it at once both succeed: the settings are the same and the marker carries
   * one message id. Tried again through a meta election until CLUSTER_APPEND_DEADLINE_MS.
   */
  static async open(nc: NatsConnection, deployment: string): Promise<KeysStream> {
    const jsm = await jetstreamManager(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS, checkAPI: false });
    const stream = new KeysStream(jetstream(nc, { timeout: CLUSTER_APPEND_ATTEMPT_MS }), jsm, deployment);
    const config: Partial<StreamConfig> & { name: string } = {
      name: stream.names.name, subjects: [stream.names.genesisSubject, stream.names.subjectOf('*')], num_replicas: CLUSTER_STREAM_REPLICAS,
      storage: StorageType.File, retention: RetentionPolicy.Limits,
      // One record per key: a revocation replaces the key's record. A full stream refuses a new key
      // rather than dropping another key's record (engine/limits.ts CLUSTER_KEY_RECORDS_MAX).
      max_msgs_per_subject: 1, max_msgs: CLUSTER_KEY_RECORDS_MAX + 1, discard: DiscardPolicy.New,
      max_age: 0, max_bytes: -1, max_msg_size: CLUSTER_KEY_RECORD_BYTES_MAX,
      // Nanoseconds, as the JetStream API counts durations.
      duplicate_window: CLUSTER_DUPLICATE_WINDOW_MS * 1_000_000, allow_direct: true, deny_delete: true, deny_purge: true,
    };
    // The bootstrap is fenced on a real sequence, so that only one node's keys win it: the stream starts with an empty marker.
    await openMarkedStream(stream.js, jsm, config, { subject: stream.names.genesisSubject, data: new Uint8Array(0), msgID: 'genesis' });
    return stream;
  }

  /** The stream's last sequence: a node that read up to it has every change. */
  async lastSeq(): Promise<number> {
    return (await this.jsm.streams.info(this.names.name)).state.last_seq;
  }

  /** Whether no node has published keys yet (the stream holds its marker alone). */
  async isEmpty(): Promise<boolean> {
    return (await this.lastSeq()) <= GENESIS_SEQ;
  }

  /**
   * Every record changed after `afterSeq` (0: all of them), in stream order; a key changed twice
   * meanwhile comes once, as it is now. A message that is not a record stops the read, naming it.
   */
  async readAfter(afterSeq: number): Promise<KeysRead> {
    const lastSeq = await this.lastSeq();
    if (lastSeq <= Math.max(afterSeq, GENESIS_SEQ)) return { records: [], lastSeq: Math.max(afterSeq, lastSeq) };
    // An ordered consumer from the first sequence not read: superseded records are gone from the
    // stream, so there are gaps, and the read ends where the server says nothing is pending.
    const consumer = await this.js.consumers.get(this.names.name, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(afterSeq + 1, GENESIS_SEQ + 1) });
    const records: KeyRecord[] = [];
    let readSeq = afterSeq;
    try {
      for (;;) {
        let pending = -1;
        let got = 0;
        const messages = await consumer.fetch({ max_messages: CLUSTER_FOLLOW_FETCH_ENTRIES_MAX, expires: CLUSTER_FOLLOW_FETCH_WAIT_MS });
        for await (const m of messages) {
          got++;
          readSeq = m.seq;
          pending = m.info.pending;
          if (m.subject !== this.names.genesisSubject) {
            const record = m.json<unknown>();
            if (!isKeyRecord(record)) throw new Error(`the keys stream ${this.names.name} holds a message that is not a key record at ${m.seq}`);
            records.push(record);
          }
          if (pending === 0) break;
        }
        if (pending === 0) break;
        if (got === 0) throw new Error(`the keys stream ${this.names.name}: no record after ${readSeq} arrived within ${CLUSTER_FOLLOW_FETCH_WAIT_MS} ms, though its last sequence is ${lastSeq}`);
      }
    } finally {
      await consumer.delete().catch(() => { /* an ordered consumer is ephemeral: the server drops it anyway */ });
    }
    return { records, lastSeq: Math.max(readSeq, lastSeq) };
  }

  /**
   * Publishes a key's record (a new key, or a key revoked) and answers its stream sequence once the
   * stream's quorum holds it. The message id makes a retry of the same change harmless.
   */
  async publish(record: KeyRecord): Promise<number> {
    if (!isKeyRecord(record)) throw new Error(`not a key record: ${JSON.stringify(record)}`);
    const ack = await this.js.publish(this.names.subjectOf(record.id), encode(record), {
      msgID: `${record.id}.${record.revoked ? 'revoked' : 'created'}`, timeout: CLUSTER_APPEND_ATTEMPT_MS, retries: 1,
      expect: { streamName: this.names.name },
    });
    return ack.seq;
  }

  /**
   * The first node's keys become the deployment's: the first record is fenced on the marker, so of
   * two nodes bootstrapping at once one wins and the other is answered false (it adopts the
   * winner's keys); the rest follow. An empty list is refused: a deployment starts with an admin key.
   */
  async bootstrap(records: KeyRecord[]): Promise<boolean> {
    const [first, ...rest] = records;
    if (first === undefined) throw new Error('a deployment is bootstrapped with at least its admin key');
    try {
      await this.js.publish(this.names.subjectOf(first.id), encode(first), {
        msgID: `${first.id}.${first.revoked ? 'revoked' : 'created'}`, timeout: CLUSTER_APPEND_ATTEMPT_MS, retries: 1,
        expect: { streamName: this.names.name, lastSequence: GENESIS_SEQ },
      });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) return false;
      throw err;
    }
    for (const record of rest) await this.publish(record);
    return true;
  }
}
