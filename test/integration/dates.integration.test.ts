// Every place a date or time is read refuses a day the calendar does not have (2026-02-30) and a
// time past 23:59:59 (T24:00) with 400 naming the field, and changes nothing: a registration's
// birthday and `at`, PATCH, purchases' `at`, the sweep's `asOf`, the RFM report's `asOf`, the
// daily report's and the ledger export's `from`/`to`, `balance?at=`, and a CSV import's birthday.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => {
  await server.start();
  expect((await server.post('/v1/members', { memberId: 'd-1', birthday: '1990-03-04' })).status).toBe(201);
});
afterAll(async () => {
  await server.stop();
  server.cleanup();
});

const BAD_DAY = '2026-02-30';
const BAD_INSTANTS = ['2026-02-30T10:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T24:00Z', '2025-04-31T10:00:00+08:00'];

function expectRefused(r: { status: number; body: any }, field: string): void {
  expect(r.status).toBe(400);
  expect(r.body.error).toMatchObject({ code: 'invalid_request', field });
}

describe('dates and times that do not exist', () => {
  it('are refused in a birthday, on registration and PATCH', async () => {
    for (const birthday of [BAD_DAY, '2025-02-29', '1990-04-31']) {
      expectRefused(await server.post('/v1/members', { memberId: 'd-2', birthday }), 'birthday');
      expectRefused(await server.request('PATCH', '/v1/members/d-1', { birthday }), 'birthday');
    }
    expect((await server.get('/v1/members/d-2')).status).toBe(404);
    expect((await server.call('GET /v1/members/:id', { params: { id: 'd-1' } })).birthday).toBe('1990-03-04');
  });

  it('are refused in `at` of a registration and a purchase', async () => {
    for (const at of BAD_INSTANTS) {
      expectRefused(await server.post('/v1/members', { memberId: 'd-3', at }), 'at');
      expectRefused(await server.post('/v1/purchases', { orderId: 'd-o1', memberId: 'd-1', amountCents: 10000, at }), 'at');
    }
    expect((await server.get('/v1/orders/d-o1')).status).toBe(404);
    expect((await server.call('GET /v1/members/:id', { params: { id: 'd-1' } })).points).toBe(0);
  });

  it('are refused in the sweep\'s and the RFM report\'s asOf, and in balance?at=', async () => {
    for (const at of BAD_INSTANTS) {
      expectRefused(await server.post('/v1/admin/sweep', { asOf: at }), 'asOf');
      expectRefused(await server.get(`/v1/reports/rfm?asOf=${encodeURIComponent(at)}`), 'asOf');
      expectRefused(await server.get(`/v1/members/d-1/balance?at=${encodeURIComponent(at)}`), 'at');
    }
    expect((await server.get(`/v1/members/d-1/balance?at=${encodeURIComponent('2026-02-28T10:00:00Z')}`)).status).toBe(200);
  });

  it('are refused in the daily report\'s and the ledger export\'s from and to', async () => {
    expectRefused(await server.get(`/v1/reports/daily?from=${BAD_DAY}&to=2026-03-05`), 'from');
    expectRefused(await server.get(`/v1/reports/daily?from=2026-02-01&to=2026-04-31`), 'to');
    expectRefused(await server.get(`/v1/export/ledger.csv?from=2026-02-01&to=${BAD_DAY}`), 'to');
    expect((await server.call('GET /v1/reports/daily', { query: { from: '2026-02-28', to: '2026-03-01' } })).days).toHaveLength(2);
  });

  it('are refused in a CSV import\'s birthday, by line', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/v1/import/members`, {
      method: 'POST', headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'text/csv' },
      body: `memberId,birthday\nd-4,${BAD_DAY}\nd-5,1991-02-28\n`,
    });
    expect(await res.json()).toEqual({ imported: 1, skipped: 0, failed: 1, errors: [expect.objectContaining({ row: 2, code: 'invalid_request', field: 'birthday' })] });
    expect((await server.get('/v1/members/d-4')).status).toBe(404);
  });
});
