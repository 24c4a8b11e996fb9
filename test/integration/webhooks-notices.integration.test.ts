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
import type { AnswerOf } from '../../client/http.js';
import type { WEBHOOK_EVENT_TYPES } from '../../engine/rules/webhook-events.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const DAY_MS = 86_400_000;
const ENV = { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_WEBHOOK_RETRY_FIRST_MS: '50', LOYALTY_WEBHOOK_TIMEOUT_MS: '1000' };
const server = new ServerProcess(ServerProcess.tempDataDir(), ENV);
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  await server.start();
  const program = await server.call('GET /v1/program');
  await server.call('PUT /v1/program', { body: {
    ...program,
    coupons: [{ id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 30 }],
    couponRules: [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }],
  } });
});
afterAll(async () => {
  for (const r of receivers) await r.stop();
  await server.stop();
  server.cleanup();
});

async function subscribed(on: ServerProcess, events: Array<(typeof WEBHOOK_EVENT_TYPES)[number]>): Promise<{ r: WebhookReceiver; id: string }> {
  const r = new WebhookReceiver();
  await r.start();
  receivers.push(r);
  const reply = await on.call('POST /v1/admin/webhooks', { body: { url: r.url, events } });
  r.secret = reply.secret;
  return { r, id: reply.id };
}

const iso = (ms: number): string => new Date(ms).toISOString();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function kindsOf(memberId: string): Promise<AnswerOf<'GET /v1/members/:id/ledger'>['entries']> {
  const page = await server.call('GET /v1/members/:id/ledger', { params: { id: memberId }, query: { limit: 1000 } });
  return [...page.entries].reverse();
}

describe('coupon.expiring', () => {
  it('is sent once per coupon at its notice moment, not before, and not for a coupon used first; the history verifies and replays', async () => {
    const { r } = await subscribed(server, ['coupon.expiring']);
    const joinedMs = Date.now() - 40 * DAY_MS;
    for (const m of ['cx-kept', 'cx-used']) await server.call('POST /v1/members', { body: { memberId: m, at: iso(joinedMs) } });
    const coupons = async (m: string) => (await server.call('GET /v1/members/:id/coupons', { params: { id: m } })).coupons;
    const [kept] = await coupons('cx-kept');
    const [used] = await coupons('cx-used');
    await server.call('POST /v1/purchases', { body: { orderId: 'cx-o1', memberId: 'cx-used', amountCents: 5_000, couponCodes: [used!.code], at: iso(joinedMs + DAY_MS) } });
    const expiresAtMs = Date.parse(kept!.expiresAt);
    const noticeAtMs = expiresAtMs - 7 * DAY_MS;
    const notices = async (m: string) => (await kindsOf(m)).filter((e) => e.kind === 'coupon_expiring');

    // A sweep a moment before the notice writes none; one at it writes it, dated then; later sweeps write no second.
    await server.call('POST /v1/admin/sweep', { body: { asOf: iso(noticeAtMs - 1) } });
    expect(await notices('cx-kept')).toEqual([]);
    await server.call('POST /v1/admin/sweep', { body: { asOf: iso(noticeAtMs) } });
    expect(await notices('cx-kept')).toEqual([expect.objectContaining({ kind: 'coupon_expiring', at: iso(noticeAtMs), ref: kept!.code, expiresAtMs, pointsDelta: 0 })]);
    await server.call('POST /v1/admin/sweep', { body: {} });
    expect((await notices('cx-kept')).length).toBe(1);
    expect((await kindsOf('cx-kept')).map((e) => e.kind)).toEqual(['register', 'coupon_issue', 'coupon_expiring', 'coupon_expire']);
    expect(await notices('cx-used')).toEqual([]);

    await r.waitFor(() => r.received.length >= 1);
    await sleep(300);
    expect(r.unique().map((e) => ({ type: e.type, memberId: e.memberId, at: e.at, ref: e.data['ref'], expiresAt: e.data['expiresAt'] }))).toEqual([
      { type: 'coupon.expiring', memberId: 'cx-kept', at: iso(noticeAtMs), ref: kept!.code, expiresAt: kept!.expiresAt },
    ]);
    expect(r.received.every((e) => e.verified)).toBe(true);

    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
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
    await server.call('POST /v1/members', { body: { memberId: 'wh-erased', name: 'Chan Tai Man', phone: '+85291234567' } });
    const erased = await server.call('POST /v1/members/:id/erase', { params: { id: 'wh-erased' }, body: { requestId: 'erase-1' } });
    await r.waitFor(() => r.received.length >= 1);
    expect(r.unique()).toEqual([expect.objectContaining({ type: 'member.erased', memberId: 'wh-erased', data: expect.objectContaining({ kind: 'member_erase', ref: 'req:erase-1' }) })]);
    expect(JSON.stringify(r.received)).not.toMatch(/Chan Tai Man|91234567/);
  });
});

describe('backup and restore', () => {
  it('keep the subscriptions; a cursor copied past the restored ledger\'s end goes back to it, and delivery goes on', async () => {
    const { r, id } = await subscribed(server, ['purchase.recorded']);
    await server.call('POST /v1/members', { body: { memberId: 'wh-bk' } });
    await server.call('POST /v1/purchases', { body: { orderId: 'wh-bk-1', memberId: 'wh-bk', amountCents: 1_000 } });
    await r.waitFor(() => r.received.length >= 1);
    const backupDir = join(dirname(server.dataDir), `${server.dataDir.split('/').pop()}-backup`);
    const restoredDir = `${backupDir}-restored`;
    onTestFinished(() => { rmSync(backupDir, { recursive: true, force: true }); rmSync(restoredDir, { recursive: true, force: true }); });
    const backup = await server.call('POST /v1/admin/backup', { body: { dir: backupDir } });
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
    expect((await restored.call('GET /v1/admin/webhooks')).webhooks).toContainEqual({ id, url: r.url, events: ['purchase.recorded'], createdAt: expect.any(String) });
    const before = r.unique().length;
    await restored.call('POST /v1/purchases', { body: { orderId: 'wh-bk-2', memberId: 'wh-bk', amountCents: 1_000 } });
    await r.waitFor(() => r.unique().length >= before + 1);
    const last = r.unique()[r.unique().length - 1]!;
    expect(last).toMatchObject({ type: 'purchase.recorded', memberId: 'wh-bk', verified: true, data: expect.objectContaining({ ref: 'wh-bk-2' }) });
  }, 120_000);
});
