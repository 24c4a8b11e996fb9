// Webhook events of the sweep's coupon notices and of erasures, and subscriptions across a backup
// and restore, over a real server and a real receiver on loopback: a coupon's `coupon.expiring` is
// sent once, at its notice moment (notifyExpiringDays before its expiry) and not before, none for a
// coupon used before it; the history verifies and replays exactly. An erasure sends
// `member.erased`. A backup holds the subscriptions with their cursors; a restore moves a cursor
// copied past the restored ledger's end back to it, and the restored server goes on delivering.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { expectReplayEqualsLive } from '../helpers/replay-check.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const DAY_MS = 86_400_000;
const ENV = { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_WEBHOOK_RETRY_FIRST_MS: '50', LOYALTY_WEBHOOK_TIMEOUT_MS: '1000' };
const server = new ServerProcess(ServerProcess.tempDataDir(), ENV);
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  await server.start();
  const program = (await server.get('/v1/program')).body as Record<string, unknown>;
  delete program['version'];
  const r = await server.request('PUT', '/v1/program', {
    ...program,
    coupons: [{ id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 30 }],
    couponRules: [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
});
afterAll(async () => {
  for (const r of receivers) await r.stop();
  await server.stop();
  server.cleanup();
});

async function subscribed(on: ServerProcess, events: string[]): Promise<{ r: WebhookReceiver; id: string }> {
  const r = new WebhookReceiver();
  await r.start();
  receivers.push(r);
  const reply = await on.post('/v1/admin/webhooks', { url: r.url, events });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  r.secret = reply.body.secret as string;
  return { r, id: reply.body.id as string };
}

const iso = (ms: number): string => new Date(ms).toISOString();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function kindsOf(memberId: string): Promise<Array<{ kind: string; at: string; ref: string; expiresAtMs?: number }>> {
  const page = (await server.get(`/v1/members/${memberId}/ledger?limit=1000`)).body as { entries: Array<{ kind: string; at: string; ref: string; expiresAtMs?: number }> };
  return [...page.entries].reverse();
}

describe('coupon.expiring', () => {
  it('is sent once per coupon at its notice moment, not before, and not for a coupon used first; the history verifies and replays', async () => {
    const { r } = await subscribed(server, ['coupon.expiring']);
    const joinedMs = Date.now() - 40 * DAY_MS;
    for (const m of ['cx-kept', 'cx-used']) expect((await server.post('/v1/members', { memberId: m, at: iso(joinedMs) })).status).toBe(201);
    const coupons = async (m: string) => (await server.get(`/v1/members/${m}/coupons`)).body.coupons as Array<{ code: string; expiresAt: string }>;
    const [kept] = await coupons('cx-kept');
    const [used] = await coupons('cx-used');
    expect((await server.post('/v1/purchases', { orderId: 'cx-o1', memberId: 'cx-used', amountCents: 5_000, couponCodes: [used!.code], at: iso(joinedMs + DAY_MS) })).status).toBe(200);
    const expiresAtMs = Date.parse(kept!.expiresAt);
    const noticeAtMs = expiresAtMs - 7 * DAY_MS;
    const notices = async (m: string) => (await kindsOf(m)).filter((e) => e.kind === 'coupon_expiring');

    // A sweep a moment before the notice writes none; one at it writes it, dated then; later sweeps write no second.
    expect((await server.post('/v1/admin/sweep', { asOf: iso(noticeAtMs - 1) })).status).toBe(200);
    expect(await notices('cx-kept')).toEqual([]);
    expect((await server.post('/v1/admin/sweep', { asOf: iso(noticeAtMs) })).status).toBe(200);
    expect(await notices('cx-kept')).toEqual([expect.objectContaining({ kind: 'coupon_expiring', at: iso(noticeAtMs), ref: kept!.code, expiresAtMs, pointsDelta: 0 })]);
    expect((await server.post('/v1/admin/sweep', {})).status).toBe(200);
    expect((await notices('cx-kept')).length).toBe(1);
    expect((await kindsOf('cx-kept')).map((e) => e.kind)).toEqual(['register', 'coupon_issue', 'coupon_expiring', 'coupon_expire']);
    expect(await notices('cx-used')).toEqual([]);

    await r.waitFor(() => r.received.length >= 1);
    await sleep(300);
    expect(r.unique().map((e) => ({ type: e.type, memberId: e.memberId, at: e.at, ref: e.data['ref'], expiresAt: e.data['expiresAt'] }))).toEqual([
      { type: 'coupon.expiring', memberId: 'cx-kept', at: iso(noticeAtMs), ref: kept!.code, expiresAt: kept!.expiresAt },
    ]);
    expect(r.received.every((e) => e.verified)).toBe(true);

    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
    await server.stop();
    try {
      expectReplayEqualsLive(server.dataDir);
    } finally {
      await server.start();
    }
  }, 120_000);
});

describe('member.erased', () => {
  it('is sent for an erasure, with no personal data', async () => {
    const { r } = await subscribed(server, ['member.erased']);
    expect((await server.post('/v1/members', { memberId: 'wh-erased', name: 'Chan Tai Man', phone: '+85291234567' })).status).toBe(201);
    const erased = await server.post('/v1/members/wh-erased/erase', { requestId: 'erase-1' });
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    await r.waitFor(() => r.received.length >= 1);
    expect(r.unique()).toEqual([expect.objectContaining({ type: 'member.erased', memberId: 'wh-erased', data: expect.objectContaining({ kind: 'member_erase', ref: 'req:erase-1' }) })]);
    expect(JSON.stringify(r.received)).not.toMatch(/Chan Tai Man|91234567/);
  });
});

describe('backup and restore', () => {
  it('keep the subscriptions; a cursor copied past the restored ledger\'s end goes back to it, and delivery goes on', async () => {
    const { r, id } = await subscribed(server, ['purchase.recorded']);
    expect((await server.post('/v1/members', { memberId: 'wh-bk' })).status).toBe(201);
    expect((await server.post('/v1/purchases', { orderId: 'wh-bk-1', memberId: 'wh-bk', amountCents: 1_000 })).status).toBe(200);
    await r.waitFor(() => r.received.length >= 1);
    const backupDir = join(dirname(server.dataDir), `${server.dataDir.split('/').pop()}-backup`);
    const restoredDir = `${backupDir}-restored`;
    onTestFinished(() => { rmSync(backupDir, { recursive: true, force: true }); rmSync(restoredDir, { recursive: true, force: true }); });
    const backup = await server.post('/v1/admin/backup', { dir: backupDir });
    expect(backup.status, JSON.stringify(backup.body)).toBe(200);
    const manifest = JSON.parse(readFileSync(join(backupDir, 'backup.json'), 'utf8')) as { files: Array<{ path: string; bytes: number; sha256: string }> };
    expect(manifest.files.map((f) => f.path)).toEqual(expect.arrayContaining([`webhooks/${id}.json`, `webhooks/${id}.state.json`]));
    expect(manifest.files.some((f) => f.path.endsWith('.attempts.jsonl'))).toBe(false);

    // As if the state had been copied after deliveries past the backup's point: cursors far ahead (the manifest follows).
    const statePath = `webhooks/${id}.state.json`;
    const state = JSON.parse(readFileSync(join(backupDir, statePath), 'utf8')) as { cursors: Array<{ seq: number; part: number }> };
    state.cursors = state.cursors.map((c) => ({ seq: c.seq + 10_000_000, part: 9 }));
    const text = JSON.stringify(state);
    writeFileSync(join(backupDir, statePath), text);
    const entry = manifest.files.find((f) => f.path === statePath)!;
    entry.bytes = Buffer.byteLength(text);
    entry.sha256 = createHash('sha256').update(text).digest('hex');
    writeFileSync(join(backupDir, 'backup.json'), JSON.stringify(manifest, null, 2) + '\n');

    const restore = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), 'restore', backupDir, '--data', restoredDir], { encoding: 'utf8', timeout: 60_000 });
    expect(restore.status, restore.stderr).toBe(0);
    const restoredState = JSON.parse(readFileSync(join(restoredDir, statePath), 'utf8')) as { cursors: Array<{ seq: number }> };
    expect(restoredState.cursors.every((c, i) => c.seq < state.cursors[i]!.seq - 9_000_000)).toBe(true);
    const restoredFiles = readdirSync(join(restoredDir, 'webhooks'));
    expect(restoredFiles).toEqual(expect.arrayContaining([`${id}.json`, `${id}.state.json`]));
    expect(restoredFiles.filter((f) => !/^wh_[0-9a-f]+(\.state)?\.json$/.test(f))).toEqual([]);

    const restored = new ServerProcess(restoredDir, ENV);
    await restored.start();
    onTestFinished(() => restored.stop());
    expect((await restored.get('/v1/admin/webhooks')).body.webhooks).toContainEqual({ id, url: r.url, events: ['purchase.recorded'], createdAt: expect.any(String) });
    const before = r.unique().length;
    expect((await restored.post('/v1/purchases', { orderId: 'wh-bk-2', memberId: 'wh-bk', amountCents: 1_000 })).status).toBe(200);
    await r.waitFor(() => r.unique().length >= before + 1);
    const last = r.unique()[r.unique().length - 1]!;
    expect(last).toMatchObject({ type: 'purchase.recorded', memberId: 'wh-bk', verified: true, data: expect.objectContaining({ ref: 'wh-bk-2' }) });
  }, 120_000);
});
