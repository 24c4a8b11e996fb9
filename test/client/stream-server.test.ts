// The POS stream client against a real server, in both encodings: single ops and whole batches are
// answered in order with the server's figures, a batch sent again on another connection replays
// with the same answers, a refusal is a result with its code, and a wrong key rejects `connected`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PosStream, type WebSocketConstructor } from '../../client/stream.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(ServerProcess.tempDataDir());
const WS = WebSocket as unknown as WebSocketConstructor;

beforeAll(async () => { await server.start(); }, 60_000);
afterAll(async () => { await server.stop(); server.cleanup(); });

const open = (encoding: 'json' | 'msgpack', key = server.adminKey) =>
  new PosStream({ url: `ws://127.0.0.1:${server.port}/v1/stream`, key, WebSocket: WS, encoding, reconnectMaxMs: 200 });

describe.each(['json', 'msgpack'] as const)('PosStream over %s', (encoding) => {
  it('answers single ops and whole batches in order, and replays a batch sent again', async () => {
    const m = `cs-${encoding}`;
    const stream = open(encoding);
    await stream.connected();
    expect(await stream.send('register', { memberId: m })).toMatchObject({ ok: true, memberId: m });
    const batch = [
      { op: 'topup' as const, requestId: `${m}-t1`, memberId: m, amountCents: 5_000 },
      { op: 'withdraw' as const, requestId: `${m}-w1`, memberId: m, amountCents: 9_000 },
      { op: 'withdraw' as const, requestId: `${m}-w2`, memberId: m, amountCents: 1_500 },
    ];
    const first = await stream.sendBatch(batch);
    expect(first.map((r) => (r.ok ? { ok: true, walletBalanceCents: r['walletBalanceCents'], replayed: r.replayed } : { ok: false, code: r.error.code }))).toEqual([
      { ok: true, walletBalanceCents: 5_000, replayed: false },
      { ok: false, code: 'insufficient_wallet' },
      { ok: true, walletBalanceCents: 3_500, replayed: false },
    ]);
    await stream.close();

    // A terminal that lost the acks sends the batch again: what was applied answers the same, marked replayed.
    const again = open(encoding);
    const second = await again.sendBatch(batch);
    expect(second[0]).toEqual({ ...first[0], replayed: true });
    expect(second[2]).toEqual({ ...first[2], replayed: true });
    expect(second[1]).toMatchObject({ ok: false, error: { code: 'insufficient_wallet' } });
    await again.close();
    expect((await server.get(`/v1/members/${m}`)).body).toMatchObject({ walletCents: 3_500 });
  });

  it('rejects connected() and every op when the key is wrong', async () => {
    const stream = open(encoding, 'not-a-key');
    await expect(stream.connected()).rejects.toThrow(/refused the key/);
    await expect(stream.send('register', { memberId: 'nobody' })).rejects.toThrow(/refused the key/);
    await stream.close();
  });
});
