// Who of the deployment's nodes writes, decided through the owner record (owner-lease.ts): the
// owner renews its record every CLUSTER_LEASE_RENEW_MS; a standby reads it every
// CLUSTER_LEASE_POLL_MS and claims it, with the next term, once it has not changed for
// CLUSTER_LEASE_MS of the standby's own clock (no two machines' clocks are compared). A node that
// finds its own id in the record (it held it before a restart) claims it at once. A standby whose
// copies lag their streams by more than CLUSTER_CLAIM_LAG_ENTRIES_MAX (its shards say so at each
// follow turn, `lagEntries`) waits CLUSTER_CLAIM_LAG_WAIT_MS longer before it claims an expired or a
// vacant record, so that a level standby claims first and the takeover does not wait for a long
// replay; it claims after that wait all the same, since the deployment must get an owner. The owner that
// finds another node's record where its own was stops writing (the `lost` event says so) and
// carries on as a standby, reading the record and reporting its owner. A
// drained node (a planned step-down, `giveUp`) reads the record and reports it, but never claims
// it, whatever it finds, until `undrain`.
import { CLUSTER_CLAIM_LAG_ENTRIES_MAX, CLUSTER_CLAIM_LAG_WAIT_MS, CLUSTER_LEASE_MS, CLUSTER_LEASE_POLL_MS, CLUSTER_LEASE_RENEW_ATTEMPT_MS, CLUSTER_LEASE_RENEW_MS } from '../limits.js';
import type { LeaseView, OwnerLease, OwnerRecord } from './owner-lease.js';

/** What a node logs when its copies lag and it leaves the owner record to a level standby (`deferring`): the chaos run counts it. */
export const CLAIM_DEFERRED = 'this node\'s copies lag their streams: it leaves the owner record to a level standby, and claims it itself if none has';

/** What the node does as the record changes. */
export interface ElectionEvents {
  /** Another node owns the deployment (or none yet does): called whenever the owner or its term changes. */
  standby(record: OwnerRecord): void;
  /** This node holds term `term` from now on: it takes the shards over (renewals go on meanwhile). */
  won(term: number): void;
  /**
   * Another node holds the record this node held: this node must stop writing at once. The
   * election carries on as a standby's (it reads the record and reports its owner, and may claim it
   * again later): the node steps down before it takes anything over again.
   */
  lost(record: OwnerRecord): void;
  /** Reading or writing the record failed (NATS unavailable for now): tried again at the next turn. */
  trouble(err: unknown): void;
  /**
   * A level standby would claim the record now, but this node's copies lag their streams by
   * `lagEntries` (the largest shard's): it leaves the claim to a level standby for up to `waitMs`
   * more. Called once per revision of the record, for the operator's log.
   */
  deferring?(lagEntries: number, waitMs: number): void;
}

export class OwnerElection {
  /** The record this node holds, or null while it stands by. */
  private held: LeaseView | null = null;
  /** The revision a standby saw last and when it first saw it, on this node's monotonic clock. */
  private seen: { revision: number; atMs: number } | null = null;
  private reported: OwnerRecord | null = null;
  private timer: NodeJS.Timeout | null = null;
  private turn: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Set by `giveUp` (or `drain` on a standby): the node claims nothing until `undrain`. */
  private drainedState = false;
  /** The record read or written last, or null before the first read. */
  private lastRecord: OwnerRecord | null = null;
  /** The revision for which `deferring` was reported last. */
  private deferredRevision: number | null = null;

  /**
   * `lagEntries` says how many log entries this node's copies lag their streams (the largest
   * shard's, at its last follow turn), or null while no shard has looked at its stream yet (taken as
   * level: a node that has not read its streams has no lag to wait for). It is read at each turn of
   * the election and must answer at once, from what the shards already reported.
   */
  constructor(
    private readonly lease: OwnerLease,
    private readonly me: { nodeId: string; httpAddress: string },
    private readonly events: ElectionEvents,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly lagEntries: () => number | null = () => null,
  ) {}

  /** The record this node holds, or null. */
  get holding(): OwnerRecord | null {
    return this.held?.record ?? null;
  }

  /** The owner record as this node read or wrote it last (null before its first read). */
  get record(): OwnerRecord | null {
    return this.held?.record ?? this.lastRecord;
  }

  /** Whether this node claims nothing until undrained. */
  get drained(): boolean {
    return this.drainedState;
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const startedMs = this.nowMs();
      this.turn = this.step().catch((err: unknown) => {
        // A standby that could not read the record knows nothing of the owner's renewals meanwhile:
        // its count starts again at its next read, so that an outage of NATS (a server killed, an
        // election) is never taken for a silent owner.
        this.seen = null;
        this.events.trouble(err);
      }).finally(() => {
        // The owner renews on a fixed cadence from the start of each turn, so that a slow or failed
        // attempt does not push the next one later: it has CLUSTER_LEASE_MS / CLUSTER_LEASE_RENEW_MS tries.
        const interval = this.held !== null ? CLUSTER_LEASE_RENEW_MS : CLUSTER_LEASE_POLL_MS;
        this.schedule(Math.max(0, interval - (this.nowMs() - startedMs)));
      });
    }, delayMs);
  }

  private async step(): Promise<void> {
    if (this.held !== null) return this.renew(this.held);
    const view = await this.lease.read();
    const now = this.nowMs();
    if (this.seen === null || this.seen.revision !== view.revision) this.seen = { revision: view.revision, atMs: now };
    const { record } = view;
    this.lastRecord = record;
    if (this.drainedState) {
      this.report(record);
      return;
    }
    const mine = record.nodeId === this.me.nodeId;
    if (!mine) {
      // A vacant record is claimed at once, another node's once it has not changed for the lease; a
      // standby whose copies lag waits one CLUSTER_CLAIM_LAG_WAIT_MS more in both cases, so that a
      // level standby, which reads the record every CLUSTER_LEASE_POLL_MS, claims first. A vacant
      // record (a planned step-down, a stop) gets the same wait: the drained owner's hand-over goes
      // to a level standby within a read, and to a lagging one only when none is level.
      const lag = this.lagEntries();
      const lagging = lag !== null && lag > CLUSTER_CLAIM_LAG_ENTRIES_MAX;
      const levelWaitMs = record.nodeId === '' ? 0 : CLUSTER_LEASE_MS;
      const unchangedMs = now - this.seen.atMs;
      if (unchangedMs < levelWaitMs + (lagging ? CLUSTER_CLAIM_LAG_WAIT_MS : 0)) {
        if (lagging && unchangedMs >= levelWaitMs && this.deferredRevision !== view.revision) {
          this.deferredRevision = view.revision;
          this.events.deferring?.(lag, Math.round(levelWaitMs + CLUSTER_CLAIM_LAG_WAIT_MS - unchangedMs));
        }
        this.report(record);
        return;
      }
    }
    const won = await this.lease.replace(view.revision, { nodeId: this.me.nodeId, term: record.term + 1, httpAddress: this.me.httpAddress });
    if (won === null) return;
    this.held = won;
    this.lastRecord = won.record;
    this.events.won(won.record.term);
  }

  private report(record: OwnerRecord): void {
    const last = this.reported;
    if (last !== null && last.nodeId === record.nodeId && last.term === record.term && last.httpAddress === record.httpAddress) return;
    this.reported = record;
    this.events.standby(record);
  }

  private async renew(held: LeaseView): Promise<void> {
    // One short attempt per turn: an attempt lost with a NATS server that died (its connection
    // moves to another server within ~0.1 s) would otherwise wait 2 s and once more before the
    // next, and a standby counting the lease on a server still up would claim meanwhile.
    const next = await this.lease.replace(held.revision, held.record, { timeoutMs: CLUSTER_LEASE_RENEW_ATTEMPT_MS, retries: 0 });
    if (next !== null) {
      this.held = next;
      this.lastRecord = next.record;
      return;
    }
    // From the next turn on this node reads the record as a standby: its owner is reported anew, and
    // the lease is counted from that read.
    this.held = null;
    this.seen = null;
    this.reported = null;
    const now = await this.lease.read().catch(() => null);
    if (now !== null) this.lastRecord = now.record;
    this.events.lost(now?.record ?? held.record);
  }

  /**
   * Runs `work` as a turn of its own: after the turn under way, with no other turn meanwhile; the
   * next turn is scheduled after it as usual.
   */
  private async ownTurn(work: () => Promise<void>): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.turn;
    // The turn just ended scheduled the next one: this one comes first.
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.turn = work().catch((err: unknown) => { this.events.trouble(err); }).finally(() => {
      this.schedule(this.held !== null ? CLUSTER_LEASE_RENEW_MS : CLUSTER_LEASE_POLL_MS);
    });
    await this.turn;
  }

  /**
   * A planned step-down, once this node's engine writes no more (its shards stand by): from now on
   * the node claims nothing, and the record it holds is given up (written vacant, as at a stop), so
   * that a standby claims it at its next read instead of waiting for the lease to expire. The node
   * keeps reading the record and reporting its owner (`standby`). Resolves once the record was
   * written vacant; a write that fails leaves the record to expire, since nothing renews it.
   */
  async giveUp(): Promise<void> {
    this.drainedState = true;
    await this.resign();
  }

  /**
   * An unplanned step-down while this node holds the record (a shard's stream refused an append:
   * another node wrote it): once the engine writes no more, the record is given up (written vacant)
   * and the node carries on as a standby that may claim again, unlike `giveUp`. Does nothing when
   * the record is no longer held.
   */
  async resign(): Promise<void> {
    await this.ownTurn(async () => {
      const held = this.held;
      if (held === null) return;
      this.held = null;
      this.reported = null;
      this.seen = null;
      const vacant = { nodeId: '', term: held.record.term, httpAddress: '' };
      this.lastRecord = vacant;
      await this.lease.replace(held.revision, vacant, { timeoutMs: CLUSTER_LEASE_RENEW_ATTEMPT_MS, retries: 1 });
    });
  }

  /** A standby drained: it claims nothing from now on, whatever the record says, until `undrain`. */
  drain(): void {
    this.drainedState = true;
  }

  /** Claims again as any standby does: a vacant or expired record, at the next read. */
  undrain(): void {
    this.drainedState = false;
    this.seen = null;
  }

  /** Stops reading and renewing; a record held stays until it expires or `release` gives it up. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Stops, and gives the record up when this node holds it (a stop, once the shards are closed):
   * a standby claims a vacant record at its next read instead of waiting for the lease to expire.
   */
  async release(): Promise<void> {
    this.stop();
    await this.turn;
    const held = this.held;
    if (held === null) return;
    this.held = null;
    await this.lease.replace(held.revision, { nodeId: '', term: held.record.term, httpAddress: '' });
  }
}
