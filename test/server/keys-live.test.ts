// Keys on a running server: a key created or revoked with `loyalty keys` takes effect within a
// second without a restart, over HTTP and on open streams (a revoked stream's next batch is refused
// with `unauthorized` and the stream closed with 1008); keys are listed and revoked over HTTP; the
// `Bearer` scheme is matched in any letter case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';

/** The promise: a change made by the command line is in force on the running server within this long. */
const TAKES_EFFECT_MS = 1_000;

const server = new ServerProcess(ServerProcess.tempDataDir());

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], {
      env: { ...process.env, LOYALTY_DATA: server.dataDir, LOYALTY_SHARDS: '2' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Milliseconds from now until `key` gets `status` on GET /v1/program; fails past `limitMs`. */
async function msUntilStatus(key: string, status: number, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const elapsed = performance.now() - started;
    if ((await server.get('/v1/program', key)).status === status) return elapsed;
    if (elapsed > limitMs) throw new Error(`the key did not get ${status} within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const streamUrl = () => `ws://127.0.0.1:${server.port}/v1/stream`;
const purchase = (orderId: string) => ({ op: 'purchase', orderId, memberId: 'kl-a', amountCents: 1000 });

beforeAll(async () => {
  await server.start();
  expect((await server.post('/v1/members', { memberId: 'kl-a' })).status).toBe(201);
});

afterAll(async () => {
  await server.stop();
  server.cleanup();
});

describe('keys created and revoked by the command line', () => {
  it('a key created with `loyalty keys create` works within a second, without a restart', async () => {
    const created = await cli('keys', 'create', '--role', 'pos');
    expect(created.status, created.stderr).toBe(0);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const ms = await msUntilStatus(key, 200, TAKES_EFFECT_MS);
    expect(ms).toBeLessThanOrEqual(TAKES_EFFECT_MS);
    expect((await server.post('/v1/purchases', { orderId: 'kl-o-new', memberId: 'kl-a', amountCents: 1000 }, key)).status).toBe(200);
  });

  it('a key revoked with `loyalty keys revoke` is refused within a second over HTTP and on its open streams; other keys carry on', async () => {
    const [revoked, other] = await Promise.all([cli('keys', 'create', '--role', 'pos'), cli('keys', 'create', '--role', 'storefront')]);
    const victim = JSON.parse(revoked.stdout) as { id: string; key: string };
    const kept = JSON.parse(other.stdout) as { id: string; key: string };
    await msUntilStatus(victim.key, 200, TAKES_EFFECT_MS);
    await msUntilStatus(kept.key, 200, TAKES_EFFECT_MS);

    // Streams open before the revocation: one authenticated by its upgrade header, one by a hello frame.
    const byHeader = await StreamTerminal.open(streamUrl(), victim.key);
    const byHello = await StreamTerminal.open(streamUrl(), null);
    byHello.send({ type: 'hello', key: victim.key });
    expect(await byHello.next((f) => f.type === 'welcome')).toEqual({ type: 'welcome', role: 'pos' });
    const bystander = await StreamTerminal.open(streamUrl(), kept.key);
    for (const [i, t] of [byHeader, byHello, bystander].entries()) expect((await t.batch(1, [purchase(`kl-before-${i}`)]))[0].ok).toBe(true);

    const out = await cli('keys', 'revoke', victim.id);
    expect(out.stdout).toBe(`revoked ${victim.id}\n`);
    const ms = await msUntilStatus(victim.key, 401, TAKES_EFFECT_MS);
    expect(ms).toBeLessThanOrEqual(TAKES_EFFECT_MS);
    const write = await server.post('/v1/purchases', { orderId: 'kl-o-revoked', memberId: 'kl-a', amountCents: 1000 }, victim.key);
    expect(write.status).toBe(401);
    expect(write.body.error.code).toBe('unauthorized');

    for (const [i, t] of [byHeader, byHello].entries()) {
      t.send({ type: 'batch', id: 2, ops: [purchase(`kl-after-${i}`)] });
      expect(await t.next((f) => f.type === 'error')).toEqual({ type: 'error', id: 2, error: { code: 'unauthorized', message: 'the key of this stream was revoked' } });
      expect(await t.closed).toEqual({ code: 1008, reason: 'key revoked' });
    }
    // Nothing of the refused batches was written.
    for (const orderId of ['kl-after-0', 'kl-after-1', 'kl-o-revoked']) expect((await server.get(`/v1/orders/${orderId}`)).status).toBe(404);
    await expect(StreamTerminal.open(streamUrl(), victim.key)).rejects.toThrow('upgrade refused: 401');

    // Another key's stream and HTTP calls are untouched.
    expect((await bystander.batch(2, [purchase('kl-bystander')]))[0].ok).toBe(true);
    expect((await server.get('/v1/program', kept.key)).status).toBe(200);
    expect((await server.get('/v1/program')).status).toBe(200);
    bystander.close();
    expect(server.logs.join('')).toContain(victim.id);
  });
});

describe('keys over HTTP', () => {
  it('lists keys without their hashes, revokes one at once, answers a second revocation alike, and 404 for an unknown id', async () => {
    const made = await server.post('/v1/admin/keys', { role: 'reader' });
    expect(made.status).toBe(201);
    const { id, key } = made.body as { id: string; key: string };
    expect((await server.get('/v1/program', key)).status).toBe(200);

    const listed = await server.get('/v1/admin/keys');
    expect(listed.status).toBe(200);
    const mine = (listed.body.keys as Array<Record<string, unknown>>).find((k) => k['id'] === id);
    expect(mine).toEqual({ id, role: 'reader', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), revoked: false });
    for (const k of listed.body.keys as Array<Record<string, unknown>>) expect(Object.keys(k).sort()).toEqual(['createdAt', 'id', 'revoked', 'role']);
    const keysFile = readFileSync(join(server.dataDir, 'keys.json'), 'utf8');
    for (const k of JSON.parse(keysFile) as Array<{ hash: string }>) expect(JSON.stringify(listed.body)).not.toContain(k.hash);

    const first = await server.request('DELETE', `/v1/admin/keys/${id}`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ ...mine, revoked: true });
    expect((await server.get('/v1/program', key)).status).toBe(401);
    const again = await server.request('DELETE', `/v1/admin/keys/${id}`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect((await server.get('/v1/admin/keys')).body.keys.find((k: { id: string }) => k.id === id).revoked).toBe(true);

    const unknown = await server.request('DELETE', '/v1/admin/keys/k_000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('key_not_found');
    // The command line sees the HTTP revocation.
    const cliList = JSON.parse((await cli('keys', 'list')).stdout) as Array<{ id: string; revoked: boolean }>;
    expect(cliList.find((k) => k.id === id)?.revoked).toBe(true);
  });
});

describe('the Bearer scheme', () => {
  it('is matched in any letter case, over HTTP and on the stream upgrade', async () => {
    for (const scheme of ['bEaReR', 'bearer', 'BEARER']) {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/program`, { headers: { authorization: `${scheme} ${server.adminKey}` } });
      expect(res.status, scheme).toBe(200);
    }
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(streamUrl(), { headers: { authorization: `bEaReR ${server.adminKey}` } });
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('unexpected-response', () => resolve(false));
      ws.once('error', () => resolve(false));
    });
    expect(opened).toBe(true);
    ws.close();
    const wrong = await fetch(`http://127.0.0.1:${server.port}/v1/program`, { headers: { authorization: `bEaReR not-a-key` } });
    expect(wrong.status).toBe(401);
  });
});
