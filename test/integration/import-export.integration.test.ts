// CSV import and export on a real server: row-level errors by line number (the header is line 1,
// a quoted field may span lines), re-import imports nothing, exports match the API, the ledger
// export honours its local-date range, and members exported from one server and imported into a
// fresh one come back the same (a referee listed before its referrer included).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { IMPORT_COLUMNS } from '../../server/member-csv.js';

const a = new ServerProcess(ServerProcess.tempDataDir());
const b = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => { await Promise.all([a.start(), b.start()]); });
afterAll(async () => {
  await Promise.all([a.stop(), b.stop()]);
  a.cleanup();
  b.cleanup();
});

async function send(server: ServerProcess, method: string, path: string, body?: string, key: string = server.adminKey): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' }, body });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}
const importCsv = async (server: ServerProcess, csv: string, key?: string) => {
  const r = await send(server, 'POST', '/v1/import/members', csv, key);
  return { status: r.status, body: JSON.parse(r.text) };
};
const rows = (csv: string) => parse(csv, { columns: true, bom: true }) as Array<Record<string, string>>;
/** A value as the export writes it: text that opens like a formula (a phone's `+`) gets a leading `'`. */
const cellOf = (v: unknown) => (v === null ? '' : typeof v === 'string' && /^'*[=+\-@\t\r]/.test(v) ? `'${v}` : String(v));

const FILE = [
  'memberId,name,phone,email,birthday,points,walletCents,tierId,referrerId',
  'i1,"Ada, Countess",+852 1000 0001,ada@example.com,1990-12-10,100,500,silver,',
  'i2,"Bo',
  'Line",+852 1000 0002,,,,,,',
  '',
  'i3,Cy,+852 1000 0001,,,,,,',
  'i4,Di,,not-an-email,,,,,',
  'i5,Ed,,,,,,platinum,',
  ',Anon,+852 1000 0009,,,,,,',
  'i6,Fay,,,,,,,i7',
  'i7,Gus,,,,,,,',
  'i8,Hal,,,,,,,nobody',
  'i9,Ivy,,,,12.5,,,',
  'i10,too,many,fields,,,,,,,',
].join('\r\n') + '\r\n';

const ROW_ERRORS = [
  { row: 6, code: 'phone_taken' },
  { row: 7, code: 'invalid_request', field: 'email' },
  { row: 8, code: 'tier_not_found' },
  { row: 12, code: 'referrer_not_found', field: 'referrerId' },
  { row: 13, code: 'invalid_request', field: 'points' },
  { row: 14, code: 'invalid_request', field: '(row)' },
];

describe('POST /v1/import/members', () => {
  it('imports the valid rows and names every refused row by its line', async () => {
    const r = await importCsv(a, FILE);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ imported: 5, skipped: 0, failed: 6 });
    expect(r.body.errors).toEqual(ROW_ERRORS.map((e) => expect.objectContaining(e)));
    expect((await a.call('GET /v1/members/:id', { params: { id: 'i1' } }))).toMatchObject({ name: 'Ada, Countess', phone: '+85210000001', email: 'ada@example.com', birthday: '1990-12-10', points: 100, walletCents: 500, tierId: 'silver' });
    expect((await a.call('GET /v1/members/:id', { params: { id: 'i2' } })).name).toBe('Bo\r\nLine');
    // Its referrer came two lines later: the row waited for it.
    expect((await a.call('GET /v1/members/:id', { params: { id: 'i6' } }))).toMatchObject({ referrerId: 'i7' });
    expect((await a.call('GET /v1/members/by-phone/:phone', { params: { phone: '+852 1000 0009' } })).name).toBe('Anon');
  });

  it('imports nothing when the same file comes again: every imported row is a replay', async () => {
    const r = await importCsv(a, FILE);
    expect(r.body).toMatchObject({ imported: 0, skipped: 5, failed: 6 });
    expect(r.body.errors).toEqual(ROW_ERRORS.map((e) => expect.objectContaining(e)));
    expect((await a.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, members: 5 });
  });

  it('refuses a file without a valid header whole, and non-admin keys', async () => {
    const unknown = await importCsv(a, 'memberId,nickname\nx1,X\n');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'invalid_request', field: 'header' });
    expect((await importCsv(a, '')).body.error).toMatchObject({ code: 'invalid_request', field: 'header' });
    expect((await importCsv(a, 'memberId,name,name\n')).body.error.field).toBe('header');
    const pos = (await a.call('POST /v1/admin/keys', { body: { role: 'pos' } })).key;
    expect((await importCsv(a, 'memberId\nx2\n', pos)).status).toBe(403);
    expect((await refusal(a.call('GET /v1/members/:id', { params: { id: 'x1' } }))).status).toBe(404);
  });
});

describe('a file larger than a JSON body', () => {
  it('streams an import past 1 MiB and streams the export of all of it back', async () => {
    const big = new ServerProcess(ServerProcess.tempDataDir());
    await big.start();
    try {
      await streamedRoundTrip(big);
    } finally {
      await big.stop();
      big.cleanup();
    }
  });
});

describe('an import of several shard batches', () => {
  it('keeps file order across batches: repeats, a taken phone, and referees of rows still being gathered', async () => {
    const server = new ServerProcess(ServerProcess.tempDataDir());
    await server.start();
    try {
      // Referral rewards on registration, three levels: a referee's chain is its referrer's and above.
      const program = (await server.call('GET /v1/program'));
      const levels = [100, 50, 25].map((registerPoints) => ({ registerPoints, firstPurchasePoints: 0, repeatPurchasePoints: 0, purchaseSharePct: 0 }));
      await server.call('PUT /v1/program', { body: { ...program, referral: { enabled: true, refereePoints: 0, levels } } });
      const count = 12_000;
      const id = (i: number) => `x${String(i).padStart(5, '0')}`;
      const lines = ['memberId,name,phone,referrerId'];
      for (let i = 0; i < count; i++) lines.push(`${id(i)},Member ${i},+852 2${String(i).padStart(7, '0')},`);
      lines.push(
        `z1,Referee of an early row,,${id(10)}`,
        `${id(100)},Member 100,+852 2${String(100).padStart(7, '0')},`,
        `${id(200)},Not member 200,,`,
        `y1,Phone clash,+852 2${String(5).padStart(7, '0')},`,
        `z2,Referee of the last row,,${id(count - 1)}`,
        'z3,Referee of a referee,,z1',
      );
      const r = await importCsv(server, lines.join('\n') + '\n');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ imported: count + 3, skipped: 1, failed: 2 });
      expect(r.body.errors).toEqual([
        expect.objectContaining({ row: count + 4, code: 'member_exists' }),
        expect.objectContaining({ row: count + 5, code: 'phone_taken', field: 'phone' }),
      ]);
      expect((await server.call('GET /v1/members/:id', { params: { id: id(200) } })).name).toBe('Member 200');
      expect((await server.call('GET /v1/members/:id', { params: { id: 'z1' } }))).toMatchObject({ referrerId: id(10) });
      expect((await server.call('GET /v1/members/:id', { params: { id: 'z2' } }))).toMatchObject({ referrerId: id(count - 1) });
      expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'y1' } }))).status).toBe(404);
      expect((await server.call('GET /v1/members/:id', { params: { id: 'z3' } })).referralChain).toEqual(['z1', id(10)]);
      // A referrer from before this import: its chain is read from its shard.
      expect((await importCsv(server, 'memberId,referrerId\nw1,z3\n')).body).toMatchObject({ imported: 1, failed: 0 });
      expect((await server.call('GET /v1/members/:id', { params: { id: 'w1' } })).referralChain).toEqual(['z3', 'z1', id(10)]);
      // Registration rewards up the chains, once the cross-shard credits have landed.
      const expected = { [id(10)]: 100 + 50 + 25, z1: 100 + 50, z3: 100 };
      const deadline = Date.now() + 5_000;
      const seen = async () => Object.fromEntries(await Promise.all(Object.keys(expected).map(async (m) => [m, (await server.call('GET /v1/members/:id', { params: { id: m } })).points])));
      while (JSON.stringify(await seen()) !== JSON.stringify(expected) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      expect(await seen()).toEqual(expected);
      expect((await server.call('GET /v1/members/by-phone/:phone', { params: { phone: '+852 20000005' } })).memberId).toBe(id(5));
      expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, members: count + 4 });
      // The directory is rebuilt from the profiles: after a restart the phone is still taken.
      await server.stop();
      await server.start();
      expect((await refusal(server.call('POST /v1/members', { body: { memberId: 'y2', phone: '+852 20000005' } }))).code).toBe('phone_taken');
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
});

async function streamedRoundTrip(b: ServerProcess): Promise<void> {
  {
    const count = 20_000;
    const lines = ['memberId,name,address'];
    for (let i = 0; i < count; i++) lines.push(`big-${String(i).padStart(6, '0')},Member ${i},${'x'.repeat(40)}`);
    const csv = lines.join('\n') + '\n';
    expect(Buffer.byteLength(csv)).toBeGreaterThan(1024 * 1024);
    const r = await importCsv(b, csv);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ imported: count, skipped: 0 });
    const exported = await send(b, 'GET', '/v1/export/members.csv');
    expect(exported.status).toBe(200);
    expect(rows(exported.text).filter((m) => m['memberId']!.startsWith('big-'))).toHaveLength(count);
  }
}

describe('GET /v1/export/*.csv', () => {
  beforeAll(async () => {
    await a.call('POST /v1/members', { body: { memberId: 'e1', email: 'E1@Example.com', at: '2025-03-10T09:00:00+08:00' } });
    await a.call('POST /v1/purchases', { body: { orderId: 'e-o1', memberId: 'e1', amountCents: 60000, at: '2025-03-11T00:30:00+08:00' } });
    await a.call('POST /v1/wallet/topups', { body: { requestId: 'e-t1', memberId: 'e1', amountCents: 100000, at: '2025-03-12T10:00:00+08:00' } });
    // Same shard (1 of 2): the referee's id sorts before its referrer's, so an export lists it first.
    await a.call('POST /v1/members', { body: { memberId: 'z-ref', name: 'Referrer' } });
    await a.call('POST /v1/members', { body: { memberId: 'a-kid-1', name: 'Referee', referrerId: 'z-ref', gender: 'f', address: '1 Queen\'s Road, "Central"' } });
  });

  it('exports every member with the API\'s figures', async () => {
    const r = await send(a, 'GET', '/v1/export/members.csv');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/csv; charset=utf-8');
    const exported = rows(r.text).sort((x, y) => (x['memberId']! < y['memberId']! ? -1 : 1));
    const listed = (await a.call('GET /v1/members', { query: { limit: '1000' } })).members as Array<Record<string, unknown>>;
    expect(exported.map((m) => m['memberId'])).toEqual(listed.map((m) => m['memberId']));
    for (const [i, m] of listed.entries()) {
      const row = exported[i]!;
      for (const c of [...IMPORT_COLUMNS, 'lifetimeSpendCents', 'purchaseCount', 'createdAt']) expect(row[c], `${String(m['memberId'])}.${c}`).toBe(cellOf(m[c]));
    }
    const reader = (await a.call('POST /v1/admin/keys', { body: { role: 'reader' } })).key;
    expect((await send(a, 'GET', '/v1/export/members.csv', undefined, reader)).status).toBe(200);
    const pos = (await a.call('POST /v1/admin/keys', { body: { role: 'pos' } })).key;
    expect((await send(a, 'GET', '/v1/export/ledger.csv', undefined, pos)).status).toBe(403);
  });

  it('exports the ledger, or the entries of local days from..to', async () => {
    const all = rows((await send(a, 'GET', '/v1/export/ledger.csv')).text);
    expect(all.length).toBe((await a.call('GET /v1/admin/verify')).entries);
    const day = rows((await send(a, 'GET', '/v1/export/ledger.csv?from=2025-03-11&to=2025-03-11')).text);
    expect(day).toEqual([expect.objectContaining({ at: '2025-03-10T16:30:00.000Z', kind: 'purchase', memberId: 'e1', pointsDelta: '30', spendDeltaCents: '60000', ref: 'e-o1' })]);
    const three = rows((await send(a, 'GET', '/v1/export/ledger.csv?from=2025-03-10&to=2025-03-12')).text);
    expect(three.map((e) => e['kind'])).toEqual(['register', 'purchase', 'topup']);
    expect((await send(a, 'GET', '/v1/export/ledger.csv?from=2025-03-10')).status).toBe(400);
  });

  it('round-trips: members exported from one server and imported into a fresh one are the same', async () => {
    const exported = (await send(a, 'GET', '/v1/export/members.csv')).text;
    const r = await importCsv(b, exported);
    expect(r.body).toEqual({ imported: 8, skipped: 0, failed: 0, errors: [] });
    const again = (await send(b, 'GET', '/v1/export/members.csv')).text;
    const project = (csv: string) => rows(csv).map((m) => IMPORT_COLUMNS.map((c) => m[c]));
    expect(project(again)).toEqual(project(exported));
    expect((await b.call('GET /v1/members/:id', { params: { id: 'a-kid-1' } }))).toMatchObject({ referrerId: 'z-ref', address: '1 Queen\'s Road, "Central"' });
    expect((await b.call('GET /v1/members/:id', { params: { id: 'e1' } }))).toMatchObject({ email: 'e1@example.com', points: 30, walletCents: 110000 });
    expect((await importCsv(b, exported)).body).toMatchObject({ imported: 0, skipped: 8, failed: 0 });
  });
});
