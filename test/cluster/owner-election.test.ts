// The owner election (engine/cluster/owner-election.ts) against a lease in memory and a clock of
// its own: a standby claims a record that has not changed for the lease, but not merely because
// NATS could not take writes for that long. While the owners stream elects a leader (a NATS server
// killed: 4.5–7 s) the owner's renewals fail while a standby still reads the record from a replica;
// the chaos run (bench/cluster-chaos.ts) saw the standby's claim land first once writes resumed and
// the owner, refused at its next renewal, stop. While the stream has no leader (or a claim fails
// for want of NATS) the standby's count starts again, so the owner has a whole lease to renew.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OwnerElection, type ElectionEvents } from '../../engine/cluster/owner-election.js';
import type { LeaseView, OwnerLease, OwnerRecord } from '../../engine/cluster/owner-lease.js';
import { CLUSTER_LEASE_MS, CLUSTER_LEASE_POLL_MS } from '../../engine/limits.js';

/** The owners stream in memory: compare-and-set on the revision, and a switch for "no leader". */
class MemoryLease {
  view: LeaseView = { record: { nodeId: 'node-1', term: 1, httpAddress: 'http://127.0.0.1:1' }, revision: 5 };
  writable = true;
  claims = 0;
  async leaderless(): Promise<boolean> {
    return !this.writable;
  }
  async read(): Promise<LeaseView> {
    return this.view;
  }
  async replace(revision: number, record: OwnerRecord): Promise<LeaseView | null> {
    this.claims += 1;
    if (!this.writable) throw Object.assign(new Error('no responders: the stream has no leader'), { code: '503' });
    if (revision !== this.view.revision) return null;
    this.view = { record, revision: revision + 1 };
    return this.view;
  }
}

describe('owner election: a standby and a NATS election longer than the lease', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('does not claim at once when writes resume after failing past the lease; claims a whole lease later if the owner stays silent', async () => {
    const lease = new MemoryLease();
    const won: number[] = [];
    const events: ElectionEvents = { standby: () => undefined, won: (term) => won.push(term), lost: () => undefined, trouble: () => undefined };
    const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-2', httpAddress: 'http://127.0.0.1:2' }, events, () => Date.now());
    election.start();
    await vi.advanceTimersByTimeAsync(0);

    // The owners stream loses its leader: nothing can be written, the record still reads.
    lease.writable = false;
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS + 4 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([]);

    // Writes resume: the owner renews within its renewal interval, so the standby must leave it that long.
    lease.writable = true;
    const claimsBefore = lease.claims;
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_POLL_MS);
    expect(lease.claims).toBe(claimsBefore);
    expect(won).toEqual([]);

    // An owner that stays silent a whole lease after writes resumed is replaced.
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS);
    expect(won).toEqual([2]);
    expect(lease.view.record).toMatchObject({ nodeId: 'node-2', term: 2 });
    election.stop();
  });

  it('claims a record unchanged for the lease while NATS takes writes', async () => {
    const lease = new MemoryLease();
    const won: number[] = [];
    const events: ElectionEvents = { standby: () => undefined, won: (term) => won.push(term), lost: () => undefined, trouble: () => undefined };
    const election = new OwnerElection(lease as unknown as OwnerLease, { nodeId: 'node-2', httpAddress: 'http://127.0.0.1:2' }, events, () => Date.now());
    election.start();
    await vi.advanceTimersByTimeAsync(CLUSTER_LEASE_MS - CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([]);
    await vi.advanceTimersByTimeAsync(2 * CLUSTER_LEASE_POLL_MS);
    expect(won).toEqual([2]);
    election.stop();
  });
});
