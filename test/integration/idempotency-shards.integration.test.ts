// Idempotency keys are unique per deployment: a requestId, orderId or returnId used for a member
// on one shard is refused for a member on another (it used to be applied on both), over HTTP and
// within one stream batch, also when both arrive at once; retries replay; a key whose op was
// refused is free again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { hashId } from '../../engine/router/member-hash.js';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { ApiError } from '../../client/http.js';
import type { OpResult } from '../../client/stream.js';

const SHARDS = 2;
const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS) });
const packr = new Packr({ useRecords: false });
const shardOf = (id: string) => hashId(id) % SHARDS;

/** Two members on different shards. */
const A = ['ia-1', 'ia-2', 'ia-3', 'ia-4'].find((id) => shardOf(id) === 0)!;
const B = ['ib-1', 'ib-2', 'ib-3', 'ib-4'].find((id) => shardOf(id) === 1)!;

/** Keys (as requestIds) whose home is each shard in turn, so both orders of member and home are tried. */
const KEYS = Array.from({ length: 8 }, (_, i) => `dup-${i}`);

beforeAll(async () => {
  await server.start();
  for (const m of [A, B]) await server.call('POST /v1/members', { body: { memberId: m } });
});
afterAll(async () => { await server.stop(); server.cleanup(); });

const wallet = async (m: string) => (await server.call('GET /v1/members/:id', { params: { id: m } })).walletCents;

describe('idempotency keys across shards', () => {
  it('the keys tried have their home on each shard', () => {
    expect(new Set(KEYS.map((k) => hashId('req:' + k) % SHARDS))).toEqual(new Set([0, 1]));
  });

  it('refuses a requestId used for a member of another shard, and replays the first', async () => {
    for (const k of KEYS) {
      const first = await server.call('POST /v1/wallet/topups', { body: { requestId: k, memberId: A, amountCents: 1000 } });
      expect(await refusal(server.call('POST /v1/wallet/topups', { body: { requestId: k, memberId: B, amountCents: 1000 } }))).toMatchObject({ status: 409, code: 'idempotency_conflict' });
      const again = await server.call('POST /v1/wallet/topups', { body: { requestId: k, memberId: A, amountCents: 1000 } });
      expect(again).toMatchObject({ replayed: true, walletBalanceCents: first.walletBalanceCents });
    }
    expect(await wallet(A)).toBe(KEYS.length * 1000);
    expect(await wallet(B)).toBe(0);
  });

  it('refuses an orderId and a returnId reused on another shard', async () => {
    for (const k of KEYS) {
      await server.call('POST /v1/purchases', { body: { orderId: `o-${k}`, memberId: B, amountCents: 2000 } });
      expect(await refusal(server.call('POST /v1/purchases', { body: { orderId: `o-${k}`, memberId: A, amountCents: 2000 } }))).toMatchObject({ status: 409, code: 'idempotency_conflict' });
      expect((await server.call('GET /v1/orders/:id', { params: { id: `o-${k}` } })).memberId).toBe(B);
    }
    expect((await server.call('GET /v1/members/:id', { params: { id: A } })).purchaseCount).toBe(0);
    await server.call('POST /v1/purchases', { body: { orderId: 'ra', memberId: A, amountCents: 4000 } });
    await server.call('POST /v1/purchases', { body: { orderId: 'rb', memberId: B, amountCents: 4000 } });
    for (const k of KEYS) {
      await server.call('POST /v1/returns', { body: { returnId: `r-${k}`, orderId: 'ra', amountCents: 100 } });
      expect(await refusal(server.call('POST /v1/returns', { body: { returnId: `r-${k}`, orderId: 'rb', amountCents: 100 } }))).toMatchObject({ status: 409, code: 'idempotency_conflict' });
    }
    expect((await server.call('GET /v1/orders/:id', { params: { id: 'rb' } })).returns).toEqual([]);
  });

  it('lets exactly one of two members take a key when both arrive at once', async () => {
    for (const k of KEYS) {
      const statusOf = (memberId: string) => server.call('POST /v1/wallet/topups', { body: { requestId: `race-${k}`, memberId, amountCents: 500 } })
        .then(() => 200, (e: unknown) => (e instanceof ApiError ? e.status : 0));
      expect((await Promise.all([statusOf(A), statusOf(B)])).sort()).toEqual([200, 409]);
    }
    expect(await wallet(A) + await wallet(B)).toBe(KEYS.length * 1000 + KEYS.length * 500);
  });

  it('refuses the second use within one stream batch', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/stream`, { headers: { authorization: `Bearer ${server.adminKey}` } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const ack = new Promise<{ results: OpResult[] }>((resolve) => ws.once('message', (d: Buffer) => resolve(packr.unpack(d) as { results: OpResult[] })));
    const before = [await wallet(A), await wallet(B)];
    ws.send(packr.pack({ type: 'batch', id: 1, ops: KEYS.flatMap((k) => [
      { op: 'topup', requestId: `ws-${k}`, memberId: B, amountCents: 300 },
      { op: 'topup', requestId: `ws-${k}`, memberId: A, amountCents: 300 },
    ]) }));
    const results = (await ack).results;
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(KEYS.flatMap(() => ['ok', 'idempotency_conflict']));
    expect([await wallet(A), await wallet(B)]).toEqual([before[0], before[1]! + KEYS.length * 300]);
    ws.close();
  });

  it('frees a key whose op was refused, for another body or member', async () => {
    for (const k of KEYS) {
      expect(await refusal(server.call('POST /v1/points/redemptions', { body: { requestId: `free-${k}`, memberId: A, points: 1_000_000 } }))).toMatchObject({ status: 422, code: 'insufficient_points' });
      await server.call('POST /v1/wallet/topups', { body: { requestId: `free-${k}`, memberId: B, amountCents: 100 } });
    }
  });

  it('leaves a ledger that verifies clean', async () => {
    expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
  });
});
