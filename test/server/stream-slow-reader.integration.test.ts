// Streams whose terminals never read their acks are closed once the acks buffered for them pass the
// bound, while a normal terminal and /healthz are still served quickly; a closed terminal gets
// fewer acks than it sent batches (it resends the rest, which replay).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { STREAM_BACKPRESSURE_BYTES_MAX } from '../../engine/limits.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());
const SLOW_READERS = 6;
/** 10,000 ops that are not objects: each answers `invalid_request` at once, about 85 bytes of ack. */
const OPS_PER_BATCH = 10_000;
/** Batches per slow reader: about 50 MB of acks, three times the bound, kernel buffers included. */
const BATCHES = 60;

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

async function connect(): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: `Bearer ${server.adminKey}` } });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return ws;
}

describe('slow readers', () => {
  it('closes streams that never read once past the bound, and keeps serving a normal terminal', async () => {
    expect(BATCHES * OPS_PER_BATCH * 85).toBeGreaterThan(3 * STREAM_BACKPRESSURE_BYTES_MAX);
    const frame = (id: number) => JSON.stringify({ type: 'batch', id, ops: new Array(OPS_PER_BATCH).fill(7) });
    const slow = await Promise.all(Array.from({ length: SLOW_READERS }, () => connect()));
    const acks = slow.map(() => 0);
    const closed = slow.map((ws) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code))));
    slow.forEach((ws, k) => {
      ws.on('message', () => { acks[k]! += 1; });
      // The terminal stops reading: the server's acks pile up in the kernel, then in the server.
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      for (let id = 1; id <= BATCHES; id++) ws.send(frame(id));
    });

    // Meanwhile a normal terminal and a health check are answered quickly.
    const normal = await connect();
    const latenciesMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const ack = new Promise<any>((resolve) => normal.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))));
      normal.send(JSON.stringify({ type: 'batch', id: i, ops: [{ op: 'register', memberId: `normal-${i}` }] }));
      expect((await ack).results[0].ok).toBe(true);
      const health = await server.get('/healthz', null);
      expect(health.status).toBe(200);
      latenciesMs.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(Math.max(...latenciesMs)).toBeLessThan(2_000);

    // Reading again, each slow terminal finds its connection closed, with fewer acks than batches.
    for (const ws of slow) (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const codes = await Promise.all(closed.map((c) => Promise.race([c, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))])));
    expect(codes).toEqual(slow.map(() => 1006));
    for (const n of acks) expect(n).toBeLessThan(BATCHES);

    // The normal terminal is still connected and served.
    const ack = new Promise<any>((resolve) => normal.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))));
    normal.send(JSON.stringify({ type: 'batch', id: 99, ops: [{ op: 'quote', memberId: 'normal-0', amountCents: 100 }] }));
    expect((await ack).results[0].ok).toBe(true);
    normal.close();
  }, 60_000);
});
