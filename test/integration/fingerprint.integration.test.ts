// A retry that spells a default, writes the same instant with another offset, or sends it as
// msgpack's integer instead of JSON's text, replays (it was 409); a key stored under a request's
// fingerprint of before (its raw text's) still replays after the change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { hashId } from '../../engine/router/member-hash.js';
import { getOrder, openShardStore } from '../../engine/shard/store.js';
import { bodyFingerprint } from '../../server/fingerprint.js';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import type { OpResult } from '../../client/stream.js';

const SHARDS = 2;
const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS) });
const packr = new Packr({ useRecords: false });

beforeAll(async () => {
  await server.start();
  for (const m of ['fa', 'fb', 'leg']) await server.call('POST /v1/members', { body: { memberId: m } });
});
afterAll(async () => { await server.stop(); server.cleanup(); });

/** One batch on a fresh stream connection, in msgpack or JSON; its results. */
async function streamBatch(binary: boolean, ops: unknown[]): Promise<OpResult[]> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: `Bearer ${server.adminKey}` } });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const ack = new Promise<{ results: OpResult[] }>((resolve) => ws.once('message', (d: Buffer, isBinary: boolean) => resolve((isBinary ? packr.unpack(d) : JSON.parse(d.toString())) as { results: OpResult[] })));
  const frame = { type: 'batch', id: 1, ops };
  ws.send(binary ? packr.pack(frame) : JSON.stringify(frame), { binary });
  const results = (await ack).results;
  ws.close();
  return results;
}

describe('fingerprints of the request as understood', () => {
  it('replays a retry that spells a default and writes the instant with another offset', async () => {
    await server.call('POST /v1/purchases', { body: { orderId: 'f-1', memberId: 'fa', amountCents: 60000, at: '2026-01-01T08:00:00+08:00' } });
    const retry = await server.call('POST /v1/purchases', { body: { orderId: 'f-1', memberId: 'fa', amountCents: 60000, discountCents: 0, redeemPoints: 0, at: '2026-01-01T00:00:00Z' } });
    expect(retry).toMatchObject({ replayed: true, earnedPoints: 30, points: 30 });
    expect(await refusal(server.call('POST /v1/purchases', { body: { orderId: 'f-1', memberId: 'fa', amountCents: 60000, at: '2026-01-01T00:00:01Z' } }))).toMatchObject({ status: 409, code: 'idempotency_conflict' });
    const topup = { requestId: 'f-t', memberId: 'fb', amountCents: 1000, at: '2026-01-01T08:00:00+08:00' };
    await server.call('POST /v1/wallet/topups', { body: topup });
    expect((await server.call('POST /v1/wallet/topups', { body: { ...topup, at: '2026-01-01T00:00:00.000Z' } }))).toMatchObject({ replayed: true, walletBalanceCents: 1000 });
    expect((await server.call('GET /v1/members/:id', { params: { id: 'fa' } }))).toMatchObject({ points: 30, purchaseCount: 1 });
  });

  it('replays a stream op sent again as msgpack with the time in ms', async () => {
    const atIso = '2026-02-01T10:00:00+08:00';
    const sent = await streamBatch(false, [{ op: 'purchase', orderId: 'f-2', memberId: 'fb', amountCents: 40000, at: atIso }]);
    expect(sent[0]).toMatchObject({ ok: true, replayed: false });
    const again = await streamBatch(true, [{ op: 'purchase', orderId: 'f-2', memberId: 'fb', amountCents: 40000, walletCents: 0, at: Date.parse(atIso) }]);
    expect(again[0]).toMatchObject({ ok: true, replayed: true, earnedPoints: 20 });
  });

  it('still replays a key stored under the raw text fingerprint requests had before', async () => {
    const topup = { requestId: 'legacy-1', memberId: 'leg', amountCents: 500, at: '2026-03-01T09:00:00+08:00' };
    const purchase = { orderId: 'legacy-o', memberId: 'leg', amountCents: 10000, discountCents: 0, at: '2026-03-01T09:00:00+08:00' };
    await server.call('POST /v1/wallet/topups', { body: topup });
    await server.call('POST /v1/purchases', { body: purchase });
    await server.stop();
    // As a server of before would have stored them: the fingerprint of the body's text.
    const store = openShardStore(join(server.dataDir, `shard-${hashId('leg') % SHARDS}`));
    const key = store.keys.get('req:legacy-1')!;
    const order = getOrder(store, 'legacy-o')!;
    expect([key.fp, order.fp]).not.toEqual([bodyFingerprint('topup', topup), bodyFingerprint('purchase', purchase)]);
    await store.keys.put('req:legacy-1', { ...key, fp: bodyFingerprint('topup', topup) });
    await store.legacyOrders.put('legacy-o', { ...order, fp: bodyFingerprint('purchase', purchase) });
    await store.root.close();
    await server.start();
    expect((await server.call('POST /v1/wallet/topups', { body: topup }))).toMatchObject({ replayed: true, walletBalanceCents: 500 });
    expect((await server.call('POST /v1/purchases', { body: purchase }))).toMatchObject({ replayed: true, earnedPoints: 5 });
    const streamed = await streamBatch(false, [{ op: 'topup', ...topup }, { op: 'purchase', ...purchase }]);
    expect(streamed.map((r) => [r.ok, r.ok && r.replayed])).toEqual([[true, true], [true, true]]);
    // A different body under the old key is still a conflict, and nothing was applied twice.
    expect((await refusal(server.call('POST /v1/wallet/topups', { body: { ...topup, amountCents: 600 } }))).code).toBe('idempotency_conflict');
    expect((await server.call('GET /v1/members/:id', { params: { id: 'leg' } }))).toMatchObject({ walletCents: 500, purchaseCount: 1, points: 5 });
  });

  it('leaves a ledger that verifies clean', async () => {
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });
});
