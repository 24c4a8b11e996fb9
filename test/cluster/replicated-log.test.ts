// One shard's batch log replicated on a three-server NATS cluster (engine/cluster/): an owner runs
// batches through the shard's real commit path and appends each log value fenced on the stream's
// last sequence; a follower applies the stream into an empty store through the replay path and
// ends with the owner's books, byte for byte; a stale owner is refused; a value whose checksum
// does not replay is refused; and a NATS server killed with SIGKILL mid-run, the stream's leader,
// loses nothing acknowledged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { memberBatchOps } from '../helpers/member-batches.js';
import { FenceRefusedError, ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { ShardFollower } from '../../engine/shard/stream-follower.js';
import { shardStream } from '../../engine/cluster/shard-stream.js';
import { openShardStore, getState, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { LogReplayError } from '../../engine/shard/replay.js';
import { logPosition, logValues, LOG_HEADER_BYTES, type LoggedTask } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { verify } from '../../engine/shard/queries.js';
import { loadCore } from '../../engine/core/wasm.js';
import { demoProgram } from '../../engine/rules/program.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'test';
const T0 = Date.parse('2026-03-10T02:00:00Z');

describe.skipIf(skip)('a shard\'s batch log replicated on NATS JetStream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-cluster-'));
  const stores: ShardStore[] = [];
  let cluster: NatsCluster;
  let ownerNc: NatsConnection;
  let log: ReplicatedLog;
  let owner: { store: ShardStore; machine: ShardMachine };
  /** Stream sequences the owner's appends were acknowledged at, in order. */
  const acked: number[] = [];
  let clockMs = T0;

  /** The owner's log value of entry `seq`. */
  function loggedValue(seq: number): Buffer {
    const [entry] = [...logValues(owner.store, seq, seq)];
    if (entry === undefined) throw new Error(`the owner's log has no entry ${seq}`);
    return entry[1];
  }

  function fresh(name: string): ShardStore {
    const store = openShardStore(join(dir, name), 256 * 1024 * 1024, { noSync: true });
    stores.push(store);
    return store;
  }

  /** Runs one task on the owner's shard, as the worker does, then appends its log value fenced on the entry before it. */
  async function commit(task: LoggedTask): Promise<void> {
    owner.machine.run(task, (clockMs += 1_000));
    const seq = logPosition(owner.store).seq;
    acked.push(await log.appendFenced(0, loggedValue(seq), seq - 1));
  }

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    ownerNc = await cluster.connect('owner');
    log = await ReplicatedLog.open(ownerNc, DEPLOYMENT, [0, 1], { nodeId: 'node-a', term: 1 });
    const store = fresh('owner');
    owner = { store, machine: new ShardMachine(store, loadCore(), 0, { log: true }) };
    await commit({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
  });

  afterAll(async () => {
    await ownerNc?.close();
    await cluster?.stop();
    for (const s of stores) await s.root.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a follower applies 40 batches from the stream into an empty store and ends with the owner\'s books', async () => {
    for (let i = 0; i < 40; i++) await commit({ kind: 'batch', ops: memberBatchOps(i, T0) });
    expect(acked).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(await log.lastSeq(0)).toBe(41);

    const copy = fresh('follower-1');
    const followerNc = await cluster.connect('follower-1');
    try {
      const follower = await ShardFollower.open(followerNc, shardStream(DEPLOYMENT, 0), copy);
      expect(await follower.catchUp()).toEqual({ fromSeq: 0, lastSeq: 41, applied: 41 });
      // Nothing new: a second catch-up applies nothing.
      expect(await follower.catchUp()).toEqual({ fromSeq: 41, lastSeq: 41, applied: 0 });
    } finally {
      await followerNc.close();
    }
    expect(diffStores(owner.store, copy, { listedMax: 5 })).toMatchObject({ differenceCount: 0 });
    expect(logPosition(copy)).toEqual(logPosition(owner.store));
    expect(verify(copy).mismatches).toEqual([]);
    // The figures, not only the bytes: m39 topped up 10,039 and paid 1,000 of its purchase from the wallet.
    expect(getState(copy, 'm39')?.walletCents).toBe(9_039);
  });

  it('refuses a stale owner\'s append and keeps the stream as the owner wrote it', async () => {
    const staleNc = await cluster.connect('stale-owner');
    try {
      const stale = await ReplicatedLog.open(staleNc, DEPLOYMENT, [0, 1], { nodeId: 'node-b', term: 1 });
      const last = await log.lastSeq(0);
      const value = loggedValue(last);
      // node-b last saw entry last-1: an owner that missed the current owner's last append.
      const refused = await stale.appendFenced(0, value, last - 1).then(() => null, (err: unknown) => err);
      expect(refused).toBeInstanceOf(FenceRefusedError);
      expect(refused).toMatchObject({ code: 'fence_refused', shard: 0, expectedLastSeq: last - 1 });
      expect(await log.lastSeq(0)).toBe(last);
      // The owner's own retry of an append whose acknowledgement it lost is its own message, not a
      // refusal, and adds nothing.
      expect(await log.appendFenced(0, value, last - 1)).toBe(last);
      expect(await log.lastSeq(0)).toBe(last);
    } finally {
      await staleNc.close();
    }
  });

  it('a follower refuses a value that does not replay to its checksum, naming the entry', async () => {
    // Shard 1's stream gets the owner's program entry, then its first batch with one checksum byte changed.
    const program = loggedValue(1);
    const changed = Buffer.from(loggedValue(2));
    changed[LOG_HEADER_BYTES - 1] = changed[LOG_HEADER_BYTES - 1]! ^ 0xff;
    expect(await log.appendFenced(1, program, 0)).toBe(1);
    expect(await log.appendFenced(1, changed, 1)).toBe(2);
    const copy = fresh('follower-corrupt');
    const nc = await cluster.connect('follower-corrupt');
    try {
      const follower = await ShardFollower.open(nc, shardStream(DEPLOYMENT, 1), copy);
      const err = await follower.catchUp().then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(LogReplayError);
      expect(err).toMatchObject({ shard: 1, seq: 2, reason: 'checksum' });
      expect(logPosition(copy).seq).toBe(1);
    } finally {
      await nc.close();
    }
  });

  it('loses nothing acknowledged when the stream\'s leader is killed with SIGKILL mid-run', async () => {
    const jsm = await jetstreamManager(ownerNc, { timeout: 5_000 });
    const leader = (await jsm.streams.info(shardStream(DEPLOYMENT, 0).name)).cluster?.leader;
    const victim = cluster.nodes.findIndex((n) => n.name === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    const before = acked.length;
    let stalledMs = 0;
    for (let i = 40; i < 80; i++) {
      if (i === 50) await cluster.kill(victim);
      const startedMs = Date.now();
      await commit({ kind: 'batch', ops: memberBatchOps(i, T0) });
      stalledMs = Math.max(stalledMs, Date.now() - startedMs);
    }
    expect(acked.length).toBe(before + 40);
    expect(acked).toEqual(Array.from({ length: acked.length }, (_, i) => i + 1));
    // The election the kill caused held up one append, within the append's deadline.
    console.log(`longest append after killing the stream leader (${leader}): ${stalledMs} ms`);

    // Read back with a fresh connection while the killed server is still down: every acknowledged
    // entry is there.
    const nc = await cluster.connect('after-kill');
    const copy = fresh('follower-after-kill');
    try {
      const follower = await ShardFollower.open(nc, shardStream(DEPLOYMENT, 0), copy);
      expect(await follower.catchUp()).toMatchObject({ fromSeq: 0, lastSeq: acked.length });
    } finally {
      await nc.close();
    }
    // The follower's log holds each value as the stream delivered it: every byte the owner logged.
    expect([...logValues(copy)].map(([seq, v]) => [seq, Buffer.from(v).toString('hex')])).toEqual([...logValues(owner.store)].map(([seq, v]) => [seq, Buffer.from(v).toString('hex')]));
    expect(diffStores(owner.store, copy, { listedMax: 5 })).toMatchObject({ differenceCount: 0 });
    expect(verify(copy).mismatches).toEqual([]);

    // The killed server comes back on its folder and catches up; the cluster is whole again.
    cluster.startNode(victim);
    await cluster.waitReady();
  });
});
