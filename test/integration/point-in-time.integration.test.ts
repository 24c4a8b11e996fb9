// Point-in-time recovery undoes a bad import exactly, on a real server that keeps running: a backup,
// then a good import, purchases, a cross-shard transfer and a program change; the books are noted
// (both CSV exports and the summary); then a bad import and more purchases. `loyalty restore` of the
// earlier backup with the live folder's logs up to just before the bad import gives books equal to
// the noted ones, export for export, and verify is clean; so does `--until-batch` at the last
// entry before it. A point before the backup is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { openShardStore } from '../../engine/shard/store.js';
import { decodeLogHeader, logPosition } from '../../engine/shard/batch-log.js';

const root = mkdtempSync(join(tmpdir(), 'loyalty-pitr-'));
const liveDir = join(root, 'live');
const backupDir = join(root, 'backup');
const live = new ServerProcess(liveDir, { LOYALTY_SWEEP_INTERVAL_MS: '0' });

interface Books { members: string; ledger: string; summary: unknown }
let noted: Books;
let pointMs = 0;
/** The shard whose last entry before the bad import is the latest, and that entry. */
let lastBefore = { shard: 0, batch: 0 };
let backupAtMs = 0;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: process.env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function books(server: ServerProcess): Promise<Books> {
  return {
    members: await server.call('GET /v1/export/members.csv'), ledger: await server.call('GET /v1/export/ledger.csv'),
    summary: await server.call('GET /v1/reports/summary'),
  };
}


/** Waits until the live books stop moving (cross-shard credits land after their acks). */
async function settle(): Promise<void> {
  let seen = '';
  for (let i = 0; i < 100; i++) {
    const now = JSON.stringify((await live.call('GET /v1/reports/summary')));
    if (now === seen) return;
    seen = now;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the books did not settle');
}

const csv = (rows: string[]) => ['memberId,name,phone,points', ...rows].join('\n');

beforeAll(async () => {
  await live.start();
  for (let i = 0; i < 12; i++) await live.call('POST /v1/members', { body: { memberId: `c${i}`, name: `Customer ${i}` } });
  for (let i = 0; i < 12; i++) await live.call('POST /v1/purchases', { body: { orderId: `before-${i}`, memberId: `c${i}`, amountCents: 10_000 + i * 1_000 } });
  await live.call('POST /v1/wallet/topups', { body: { requestId: 'top-0', memberId: 'c0', amountCents: 50_000 } });
  const backup = await live.call('POST /v1/admin/backup', { body: { dir: backupDir } });
  backupAtMs = Math.max(...backup.shards.map((s: { committedAtMs?: number }) => s.committedAtMs ?? 0));

  // After the backup: a good import, purchases by imported members, transfers, a program change.
  const good = await live.call('POST /v1/import/members', { body: csv(Array.from({ length: 300 }, (_, i) => `g${i},Good ${i},+852 6100 ${String(1000 + i)},${i % 7}`)) });
  expect(good).toMatchObject({ imported: 300, failed: 0 });
  for (let i = 0; i < 30; i++) await live.call('POST /v1/purchases', { body: { orderId: `good-${i}`, memberId: `g${i}`, amountCents: 20_000 + i * 100 } });
  for (let i = 1; i < 6; i++) await live.call('POST /v1/wallet/transfers', { body: { requestId: `move-${i}`, fromMemberId: 'c0', toMemberId: `c${i}`, amountCents: 1_000 * i } });
  const program = (await live.call('GET /v1/program'));
  const { version: _v, ...current } = program;
  await live.call('PUT /v1/program', { body: { ...current, orderPoints: 3 } });
  await live.call('POST /v1/purchases', { body: { orderId: 'under-v2', memberId: 'c3', amountCents: 30_000 } });
  await settle();
  noted = await books(live);
  // The point: after everything above, before the bad import. Both sides of it are on this machine's clock.
  pointMs = Date.now();
  const store = (shard: number) => openShardStore(join(liveDir, `shard-${shard}`), undefined, { readOnly: true });
  let latest = -1;
  for (let shard = 0; shard < 2; shard++) {
    const s = store(shard);
    const seq = logPosition(s).seq;
    const at = decodeLogHeader(s.log.getBinary(seq)!).committedAtMs;
    if (at > latest) { latest = at; lastBefore = { shard, batch: seq }; }
    void s.root.close();
  }
  expect(latest).toBeLessThanOrEqual(pointMs);
  await new Promise((r) => setTimeout(r, 20));

  // The bad import (every row's opening points wrong), then more business on every member.
  const bad = await live.call('POST /v1/import/members', { body: csv(Array.from({ length: 500 }, (_, i) => `b${i},Bad ${i},,1000000`)) });
  expect(bad).toMatchObject({ imported: 500, failed: 0 });
  for (let i = 0; i < 12; i++) await live.call('POST /v1/purchases', { body: { orderId: `after-${i}`, memberId: `c${i}`, amountCents: 5_000 } });
  await settle();
  expect((await books(live)).members).not.toBe(noted.members);
}, 120_000);

afterAll(async () => {
  await live.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Starts a server on a restored folder and reads its books; it must verify clean. */
async function restoredBooks(dir: string): Promise<Books> {
  const server = new ServerProcess(dir, { LOYALTY_SWEEP_INTERVAL_MS: '0' });
  await server.start();
  try {
    const b = await books(server);
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
    return b;
  } finally {
    await server.stop();
  }
}

describe('point-in-time recovery', () => {
  it('restores the backup carried forward to just before the bad import: the books noted then, export for export', async () => {
    const target = join(root, 'until-time');
    const r = cli('restore', backupDir, '--data', target, '--log-from', liveDir, '--until', new Date(pointMs).toISOString());
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.until.at).toBe(new Date(pointMs).toISOString());
    expect(report.shards.every((s: { stoppedBy: string; batches: number }) => s.stoppedBy === 'untilMs' && s.batches > 0)).toBe(true);
    const got = await restoredBooks(target);
    expect(got.summary).toEqual(noted.summary);
    expect(got.members).toBe(noted.members);
    expect(got.ledger).toBe(noted.ledger);
  }, 60_000);

  it('stops one shard at an entry and the others at that entry\'s instant with --until-batch', async () => {
    const target = join(root, 'until-batch');
    const r = cli('restore', backupDir, '--data', target, '--log-from', liveDir, '--until-batch', `${lastBefore.shard}:${lastBefore.batch}`);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.shards[lastBefore.shard]).toMatchObject({ toBatch: lastBefore.batch, stoppedBy: 'untilBatch' });
    const got = await restoredBooks(target);
    expect(got.summary).toEqual(noted.summary);
    expect(got.members).toBe(noted.members);
    expect(got.ledger).toBe(noted.ledger);
  }, 60_000);

  it('refuses a point before the backup, and a point without a live folder', () => {
    const early = cli('restore', backupDir, '--data', join(root, 'too-early'), '--log-from', liveDir, '--until', new Date(backupAtMs - 1).toISOString());
    expect(early.status).toBe(2);
    expect(early.stderr).toMatch(/after the point asked \(.+\): restore an earlier backup/);
    const alone = cli('restore', backupDir, '--data', join(root, 'no-live'), '--until', new Date(pointMs).toISOString());
    expect(alone.status).toBe(2);
    expect(alone.stderr).toContain('name it with --log-from LIVE_DATA');
  });
});
