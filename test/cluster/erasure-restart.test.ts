// An erasure in cluster mode, on two engine nodes and three NATS servers: members registered with
// personal data, purchases, one member erased; then both nodes restart (SIGTERM), or the owner is
// killed with SIGKILL and comes back. Every node starts and owns or stands by as before, the copies
// are the same database by database, verify is clean on both, and the other node takes over. And
// an erasure sent while no NATS server runs: never answered (the node stops at its first append
// that cannot land, here the erasure's request claim on another shard), applied once when resent
// after the restart, the copies the same. The narrow case these cannot reach by timing, an erasure
// committed and never appended, is test/cluster/erasure-levelling.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { NatsCluster, skipWithoutNats, streamEnds } from '../helpers/nats-cluster.js';
import { copyEnds, expectSameCopies, verifyFolder } from '../helpers/node-folder.js';
import { ServerProcess } from '../helpers/server-process.js';
import { waitUntilOwner, waitUntilStandby } from '../helpers/cluster-node.js';

const skip = skipWithoutNats();
const SHARDS = 2;
const MEMBERS = 6;
/** The takeover the issue asks for, NATS's own election included. */
const FAILOVER_MAX_MS = 10_000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('an erasure on two engine nodes, then restarts', () => {
  let cluster: NatsCluster;
  const nodes: ServerProcess[] = [];
  const env = (deployment: string, nodeId: string) => ({
    LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: nodeId, LOYALTY_DEPLOYMENT: deployment,
    LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_TEST_COMPACT_DELAY_MS: '300',
  });

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  });

  afterAll(async () => {
    for (const node of nodes) { await node.kill(); node.cleanup(); }
    await cluster?.stop();
  });

  async function waitLevel(deployment: string, node: ServerProcess): Promise<void> {
    const deadlineMs = Date.now() + 15_000;
    for (;;) {
      const ends = await streamEnds(cluster, deployment, SHARDS, 'erasure-restart-inspect');
      if (JSON.stringify(copyEnds(node.dataDir, SHARDS)) === JSON.stringify(ends)) return;
      if (Date.now() > deadlineMs) throw new Error(`the copy stays at ${JSON.stringify(copyEnds(node.dataDir, SHARDS))}, the streams end at ${JSON.stringify(ends)}: ${node.logs.join('').slice(-3_000)}`);
      await pause(100);
    }
  }

  /** Two nodes of `deployment`, the first owning; members with personal data, purchases, and member 0 erased; the standby level. */
  async function erasedOnTwoNodes(deployment: string): Promise<[ServerProcess, ServerProcess]> {
    const first = new ServerProcess(ServerProcess.tempDataDir(), env(deployment, 'node-1'));
    nodes.push(first);
    await first.start();
    await waitUntilOwner(first, 15_000);
    const second = new ServerProcess(ServerProcess.tempDataDir(), env(deployment, 'node-2'));
    nodes.push(second);
    await second.start();
    second.adminKey = first.adminKey;
    await waitUntilStandby(second, 10_000);
    for (let i = 0; i < MEMBERS; i++) {
      const reply = await first.post('/v1/members', {
        memberId: `em-${i}`, name: `Erasable Quorvath ${i}`, phone: `+852 6173 45${String(i).padStart(2, '0')}`,
        email: `quorvath.${i}@example.org`, address: `${i} Forgotten Xylograph Terrace`, birthday: '1977-11-23',
      });
      expect(reply.status).toBe(201);
      expect((await first.request('PATCH', `/v1/members/em-${i}`, { name: `Renamed Quorvath ${i}` })).status).toBe(200);
      expect((await first.post('/v1/purchases', { orderId: `eo-${i}`, memberId: `em-${i}`, amountCents: 1_000 + i })).status).toBe(200);
    }
    const erased = await first.post('/v1/members/em-0/erase', { requestId: 'erase-em-0' });
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    await waitLevel(deployment, second);
    expect((await second.get('/v1/members/em-0')).body).toMatchObject({ erased: true });
    return [first, second];
  }

  it('restarts both nodes after an erasure (SIGTERM): both start, the copies are the same, verify is clean, the standby takes over', async () => {
    const [first, second] = await erasedOnTwoNodes('erased-term');
    await second.stop();
    await first.stop();
    await first.start();
    await waitUntilOwner(first, 15_000);
    await second.start();
    await waitUntilStandby(second, 10_000);
    expect((await first.post('/v1/purchases', { orderId: 'eo-after', memberId: 'em-1', amountCents: 700 })).status).toBe(200);
    await waitLevel('erased-term', second);
    await expectSameCopies(first.dataDir, second.dataDir, SHARDS);

    const stoppedAtMs = Date.now();
    await first.stop();
    const tookOverMs = (Date.now() - stoppedAtMs) + await waitUntilOwner(second, FAILOVER_MAX_MS);
    expect(tookOverMs).toBeLessThan(FAILOVER_MAX_MS);
    expect((await second.post('/v1/purchases', { orderId: 'eo-taken', memberId: 'em-2', amountCents: 800 })).status).toBe(200);
    expect((await second.post('/v1/purchases', { orderId: 'eo-erased', memberId: 'em-0', amountCents: 800 })).body).toMatchObject({ error: { code: 'member_erased' } });
    await second.stop();
    expect(verifyFolder(first.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
    expect(verifyFolder(second.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
  }, 180_000);

  it('kills the owner after an erasure (SIGKILL): the standby takes over, the killed node comes back as a standby with the same books', async () => {
    const [first, second] = await erasedOnTwoNodes('erased-kill');
    const killedAtMs = Date.now();
    await first.kill();
    const tookOverMs = (Date.now() - killedAtMs) + await waitUntilOwner(second, FAILOVER_MAX_MS);
    expect(tookOverMs).toBeLessThan(FAILOVER_MAX_MS);
    expect((await second.post('/v1/purchases', { orderId: 'eo-after', memberId: 'em-1', amountCents: 700 })).status).toBe(200);

    first.logs.length = 0;
    await first.start();
    expect(await waitUntilStandby(first, 10_000)).toContain('node-2 (term 2)');
    await waitLevel('erased-kill', first);
    expect(first.logs.join('')).not.toContain('is rebuilt from the stream');
    await expectSameCopies(first.dataDir, second.dataDir, SHARDS);

    // And back: the restarted node takes over from a planned stop.
    await second.stop();
    await waitUntilOwner(first, FAILOVER_MAX_MS);
    expect((await first.post('/v1/purchases', { orderId: 'eo-back', memberId: 'em-3', amountCents: 900 })).status).toBe(200);
    await first.stop();
    expect(verifyFolder(first.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
    expect(verifyFolder(second.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
  }, 180_000);

  it('applies an erasure sent while no NATS server ran once it is resent after the restart, and a standby follows to the same books', async () => {
    const [first, second] = await erasedOnTwoNodes('erased-dark');
    await second.stop();
    // A patch of member 1 reaches the stream; its erasure is sent once no NATS server runs.
    expect((await first.request('PATCH', '/v1/members/em-1', { name: 'Last Name Before The Outage', phone: '+852 6999 1234' })).status).toBe(200);
    for (let i = 0; i < cluster.nodes.length; i++) await cluster.kill(i);
    const reply = await first.post('/v1/members/em-1/erase', { requestId: 'erase-em-1' }).then((r) => r.status, (err: unknown) => String(err));
    expect(reply).not.toBe(200);
    await first.kill();
    for (let i = 0; i < cluster.nodes.length; i++) cluster.startNode(i);
    await cluster.waitReady();
    // One entry of the copy is not in the stream: committed, never appended, never answered.
    const [copyEnd, streamEnd] = [copyEnds(first.dataDir, SHARDS), await streamEnds(cluster, 'erased-dark', SHARDS, 'erasure-restart-inspect')];
    expect(copyEnd.reduce((a, b) => a + b)).toBe(streamEnd.reduce((a, b) => a + b) + 1);

    first.logs.length = 0;
    await first.start();
    await waitUntilOwner(first, 15_000);
    expect(first.logs.join('')).not.toContain('is rebuilt from the stream');
    expect(first.logs.join('')).not.toContain('replica_diverged');
    // The entry the copy alone held was appended at the start; the erasure, resent by its request id, applies.
    expect(readdirSync(first.dataDir).filter((name) => name.includes('.diverged-'))).toEqual([]);
    const resent = await first.post('/v1/members/em-1/erase', { requestId: 'erase-em-1' });
    expect(resent.status).toBe(200);
    expect(resent.body).toMatchObject({ memberId: 'em-1', erased: true });
    expect(copyEnds(first.dataDir, SHARDS)).toEqual(await streamEnds(cluster, 'erased-dark', SHARDS, 'erasure-restart-inspect'));
    await second.start();
    await waitUntilStandby(second, 10_000);
    await waitLevel('erased-dark', second);
    await expectSameCopies(first.dataDir, second.dataDir, SHARDS);
    expect((await second.get('/v1/members/em-1')).body).toMatchObject({ erased: true });

    await first.stop();
    await waitUntilOwner(second, FAILOVER_MAX_MS);
    expect((await second.post('/v1/purchases', { orderId: 'eo-dark', memberId: 'em-2', amountCents: 600 })).status).toBe(200);
    await second.stop();
    expect(verifyFolder(first.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
    expect(verifyFolder(second.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
  }, 180_000);
});
