// An owner paused past its lease steps down in place when it wakes (docs/cluster.md, "Writing: the
// fence"): two engine nodes on three NATS servers, purchases sent over HTTP to both nodes and on a
// POS stream to the owner by clients that resend what was not answered ok. The owner is paused with
// SIGSTOP, the standby takes the deployment over and writes every shard, and the owner is woken with
// SIGCONT: it stops writing at once (its renewal or its append is refused), answers what it had
// taken with a retryable refusal, and stands by in the same process: its PID stays alive, it says it
// stands by, forwards to the new owner, and its copy, rebuilt from the streams where it held commits
// they do not, ends identical to the new owner's. Every purchase applies exactly once. Once the new
// owner is drained, the old one takes the deployment back in the same process, its router's memory
// read again from the shards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import WebSocket from 'ws';
import { NatsCluster, skipWithoutNats, streamEnds } from '../helpers/nats-cluster.js';
import { copyEnds, expectSameCopies, verifyFolder } from '../helpers/node-folder.js';
import { ServerProcess } from '../helpers/server-process.js';
import { forwardedTo, waitUntilOwner, waitUntilStandby } from '../helpers/cluster-node.js';
import { PosStream, type OpResult, type WebSocketConstructor } from '../../client/stream.js';

const skip = skipWithoutNats();
const DEPLOYMENT = 'stale';
const SHARDS = 2;
const MEMBERS = 20;
/** HTTP writers at each node. */
const HTTP_WRITERS = 2;
/** How long purchases run before the owner is paused, and after it woke before they stop. */
const WRITES_AROUND_MS = 1_500;
/** The failover the design asks for, NATS's own election included. */
const FAILOVER_MAX_MS = 10_000;
/**
 * From SIGCONT to the woken owner's step-down: its overdue renewal runs at once and is refused.
 * Measured 0.2 s at most; the bound leaves room for this shared machine.
 */
const STOPS_WRITING_MAX_MS = 2_000;
/** From SIGCONT until the woken node's copy is the streams' (a rebuild replays a stream from its first entry). */
const CAUGHT_UP_MAX_MS = 30_000;

interface Order { orderId: string; memberId: string; amountCents: number; settled: boolean; attempts: number }
interface Status { nodeId: string; role: string; owner: { nodeId: string; term: number } | null }

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('a stale owner steps down in place', () => {
  let cluster: NatsCluster;
  const nodes: ServerProcess[] = [];
  const env = (nodeId: string) => ({ LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: nodeId, LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_DEPLOYMENT: DEPLOYMENT });

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  });

  afterAll(async () => {
    for (const node of nodes) {
      // A node left paused by a failed assertion is woken so that its SIGKILL is not held up.
      if (node.child?.pid !== undefined) { try { process.kill(node.child.pid, 'SIGCONT'); } catch { /* it exited */ } }
      await node.kill();
      node.cleanup();
    }
    await cluster?.stop();
  });

  /** The `time` of the first log line of `node` containing `text`, or null. */
  function loggedAtMs(node: ServerProcess, text: string): number | null {
    for (const line of node.logs.join('\n').split('\n')) {
      if (!line.includes(text)) continue;
      try { return (JSON.parse(line) as { time: number }).time; } catch { /* not a JSON line */ }
    }
    return null;
  }

  it('the woken owner stops writing at once, stays up as a standby that forwards, and ends with the new owner\'s books', async () => {
    const paused = new ServerProcess(ServerProcess.tempDataDir(), env('node-a'));
    nodes.push(paused);
    await paused.start();
    await waitUntilOwner(paused, 15_000);
    const other = new ServerProcess(ServerProcess.tempDataDir(), env('node-b'));
    nodes.push(other);
    await other.start();
    other.adminKey = paused.adminKey;
    await waitUntilStandby(other, 10_000);
    for (let i = 0; i < MEMBERS; i++) expect((await paused.post('/v1/members', { memberId: `sm-${i}`, name: `Member ${i}` })).status).toBe(201);

    // HTTP writers at both nodes: a purchase not answered 200 (503, or cut) is resent with its order
    // id to the same node until it is answered ok, as a terminal does.
    const orders: Order[] = [];
    /** Answers the paused node gave as owner (not forwarded), ok, after it was woken. */
    const okAsOwnerAfterWake: string[] = [];
    let wokenAtMs = Number.POSITIVE_INFINITY;
    let writing = true;
    const httpWriter = (node: ServerProcess, name: string) => async (_: unknown, w: number) => {
      for (let k = 0; writing; k++) {
        const order: Order = { orderId: `s${name}-${w}-${k}`, memberId: `sm-${(w * 7 + k) % MEMBERS}`, amountCents: 1_000 + w * 100 + k, settled: false, attempts: 0 };
        orders.push(order);
        while (!order.settled) {
          order.attempts += 1;
          const reply = await node.post('/v1/purchases', { orderId: order.orderId, memberId: order.memberId, amountCents: order.amountCents }).catch(() => null);
          if (reply !== null && reply.status === 200) {
            order.settled = true;
            if (node === paused && Date.now() > wokenAtMs && forwardedTo(reply) === null) okAsOwnerAfterWake.push(order.orderId);
          } else if (reply !== null && reply.status !== 503) throw new Error(`purchase ${order.orderId}: ${reply.status} ${JSON.stringify(reply.body)}`);
          else await pause(50);
        }
      }
    };
    const writers = [
      ...Array.from({ length: HTTP_WRITERS }, httpWriter(paused, 'a')),
      ...Array.from({ length: HTTP_WRITERS }, httpWriter(other, 'b')),
    ];
    // A POS stream at the owner: refused batches are resent by the client itself.
    const stream = new PosStream({ url: `ws://127.0.0.1:${paused.port}/v1/stream`, key: paused.adminKey, WebSocket: WebSocket as unknown as WebSocketConstructor, encoding: 'msgpack', batchOpsMax: 10, retryDelayMs: 200, reconnectMaxMs: 1_000 });
    const streamed: Array<{ memberId: string; amountCents: number; result: Promise<OpResult> }> = [];
    const streamWriter = (async () => {
      for (let k = 0; writing; k++) {
        const order = { memberId: `sm-${k % MEMBERS}`, amountCents: 300 + k };
        streamed.push({ ...order, result: stream.send('purchase', { orderId: `ss-${k}`, ...order }) });
        if (k % 10 === 9) await pause(20);
      }
    })();

    await pause(WRITES_AROUND_MS);
    const child = paused.child!;
    const pid = child.pid!;
    process.kill(pid, 'SIGSTOP');
    const pausedAtMs = Date.now();
    const tookOverMs = (Date.now() - pausedAtMs) + await waitUntilOwner(other, FAILOVER_MAX_MS);
    // The new owner writes every shard before the old one wakes: each append the old owner tries is refused.
    for (let i = 0; i < MEMBERS; i++) {
      const order: Order = { orderId: `sb-direct-${i}`, memberId: `sm-${i}`, amountCents: 900, settled: true, attempts: 1 };
      expect((await other.post('/v1/purchases', { orderId: order.orderId, memberId: order.memberId, amountCents: order.amountCents })).status).toBe(200);
      orders.push(order);
    }

    wokenAtMs = Date.now();
    process.kill(pid, 'SIGCONT');
    // It stops writing at once: the step-down is logged within a fraction of a second of waking.
    const stepDownDeadlineMs = Date.now() + 10_000;
    while (loggedAtMs(paused, 'this node steps down at once') === null) {
      if (Date.now() > stepDownDeadlineMs) throw new Error(`the woken owner did not step down: ${paused.logs.join('').slice(-3_000)}`);
      await pause(20);
    }
    const stoppedWritingMs = loggedAtMs(paused, 'this node steps down at once')! - wokenAtMs;
    // It stands by in the same process: `GET /v1/admin/cluster` answers it, and reads are forwarded to the new owner.
    let standbyMs = -1;
    for (;;) {
      const reply = await paused.get('/v1/admin/cluster').catch(() => null);
      if (reply !== null && reply.status === 200 && (reply.body as Status).role === 'standby' && forwardedTo(await paused.get('/v1/program')) !== null) { standbyMs = Date.now() - wokenAtMs; break; }
      if (Date.now() - wokenAtMs > FAILOVER_MAX_MS) throw new Error(`the woken owner does not stand by: ${paused.logs.join('').slice(-3_000)}`);
      await pause(20);
    }
    await pause(WRITES_AROUND_MS);
    writing = false;
    await Promise.all([...writers, streamWriter]);
    const results = await Promise.all(streamed.map((s) => s.result));
    await stream.close();

    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(paused.logs.join('')).toContain('node node-b owns the deployment now (term 2)');
    expect(await paused.get('/v1/admin/cluster').then((r) => r.body)).toMatchObject({ nodeId: 'node-a', role: 'standby', owner: { nodeId: 'node-b', term: 2 } });
    expect(forwardedTo(await paused.get('/v1/program'))).toBe(`node-b (term 2) at http://127.0.0.1:${other.port}`);
    const viaOld = await paused.post('/v1/purchases', { orderId: 'sa-after', memberId: 'sm-0', amountCents: 700 });
    expect(viaOld.status).toBe(200);
    expect(forwardedTo(viaOld)).toBe(`node-b (term 2) at http://127.0.0.1:${other.port}`);
    orders.push({ orderId: 'sa-after', memberId: 'sm-0', amountCents: 700, settled: true, attempts: 1 });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(orders.every((o) => o.settled)).toBe(true);

    // Each purchase applied exactly once: every member's count and spend are exact.
    for (let i = 0; i < MEMBERS; i++) {
      const mine = [...orders.filter((o) => o.memberId === `sm-${i}`), ...streamed.filter((s) => s.memberId === `sm-${i}`)];
      const member = (await other.get(`/v1/members/sm-${i}`)).body as { purchaseCount: number; lifetimeSpendCents: number };
      expect({ count: member.purchaseCount, spend: member.lifetimeSpendCents }).toEqual({ count: mine.length, spend: mine.reduce((s, o) => s + o.amountCents, 0) });
    }

    // The woken node's copy follows the new owner's streams, rebuilt where it held commits they do not.
    const ends = await streamEnds(cluster, DEPLOYMENT, SHARDS, 'stale-inspect');
    while (JSON.stringify(copyEnds(paused.dataDir, SHARDS)) !== JSON.stringify(ends)) {
      if (Date.now() - wokenAtMs > CAUGHT_UP_MAX_MS) throw new Error(`the woken node's copy stays at ${JSON.stringify(copyEnds(paused.dataDir, SHARDS))}, the streams end at ${JSON.stringify(ends)}: ${paused.logs.join('').slice(-3_000)}`);
      await pause(100);
    }
    const caughtUpMs = Date.now() - wokenAtMs;
    const rebuiltShards = readdirSync(paused.dataDir).filter((name) => /^shard-\d+\.diverged-\d+$/.test(name));
    const rebuiltAtMs = loggedAtMs(paused, 'is rebuilt from the stream');
    expect(rebuiltShards.length).toBe(paused.logs.join('\n').split('\n').filter((l) => l.includes('is rebuilt from the stream')).length);
    await expectSameCopies(other.dataDir, paused.dataDir, SHARDS);
    const rebuildMs = paused.logs.join('\n').split('\n').filter((l) => l.includes('was rebuilt from the stream')).map((l) => (JSON.parse(l) as { shard: number; logSeq: number; rebuildMs: number }));
    expect(rebuildMs.length).toBe(rebuiltShards.length);
    const cause = paused.logs.join('\n').split('\n').find((l) => l.includes('this node steps down at once'))!.includes('refused this node\'s append') ? 'an append refused' : 'its renewal refused';
    console.log(`stale owner: the standby owned ${tookOverMs} ms after SIGSTOP; woken, the old owner stepped down (${cause}) ${stoppedWritingMs} ms after SIGCONT, ` +
      `answered as a standby ${standbyMs} ms after it; its copy was checked level with the streams ${caughtUpMs} ms after it, once the writers stopped ` +
      `(${rebuiltShards.length} shard copies rebuilt${rebuiltAtMs === null ? '' : `, the first moved aside ${rebuiltAtMs - wokenAtMs} ms after SIGCONT`}, ` +
      `rebuilds ${rebuildMs.map((r) => `shard ${r.shard}: ${r.logSeq} entries in ${r.rebuildMs} ms`).join(', ')}); ` +
      `${orders.length} HTTP purchases (${orders.filter((o) => o.attempts > 1).length} resent; ${okAsOwnerAfterWake.length} answered ok by the old owner itself after SIGCONT, ` +
      `batches its stream had acknowledged before the pause) and ${results.length} on the stream, each applied once`);
    expect(stoppedWritingMs).toBeLessThan(STOPS_WRITING_MAX_MS);

    // The router's memory (directory, gates, program) was dropped at the step-down and is read again
    // from the shards when the node owns again: a phone taken at the new owner is taken at the old
    // one once the new owner is drained and the old one takes the deployment back, in the same process.
    expect((await other.post('/v1/members', { memberId: 'sm-phone', name: 'Phone Holder', phone: '+852 6111 2233' })).status).toBe(201);
    expect((await other.request('POST', '/v1/admin/cluster/drain')).status).toBe(200);
    await waitUntilOwner(paused, FAILOVER_MAX_MS);
    expect(await paused.get('/v1/admin/cluster').then((r) => r.body)).toMatchObject({ nodeId: 'node-a', role: 'owner', owner: { nodeId: 'node-a', term: 3 } });
    const taken = await paused.post('/v1/members', { memberId: 'sm-dup', name: 'Phone Again', phone: '+852 6111 2233' });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ error: { code: 'phone_taken' } });
    const back = await paused.post('/v1/purchases', { orderId: 'sa-back', memberId: 'sm-1', amountCents: 500 });
    expect(back.status).toBe(200);
    expect(forwardedTo(back)).toBeNull();
    const mine = [...orders.filter((o) => o.memberId === 'sm-1'), ...streamed.filter((o) => o.memberId === 'sm-1')];
    expect((await paused.get('/v1/members/sm-1')).body).toMatchObject({ purchaseCount: mine.length + 1, lifetimeSpendCents: mine.reduce((sum, o) => sum + o.amountCents, 0) + 500 });
    expect(child.exitCode).toBeNull();

    await other.stop();
    await paused.stop();
    expect(verifyFolder(paused.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS + 1 });
    expect(verifyFolder(other.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS + 1 });
  }, 180_000);
});
