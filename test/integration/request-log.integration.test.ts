// The request log (server/request-log.ts) on a real server: every write request and every refused
// login is one pino line with key id, route pattern, status and latency; reads are not logged; and
// a run that registers, changes, imports, searches, exports and looks members up by phone leaves no
// name, phone or email in the whole log output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';

const dataDir = ServerProcess.tempDataDir();
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0' });
const NAME = 'Wong Tai-sinister';
const PHONE_LOCAL = '9876 5432';
const PHONE_E164 = '+85298765432';
const EMAIL = 'secret.person@example.org';
const NAME_2 = 'Chan Siu-private';
const EMAIL_2 = 'other.hidden@example.net';
let adminId = '';

interface Line { msg?: string; keyId?: string | null; method?: string; route?: string; status?: number; latencyMs?: number; code?: string; ops?: number }
const lines = (): Line[] => server.logs.join('\n').split('\n').flatMap((l) => { try { return [JSON.parse(l) as Line]; } catch { return []; } });

beforeAll(async () => {
  await server.start();
  adminId = (await server.call('GET /v1/whoami')).keyId;
  const pos = (await server.call('POST /v1/admin/keys', { body: { role: 'pos' } }));
  await server.call('POST /v1/members', { body: { memberId: 'p1', name: NAME, phone: `+852 ${PHONE_LOCAL}`, email: EMAIL, birthday: '1990-05-06' } });
  await server.call('POST /v1/members', { body: { memberId: 'p1', name: NAME, phone: `+852 ${PHONE_LOCAL}`, email: EMAIL, birthday: '1990-05-06' } });
  // Taken phone: a refusal whose message must not quote the number.
  expect((await refusal(server.call('POST /v1/members', { body: { memberId: 'p2', name: NAME_2, phone: `+852 ${PHONE_LOCAL}` } }))).status).toBe(409);
  await server.call('PATCH /v1/members/:id', { params: { id: 'p1' }, body: { email: EMAIL_2, address: '1 Secret Road' } });
  await server.call('POST /v1/import/members', { body: ['memberId,name,email', `i1,${NAME_2},bad-email`].join('\n') });
  await server.call('GET /v1/members/by-phone/:phone', { params: { phone: PHONE_E164 } });
  await server.call('GET /v1/members', { query: { q: NAME.slice(0, 8) } });
  await server.call('GET /v1/export/members.csv');
  await server.client(pos.key).call('POST /v1/purchases', { body: { orderId: 'o1', memberId: 'p1', amountCents: 1000 } });
  // Refused logins: no key, a wrong key, a key of the wrong role, a wrong key on the stream.
  expect((await refusal(server.client(null).call('POST /v1/purchases', { body: { orderId: 'o2', memberId: 'p1', amountCents: 1000 } }))).status).toBe(401);
  expect((await refusal(server.client('ll_admin_wrong').call('GET /v1/members/:id', { params: { id: 'p1' } }))).status).toBe(401);
  expect((await refusal(server.client(pos.key).call('POST /v1/points/adjustments', { body: { requestId: 'a', memberId: 'p1', points: 1, reason: 'x' } }))).status).toBe(403);
  await expect(StreamTerminal.open(`ws://127.0.0.1:${server.port}/v1/stream`, 'll_pos_wrong')).rejects.toThrow(/401/);
  const terminal = await StreamTerminal.open(`ws://127.0.0.1:${server.port}/v1/stream`, pos.key);
  terminal.send({ type: 'batch', id: 1, ops: [{ op: 'register', memberId: 'p3', name: NAME_2, email: 'third.secret@example.com' }, { op: 'purchase', orderId: 's1', memberId: 'p1', amountCents: 500 }] });
  expect((await terminal.ack(1)).results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true]);
  terminal.ws.close();
  await new Promise((r) => setTimeout(r, 300));
}, 60_000);

afterAll(async () => {
  await server.stop();
  server.cleanup();
});

describe('the request log', () => {
  it('logs each write and refused login with key id, route pattern, status and latency', () => {
    const requests = lines().filter((l) => l.msg === 'request' || l.msg === 'request refused');
    const summary = requests.map((l) => [l.method, l.route, l.status, l.keyId ?? null, l.code ?? null]);
    expect(summary).toContainEqual(['POST', '/v1/members', 201, adminId, null]);
    expect(summary).toContainEqual(['POST', '/v1/members', 200, adminId, null]);
    expect(summary).toContainEqual(['POST', '/v1/members', 409, adminId, 'phone_taken']);
    expect(summary).toContainEqual(['PATCH', '/v1/members/:id', 200, adminId, null]);
    expect(summary).toContainEqual(['POST', '/v1/import/members', 200, adminId, null]);
    expect(summary).toContainEqual(['POST', '/v1/purchases', 401, null, 'unauthorized']);
    expect(summary).toContainEqual(['GET', '/v1/members/:id', 401, null, 'unauthorized']);
    expect(summary.find((s) => s[1] === '/v1/points/adjustments')).toEqual(['POST', '/v1/points/adjustments', 403, expect.stringMatching(/^k_/), 'forbidden']);
    expect(summary).toContainEqual(['GET', '/v1/stream', 401, null, 'unauthorized']);
    expect(requests.find((l) => l.route === '/v1/stream batch')).toMatchObject({ ops: 2, status: 200, keyId: expect.stringMatching(/^k_/) });
    for (const l of requests) expect(l.latencyMs).toBeGreaterThanOrEqual(0);
    // Reads that succeeded are not logged.
    expect(summary.some((s) => s[0] === 'GET' && s[2] === 200)).toBe(false);
  });

  it('holds no name, phone or email of any member', () => {
    const text = server.logs.join('\n');
    expect(text.length).toBeGreaterThan(1000);
    for (const secret of [NAME, NAME_2, 'Tai-sinister', 'Siu-private', PHONE_E164, '98765432', PHONE_LOCAL, EMAIL, EMAIL_2, 'third.secret', '1 Secret Road', '1990-05-06']) {
      expect(text, secret).not.toContain(secret);
    }
  });
});
