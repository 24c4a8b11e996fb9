// A shard of a standby node in cluster mode (docs/cluster.md): follows the shard's stream
// continuously into this node's copy (stream-follower.ts, checksums compared), so that a takeover
// only has the last few entries to apply. A copy that holds an entry the stream does not hold at
// the same place (this node owned the shard before, and its last commit was refused or never
// acknowledged) cannot be undone in LMDB: it is rebuilt from the stream, by whoever passes the
// `rebuild` callback. A copy merely ahead of the stream (its extra entries are this node's own,
// committed and never answered) waits: the entries are appended if this node owns the shard again,
// and the copy is rebuilt as soon as another owner's entries reach the stream instead. At each
// turn it reports how many entries its copy lags the stream (`lag`), so that a node far behind
// leaves the owner record to a level one (engine/cluster/owner-election.ts).
import { existsSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ClusterConfig } from '../cluster/config.js';
import { ReplicatedLog } from '../cluster/fenced-append.js';
import { CopyBehindStreamBaseError, logSeqOfStreamSeq, requireAtBase, shardStream, streamSeqOfLogSeq } from '../cluster/shard-stream.js';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_FOLLOW_POLL_MS } from '../limits.js';
import { logPosition, logValues } from './batch-log.js';
import { sameLogEntry } from './log-redaction.js';
import { LogReplayError } from './machine.js';
import { ShardFollower } from './stream-follower.js';
import type { ShardStore } from './store.js';

/** The warning a standby logs when its consumer skipped entries that it then read from the stream's leader. */
export const SKIPPED_ENTRIES_READ_FROM_LEADER = 'a standby shard read entries its consumer skipped from the stream\'s leader';

/**
 * Fault injection for test/cluster/lagging-standby.test.ts (LOYALTY_TEST_FOLLOW_HOLD=PATH), never
 * for production: while a file exists at PATH, a standby's turn reads its stream and reports its lag
 * but applies nothing, as a standby whose replay cannot keep up, so that its copy stays as far
 * behind as the test made it. A takeover still levels the copy (that is the replicator's work).
 */
const FOLLOW_HOLD_FILE = process.env['LOYALTY_TEST_FOLLOW_HOLD'] ?? '';

/** What a standby held by LOYALTY_TEST_FOLLOW_HOLD logs once, with its lag, for the test to wait on. */
export const FOLLOW_HELD = 'a standby shard applies nothing while LOYALTY_TEST_FOLLOW_HOLD\'s file exists';

/** What the shard's thread does for its standby. */
export interface StandbyEvents {
  /** The copy's current handle (a rebuild or a compaction replaces it). */
  store(): ShardStore;
  /** Moves the copy aside and opens an empty one in its place (`store()` answers it from then on). */
  rebuild(reason: string): Promise<void>;
  /** A value that does not replay to its checksum: the owner and this node computed different books. */
  fail(err: Error): void;
  /** A turn that could not reach the stream (reported, and tried again at the next one), or that read skipped entries from the stream's leader. */
  warn(message: string, err: unknown): void;
  /** A rebuilt copy reached the stream's last entry `logSeq`, `ms` after it was moved aside: reported for the operator. */
  rebuilt?(logSeq: number, ms: number): void;
  /**
   * At each turn that read the stream: how many log entries the copy lags it (0 when level or
   * ahead), so that a standby far behind leaves the owner record to a level one (owner-election.ts).
   */
  lag?(entries: number): void;
}

/** Whether the copy's log entry `seq` is the stream's message for it, byte for byte or as this copy's erasures redacted it (log-redaction.ts). */
export async function sameEntry(store: ShardStore, log: ReplicatedLog, shard: number, seq: number): Promise<boolean> {
  const mapping = await log.mapping(shard);
  // At a trimmed stream's base there is no log value to compare: the base message stands for the position.
  if (seq === mapping.base?.afterLogSeq) return true;
  const [entry] = [...logValues(store, seq, seq)];
  const streamed = await log.valueAt(shard, streamSeqOfLogSeq(seq, mapping));
  return entry !== undefined && streamed !== null && sameLogEntry(store, seq, entry[1], streamed);
}

export class ShardStandby {
  /** Whether the copy's last entry was found in the stream: from then on it only applies the stream's entries. */
  private level = false;
  private stopping = false;
  private wake: (() => void) | null = null;
  private running: Promise<void> = Promise.resolve();
  /** When the copy was last moved aside to be rebuilt (this node's monotonic clock), until the rebuilt copy caught up. */
  private rebuiltFromMs: number | null = null;
  /** Whether FOLLOW_HELD was logged. */
  private heldLogged = false;

  private constructor(private readonly nc: NatsConnection, private readonly log: ReplicatedLog, readonly shard: number, private readonly events: StandbyEvents) {}

  /** Connects (retrying every server forever, as the owner's replicator does) and starts following. */
  static async open(config: ClusterConfig, shard: number, events: StandbyEvents): Promise<ShardStandby> {
    const nc = await connect({
      servers: config.servers, name: `loyalty-${config.nodeId}-standby-${shard}`, reconnect: true,
      maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: CLUSTER_APPEND_ATTEMPT_MS, noRandomize: false,
    });
    try {
      // A standby appends nothing: its writer (term 0) names no message.
      const log = await ReplicatedLog.open(nc, config.deployment, [shard], { nodeId: config.nodeId, term: 0 });
      const standby = new ShardStandby(nc, log, shard, events);
      standby.running = standby.loop();
      return standby;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  private async loop(): Promise<void> {
    // A stream unreachable for a while fails every turn alike: each new reason is reported once.
    let lastWarning = '';
    while (!this.stopping) {
      try {
        await this.turn();
        lastWarning = '';
      } catch (err) {
        if (err instanceof LogReplayError || err instanceof CopyBehindStreamBaseError) { this.events.fail(err); return; }
        const reason = err instanceof Error ? err.message : String(err);
        if (reason !== lastWarning) this.events.warn('a standby shard could not read its stream: it tries again', err);
        lastWarning = reason;
      }
      if (this.stopping) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLUSTER_FOLLOW_POLL_MS);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
      this.wake = null;
    }
  }

  /** One look at the stream: the copy checked against it until it is level, then the new entries applied. */
  private async turn(): Promise<void> {
    const mapping = await this.log.mapping(this.shard);
    const streamLast = logSeqOfStreamSeq(await this.log.lastSeq(this.shard), mapping);
    const store = this.events.store();
    const local = logPosition(store).seq;
    // A copy before a trimmed stream's base cannot follow it: the node needs a backup (shard-stream.ts).
    requireAtBase(this.shard, local, mapping);
    // Reported before the turn applies anything: a long catch-up keeps saying how far behind it began.
    this.events.lag?.(Math.max(0, streamLast - local));
    if (FOLLOW_HOLD_FILE !== '' && existsSync(FOLLOW_HOLD_FILE)) {
      if (!this.heldLogged) this.events.warn(FOLLOW_HELD, `the copy is at log entry ${local}, the stream at ${streamLast}: ${Math.max(0, streamLast - local)} entries behind`);
      this.heldLogged = true;
      return;
    }
    if (!this.level || local > streamLast) {
      const common = Math.min(local, streamLast);
      if (common > 0 && !(await sameEntry(store, this.log, this.shard, common))) {
        // A rebuild replays the stream into an empty copy, which a trimmed stream cannot bring to
        // its base: refused here, before the copy is moved aside (a rebuild from a backup is not built).
        if (mapping.base !== null) throw new CopyBehindStreamBaseError(this.shard, local, mapping.base, common);
        await this.events.rebuild(`log entry ${common} of this node's copy differs from the stream's: the copy holds a commit another owner's entries replaced`);
        // The empty copy lags the whole stream until its next turn applies it.
        this.events.lag?.(streamLast);
        this.rebuiltFromMs = performance.now();
        this.level = false;
        return;
      }
      if (local > streamLast) return;
      this.level = true;
    }
    if (streamLast > local) {
      const follower = await ShardFollower.open(this.nc, shardStream(this.log.deployment, this.shard), store, { mapping });
      const caught = await follower.catchUp(streamLast);
      // Reported so that an operator (and the chaos run) sees how often a consumer skips entries:
      // the copy is whole, but each one cost a request to the stream's leader.
      if (follower.fetchedFromLeader > 0) {
        this.events.warn(SKIPPED_ENTRIES_READ_FROM_LEADER, `${follower.fetchedFromLeader} of log entries ${caught.fromSeq + 1}–${caught.lastSeq}`);
      }
    }
    if (this.rebuiltFromMs !== null) {
      this.events.rebuilt?.(streamLast, Math.round(performance.now() - this.rebuiltFromMs));
      this.rebuiltFromMs = null;
    }
  }

  /** Stops following once the turn under way has ended, and closes the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
    await this.nc.close();
  }
}
