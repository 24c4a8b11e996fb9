// Ops that look something up on another shard see the ops before them that are still in flight:
// a return of an order purchased earlier in the same batch (or in a batch of the same connection
// not yet acked), a registration naming a member registered just before, a transfer to one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '4' });
const packr = new Packr({ useRecords: false });

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

/** A terminal that sends batches without waiting and collects acks by id. */
class Terminal {
  private readonly acks = new Map<number, any>();
  private waiters: Array<() => void> = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const frame = packr.unpack(data);
      if (frame.type === 'ack') this.acks.set(frame.id, frame.results);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(): Promise<Terminal> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: `Bearer ${server.adminKey}` } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    return new Terminal(ws);
  }
  send(id: number, ops: unknown[]): void {
    this.ws.send(packr.pack({ type: 'batch', id, ops }));
  }
  async ack(id: number): Promise<any[]> {
    const deadline = Date.now() + 10_000;
    while (!this.acks.has(id)) {
      if (Date.now() > deadline) throw new Error(`no ack ${id}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    return this.acks.get(id);
  }
  async batch(id: number, ops: unknown[]): Promise<any[]> {
    this.send(id, ops);
    return this.ack(id);
  }
  close(): void { this.ws.close(); }
}

const codes = (results: any[]) => results.map((r) => (r.ok ? 'ok' : r.error.code));

describe('lookups see the ops in flight before them', () => {
  it('returns an order purchased earlier in the same batch, every time', async () => {
    const t = await Terminal.open();
    for (let i = 0; i < 20; i++) {
      const results = await t.batch(i, [
        { op: 'register', memberId: `rb-${i}` },
        { op: 'purchase', orderId: `rb-o-${i}`, memberId: `rb-${i}`, amountCents: 60000 },
        { op: 'return', returnId: `rb-r-${i}`, orderId: `rb-o-${i}`, amountCents: 60000 },
      ]);
      expect(codes(results)).toEqual(['ok', 'ok', 'ok']);
      expect(results[2]).toMatchObject({ memberId: `rb-${i}`, clawedBackPoints: 30, points: 0, replayed: false });
    }
    t.close();
  });

  it('registers a referee of a member registered earlier in the same batch, and transfers to one', async () => {
    const t = await Terminal.open();
    await t.batch(100, [{ op: 'register', memberId: 'payer' }, { op: 'topup', requestId: 'payer-t', memberId: 'payer', amountCents: 100000 }]);
    for (let i = 0; i < 20; i++) {
      const results = await t.batch(101 + i, [
        { op: 'register', memberId: `ref-${i}` },
        { op: 'register', memberId: `referee-${i}`, referrerId: `ref-${i}` },
        { op: 'register', memberId: `target-${i}` },
        { op: 'transfer', requestId: `tr-${i}`, fromMemberId: 'payer', toMemberId: `target-${i}`, amountCents: 100 },
      ]);
      expect(codes(results)).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(results[1]).toMatchObject({ memberId: `referee-${i}`, referrerId: `ref-${i}` });
      expect(results[3]).toMatchObject({ toMemberId: `target-${i}`, amountCents: 100 });
    }
    const payer = (await server.get('/v1/members/payer')).body;
    expect(payer.walletCents).toBe(110000 - 20 * 100);
    t.close();
  });

  it('returns an order whose purchase is in a batch of the same connection not yet acked', async () => {
    const t = await Terminal.open();
    await t.batch(200, [{ op: 'register', memberId: 'offline' }]);
    for (let i = 0; i < 20; i++) {
      // The offline POS replays a sale and its refund: two batches, the second sent before the first is acked.
      t.send(201 + 2 * i, [{ op: 'purchase', orderId: `off-o-${i}`, memberId: 'offline', amountCents: 40000 }]);
      t.send(202 + 2 * i, [{ op: 'return', returnId: `off-r-${i}`, orderId: `off-o-${i}`, amountCents: 40000 }]);
      expect(codes(await t.ack(201 + 2 * i))).toEqual(['ok']);
      const refund = await t.ack(202 + 2 * i);
      expect(codes(refund)).toEqual(['ok']);
      expect(refund[0]).toMatchObject({ memberId: 'offline', clawedBackPoints: 20 });
    }
    const member = (await server.get('/v1/members/offline')).body;
    expect(member).toMatchObject({ points: 0, lifetimeSpendCents: 0, purchaseCount: 20 });
    t.close();
  });

  it('queues a batch after the batches before it, even while one of them waits on a lookup', async () => {
    const t = await Terminal.open();
    await t.batch(400, [{ op: 'register', memberId: 'seq' }, { op: 'purchase', orderId: 'seq-o', memberId: 'seq', amountCents: 100000 }]);
    for (let i = 0; i < 10; i++) {
      // The first batch's return looks its order up before its purchase is queued; the second batch returns that purchase.
      t.send(401 + 2 * i, [
        { op: 'return', returnId: `seq-r0-${i}`, orderId: 'seq-o', amountCents: 1000 },
        { op: 'purchase', orderId: `seq-o-${i}`, memberId: 'seq', amountCents: 40000 },
      ]);
      t.send(402 + 2 * i, [{ op: 'return', returnId: `seq-r-${i}`, orderId: `seq-o-${i}`, amountCents: 40000 }]);
      expect(codes(await t.ack(401 + 2 * i))).toEqual(['ok', 'ok']);
      expect(codes(await t.ack(402 + 2 * i))).toEqual(['ok']);
    }
    expect((await server.get('/v1/members/seq')).body).toMatchObject({ lifetimeSpendCents: 90000, purchaseCount: 11 });
    t.close();
  });

  it('answers not found when the op looked up failed', async () => {
    const t = await Terminal.open();
    const results = await t.batch(300, [
      { op: 'purchase', orderId: 'nf-o', memberId: 'nobody-here', amountCents: 1000 },
      { op: 'return', returnId: 'nf-r', orderId: 'nf-o', amountCents: 1000 },
      { op: 'register', memberId: 'nf-ref', tierId: 'no-such-tier' },
      { op: 'register', memberId: 'nf-referee', referrerId: 'nf-ref' },
      { op: 'register', memberId: 'nf-payer' },
      { op: 'transfer', requestId: 'nf-t', fromMemberId: 'nf-payer', toMemberId: 'nf-ref', amountCents: 100 },
    ]);
    expect(codes(results)).toEqual(['member_not_found', 'order_not_found', 'tier_not_found', 'referrer_not_found', 'ok', 'member_not_found']);
    expect((await server.get('/v1/members/nf-referee')).status).toBe(404);
    t.close();
  });

  it('leaves a ledger that verifies clean', async () => {
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
  });
});
