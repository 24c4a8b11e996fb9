// A shard's appends pipelined on a three-server NATS cluster (engine/cluster/append-pipeline.ts):
// many appends in flight land in log order and the stream equals the owner's copy; an append
// refused only because the one before it had not landed yet is sent again once that one is
// acknowledged, and fails with it when it fails; another writer's append in the middle of a
// pipeline is refused as fence_refused and nothing of the pipeline lands after it; and a stream
// leader killed with SIGKILL mid-pipeline loses nothing acknowledged and doubles nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { FenceRefusedError, ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { LOG_SEQ_HEADER, shardStream } from '../../engine/cluster/shard-stream.js';
import { CLUSTER_APPENDS_IN_FLIGHT_MAX } from '../../engine/limits.js';
import { ShardReplicator } from '../../engine/shard/replicator.js';
import { ShardFollower } from '../../engine/shard/stream-follower.js';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { logPosition, logValues } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { verify } from '../../engine/shard/queries.js';
import { loadCore } from '../../engine/core/wasm.js';
import { demoProgram } from '../../engine/rules/program.js';
import { purchaseOp, registerOp, topupOp } from '../../server/requests.js';
import type { WriteOp } from '../../engine/ops.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'pipe';
const T0 = Date.parse('2026-03-10T02:00:00Z');
const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });

/** Batch `i`: a member registered, topped up and buying. */
function batchOps(i: number): WriteOp[] {
  const t = T0 + 60_000 * i;
  return [
    registerOp({ memberId: `m${i}`, name: `Member ${i}`, ...at(t) }, admin(t), () => 'x'),
    topupOp({ requestId: `t${i}`, memberId: `m${i}`, amountCents: 10_000 + i, ...at(t) }, admin(t)),
    purchaseOp({ orderId: `o${i}`, memberId: `m${i}`, amountCents: 2_500 + 7 * i, walletCents: 1_000, ...at(t) }, admin(t)),
  ];
}

const deferred = () => {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
};

describe.skipIf(skip)('a shard\'s appends pipelined to its stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-pipeline-'));
  const stores: ShardStore[] = [];
  const replicators: ShardReplicator[] = [];
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let clockMs = T0;

  /** An owner of `shard`: a store with its program entry, and its replicator levelled with the stream (the program appended, then the owner's term entry). */
  async function owner(shard: number): Promise<{ store: ShardStore; machine: ShardMachine; replicator: ShardReplicator }> {
    const store = openShardStore(join(dir, `owner-${shard}`), 256 * 1024 * 1024, { noSync: true });
    stores.push(store);
    const machine = new ShardMachine(store, loadCore(), shard, { log: true });
    machine.run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, (clockMs += 1_000));
    const replicator = await ShardReplicator.open({ servers: cluster.servers, nodeId: 'node-a', deployment: DEPLOYMENT }, shard, store, 1, () => (clockMs += 1_000));
    replicators.push(replicator);
    return { store, machine, replicator };
  }

  /** Reads the shard's stream into an empty store: it must end with the owner's books and log, entry for entry. */
  async function expectStreamEqualsCopy(shard: number, copyOf: ShardStore): Promise<void> {
    const copy = openShardStore(join(dir, `follower-${shard}`), 256 * 1024 * 1024, { noSync: true });
    stores.push(copy);
    // The follower asserts each message's Loyalty-Log-Seq against its stream sequence: a doubled entry stops it.
    await (await ShardFollower.open(nc, shardStream(DEPLOYMENT, shard), copy)).catchUp();
    const hex = (s: ShardStore) => [...logValues(s)].map(([seq, v]) => [seq, Buffer.from(v).toString('hex')]);
    expect(hex(copy)).toEqual(hex(copyOf));
    expect(diffStores(copyOf, copy, { listedMax: 5 })).toMatchObject({ differenceCount: 0 });
    expect(verify(copy).mismatches).toEqual([]);
  }

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    nc = await cluster.connect('inspect');
  });

  afterAll(async () => {
    for (const r of replicators) await r.close();
    await nc?.close();
    await cluster?.stop();
    for (const s of stores) await s.root.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends an append refused before the one it is fenced on landed again once that one is acknowledged', async () => {
    const log = await ReplicatedLog.open(nc, DEPLOYMENT, [0], { nodeId: 'node-a', term: 1 });
    const [v1, v2, v3] = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
    expect(await log.appendFenced(0, v1, 0)).toBe(1);
    // Entry 3 goes out fenced on entry 2, which has not reached the stream (its attempt lost): refused.
    const second = deferred();
    const third = log.appendFenced(0, v3, 2, second.promise);
    // Its refusal comes back within a round trip; a quarter of a second is ample on a loaded machine.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await log.lastSeq(0)).toBe(1);
    // Entry 2's retry lands; entry 3 is sent again and lands after it, not refused.
    expect(await log.appendFenced(0, v2, 1)).toBe(2);
    second.resolve();
    expect(await third).toBe(3);
    expect(log.resentAfterPredecessor).toBe(1);
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    const stored = await Promise.all([1, 2, 3].map((seq) => jsm.streams.getMessage(shardStream(DEPLOYMENT, 0).name, { seq })));
    expect(stored.map((m) => Buffer.from(m!.data).toString())).toEqual(['one', 'two', 'three']);
    expect(stored.map((m) => m!.header.get(LOG_SEQ_HEADER))).toEqual(['1', '2', '3']);

    // When the entry before it fails, the append fails with that failure, and the stream keeps 3 entries.
    const fourth = deferred();
    const fifth = log.appendFenced(0, Buffer.from('five'), 4, fourth.promise).then(() => null, (err: unknown) => err);
    const gone = new FenceRefusedError(0, 3);
    fourth.reject(gone);
    expect(await fifth).toBe(gone);
    expect(await log.lastSeq(0)).toBe(3);
  });

  it(`keeps ${CLUSTER_APPENDS_IN_FLIGHT_MAX} appends in flight, acknowledges them in log order, and the stream equals the copy`, async () => {
    const { store, machine, replicator } = await owner(1);
    const order: number[] = [];
    const replies: Array<Promise<void>> = [];
    for (let i = 0; i < 120; i++) {
      machine.run({ kind: 'batch', ops: batchOps(i) }, (clockMs += 1_000));
      const seq = logPosition(store).seq;
      replies.push(replicator.replicate().then(() => { order.push(seq); }));
    }
    await Promise.all(replies);
    await replicator.settled();
    expect(replicator.appendStats.peakInFlight).toBe(CLUSTER_APPENDS_IN_FLIGHT_MAX);
    expect(order).toEqual(Array.from({ length: 120 }, (_, i) => i + 3));
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    expect((await jsm.streams.info(shardStream(DEPLOYMENT, 1).name)).state.messages).toBe(122);
    await expectStreamEqualsCopy(1, store);
  });

  it('refuses a pipeline as fence_refused when another writer appended in the middle, and lands nothing after it', async () => {
    const { store, machine, replicator } = await owner(2);
    const other = await ReplicatedLog.open(nc, DEPLOYMENT, [2], { nodeId: 'node-b', term: 1 });
    // node-b appends entry 3 first (after node-a's program and term entries): node-a's entry 3 is
    // refused, and its entries 4… fenced on sequence 3 alone would land after node-b's message.
    expect(await other.appendFenced(2, Buffer.from('node-b was here'), 2)).toBe(3);
    const outcomes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 6; i++) {
      machine.run({ kind: 'batch', ops: batchOps(i) }, (clockMs += 1_000));
      outcomes.push(replicator.replicate().then(() => null, (err: unknown) => err));
    }
    const errors = await Promise.all(outcomes);
    for (const err of errors) expect(err).toMatchObject({ code: 'fence_refused', shard: 2, expectedLastSeq: 2 });
    expect(errors[0]).toBeInstanceOf(FenceRefusedError);
    expect(await other.lastSeq(2)).toBe(3);
    expect(Buffer.from((await other.valueAt(2, 3))!).toString()).toBe('node-b was here');
    // Every later call fails the same way: the owner is stale.
    await expect(replicator.settled()).rejects.toMatchObject({ code: 'fence_refused' });
    expect(logPosition(store).seq).toBe(8);
  });

  it('loses nothing acknowledged and doubles nothing when the stream\'s leader is killed with SIGKILL mid-pipeline', async () => {
    const { store, machine, replicator } = await owner(3);
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    const leader = (await jsm.streams.info(shardStream(DEPLOYMENT, 3).name)).cluster?.leader;
    const victim = cluster.nodes.findIndex((n) => n.name === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    const acknowledged: number[] = [];
    let killed: Promise<void> | null = null;
    let stalledMs = 0;
    // Bursts of ten batches, each burst's replies awaited together, as a shard thread's replies are.
    for (let burst = 0; burst < 12; burst++) {
      const replies: Array<Promise<void>> = [];
      for (let j = 0; j < 10; j++) {
        const i = burst * 10 + j;
        machine.run({ kind: 'batch', ops: batchOps(i) }, (clockMs += 1_000));
        const seq = logPosition(store).seq;
        replies.push(replicator.replicate().then(() => { acknowledged.push(seq); }));
        // The kill lands while the burst's appends are on their way.
        if (burst === 4 && j === 5) killed = cluster.kill(victim);
      }
      const startedMs = Date.now();
      await Promise.all(replies);
      stalledMs = Math.max(stalledMs, Date.now() - startedMs);
    }
    await killed;
    console.log(`longest burst after killing the stream leader (${leader}): ${stalledMs} ms; appends sent again after the one before them settled: ${replicator.appendStats.resentAfterPredecessor}`);
    expect(acknowledged).toEqual(Array.from({ length: 120 }, (_, i) => i + 3));
    // Read back while the killed server is still down: every acknowledged entry once, in order.
    expect((await jsm.streams.info(shardStream(DEPLOYMENT, 3).name)).state).toMatchObject({ messages: 122, last_seq: 122 });
    await expectStreamEqualsCopy(3, store);
    cluster.startNode(victim);
    await cluster.waitReady();
  }, 90_000);
});
