// A full disk, bounded by LOYALTY_MAP_BYTES: with 2 MiB per shard the server takes registrations
// until a shard's data file reaches the bound, then refuses every write with 503 storage_failed and
// Retry-After (the stream with an error frame), never a 500; it stays up, reads and verify work, and
// everything acked before is there. Restarted with the same bound it still refuses; restarted with
// a larger one it writes again. (The bound exists because lmdb-js grows its map by itself and its
// failed-write path corrupts the heap, see engine/limits.ts DISK_FREE_BYTES_MIN.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerChild, type Reply } from '../../bench/server-child.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';

const MIB = 1024 * 1024;
const SMALL_MAP_BYTES = 2 * MIB;
const LARGE_MAP_BYTES = 64 * MIB;
const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-disk-full-'));
const env = (mapBytes: number) => ({ LOYALTY_SHARDS: '2', LOYALTY_MAP_BYTES: String(mapBytes) });
let server = new ServerChild({ dataDir, env: env(SMALL_MAP_BYTES) });
/** Register ops per batch while filling: ~600 bytes of profile each. */
const FILL_BATCH_OPS = 200;
const FILL_BATCHES_MAX = 300;

afterAll(async () => {
  await server.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Stops the server and expects a clean exit; on any other exit the server's last log lines are in the failure. */
async function expectCleanStop(s: ServerChild): Promise<void> {
  const exit = await s.stop();
  expect({ ...exit, logs: exit.code === 0 ? [] : s.logs.slice(-40) }).toEqual({ code: 0, signal: null, logs: [] });
}

function expectStorageFailed(reply: Reply, label: string): void {
  expect({ label, status: reply.status, code: reply.body?.error?.code, retryAfter: reply.headers.get('retry-after') })
    .toEqual({ label, status: 503, code: 'storage_failed', retryAfter: '1' });
}

/** Every kind of write the HTTP API has, each with a body that would otherwise be accepted. */
async function everyWrite(s: ServerChild, tag: string): Promise<Array<[string, Reply]>> {
  const { version: _v, ...program } = (await s.get('/v1/program')).body;
  return [
    ['register', await s.post('/v1/members', { memberId: `df-${tag}` })],
    ['purchase', await s.post('/v1/purchases', { orderId: `df-${tag}-o`, memberId: 'df-anchor', amountCents: 1000 })],
    ['return', await s.post('/v1/returns', { returnId: `df-${tag}-r`, orderId: 'df-o1', amountCents: 1 })],
    ['topup', await s.post('/v1/wallet/topups', { requestId: `df-${tag}-t`, memberId: 'df-anchor', amountCents: 1000 })],
    ['adjust', await s.post('/v1/points/adjustments', { requestId: `df-${tag}-a`, memberId: 'df-anchor', points: 1, reason: 'x' })],
    ['patch', await s.request('PATCH', '/v1/members/df-anchor', { name: tag })],
    ['program', await s.request('PUT', '/v1/program', program)],
    ['sweep', await s.post('/v1/admin/sweep', {})],
  ];
}

describe('disk full', () => {
  it('refuses writes with 503 storage_failed at the bound, stays up, and writes again once there is room', async () => {
    await server.start();
    expect((await server.post('/v1/members', { memberId: 'df-anchor', phone: '+852 5555 0200' })).status).toBe(201);
    expect((await server.post('/v1/purchases', { orderId: 'df-o1', memberId: 'df-anchor', amountCents: 60_000 })).status).toBe(200);

    // Fill through the stream until batches are refused.
    const t = await StreamTerminal.open(server.streamUrl, server.adminKey, true);
    let acked = 0;
    let refusal: any = null;
    let n = 0;
    for (let b = 1; b <= FILL_BATCHES_MAX && refusal === null; b++) {
      t.send({ type: 'batch', id: b, ops: Array.from({ length: FILL_BATCH_OPS }, () => ({ op: 'register', memberId: `df-m${n++}`, name: 'n'.repeat(256), address: 'a'.repeat(256) })) });
      const reply = await t.next((f) => f.id === b, 60_000);
      if (reply.type === 'error') { refusal = reply; break; }
      for (const r of reply.results) {
        if (r.ok) acked += 1;
        // LMDB's own failure would also answer storage_failed; anything else is wrong.
        else expect(r.error.code).toBe('storage_failed');
      }
    }
    expect(refusal).toMatchObject({ type: 'error', error: { code: 'storage_failed' } });
    expect(acked).toBeGreaterThan(1_000);
    // The connection lives on; while there is no room every batch is refused whole, quotes included.
    t.send({ type: 'batch', id: 100_000, ops: [{ op: 'quote', memberId: 'df-anchor', amountCents: 100 }] });
    expect((await t.next((f) => f.id === 100_000)).error.code).toBe('storage_failed');
    t.close();

    for (const [label, reply] of await everyWrite(server, 'full')) expectStorageFailed(reply, label);
    expect(server.running).toBe(true);
    expect((await server.get('/healthz')).status).toBe(200);
    expect((await server.get('/v1/orders/df-o1')).body).toMatchObject({ orderId: 'df-o1', amountCents: 60_000 });
    expect((await server.get('/v1/members/df-anchor')).body).toMatchObject({ points: 30, purchaseCount: 1 });
    const summary = (await server.get('/v1/reports/summary')).body;
    expect(summary.members).toBe(1 + acked);
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
    await expectCleanStop(server);

    // The same bound on restart: still no room.
    await server.start();
    expectStorageFailed(await server.post('/v1/purchases', { orderId: 'df-o2', memberId: 'df-anchor', amountCents: 1000 }), 'after restart');
    await server.stop();

    // Room again: everything acked is there, and writes succeed.
    server = new ServerChild({ dataDir, env: env(LARGE_MAP_BYTES) });
    await server.start();
    expect((await server.get('/v1/reports/summary')).body).toEqual(summary);
    const writes = await everyWrite(server, 'room');
    expect(writes.map(([label, r]) => [label, r.status])).toEqual([
      ['register', 201], ['purchase', 200], ['return', 200], ['topup', 200], ['adjust', 200], ['patch', 200], ['program', 200], ['sweep', 200],
    ]);
    const t2 = await StreamTerminal.open(server.streamUrl, server.adminKey, true);
    const results = await t2.batch(1, Array.from({ length: FILL_BATCH_OPS }, (_, i) => ({ op: 'register', memberId: `df-after-${i}`, name: 'n'.repeat(256) })), 60_000);
    expect(results.every((r: any) => r.ok)).toBe(true);
    t2.close();
    expect((await server.get('/v1/reports/summary')).body.members).toBe(1 + acked + 1 + FILL_BATCH_OPS);
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
    await expectCleanStop(server);
  }, 180_000);
});
