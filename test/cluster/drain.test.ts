// Draining a node without stopping it (docs/cluster.md, "Draining a node"): two engine nodes on
// three NATS servers, purchases running over HTTP and on a POS stream at the owner. The owner is
// drained: its writes in flight finish, its shards stand by again, and it gives the owner record up;
// the other node owns within about a second, the drained node stays up, answers by forwarding, says
// it is drained and does not take the deployment back. Every purchase settles ok exactly once, the
// two copies are identical and `verify` is clean on both. Undrained, it takes the deployment over
// again when the new owner is drained in turn. A drain of the only node is refused and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { NatsCluster, skipWithoutNats, streamEnds } from '../helpers/nats-cluster.js';
import { copyEnds, expectSameCopies, verifyFolder } from '../helpers/node-folder.js';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { forwardedTo, waitUntilOwner, waitUntilStandby } from '../helpers/cluster-node.js';
import { PosStream, type OpResult, type WebSocketConstructor } from '../../client/stream.js';

const skip = skipWithoutNats();
const SHARDS = 2;
const MEMBERS = 20;
const HTTP_WRITERS = 3;
/** How long purchases run before the drain, and after it before they stop. */
const WRITES_AROUND_DRAIN_MS = 1_500;
/** "Within about a second": a standby reads the record every 500 ms and takes over; the bound leaves room for this shared machine. */
const HAND_OVER_MAX_MS = 3_000;
/** How long the drained node is watched for a claim it must not make (the lease is 3 s). */
const NO_RECLAIM_MS = 5_000;

interface Status { nodeId: string; role: string; owner: { nodeId: string; term: number; httpAddress: string } | null; nodes: Array<{ nodeId: string; role: string }> }
interface Order { orderId: string; memberId: string; amountCents: number; settled: boolean; attempts: number }

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('draining a node without stopping it', () => {
  let cluster: NatsCluster;
  const nodes: ServerProcess[] = [];
  const env = (nodeId: string) => ({ LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: nodeId, LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_DEPLOYMENT: 'drain' });

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  });

  afterAll(async () => {
    for (const node of nodes) { await node.kill(); node.cleanup(); }
    await cluster?.stop();
  });

  /** `loyalty cluster ACTION --url … --key …` against a node: its exit status, stdout and stderr. */
  function cli(node: ServerProcess, action: string): { status: number | null; stdout: string; stderr: string } {
    const run = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), 'cluster', action, '--url', `http://127.0.0.1:${node.port}`, '--key', node.adminKey], {
      env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8', timeout: 30_000,
    });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  const status = async (node: ServerProcess): Promise<Status> => {
    const reply = await node.get('/v1/admin/cluster');
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(forwardedTo(reply)).toBeNull();
    return reply.body as Status;
  };

  it('hands the deployment over without a stop, loses nothing, and comes back once undrained', async () => {
    const first = new ServerProcess(ServerProcess.tempDataDir(), env('node-1'));
    nodes.push(first);
    await first.start();
    await waitUntilOwner(first, 15_000);

    // Alone, the owner refuses to be drained, and nothing changes.
    const refused = await first.request('POST', '/v1/admin/cluster/drain');
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: { code: 'no_standby' } });
    const lone = cli(first, 'drain');
    expect(lone.status).toBe(1);
    expect(lone.stderr).toContain('cluster drain failed with 409 no_standby');
    const shown = cli(first, 'status');
    expect(shown.status, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ nodeId: 'node-1', role: 'owner', owner: { nodeId: 'node-1', term: 1 }, nodes: [{ nodeId: 'node-1', role: 'owner' }] });
    expect(forwardedTo(await first.get('/v1/program'))).toBeNull();

    const second = new ServerProcess(ServerProcess.tempDataDir(), env('node-2'));
    nodes.push(second);
    await second.start();
    second.adminKey = first.adminKey;
    await waitUntilStandby(second, 10_000);
    // The cluster route is the receiving node's own, never forwarded.
    expect(await status(second)).toMatchObject({
      nodeId: 'node-2', role: 'standby', owner: { nodeId: 'node-1', term: 1, httpAddress: `http://127.0.0.1:${first.port}` },
      nodes: [{ nodeId: 'node-1', role: 'owner' }, { nodeId: 'node-2', role: 'standby' }],
    });

    for (let i = 0; i < MEMBERS; i++) expect((await first.post('/v1/members', { memberId: `dm-${i}`, name: `Member ${i}` })).status).toBe(201);

    // HTTP writers at the first node: a purchase answered 503 (or cut) is resent with its order id until it is answered ok.
    const orders: Order[] = [];
    let writing = true;
    const httpWriters = Array.from({ length: HTTP_WRITERS }, async (_, w) => {
      for (let k = 0; writing; k++) {
        const order: Order = { orderId: `dh-${w}-${k}`, memberId: `dm-${(w * 7 + k) % MEMBERS}`, amountCents: 1_000 + w * 100 + k, settled: false, attempts: 0 };
        orders.push(order);
        while (!order.settled) {
          order.attempts += 1;
          const reply = await first.post('/v1/purchases', { orderId: order.orderId, memberId: order.memberId, amountCents: order.amountCents }).catch(() => null);
          if (reply !== null && reply.status === 200) order.settled = true;
          else if (reply !== null && reply.status !== 503) throw new Error(`purchase ${order.orderId}: ${reply.status} ${JSON.stringify(reply.body)}`);
          else await pause(50);
        }
      }
    });
    // A POS stream at the first node too: refused batches are resent by the client itself.
    const stream = new PosStream({ url: `ws://127.0.0.1:${first.port}/v1/stream`, key: first.adminKey, WebSocket: WebSocket as unknown as WebSocketConstructor, encoding: 'msgpack', batchOpsMax: 10, retryDelayMs: 200, reconnectMaxMs: 1_000 });
    const streamed: Array<{ memberId: string; amountCents: number; result: Promise<OpResult> }> = [];
    const streamWriter = (async () => {
      for (let k = 0; writing; k++) {
        const order = { memberId: `dm-${k % MEMBERS}`, amountCents: 300 + k };
        streamed.push({ ...order, result: stream.send('purchase', { orderId: `ds-${k}`, ...order }) });
        if (k % 10 === 9) await pause(20);
      }
    })();

    await pause(WRITES_AROUND_DRAIN_MS);
    const drainStartedMs = Date.now();
    const drained = await first.request('POST', '/v1/admin/cluster/drain');
    const drainAnsweredMs = Date.now() - drainStartedMs;
    expect(drained.status, JSON.stringify(drained.body)).toBe(200);
    expect(drained.body).toMatchObject({ nodeId: 'node-1', role: 'drained' });
    const handOverMs = drainAnsweredMs + await waitUntilOwner(second, HAND_OVER_MAX_MS);
    console.log(`drain: the drain was answered in ${drainAnsweredMs} ms; the other node owned ${handOverMs} ms after the drain was asked for (${orders.length} HTTP purchases and ${streamed.length} on the stream sent so far)`);
    expect(handOverMs).toBeLessThan(HAND_OVER_MAX_MS);

    await pause(WRITES_AROUND_DRAIN_MS);
    writing = false;
    await Promise.all([...httpWriters, streamWriter]);
    const results = await Promise.all(streamed.map((s) => s.result));
    await stream.close();
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(orders.every((o) => o.settled)).toBe(true);
    console.log(`drain: ${orders.filter((o) => o.attempts > 1).length} HTTP purchases were resent (503 during the hand-over), ${orders.length} settled ok; ${results.length} stream purchases answered ok`);

    // The drained node is up, forwards to the new owner, says it is drained, and does not take the deployment back.
    expect(await waitUntilStandby(first, 5_000)).toBe(`node-2 (term 2) at http://127.0.0.1:${second.port}`);
    await pause(NO_RECLAIM_MS);
    expect(first.child?.exitCode).toBeNull();
    expect(await status(first)).toMatchObject({ nodeId: 'node-1', role: 'drained', owner: { nodeId: 'node-2', term: 2 } });
    expect(await status(second)).toMatchObject({ role: 'owner', owner: { nodeId: 'node-2', term: 2 }, nodes: [{ nodeId: 'node-1', role: 'drained' }, { nodeId: 'node-2', role: 'owner' }] });
    expect(forwardedTo(await first.get('/v1/program'))).toBe(`node-2 (term 2) at http://127.0.0.1:${second.port}`);

    // Each purchase applied exactly once: every member's count and spend are exact.
    for (let i = 0; i < MEMBERS; i++) {
      const mine = [...orders.filter((o) => o.memberId === `dm-${i}`), ...streamed.filter((s) => s.memberId === `dm-${i}`)];
      const member = (await second.get(`/v1/members/dm-${i}`)).body as { purchaseCount: number; lifetimeSpendCents: number };
      expect({ count: member.purchaseCount, spend: member.lifetimeSpendCents }).toEqual({ count: mine.length, spend: mine.reduce((s, o) => s + o.amountCents, 0) });
    }

    // The drained node's copy follows the new owner's stream and is the owner's, database by database.
    const ends = await streamEnds(cluster, 'drain', SHARDS, 'drain-inspect');
    const deadlineMs = Date.now() + 15_000;
    while (JSON.stringify(copyEnds(first.dataDir, SHARDS)) !== JSON.stringify(ends)) {
      if (Date.now() > deadlineMs) throw new Error(`the drained node's copy stays at ${JSON.stringify(copyEnds(first.dataDir, SHARDS))}, the streams end at ${JSON.stringify(ends)}`);
      await pause(100);
    }
    await expectSameCopies(second.dataDir, first.dataDir, SHARDS);

    // Undrained, the first node stands by; the second drained in turn hands the deployment back.
    const undrained = cli(first, 'undrain');
    expect(undrained.status, undrained.stderr).toBe(0);
    expect(JSON.parse(undrained.stdout)).toMatchObject({ nodeId: 'node-1', role: 'standby' });
    const backStartedMs = Date.now();
    expect((await second.request('POST', '/v1/admin/cluster/drain')).status).toBe(200);
    const backMs = (Date.now() - backStartedMs) + await waitUntilOwner(first, HAND_OVER_MAX_MS);
    console.log(`drain back: the first node owned again ${backMs} ms after the second was drained`);
    expect(await status(first)).toMatchObject({ role: 'owner', owner: { nodeId: 'node-1', term: 3 } });
    // The audit trail is the answering node's: the first node's, read once it owns again, holds its drain and undrain.
    const audit = (await first.get('/v1/admin/audit')).body as { records: Array<{ action: string; target: string | null }> };
    expect(audit.records.filter((r) => r.action.startsWith('cluster.')).map((r) => [r.action, r.target])).toEqual([['cluster.drain', 'node-1'], ['cluster.undrain', 'node-1']]);
    const after = await second.post('/v1/purchases', { orderId: 'dh-after', memberId: 'dm-0', amountCents: 700 });
    expect(after.status).toBe(200);
    expect(forwardedTo(after)).toBe(`node-1 (term 3) at http://127.0.0.1:${first.port}`);

    await second.stop();
    await first.stop();
    expect(verifyFolder(first.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
    expect(verifyFolder(second.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
  }, 180_000);
});
