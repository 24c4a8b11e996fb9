// The audit trail end to end: a scripted admin session over HTTP and the command line, listed by
// `GET /v1/admin/audit` in order with key ids, action, target and details, filtered by key id,
// action and time, paged by cursor; program changes name the paths they changed; a replayed
// adjustment is not recorded twice; the trail survives a restart and goes into backups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { loyaltyCli } from '../helpers/replay-check.js';
import { changedPaths } from '../../engine/rules/program-diff.js';

const dataDir = ServerProcess.tempDataDir();
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0' });
const backupDir = join(dataDir, '..', `${dataDir.split('/').pop()}-backup`);
let adminId = '';
let otherAdmin = { id: '', key: '' };
let posId = '';
let cliKeyId = '';

beforeAll(async () => {
  await server.start();
  adminId = (await server.call('GET /v1/whoami')).keyId;
  const program = (await server.call('GET /v1/program'));
  await server.call('PUT /v1/program', { body: { ...program, pointsExpiryDays: 90, tiers: program.tiers.map((t, i) => (i === 1 ? { ...t, name: 'Silver Plus' } : t)) } });
  posId = (await server.call('POST /v1/admin/keys', { body: { role: 'pos' } })).id;
  otherAdmin = await server.call('POST /v1/admin/keys', { body: { role: 'admin' } });
  await server.call('DELETE /v1/admin/keys/:id', { params: { id: posId } });
  await server.call('DELETE /v1/admin/keys/:id', { params: { id: posId } });
  const csv = ['memberId,name,phone', 'a1,Ann,+852 6000 0001', 'a2,Ben,+852 6000 0002', 'a3,Cat,not-a-phone'].join('\n');
  await server.client(otherAdmin.key).call('POST /v1/import/members', { body: csv });
  await server.client(otherAdmin.key).call('POST /v1/admin/sweep', { body: {} });
  await server.call('POST /v1/points/adjustments', { body: { requestId: 'adj-1', memberId: 'a1', points: 5, reason: 'typo on receipt' } });
  await server.call('POST /v1/points/adjustments', { body: { requestId: 'adj-1', memberId: 'a1', points: 5, reason: 'typo on receipt' } });
  await server.call('POST /v1/admin/backup', { body: { dir: backupDir } });
  const cli = loyaltyCli(dataDir, 'keys', 'create', '--role', 'reader');
  expect(cli.status, cli.stderr).toBe(0);
  cliKeyId = JSON.parse(cli.stdout).id;
}, 60_000);

afterAll(async () => {
  await server.stop();
  server.cleanup();
  rmSync(backupDir, { recursive: true, force: true });
});

describe('the audit trail', () => {
  it('lists the session in order with key ids, targets and details', async () => {
    const { records, nextCursor } = (await server.call('GET /v1/admin/audit', { query: { limit: '100' } }));
    expect(nextCursor).toBeNull();
    expect(records.map((r) => [r.action, r.keyId, r.target])).toEqual([
      ['program.change', adminId, '2'],
      ['key.create', adminId, posId],
      ['key.create', adminId, otherAdmin.id],
      ['key.revoke', adminId, posId],
      ['import', otherAdmin.id, null],
      ['sweep', otherAdmin.id, null],
      ['points.adjust', adminId, 'a1'],
      ['backup', adminId, backupDir],
      ['key.create', 'cli', cliKeyId],
    ]);
    expect(records[0]!.details).toEqual({ paths: ['tiers[1].name', 'pointsExpiryDays'] });
    expect(records[1]!.details).toEqual({ role: 'pos' });
    expect(records[4]!.details).toEqual({ rows: 3, accepted: 2, skipped: 0, refused: 1 });
    expect(records[6]!.details).toEqual({ points: 5, reason: 'typo on receipt' });
    for (const r of records) expect(Date.parse(r.at)).toBeGreaterThan(Date.now() - 120_000);
  });

  it('filters by key id, action and time, and pages by cursor', async () => {
    const byOther = (await server.call('GET /v1/admin/audit', { query: { keyId: otherAdmin.id } })).records;
    expect(byOther.map((r) => r.action)).toEqual(['import', 'sweep']);
    const creates = (await server.call('GET /v1/admin/audit', { query: { action: 'key.create' } })).records;
    expect(creates.map((r) => r.target)).toEqual([posId, otherAdmin.id, cliKeyId]);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await server.call('GET /v1/admin/audit', { query: { from: future } })).records).toEqual([]);
    const seen: string[] = [];
    let cursor = '';
    for (let pages = 0; pages < 10; pages++) {
      const page = (await server.call('GET /v1/admin/audit', { query: { limit: 4, cursor: cursor === '' ? undefined : cursor } }));
      seen.push(...page.records.map((r) => r.action));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(seen).toHaveLength(9);
    expect((await refusal(server.call('GET /v1/admin/audit', { query: { action: 'nope' } }))).status).toBe(400);
    await server.client(otherAdmin.key).call('GET /v1/admin/audit');
  });

  it('keeps the trail in a 0600 file that the backup took and a restart reads', async () => {
    expect(statSync(join(dataDir, 'audit.jsonl')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(backupDir, 'audit.jsonl'))).toBe(true);
    expect(readFileSync(join(backupDir, 'audit.jsonl'), 'utf8')).toContain('"points.adjust"');
    await server.stop();
    await server.start();
    expect((await server.call('GET /v1/admin/audit')).records).toHaveLength(9);
  }, 60_000);
});

describe('changedPaths', () => {
  it('names changed keys and elements, a resized array as one path, and counts past the limit', () => {
    expect(changedPaths({ a: 1, b: { c: [1, 2] }, d: [1] }, { a: 1, b: { c: [1, 3] }, d: [1, 2], e: null }, 10)).toEqual({ paths: ['b.c[1]', 'd', 'e'], more: 0 });
    expect(changedPaths({ a: 1, b: 2, c: 3 }, { a: 2, b: 3, c: 4 }, 2)).toEqual({ paths: ['a', 'b'], more: 1 });
    expect(changedPaths(1, 2, 5)).toEqual({ paths: ['(root)'], more: 0 });
  });
});
