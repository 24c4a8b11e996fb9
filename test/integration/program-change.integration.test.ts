// A real server whose program drops a tier a member holds: the member is at the first tier at once
// (views, the summary), a quote, a purchase and a return on them work, the sweep runs past the old
// period end, and all of it holds across a SIGKILL and restart with verify clean. Before, the first
// core op on such a member stopped the process, again after every restart.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ServerProcess } from '../helpers/server-process.js';
import { openShardStore } from '../../engine/shard/store.js';
import type { Program } from '../../engine/rules/program-types.js';

const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0' });
const older = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: '1', LOYALTY_SWEEP_INTERVAL_MS: '0' });
afterAll(async () => { await server.stop(); server.cleanup(); await older.stop(); older.cleanup(); });

describe('a program change that drops a held tier', () => {
  it('moves its members to the first tier for every op, the sweep and the views, across a restart', async () => {
    await server.start();
    await server.call('POST /v1/members', { body: { memberId: 'silver-1', tierId: 'silver' } });
    await server.call('POST /v1/purchases', { body: { orderId: 'pc-1', memberId: 'silver-1', amountCents: 20_000 } });
    const program = (await server.call('GET /v1/program'));
    const { version: _version, ...doc } = program;
    const dropped = {
      ...doc,
      tiers: doc.tiers.filter((t: { id: string }) => t.id !== 'silver'),
      products: doc.products.filter((p: { includes: { tierId?: string } }) => p.includes.tierId !== 'silver'),
    };
    await server.call('PUT /v1/program', { body: dropped });

    expect((await server.call('GET /v1/members/:id', { params: { id: 'silver-1' } }))).toMatchObject({ tierId: 'member', periodEnd: null });
    expect((await server.call('GET /v1/reports/summary')).tiers).toEqual([{ tierId: 'member', members: 1 }, { tierId: 'gold', members: 0 }]);
    expect((await server.call('POST /v1/checkout/quote', { body: { memberId: 'silver-1', amountCents: 10_000 } }))).toMatchObject({ tierId: 'member', discountBps: 0 });
    expect((await server.call('POST /v1/purchases', { body: { orderId: 'pc-2', memberId: 'silver-1', amountCents: 10_000 } }))).toMatchObject({ tierId: 'member', earnedPoints: 5 });
    expect((await server.call('POST /v1/returns', { body: { returnId: 'pc-1-r', orderId: 'pc-1', amountCents: 20_000 } }))).toMatchObject({ tierId: 'member', clawedBackPoints: 10 });
    await server.call('POST /v1/admin/sweep', { body: {} });
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });

    await server.kill();
    await server.start();
    expect((await server.call('GET /v1/members/:id', { params: { id: 'silver-1' } }))).toMatchObject({ tierId: 'member', points: 5 });
    const ledger = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'silver-1' } })).entries;
    expect(ledger.filter((e) => e.kind === 'downgrade').map((e) => [e.tierId, e.ref])).toEqual([['member', `program:${program.version + 1}`]]);
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });

  it('settles, at the next start, data a program change left unsettled (as the defect left it)', async () => {
    await older.start();
    await older.call('POST /v1/members', { body: { memberId: 'silver-2', tierId: 'silver' } });
    await older.stop();
    // What an earlier version wrote: the new program stored, the member still at Silver.
    const store = openShardStore(join(older.dataDir, 'shard-0'));
    const saved = store.meta.get('program') as { version: number; program: Program };
    store.root.transactionSync(() => {
      store.meta.putSync('program', { version: saved.version + 1, program: { ...saved.program, tiers: saved.program.tiers.filter((t) => t.id !== 'silver'), products: [] } });
      store.meta.removeSync('settledVersion');
    });
    await store.root.close();
    await older.start();
    expect((await older.call('POST /v1/checkout/quote', { body: { memberId: 'silver-2', amountCents: 1_000 } }))).toMatchObject({ tierId: 'member' });
    expect((await older.call('GET /v1/members/:id', { params: { id: 'silver-2' } }))).toMatchObject({ tierId: 'member', periodEnd: null });
    expect((await older.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });
});
