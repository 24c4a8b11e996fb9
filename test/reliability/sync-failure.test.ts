// A failed fdatasync under pipelined and nometasync commits (engine/shard/group-sync.ts): the batches a shard
// committed but could not sync are never acked, no sync is retried, and the whole process stops at
// once, as PostgreSQL does after a failed fsync. After a restart everything acked is there, and the
// batches that went unanswered, resent by the terminal (the POS stream client, once the server is
// back on its port), are applied exactly once (their commits may or may not have survived in the
// page cache; idempotency makes both the same). The failure is injected with
// LOYALTY_TEST_FAIL_SYNC: once its file exists, a shard's next sync reports EIO.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ServerChild, type Reply } from '../../bench/server-child.js';
import { PosStream, type OpResult, type StreamOp, type WebSocketConstructor } from '../../client/stream.js';
import { freePort } from '../../bench/free-port.js';

const root = mkdtempSync(join(tmpdir(), 'loyalty-sync-failure-'));
const MEMBERS = ['sf-a', 'sf-b', 'sf-c', 'sf-d'];
const BATCH_OPS = 40;
/** Stream batches sent after the sync starts failing, and HTTP purchases beside them. */
const LOST_BATCHES = [2, 3, 4, 5];
const LOST_HTTP = ['sf-h1', 'sf-h2', 'sf-h3', 'sf-h4'];

const servers: ServerChild[] = [];
afterAll(async () => {
  for (const server of servers) await server.kill();
  rmSync(root, { recursive: true, force: true });
});

const purchases = (batch: number): StreamOp[] => Array.from({ length: BATCH_OPS }, (_, i) => ({
  op: 'purchase', orderId: `sf-${batch}-${i}`, memberId: MEMBERS[i % MEMBERS.length]!, amountCents: 1_000 + i,
}));
const httpPurchase = (s: ServerChild, orderId: string) => s.post('/v1/purchases', { orderId, memberId: 'sf-a', amountCents: 2_500 });

describe.each(['pipelined', 'nometasync'])('a failed fdatasync (LOYALTY_COMMIT=%s)', (commit) => {
  it('acks nothing it covered, stops the process, and loses nothing acked', async () => {
    const dataDir = join(root, `data-${commit}`);
    const failFile = join(root, `fail-sync-${commit}`);
    // The restarted server listens on the same port, so that the terminal finds it again by itself.
    const server = new ServerChild({
      dataDir,
      env: { PORT: String(await freePort()), LOYALTY_SHARDS: '2', LOYALTY_COMMIT: commit, LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_TEST_FAIL_SYNC: failFile },
    });
    servers.push(server);
    await server.start();
    for (const memberId of MEMBERS) expect((await server.post('/v1/members', { memberId })).status).toBe(201);
    expect((await httpPurchase(server, 'sf-h0')).status).toBe(200);
    const stream = new PosStream({ url: server.streamUrl, key: server.adminKey, WebSocket: WebSocket as unknown as WebSocketConstructor, encoding: 'msgpack', batchOpsMax: BATCH_OPS, reconnectMaxMs: 200 });
    expect((await stream.sendBatch(purchases(1))).every((r) => r.ok)).toBe(true);

    writeFileSync(failFile, '');
    const answeredBeforeRestart: OpResult[][] = [];
    let restarted = false;
    const lost = LOST_BATCHES.map((id) => stream.sendBatch(purchases(id)));
    for (const batch of lost) void batch.then((results) => { if (!restarted) answeredBeforeRestart.push(results); });
    const http = await Promise.all(LOST_HTTP.map((id) => httpPurchase(server, id).catch((err: Error) => err)));
    const exit = await server.exited;

    expect(exit.signal).toBe('SIGKILL');
    const httpAnswered = http.filter((r): r is Reply => !(r instanceof Error));
    // Under nometasync a commit is also answered when a later commit's own fdatasync carried its meta
    // page, which succeeds: those answers are true (checked after the restart), and the last commits,
    // which waited for the failed sync, are not answered. Under pipelined only a sync answers.
    const ackedEarly = commit === 'nometasync' ? answeredBeforeRestart.length : 0;
    // A request whose batch waited for the failed sync gets no answer at all (the connection drops).
    if (commit === 'pipelined') expect(httpAnswered.map((r) => r.status)).toEqual([]);
    else expect(httpAnswered.every((r) => r.status === 200)).toBe(true);
    expect(ackedEarly + httpAnswered.length).toBeLessThan(LOST_BATCHES.length + LOST_HTTP.length);
    const logs = server.logs.join('\n');
    expect(logs).toContain('the data file could not be synced: stopping the process');
    expect(logs).toContain('injected: LOYALTY_TEST_FAIL_SYNC');
    await server.stop();
    // Nothing the failed sync covered was acked: the terminal still holds every one of those batches.
    expect(answeredBeforeRestart.filter((results) => !results.every((r) => r.ok))).toEqual([]);
    expect(answeredBeforeRestart).toHaveLength(ackedEarly);
    expect(stream.pendingOps).toBe((LOST_BATCHES.length - ackedEarly) * BATCH_OPS);

    rmSync(failFile);
    restarted = true;
    await server.start();
    // Everything acked before the failure is there.
    expect((await server.get('/v1/orders/sf-h0')).body).toMatchObject({ orderId: 'sf-h0', amountCents: 2_500 });
    for (const reply of httpAnswered) expect((await server.get(`/v1/orders/${(reply.body as { orderId: string }).orderId}`)).status).toBe(200);
    for (let i = 0; i < BATCH_OPS; i++) expect((await server.get(`/v1/orders/sf-1-${i}`)).status).toBe(200);
    // What went unanswered the terminal sends again once the server is back, and it is applied once
    // whether or not its commit survived.
    const resent = await Promise.all(lost);
    expect(resent.map((results) => results.every((r) => r.ok))).toEqual(LOST_BATCHES.map(() => true));
    expect(stream.reconnects).toBeGreaterThanOrEqual(1);
    expect(stream.resentBatches).toBe(LOST_BATCHES.length - ackedEarly);
    await stream.close();
    for (const id of LOST_HTTP) expect((await httpPurchase(server, id)).status).toBe(200);
    const summary = (await server.get('/v1/reports/summary')).body;
    const orders = 1 + BATCH_OPS + LOST_BATCHES.length * BATCH_OPS + LOST_HTTP.length;
    expect(summary).toMatchObject({ purchases: orders });
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
  });
});
