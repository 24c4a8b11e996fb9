// Graceful shutdown: SIGTERM while terminals stream purchases and an HTTP client writes over a
// keep-alive connection. The process finishes its in-flight batches, closes the streams with 1001,
// and exits 0 however many connections are open; after a restart every acked order is there, every
// refused one (shutting_down) is not, and verify is clean.
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerChild } from '../../bench/server-child.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';

const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-shutdown-'));
const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: '2' } });
const MEMBERS = ['sd-a', 'sd-b', 'sd-c', 'sd-d'];
const BATCH_OPS = 20;
const WINDOW = 8;
/** Batches acked before the SIGTERM: enough that it lands mid-stream. */
const ACKED_BEFORE_STOP = 30;

afterAll(async () => {
  await server.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Outcome { acked: Map<string, number>; refused: Set<string>; unknown: Set<string> }

/** Streams purchase batches until the connection closes; sorts every order by what the server said. */
async function streamUntilClosed(t: StreamTerminal, prefix: string, out: Outcome, ackedBatches: { n: number }): Promise<{ code: number }> {
  const inFlight = new Map<number, Array<{ orderId: string; amountCents: number }>>();
  let next = 1;
  let stopped = false;
  t.onFrame = (f) => {
    const batch = inFlight.get(f.id);
    if (batch === undefined) return;
    inFlight.delete(f.id);
    if (f.type === 'ack') {
      ackedBatches.n += 1;
      batch.forEach((o, i) => {
        const r = f.results[i];
        if (r.ok) out.acked.set(o.orderId, o.amountCents);
        else if (r.error.code === 'shutting_down') out.refused.add(o.orderId);
        else throw new Error(`unexpected result ${JSON.stringify(r)}`);
      });
    } else if (f.type === 'error' && f.error.code === 'shutting_down') {
      for (const o of batch) out.refused.add(o.orderId);
      stopped = true;
    } else {
      throw new Error(`unexpected frame ${JSON.stringify(f)}`);
    }
  };
  while (!t.isClosed) {
    while (!stopped && inFlight.size < WINDOW) {
      const id = next++;
      const orders = Array.from({ length: BATCH_OPS }, (_, j) => ({ orderId: `${prefix}-${id}-${j}`, amountCents: 100 + ((id * 31 + j) % 5000) }));
      inFlight.set(id, orders);
      t.send({ type: 'batch', id, ops: orders.map((o, j) => ({ op: 'purchase', orderId: o.orderId, memberId: MEMBERS[(id + j) % MEMBERS.length], amountCents: o.amountCents })) });
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const batch of inFlight.values()) for (const o of batch) out.unknown.add(o.orderId);
  return t.closed;
}

/** HTTP purchases one after another on one keep-alive connection until the server is gone. */
async function httpUntilGone(agent: Agent, out: Outcome): Promise<void> {
  for (let i = 0; ; i++) {
    const orderId = `sd-http-${i}`;
    const amountCents = 100 + i;
    const body = JSON.stringify({ orderId, memberId: MEMBERS[i % MEMBERS.length], amountCents });
    const reply = await new Promise<{ status: number; body: any } | null>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/v1/purchases', agent,
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        res.on('error', () => resolve(null));
      });
      req.on('error', () => resolve(null));
      req.end(body);
    });
    if (reply === null) { out.unknown.add(orderId); return; }
    if (reply.status === 200) out.acked.set(orderId, amountCents);
    else if (reply.status === 503 && reply.body.error.code === 'shutting_down') { out.refused.add(orderId); return; }
    else throw new Error(`unexpected reply ${reply.status} ${JSON.stringify(reply.body)}`);
  }
}

describe('SIGTERM mid-stream', () => {
  it('acks in-flight batches, exits 0, and every acked order survives the restart', async () => {
    await server.start();
    for (const memberId of MEMBERS) expect((await server.post('/v1/members', { memberId })).status).toBe(201);
    const out: Outcome = { acked: new Map(), refused: new Set(), unknown: new Set() };
    const ackedBatches = { n: 0 };
    const terminals = await Promise.all([0, 1].map(() => StreamTerminal.open(server.streamUrl, server.adminKey, true)));
    // An idle stream and an idle keep-alive connection must not hold the stop up either.
    const idle = await StreamTerminal.open(server.streamUrl, server.adminKey, false);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const idleAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    await new Promise<void>((resolve, reject) => httpRequest({ host: '127.0.0.1', port: server.port, path: '/healthz', agent: idleAgent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject).end());

    const streams = terminals.map((t, i) => streamUntilClosed(t, `sd-t${i}`, out, ackedBatches));
    const http = httpUntilGone(agent, out);
    const deadline = Date.now() + 60_000;
    while (ackedBatches.n < ACKED_BEFORE_STOP) {
      if (Date.now() > deadline) throw new Error('the stream did not get going');
      await new Promise((r) => setTimeout(r, 10));
    }
    const exit = await server.stop('SIGTERM');
    const closes = await Promise.all(streams);
    await http;
    const idleClose = await idle.closed;
    agent.destroy();
    idleAgent.destroy();

    expect(exit).toEqual({ code: 0, signal: null });
    // The server said goodbye on every stream rather than letting the exit cut them.
    expect(closes.map((c) => c.code)).toEqual([1001, 1001]);
    expect(idleClose.code).toBe(1001);
    expect(out.acked.size).toBeGreaterThanOrEqual(ACKED_BEFORE_STOP * BATCH_OPS);

    await server.start();
    const missing: string[] = [];
    const wrong: string[] = [];
    const acked = [...out.acked];
    for (let i = 0; i < acked.length; i += 16) {
      await Promise.all(acked.slice(i, i + 16).map(async ([orderId, amountCents]) => {
        const r = await server.get(`/v1/orders/${orderId}`);
        if (r.status !== 200) missing.push(orderId);
        else if (r.body.amountCents !== amountCents) wrong.push(orderId);
      }));
    }
    expect(missing).toEqual([]);
    expect(wrong).toEqual([]);
    // What was refused with shutting_down changed nothing.
    for (const orderId of out.refused) expect((await server.get(`/v1/orders/${orderId}`)).status, orderId).toBe(404);
    // Purchases per member: every acked order, plus at most those whose answer was lost with the connection.
    let purchases = 0;
    for (const memberId of MEMBERS) purchases += (await server.get(`/v1/members/${memberId}`)).body.purchaseCount;
    expect(purchases).toBeGreaterThanOrEqual(out.acked.size);
    expect(purchases).toBeLessThanOrEqual(out.acked.size + out.unknown.size);
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 120_000);
});
