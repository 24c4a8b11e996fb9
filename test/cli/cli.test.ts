// The `loyalty` command line on a real data folder: keys are created hashed, listed and revoked,
// and verify reports a clean ledger with exit code 0.
import { describe, expect, it, afterAll } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { getState, openShardStore, putState } from '../../engine/shard/store.js';
import { hashId } from '../../engine/router/member-hash.js';
import { acquireLock } from '../../engine/router/lock-file.js';

const dataDir = ServerProcess.tempDataDir();
const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], {
  env: { ...process.env, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: '2' }, encoding: 'utf8',
});

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('loyalty keys', () => {
  it('creates a key, stores only its hash, lists and revokes it', () => {
    const created = cli('keys', 'create', '--role', 'pos');
    expect(created.status).toBe(0);
    const { id, key, role } = JSON.parse(created.stdout) as { id: string; key: string; role: string };
    expect(role).toBe('pos');
    expect(readFileSync(join(dataDir, 'keys.json'), 'utf8')).not.toContain(key);
    expect(JSON.parse(cli('keys', 'list').stdout)).toEqual([expect.objectContaining({ id, role: 'pos', revoked: false })]);
    expect(cli('keys', 'revoke', id).status).toBe(0);
    expect(JSON.parse(cli('keys', 'list').stdout)[0].revoked).toBe(true);
    const again = cli('keys', 'revoke', id);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(`${id} was revoked already\n`);
    const unknown = cli('keys', 'revoke', 'k_000000000000');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no key with id k_000000000000');
  });

  it('waits for another process\'s change of keys.json to finish before making its own', async () => {
    // Held here as the server holds it while it writes: a `keys create` must not read the list until
    // the holder has written it, or it would write back a list without the holder's change.
    const lock = acquireLock(join(dataDir, 'keys.json.lock'), 'test holder');
    const before = readFileSync(join(dataDir, 'keys.json'), 'utf8');
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), 'keys', 'create', '--role', 'reader'], { env: { ...process.env, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: '2' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 400));
    expect(child.exitCode).toBe(null);
    expect(readFileSync(join(dataDir, 'keys.json'), 'utf8')).toBe(before);
    lock.release();
    expect(await exited).toBe(0);
    const { id } = JSON.parse(out) as { id: string };
    expect(JSON.parse(cli('keys', 'list').stdout).map((k: { id: string }) => k.id)).toContain(id);
  });

  it('refuses an unknown role and an unknown command with usage', () => {
    const bad = cli('keys', 'create', '--role', 'root');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--role');
    expect(cli('frobnicate').stderr).toContain('usage: loyalty');
  });
});

describe('loyalty help and the data folder', () => {
  it('prints the usage on stdout with exit 0 for --help, -h, help and no arguments', () => {
    for (const args of [['--help'], ['-h'], ['help'], [], ['import', '--help'], ['start', '-h']]) {
      const r = cli(...args);
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 0, stderr: '' });
      expect(r.stdout).toMatch(/^usage: loyalty <command>\n/);
      expect(r.stdout).toContain('help, --help, -h');
    }
  });

  it('prints the usage on stderr with exit 2 for an unknown command', () => {
    const r = cli('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^loyalty: unknown command "frobnicate"\nusage: loyalty <command>\n/);
  });

  it('refuses, with exit 1, to work on a data folder that does not exist, and does not create it', () => {
    const missing = join(dataDir, 'no-such-folder');
    const csv = join(dataDir, 'one-row.csv');
    writeFileSync(csv, 'memberId\nx-1\n');
    for (const args of [['import', csv], ['export', 'members'], ['verify'], ['keys', 'create', '--role', 'pos'], ['keys', 'list'], ['keys', 'revoke', 'k_1']]) {
      const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: { ...process.env, LOYALTY_DATA: missing, LOYALTY_SHARDS: '2' }, encoding: 'utf8' });
      expect({ args, status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
        args, status: 1, stdout: '', stderr: `loyalty: no data folder at ${missing}: set LOYALTY_DATA to the server's data folder, or start the server once to create it\n`,
      });
      expect(existsSync(missing)).toBe(false);
    }
  });
});

describe('loyalty verify', () => {
  it('recomputes members written by a server and exits 0 when clean', async () => {
    const server = new ServerProcess(dataDir);
    await server.start();
    await server.post('/v1/members', { memberId: 'v-1' });
    await server.post('/v1/purchases', { orderId: 'v-o1', memberId: 'v-1', amountCents: 4000 });
    await server.stop();
    const out = execFileSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), 'verify'], { env: { ...process.env, LOYALTY_DATA: dataDir }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ ok: true, members: 1, entries: 3, mismatches: [] });
  });

  it('reports a stored balance that differs from the fold of its entries, and exits 1', async () => {
    const store = openShardStore(join(dataDir, `shard-${hashId('v-1') % 2}`));
    const rec = getState(store, 'v-1')!;
    store.root.transactionSync(() => putState(store, 'v-1', { ...rec, points: rec.points + 1 }));
    await store.root.close();
    const out = cli('verify');
    expect(out.status).toBe(1);
    expect(JSON.parse(out.stdout).mismatches).toEqual([
      { memberId: 'v-1', field: 'points', stored: rec.points + 1, ledger: rec.points },
      // The shard's running total no longer matches the members either.
      { memberId: null, field: 'totals.pointsOutstanding', stored: rec.points, ledger: rec.points + 1 },
    ]);
  });
});
