// Phones on a real server: every spelling of a number is one phone, stored in E.164 and completed
// from the program's defaultCountry (HK in the demo), on registration, PATCH, the CSV import, the
// by-phone lookup and the member search; impossible numbers are 400 naming `phone`. Then a data
// folder written before phones were normalised: its directory is rebuilt in E.164 at start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, ServerProcess, refusal } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => { await server.start(); });
afterAll(async () => {
  await server.stop();
  server.cleanup();
});

const byPhone = (phone: string) => server.call('GET /v1/members/by-phone/:phone', { params: { phone } });
const importCsv = (csv: string) => server.call('POST /v1/import/members', { body: csv });

describe('one phone, any spelling', () => {
  it('stores +852 9123 4567 as +85291234567 and refuses 91234567 and (852) 9123-4567 for another member', async () => {
    const r = await server.call('POST /v1/members', { body: { memberId: 'p-1', phone: '+852 9123 4567' } });
    expect(r).toMatchObject({ memberId: 'p-1', phone: '+85291234567' });
    for (const phone of ['91234567', '(852) 9123-4567', '9123-4567']) {
      expect(await refusal(server.call('POST /v1/members', { body: { memberId: 'p-2', phone } })), phone).toMatchObject({ status: 409, code: 'phone_taken', field: 'phone' });
    }
    expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'p-2' } }))).status).toBe(404);
  });

  it('finds the member by any spelling', async () => {
    for (const phone of ['+852 9123 4567', '91234567', '(852) 9123-4567', '+85291234567']) {
      expect((await byPhone(phone)).memberId, phone).toBe('p-1');
    }
    expect(await refusal(byPhone('+852 9123 4568'))).toMatchObject({ status: 404, code: 'member_not_found' });
    expect(await refusal(byPhone('+852 123'))).toMatchObject({ status: 400, code: 'invalid_request', field: 'phone' });
  });

  it('refuses an impossible number with 400 naming phone, and changes nothing', async () => {
    const before = (await server.call('GET /v1/reports/summary')).members;
    for (const phone of ['+852 123', '12', '+999 1234 5678', 'call me', '+852 9123 4567 ext 2']) {
      expect(await refusal(server.call('POST /v1/members', { body: { memberId: 'p-bad', phone } })), phone).toMatchObject({ status: 400, code: 'invalid_request', field: 'phone' });
    }
    expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'p-bad' } }))).status).toBe(404);
    expect((await server.call('GET /v1/reports/summary')).members).toBe(before);
  });

  it('PATCH normalises: the same number in another spelling is no change, another member\'s is taken', async () => {
    expect((await server.call('POST /v1/members', { body: { memberId: 'p-3', phone: '5123 0003' } })).phone).toBe('+85251230003');
    const same = await server.call('PATCH /v1/members/:id', { params: { id: 'p-1' }, body: { phone: '(852) 9123 4567' } });
    expect(same.phone).toBe('+85291234567');
    const patch = (phone: string) => refusal(server.call('PATCH /v1/members/:id', { params: { id: 'p-3' }, body: { phone } }));
    expect(await patch('9123-4567')).toMatchObject({ status: 409, code: 'phone_taken', field: 'phone' });
    expect(await patch('+852 12')).toMatchObject({ status: 400, code: 'invalid_request', field: 'phone' });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'p-3' } })).phone).toBe('+85251230003');
    // A move frees the old number under every spelling.
    expect((await server.call('PATCH /v1/members/:id', { params: { id: 'p-3' }, body: { phone: '+852 5123 0004' } })).phone).toBe('+85251230004');
    expect((await refusal(byPhone('51230003'))).status).toBe(404);
    await server.call('POST /v1/members', { body: { memberId: 'p-4', phone: '(852) 5123 0003' } });
  });

  it('imports rows through the same normaliser: taken by any spelling, impossible refused by line', async () => {
    const r = await importCsv(['memberId,phone', 'p-5,+852 6123 0005', 'p-6,61230005', 'p-7,(852) 9123-4567', 'p-8,+852 1', 'p-9,6123 0009', ''].join('\n'));
    expect(r).toEqual({
      imported: 2, skipped: 0, failed: 3,
      errors: [
        expect.objectContaining({ row: 3, code: 'phone_taken', field: 'phone' }),
        expect.objectContaining({ row: 4, code: 'phone_taken', field: 'phone' }),
        expect.objectContaining({ row: 5, code: 'invalid_request', field: 'phone' }),
      ],
    });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'p-5' } })).phone).toBe('+85261230005');
    expect((await byPhone('6123 0009')).memberId).toBe('p-9');
  });

  it('searches by a phone prefix in any spelling', async () => {
    const ids = async (q: string) => (await server.call('GET /v1/members', { query: { q } })).members.map((m) => m.memberId);
    expect(await ids('9123')).toEqual(['p-1']);
    expect(await ids('+852 9123')).toEqual(['p-1']);
    expect(await ids('(852) 91')).toEqual(['p-1']);
    expect(await ids('+85261')).toEqual(['p-5', 'p-9']);
    expect(await ids('6123 000')).toEqual(['p-5', 'p-9']);
    // Still a prefix of ids and names too.
    expect(await ids('p-4')).toEqual(['p-4']);
  });

  it('refuses a national number when the program names no defaultCountry, and a bad defaultCountry', async () => {
    const program = (await server.call('GET /v1/program'));
    expect(await refusal(server.call('PUT /v1/program', { body: { ...program, defaultCountry: 'ZZ' } }))).toMatchObject({ status: 400, code: 'invalid_request', field: 'defaultCountry' });
    await server.call('PUT /v1/program', { body: { ...program, defaultCountry: null } });
    try {
      const r = await refusal(server.call('POST /v1/members', { body: { memberId: 'p-10', phone: '6123 0010' } }));
      expect(r).toMatchObject({ status: 400, code: 'invalid_request', field: 'phone' });
      expect(r.message).toContain('has no country code');
      expect((await server.call('POST /v1/members', { body: { memberId: 'p-10', phone: '+852 6123 0010' } })).phone).toBe('+85261230010');
    } finally {
      await server.call('PUT /v1/program', { body: { ...program, defaultCountry: 'HK' } });
    }
  });
});

/**
 * Members registered straight through the engine with phones as typed, as profiles were stored
 * before phones were normalised (registration then kept the spelling it was sent).
 */
function writeLegacyMembers(dataDir: string, members: Array<{ memberId: string; phone: string }>): void {
  const script = `
    const { Engine } = await import(${JSON.stringify(join(ROOT, 'dist/engine/router/engine.js'))});
    const engine = await Engine.open({ dataDir: ${JSON.stringify(dataDir)}, shards: 2 });
    for (const m of ${JSON.stringify(members)}) {
      const r = await engine.registerOrPatch({ op: 'register', memberId: m.memberId, phone: m.phone, referralChain: [], key: 'reg:m:' + m.memberId, fp: 1, atMs: Date.now() });
      if (!r.ok) throw new Error(JSON.stringify(r));
    }
    await engine.close();`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
}

describe('a data folder from before phones were normalised', () => {
  it('rebuilds the directory in E.164: old spellings are found, taken, and freed by a PATCH', async () => {
    const old = new ServerProcess(ServerProcess.tempDataDir());
    try {
      writeLegacyMembers(old.dataDir, [
        { memberId: 'old-1', phone: '+852 9876 5432' },
        { memberId: 'old-2', phone: '5432 1000' },
        // The same number spelt twice: the smaller member id keeps it in the directory.
        { memberId: 'old-4', phone: '6000-0001' },
        { memberId: 'old-3', phone: '+852 6000 0001' },
      ]);
      await old.start();
      const find = async (phone: string) => (await old.call('GET /v1/members/by-phone/:phone', { params: { phone } })).memberId;
      expect(await find('98765432')).toBe('old-1');
      expect(await find('+852 5432 1000')).toBe('old-2');
      expect(await find('60000001')).toBe('old-3');
      // The profile keeps its spelling until the phone is next changed.
      expect((await old.call('GET /v1/members/:id', { params: { id: 'old-2' } })).phone).toBe('5432 1000');
      expect(await refusal(old.call('POST /v1/members', { body: { memberId: 'new-1', phone: '(852) 9876-5432' } }))).toMatchObject({ status: 409, code: 'phone_taken', field: 'phone' });
      // A PATCH moving the member off the old spelling frees its E.164 form.
      expect((await old.call('PATCH /v1/members/:id', { params: { id: 'old-2' }, body: { phone: '5432 2000' } })).phone).toBe('+85254322000');
      await old.call('POST /v1/members', { body: { memberId: 'new-2', phone: '+85254321000' } });
      expect(await find('5432 1000')).toBe('new-2');
      expect(await find('5432 2000')).toBe('old-2');
      expect((await old.call('GET /v1/admin/verify')).ok).toBe(true);
    } finally {
      await old.stop();
      old.cleanup();
    }
  });
});
