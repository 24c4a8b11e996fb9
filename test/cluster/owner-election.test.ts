// The owner election (engine/cluster/owner-election.ts) against a lease in memory and a clock of its
// own. The chaos run (bench/cluster-chaos.ts) saw an owner step down after one NATS server was
// killed: a renewal lost with the dead server waited 2 s, and once more, while a standby reading
// through a live server counted the lease out and claimed. Now the owner makes one short attempt per
// turn on a fixed cadence (three tries within the lease), and a standby that could not read the
// record starts its count again at its next read. An owner that finds another node's record where
// its own was carries on as a standby (it steps down in place, server/cluster-node.ts). The chaos
// run also saw a standby whose copies were hundreds of entries behind its streams claim the record,
// and its takeover wait for the replay: a standby that lags waits CLUSTER_CLAIM_LAG_WAIT_MS longer.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OwnerElection, type ElectionEvents } from '../../engine/cluster/owner-election.js';
import type { LeaseView, OwnerLease, OwnerRecord } from '../../engine/cluster/owner-lease.js';
import { CLUSTER_CLAIM_LAG_ENTRIES_MAX, CLUSTER_CLAIM_LAG_WAIT_MS, CLUSTER_LEASE_MS, CLUSTER_LEASE_POLL_MS, CLUSTER_LEASE_RENEW_ATTEMPT_MS, CLUSTER_LEASE_RENEW_MS } from '../../engine/limits.js';

/** The owners stream in memory: compare-and-set on the revision; reads and writes can be made to fail. */
class MemoryLease {
  view: LeaseView = { record: { nodeId: 'node-1', term: 1, httpAddress: 'http://127.0.0.1:1' }, revision: 5 };
  readable = true;
  /** Writes that time out (after the attempt's timeout) instead of landing. */
  lostWrites = 0;
  attempts: Array<{ atMs: number; timeoutMs: number; retries: number }> = [];
  async read(): Promise<LeaseView> {
    if (!this.readable) throw new Error('no responders: the stream has no leader');
    return this.view;
  }
  async replace(revision: number, record: OwnerRecord, attempt = { timeoutMs: 2_000, retries: 1 }): Promise<LeaseView | null> {
    this.attempts.push({ atMs: Date.now(), ...attempt });
    if (this.lostWrites > 0) {
      this.lostWrites -= 1;
      await new Promise((resolve) => setTimeout(resolve, attempt.timeoutMs * (attempt.retries + 1)));
      throw new Error('timeout');
    }
    if (revision !== this.view.revision) return null;
    this.view = { record, revision: revision + 1 };
    return this.view;
  }
}

function events(won: number[], lost: OwnerRecord[] = []): ElectionEvents {
  return { standby: () => undefined, won: (term) => won.push(term), lost: (r) => lost.push(r), trouble: () => undefined };
}

/** node-1's election on a fresh in-memory lease, started and given its first turn (it claims the vacant record, term 2). */
async function startedNode1(): Promise<{ lease: MemoryLease; won: number[]; lost: OwnerRecord[]; election: OwnerElection }> {
  const lease = new MemoryLease();
  const won: number[] = [];
  const lost: OwnerRecord[] = [];
  const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-1', httpAddress: 'http://127.0.0.1:1' }, events(won, lost), () => Date.now());
  election.start();
  await vi.advanceTimersByTimeAsync(0);
  return { lease, won, lost, election };
}

describe('owner election', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('a standby claims a record unchanged for the lease while it can read it', async () => {
    const lease = new MemoryLease();
    const won: number[] = [];
    const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-2', httpAddress: 'http://127.0.0.1:2' }, events(won), () => Date.now());
    election.start();
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS - CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([]);
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2]);
    election.stop();
  });

  it('a standby that could not read the record counts a whole lease again from its next read', async () => {
    const lease = new MemoryLease();
    const won: number[] = [];
    const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-2', httpAddress: 'http://127.0.0.1:2' }, events(won), () => Date.now());
    election.start();
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_POLL_MS);
    lease.readable = false;
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_MS);
    lease.readable = true;
    // The record reads the same as before the outage: the owner had no way to renew meanwhile.
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS - CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([]);
    await vi.advanceTimersByTimeAsync(3 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2]);
    election.stop();
  });

  it('the owner renews with short single attempts on a fixed cadence: one lost attempt costs one turn, not the lease', async () => {
    const { lease, won, lost, election } = await startedNode1();
    expect(won).toEqual([2]); // its own id in the record: claimed at once
    const t0 = Date.now();
    lease.attempts = [];
    const revisionBefore = lease.view.revision;
    lease.lostWrites = 1;
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_RENEW_MS);
    const renewals = lease.attempts.map((a) => ({ afterMs: a.atMs - t0, timeoutMs: a.timeoutMs, retries: a.retries }));
    expect(renewals.every((a) => a.timeoutMs === CLUSTER_LEASE_RENEW_ATTEMPT_MS && a.retries === 0)).toBe(true);
    // The lost attempt at one turn, the next at two: renewed two turns after the last renewal, a third
    // of the lease to spare (with 2 s and a retry per attempt the next try came at 5 s, past the lease).
    expect(renewals.map((a) => a.afterMs)).toEqual([CLUSTER_LEASE_RENEW_MS, 2 * CLUSTER_LEASE_RENEW_MS]);
    expect(2 * CLUSTER_LEASE_RENEW_MS).toBeLessThan(CLUSTER_LEASE_MS);
    expect(lease.view.revision).toBe(revisionBefore + 1);
    expect(lost).toEqual([]);
    election.stop();
  });

  it('an owner that gives the record up writes it vacant at once and, drained, never claims it again until undrained', async () => {
    const { lease, won, lost, election } = await startedNode1();
    expect(won).toEqual([2]);
    await election.giveUp();
    expect(lease.view.record).toEqual({ nodeId: '', term: 2, httpAddress: '' });
    expect(election.holding).toBeNull();
    expect(election.drained).toBe(true);
    // A vacant record, and later its own id in it (as after a restart): a drained node claims neither.
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_MS);
    lease.view = { record: { nodeId: 'node-1', term: 2, httpAddress: 'http://127.0.0.1:1' }, revision: lease.view.revision + 1 };
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_MS);
    expect(won).toEqual([2]);
    expect(election.record).toEqual({ nodeId: 'node-1', term: 2, httpAddress: 'http://127.0.0.1:1' });
    // Undrained, it claims as any standby does.
    election.undrain();
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2, 3]);
    expect(lost).toEqual([]);
    election.stop();
  });

  it('an owner whose renewal finds another node\'s record reports it lost once and carries on as a standby that reads and may claim again', async () => {
    const lease = new MemoryLease();
    const won: number[] = [];
    const lost: OwnerRecord[] = [];
    const reported: OwnerRecord[] = [];
    const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-1', httpAddress: 'http://127.0.0.1:1' }, {
      standby: (r) => reported.push(r), won: (term) => won.push(term), lost: (r) => lost.push(r), trouble: () => undefined,
    }, () => Date.now());
    election.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(won).toEqual([2]);
    // Paused past its lease (as with SIGSTOP): node-2 claimed term 3 meanwhile.
    const taken = { nodeId: 'node-2', term: 3, httpAddress: 'http://127.0.0.1:2' };
    lease.view = { record: taken, revision: lease.view.revision + 1 };
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_RENEW_MS);
    expect(lost).toEqual([taken]);
    expect(election.holding).toBeNull();
    expect(election.record).toEqual(taken);
    // It goes on reading the record (a stopped election would report nothing more) and reports the new owner.
    const reads = lease.attempts.length;
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_POLL_MS);
    expect(reported).toEqual([taken]);
    expect(lease.attempts.length).toBe(reads);
    // While node-2 renews, nothing is claimed; once its record stays unchanged for the lease, this node claims term 4.
    for (let i = 0; i < 3; i++) {
      lease.view = { record: taken, revision: lease.view.revision + 1 };
      await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_RENEW_MS);
    }
    expect(won).toEqual([2]);
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS + 2 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2, 4]);
    expect(lost).toEqual([taken]);
    election.stop();
  });

  it('an owner that resigns (a stream refused its append) writes the record vacant and, unlike a drained one, may claim again', async () => {
    const { lease, won, lost, election } = await startedNode1();
    expect(won).toEqual([2]);
    await election.resign();
    expect(lease.view.record).toEqual({ nodeId: '', term: 2, httpAddress: '' });
    expect(election.holding).toBeNull();
    expect(election.drained).toBe(false);
    // A vacant record is claimed at the next read, by this node as by any standby.
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2, 3]);
    expect(lost).toEqual([]);
    election.stop();
  });

  it('a drained standby does not claim an expired record', async () => {
    const lease = new MemoryLease();
    const won: number[] = [];
    const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-2', httpAddress: 'http://127.0.0.1:2' }, events(won), () => Date.now());
    election.drain();
    election.start();
    await vi.advanceTimersByTimeAsync(3 * CLUSTER_LEASE_MS);
    expect(won).toEqual([]);
    expect(election.record).toEqual(lease.view.record);
    election.undrain();
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS + 2 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2]);
    election.stop();
  });

  it('of two standbys, the one whose copies lag past CLUSTER_CLAIM_LAG_ENTRIES_MAX leaves an expired record to the level one', async () => {
    const lease = new MemoryLease();
    const wonBy: string[] = [];
    const node = (nodeId: string, lag: number) => new OwnerElection(lease as unknown as OwnerLease, { nodeId, httpAddress: `http://127.0.0.1:${nodeId}` }, {
      standby: () => undefined, won: (term) => wonBy.push(`${nodeId}:${term}`), lost: () => undefined, trouble: () => undefined,
    }, () => Date.now(), () => lag);
    // The lagging node starts first, so that at the lease's expiry its turn comes first.
    const behind = node('node-3', CLUSTER_CLAIM_LAG_ENTRIES_MAX + 1);
    const level = node('node-2', CLUSTER_CLAIM_LAG_ENTRIES_MAX);
    behind.start();
    level.start();
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS + CLUSTER_LEASE_POLL_MS);
    expect(wonBy).toEqual(['node-2:2']);
    // The level node renews as owner: the lagging one never finds the record unchanged for long enough.
    await vi.advanceTimersByTimeAsync(2 * (CLUSTER_LEASE_MS + CLUSTER_CLAIM_LAG_WAIT_MS));
    expect(wonBy).toEqual(['node-2:2']);
    expect(lease.view.record.nodeId).toBe('node-2');
    behind.stop();
    level.stop();
  });

  it('a lagging standby alone claims an expired record CLUSTER_CLAIM_LAG_WAIT_MS after a level one would, and says so once', async () => {
    const lease = new MemoryLease();
    const won: number[] = [];
    const deferred: Array<[number, number]> = [];
    const lag = CLUSTER_CLAIM_LAG_ENTRIES_MAX + 400;
    const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-2', httpAddress: 'http://127.0.0.1:2' }, {
      ...events(won), deferring: (entries, waitMs) => deferred.push([entries, waitMs]),
    }, () => Date.now(), () => lag);
    election.start();
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS + CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([]);
    expect(deferred).toEqual([[lag, CLUSTER_CLAIM_LAG_WAIT_MS]]);
    await vi.advanceTimersByTimeAsync(CLUSTER_CLAIM_LAG_WAIT_MS - 2 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([]);
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2]);
    expect(deferred).toHaveLength(1);
    election.stop();
  });

  it('a vacant record is claimed at once by a level standby, and by a lagging one after CLUSTER_CLAIM_LAG_WAIT_MS or once it has caught up', async () => {
    const vacant = { nodeId: '', term: 4, httpAddress: '' };
    for (const caughtUp of [false, true]) {
      const lease = new MemoryLease();
      lease.view = { record: vacant, revision: 9 };
      const won: number[] = [];
      let lag: number | null = CLUSTER_CLAIM_LAG_ENTRIES_MAX + 1;
      const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-2', httpAddress: 'http://127.0.0.1:2' }, events(won), () => Date.now(), () => lag);
      election.start();
      await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_POLL_MS);
      expect(won).toEqual([]);
      if (caughtUp) {
        lag = 0;
        await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_POLL_MS);
        expect(won).toEqual([5]);
      } else {
        await vi.advanceTimersByTimeAsync(CLUSTER_CLAIM_LAG_WAIT_MS - 3 * CLUSTER_LEASE_POLL_MS);
        expect(won).toEqual([]);
        await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_POLL_MS);
        expect(won).toEqual([5]);
      }
      election.stop();
      // A standby whose shards have not looked at their streams yet (null) is taken as level.
      const fresh = new MemoryLease();
      fresh.view = { record: vacant, revision: 9 };
      const freshWon: number[] = [];
      lag = null;
      const level = new OwnerElection(fresh as unknown as OwnerLease, { nodeId: 'node-3', httpAddress: 'http://127.0.0.1:3' }, events(freshWon), () => Date.now(), () => lag);
      level.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(freshWon).toEqual([5]);
      level.stop();
    }
  });
});
