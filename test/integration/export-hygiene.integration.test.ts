// CSV exports a spreadsheet can open safely: a UTF-8 byte-order mark first (Excel then reads
// 陳大文), text that would run as a formula (=, +, -, @, tab, CR) neutralised with a leading `'`
// while numbers (negative point deltas) stay numbers; and the import takes its own export back
// exactly, `'` undone, byte-order mark dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { ServerProcess } from '../helpers/server-process.js';

const a = new ServerProcess(ServerProcess.tempDataDir());
const b = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => {
  await Promise.all([a.start(), b.start()]);
  await a.call('POST /v1/members', { body: { memberId: 'x-1', name: '陳大文', phone: '+852 9123 4567', address: '=HYPERLINK("http://evil.example","click")' } });
  await a.call('POST /v1/members', { body: { memberId: '-x2', name: '@SUM(A1:A9)', gender: '+x', address: '-1+2' } });
  await a.call('POST /v1/members', { body: { memberId: 'x-3', name: '\t=1+1', address: '\'=already quoted' } });
  await a.call('POST /v1/members', { body: { memberId: 'x-4', name: 'Plain, "quoted"', email: 'a@example.com' } });
  await a.call('POST /v1/purchases', { body: { orderId: 'x-o1', memberId: 'x-1', amountCents: 60000 } });
  await a.call('POST /v1/points/adjustments', { body: { requestId: '-adj-1', memberId: 'x-1', points: -5, reason: 'correction' } });
});
afterAll(async () => {
  await Promise.all([a.stop(), b.stop()]);
  a.cleanup();
  b.cleanup();
});

async function download(server: ServerProcess, path: string): Promise<Buffer> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { headers: { authorization: `Bearer ${server.adminKey}` } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}
const table = (bytes: Buffer) => parse(bytes.toString('utf8'), { columns: true, bom: true }) as Array<Record<string, string>>;

describe('the members export', () => {
  it('starts with a UTF-8 byte-order mark and keeps Chinese names as UTF-8', async () => {
    const bytes = await download(a, '/v1/export/members.csv');
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.subarray(3, 12).toString('utf8')).toBe('memberId,');
    expect(bytes.includes(Buffer.from('陳大文', 'utf8'))).toBe(true);
  });

  it('neutralises text that opens like a formula, phones and ids included, and leaves numbers alone', async () => {
    const rows = table(await download(a, '/v1/export/members.csv'));
    const byId = Object.fromEntries(rows.map((r) => [r['memberId'], r]));
    expect(byId['x-1']).toMatchObject({ name: '陳大文', phone: '\'+85291234567', address: '\'=HYPERLINK("http://evil.example","click")', points: '25' });
    expect(byId['\'-x2']).toMatchObject({ name: '\'@SUM(A1:A9)', gender: '\'+x', address: '\'-1+2' });
    expect(byId['x-3']).toMatchObject({ name: '\'\t=1+1', address: '\'\'=already quoted' });
    expect(byId['x-4']).toMatchObject({ name: 'Plain, "quoted"', email: 'a@example.com' });
  });
});

describe('the ledger export', () => {
  it('starts with a byte-order mark, keeps negative deltas as numbers and neutralises text', async () => {
    const bytes = await download(a, '/v1/export/ledger.csv');
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = table(bytes);
    expect(rows.find((e) => e['kind'] === 'adjust')).toMatchObject({ memberId: 'x-1', pointsDelta: '-5', ref: 'req:-adj-1' });
    expect(rows.find((e) => e['kind'] === 'register' && e['memberId'] === '\'-x2')).toBeDefined();
    expect(rows.find((e) => e['kind'] === 'purchase')).toMatchObject({ pointsDelta: '30', spendDeltaCents: '60000' });
  });
});

describe('an export imported again', () => {
  it('gives back exactly the members: the byte-order mark dropped, every added `\'` undone', async () => {
    const exported = await download(a, '/v1/export/members.csv');
    const res = await fetch(`http://127.0.0.1:${b.port}/v1/import/members`, { method: 'POST', headers: { authorization: `Bearer ${b.adminKey}`, 'content-type': 'text/csv' }, body: exported });
    expect(await res.json()).toEqual({ imported: 4, skipped: 0, failed: 0, errors: [] });
    const fields = ['memberId', 'name', 'phone', 'email', 'gender', 'address'] as const;
    for (const id of ['x-1', '-x2', 'x-3', 'x-4']) {
      const [original, copy] = await Promise.all([a.call('GET /v1/members/:id', { params: { id } }), b.call('GET /v1/members/:id', { params: { id } })]);
      for (const f of fields) expect(copy[f], `${id}.${f}`).toBe(original[f]);
    }
    expect((await b.call('GET /v1/members/:id', { params: { id: 'x-3' } }))).toMatchObject({ name: '\t=1+1', address: '\'=already quoted' });
    expect((await b.call('GET /v1/members/by-phone/:phone', { params: { phone: '+852 9123 4567' } })).memberId).toBe('x-1');
    // The export of the copy is the export of the original, byte for byte but for the times.
    const again = table(await download(b, '/v1/export/members.csv'));
    const project = (rows: Array<Record<string, string>>) => rows.map((r) => fields.map((f) => r[f])).sort();
    expect(project(again)).toEqual(project(table(exported)));
  });
});
