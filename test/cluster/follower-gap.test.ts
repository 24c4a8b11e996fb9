// A follower whose consumer skips an entry the stream holds (engine/shard/stream-follower.ts): in
// chaos runs a consumer made from entry 769 delivered 770 first, right after a NATS server came
// back, and the standby stopped its process. Here, on a three-server NATS cluster, the consumer's
// deliveries pass through a filter that drops or repeats chosen messages, deterministically: the
// follower reads each skipped entry from the stream's leader, passes over a repeated one, ends
// with the owner's books (`diffStores`) and `verify` clean, and still refuses an entry, fetched or
// delivered, whose header does not carry its log sequence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { memberBatchOps } from '../helpers/member-batches.js';
import { ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { ShardFollower, type StreamMessage } from '../../engine/shard/stream-follower.js';
import { LOG_SEQ_HEADER, shardStream } from '../../engine/cluster/shard-stream.js';
import { openShardStore, getState, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { LogReplayError } from '../../engine/shard/replay.js';
import { logPosition, logValues, type LoggedTask } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { verify } from '../../engine/shard/queries.js';
import { loadCore } from '../../engine/core/wasm.js';
import { demoProgram } from '../../engine/rules/program.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'gap';
const T0 = Date.parse('2026-03-10T02:00:00Z');
/** Batches the owner commits after its program entry: the stream holds entries 1 to BATCHES + 1. */
const BATCHES = 30;
const LAST_SEQ = BATCHES + 1;

/**
 * A filter on the consumer's deliveries: drops the stream messages in `dropped` and delivers each
 * message in `repeated` twice, as a replica that has not caught up and a redelivery would.
 */
function tampered(dropped: ReadonlySet<number>, repeated: ReadonlySet<number> = new Set()) {
  return async function* (messages: AsyncIterable<StreamMessage>): AsyncIterable<StreamMessage> {
    for await (const m of messages) {
      if (dropped.has(m.seq)) continue;
      yield m;
      if (repeated.has(m.seq)) yield m;
    }
  };
}

describe.skipIf(skip)('a follower whose consumer skips an entry reads it from the stream\'s leader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-follower-gap-'));
  const stores: ShardStore[] = [];
  let cluster: NatsCluster;
  let ownerNc: NatsConnection;
  let followerNc: NatsConnection;
  let log: ReplicatedLog;
  let owner: { store: ShardStore; machine: ShardMachine };
  let clockMs = T0;

  function fresh(name: string): ShardStore {
    const store = openShardStore(join(dir, name), 256 * 1024 * 1024, { noSync: true });
    stores.push(store);
    return store;
  }

  /** Runs one task on the owner's shard 0, as the worker does, then appends its log value fenced on the entry before it. */
  async function commit(task: LoggedTask): Promise<void> {
    owner.machine.run(task, (clockMs += 1_000));
    const seq = logPosition(owner.store).seq;
    const [entry] = [...logValues(owner.store, seq, seq)];
    expect(await log.appendFenced(0, entry![1], seq - 1)).toBe(seq);
  }

  /** The copy holds the owner's books exactly: every database identical, the same log position, verify clean. */
  function expectOwnersBooks(copy: ShardStore): void {
    expect(diffStores(owner.store, copy, { listedMax: 5 })).toMatchObject({ differenceCount: 0 });
    expect(logPosition(copy)).toEqual(logPosition(owner.store));
    expect(verify(copy).mismatches).toEqual([]);
    // The figures, not only the bytes: m29 topped up 10,029 and paid 1,000 of its purchase from the wallet.
    expect(getState(copy, `m${BATCHES - 1}`)?.walletCents).toBe(9_029);
  }

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    ownerNc = await cluster.connect('owner');
    followerNc = await cluster.connect('follower');
    log = await ReplicatedLog.open(ownerNc, DEPLOYMENT, [0, 1], { nodeId: 'node-a', term: 1 });
    const store = fresh('owner');
    owner = { store, machine: new ShardMachine(store, loadCore(), 0, { log: true }) };
    await commit({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
    for (let i = 0; i < BATCHES; i++) await commit({ kind: 'batch', ops: memberBatchOps(i, T0) });
    expect(await log.lastSeq(0)).toBe(LAST_SEQ);
  });

  afterAll(async () => {
    await followerNc?.close();
    await ownerNc?.close();
    await cluster?.stop();
    for (const s of stores) await s.root.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a consumer made from entry 21 that delivers entry 22 first: entry 21 comes from the leader (the chaos run\'s case)', async () => {
    const copy = fresh('resumed');
    const plain = await ShardFollower.open(followerNc, shardStream(DEPLOYMENT, 0), copy);
    expect(await plain.catchUp(20)).toEqual({ fromSeq: 0, lastSeq: 20, applied: 20 });
    expect(plain.fetchedFromLeader).toBe(0);

    const follower = await ShardFollower.open(followerNc, shardStream(DEPLOYMENT, 0), copy, { delivered: tampered(new Set([21])) });
    expect(await follower.catchUp()).toEqual({ fromSeq: 20, lastSeq: LAST_SEQ, applied: LAST_SEQ - 20 });
    expect(follower.fetchedFromLeader).toBe(1);
    expectOwnersBooks(copy);
  });

  it('fills gaps of one and of two entries in the middle, passes over a repeated entry, and fetches the last entries a short fetch left out', async () => {
    const copy = fresh('gaps');
    // Entries 1 and 10 to 11 are skipped, 5 and 12 are delivered twice, and the deliveries end
    // before 29 to 31, as a fetch that expires on a server without them: read from the leader.
    const follower = await ShardFollower.open(followerNc, shardStream(DEPLOYMENT, 0), copy, {
      delivered: tampered(new Set([1, 10, 11, 29, 30, 31]), new Set([5, 12])),
    });
    expect(await follower.catchUp()).toEqual({ fromSeq: 0, lastSeq: LAST_SEQ, applied: LAST_SEQ });
    expect(follower.fetchedFromLeader).toBe(6);
    expectOwnersBooks(copy);
  });

  it('stops at `untilSeq` when the consumer skips past it, fetching only the entries up to it', async () => {
    const copy = fresh('until');
    const follower = await ShardFollower.open(followerNc, shardStream(DEPLOYMENT, 0), copy, { delivered: tampered(new Set([15, 16, 17])) });
    expect(await follower.catchUp(16)).toEqual({ fromSeq: 0, lastSeq: 16, applied: 16 });
    expect(follower.fetchedFromLeader).toBe(2);
    expect(logPosition(copy).seq).toBe(16);
    expect(await follower.catchUp()).toEqual({ fromSeq: 16, lastSeq: LAST_SEQ, applied: LAST_SEQ - 16 });
    expectOwnersBooks(copy);
  });

  it('refuses a fetched entry whose header does not carry its log sequence, naming the entry, as it refuses a delivered one', async () => {
    // Shard 1's stream: the owner's program entry, then a message that says it is log entry 7.
    const js = jetstream(ownerNc, { timeout: 5_000 });
    const stream = shardStream(DEPLOYMENT, 1);
    const [program] = [...logValues(owner.store, 1, 1)];
    const first = headers();
    first.set(LOG_SEQ_HEADER, '1');
    expect((await js.publish(stream.subject, program![1], { headers: first, expect: { lastSequence: 0 } })).seq).toBe(1);
    const wrong = headers();
    wrong.set(LOG_SEQ_HEADER, '7');
    expect((await js.publish(stream.subject, program![1], { headers: wrong, expect: { lastSequence: 1 } })).seq).toBe(2);

    const copy = fresh('wrong-header');
    const follower = await ShardFollower.open(followerNc, stream, copy, { delivered: tampered(new Set([2])) });
    const err = await follower.catchUp().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(LogReplayError);
    expect(err).toMatchObject({ shard: 1, seq: 2, reason: 'sequence', message: 'shard 1, log entry 2: stream message 2 carries log sequence 7, expected 2' });
    expect(follower.fetchedFromLeader).toBe(0);
    // Delivered rather than fetched, the same message is refused the same way.
    const delivered = await (await ShardFollower.open(followerNc, stream, copy)).catchUp().then(() => null, (e: unknown) => e);
    expect(delivered).toMatchObject({ shard: 1, seq: 2, reason: 'sequence', message: 'shard 1, log entry 2: stream message 2 carries log sequence 7, expected 2' });
    expect(logPosition(copy).seq).toBe(0);
  });
});
