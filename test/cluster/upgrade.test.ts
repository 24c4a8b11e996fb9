// A single-node data folder becomes a cluster by starting it as the deployment's first node: its
// shards' logs (never trimmed) are appended to the new streams when the node takes the deployment
// over, so that the streams replay to its books byte for byte, its members and keys stay as they
// were, and writes go on replicated.
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
import { openShardStore } from '../../engine/shard/store.js';
import { logPosition } from '../../engine/shard/batch-log.js';
import { ensureSearchIndex } from '../../engine/shard/search-index.js';
import { diffStores } from '../../engine/shard/store-diff.js';

const skip = skipWithoutNats();
const SHARDS = 2;

describe.skipIf(skip)('a single-node folder started as a cluster\'s first node', () => {
  let cluster: NatsCluster | null = null;
  const dataDir = ServerProcess.tempDataDir();
  const copies = mkdtempSync(join(tmpdir(), 'loyalty-upgrade-copies-'));
  let server = new ServerProcess(dataDir, { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
  /** Each member's points and wallet as the single node answered them. */
  const figures: Array<{ points: number; walletCents: number }> = [];

  beforeAll(async () => {
    await server.start();
    for (let i = 0; i < 10; i++) {
      expect((await server.post('/v1/members', { memberId: `up-${i}`, name: `Member ${i}` })).status).toBe(201);
      expect((await server.post('/v1/purchases', { orderId: `up-o-${i}`, memberId: `up-${i}`, amountCents: 10_000 + i * 100 })).status).toBe(200);
      expect((await server.post('/v1/wallet/topups', { requestId: `up-t-${i}`, memberId: `up-${i}`, amountCents: 5_000 })).status).toBe(200);
    }
    for (let i = 0; i < 10; i++) {
      const m = (await server.get(`/v1/members/up-${i}`)).body as { points: number; walletCents: number };
      figures.push({ points: m.points, walletCents: m.walletCents });
    }
    await server.stop();
  }, 120_000);

  afterAll(async () => {
    await server.kill();
    server.cleanup();
    await cluster?.stop();
    rmSync(copies, { recursive: true, force: true });
  });

  it('appends its whole log to the new streams, keeps its books and keys, and replicates what follows', async () => {
    const adminKey = server.adminKey;
    cluster = await NatsCluster.start(3);
    server = new ServerProcess(dataDir, { LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: 'node-1', LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await server.start();
    await waitUntilOwner(server, 20_000);
    // The folder's own admin key is the deployment's now.
    expect(server.adminKey).toBe(adminKey);
    for (let i = 0; i < 10; i++) {
      const m = (await server.get(`/v1/members/up-${i}`)).body as { points: number; walletCents: number };
      expect({ points: m.points, walletCents: m.walletCents }).toEqual(figures[i]);
      expect(m.walletCents).toBe(5_000);
    }
    // A write after the upgrade is replicated like any other.
    expect((await server.post('/v1/purchases', { orderId: 'up-after', memberId: 'up-0', amountCents: 2_500 })).status).toBe(200);
    await server.stop();

    const nc = await cluster.connect('upgrade-inspect');
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      for (let shard = 0; shard < SHARDS; shard++) {
        const live = openShardStore(join(dataDir, `shard-${shard}`), 256 * 1024 * 1024);
        const follower = openShardStore(join(copies, `shard-${shard}`), 256 * 1024 * 1024, { noSync: true });
        try {
          const seq = logPosition(live).seq;
          expect(seq).toBeGreaterThan(10);
          expect((await jsm.streams.info(shardStream('main', shard).name)).state.last_seq).toBe(seq);
          ensureSearchIndex(follower);
          await (await ShardFollower.open(nc, shardStream('main', shard), follower)).catchUp();
          expect(logPosition(follower).seq).toBe(seq);
          expect(diffStores(live, follower, { listedMax: 5 }).differences).toEqual([]);
        } finally {
          await follower.root.close();
          await live.root.close();
        }
      }
    } finally {
      await nc.close();
    }
  }, 180_000);
});
