// The back-office commands of `loyalty` on real data folders: import a CSV file with progress on
// stderr (again: nothing new), export members and the ledger to a file or stdout, sweep through a
// running server, and clear errors (exit 2) for a missing file, a wrong subcommand, no server, and a
// server without the sweep endpoint.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { ROOT, ServerProcess } from '../helpers/server-process.js';

const dataDir = ServerProcess.tempDataDir();
const work = mkdtempSync(join(tmpdir(), 'loyalty-cli-bo-'));
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

interface Run { status: number | null; stdout: string; stderr: string }

/** Runs the CLI without blocking the test's event loop (a test's own HTTP server must keep answering). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], {
      env: { ...process.env, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: '2', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const ROWS = 3_000;

describe('loyalty import', () => {
  const file = join(work, 'members.csv');
  writeFileSync(file, ['memberId,name,phone,points', ...Array.from({ length: ROWS }, (_, i) => `c-${i},"Member ${i}",+852 ${20_000_000 + i},${i % 7}`), 'bad-1,Bad,not a phone,'].join('\n') + '\n');

  it('imports a file straight into the data folder, reports progress on stderr and the bad row', async () => {
    const r = await cli(['import', file]);
    expect(r.status, r.stderr).toBe(1); // one row was refused
    const result = JSON.parse(r.stdout) as { imported: number; skipped: number; failed: number; errors: Array<{ row: number; code: string }> };
    expect(result).toMatchObject({ imported: ROWS, skipped: 0, failed: 1 });
    expect(result.errors).toEqual([expect.objectContaining({ row: ROWS + 2, code: 'invalid_request', field: 'phone' })]);
    expect(r.stderr).toMatch(new RegExp(`import: ${(ROWS + 1).toLocaleString('en-US')} rows, 100% of .*members\\.csv, [\\d,]+ rows/s`));
  });

  it('imports nothing the second time', async () => {
    const r = await cli(['import', file]);
    expect(JSON.parse(r.stdout)).toMatchObject({ imported: 0, skipped: ROWS, failed: 1 });
  });

  it('explains a missing file and a missing argument', async () => {
    const missing = await cli(['import', join(work, 'nope.csv')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('no such file');
    expect((await cli(['import'])).stderr).toContain('import needs a CSV file');
    const latin1 = join(work, 'latin1.csv');
    writeFileSync(latin1, Buffer.concat([Buffer.from('memberId,name\nl-1,Jos'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const bad = await cli(['import', latin1]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('(body): the CSV is not valid UTF-8');
  });
});

describe('loyalty export', () => {
  it('writes the members to a file, with progress against the member count', async () => {
    const out = join(work, 'out-members.csv');
    const r = await cli(['export', 'members', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(`${out}.partial`)).toBe(false);
    const text = readFileSync(out, 'utf8');
    // A UTF-8 byte-order mark first, for Excel; a phone is text, so its `+` gets a leading `'`.
    expect(text.startsWith('\ufeffmemberId,')).toBe(true);
    const rows = parse(text, { columns: true, bom: true }) as Array<Record<string, string>>;
    expect(rows.length).toBe(ROWS);
    expect(rows.find((m) => m['memberId'] === 'c-10')).toMatchObject({ name: 'Member 10', phone: '\'+85220000010', points: '3', tierId: 'member' });
    expect(r.stderr).toContain(`export members: ${ROWS.toLocaleString('en-US')} / ${ROWS.toLocaleString('en-US')} rows`);
  });

  it('writes the ledger to stdout, and refuses a half range or an unknown export', async () => {
    const r = await cli(['export', 'ledger']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith('\ufeffshard,seq,')).toBe(true);
    const rows = parse(r.stdout, { columns: true, bom: true }) as Array<Record<string, string>>;
    expect(rows.filter((e) => e['kind'] === 'register').length).toBe(ROWS);
    const half = await cli(['export', 'ledger', '--from', '2025-01-01']);
    expect(half.status).toBe(2);
    expect(half.stderr).toContain('to: must be a date');
    expect((await cli(['export', 'orders'])).stderr).toContain('export needs members, ledger or coupons');
  });

  it('writes the coupons (none in this folder: the header alone) to stdout', async () => {
    const r = await cli(['export', 'coupons']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('\ufeffcode,templateId,memberId,state,issuedAt,validFrom,expiresAt,source,orderId,usedOrderId,discountCents\r\n');
  });
});

describe('loyalty sweep', () => {
  it('asks the running server to sweep and prints its answer', async () => {
    const server = new ServerProcess(dataDir);
    await server.start();
    try {
      const r = await cli(['sweep', '--as-of', new Date(Date.now() - 60_000).toISOString()], { LOYALTY_URL: `http://127.0.0.1:${server.port}` });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toHaveProperty('asOf');
      const future = await cli(['sweep', '--as-of', '2999-01-01T00:00:00Z'], { LOYALTY_URL: `http://127.0.0.1:${server.port}` });
      expect(future.status).toBe(1);
      expect(future.stderr).toContain('sweep failed with 400 invalid_request');
    } finally {
      await server.stop();
    }
  });

  it('says so when no server answers, or the server has no sweep endpoint', async () => {
    const down = await cli(['sweep'], { LOYALTY_URL: 'http://127.0.0.1:9' });
    expect(down.status).toBe(2);
    expect(down.stderr).toContain('no server answers at http://127.0.0.1:9');
    const old = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'route_not_found', message: 'no such endpoint' } }));
    });
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
    try {
      const port = (old.address() as { port: number }).port;
      const r = await cli(['sweep'], { LOYALTY_URL: `http://127.0.0.1:${port}` });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('has no /v1/admin/sweep endpoint');
    } finally {
      old.close();
    }
  });
});
