// End to end on a real server: a Gold member whose period ends a few seconds from now gets a
// birthday by a profile change (PATCH); the sweep after the period's end drops the tier, and verify
// is clean. Before, the PATCH set only the month, the next birthday fell in year 1, the member left
// the sweep's index for good, and Gold stayed Gold.
import { afterAll, describe, expect, it } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';

const DAY_MS = 86_400_000;
const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '1', LOYALTY_SWEEP_INTERVAL_MS: '0' });
afterAll(async () => { await server.stop(); server.cleanup(); });

describe('a birthday added by PATCH', () => {
  it('keeps the member in the sweep: the tier drops at period end', async () => {
    await server.start();
    // Registered (backdated) a year ago less 3 s: the 365-day Gold period ends 3 s from now.
    const at = new Date(Date.now() - 365 * DAY_MS + 3_000).toISOString();
    expect((await server.call('POST /v1/members', { body: { memberId: 'bd-1', tierId: 'gold', at } })).replayed).toBe(false);
    const patched = await server.call('PATCH /v1/members/:id', { params: { id: 'bd-1' }, body: { birthday: '1990-07-15' } });
    expect(patched).toMatchObject({ birthday: '1990-07-15', tierId: 'gold' });
    expect(await server.call('GET /v1/admin/verify')).toMatchObject({ ok: true, mismatches: [] });
    const periodEnd = Date.parse((await server.call('GET /v1/members/:id', { params: { id: 'bd-1' } })).periodEnd!);
    while (Date.now() <= periodEnd + 50) await new Promise((r) => setTimeout(r, 100));
    expect((await server.call('POST /v1/admin/sweep', { body: {} })).members).toBe(1);
    expect(await server.call('GET /v1/members/:id', { params: { id: 'bd-1' } })).toMatchObject({ tierId: 'member', periodEnd: null, birthday: '1990-07-15' });
    expect(await server.call('GET /v1/admin/verify')).toMatchObject({ ok: true, mismatches: [] });
  });
});
