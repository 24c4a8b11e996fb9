// Overload: with a shard queue bound of 20 ops, a flood of HTTP purchases gets 503 overloaded with
// Retry-After for what does not fit, every 200 is durable and counted, and a POS stream pushing
// far past the bound is not refused: it stops reading until the queue drains, and every op lands.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '1', LOYALTY_QUEUE_OPS_MAX: '20' });
const packr = new Packr({ useRecords: false });

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

describe('a full shard queue', () => {
  it('answers HTTP with 503 overloaded and Retry-After, and keeps every acknowledged purchase', async () => {
    await server.post('/v1/members', { memberId: 'flood' });
    const replies = await Promise.all(Array.from({ length: 400 }, (_, i) =>
      server.post('/v1/purchases', { orderId: `f-${i}`, memberId: 'flood', amountCents: 2000 })));
    const ok = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 503);
    expect(ok.length + refused.length).toBe(400);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.body.error.code).toBe('overloaded');
      expect(r.headers.get('retry-after')).toBe('1');
    }
    const m = (await server.get('/v1/members/flood')).body;
    expect(m.purchaseCount).toBe(ok.length);
    expect(m.points).toBe(ok.length);
    // A refused order was not written: its key is free for the retry.
    const retry = await server.post('/v1/purchases', { orderId: `f-${replies.indexOf(refused[0]!)}`, memberId: 'flood', amountCents: 2000 });
    expect(retry.body.replayed).toBe(false);
  });

  it('makes a stream wait instead of refusing: every op of every batch is acked ok', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: `Bearer ${server.adminKey}` } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const acks = new Map<number, Array<{ ok: boolean }>>();
    ws.on('message', (data: Buffer) => { const f = packr.unpack(data); if (f.type === 'ack') acks.set(f.id, f.results); });
    const batches = 20;
    for (let b = 0; b < batches; b++) {
      ws.send(packr.pack({ type: 'batch', id: b, ops: Array.from({ length: 200 }, (_, j) => ({ op: 'purchase', orderId: `s-${b}-${j}`, memberId: 'flood', amountCents: 2000 })) }));
    }
    const deadline = Date.now() + 30_000;
    while (acks.size < batches && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    ws.close();
    expect(acks.size).toBe(batches);
    expect([...acks.values()].flat().every((r) => r.ok)).toBe(true);
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
  });
});
