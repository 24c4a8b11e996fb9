// One data folder, one writer process, on real processes: a second server and `loyalty import` are
// refused while a server holds the folder (exit 1, naming the folder and the holder's pid), `verify`
// and `export` work beside it and write nothing (a held cross-shard credit stays undelivered), and
// after a SIGKILL of the holder the next start takes the folder over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { hashId } from '../../engine/router/member-hash.js';

const dataDir = ServerProcess.tempDataDir();
const folder = resolve(dataDir);
const lockPath = join(dataDir, 'writer.lock');
// Cross-shard credits are written but not delivered: a reader that delivered them would show.
const first = new ServerProcess(dataDir, { LOYALTY_TEST_HOLD_OUTBOX: '1' });
const csv = join(dataDir, '..', `${folder.split('/').pop()}-import.csv`);

/** Two member ids on different shards of two. */
const onShard = (shard: number, prefix: string): string => {
  for (let i = 0; ; i++) if (hashId(`${prefix}-${i}`) % 2 === shard) return `${prefix}-${i}`;
};
const from = onShard(0, 'wl-from');
const to = onShard(1, 'wl-to');

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], {
      env: { ...process.env, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: '2' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

const inUse = (pid: number, holder: string) => `loyalty: ${folder} is in use by ${holder}, pid ${pid}, since `;

beforeAll(async () => {
  writeFileSync(csv, 'memberId,name\nwl-imported,Imported\n');
  await first.start();
  for (const memberId of [from, to]) expect((await first.post('/v1/members', { memberId, name: memberId })).status).toBe(201);
  expect((await first.post('/v1/wallet/topups', { requestId: 'wl-t', memberId: from, amountCents: 5000 })).status).toBe(200);
  expect((await first.post('/v1/wallet/transfers', { requestId: 'wl-x', fromMemberId: from, toMemberId: to, amountCents: 1200 })).status).toBe(200);
});

afterAll(async () => {
  await first.stop();
  first.cleanup();
  rmSync(csv, { force: true });
});

describe('one writer process per data folder', () => {
  it('refuses a second server on the folder: exit 1, naming the folder and the pid holding it', async () => {
    const second = new ServerProcess(dataDir, { PORT: '0' });
    const refused = await second.start().then(() => null, (err: Error) => err.message);
    expect(refused).toContain('server exited 1');
    expect(refused).toContain(inUse(first.child!.pid!, 'the server').slice('loyalty: '.length));
    expect(refused).toContain('one data folder has one writer process');
    // The first server is untouched.
    expect((await first.get('/v1/members/' + from)).status).toBe(200);
    expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: first.child!.pid, command: 'the server' });
  });

  it('refuses `loyalty import` on the live folder with exit 1, importing nothing', async () => {
    const r = await cli('import', csv);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(inUse(first.child!.pid!, 'the server'));
    expect(r.stdout).toBe('');
    expect((await first.get('/v1/members/wl-imported')).status).toBe(404);
  });

  it('runs `verify` and `export` on the live folder, writing nothing', async () => {
    const verify = await cli('verify');
    expect(verify.status, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, members: 2, mismatches: [] });
    const exported = await cli('export', 'members');
    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stdout).toContain(`${from},`);
    expect(exported.stdout).toContain(`${to},`);
    // A reader that opened the folder as a writer would have delivered the held credit.
    expect((await first.get(`/v1/members/${to}`)).body.walletCents).toBe(0);
    // And the server carries on writing.
    expect((await first.post('/v1/purchases', { orderId: 'wl-o1', memberId: from, amountCents: 1000 })).status).toBe(200);
    expect((await first.get('/v1/admin/verify')).body).toMatchObject({ ok: true });
  });

  it('lets the next server take the folder after a SIGKILL of the holder, and frees it at a stop', async () => {
    const killedPid = first.child!.pid!;
    await first.kill();
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).pid).toBe(killedPid);
    const next = new ServerProcess(dataDir);
    await next.start();
    try {
      expect(JSON.parse(readFileSync(lockPath, 'utf8')).pid).toBe(next.child!.pid);
      // The writer delivers what the killed one held back.
      let wallet = 0;
      for (let i = 0; i < 100 && wallet === 0; i++) {
        wallet = (await next.get(`/v1/members/${to}`)).body.walletCents;
        if (wallet === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(wallet).toBe(1200);
    } finally {
      await next.stop();
    }
    expect(existsSync(lockPath)).toBe(false);
    const imported = await cli('import', csv);
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ imported: 1, failed: 0 });
    expect(existsSync(lockPath)).toBe(false);
  });
});
