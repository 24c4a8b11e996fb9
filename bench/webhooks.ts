// The webhook benchmark: purchases over the POS stream with no subscription against the same with
// a subscription to every event whose receiver hangs (accepts the connection, never answers), in
// alternating turns on one server in the same run, and then against a receiver that answers at
// once (every purchase is delivered while the turn runs). Delivery runs on a thread of its own at a
// lower priority (it reads the ledger, signs and posts there, with a bounded number in flight), so
// neither a hanging nor an answering receiver should cost the write path much; the ratios say how
// much they do.
//
//   node dist/bench/webhooks.js [--members N] [--ops N] [--turns N] [--shards N] [--quick]
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerChild } from './server-child.js';
import { runWsLoad, type WsLoadResult } from './ws-client.js';
import { machineLine } from './machine.js';
import { alternatingTurns, turnSettings, TURN_STREAM } from './alternating-turns.js';

const { members, opsPerTurn, turns, shards } = turnSettings();
const { terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS } = TURN_STREAM;
const AMOUNT_CENTS = 12_345;
const EVERY_EVENT = [
  'member.registered', 'member.updated', 'member.tier_changed', 'member.erased', 'purchase.recorded', 'return.recorded',
  'points.expiring', 'points.expired', 'points.activated', 'coupon.issued', 'coupon.expiring', 'reward.redeemed', 'card.used',
  'wallet.changed', 'referral.rewarded',
];

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const PROC_TICKS_PER_S = 100;

/**
 * The CPU time the server's main thread has used, in ms (Linux: its task's utime and stime in
 * /proc), or null elsewhere: what delivery takes from the thread that answers requests.
 */
function mainThreadCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 1000 / PROC_TICKS_PER_S;
  } catch {
    return null;
  }
}
const memberIdOf = (i: number): string => `bm${String(i).padStart(7, '0')}`;

/** A receiver on loopback: `hang` holds every request open; otherwise it answers 200 at once and counts. */
function startReceiver(): Promise<{ url: string; setHang(h: boolean): void; received(): number; close(): Promise<void> }> {
  let hang = true;
  let received = 0;
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (hang) { held.push(res); return; }
      received += 1;
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    resolve({
      url: `http://127.0.0.1:${port}/hook`,
      setHang: (h) => { hang = h; },
      received: () => received,
      close: async () => {
        for (const r of held.splice(0)) r.destroy();
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
      },
    });
  }));
}

async function main(): Promise<number> {
  console.log(machineLine());
  console.log(`webhooks: ${shards} shards, ${fmt(members)} members, ${turns} turns of ${fmt(opsPerTurn)} purchases each kind, ` +
    `stream ${TERMINALS} terminals × ${WINDOW_BATCHES} window × ${BATCH_OPS} ops, one subscription to every event type`);
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-bench-webhooks-'));
  const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: String(shards) } });
  const receiver = await startReceiver();
  const problems: string[] = [];
  try {
    await server.start();
    const authorization = `Bearer ${server.adminKey}`;
    let registered = 0;
    const setup = await runWsLoad({
      url: server.streamUrl, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, totalOps: members,
      op: () => ({ op: 'register', memberId: memberIdOf(registered++) }),
    });
    if (setup.failedOps > 0) throw new Error(`registrations failed: ${setup.problems.join(', ')}`);

    let seed = 12345;
    const random = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
    let orderSeq = 0;
    const purchases = (): Promise<WsLoadResult> => runWsLoad({
      url: server.streamUrl, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, totalOps: opsPerTurn,
      op: () => ({ op: 'purchase', orderId: `o${++orderSeq}`, memberId: memberIdOf(Math.floor(random() * members)), amountCents: AMOUNT_CENTS }),
    });
    /** One turn, with a subscription to the receiver for its length when `subscribed`. */
    const turn = async (subscribed: boolean): Promise<WsLoadResult> => {
      if (!subscribed) return await purchases();
      const created = await server.post('/v1/admin/webhooks', { url: receiver.url, events: EVERY_EVENT });
      if (created.status !== 201) throw new Error(`subscription refused: ${JSON.stringify(created.body)}`);
      try {
        return await purchases();
      } finally {
        await server.request('DELETE', `/v1/admin/webhooks/${created.body.id as string}`);
      }
    };
    await turn(false);
    receiver.setHang(true);
    await alternatingTurns(turns, turn, {
      turnLabels: ['no webhook    ', 'hanging recv. '], problemLabels: ['plain', 'hanging receiver'],
      meanLabels: ['purchases/s, no subscription', 'purchases/s, a receiver that hangs'], ratioLabel: 'hanging ÷ none',
    }, problems);
    receiver.setHang(false);
    const before = receiver.received();
    await alternatingTurns(turns, turn, {
      turnLabels: ['no webhook    ', 'answering recv.'], problemLabels: ['plain', 'answering receiver'],
      meanLabels: ['purchases/s, no subscription', 'purchases/s, a receiver answering every event'], ratioLabel: 'answering ÷ none',
    }, problems);
    console.log(`| events the answering receiver got during its turns | ${fmt(receiver.received() - before)} of ${fmt(turns * opsPerTurn)} purchases |`);

    // How fast a subscription catches up once the load stops: one turn of purchases with the
    // subscription in place, then the time until the receiver has every one of them.
    const created = await server.post('/v1/admin/webhooks', { url: receiver.url, events: ['purchase.recorded'] });
    if (created.status !== 201) throw new Error(`subscription refused: ${JSON.stringify(created.body)}`);
    const start = receiver.received();
    await purchases();
    const loadEndMs = performance.now();
    const atLoadEnd = receiver.received() - start;
    const cpuAtLoadEndMs = mainThreadCpuMs(server.child?.pid);
    const deadlineMs = loadEndMs + 600_000;
    while (receiver.received() - start < opsPerTurn && performance.now() < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    const caughtUp = receiver.received() - start;
    if (caughtUp < opsPerTurn) problems.push(`the subscription got ${caughtUp} of ${opsPerTurn} purchases within 10 minutes of the load's end`);
    const catchUpS = (performance.now() - loadEndMs) / 1000;
    console.log(`| delivery with no load, one receiver answering at once (events/s, ${shards} lanes) | ${fmt((caughtUp - atLoadEnd) / catchUpS)} |`);
    const cpuCaughtUpMs = mainThreadCpuMs(server.child?.pid);
    if (cpuAtLoadEndMs !== null && cpuCaughtUpMs !== null && caughtUp > atLoadEnd) {
      console.log(`| the server's main thread's CPU per event delivered meanwhile (µs) | ${fmt((cpuCaughtUpMs - cpuAtLoadEndMs) * 1000 / (caughtUp - atLoadEnd))} |`);
    }
  } finally {
    await server.stop();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
