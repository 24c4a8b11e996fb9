// Every place a date or time is read refuses a day the calendar does not have (2026-02-30) and a
// time past 23:59:59 (T24:00) with 400 naming the field, and changes nothing: a registration's
// birthday and `at`, PATCH, purchases' `at`, the sweep's `asOf`, the RFM report's `asOf`, the
// daily report's and the ledger export's `from`/`to`, `balance?at=`, and a CSV import's birthday.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => {
  await server.start();
  await server.call('POST /v1/members', { body: { memberId: 'd-1', birthday: '1990-03-04' } });
});
afterAll(async () => {
  await server.stop();
  server.cleanup();
});

const BAD_DAY = '2026-02-30';
const BAD_INSTANTS = ['2026-02-30T10:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T24:00Z', '2025-04-31T10:00:00+08:00'];

async function expectRefused(answer: Promise<unknown>, field: string): Promise<void> {
  expect(await refusal(answer)).toMatchObject({ status: 400, code: 'invalid_request', field });
}

describe('dates and times that do not exist', () => {
  it('are refused in a birthday, on registration and PATCH', async () => {
    for (const birthday of [BAD_DAY, '2025-02-29', '1990-04-31']) {
      await expectRefused(server.call('POST /v1/members', { body: { memberId: 'd-2', birthday } }), 'birthday');
      await expectRefused(server.call('PATCH /v1/members/:id', { params: { id: 'd-1' }, body: { birthday } }), 'birthday');
    }
    expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'd-2' } }))).status).toBe(404);
    expect((await server.call('GET /v1/members/:id', { params: { id: 'd-1' } })).birthday).toBe('1990-03-04');
  });

  it('are refused in `at` of a registration and a purchase', async () => {
    for (const at of BAD_INSTANTS) {
      await expectRefused(server.call('POST /v1/members', { body: { memberId: 'd-3', at } }), 'at');
      await expectRefused(server.call('POST /v1/purchases', { body: { orderId: 'd-o1', memberId: 'd-1', amountCents: 10000, at } }), 'at');
    }
    expect((await refusal(server.call('GET /v1/orders/:id', { params: { id: 'd-o1' } }))).status).toBe(404);
    expect((await server.call('GET /v1/members/:id', { params: { id: 'd-1' } })).points).toBe(0);
  });

  it('are refused in the sweep\'s and the RFM report\'s asOf, and in balance?at=', async () => {
    for (const at of BAD_INSTANTS) {
      await expectRefused(server.call('POST /v1/admin/sweep', { body: { asOf: at } }), 'asOf');
      await expectRefused(server.call('GET /v1/reports/rfm', { query: { asOf: at } }), 'asOf');
      await expectRefused(server.call('GET /v1/members/:id/balance', { params: { id: 'd-1' }, query: { at } }), 'at');
    }
    await server.call('GET /v1/members/:id/balance', { params: { id: 'd-1' }, query: { at: '2026-02-28T10:00:00Z' } });
  });

  it('are refused in the daily report\'s and the ledger export\'s from and to', async () => {
    await expectRefused(server.call('GET /v1/reports/daily', { query: { from: BAD_DAY, to: '2026-03-05' } }), 'from');
    await expectRefused(server.call('GET /v1/reports/daily', { query: { from: '2026-02-01', to: '2026-04-31' } }), 'to');
    await expectRefused(server.call('GET /v1/export/ledger.csv', { query: { from: '2026-02-01', to: BAD_DAY } }), 'to');
    expect((await server.call('GET /v1/reports/daily', { query: { from: '2026-02-28', to: '2026-03-01' } })).days).toHaveLength(2);
  });

  it('are refused in a CSV import\'s birthday, by line', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/v1/import/members`, {
      method: 'POST', headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'text/csv' },
      body: `memberId,birthday\nd-4,${BAD_DAY}\nd-5,1991-02-28\n`,
    });
    expect(await res.json()).toEqual({ imported: 1, skipped: 0, failed: 1, errors: [expect.objectContaining({ row: 2, code: 'invalid_request', field: 'birthday' })] });
    expect((await refusal(server.call('GET /v1/members/:id', { params: { id: 'd-4' } }))).status).toBe(404);
  });
});
