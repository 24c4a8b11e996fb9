// Cluster mode with one engine node owning every shard (LOYALTY_NATS, LOYALTY_NODE_ID): a purchase
// over HTTP is answered only once its batch is appended to the shard's three-replica stream, so a
// follower that reads the streams into empty stores ends with the node's books byte for byte; with
// every NATS server down a purchase is never answered ok (the node stops, as after a failed sync),
// and after NATS and the node come back the entry it committed but never acknowledged is in the
// stream, the copy and the stream level again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { ServerProcess } from '../helpers/server-process.js';
import { waitUntilOwner } from '../helpers/cluster-node.js';
import { ShardFollower } from '../../engine/shard/stream-follower.js';
import { shardStream } from '../../engine/cluster/shard-stream.js';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { logPosition } from '../../engine/shard/batch-log.js';
import { ensureSearchIndex } from '../../engine/shard/search-index.js';
import { diffStores } from '../../engine/shard/store-diff.js';

const skip = skipWithoutNats();
const SHARDS = 2;

describe.skipIf(skip)('one engine node in cluster mode', () => {
  let cluster: NatsCluster;
  let server: ServerProcess;
  const copies = mkdtempSync(join(tmpdir(), 'loyalty-cluster-copies-'));

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    server = new ServerProcess(ServerProcess.tempDataDir(), {
      LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: 'node-1', LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0',
    });
    await server.start();
    await waitUntilOwner(server, 10_000);
  });

  afterAll(async () => {
    await server?.kill();
    server?.cleanup();
    await cluster?.stop();
    rmSync(copies, { recursive: true, force: true });
  });

  /** Reads every shard's stream into an empty store and compares it with the node's own copy (the node stopped). */
  async function expectStreamsEqualCopies(name: string): Promise<number[]> {
    const nc = await cluster.connect(name);
    const seqs: number[] = [];
    try {
      for (let shard = 0; shard < SHARDS; shard++) {
        const follower = openShardStore(join(copies, `${name}-${shard}`), 256 * 1024 * 1024, { noSync: true });
        const live: ShardStore = openShardStore(join(server.dataDir, `shard-${shard}`), 256 * 1024 * 1024);
        try {
          // A copy starts with its member search index, as the node's own shard thread does at start.
          ensureSearchIndex(follower);
          await (await ShardFollower.open(nc, shardStream('main', shard), follower)).catchUp();
          expect(logPosition(follower).seq).toBe(logPosition(live).seq);
          expect(diffStores(live, follower, { listedMax: 5 }).differences).toEqual([]);
          seqs.push(logPosition(live).seq);
        } finally {
          await follower.root.close();
          await live.root.close();
        }
      }
    } finally {
      await nc.close();
    }
    return seqs;
  }

  it('answers purchases once replicated: the streams replay to the node\'s books', async () => {
    for (let i = 0; i < 12; i++) {
      expect((await server.post('/v1/members', { memberId: `cm-${i}`, name: `Member ${i}` })).status).toBe(201);
      expect((await server.post('/v1/purchases', { orderId: `co-${i}`, memberId: `cm-${i}`, amountCents: 1_000 + i })).status).toBe(200);
    }
    const nc = await cluster.connect('inspect');
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    const infos = await Promise.all([0, 1].map((shard) => jsm.streams.info(shardStream('main', shard).name)));
    await nc.close();
    expect(infos.map((i) => i.config.num_replicas)).toEqual([3, 3]);
    await server.stop();
    const seqs = await expectStreamsEqualCopies('after-stop');
    expect(infos.map((i) => i.state.last_seq)).toEqual(seqs);
    await server.start();
    await waitUntilOwner(server, 10_000);
  });

  it('never answers ok while no NATS server runs, and levels the stream with the copy after a restart', async () => {
    for (let i = 0; i < cluster.nodes.length; i++) await cluster.kill(i);
    const startedMs = Date.now();
    const reply = await server.post('/v1/purchases', { orderId: 'co-dark', memberId: 'cm-0', amountCents: 4_200 }).then((r) => r.status, (err: unknown) => String(err));
    // The node stops once the append's deadline passes (engine/limits.ts CLUSTER_APPEND_DEADLINE_MS): no answer at all.
    expect(reply).not.toBe(200);
    expect(Date.now() - startedMs).toBeGreaterThan(5_000);
    await server.kill();
    for (let i = 0; i < cluster.nodes.length; i++) cluster.startNode(i);
    await cluster.waitReady();
    await server.start();
    await waitUntilOwner(server, 10_000);
    // The purchase the node committed and never answered was appended when it started; resent, it is a replay.
    const resent = await server.post('/v1/purchases', { orderId: 'co-dark', memberId: 'cm-0', amountCents: 4_200 });
    expect(resent.status).toBe(200);
    expect((resent.body as { replayed: boolean }).replayed).toBe(true);
    await server.stop();
    await expectStreamsEqualCopies('after-dark');
  }, 120_000);
});
