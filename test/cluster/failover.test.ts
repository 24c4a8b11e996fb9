// Two engine nodes on three NATS servers (docs/cluster.md, "Ownership"): the first owns the
// deployment and the second stands by, forwarding requests to the owner and following every
// shard's stream. The owner is killed with SIGKILL while purchases are in flight: the standby takes
// over within 10 s (the failover time is printed), every acknowledged purchase is in its books and
// replays, the unacknowledged ones resent by their order id apply once, and the killed node comes
// back as a standby whose copy becomes the new owner's, database by database, a copy holding a
// commit the stream never had rebuilt from the stream. An owner paused past
// its lease (SIGSTOP) finds another node's record when it wakes, stops writing at once and stands by
// in the same process (test/cluster/stale-owner.test.ts has the same under purchases).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import WebSocket from 'ws';
import { join } from 'node:path';
import { NatsCluster, skipWithoutNats, streamEnds } from '../helpers/nats-cluster.js';
import { copyEnds, expectSameCopies, verifyFolder } from '../helpers/node-folder.js';
import { ServerProcess } from '../helpers/server-process.js';
import { forwardedTo, waitUntilOwner, waitUntilStandby } from '../helpers/cluster-node.js';
import { getState, openShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { loadCore } from '../../engine/core/wasm.js';
import { purchaseOp } from '../../server/requests.js';
import { logPosition } from '../../engine/shard/batch-log.js';
import { hashId } from '../../engine/router/member-hash.js';

const skip = skipWithoutNats();
const SHARDS = 2;
const MEMBERS = 20;
const WRITERS = 4;
/** How long purchases run through the owner before it is killed. */
const WRITES_BEFORE_KILL_MS = 1_500;
/** The failover the issue asks for, NATS's own election included. */
const FAILOVER_MAX_MS = 10_000;

interface Sent { orderId: string; memberId: string; amountCents: number; acked: { earnedPoints: number } | null }

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('two engine nodes: a standby takes over from a killed owner', () => {
  let cluster: NatsCluster;
  const nodes: ServerProcess[] = [];
  const env = (nodeId: string) => ({ LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: nodeId, LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  });

  afterAll(async () => {
    for (const node of nodes) { await node.kill(); node.cleanup(); }
    await cluster?.stop();
  });

  it('fails over within 10 s, loses nothing acknowledged, and the killed node comes back as a standby with the same books', async () => {
    const first = new ServerProcess(ServerProcess.tempDataDir(), env('node-1'));
    nodes.push(first);
    await first.start();
    await waitUntilOwner(first, 15_000);
    const secondDir = ServerProcess.tempDataDir();
    const second = new ServerProcess(secondDir, env('node-2'));
    nodes.push(second);
    await second.start();
    // The deployment's keys are the first node's: the second has no admin.key of its own.
    second.adminKey = first.adminKey;

    // The standby forwards requests (reads too) to the owner, and says which owner answered.
    expect(await waitUntilStandby(second, 10_000)).toBe(`node-1 (term 1) at http://127.0.0.1:${first.port}`);
    const missing = await second.get('/v1/members/nobody');
    expect(missing.status).toBe(404);
    expect(forwardedTo(missing)).toBe(`node-1 (term 1) at http://127.0.0.1:${first.port}`);
    expect((await second.get('/healthz')).status).toBe(200);
    // A POS stream's batch is forwarded too: its ack is the owner's.
    const ws = new WebSocket(`ws://127.0.0.1:${second.port}/v1/stream`, { headers: { authorization: `Bearer ${second.adminKey}` } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const frame = new Promise<{ type: string; id: number; results: Array<{ ok: boolean; error?: { code: string } }> }>((resolve) => ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()))));
    ws.send(JSON.stringify({ type: 'batch', id: 7, ops: [{ op: 'purchase', orderId: 'nobody-1', memberId: 'nobody', amountCents: 100 }] }));
    expect(await frame).toMatchObject({ type: 'ack', id: 7, results: [{ ok: false, error: { code: 'member_not_found' } }] });
    ws.close();

    for (let i = 0; i < MEMBERS; i++) expect((await first.post('/v1/members', { memberId: `fm-${i}`, name: `Member ${i}` })).status).toBe(201);

    // Purchases through the owner from several writers at once; the owner dies under them.
    const sent: Sent[] = [];
    let writing = true;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let k = 0; writing; k++) {
        const order: Sent = { orderId: `fo-${w}-${k}`, memberId: `fm-${(w * 7 + k) % MEMBERS}`, amountCents: 1_000 + w * 100 + k, acked: null };
        sent.push(order);
        const reply = await first.post('/v1/purchases', { orderId: order.orderId, memberId: order.memberId, amountCents: order.amountCents }).catch(() => null);
        if (reply === null) return;
        if (reply.status === 200) order.acked = reply.body as { earnedPoints: number };
      }
    });
    await pause(WRITES_BEFORE_KILL_MS);
    const killedAtMs = Date.now();
    await first.kill();
    writing = false;
    await Promise.all(writers);
    const failoverMs = (Date.now() - killedAtMs) + await waitUntilOwner(second, FAILOVER_MAX_MS);
    const acked = sent.filter((o) => o.acked !== null);
    console.log(`failover: the standby answered its first request as owner ${failoverMs} ms after the owner's SIGKILL (${acked.length} purchases acknowledged before it, ${sent.length - acked.length} not)`);
    expect(acked.length).toBeGreaterThan(10);
    expect(failoverMs).toBeLessThan(FAILOVER_MAX_MS);

    // Every acknowledged purchase is in the new owner's books: resent, it replays with the same answer.
    for (const order of acked) {
      const reply = await second.post('/v1/purchases', { orderId: order.orderId, memberId: order.memberId, amountCents: order.amountCents });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ replayed: true, earnedPoints: order.acked!.earnedPoints });
    }
    // The unacknowledged ones are resent, as a terminal does: each applies once, whether it had landed or not.
    for (const order of sent.filter((o) => o.acked === null)) {
      expect((await second.post('/v1/purchases', { orderId: order.orderId, memberId: order.memberId, amountCents: order.amountCents })).status).toBe(200);
    }
    for (let i = 0; i < MEMBERS; i++) {
      const mine = sent.filter((o) => o.memberId === `fm-${i}`);
      const member = (await second.get(`/v1/members/fm-${i}`)).body as { purchaseCount: number; lifetimeSpendCents: number };
      expect({ count: member.purchaseCount, spend: member.lifetimeSpendCents }).toEqual({ count: mine.length, spend: mine.reduce((s, o) => s + o.amountCents, 0) });
    }

    // The killed node's copy of shard 0 gets a commit the stream never had at its place, as a stale
    // owner's refused append leaves one: run through the shard's commit path while the node is down.
    const stale = openShardStore(join(first.dataDir, 'shard-0'), 256 * 1024 * 1024);
    try {
      const member = Array.from({ length: MEMBERS }, (_, i) => `fm-${i}`).find((id) => getState(stale, id) !== undefined)!;
      const atMs = Date.now();
      new ShardMachine(stale, loadCore(), 0, { log: true }).run({ kind: 'batch', ops: [purchaseOp({ orderId: 'fo-refused', memberId: member, amountCents: 333, at: new Date(atMs).toISOString() }, { role: 'admin', nowMs: atMs, defaultCountry: 'HK' })] }, atMs);
      expect(logPosition(stale).seq).toBeLessThanOrEqual((await streamEnds(cluster, 'main', SHARDS, 'failover-inspect'))[0]!);
    } finally {
      await stale.root.close();
    }

    // The killed node comes back as a standby: it names the new owner, and its copy follows the
    // streams; shard 0's is rebuilt from its stream, the old folder moved aside.
    first.logs.length = 0;
    await first.start();
    expect(await waitUntilStandby(first, 10_000)).toBe(`node-2 (term 2) at http://127.0.0.1:${second.port}`);
    for (let i = 0; i < 5; i++) expect((await second.post('/v1/purchases', { orderId: `fo-after-${i}`, memberId: `fm-${i}`, amountCents: 700 })).status).toBe(200);
    const ends = await streamEnds(cluster, 'main', SHARDS, 'failover-inspect');
    const deadlineMs = Date.now() + 15_000;
    while (JSON.stringify(copyEnds(first.dataDir, SHARDS)) !== JSON.stringify(ends)) {
      if (Date.now() > deadlineMs) throw new Error(`the restarted standby's copy stays at ${JSON.stringify(copyEnds(first.dataDir, SHARDS))}, the streams end at ${JSON.stringify(ends)}: ${first.logs.join('').slice(-3_000)}`);
      await pause(100);
    }
    const rebuilt = first.logs.join('').split('\n').filter((l) => l.includes('is rebuilt from the stream'));
    expect(rebuilt.length).toBeGreaterThanOrEqual(1);
    expect(rebuilt.some((l) => l.includes('"shard":0'))).toBe(true);
    expect(readdirSync(first.dataDir).some((name) => name.startsWith('shard-0.diverged-'))).toBe(true);
    await expectSameCopies(second.dataDir, first.dataDir, SHARDS);

    // A planned stop gives the record up: the standby takes over at once, not after the lease.
    const stoppedAtMs = Date.now();
    await second.stop();
    const handOverMs = (Date.now() - stoppedAtMs) + await waitUntilOwner(first, FAILOVER_MAX_MS);
    console.log(`planned hand-over: the standby owned ${handOverMs} ms after the owner's SIGTERM`);
    await first.stop();
    expect(verifyFolder(first.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
    expect(verifyFolder(second.dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
  }, 180_000);

  it('an owner paused past its lease stops writing as soon as it wakes and stands by without a stop', async () => {
    // A deployment of its own on the same NATS servers: its own streams and owner record.
    const own = (nodeId: string) => ({ ...env(nodeId), LOYALTY_DEPLOYMENT: 'paused' });
    const paused = new ServerProcess(ServerProcess.tempDataDir(), own('node-a'));
    nodes.push(paused);
    await paused.start();
    await waitUntilOwner(paused, 15_000);
    const standbyDir = ServerProcess.tempDataDir();
    const standby = new ServerProcess(standbyDir, own('node-b'));
    nodes.push(standby);
    await standby.start();
    standby.adminKey = paused.adminKey;
    await waitUntilStandby(standby, 10_000);
    expect((await paused.post('/v1/members', { memberId: 'pm-1', name: 'Paused' })).status).toBe(201);
    const otherShardMember = Array.from({ length: 50 }, (_, i) => `pm-other-${i}`).find((id) => hashId(id) % SHARDS !== hashId('pm-1') % SHARDS)!;

    const child = paused.child!;
    process.kill(child.pid!, 'SIGSTOP');
    const pausedAtMs = Date.now();
    const tookOverMs = (Date.now() - pausedAtMs) + await waitUntilOwner(standby, FAILOVER_MAX_MS);
    console.log(`paused owner: the standby owned ${tookOverMs} ms after the owner was stopped with SIGSTOP`);
    expect((await standby.post('/v1/purchases', { orderId: 'po-1', memberId: 'pm-1', amountCents: 900 })).status).toBe(200);
    // node-b writes the other shard too: any append the woken owner tries is refused (an append
    // landing on a shard node-b had not written yet would make node-b step down instead: the window
    // the `term` entry closes).
    expect((await standby.post('/v1/members', { memberId: otherShardMember, name: 'Other Shard' })).status).toBe(201);

    // A purchase sent to the paused owner waits in its socket: woken, the owner runs it only as a
    // stale owner (node-b wrote the member's shard, so its append is refused) or forwards it. It is
    // never answered ok by the old owner itself.
    const sentWhilePaused = paused.post('/v1/purchases', { orderId: 'po-paused', memberId: 'pm-1', amountCents: 40 });
    await pause(200);
    // Woken, the old owner's overdue renewal finds node-b's record: it stops writing at once, with
    // the reason in its log, and stands by in the same process, forwarding to node-b.
    const wokenAtMs = Date.now();
    process.kill(child.pid!, 'SIGCONT');
    let answered = await sentWhilePaused;
    expect(answered.status === 503 || (answered.status === 200 && forwardedTo(answered) !== null), `${answered.status} ${JSON.stringify(answered.body)}`).toBe(true);
    while (answered.status !== 200) {
      expect(answered.body).toMatchObject({ error: { code: expect.stringMatching(/^(shutting_down|not_owner|overloaded)$/) } });
      expect(answered.headers.get('retry-after')).not.toBeNull();
      await pause(50);
      answered = await paused.post('/v1/purchases', { orderId: 'po-paused', memberId: 'pm-1', amountCents: 40 });
    }
    expect(forwardedTo(answered), paused.logs.join('\n').slice(-3_000)).toBe(`node-b (term 2) at http://127.0.0.1:${standby.port}`);
    let standbyMs = -1;
    for (;;) {
      const reply = await paused.get('/v1/program').catch(() => null);
      if (reply !== null && reply.status === 200 && forwardedTo(reply) !== null) { standbyMs = Date.now() - wokenAtMs; break; }
      if (Date.now() - wokenAtMs > FAILOVER_MAX_MS) throw new Error(`the woken owner does not stand by: ${paused.logs.join('').slice(-3_000)}`);
      await pause(20);
    }
    const lines = paused.logs.join('\n').split('\n');
    const stepDown = lines.find((l) => l.includes('this node steps down at once'));
    expect(stepDown).toContain('node node-b owns the deployment now (term 2)');
    const stoppedWritingMs = (JSON.parse(stepDown!) as { time: number }).time - wokenAtMs;
    console.log(`paused owner: woken, it stopped writing ${stoppedWritingMs} ms after SIGCONT and answered as a standby ${standbyMs} ms after it`);
    expect(stoppedWritingMs).toBeLessThan(2_000);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
    expect((await paused.get('/v1/admin/cluster')).body).toMatchObject({ nodeId: 'node-a', role: 'standby', owner: { nodeId: 'node-b', term: 2 } });
    const write = await paused.post('/v1/purchases', { orderId: 'po-2', memberId: 'pm-1', amountCents: 100 });
    expect(write.status).toBe(200);
    expect(forwardedTo(write)).toBe(`node-b (term 2) at http://127.0.0.1:${standby.port}`);
    expect((await standby.get('/v1/members/pm-1')).body).toMatchObject({ purchaseCount: 3, lifetimeSpendCents: 1_040 });
  }, 120_000);
});
