// The POS stream against a real server: msgpack and JSON frames, hello and header authentication,
// acks in op order once durable, ops on one member applied in batch order, replays, the window of
// 64 unacked batches, and malformed frames answered with error frames on a connection that lives on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());
const packr = new Packr({ useRecords: false });

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

/** A terminal: sends frames, collects every frame the server sends, waits for acks by id. */
class Terminal {
  readonly frames: any[] = [];
  private waiters: Array<() => void> = [];
  constructor(readonly ws: WebSocket, readonly binary: boolean) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.frames.push(isBinary ? packr.unpack(data) : JSON.parse(data.toString('utf8')));
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(binary: boolean, key: string | null = server.adminKey): Promise<Terminal> {
    const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` };
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    return new Terminal(ws, binary);
  }
  sendRaw(data: Buffer | string, binary: boolean): void {
    this.ws.send(data, { binary });
  }
  send(frame: unknown): void {
    this.sendRaw(this.binary ? packr.pack(frame) : JSON.stringify(frame), this.binary);
  }
  async next(pred: (f: any) => boolean, timeoutMs = 10_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i !== -1) return this.frames.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error('no such frame; got ' + JSON.stringify(this.frames).slice(0, 500));
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  ack(id: number): Promise<any> {
    return this.next((f) => f.type === 'ack' && f.id === id);
  }
  async batch(id: number, ops: unknown[]): Promise<any[]> {
    this.send({ type: 'batch', id, ops });
    return (await this.ack(id)).results;
  }
  close(): void { this.ws.close(); }
}

describe.each([['msgpack', true], ['JSON', false]] as const)('%s frames', (label, binary) => {
  const p = label === 'msgpack' ? 'mp' : 'js';

  it('registers, purchases on one member in batch order, and acks every op in order', async () => {
    const t = await Terminal.open(binary);
    const results = await t.batch(1, [
      { op: 'register', memberId: `${p}-a` },
      { op: 'purchase', orderId: `${p}-o1`, memberId: `${p}-a`, amountCents: 60000 },
      { op: 'purchase', orderId: `${p}-o2`, memberId: `${p}-a`, amountCents: 50000 },
      { op: 'quote', memberId: `${p}-a`, amountCents: 10000 },
      { op: 'topup', requestId: `${p}-t1`, memberId: `${p}-a`, amountCents: 100000 },
      { op: 'purchase', orderId: `${p}-o3`, memberId: `${p}-a`, amountCents: 1000, walletCents: 1000 },
      { op: 'purchase', orderId: `${p}-o4`, memberId: `${p}-nobody`, amountCents: 1000 },
      { op: 'redeem', requestId: `${p}-r1`, memberId: `${p}-a`, points: 10 },
    ]);
    expect(results.map((r: any) => r.ok)).toEqual([true, true, true, true, true, true, false, true]);
    expect(results[1]).toMatchObject({ orderId: `${p}-o1`, earnedPoints: 30, points: 30, tierId: 'member' });
    expect(results[2]).toMatchObject({ earnedPoints: 25, points: 55, tierId: 'silver', upgradedTo: 'silver' });
    expect(results[3]).toMatchObject({ tierId: 'silver', discountCents: 500, points: 55 });
    expect(results[4]).toMatchObject({ walletBalanceCents: 110000, bonusCents: 10000 });
    expect(results[5]).toMatchObject({ walletBalanceCents: 109000, points: 55 });
    expect(results[6].error.code).toBe('member_not_found');
    expect(results[7]).toMatchObject({ points: 45, walletBalanceCents: 109100 });
    t.close();
  });

  it('replays a batch resent after a lost ack, writing nothing new', async () => {
    const t = await Terminal.open(binary);
    const ops = [{ op: 'purchase', orderId: `${p}-o1`, memberId: `${p}-a`, amountCents: 60000 }, { op: 'purchase', orderId: `${p}-o5`, memberId: `${p}-a`, amountCents: 2000 }];
    const first = await t.batch(10, ops);
    expect(first[0]).toMatchObject({ replayed: true, earnedPoints: 30 });
    expect(first[1]).toMatchObject({ replayed: false, points: 46 });
    const again = await t.batch(11, ops);
    expect(again.map((r: any) => r.replayed)).toEqual([true, true]);
    expect(again[1].points).toBe(46);
    expect((await server.get(`/v1/members/${p}-a`)).body.points).toBe(46);
    t.close();
  });

  it('answers malformed frames and bad ops with errors and keeps the connection', async () => {
    const t = await Terminal.open(binary);
    t.sendRaw(binary ? Buffer.from([0xc1, 0xc1, 0xc1]) : '{"type":', binary);
    expect((await t.next((f) => f.type === 'error')).error.code).toBe('invalid_request');
    t.send({ type: 'batch', id: 'x', ops: [] });
    expect((await t.next((f) => f.type === 'error')).error.code).toBe('invalid_request');
    t.send({ type: 'batch', id: 20, ops: [] });
    expect((await t.next((f) => f.type === 'error' && f.id === 20)).error.code).toBe('invalid_request');
    t.send({ type: 'dance' });
    expect((await t.next((f) => f.type === 'error')).error.code).toBe('invalid_request');
    const results = await t.batch(21, [
      { op: 'fly', memberId: `${p}-a` },
      7,
      { op: 'purchase', orderId: `${p}-bad`, memberId: `${p}-a`, amountCents: 1.5 },
      { op: 'purchase', orderId: `${p}-bad2`, memberId: `${p}-a`, amountCents: 100, __proto__x: 1 },
      { op: 'adjust', requestId: `${p}-adj`, memberId: `${p}-a`, points: 5, reason: 'ok' },
    ]);
    expect(results.map((r: any) => r.ok ? 'ok' : r.error.code)).toEqual(['invalid_request', 'invalid_request', 'invalid_request', 'invalid_request', 'ok']);
    expect(results[2].error.field).toBe('amountCents');
    t.close();
  });

  it('authenticates by a hello frame and refuses batches before it', async () => {
    const t = await Terminal.open(binary, null);
    t.send({ type: 'batch', id: 30, ops: [{ op: 'quote', memberId: `${p}-a`, amountCents: 100 }] });
    expect((await t.next((f) => f.type === 'error' && f.id === 30)).error.code).toBe('unauthorized');
    t.send({ type: 'hello', key: 'nope' });
    expect((await t.next((f) => f.type === 'error')).error.code).toBe('unauthorized');
    t.send({ type: 'hello', key: server.adminKey });
    expect(await t.next((f) => f.type === 'welcome')).toEqual({ type: 'welcome', role: 'admin' });
    const results = await t.batch(31, [{ op: 'quote', memberId: `${p}-a`, amountCents: 100 }]);
    expect(results[0].ok).toBe(true);
    t.close();
  });
});

describe('stream limits and roles', () => {
  it('refuses an upgrade with a wrong key', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: 'Bearer wrong' } });
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(401);
  });

  it('applies each role\'s rights per op', async () => {
    const readerKey = (await server.post('/v1/admin/keys', { role: 'reader' })).body.key;
    const posKey = (await server.post('/v1/admin/keys', { role: 'pos' })).body.key;
    const reader = await Terminal.open(true, readerKey);
    const r = await reader.batch(1, [{ op: 'purchase', orderId: 'role-1', memberId: 'mp-a', amountCents: 100 }]);
    expect(r[0].error.code).toBe('forbidden');
    const pos = await Terminal.open(true, posKey);
    const p = await pos.batch(1, [
      { op: 'purchase', orderId: 'role-2', memberId: 'mp-a', amountCents: 100 },
      { op: 'adjust', requestId: 'role-adj', memberId: 'mp-a', points: 5, reason: 'x' },
    ]);
    expect(p.map((x: any) => x.ok ? 'ok' : x.error.code)).toEqual(['ok', 'forbidden']);
    reader.close(); pos.close();
  });

  it('keeps a window of 64 unacked batches and acks every batch sent past it', async () => {
    const t = await Terminal.open(true);
    await t.batch(0, [{ op: 'register', memberId: 'win' }]);
    const batches = 150;
    for (let i = 1; i <= batches; i++) {
      t.send({ type: 'batch', id: i, ops: Array.from({ length: 20 }, (_, j) => ({ op: 'purchase', orderId: `win-${i}-${j}`, memberId: 'win', amountCents: 2000 })) });
    }
    const acks = await Promise.all(Array.from({ length: batches }, (_, i) => t.ack(i + 1)));
    expect(acks.every((a) => a.results.length === 20 && a.results.every((r: any) => r.ok))).toBe(true);
    const m = (await server.get('/v1/members/win')).body;
    expect(m.purchaseCount).toBe(batches * 20);
    expect(m.lifetimeSpendCents).toBe(batches * 20 * 2000);
    const metrics = (await server.get('/metrics')).body as string;
    // The burst went past the window: the server held frames back instead of reading them.
    expect(Number(/loyalty_stream_parked_frames_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    t.close();
  });

  it('answers a frame over 1 MiB with an error frame, not a dropped connection', async () => {
    const t = await Terminal.open(false);
    t.sendRaw(JSON.stringify({ type: 'batch', id: 99, ops: [{ op: 'quote', memberId: 'x'.repeat(1_100_000), amountCents: 1 }] }), false);
    expect((await t.next((f) => f.type === 'error')).error.code).toBe('payload_too_large');
    const results = await t.batch(100, [{ op: 'quote', memberId: 'win', amountCents: 100 }]);
    expect(results[0].ok).toBe(true);
    t.close();
  });

  it('leaves a ledger that verifies clean', async () => {
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
  });
});
