// The ids the API's paths spell as words of their own: `/v1/members/by-phone/{phone}` beside
// `/v1/members/{id}/…` and `/v1/rewards/redemptions/{id}` beside `/v1/rewards/{id}/…`. A member of
// id `by-phone` or a reward of id `redemptions` could not be reached by its id, so each place that
// creates such an id (a registration, a CSV import row, the program's rewards) refuses it, naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); server.cleanup(); });

describe('reserved ids', () => {
  it('refuses to register a member of id by-phone with 400 naming memberId, and registers none', async () => {
    const e = await refusal(server.call('POST /v1/members', { body: { memberId: 'by-phone', phone: '+85261234567' } }));
    expect(e).toMatchObject({ status: 400, code: 'invalid_request', field: 'memberId' });
    expect(e.message).toContain('by-phone');
    // The phone stays free: nobody was registered with it.
    expect((await refusal(server.call('GET /v1/members/by-phone/:phone', { params: { phone: '+85261234567' } }))).code).toBe('member_not_found');
    expect((await server.call('GET /v1/reports/summary')).members).toBe(0);
  });

  it('refuses an imported row of memberId by-phone, naming its row and field, and imports the others', async () => {
    const answer = await server.call('POST /v1/import/members', { body: 'memberId,name\nby-phone,Ann\nr-ok,Bob\n' });
    expect(answer).toEqual({
      imported: 1, skipped: 0, failed: 1,
      errors: [{ row: 2, code: 'invalid_request', field: 'memberId', message: expect.stringContaining('by-phone') as unknown as string }],
    });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'r-ok' } })).name).toBe('Bob');
  });

  it('refuses a program whose reward has id redemptions with 400 naming rewards[0].id, and keeps the program in force', async () => {
    const program = await server.call('GET /v1/program');
    const reward = { id: 'redemptions', name: 'A mug', pointsCost: 100 };
    const e = await refusal(server.call('PUT /v1/program', { body: { ...program, rewards: [reward] } }));
    expect(e).toMatchObject({ status: 400, code: 'invalid_request', field: 'rewards[0].id' });
    expect((await server.call('GET /v1/program')).version).toBe(program.version);
    // The same reward under another id is a valid program.
    expect((await server.call('PUT /v1/program', { body: { ...program, rewards: [{ ...reward, id: 'mug' }] } })).version).toBe(program.version + 1);
  });
});
