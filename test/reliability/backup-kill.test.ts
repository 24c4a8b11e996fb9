// A SIGKILL during a backup: the live data is untouched (the restarted server serves the same books,
// verify is clean) and the partial backup, whose manifest was never written, is refused by
// `loyalty restore` with a clear message and nothing written. A complete backup whose files were
// changed afterwards (a truncated or altered data file) is refused as not matching its manifest. The
// backup waits between its copies and its manifest under LOYALTY_TEST_BACKUP_STALL_MS (fault
// injection), so the kill lands after the shards' copies and before the manifest; meanwhile a
// second backup is refused with 409 backup_running.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ServerProcess } from '../helpers/server-process.js';

const root = mkdtempSync(join(tmpdir(), 'loyalty-backup-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function cli(env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a backup killed before its manifest', () => {
  it('leaves the live data untouched and is refused on restore', async () => {
    const dataDir = join(root, 'live');
    const partial = join(root, 'partial');
    const server = new ServerProcess(dataDir, { LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_TEST_BACKUP_STALL_MS: '60000' });
    await server.start();
    for (let i = 0; i < 20; i++) expect((await server.post('/v1/members', { memberId: `k${i}` })).status).toBe(201);
    for (let i = 0; i < 20; i++) expect((await server.post('/v1/purchases', { orderId: `ko-${i}`, memberId: `k${i}`, amountCents: 12_345 })).status).toBe(200);
    const summary = (await server.get('/v1/reports/summary')).body;
    const ledger = (await server.get('/v1/export/ledger.csv')).body;

    const pending = server.post('/v1/admin/backup', { dir: partial }).catch(() => null);
    // The copies are done (both data files complete and synced) and the manifest is not written.
    const deadline = Date.now() + 20_000;
    const copied = () => [0, 1].every((s) => (statSync(join(partial, `shard-${s}`, 'data.mdb'), { throwIfNoEntry: false })?.size ?? 0) > 0)
      && existsSync(join(partial, 'engine.json'));
    while (!copied()) {
      if (Date.now() > deadline) throw new Error('the copies did not appear');
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = await server.post('/v1/admin/backup', { dir: join(root, 'second') });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('backup_running');
    // Writes go on while the backup is held open.
    expect((await server.post('/v1/purchases', { orderId: 'during', memberId: 'k0', amountCents: 1_000 })).status).toBe(200);
    await server.kill();
    await pending;
    expect(existsSync(join(partial, 'backup.json'))).toBe(false);

    // The live folder: the restarted server serves the books as they were, plus the one purchase made during the backup.
    const restarted = new ServerProcess(dataDir, { LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await restarted.start();
    try {
      const now = (await restarted.get('/v1/reports/summary')).body;
      expect(now.purchases).toBe(summary.purchases + 1);
      expect(now.netSalesCents).toBe(summary.netSalesCents + 1_000);
      expect(now.members).toBe(summary.members);
      // Every ledger line from before, and one more: the purchase made during the backup.
      const lines = (csv: unknown) => String(csv).split('\n').filter((l) => l !== '');
      const after = lines((await restarted.get('/v1/export/ledger.csv')).body);
      expect(after.filter((l) => !lines(ledger).includes(l))).toEqual([expect.stringContaining('during')]);
      expect(after).toHaveLength(lines(ledger).length + 1);
      expect((await restarted.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
      expect((await restarted.post('/v1/purchases', { orderId: 'after', memberId: 'k1', amountCents: 1_000 })).status).toBe(200);
    } finally {
      await restarted.stop();
    }
    const verify = cli({ LOYALTY_DATA: dataDir }, 'verify');
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);

    // The partial backup is refused, and nothing is written at the target.
    const target = join(root, 'from-partial');
    const refused = cli({}, 'restore', partial, '--data', target);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`loyalty: ${partial} is not a complete backup: it has no backup.json, which a backup writes last`);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(root).filter((n) => n.includes('.restoring-'))).toEqual([]);
  }, 60_000);

  it('refuses a complete backup whose files no longer match its manifest', async () => {
    const dataDir = join(root, 'live-2');
    const server = new ServerProcess(dataDir, { LOYALTY_SWEEP_INTERVAL_MS: '0' });
    await server.start();
    const backups = ['truncated', 'altered', 'missing'].map((name) => join(root, `backup-${name}`));
    try {
      for (let i = 0; i < 5; i++) expect((await server.post('/v1/members', { memberId: `t${i}` })).status).toBe(201);
      for (const dir of backups) expect((await server.post('/v1/admin/backup', { dir })).status).toBe(200);
    } finally {
      await server.stop();
    }
    const [truncated, altered, missing] = backups as [string, string, string];
    const file = (dir: string) => join(dir, 'shard-1', 'data.mdb');
    const bytes = statSync(file(truncated)).size;
    truncateSync(file(truncated), bytes - 4096);
    const data = readFileSync(file(altered));
    data[data.length - 100] = data[data.length - 100]! ^ 0xff;
    writeFileSync(file(altered), data);
    rmSync(join(missing, 'keys.json'));

    const t1 = cli({}, 'restore', truncated, '--data', join(root, 'r-truncated'));
    expect(t1.status).toBe(2);
    expect(t1.stderr).toContain(`${truncated} does not match its manifest: shard-1/data.mdb is ${bytes - 4096} bytes, the manifest says ${bytes}`);
    const t2 = cli({}, 'restore', altered, '--data', join(root, 'r-altered'));
    expect(t2.status).toBe(2);
    expect(t2.stderr).toContain(`${altered} does not match its manifest: the SHA-256 of shard-1/data.mdb differs from the manifest's`);
    const t3 = cli({}, 'restore', missing, '--data', join(root, 'r-missing'));
    expect(t3.status).toBe(2);
    expect(t3.stderr).toContain(`${missing} does not match its manifest: keys.json is missing`);
    for (const name of ['r-truncated', 'r-altered', 'r-missing']) expect(existsSync(join(root, name))).toBe(false);
    expect(readdirSync(root).filter((n) => n.includes('.restoring-'))).toEqual([]);
  }, 60_000);
});
