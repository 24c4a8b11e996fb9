// Every ledger entry records the API key id that caused it (docs/rules.md §8.1): HTTP writes and
// stream batches under the key that sent them, the sweep, time-driven events and outbox credits
// under `system`, a program change under its admin's key; an adjustment keeps its reason in the
// entry and the CSV export; and the history replays with the same key ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';
import { expectReplayEqualsLive } from '../helpers/replay-check.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';

const DAY_MS = 86_400_000;
const dataDir = ServerProcess.tempDataDir();
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0' });
const iso = (ms: number) => new Date(ms).toISOString();
let adminId = '';
let posId = '';
let posKey = '';

const ledger = async (memberId: string) =>
  (await server.call('GET /v1/members/:id/ledger', { params: { id: memberId }, query: { limit: 100 } })).entries;

beforeAll(async () => {
  await server.start();
  adminId = (await server.call('GET /v1/whoami')).keyId;
  const pos = await server.call('POST /v1/admin/keys', { body: { role: 'pos' } });
  posId = pos.id;
  posKey = pos.key;
  const program = await server.call('GET /v1/program');
  await server.call('PUT /v1/program', { body: {
    ...program, pointsExpiryDays: 30,
    referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 100, firstPurchasePoints: 0, repeatPurchasePoints: 0, purchaseSharePct: 10 }] },
  } });
  const t0 = Date.now() - 100 * DAY_MS;
  // Referrers on both shards, so some credits cross shards through the outbox.
  await server.call('POST /v1/members', { body: { memberId: 'ref-a', at: iso(t0) } });
  for (const id of ['m1', 'm2', 'm3', 'm4']) await server.client(posKey).call('POST /v1/members', { body: { memberId: id, referrerId: 'ref-a', at: iso(t0) } });
  await server.client(posKey).call('POST /v1/purchases', { body: { orderId: 'o-1', memberId: 'm1', amountCents: 10_000, at: iso(t0 + DAY_MS) } });
  await server.call('POST /v1/points/adjustments', { body: { requestId: 'adj-1', memberId: 'm1', points: 25, reason: 'Goodwill: late delivery 遲到' } });
  const terminal = await StreamTerminal.open(`ws://127.0.0.1:${server.port}/v1/stream`, posKey);
  terminal.send({ type: 'batch', id: 1, ops: [
    { op: 'purchase', orderId: 's-1', memberId: 'm2', amountCents: 3_000 },
    { op: 'purchase', orderId: 's-2', memberId: 'm3', amountCents: 4_000 },
    { op: 'purchase', orderId: 's-3', memberId: 'm2', amountCents: 5_000, storeId: 'hk-1' },
  ] });
  expect((await terminal.ack(1)).results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true, true]);
  terminal.ws.close();
  // The sweep: the 30-day grants of the backdated registrations expire.
  await server.call('POST /v1/admin/sweep', { body: {} });
  // Credits land just after their acks.
  await new Promise((r) => setTimeout(r, 500));
}, 60_000);

afterAll(async () => {
  await server.stop();
  server.cleanup();
});

describe('key ids on ledger entries', () => {
  it('records the key of each HTTP write and stream op, and system for credits, expiries and the sweep', async () => {
    expect(adminId).toMatch(/^k_/);
    const m1 = await ledger('m1');
    const kinds = (kind: string) => m1.filter((e) => e.kind === kind).map((e) => e.keyId);
    expect(kinds('register')).toEqual([posId]);
    expect(kinds('purchase')).toEqual([posId]);
    expect(kinds('adjust')).toEqual([adminId]);
    expect(m1.find((e) => e.kind === 'adjust')!.reason).toBe('Goodwill: late delivery 遲到');
    expect(kinds('expire').length).toBeGreaterThan(0);
    expect(new Set(kinds('expire'))).toEqual(new Set(['system']));
    const m2 = await ledger('m2');
    expect(m2.filter((e) => e.kind === 'purchase').map((e) => [e.ref, e.keyId])).toEqual([['s-3', posId], ['s-1', posId]]);
    const refA = await ledger('ref-a');
    const rewards = refA.filter((e) => e.kind === 'referral_reward');
    expect(rewards.length).toBeGreaterThanOrEqual(4);
    expect(new Set(rewards.map((e) => e.keyId))).toEqual(new Set(['system']));
    expect(refA.find((e) => e.kind === 'register')!.keyId).toBe(adminId);
  });

  it('shows key ids and reasons in the CSV export, and the program change under its admin', async () => {
    const lines = (await server.call('GET /v1/export/ledger.csv')).split('\r\n');
    const header = lines[0]!.replace(/^\uFEFF/, '').split(',');
    expect(header.slice(-2)).toEqual(['keyId', 'reason']);
    const adjust = lines.find((l) => l.includes(',adjust,m1,'))!;
    expect(adjust.endsWith(`,${adminId},Goodwill: late delivery 遲到`)).toBe(true);
    const program = lines.find((l) => l.includes(',program:2,'))!;
    expect(program).toContain(`,${adminId},`);
  });

  it('replays exactly, key ids included', async () => {
    await server.stop();
    expectReplayEqualsLive(dataDir);
    await server.start();
    expect((await ledger('m1')).find((e) => e.kind === 'adjust')!.keyId).toBe(adminId);
  }, 120_000);
});
