// Every HTTP endpoint × every kind of caller (admin, pos, storefront, reader, no key, a wrong key)
// against a real server: 401 without a valid key, 403 for a role the endpoint does not allow, and
// neither (nor a 5xx) otherwise, with bodies that reach the handler. The expected roles are written
// here from the README, not read from routes.ts; the table must name every route routes.ts has.
// The same for the POS stream's ops, and key revocation through the CLI across a restart.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT, ServerChild } from '../../bench/server-child.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';

type Role = 'admin' | 'pos' | 'storefront' | 'reader';
type Caller = Role | 'none' | 'wrong';
const ROLES: Role[] = ['admin', 'pos', 'storefront', 'reader'];
const CALLERS: Caller[] = [...ROLES, 'none', 'wrong'];
const ALL = ROLES;
const WRITERS: Role[] = ['admin', 'pos', 'storefront'];
const ADMIN: Role[] = ['admin'];

let n = 0;
const uniq = (prefix: string) => `${prefix}-${++n}`;

interface Row {
  method: string;
  /** The pattern as routes.ts writes it. */
  pattern: string;
  /** The concrete path requested. */
  path: string;
  roles: Role[] | 'public';
  /** A body that is valid or at least reaches the handler; fresh keys on every call. */
  body?: () => unknown;
}

const PHONE = '+852 5555 0100';
let program: unknown = null;

const TABLE: Row[] = [
  { method: 'GET', pattern: '/healthz', path: '/healthz', roles: 'public' },
  { method: 'GET', pattern: '/openapi.json', path: '/openapi.json', roles: 'public' },
  { method: 'GET', pattern: '/', path: '/', roles: 'public' },
  // A name the build did not write: the handler answers 404, past the (absent) role check.
  { method: 'GET', pattern: '/console/assets/:file', path: '/console/assets/none-00000000.js', roles: 'public' },
  { method: 'GET', pattern: '/metrics', path: '/metrics', roles: ALL },
  { method: 'GET', pattern: '/v1/whoami', path: '/v1/whoami', roles: ALL },
  { method: 'GET', pattern: '/v1/program', path: '/v1/program', roles: ALL },
  { method: 'PUT', pattern: '/v1/program', path: '/v1/program', roles: ADMIN, body: () => program },
  { method: 'POST', pattern: '/v1/members', path: '/v1/members', roles: WRITERS, body: () => ({ memberId: uniq('rm-new') }) },
  { method: 'GET', pattern: '/v1/members', path: '/v1/members?limit=5', roles: ALL },
  { method: 'GET', pattern: '/v1/members/by-phone/:phone', path: `/v1/members/by-phone/${encodeURIComponent(PHONE)}`, roles: ALL },
  { method: 'GET', pattern: '/v1/members/:id', path: '/v1/members/rm-a', roles: ALL },
  { method: 'PATCH', pattern: '/v1/members/:id', path: '/v1/members/rm-a', roles: WRITERS, body: () => ({ name: uniq('name') }) },
  { method: 'POST', pattern: '/v1/members/:id/erase', path: '/v1/members/rm-nobody/erase', roles: ADMIN, body: () => ({ requestId: uniq('erase') }) },
  { method: 'GET', pattern: '/v1/members/:id/ledger', path: '/v1/members/rm-a/ledger', roles: ALL },
  { method: 'GET', pattern: '/v1/members/:id/balance', path: '/v1/members/rm-a/balance', roles: ALL },
  { method: 'GET', pattern: '/v1/members/:id/coupons', path: '/v1/members/rm-a/coupons', roles: ALL },
  { method: 'GET', pattern: '/v1/members/:id/cards', path: '/v1/members/rm-a/cards', roles: ALL },
  { method: 'GET', pattern: '/v1/members/:id/redemptions', path: '/v1/members/rm-a/redemptions', roles: ALL },
  // The demo program has no rewards and no cards: the handlers answer 404 or 422, past the role check.
  { method: 'GET', pattern: '/v1/rewards', path: '/v1/rewards', roles: ALL },
  { method: 'POST', pattern: '/v1/rewards/redemptions', path: '/v1/rewards/redemptions', roles: WRITERS, body: () => ({ requestId: uniq('rm-rw'), memberId: 'rm-a', rewardId: 'mug' }) },
  { method: 'GET', pattern: '/v1/rewards/redemptions/:id', path: '/v1/rewards/redemptions/rm-none', roles: ALL },
  { method: 'POST', pattern: '/v1/rewards/redemptions/:id/fulfil', path: '/v1/rewards/redemptions/rm-none/fulfil', roles: WRITERS, body: () => ({}) },
  { method: 'POST', pattern: '/v1/rewards/redemptions/:id/cancel', path: '/v1/rewards/redemptions/rm-none/cancel', roles: WRITERS, body: () => ({}) },
  { method: 'POST', pattern: '/v1/rewards/:id/stock', path: '/v1/rewards/mug/stock', roles: ADMIN, body: () => ({ requestId: uniq('rm-st'), delta: 5 }) },
  { method: 'POST', pattern: '/v1/cards/uses', path: '/v1/cards/uses', roles: WRITERS, body: () => ({ requestId: uniq('rm-cu'), memberId: 'rm-a', serviceId: 'haircut' }) },
  { method: 'POST', pattern: '/v1/cards/adjustments', path: '/v1/cards/adjustments', roles: ADMIN, body: () => ({ requestId: uniq('rm-ca'), memberId: 'rm-a', serviceId: 'haircut', uses: 1, reason: 'roles matrix' }) },
  { method: 'POST', pattern: '/v1/purchases', path: '/v1/purchases', roles: WRITERS, body: () => ({ orderId: uniq('rm-o'), memberId: 'rm-a', amountCents: 1000 }) },
  { method: 'POST', pattern: '/v1/product-purchases', path: '/v1/product-purchases', roles: WRITERS, body: () => ({ orderId: uniq('rm-p'), memberId: 'rm-a', productId: 'wallet-500' }) },
  { method: 'POST', pattern: '/v1/returns', path: '/v1/returns', roles: WRITERS, body: () => ({ returnId: uniq('rm-r'), orderId: 'rm-o1', amountCents: 1 }) },
  { method: 'POST', pattern: '/v1/wallet/transfers', path: '/v1/wallet/transfers', roles: ADMIN, body: () => ({ requestId: uniq('rm-x'), fromMemberId: 'rm-a', toMemberId: 'rm-b', amountCents: 1 }) },
  { method: 'GET', pattern: '/v1/orders/:id', path: '/v1/orders/rm-o1', roles: ALL },
  { method: 'POST', pattern: '/v1/checkout/quote', path: '/v1/checkout/quote', roles: WRITERS, body: () => ({ memberId: 'rm-a', amountCents: 1000 }) },
  // The demo program has no coupon templates: the handlers answer 404, past the role check.
  { method: 'POST', pattern: '/v1/coupons/issue', path: '/v1/coupons/issue', roles: ADMIN, body: () => ({ requestId: uniq('rm-ci'), templateId: 'welcome10', memberId: 'rm-a' }) },
  { method: 'POST', pattern: '/v1/coupons/bulk-issue', path: '/v1/coupons/bulk-issue', roles: ADMIN, body: () => ({ requestId: uniq('rm-cb'), templateId: 'welcome10', memberIds: ['rm-a'] }) },
  { method: 'POST', pattern: '/v1/coupons/:code/revoke', path: '/v1/coupons/7K3M9QX2HD4P/revoke', roles: ADMIN, body: () => ({ requestId: uniq('rm-cr') }) },
  { method: 'GET', pattern: '/v1/coupons/:code', path: '/v1/coupons/7K3M9QX2HD4P', roles: ALL },
  { method: 'POST', pattern: '/v1/points/redemptions', path: '/v1/points/redemptions', roles: WRITERS, body: () => ({ requestId: uniq('rm-red'), memberId: 'rm-a', points: 10 }) },
  { method: 'POST', pattern: '/v1/points/adjustments', path: '/v1/points/adjustments', roles: ADMIN, body: () => ({ requestId: uniq('rm-adj'), memberId: 'rm-a', points: 5, reason: 'roles matrix' }) },
  { method: 'POST', pattern: '/v1/wallet/topups', path: '/v1/wallet/topups', roles: WRITERS, body: () => ({ requestId: uniq('rm-t'), memberId: 'rm-a', amountCents: 1000 }) },
  { method: 'POST', pattern: '/v1/wallet/withdrawals', path: '/v1/wallet/withdrawals', roles: ADMIN, body: () => ({ requestId: uniq('rm-w'), memberId: 'rm-a', amountCents: 1 }) },
  { method: 'GET', pattern: '/v1/reports/summary', path: '/v1/reports/summary', roles: ALL },
  { method: 'GET', pattern: '/v1/reports/referrals/:id', path: '/v1/reports/referrals/rm-a', roles: ALL },
  { method: 'GET', pattern: '/v1/reports/daily', path: '/v1/reports/daily', roles: ALL },
  { method: 'GET', pattern: '/v1/reports/rfm', path: '/v1/reports/rfm', roles: ALL },
  { method: 'GET', pattern: '/v1/reports/coupons', path: '/v1/reports/coupons?from=2026-01-01&to=2026-01-31', roles: ALL },
  { method: 'GET', pattern: '/v1/reports/campaigns', path: '/v1/reports/campaigns?from=2026-01-01&to=2026-01-31', roles: ALL },
  { method: 'GET', pattern: '/v1/reports/rewards', path: '/v1/reports/rewards?from=2026-01-01&to=2026-01-31', roles: ALL },
  { method: 'GET', pattern: '/v1/reports/staff', path: '/v1/reports/staff?from=2026-01-01&to=2026-01-31', roles: ALL },
  { method: 'POST', pattern: '/v1/admin/sweep', path: '/v1/admin/sweep', roles: ADMIN, body: () => ({}) },
  { method: 'POST', pattern: '/v1/import/members', path: '/v1/import/members', roles: ADMIN, body: () => `memberId,name\n${uniq('rm-imp')},Imported\n` },
  { method: 'GET', pattern: '/v1/export/members.csv', path: '/v1/export/members.csv', roles: ['admin', 'reader'] },
  { method: 'GET', pattern: '/v1/export/ledger.csv', path: '/v1/export/ledger.csv', roles: ['admin', 'reader'] },
  { method: 'GET', pattern: '/v1/export/coupons.csv', path: '/v1/export/coupons.csv', roles: ['admin', 'reader'] },
  { method: 'GET', pattern: '/v1/admin/verify', path: '/v1/admin/verify', roles: ADMIN },
  { method: 'GET', pattern: '/v1/admin/audit', path: '/v1/admin/audit?action=sweep', roles: ADMIN },
  { method: 'POST', pattern: '/v1/admin/what-if', path: '/v1/admin/what-if', roles: ADMIN, body: () => ({ program }) },
  { method: 'GET', pattern: '/v1/admin/what-if/:id', path: '/v1/admin/what-if/wi_unknown', roles: ADMIN },
  { method: 'POST', pattern: '/v1/admin/backup', path: '/v1/admin/backup', roles: ADMIN, body: () => ({ dir: join(backupsDir, uniq('backup')) }) },
  { method: 'POST', pattern: '/v1/admin/compact', path: '/v1/admin/compact', roles: ADMIN },
  { method: 'GET', pattern: '/v1/admin/cluster', path: '/v1/admin/cluster', roles: ADMIN },
  { method: 'POST', pattern: '/v1/admin/cluster/drain', path: '/v1/admin/cluster/drain', roles: ADMIN },
  { method: 'POST', pattern: '/v1/admin/cluster/undrain', path: '/v1/admin/cluster/undrain', roles: ADMIN },
  { method: 'POST', pattern: '/v1/admin/keys', path: '/v1/admin/keys', roles: ADMIN, body: () => ({ role: 'reader' }) },
  { method: 'GET', pattern: '/v1/admin/keys', path: '/v1/admin/keys', roles: ADMIN },
  // An unknown id: the handler answers 404 key_not_found, and no key the matrix uses is revoked.
  { method: 'DELETE', pattern: '/v1/admin/keys/:id', path: '/v1/admin/keys/k_000000000000', roles: ADMIN },
  // Webhooks: a subscription to a closed loopback port; unknown ids answer 404 webhook_not_found, past the role check.
  { method: 'POST', pattern: '/v1/admin/webhooks', path: '/v1/admin/webhooks', roles: ADMIN, body: () => ({ url: 'http://127.0.0.1:9/hook', events: ['member.registered'] }) },
  { method: 'GET', pattern: '/v1/admin/webhooks', path: '/v1/admin/webhooks', roles: ADMIN },
  { method: 'GET', pattern: '/v1/admin/webhooks/:id', path: '/v1/admin/webhooks/wh_0000000000000000', roles: ADMIN },
  { method: 'DELETE', pattern: '/v1/admin/webhooks/:id', path: '/v1/admin/webhooks/wh_0000000000000000', roles: ADMIN },
  { method: 'GET', pattern: '/v1/admin/webhooks/:id/deliveries', path: '/v1/admin/webhooks/wh_0000000000000000/deliveries', roles: ADMIN },
  { method: 'POST', pattern: '/v1/admin/webhooks/:id/redeliver', path: '/v1/admin/webhooks/wh_0000000000000000/redeliver', roles: ADMIN, body: () => ({ fromEventId: '0:1' }) },
];

/** Stream ops and the roles allowed each (README "Roles"), with op bodies that reach the engine. */
const STREAM_TABLE: Array<{ op: string; roles: Role[]; body: () => Record<string, unknown> }> = [
  { op: 'register', roles: WRITERS, body: () => ({ memberId: uniq('rs-new') }) },
  { op: 'purchase', roles: WRITERS, body: () => ({ orderId: uniq('rs-o'), memberId: 'rm-a', amountCents: 1000 }) },
  { op: 'return', roles: WRITERS, body: () => ({ returnId: uniq('rs-r'), orderId: 'rm-o1', amountCents: 1 }) },
  { op: 'product_purchase', roles: WRITERS, body: () => ({ orderId: uniq('rs-p'), memberId: 'rm-a', productId: 'wallet-500' }) },
  { op: 'quote', roles: WRITERS, body: () => ({ memberId: 'rm-a', amountCents: 1000 }) },
  { op: 'topup', roles: WRITERS, body: () => ({ requestId: uniq('rs-t'), memberId: 'rm-a', amountCents: 1000 }) },
  { op: 'redeem', roles: WRITERS, body: () => ({ requestId: uniq('rs-red'), memberId: 'rm-a', points: 10 }) },
  { op: 'transfer', roles: ADMIN, body: () => ({ requestId: uniq('rs-x'), fromMemberId: 'rm-a', toMemberId: 'rm-b', amountCents: 1 }) },
  { op: 'withdraw', roles: ADMIN, body: () => ({ requestId: uniq('rs-w'), memberId: 'rm-a', amountCents: 1 }) },
  { op: 'adjust', roles: ADMIN, body: () => ({ requestId: uniq('rs-adj'), memberId: 'rm-a', points: 5, reason: 'roles matrix' }) },
  { op: 'reward_redeem', roles: WRITERS, body: () => ({ requestId: uniq('rs-rw'), memberId: 'rm-a', rewardId: 'mug' }) },
  { op: 'card_use', roles: WRITERS, body: () => ({ requestId: uniq('rs-cu'), memberId: 'rm-a', serviceId: 'haircut' }) },
];

const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-roles-'));
const backupsDir = mkdtempSync(join(tmpdir(), 'loyalty-roles-backups-'));
const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: '2' } });
const keys: Record<Role, { id: string; key: string }> = {} as never;
const keyOf = (caller: Caller): string | null =>
  caller === 'none' ? null : caller === 'wrong' ? 'll_admin_not-a-real-key' : keys[caller].key;

beforeAll(async () => {
  await server.start();
  keys.admin = { id: '', key: server.adminKey };
  for (const role of ['pos', 'storefront', 'reader'] as const) {
    const r = await server.post('/v1/admin/keys', { role });
    expect(r.status).toBe(201);
    keys[role] = { id: r.body.id, key: r.body.key };
  }
  expect((await server.post('/v1/members', { memberId: 'rm-a', phone: PHONE })).status).toBe(201);
  expect((await server.post('/v1/members', { memberId: 'rm-b' })).status).toBe(201);
  expect((await server.post('/v1/purchases', { orderId: 'rm-o1', memberId: 'rm-a', amountCents: 500_000 })).status).toBe(200);
  expect((await server.post('/v1/wallet/topups', { requestId: 'rm-t0', memberId: 'rm-a', amountCents: 100_000 })).status).toBe(200);
  const { version: _v, ...current } = (await server.get('/v1/program')).body;
  program = current;
});

afterAll(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(backupsDir, { recursive: true, force: true });
});

describe('the HTTP role matrix', () => {
  it('names every route of server/routes.ts', () => {
    const source = readFileSync(join(PACKAGE_ROOT, 'server/routes.ts'), 'utf8');
    const routes = [...source.matchAll(/^route\('([A-Z]+)', '([^']+)'/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    expect(routes.length).toBeGreaterThan(20);
    expect(TABLE.map((r) => `${r.method} ${r.pattern}`).sort()).toEqual(routes);
  });

  for (const row of TABLE) {
    it(`${row.method} ${row.pattern}`, async () => {
      const expected: Record<string, string> = {};
      const got: Record<string, string> = {};
      for (const caller of CALLERS) {
        const allowed = row.roles === 'public' || (caller !== 'none' && caller !== 'wrong' && row.roles.includes(caller));
        expected[caller] = allowed ? 'reaches the handler' : caller === 'none' || caller === 'wrong' ? '401 unauthorized' : '403 forbidden';
        const reply = await server.request(row.method, row.path, row.body?.(), keyOf(caller));
        const code = typeof reply.body === 'object' && reply.body !== null ? reply.body.error?.code : undefined;
        got[caller] = reply.status === 401 || reply.status === 403 ? `${reply.status} ${code}`
          : reply.status >= 500 ? `${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`
          : 'reaches the handler';
      }
      expect(got).toEqual(expected);
    });
  }

  it('refuses opening balances on a registration from a non-admin, naming the field', async () => {
    for (const role of ['pos', 'storefront'] as const) {
      const r = await server.post('/v1/members', { memberId: uniq('rm-open'), points: 100 }, keys[role].key);
      expect(r.status).toBe(403);
      expect(r.body.error).toMatchObject({ code: 'forbidden', field: 'points' });
    }
  });

  it('tells each key its own id and role (GET /v1/whoami)', async () => {
    for (const role of ['pos', 'storefront', 'reader'] as const) {
      const r = await server.get('/v1/whoami', keys[role].key);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ keyId: keys[role].id, role });
    }
    const admin = await server.get('/v1/whoami', keys.admin.key);
    expect(admin.body).toMatchObject({ role: 'admin', keyId: expect.stringMatching(/^k_[0-9a-f]{12}$/) });
  });

  it('answers 401 for a malformed Authorization header', async () => {
    for (const header of ['Basic abc', 'Bearer', `bearer${keys.admin.key}`, `Token ${keys.admin.key}`]) {
      const res = await fetch(server.url('/v1/program'), { headers: { authorization: header } });
      expect(res.status, header).toBe(401);
    }
  });
});

describe('the stream role matrix', () => {
  it('upgrades with any valid key or none (hello later), and refuses a wrong key with 401', async () => {
    for (const caller of CALLERS) {
      const opened = StreamTerminal.open(server.streamUrl, keyOf(caller));
      if (caller === 'wrong') await expect(opened).rejects.toThrow('upgrade refused: 401');
      else (await opened).close();
    }
  });

  it('allows each op to exactly the roles the README names', async () => {
    const mismatches: string[] = [];
    for (const role of ROLES) {
      const t = await StreamTerminal.open(server.streamUrl, keys[role].key);
      const results = await t.batch(1, STREAM_TABLE.map((row) => ({ op: row.op, ...row.body() })));
      STREAM_TABLE.forEach((row, i) => {
        const r = results[i];
        const allowed = row.roles.includes(role);
        if (allowed && !r.ok && ['forbidden', 'unauthorized', 'internal'].includes(r.error.code)) mismatches.push(`${role} ${row.op}: ${r.error.code}`);
        if (!allowed && (r.ok || r.error.code !== 'forbidden')) mismatches.push(`${role} ${row.op}: expected forbidden, got ${JSON.stringify(r)}`);
      });
      t.close();
    }
    expect(mismatches).toEqual([]);
  });
});

describe('revocation', () => {
  const cli = (...args: string[]) => promisify(execFile)(process.execPath, [join(PACKAGE_ROOT, 'dist/cli/loyalty.js'), ...args], { env: { ...process.env, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: '2' } });

  it('refuses a key revoked with `loyalty keys revoke` after the restart, and keeps the others', async () => {
    const posKey = keys.pos.key;
    expect((await server.get('/v1/program', posKey)).status).toBe(200);
    // Revoked beside the running server, which then creates a key of its own: the revocation must
    // survive that write of keys.json.
    const out = await cli('keys', 'revoke', keys.pos.id);
    expect(out.stdout).toContain(`revoked ${keys.pos.id}`);
    expect((await server.post('/v1/admin/keys', { role: 'pos' })).status).toBe(201);
    // Revoked while the server is down.
    await server.stop();
    await cli('keys', 'revoke', keys.storefront.id);
    await server.start();

    for (const key of [posKey, keys.storefront.key]) {
      expect((await server.get('/v1/program', key)).status).toBe(401);
      const w = await server.post('/v1/purchases', { orderId: uniq('rm-rev'), memberId: 'rm-a', amountCents: 100 }, key);
      expect(w.status).toBe(401);
      expect(w.body.error.code).toBe('unauthorized');
      await expect(StreamTerminal.open(server.streamUrl, key)).rejects.toThrow('upgrade refused: 401');
      const t = await StreamTerminal.open(server.streamUrl, null);
      t.send({ type: 'hello', key });
      expect((await t.next((f) => f.type === 'error')).error.code).toBe('unauthorized');
      t.close();
    }
    expect((await server.get('/v1/program', keys.reader.key)).status).toBe(200);
    expect((await server.get('/v1/program')).status).toBe(200);
    const listed = JSON.parse((await cli('keys', 'list')).stdout) as Array<{ id: string; revoked: boolean }>;
    expect(listed.filter((k) => k.revoked).map((k) => k.id).sort()).toEqual([keys.pos.id, keys.storefront.id].sort());
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true });
  });
});
