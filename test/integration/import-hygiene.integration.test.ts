// What spreadsheets write, imported on a real server: dates as YYYY-MM-DD, YYYY/M/D and D/M/YYYY
// (M/D/YYYY when the program's csvDayFirst is false), amounts with thousands separators, rows of
// empty cells skipped and not counted, an over-long line failing alone with its line number while
// every valid row after it is imported; and an import whose rows name a referrer a few lines above
// finishing every row, twice, on an idle server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { IMPORT_ROW_BYTES_MAX } from '../../engine/limits.js';

const server = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => { await server.start(); });
afterAll(async () => {
  await server.stop();
  server.cleanup();
});

const importCsv = (csv: string) => server.call('POST /v1/import/members', { body: csv });
const member = async (id: string) => (await server.call('GET /v1/members/:id', { params: { id } }));

describe('dates in a CSV import', () => {
  it('reads YYYY-MM-DD, YYYY/M/D and D/M/YYYY (day first by default), and refuses the rest by line', async () => {
    const r = await importCsv([
      'memberId,birthday',
      'd-1,1990-03-04',
      'd-2,1990/3/4',
      'd-3,4/3/1990',
      'd-4,31/12/1990',
      'd-5,12/31/1990',
      'd-6,30/2/1990',
      'd-7,1990.03.04',
      'd-8,04/03/1990',
    ].join('\n') + '\n');
    expect(r).toEqual({
      imported: 5, skipped: 0, failed: 3,
      errors: [
        expect.objectContaining({ row: 6, code: 'invalid_request', field: 'birthday' }),
        expect.objectContaining({ row: 7, code: 'invalid_request', field: 'birthday' }),
        expect.objectContaining({ row: 8, code: 'invalid_request', field: 'birthday' }),
      ],
    });
    for (const id of ['d-1', 'd-2', 'd-3', 'd-8']) expect((await member(id)).birthday, id).toBe('1990-03-04');
    expect((await member('d-4')).birthday).toBe('1990-12-31');
  });

  it('reads M/D/YYYY once the program says csvDayFirst: false', async () => {
    const program = (await server.call('GET /v1/program'));
    expect(program.csvDayFirst).toBe(true);
    expect((await refusal(server.call('PUT /v1/program', { body: { ...program, csvDayFirst: 'no' } })))).toMatchObject({ code: 'invalid_request', field: 'csvDayFirst' });
    await server.call('PUT /v1/program', { body: { ...program, csvDayFirst: false } });
    try {
      const r = await importCsv('memberId,birthday\nu-1,4/3/1990\nu-2,12/31/1990\nu-3,31/12/1990\nu-4,1990/3/4\n');
      expect(r).toEqual({ imported: 3, skipped: 0, failed: 1, errors: [expect.objectContaining({ row: 4, code: 'invalid_request', field: 'birthday' })] });
      expect((await member('u-1')).birthday).toBe('1990-04-03');
      expect((await member('u-2')).birthday).toBe('1990-12-31');
      expect((await member('u-4')).birthday).toBe('1990-03-04');
    } finally {
      await server.call('PUT /v1/program', { body: { ...program, csvDayFirst: true } });
    }
  });
});

describe('amounts in a CSV import', () => {
  it('take thousands separators, quoted as CSV requires, and refuse misplaced ones', async () => {
    const r = await importCsv([
      'memberId,points,walletCents',
      'a-1,"1,000","12,345,678"',
      'a-2,1000,"100"',
      'a-3," 2,500 ",',
      'a-4,"1,00",',
      'a-5,"1,0000",',
      'a-6,1,000,',
      'a-7,"-1,000",',
    ].join('\r\n') + '\r\n');
    expect(r).toEqual({
      imported: 3, skipped: 0, failed: 4,
      errors: [
        expect.objectContaining({ row: 5, code: 'invalid_request', field: 'points' }),
        expect.objectContaining({ row: 6, code: 'invalid_request', field: 'points' }),
        expect.objectContaining({ row: 7, code: 'invalid_request', field: '(row)' }),
        expect.objectContaining({ row: 8, code: 'invalid_request', field: 'points' }),
      ],
    });
    expect(await member('a-1')).toMatchObject({ points: 1000, walletCents: 12_345_678 });
    expect(await member('a-2')).toMatchObject({ points: 1000, walletCents: 100 });
    expect(await member('a-3')).toMatchObject({ points: 2500, walletCents: 0 });
  });
});

describe('rows of empty cells', () => {
  it('are skipped and counted nowhere; the rows after them keep their line numbers', async () => {
    const r = await importCsv(['memberId,name,phone', ',,', 'e-1,Eve,', ' , , ', '', 'e-2,Ed,+852 12', ',,', 'e-3,Em,'].join('\n') + '\n,,\n');
    expect(r).toEqual({ imported: 2, skipped: 0, failed: 1, errors: [expect.objectContaining({ row: 6, code: 'invalid_request', field: 'phone' })] });
    expect((await member('e-3')).name).toBe('Em');
  });
});

describe('an over-long line', () => {
  it('fails alone with its line number, and every valid row after it is imported', async () => {
    const long = `l-2,${'x'.repeat(IMPORT_ROW_BYTES_MAX)}`;
    // A quoted field spanning three lines, over the bound: one row, and the lines after it keep their numbers.
    const longQuoted = `l-4,"${'y'.repeat(IMPORT_ROW_BYTES_MAX / 2)}\n${'y'.repeat(IMPORT_ROW_BYTES_MAX / 2)}\ny"`;
    const rows = ['memberId,name', 'l-1,One', long, 'l-3,Three', longQuoted];
    for (let i = 5; i < 1_005; i++) rows.push(`l-${i},Member ${i}`);
    rows.push('l-5,Repeat of l-5 with another name');
    const r = await importCsv(rows.join('\n') + '\n');
    expect(r).toEqual({
      imported: 1_002, skipped: 0, failed: 3,
      errors: [
        expect.objectContaining({ row: 3, code: 'invalid_request', field: '(row)', message: `the row is longer than ${IMPORT_ROW_BYTES_MAX} bytes` }),
        expect.objectContaining({ row: 5, code: 'invalid_request', field: '(row)' }),
        expect.objectContaining({ row: 1_008, code: 'member_exists' }),
      ],
    });
    expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'l-2' } }))).status).toBe(404);
    expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'l-4' } }))).status).toBe(404);
    expect((await member('l-1004')).name).toBe('Member 1004');
    // A row of exactly the bound is not over it.
    const exact = `l-x,${'z'.repeat(IMPORT_ROW_BYTES_MAX - 'l-x,'.length)}`;
    const atBound = await importCsv(`memberId,address\n${exact}\n`);
    // It reaches validation (the address is longer than any text field may be), so it is a field error, not a row error.
    expect(atBound.errors).toEqual([expect.objectContaining({ row: 2, code: 'invalid_request', field: 'address' })]);
  });

  it('as the header refuses the file', async () => {
    expect(await refusal(importCsv(`memberId,${'n'.repeat(IMPORT_ROW_BYTES_MAX)}\nh-1\n`))).toMatchObject({ status: 400, code: 'invalid_request', field: 'header' });
  });
});

describe('rows naming a referrer a few lines above', () => {
  it('all get in on an idle server, and all replay the second time: none fails as overloaded', async () => {
    const program = (await server.call('GET /v1/program'));
    const levels = [{ registerPoints: 10, firstPurchasePoints: 0, repeatPurchasePoints: 0, purchaseSharePct: 0 }];
    await server.call('PUT /v1/program', { body: { ...program, referral: { enabled: true, refereePoints: 0, levels } } });
    const count = 20_000;
    const lines = ['memberId,name,referrerId'];
    // Every second row names the row three lines above it, which has no referrer of its own.
    for (let i = 0; i < count; i++) lines.push(`r-${i},Member ${i},${i % 2 === 1 ? `r-${i - 3}` : ''}`);
    const csv = lines.join('\n') + '\n';
    const first = await importCsv(csv);
    expect(first).toEqual({ imported: count - 1, skipped: 0, failed: 1, errors: [expect.objectContaining({ row: 3, code: 'referrer_not_found' })] });
    const again = await importCsv(csv);
    expect(again).toEqual({ imported: 0, skipped: count - 1, failed: 1, errors: [expect.objectContaining({ row: 3, code: 'referrer_not_found' })] });
    expect((await member('r-19999')).referrerId).toBe('r-19996');
    const deadline = Date.now() + 10_000;
    while ((await member('r-19996')).points !== 10 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect((await member('r-19996')).points).toBe(10);
    expect((await server.call('GET /v1/admin/verify')).ok).toBe(true);
  }, 120_000);
});
