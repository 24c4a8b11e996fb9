// A standby shard (engine/shard/standby.ts) against a real three-server NATS cluster: it follows
// its stream continuously into its copy; a copy ahead of the stream with entries of its own waits
// (they are this node's, committed and never acknowledged) while the stream does not move; once
// another owner's entry takes their place in the stream, the copy is rebuilt from the stream and
// ends with the owner's books, byte for byte. The owner record (engine/cluster/owner-lease.ts)
// changes only by compare-and-set: of two claims on one revision, one wins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { skipWithoutNats, useNatsCluster } from '../helpers/nats-cluster.js';
import { ShardCopies, waitFor } from '../helpers/shard-copies.js';
import { ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { OwnerLease } from '../../engine/cluster/owner-lease.js';
import { ShardStandby, type StandbyEvents } from '../../engine/shard/standby.js';
import { logPosition, type LoggedTask } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { demoProgram } from '../../engine/rules/program.js';
import { registerOp } from '../../server/requests.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'standby';
const T0 = Date.parse('2026-03-10T02:00:00Z');
const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('a standby shard and the owner record on NATS JetStream', () => {
  const copies = new ShardCopies('loyalty-standby-', T0);
  const { dir, open, run, purchase } = copies;
  const nats = useNatsCluster('standby-test');
  let log: ReplicatedLog;

  beforeAll(async () => {
    log = await ReplicatedLog.open(nats.nc, DEPLOYMENT, [0], { nodeId: 'node-a', term: 1 });
  });

  afterAll(async () => {
    copies.remove();
  });

  it('follows the stream, waits while ahead with its own entries, and is rebuilt once another owner\'s entry replaces them', async () => {
    // The owner's copy writes the stream: a program and three members.
    const owner = open('owner');
    const append = async (task: LoggedTask) => { const value = run(owner, task); await log.appendFenced(0, value, logPosition(owner).seq - 1); };
    await append({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
    for (let i = 0; i < 3; i++) await append({ kind: 'batch', ops: [registerOp({ memberId: `s${i}`, name: `S ${i}`, ...at(copies.clockMs) }, admin(copies.clockMs), () => 'x')] });

    let copy = open('copy');
    const rebuilds: string[] = [];
    const failures: Error[] = [];
    // What the shard's thread does (engine/shard/worker.ts): the copy moved aside, an empty one opened.
    const events: StandbyEvents = {
      store: () => copy,
      rebuild: async (reason) => {
        rebuilds.push(reason);
        await copy.root.close();
        renameSync(join(dir, 'copy'), join(dir, `copy.diverged-${rebuilds.length}`));
        copy = open('copy');
      },
      fail: (err) => { failures.push(err); },
      warn: () => { /* a turn that could not reach the stream is tried again */ },
    };
    const config = { servers: nats.cluster.servers, nodeId: 'node-b', deployment: DEPLOYMENT };
    const standby = await ShardStandby.open(config, 0, events);
    try {
      await waitFor('the standby applies the owner\'s four entries', () => logPosition(copy).seq === 4);
      // Followed continuously: a new entry reaches the copy without being asked for.
      await append(purchase('p-1', 's0', 1_200));
      await waitFor('the standby applies entry 5', () => logPosition(copy).seq === 5);

      // The copy gets an entry of its own (as when this node owned the shard and its last commit was
      // never acknowledged): ahead of an unmoved stream, it waits and keeps it.
      await standby.stop();
      run(copy, purchase('p-mine', 's1', 3_300));
      const restarted = await ShardStandby.open(config, 0, events);
      try {
        await pause(1_000);
        expect(rebuilds).toEqual([]);
        expect(logPosition(copy).seq).toBe(6);

        // Another owner's entry 6 reaches the stream: the copy's own entry 6 can never be, and the copy is rebuilt.
        await append(purchase('p-2', 's2', 4_400));
        await waitFor('the copy is rebuilt and follows to entry 6', () => rebuilds.length === 1 && logPosition(copy).seq === 6);
        expect(rebuilds[0]).toContain('log entry 6 of this node\'s copy differs from the stream\'s');
        expect(existsSync(join(dir, 'copy.diverged-1'))).toBe(true);
        expect(diffStores(owner, copy, { listedMax: 5 }).differences).toEqual([]);
        expect(failures).toEqual([]);
      } finally {
        await restarted.stop();
      }
    } finally {
      await copy.root.close();
      await owner.root.close();
    }
  }, 60_000);

  it('lets one of two claims on the same revision of the owner record win', async () => {
    const [a, b] = await Promise.all([OwnerLease.open(nats.nc, 'lease'), OwnerLease.open(nats.nc, 'lease')]);
    const seen = await a.read();
    expect(seen.record).toEqual({ nodeId: '', term: 0, httpAddress: '' });
    const claims = await Promise.all([
      a.replace(seen.revision, { nodeId: 'node-a', term: 1, httpAddress: 'http://a:1' }),
      b.replace(seen.revision, { nodeId: 'node-b', term: 1, httpAddress: 'http://b:1' }),
    ]);
    expect(claims.filter((c) => c !== null)).toHaveLength(1);
    const winner = claims.find((c) => c !== null)!;
    expect(await b.read()).toEqual(winner);
    // The loser's next try on the revision it saw is refused as well: the record moved past it.
    const loser = winner.record.nodeId === 'node-a' ? { lease: b, nodeId: 'node-b' } : { lease: a, nodeId: 'node-a' };
    expect(await loser.lease.replace(seen.revision, { nodeId: loser.nodeId, term: 1, httpAddress: 'http://late:1' })).toBeNull();
    // The winner's renewal, fenced on its revision, goes through.
    expect(await loser.lease.replace(winner.revision, winner.record)).toMatchObject({ record: winner.record, revision: winner.revision + 1 });
  });
});
