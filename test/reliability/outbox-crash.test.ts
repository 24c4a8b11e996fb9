// The outbox survives a crash: a purchase's referral reward is written in the purchase's own
// transaction; the process is killed (SIGKILL) before it is delivered, and after the restart the
// credit lands exactly once, however often the server restarts.
import { afterAll, describe, expect, it } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';
import { hashId } from '../../engine/router/member-hash.js';

const dataDir = ServerProcess.tempDataDir();
const SHARDS = '4';
let server = new ServerProcess(dataDir, { LOYALTY_SHARDS: SHARDS, LOYALTY_TEST_HOLD_OUTBOX: '1' });

afterAll(async () => { await server.stop(); server.cleanup(); });

describe('outbox across a crash', () => {
  it('delivers an undelivered reward exactly once after SIGKILL and restarts', async () => {
    await server.start();
    const program = (await server.get('/v1/program')).body;
    await server.request('PUT', '/v1/program', { ...program, referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 0, firstPurchasePoints: 300, repeatPurchasePoints: 30, purchaseSharePct: 0 }] } });
    // Referrer and referee on different shards, so the reward must cross.
    const referee = ['kid-1', 'kid-2', 'kid-3', 'kid-4', 'kid-5'].find((id) => hashId(id) % 4 !== hashId('parent') % 4)!;
    expect((await server.post('/v1/members', { memberId: 'parent' })).status).toBe(201);
    expect((await server.post('/v1/members', { memberId: referee, referrerId: 'parent' })).status).toBe(201);
    const p1 = await server.post('/v1/purchases', { orderId: 'crash-1', memberId: referee, amountCents: 1000 });
    const p2 = await server.post('/v1/purchases', { orderId: 'crash-2', memberId: referee, amountCents: 1000 });
    expect(p1.body.referralRewards).toEqual([{ memberId: 'parent', points: 300 }]);
    expect(p2.body.referralRewards).toEqual([{ memberId: 'parent', points: 30 }]);
    // Acked: the source side is durable. Held: the target side has not happened yet.
    expect((await server.get('/v1/members/parent')).body.points).toBe(0);
    await server.kill();

    server = new ServerProcess(dataDir, { LOYALTY_SHARDS: SHARDS });
    await server.start();
    const deadline = Date.now() + 5_000;
    while ((await server.get('/v1/members/parent')).body.points !== 330 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await server.get('/v1/members/parent')).body.points).toBe(330);
    await server.kill();
    await server.start();
    await new Promise((r) => setTimeout(r, 300));
    expect((await server.get('/v1/members/parent')).body.points).toBe(330);
    const ledger = (await server.get('/v1/members/parent/ledger')).body.entries as Array<{ kind: string; ref: string }>;
    expect(ledger.filter((e) => e.kind === 'referral_reward').map((e) => e.ref).sort()).toEqual(['crash-1', 'crash-2']);
    expect((await server.get('/v1/admin/verify')).body).toMatchObject({ ok: true, mismatches: [] });
  });
});
