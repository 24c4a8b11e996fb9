// The clients that know several nodes, against stand-in servers on 127.0.0.1: the POS stream moves
// to the next node when a connection is refused, dropped, not welcomed in time, or its node answers
// not_owner, resends every unacknowledged batch there (the same bytes), and waits only once every
// node has failed in a round; the HTTP client sends a request to the next node when it may (a read,
// a keyed write, a refusal that applied nothing, a refused connection) and never an unkeyed write
// whose connection may have delivered it, within its bound of attempts.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { PosStream, type WebSocketConstructor } from '../../client/stream.js';
import { ApiError, KEYED_WRITES, LoyaltyClient } from '../../client/http.js';
import { CATALOGUE } from '../../server/schema/catalogue.js';
import { freePort } from '../../bench/free-port.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const closers: Array<() => Promise<void>> = [];
afterEach(async () => { for (const close of closers.splice(0)) await close(); });

/** A port nothing listens on (a free one, released): a connection to it is refused at once. */
const deadPort = freePort;

interface BatchFrame { type: 'batch'; id: number; ops: Array<{ op: string; requestId: string }> }

/** A stand-in stream node: says welcome to a hello, records every batch, answers as its test tells it. */
class StandInNode {
  readonly batches: BatchFrame[] = [];
  readonly raw: string[] = [];
  connections = 0;
  onBatch: (ws: WebSocket, frame: BatchFrame) => void = (ws, frame) => ws.send(JSON.stringify({ type: 'ack', id: frame.id, results: frame.ops.map((o) => ({ ok: true, requestId: o.requestId })) }));
  private constructor(readonly server: WebSocketServer, readonly url: string) {}

  static async start(): Promise<StandInNode> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const node = new StandInNode(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/stream`);
    server.on('connection', (ws) => {
      node.connections += 1;
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { type: string };
        if (frame.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', role: 'pos' }));
        else { node.raw.push(data.toString()); node.batches.push(frame as BatchFrame); node.onBatch(ws, frame as BatchFrame); }
      });
    });
    closers.push(() => node.stop());
    return node;
  }

  /** Cuts every connection as a killed process does (no close handshake) and stops listening. */
  async stop(): Promise<void> {
    for (const ws of this.server.clients) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const topup = (i: number) => ({ requestId: `t-${i}`, memberId: 'm', amountCents: 100 + i });

describe('PosStream with several nodes', () => {
  it('checks its nodes: at least one, each ws:// or wss://, url or urls', () => {
    expect(() => new PosStream({ urls: [], key: 'k', WebSocket: WS })).toThrow(/at least one node/);
    expect(() => new PosStream({ urls: ['ws://127.0.0.1:1/v1/stream', 'http://127.0.0.1:2/v1/stream'], key: 'k', WebSocket: WS })).toThrow(/ws:\/\/ or wss:\/\//);
    expect(() => new PosStream({ url: 'ws://a/v1/stream', urls: ['ws://b/v1/stream'], key: 'k', WebSocket: WS })).toThrow(/not both/);
    expect(() => new PosStream({ key: 'k', WebSocket: WS })).toThrow(/at least one node/);
  });

  it('moves past a refused node at once, says which node it is on, and resends the unacknowledged batches on the next node when its node dies', async () => {
    const dead = `ws://127.0.0.1:${await deadPort()}/v1/stream`;
    const b = await StandInNode.start();
    const c = await StandInNode.start();
    const seen: string[] = [];
    // A long round delay: reaching b at once proves the refused node cost no wait.
    const stream = new PosStream({ urls: [dead, b.url, c.url], key: 'k', WebSocket: WS, batchOpsMax: 2, reconnectMinMs: 30_000, onNode: (url) => seen.push(url) });
    const startedMs = Date.now();
    await stream.connected();
    expect(Date.now() - startedMs).toBeLessThan(1_000);
    expect(stream.node).toBe(b.url);
    expect(seen).toEqual([b.url]);
    // b acknowledges the first batch only, then dies with two batches unacknowledged.
    b.onBatch = (ws, frame) => { if (frame.id === 1) ws.send(JSON.stringify({ type: 'ack', id: 1, results: frame.ops.map(() => ({ ok: true })) })); };
    const results = Array.from({ length: 6 }, (_, i) => stream.send('topup', topup(i)));
    while (b.batches.length < 3) await pause(5);
    await b.stop();
    const answered = await Promise.all(results);
    expect(answered.map((r) => r.ok)).toEqual([true, true, true, true, true, true]);
    expect(stream.node).toBe(c.url);
    expect(seen).toEqual([b.url, c.url]);
    expect(c.batches.map((f) => f.id)).toEqual([2, 3]);
    expect(c.raw).toEqual(b.raw.slice(1));
    expect(c.batches.flatMap((f) => f.ops.map((o) => o.requestId))).toEqual(['t-2', 't-3', 't-4', 't-5']);
    expect({ resentBatches: stream.resentBatches, resentOps: stream.resentOps, nodeMoves: stream.nodeMoves }).toEqual({ resentBatches: 2, resentOps: 4, nodeMoves: 2 });
    await stream.close();
  });

  it('moves to the next node on not_owner and resends there; with one node, not_owner stays a refusal', async () => {
    const standby = await StandInNode.start();
    const owner = await StandInNode.start();
    standby.onBatch = (ws, frame) => ws.send(JSON.stringify({ type: 'error', id: frame.id, error: { code: 'not_owner', message: 'node-1 owns the deployment' } }));
    const stream = new PosStream({ urls: [standby.url, owner.url], key: 'k', WebSocket: WS, reconnectMinMs: 30_000 });
    expect(await stream.send('topup', topup(1))).toEqual({ ok: true, requestId: 't-1' });
    expect(stream.node).toBe(owner.url);
    expect(standby.batches.map((f) => f.id)).toEqual([1]);
    expect(owner.batches.map((f) => f.id)).toEqual([1]);
    await stream.close();

    const alone = new PosStream({ url: standby.url, key: 'k', WebSocket: WS });
    expect(await alone.send('topup', topup(2))).toEqual({ ok: false, error: { code: 'not_owner', message: 'node-1 owns the deployment' } });
    expect(alone.node).toBe(standby.url);
    await alone.close();
  });

  it('gives up a node that accepts the connection but never welcomes, after connectTimeoutMs', async () => {
    const sockets: Socket[] = [];
    // Accepts and says nothing, as a machine that hangs.
    const silent: TcpServer = createTcpServer((socket) => { sockets.push(socket); });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => { for (const socket of sockets) socket.destroy(); silent.close(() => resolve()); }));
    const c = await StandInNode.start();
    const stream = new PosStream({ urls: [`ws://127.0.0.1:${(silent.address() as AddressInfo).port}/v1/stream`, c.url], key: 'k', WebSocket: WS, connectTimeoutMs: 300, reconnectMinMs: 30_000 });
    const startedMs = Date.now();
    expect(await stream.send('topup', topup(1))).toEqual({ ok: true, requestId: 't-1' });
    const tookMs = Date.now() - startedMs;
    expect(tookMs).toBeGreaterThanOrEqual(290);
    expect(tookMs).toBeLessThan(3_000);
    expect(stream.node).toBe(c.url);
    await stream.close(false);
  });

  it('waits only once every node has failed in a round, the delay doubling at each failed round', async () => {
    const urls = [`ws://127.0.0.1:${await deadPort()}/v1/stream`, `ws://127.0.0.1:${await deadPort()}/v1/stream`];
    const stream = new PosStream({ urls, key: 'k', WebSocket: WS, reconnectMinMs: 400, reconnectMaxMs: 10_000 });
    // The first round (two refusals) costs no wait; the second starts 200-400 ms later, the third 400-800 ms after that.
    await pause(150);
    expect(stream.nodeMoves).toBe(2);
    await pause(350);
    expect(stream.nodeMoves).toBe(4);
    expect(stream.node).toBeNull();
    await pause(100);
    expect(stream.nodeMoves).toBe(4);
    await stream.close(false);
  });

  it('counts a node that welcomes and then answers not_owner as failed, so that the rounds still slow down', async () => {
    const standby = await StandInNode.start();
    standby.onBatch = (ws, frame) => ws.send(JSON.stringify({ type: 'error', id: frame.id, error: { code: 'not_owner', message: 'no owner known' } }));
    const stream = new PosStream({ urls: [standby.url, `ws://127.0.0.1:${await deadPort()}/v1/stream`], key: 'k', WebSocket: WS, reconnectMinMs: 100, reconnectMaxMs: 10_000 });
    const op = stream.send('topup', topup(1));
    // Rounds start 0, 50-100, 100-200, 200-400, 400-800 ms apart: at most five by 1.2 s (thirteen or more if each welcome started the count again).
    await pause(1_200);
    expect(standby.connections).toBeGreaterThanOrEqual(3);
    expect(standby.connections).toBeLessThanOrEqual(5);
    await stream.close(false);
    await expect(op).rejects.toThrow(/closed before the server answered/);
  });
});

interface Hit { port: number; method: string; url: string; body: string }

/** A stand-in HTTP node: records each request and answers as its test tells it. */
async function httpNode(hits: Hit[], answer: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  const server: Server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    req.on('end', () => { hits.push({ port: (server.address() as AddressInfo).port, method: req.method!, url: req.url!, body }); answer(req, res, body); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = (res: ServerResponse, status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
const portOf = (base: string) => Number(new URL(base).port);

describe('LoyaltyClient with several nodes', () => {
  it('checks its nodes: at least one, http(s), no trailing slash, a whole attemptsMax', () => {
    expect(() => new LoyaltyClient({ baseUrls: [], key: null })).toThrow(/at least one node/);
    expect(() => new LoyaltyClient({ baseUrls: ['http://a:1/'], key: null })).toThrow(/no trailing slash/);
    expect(() => new LoyaltyClient({ baseUrls: ['ws://a:1'], key: null })).toThrow(/http\(s\)/);
    expect(() => new LoyaltyClient({ baseUrl: 'http://a:1', baseUrls: ['http://b:1'], key: null })).toThrow(/not both/);
    expect(() => new LoyaltyClient({ baseUrl: 'http://a:1', key: null, attemptsMax: 0 })).toThrow(RangeError);
  });

  it('sends a request past a refused node and past a node that answers 503 overloaded, and starts the next request at the node that answered', async () => {
    const hits: Hit[] = [];
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const busy = await httpNode(hits, (_req, res) => json(res, 503, { error: { code: 'overloaded', message: 'busy' } }));
    const good = await httpNode(hits, (_req, res) => json(res, 200, { memberId: 'm', points: 7 }));
    const client = new LoyaltyClient({ baseUrls: [dead, busy, good], key: 'k' });
    expect(await client.member('m')).toEqual({ memberId: 'm', points: 7 });
    expect(hits.map((h) => h.port)).toEqual([portOf(busy), portOf(good)]);
    expect(client.node).toBe(good);
    expect(client.resends).toBe(2);
    // An unkeyed write refused with 503 overloaded applied nothing: it goes on too.
    hits.length = 0;
    const onlyBusyThenGood = new LoyaltyClient({ baseUrls: [busy, good], key: 'k' });
    await onlyBusyThenGood.call('POST /v1/admin/keys', { body: { role: 'pos' } });
    expect(hits.map((h) => [h.port, h.body])).toEqual([[portOf(busy), '{"role":"pos"}'], [portOf(good), '{"role":"pos"}']]);
    hits.length = 0;
    await client.member('m');
    expect(hits.map((h) => h.port)).toEqual([portOf(good)]);
  });

  it('resends a keyed write whose connection broke after sending, and never an unkeyed one', async () => {
    const hits: Hit[] = [];
    // This node reads the whole request (it may have applied it) and dies before answering.
    const dying = await httpNode(hits, (req) => req.socket.destroy());
    const good = await httpNode(hits, (_req, res) => json(res, 200, { ok: true }));
    const client = new LoyaltyClient({ baseUrls: [dying, good], key: 'k' });
    await client.purchase({ orderId: 'o-1', memberId: 'm', amountCents: 100 });
    expect(hits.map((h) => [h.port, h.body])).toEqual([[portOf(dying), '{"orderId":"o-1","memberId":"m","amountCents":100}'], [portOf(good), '{"orderId":"o-1","memberId":"m","amountCents":100}']]);

    hits.length = 0;
    const fresh = new LoyaltyClient({ baseUrls: [dying, good], key: 'k' });
    const err = await fresh.call('POST /v1/admin/keys', { body: { role: 'pos' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 0, code: 'network' });
    expect(hits.map((h) => h.port)).toEqual([portOf(dying)]);
    // A registration keyed by its memberId goes on; one with neither memberId nor requestId does not.
    hits.length = 0;
    await fresh.register({ memberId: 'm-1' });
    expect(hits.map((h) => h.port)).toEqual([portOf(dying), portOf(good)]);
  });

  it('stops after attemptsMax sends, pausing roundDelayMs before each new round, and throws the last refusal', async () => {
    const hits: Hit[] = [];
    const a = await httpNode(hits, (_req, res) => json(res, 503, { error: { code: 'shutting_down', message: 'stopping' } }));
    const b = await httpNode(hits, (_req, res) => json(res, 503, { error: { code: 'overloaded', message: 'busy' } }));
    const client = new LoyaltyClient({ baseUrls: [a, b], key: 'k', attemptsMax: 5, roundDelayMs: 150 });
    const startedMs = Date.now();
    const err = await client.purchase({ orderId: 'o-2', memberId: 'm', amountCents: 100 }).catch((e: unknown) => e);
    const tookMs = Date.now() - startedMs;
    expect(err).toMatchObject({ status: 503, code: 'shutting_down' });
    expect(hits.map((h) => h.port)).toEqual([a, b, a, b, a].map(portOf));
    // Two full rounds before the fifth send: two pauses.
    expect(tookMs).toBeGreaterThanOrEqual(290);
    // With one node and no attemptsMax, one send: the single-node client is unchanged.
    hits.length = 0;
    await expect(new LoyaltyClient({ baseUrl: b, key: 'k' }).member('m')).rejects.toMatchObject({ code: 'overloaded' });
    expect(hits.length).toBe(1);
    // A refusal that is the request's own is not sent elsewhere.
    const refusing = await httpNode(hits, (_req, res) => json(res, 404, { error: { code: 'member_not_found', message: 'no' } }));
    hits.length = 0;
    await expect(new LoyaltyClient({ baseUrls: [refusing, a], key: 'k' }).member('m')).rejects.toMatchObject({ status: 404, code: 'member_not_found' });
    expect(hits.length).toBe(1);
  });

  it('names, for every keyed write, a route of the catalogue whose body has that key', () => {
    const catalogue = CATALOGUE as Record<string, { body?: { properties?: Record<string, unknown>; required?: string[] } }>;
    for (const [route, fields] of Object.entries(KEYED_WRITES)) {
      expect(catalogue[route], route).toBeDefined();
      for (const field of fields) expect(Object.keys(catalogue[route]!.body?.properties ?? {}), route).toContain(field);
    }
    // Every write whose body requires a requestId or orderId is keyed, so that a new one is not forgotten.
    const requiringKey = Object.entries(catalogue).filter(([route, doc]) => !route.startsWith('GET ') && (doc.body?.required ?? []).some((f) => f === 'requestId' || f === 'orderId')).map(([route]) => route);
    expect(requiringKey.filter((route) => KEYED_WRITES[route] === undefined)).toEqual([]);
  });
});
