// The owner's side of cluster mode inside a shard worker (docs/cluster.md): every log entry the
// shard commits is appended to the shard's stream, several in flight at once, each fenced on the
// one before it, and a reply waits until the entries it depends on are acknowledged. At start the shard's copy and
// its stream are brought level: entries only the stream holds are applied to the copy through the
// replay path; entries only the copy holds (committed before a crash, never acknowledged, so never
// answered) are appended. Then the new owner appends its `term` entry, the append that decides the
// takeover against a stale owner (docs/cluster.md, "Ownership").
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ClusterConfig } from '../cluster/config.js';
import { AppendPipeline } from '../cluster/append-pipeline.js';
import { FenceRefusedError, ReplicatedLog } from '../cluster/fenced-append.js';
import { IDENTITY_MAPPING, logSeqOfStreamSeq, requireAtBase, shardStream, streamSeqOfLogSeq, type StreamMapping } from '../cluster/shard-stream.js';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_TERM_APPEND_ATTEMPTS_MAX } from '../limits.js';
import { appendLogValue, logPosition, logValues, termLogValue } from './batch-log.js';
import { sameLogEntry } from './log-redaction.js';
import { ShardFollower } from './stream-follower.js';
import type { ShardStore } from './store.js';

/** The copy and the stream disagree on an entry both hold: neither may be written until an operator looks. */
export class ReplicaDivergedError extends Error {
  readonly code = 'replica_diverged';
  constructor(readonly shard: number, readonly seq: number) {
    super(`shard ${shard}: log entry ${seq} differs between this node's copy and the stream`);
  }
}

/** What a takeover lets a test do (never set in production). */
export interface TakeoverHooks {
  /**
   * Called before each attempt to append the term entry, once the copy is level with the stream:
   * a test appends another owner's entry here, as a stale owner's batch landing in that window would.
   */
  beforeTermAppend?: (attempt: number) => Promise<void>;
}

export class ShardReplicator {
  /** The last log entry the copy and the stream both held when they were levelled: the first append is fenced on it. */
  private appendedSeq = 0;
  /** The appends in flight, made at the first append after the levelling. */
  private pipeline: AppendPipeline | null = null;
  /** The stream's mapping of sequences (shard-stream.ts), read at each levelling: fixed once the stream holds a message. */
  private mapping: StreamMapping = IDENTITY_MAPPING;

  private constructor(private readonly nc: NatsConnection, private readonly log: ReplicatedLog, readonly shard: number, private store: ShardStore) {}

  /**
   * Connects to the cluster, opens (or creates) the shard's stream, brings the copy and the stream
   * level, and appends this owner's `term` entry, as the shard's owner in term `term`; `commitTime`
   * stamps that entry (the shard's commit clock). Options are explicit: the connection retries every server forever, so that a
   * NATS server's restart is a pause for this shard, never a failure.
   */
  static async open(config: ClusterConfig, shard: number, store: ShardStore, term: number, commitTime: () => number, hooks: TakeoverHooks = {}): Promise<ShardReplicator> {
    const nc = await connect({
      servers: config.servers, name: `loyalty-${config.nodeId}-shard-${shard}`, reconnect: true,
      maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: CLUSTER_APPEND_ATTEMPT_MS, noRandomize: false,
    });
    try {
      // The term comes from the owner record (engine/cluster/owner-election.ts): each message id
      // names it, so that two terms never share an id, while an owner's own retry of one append does.
      const log = await ReplicatedLog.open(nc, config.deployment, [shard], { nodeId: config.nodeId, term });
      const replicator = new ShardReplicator(nc, log, shard, store);
      await replicator.level();
      await replicator.appendTerm(term, config.nodeId, commitTime, hooks);
      return replicator;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /**
   * Appends the `term` entry fenced on the stream's last sequence, which the levelled copy holds,
   * and only then commits it to the copy: a refused append leaves nothing in the copy that the
   * stream lacks, so nothing needs undoing. A refusal
   * means another owner's entry landed after the levelling (a stale owner's batch in flight): the
   * copy applies it, as any entry of the stream, and the term entry is tried again after it, up to
   * CLUSTER_TERM_APPEND_ATTEMPTS_MAX times. Once it lands, every later append of a stale owner is
   * fenced on a sequence before it and refused.
   */
  private async appendTerm(term: number, nodeId: string, commitTime: () => number, hooks: TakeoverHooks): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      // The levelling appended and saw acknowledged every entry the copy holds: its last is the stream's as this owner knows it.
      const position = logPosition(this.store).seq;
      const program = this.store.meta.get('program') as { version: number } | undefined;
      const value = termLogValue(term, nodeId, program?.version ?? 0, commitTime());
      await hooks.beforeTermAppend?.(attempt);
      try {
        await this.log.appendFenced(this.shard, value, streamSeqOfLogSeq(position, this.mapping));
      } catch (err) {
        if (!(err instanceof FenceRefusedError) || attempt >= CLUSTER_TERM_APPEND_ATTEMPTS_MAX) throw err;
        // The pipeline the levelling made is fenced on the old position: the levelling makes another.
        this.pipeline = null;
        await this.level();
        continue;
      }
      // The entry runs nothing (machine.ts answers its reply and writes no state), so the copy
      // commits the very value the stream acknowledged; a follower's replay checks its checksum.
      this.store.root.transactionSync(() => appendLogValue(this.store, value, 0));
      this.pipeline = null;
      this.appendedSeq = position + 1;
      return;
    }
  }

  private async level(): Promise<void> {
    const shard = this.shard;
    const mapping = await this.log.mapping(shard);
    this.mapping = mapping;
    const streamLast = logSeqOfStreamSeq(await this.log.lastSeq(shard), mapping);
    const local = logPosition(this.store).seq;
    // A copy before the base of a stream imported from a trimmed log can neither follow it nor append to it.
    requireAtBase(shard, local, mapping);
    if (streamLast > local) {
      // The stream is ahead (a copy restored from an older backup, or a new node): the entries the
      // copy lacks run through the replay path, checksums compared.
      const follower = await ShardFollower.open(this.nc, shardStream(this.log.deployment, shard), this.store, { mapping });
      await follower.catchUp();
    }
    const common = Math.min(streamLast, logPosition(this.store).seq);
    // At the base itself the stream holds no log value to compare (the base message stands for a
    // position whose entry the trimmed log no longer has); the entries after it are compared as any.
    if (common > 0 && common !== mapping.base?.afterLogSeq) {
      // The last entry both hold must be the same entry, as an erasure may have redacted it in the copy (log-redaction.ts sameLogEntry);
      // an earlier one cannot differ without it differing too (checksums chain the books).
      const [entry] = [...logValues(this.store, common, common)];
      const streamed = await this.log.valueAt(shard, streamSeqOfLogSeq(common, mapping));
      if (entry === undefined || streamed === null || !sameLogEntry(this.store, common, entry[1], streamed)) throw new ReplicaDivergedError(shard, common);
    }
    this.appendedSeq = common;
    await this.replicate();
  }

  /** The store handle changed (a compaction reopened the shard on its copy). */
  reopen(store: ShardStore): void {
    this.store = store;
  }

  /** The appends, fenced from the levelled position on; each value is read from the copy when its turn to be sent comes. */
  private appends(): AppendPipeline {
    const mapping = this.mapping;
    this.pipeline ??= new AppendPipeline(this.log, this.shard, streamSeqOfLogSeq(this.appendedSeq, mapping), (fromSeq, toSeq) => {
      const values: Uint8Array[] = [];
      for (const [seq, value] of logValues(this.store, logSeqOfStreamSeq(fromSeq, mapping), logSeqOfStreamSeq(toSeq, mapping))) {
        if (seq !== logSeqOfStreamSeq(fromSeq, mapping) + values.length) break;
        values.push(value);
      }
      return values;
    });
    return this.pipeline;
  }

  /**
   * Appends every entry committed and not yet appended, and resolves once they and every entry
   * before them are acknowledged. Up to CLUSTER_APPENDS_IN_FLIGHT_MAX appends are in flight, in log
   * order, each fenced on the entry before it; a refused or unanswered append rejects this and
   * every later call.
   */
  replicate(): Promise<void> {
    return this.appends().through(streamSeqOfLogSeq(logPosition(this.store).seq, this.mapping));
  }

  /** Resolves once every append asked for so far is acknowledged: a read waits for it, so that it never shows an unacknowledged batch. */
  settled(): Promise<void> {
    return this.pipeline?.settled() ?? Promise.resolve();
  }

  /** The most appends this shard had in flight at once, and how many were sent again once the append before them settled. */
  get appendStats(): { peakInFlight: number; resentAfterPredecessor: number } {
    return { peakInFlight: this.pipeline?.peakInFlight ?? 0, resentAfterPredecessor: this.log.resentAfterPredecessor };
  }

  async close(): Promise<void> {
    await this.settled().catch(() => { /* the failure was reported by the append that failed */ });
    await this.nc.close();
  }
}
