// The POS stream client (client/stream.ts) keeps exactly-once effects across server crashes: ops are
// sent while the server is SIGKILLed three times and restarted on the same data folder and port;
// every op's promise settles with its result, and every member's wallet, points and ledger hold
// each op once: none lost, none doubled.
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LoyaltyClient } from '../../client/http.js';
import { PosStream, type OpResult, type WebSocketConstructor } from '../../client/stream.js';
import { ServerProcess } from '../helpers/server-process.js';
import { freePort } from '../../bench/free-port.js';

const MEMBERS = 20;
const OPS = 3_000;
/** The kills come once this many ops are answered: a quarter, half and three quarters of the way. */
const KILL_AT_ANSWERED = [750, 1_500, 2_250];
/** Ops the sender keeps unanswered, so that every kill finds batches in flight (some on disk, not acked). */
const IN_FLIGHT_OPS = 400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the POS stream client across three SIGKILLs', () => {
  let server: ServerProcess | null = null;
  afterAll(async () => { await server?.kill(); server?.cleanup(); });

  it('loses no op, doubles none, and settles every promise', async () => {
    const port = await freePort();
    server = new ServerProcess(ServerProcess.tempDataDir(), { PORT: String(port) });
    await server.start();
    const http = new LoyaltyClient({ baseUrl: `http://127.0.0.1:${port}`, key: server.adminKey });
    const ids = Array.from({ length: MEMBERS }, (_, i) => `k${i}`);
    const before = new Map<string, { points: number; walletCents: number; entries: number }>();
    for (const id of ids) {
      const m = await http.register({ memberId: id });
      const ledger = await http.call('GET /v1/members/:id/ledger', { params: { id }, query: { limit: 1000 } });
      before.set(id, { points: m.points, walletCents: (m as { walletCents?: number }).walletCents ?? 0, entries: ledger.entries.length });
    }

    const stream = new PosStream({ url: `ws://127.0.0.1:${port}/v1/stream`, key: server.adminKey, WebSocket: WebSocket as unknown as WebSocketConstructor, batchOpsMax: 50, reconnectMaxMs: 1_000 });
    const expected = new Map(ids.map((id) => [id, { points: 0, walletCents: 0, ops: 0 }]));
    const results: Array<Promise<OpResult>> = [];
    const pendingAtKill: number[] = [];
    let restarts = Promise.resolve();
    let answered = 0;
    let kills = 0;
    const onAnswer = (): void => {
      answered += 1;
      if (kills < KILL_AT_ANSWERED.length && answered >= KILL_AT_ANSWERED[kills]!) {
        kills += 1;
        const s = server!;
        const afterMs = 4 * kills;
        restarts = restarts.then(async () => {
          // A few milliseconds after an ack, later batches are being committed: some land on disk unacknowledged.
          await sleep(afterMs);
          pendingAtKill.push(stream.pendingOps);
          await s.kill();
          await sleep(300);
          await s.start();
        });
      }
    };
    for (let i = 0; i < OPS; i++) {
      while (stream.pendingOps >= IN_FLIGHT_OPS) await sleep(2);
      const memberId = ids[i % MEMBERS]!;
      const e = expected.get(memberId)!;
      e.ops += 1;
      if (i % 2 === 0) {
        e.walletCents += 100 + i;
        results.push(stream.send('topup', { requestId: `t-${i}`, memberId, amountCents: 100 + i }).finally(onAnswer));
      } else {
        e.points += 1 + i;
        results.push(stream.send('adjust', { requestId: `a-${i}`, memberId, points: 1 + i, reason: 'kill test' }).finally(onAnswer));
      }
    }
    const settled = await Promise.allSettled(results);
    await restarts;
    await stream.close();

    expect(pendingAtKill.length).toBe(3);
    for (const n of pendingAtKill) expect(n, 'ops were in flight at each kill').toBeGreaterThan(0);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    const refused = settled.map((s) => (s as PromiseFulfilledResult<OpResult>).value).filter((r) => !r.ok);
    expect(refused).toEqual([]);
    expect(stream.reconnects).toBeGreaterThanOrEqual(3);
    expect(stream.resentBatches).toBeGreaterThan(0);

    for (const id of ids) {
      const m = await http.member(id);
      const ledger = await http.call('GET /v1/members/:id/ledger', { params: { id }, query: { limit: 1000 } });
      const b = before.get(id)!;
      const e = expected.get(id)!;
      expect({ id, points: m.points, walletCents: m.walletCents, entries: ledger.entries.length })
        .toEqual({ id, points: b.points + e.points, walletCents: b.walletCents + e.walletCents, entries: b.entries + e.ops });
    }
    const replayed = settled.filter((s) => (s as PromiseFulfilledResult<OpResult>).value.ok && (s as PromiseFulfilledResult<OpResult & { replayed?: boolean }>).value.replayed === true).length;
    process.stdout.write(`stream client: ${OPS} ops, ${stream.reconnects} reconnects, ${stream.resentBatches} batches resent, ${replayed} ops replayed, in flight at the kills: ${pendingAtKill.join(', ')}\n`);
  }, 240_000);
});
