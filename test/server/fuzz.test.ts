// Bad input against a real server: malformed JSON, wrong types, unsafe and fractional numbers,
// prototype keys, oversized and deeply nested bodies, invalid UTF-8, random JSON and random bytes on
// every POST/PUT/PATCH endpoint; slow and truncated requests over raw TCP; random, mistyped,
// oversized and overlong frames on the POS stream. Every case is a 4xx with { error: { code,
// message } } (or an error frame), the process stays up and serves others meanwhile, and the books
// are the same afterwards: the summary is identical and verify is clean.
import { request as httpRequest, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerChild } from '../../bench/server-child.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';
import { BODY_BYTES_MAX, FRAME_BYTES_MAX, JSON_DEPTH_MAX, STREAM_OPS_MAX } from '../../engine/limits.js';

const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-fuzz-'));
const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: '2' } });
const agent = new Agent({ keepAlive: true, maxSockets: 4 });
const packr = new Packr({ useRecords: false });
/** fast-check runs per endpoint and property: enough to wander, few enough for a loaded 2-core machine. */
const RUNS = 30;
const GHOST = 'fz-ghost';

interface RawReply { status: number; text: string; json: any }

/** One request with exactly these bytes; `chunked` leaves out Content-Length. */
function raw(method: string, path: string, body: Buffer | string | undefined, options: { chunked?: boolean; key?: string | null } = {}): Promise<RawReply> {
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headers: Record<string, string | number> = { 'content-type': 'application/json' };
  const key = options.key === undefined ? server.adminKey : options.key;
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (bytes !== undefined && options.chunked !== true) headers['content-length'] = bytes.length;
  return new Promise<RawReply>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (bytes !== undefined) {
      // Large bodies go in pieces, so that a server answering 413 early is seen as such.
      for (let i = 0; i < bytes.length; i += 64 * 1024) req.write(bytes.subarray(i, i + 64 * 1024));
    }
    req.end();
  }).catch((err: NodeJS.ErrnoException) => {
    // A server that answers 413 and closes may reset a client still writing its body: that is the refusal.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return { status: 413, text: '', json: { error: { code: 'payload_too_large', message: '(connection closed while sending)' } } };
    throw err;
  });
}

/** The contract for a refused request. */
function expectRefused(reply: RawReply, label: string, status?: number): void {
  const ok = reply.status >= 400 && reply.status < 500 && (status === undefined || reply.status === status)
    && typeof reply.json?.error?.code === 'string' && typeof reply.json?.error?.message === 'string';
  if (!ok) throw new Error(`${label}: expected ${status ?? '4xx'} with { error: { code, message } }, got ${reply.status} ${reply.text.slice(0, 300)}`);
}

type FieldKind = 'id' | 'text' | 'int+' | 'int0' | 'intAny' | 'at';
interface Endpoint {
  method: string;
  path: string;
  /** A valid body (fresh keys each call): mutations of it must be refused. */
  base: () => Record<string, unknown>;
  fields: Record<string, FieldKind>;
  /** Keys that name a member or order: random bodies point them at ones that do not exist. */
  ghostKeys: string[];
}

let n = 0;
const fresh = (p: string) => `${p}-${++n}`;

const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: '/v1/members', base: () => ({ memberId: fresh('fz-new'), name: 'New', phone: '+852 5555 0177', email: 'fz@example.com', birthday: '1990-02-03', channel: 'online' }),
    fields: { memberId: 'id', name: 'text', storeId: 'id', at: 'at' }, ghostKeys: ['referrerId'] },
  { method: 'PATCH', path: '/v1/members/fz-a', base: () => ({ name: 'Renamed', address: 'Somewhere' }), fields: { name: 'text', address: 'text' }, ghostKeys: [] },
  { method: 'POST', path: '/v1/purchases', base: () => ({ orderId: fresh('fz-o'), memberId: 'fz-a', amountCents: 1000, discountCents: 0, redeemPoints: 0, walletCents: 0, items: [{ sku: 's1', qty: 1, amountCents: 1000 }] }),
    fields: { orderId: 'id', memberId: 'id', amountCents: 'int+', discountCents: 'int0', redeemPoints: 'int0', walletCents: 'int0', at: 'at' }, ghostKeys: ['memberId'] },
  { method: 'POST', path: '/v1/product-purchases', base: () => ({ orderId: fresh('fz-p'), memberId: 'fz-a', productId: 'wallet-500' }), fields: { orderId: 'id', memberId: 'id', productId: 'id' }, ghostKeys: ['memberId'] },
  { method: 'POST', path: '/v1/returns', base: () => ({ returnId: fresh('fz-r'), orderId: 'fz-o1', amountCents: 1 }), fields: { returnId: 'id', orderId: 'id', amountCents: 'int+' }, ghostKeys: ['orderId'] },
  { method: 'POST', path: '/v1/wallet/transfers', base: () => ({ requestId: fresh('fz-x'), fromMemberId: 'fz-a', toMemberId: 'fz-b', amountCents: 1 }),
    fields: { requestId: 'id', fromMemberId: 'id', toMemberId: 'id', amountCents: 'int+' }, ghostKeys: ['toMemberId'] },
  { method: 'POST', path: '/v1/checkout/quote', base: () => ({ memberId: 'fz-a', amountCents: 1000 }), fields: { memberId: 'id', amountCents: 'int+' }, ghostKeys: ['memberId'] },
  { method: 'POST', path: '/v1/points/redemptions', base: () => ({ requestId: fresh('fz-red'), memberId: 'fz-a', points: 10 }), fields: { requestId: 'id', memberId: 'id', points: 'int+' }, ghostKeys: ['memberId'] },
  { method: 'POST', path: '/v1/points/adjustments', base: () => ({ requestId: fresh('fz-adj'), memberId: 'fz-a', points: 5, reason: 'fuzz' }), fields: { requestId: 'id', memberId: 'id', points: 'intAny', reason: 'text' }, ghostKeys: ['memberId'] },
  { method: 'POST', path: '/v1/wallet/topups', base: () => ({ requestId: fresh('fz-t'), memberId: 'fz-a', amountCents: 1000 }), fields: { requestId: 'id', memberId: 'id', amountCents: 'int+' }, ghostKeys: ['memberId'] },
  { method: 'POST', path: '/v1/wallet/withdrawals', base: () => ({ requestId: fresh('fz-w'), memberId: 'fz-a', amountCents: 1 }), fields: { requestId: 'id', memberId: 'id', amountCents: 'int+' }, ghostKeys: ['memberId'] },
  { method: 'POST', path: '/v1/admin/keys', base: () => ({ role: 'reader' }), fields: { role: 'id' }, ghostKeys: [] },
];

/** Values each kind of field must refuse. Numbers go in as JSON text, so that 2^53 and -0 arrive exactly. */
const BAD_VALUES: Record<FieldKind, string[]> = {
  id: ['12', 'true', 'null', '[]', '{}', '""', JSON.stringify('x'.repeat(65)), '"bad id!"', '"a/b"', '"\\u0000"', '{"__proto__":{"polluted":1}}'],
  text: ['12', 'true', 'null', '[]', '{}', '""', JSON.stringify('x'.repeat(257))],
  'int+': ['"100"', '"NaN"', '1.5', '0.5', '-0', '0', '-1', '9007199254740992', '9007199254740993', '1e308', '1e309', '-1e308', 'true', 'null', '[]', '{}', '[1]'],
  int0: ['"100"', '"NaN"', '1.5', '-1', '9007199254740992', '1e308', '-1e308', 'true', 'null', '[]', '{}'],
  intAny: ['"100"', '"NaN"', '1.5', '-0', '0', '9007199254740992', '-9007199254740992', '1e308', '-1e308', 'true', 'null', '[]', '{}'],
  at: ['"yesterday"', '"2026-13-01T00:00:00Z"', '"2026-01-01"', '"2999-01-01T00:00:00Z"', '1.5', '-1', '1e308', 'true', '[]', '{}'],
};

/** JSON text of `base` with one field's value replaced by raw JSON text. */
function withField(base: Record<string, unknown>, field: string, valueText: string): string {
  const rest = Object.entries(base).filter(([k]) => k !== field).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  return `{${[...rest, `${JSON.stringify(field)}:${valueText}`].join(',')}}`;
}

/**
 * Endpoints that ignore fields they do not know instead of refusing them. POST /v1/admin/keys reads
 * `role` by hand in server/routes.ts (not through readObject), so `{"role":"reader","zzz":1}` makes a
 * reader key. Reported to the lead; remove it from here once the route refuses unknown fields.
 */
const LENIENT = new Set<string>();

const MALFORMED = ['', ' ', '{', '}', '{"a":', '{"a":1,}', "{'a':1}", '{a:1}', 'nul', 'NaN', 'undefined', '[]', '[{}]', 'null', '0', '"str"', 'true',
  '{}', '{"a":1}{"b":2}', '\u0000', '\ufeff{}', '{"__proto__":null}', '{"constructor":{"prototype":{"polluted":1}}}', '{"prototype":{}}'];

let baseline: { summary: unknown; verify: unknown };
const slow: { socket: Socket | null; closed: Promise<void> } = { socket: null, closed: Promise.resolve() };

beforeAll(async () => {
  await server.start();
  expect((await server.post('/v1/members', { memberId: 'fz-a', phone: '+852 5555 0101' })).status).toBe(201);
  expect((await server.post('/v1/members', { memberId: 'fz-b' })).status).toBe(201);
  expect((await server.post('/v1/purchases', { orderId: 'fz-o1', memberId: 'fz-a', amountCents: 500_000 })).status).toBe(200);
  expect((await server.post('/v1/wallet/topups', { requestId: 'fz-t0', memberId: 'fz-a', amountCents: 100_000 })).status).toBe(200);
  baseline = { summary: (await server.get('/v1/reports/summary')).body, verify: (await server.get('/v1/admin/verify')).body };
  expect(baseline.verify).toMatchObject({ ok: true });

  // A slow client for the whole file: headers byte by byte, then a stall. uWS gives a request
  // HTTP_IDLE_TIMEOUT_S (10 s) in all; everything below is served meanwhile.
  const socket = connect(server.port, '127.0.0.1');
  slow.socket = socket;
  slow.closed = new Promise((r) => socket.once('close', () => r()));
  socket.on('error', () => { /* closed by the server */ });
  const head = `POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.adminKey}\r\nContent-Length: 100\r\n`;
  for (const ch of head.slice(0, 40)) { socket.write(ch); await new Promise((r) => setTimeout(r, 5)); }
}, 60_000);

afterAll(async () => {
  agent.destroy();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function expectBooksUnchanged(): Promise<void> {
  expect(server.running).toBe(true);
  expect((await server.get('/healthz')).status).toBe(200);
  expect((await server.get('/v1/reports/summary')).body).toEqual(baseline.summary);
  expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
}

describe('HTTP bodies', () => {
  for (const ep of ENDPOINTS) {
    it(`${ep.method} ${ep.path}: malformed JSON, wrong types, unsafe numbers, prototype keys`, async () => {
      for (const text of MALFORMED) expectRefused(await raw(ep.method, ep.path, text), `${ep.path} ${JSON.stringify(text)}`);
      for (const [field, kind] of Object.entries(ep.fields)) {
        for (const bad of BAD_VALUES[kind]) {
          expectRefused(await raw(ep.method, ep.path, withField(ep.base(), field, bad)), `${ep.path} ${field}=${bad}`);
        }
      }
      const body = JSON.stringify(ep.base());
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        const polluted = `{"${key}":{"polluted":true,"role":"admin"},${body.slice(1)}`;
        const reply = await raw(ep.method, ep.path, polluted);
        if (LENIENT.has(ep.path) && reply.status === 201) {
          // Whatever it ignores, the key's role is the one named, never one smuggled in.
          expect(reply.json.role).toBe('reader');
          continue;
        }
        expectRefused(reply, `${ep.path} top-level ${key}`, 400);
        expect(reply.json.error.field).toBe(key);
      }
      if (!LENIENT.has(ep.path)) expectRefused(await raw(ep.method, ep.path, `{"zzz":1,${body.slice(1)}`), `${ep.path} unknown field`, 400);
    });
  }

  it('refuses prototype keys nested in items and in a program', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const item = `{"${key}":{"polluted":true},"sku":"s1","qty":1,"amountCents":1000}`;
      const reply = await raw('POST', '/v1/purchases', `{"orderId":"${fresh('fz-o')}","memberId":"fz-a","amountCents":1000,"items":[${item}]}`);
      expectRefused(reply, `items[0].${key}`, 400);
      expect(reply.json.error.field).toBe(`items[0].${key}`);
    }
    const { version: _v, ...program } = (await server.get('/v1/program')).body;
    const text = JSON.stringify(program);
    const cases = [
      text.replace('{"id":"member"', '{"__proto__":{"threshold":0},"id":"member"'),
      text.replace('"earn":{', '"earn":{"constructor":{"prototype":{"cents":1}},'),
      text.replace('"wallet":{', '"wallet":{"prototype":1,'),
      `{"__proto__":{"tiers":[]},${text.slice(1)}`,
    ];
    for (const c of cases) {
      expect(c).not.toBe(text);
      expectRefused(await raw('PUT', '/v1/program', c), 'program with a prototype key', 400);
    }
    // Wrong types in a program.
    const bad: Array<(p: any) => void> = [
      (p) => { p.tiers[1].threshold = '100000'; }, (p) => { p.tiers[0].earn.cents = 1.5; }, (p) => { p.membershipDays = 2 ** 53; },
      (p) => { p.wallet.minTopupCents = -1; }, (p) => { p.referral.enabled = 'yes'; }, (p) => { p.tiers = {}; }, (p) => { p.name = 12; },
    ];
    for (const mutate of bad) {
      const p = JSON.parse(text);
      mutate(p);
      expectRefused(await raw('PUT', '/v1/program', JSON.stringify(p)), `program ${mutate.toString()}`, 400);
    }
    expect((await server.get('/v1/program')).body.version).toBe(1);
  });

  it('refuses an invalid `asOf` for the sweep', async () => {
    for (const bad of BAD_VALUES.at) expectRefused(await raw('POST', '/v1/admin/sweep', `{"asOf":${bad}}`), `asOf=${bad}`);
    expectRefused(await raw('POST', '/v1/admin/sweep', '{"asOf":"2026-01-01T00:00:00Z","x":1}'), 'sweep unknown field');
  });

  it('answers 413 to bodies over 1 MiB, declared or chunked', async () => {
    const big = `{"memberId":"fz-a","name":"${'x'.repeat(BODY_BYTES_MAX)}"}`;
    for (const ep of ENDPOINTS) {
      expectRefused(await raw(ep.method, ep.path, big), `${ep.path} oversized`, 413);
      expectRefused(await raw(ep.method, ep.path, big, { chunked: true }), `${ep.path} oversized chunked`, 413);
    }
    expectRefused(await raw('PUT', '/v1/program', big), 'program oversized', 413);
    // Exactly at the limit is read (and refused for what it says, not for its size).
    const atLimit = `{"memberId":"fz-a","name":"${'x'.repeat(BODY_BYTES_MAX - 29)}"}`;
    expect(Buffer.byteLength(atLimit)).toBe(BODY_BYTES_MAX);
    const reply = await raw('PATCH', '/v1/members/fz-a', atLimit);
    expectRefused(reply, 'body at the limit', 400);
  });

  it('refuses deeply nested JSON, at the top and inside a field', async () => {
    const deep = (d: number) => '['.repeat(d) + ']'.repeat(d);
    for (const ep of ENDPOINTS) {
      expectRefused(await raw(ep.method, ep.path, deep(200_000)), `${ep.path} deep array`, 400);
      const field = Object.keys(ep.fields)[0]!;
      expectRefused(await raw(ep.method, ep.path, withField(ep.base(), field, deep(100_000))), `${ep.path} deep ${field}`, 400);
      expectRefused(await raw(ep.method, ep.path, withField(ep.base(), field, '{"a":'.repeat(JSON_DEPTH_MAX) + '1' + '}'.repeat(JSON_DEPTH_MAX))), `${ep.path} nested objects`, 400);
    }
    expectRefused(await raw('PUT', '/v1/program', deep(300_000)), 'program deep', 400);
  });

  it('refuses invalid UTF-8 and half surrogate pairs', async () => {
    const sequences = [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xc3]];
    for (const ep of ENDPOINTS) {
      const body = JSON.stringify(ep.base());
      const at = body.indexOf('"', 2) + 3; // inside the first string value
      for (const seq of sequences) {
        const bytes = Buffer.concat([Buffer.from(body.slice(0, at)), Buffer.from(seq), Buffer.from(body.slice(at))]);
        expectRefused(await raw(ep.method, ep.path, bytes), `${ep.path} bytes ${seq}`, 400);
      }
    }
    for (const s of ['\\ud800', '\\udc00', '\\ud800\\ud800', '\\ud800x', 'x\\udfff']) {
      expectRefused(await raw('POST', '/v1/members', `{"memberId":"${fresh('fz-sur')}","name":"${s}"}`), `name ${s}`, 400);
    }
    // A well-formed pair and an escaped backslash before "u" are fine: they reach validation. The
    // books are checked first, then the baseline takes in the one member this registers.
    expect((await server.get('/v1/reports/summary')).body).toEqual(baseline.summary);
    const pair = await raw('POST', '/v1/members', `{"memberId":"fz-pair","name":"\\ud83d\\ude00 \\\\ud800"}`);
    expect(pair.status).toBe(201);
    expect(pair.json.name).toBe('\u{1f600} \\ud800');
    baseline.summary = (await server.get('/v1/reports/summary')).body;
  });

  it('refuses random JSON bodies on every endpoint (fast-check)', async () => {
    for (const ep of ENDPOINTS) {
      const keys = [...new Set([...Object.keys(ep.base()), ...Object.keys(ep.fields), ...ep.ghostKeys])];
      const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(2 ** 53, 1e308, -0, 1.5, 'NaN', '', '__proto__', null, [], {}));
      const body = fc.record(Object.fromEntries(keys.map((k) => [k, value])), { requiredKeys: [] });
      const extra = fc.option(fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { nil: undefined });
      await fc.assert(fc.asyncProperty(body, extra, async (b, more) => {
        const doc: Record<string, unknown> = { ...more, ...b };
        for (const k of ep.ghostKeys) if (k in doc || ep.base()[k] !== undefined) doc[k] = k === 'orderId' ? `${GHOST}-order` : GHOST;
        if (ep.path === '/v1/members') doc['referrerId'] = GHOST; // a registration that validates still finds no referrer
        if (ep.path.startsWith('/v1/members/')) return expectRefused(await raw(ep.method, `/v1/members/${GHOST}`, JSON.stringify(doc)), `${ep.path} ${JSON.stringify(doc)}`);
        expectRefused(await raw(ep.method, ep.path, JSON.stringify(doc)), `${ep.path} ${JSON.stringify(doc).slice(0, 300)}`);
      }), { numRuns: RUNS });
    }
  });

  it('refuses random bytes on every endpoint, and on the import (fast-check)', async () => {
    const targets = [...ENDPOINTS.map((e) => [e.method, e.path]), ['PUT', '/v1/program'], ['POST', '/v1/import/members']] as const;
    for (const [method, path] of targets) {
      await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        expectRefused(await raw(method, path, Buffer.from(bytes)), `${path} ${Buffer.from(bytes).toString('hex')}`);
      }), { numRuns: RUNS });
    }
  });

  it('leaves the books as they were', expectBooksUnchanged);
});

describe('raw TCP', () => {
  it('serves others while a request is truncated or stalled, and survives the client going away', async () => {
    const open = (): Promise<Socket> => new Promise((resolve, reject) => {
      const s = connect(server.port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    // A body shorter than its Content-Length, then the client leaves.
    const truncated = await open();
    truncated.write(`POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.adminKey}\r\nContent-Length: 1000\r\n\r\n{"orderId":"fz-trunc",`);
    await new Promise((r) => setTimeout(r, 50));
    truncated.destroy();
    // A body that stalls halfway, left open.
    const stalled = await open();
    stalled.on('error', () => {});
    const stalledClosed = new Promise<void>((r) => stalled.once('close', () => r()));
    stalled.write(`POST /v1/purchases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.adminKey}\r\nContent-Length: 1000\r\n\r\n{"orderId":"fz-stall",`);
    // Garbage instead of HTTP.
    const garbage = await open();
    garbage.on('error', () => {});
    garbage.write('\x16\x03\x01\x02\x00GARBAGE \r\n\r\n');
    // Meanwhile everyone else is served.
    for (let i = 0; i < 20; i++) {
      expect((await server.get('/healthz')).status).toBe(200);
      expect((await server.get('/v1/members/fz-a')).status).toBe(200);
    }
    const quote = await server.post('/v1/checkout/quote', { memberId: 'fz-a', amountCents: 100 });
    expect(quote.status).toBe(200);
    // uWS ends a request that has not arrived whole within its idle timeout: the stalled one and the
    // byte-by-byte one opened at the start. Bounded waits, generous for a loaded machine.
    const within = (p: Promise<void>, ms: number) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
    expect(await within(stalledClosed, 40_000)).toBe(true);
    expect(await within(slow.closed, 40_000)).toBe(true);
    garbage.destroy();
    expect((await server.get('/v1/orders/fz-trunc')).status).toBe(404);
    expect((await server.get('/v1/orders/fz-stall')).status).toBe(404);
  }, 90_000);

  it('leaves the books as they were', expectBooksUnchanged);
});

describe('the POS stream', () => {
  /** Sends frames and waits until each has had its one reply (an ack or an error frame). */
  async function sendAll(t: StreamTerminal, frames: Array<{ data: Buffer | string; binary: boolean }>): Promise<any[]> {
    const before = t.frames.length;
    for (const f of frames) t.sendRaw(f.data, f.binary);
    const deadline = Date.now() + 60_000;
    while (t.frames.length - before < frames.length) {
      if (t.isClosed) throw new Error('the stream closed');
      if (Date.now() > deadline) throw new Error(`${t.frames.length - before} replies to ${frames.length} frames`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const replies = t.frames.splice(before);
    expect(replies.length).toBe(frames.length);
    return replies;
  }

  async function stillUsable(t: StreamTerminal): Promise<void> {
    const results = await t.batch(9_999_999, [{ op: 'quote', memberId: 'fz-a', amountCents: 100 }]);
    expect(results[0]).toMatchObject({ ok: true, memberId: 'fz-a' });
  }

  const isErrorFrame = (f: any) => f?.type === 'error' && typeof f.error?.code === 'string' && typeof f.error?.message === 'string';

  for (const binary of [true, false]) {
    const label = binary ? 'msgpack' : 'JSON';

    it(`${label}: answers random frames with error frames and stays usable`, async () => {
      const t = await StreamTerminal.open(server.streamUrl, server.adminKey, binary);
      const frames = binary
        ? fc.sample(fc.uint8Array({ maxLength: 400 }), 200).map((s) => ({ data: Buffer.from(s), binary }))
        : fc.sample(fc.string({ maxLength: 200, unit: 'grapheme' }), 200).map((s) => ({ data: s, binary }));
      const replies = await sendAll(t, frames);
      const odd = replies.filter((f) => !isErrorFrame(f));
      expect(odd).toEqual([]);
      await stillUsable(t);
      t.close();
    });

    it(`${label}: refuses mistyped batches and ops, op by op, changing nothing`, async () => {
      const t = await StreamTerminal.open(server.streamUrl, server.adminKey, binary);
      const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(2 ** 53, 1e308, -0, 1.5, 'NaN', '', null));
      const op = fc.record({
        op: fc.oneof(fc.constantFrom('register', 'purchase', 'return', 'quote', 'topup', 'withdraw', 'transfer', 'redeem', 'adjust', 'product_purchase'), anyValue),
        memberId: anyValue, orderId: anyValue, amountCents: anyValue, points: anyValue, requestId: anyValue, returnId: anyValue, productId: anyValue, at: anyValue,
      }, { requiredKeys: ['op'] });
      const frame = fc.record({ type: fc.oneof(fc.constant('batch'), anyValue), id: fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), anyValue), ops: fc.oneof(fc.array(op, { maxLength: 8 }), anyValue) });
      const samples = fc.sample(frame, 150).map((f) => {
        // Point every member and order at ones that do not exist, so that nothing can be written.
        if (Array.isArray(f.ops)) for (const o of f.ops as any[]) {
          if (o === null || typeof o !== 'object') continue;
          if ('memberId' in o) o.memberId = GHOST;
          if ('orderId' in o && o.op === 'return') o.orderId = `${GHOST}-order`;
          if (o.op === 'register') o.referrerId = GHOST;
          if (o.op === 'transfer') { o.fromMemberId = GHOST; o.toMemberId = GHOST; }
        }
        return f;
      });
      const replies = await sendAll(t, samples.map((f) => ({ data: t.encode(f), binary })));
      for (const r of replies) {
        if (r.type === 'ack') {
          for (const result of r.results) {
            expect(result.ok, JSON.stringify(r)).toBe(false);
            expect(typeof result.error.code).toBe('string');
          }
        } else {
          expect(isErrorFrame(r), JSON.stringify(r)).toBe(true);
        }
      }
      // Prototype keys in ops.
      const proto = binary
        ? packr.pack({ type: 'batch', id: 5, ops: [JSON.parse('{"op":"purchase","__proto__":{"x":1},"orderId":"fz-pp","memberId":"fz-a","amountCents":100}')] })
        : '{"type":"batch","id":5,"ops":[{"op":"purchase","constructor":{"prototype":{"x":1}},"orderId":"fz-pp","memberId":"fz-a","amountCents":100}]}';
      t.sendRaw(proto, binary);
      const ack = await t.ack(5);
      expect(ack.results[0]).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
      await stillUsable(t);
      t.close();
    });

    it(`${label}: answers oversized and overlong frames, and deep nesting, with error frames`, async () => {
      const t = await StreamTerminal.open(server.streamUrl, server.adminKey, binary);
      const big = { type: 'batch', id: 40, ops: [{ op: 'quote', memberId: 'x'.repeat(FRAME_BYTES_MAX), amountCents: 1 }] };
      t.send(big);
      expect((await t.next(isErrorFrame)).error.code).toBe('payload_too_large');
      const quote = { op: 'quote', memberId: 'fz-a', amountCents: 1 };
      t.send({ type: 'batch', id: 41, ops: Array.from({ length: STREAM_OPS_MAX + 1 }, () => quote) });
      expect(await t.next(isErrorFrame)).toMatchObject({ id: 41, error: { code: 'invalid_request' } });
      // Exactly the limit is a batch.
      const results = await t.batch(42, Array.from({ length: STREAM_OPS_MAX }, () => quote), 60_000);
      expect(results.length).toBe(STREAM_OPS_MAX);
      expect(results.every((r: any) => r.ok)).toBe(true);
      const deep = binary
        ? Buffer.concat([Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0xa5, ...Buffer.from('batch'), 0xa2, ...Buffer.from('id'), 43, 0xa3, ...Buffer.from('ops')]), Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])])
        : `{"type":"batch","id":43,"ops":[{"op":"return","returnId":"fz-deep","orderId":"fz-o1","amountCents":1,"at":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`;
      t.sendRaw(deep, binary);
      expect((await t.next(isErrorFrame)).error.code).toBe('invalid_request');
      // Half a surrogate pair: JSON carries it as an escape and is refused; msgpack carries it as
      // bytes that are not UTF-8. Either way nothing is registered (the referrer does not exist either).
      t.send({ type: 'batch', id: 44, ops: [{ op: 'register', memberId: fresh('fz-s'), referrerId: GHOST, name: 'x\ud800' }] });
      const reply = await t.next((f) => f.id === 44);
      if (reply.type === 'ack') expect(reply.results[0].ok).toBe(false);
      else expect(reply).toMatchObject({ type: 'error', error: { code: 'invalid_request' } });
      t.send({ type: 'hello', key: 'x'.repeat(100) });
      expect((await t.next(isErrorFrame)).error.code).toBe('unauthorized');
      await stillUsable(t);
      t.close();
    }, 120_000);
  }

  it('closes a text frame that is not UTF-8 (RFC 6455) and serves the next connection', async () => {
    const t = await StreamTerminal.open(server.streamUrl, server.adminKey, false);
    t.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), false);
    await t.closed;
    const next = await StreamTerminal.open(server.streamUrl, server.adminKey, false);
    await stillUsable(next);
    next.close();
  });

  it('leaves the books as they were', expectBooksUnchanged);
});
