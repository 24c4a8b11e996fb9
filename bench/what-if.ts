// The what-if benchmark, over a real server: a history of registrations (a fifth of them referred,
// so credits cross shards) and stream purchases is recorded; then the what-if under doubled earn
// rates runs alone (its rate in log entries and ops per second, each replayed on both scratch
// copies), and again while HTTP purchases arrive at a fixed rate, whose latency is compared with
// the same load without a what-if. The what-if thread runs at nice 10; this says what that buys.
//
//   node dist/bench/what-if.js [--quick] [--purchases N] [--rate REQ_PER_S] [--pause-ms MS] [--keep]
//
// --pause-ms sets the server's LOYALTY_WHAT_IF_PAUSE_MS (the what-if thread's pause between its
// 20 ms slices; 0: none), to compare the latency it buys with the time it costs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerChild } from './server-child.js';
import { StreamTerminal } from './stream-terminal.js';
import { runHttpLoad, type HttpLoadResult } from './http-client.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';
import type { WhatIfReport } from '../engine/rules/what-if-report.js';

const quick = process.argv.includes('--quick');
const MEMBERS = quick ? 1_000 : 20_000;
const PURCHASES = Number(flag('--purchases') ?? (quick ? 5_000 : 200_000));
/** HTTP purchases per second during the latency phases: a steady POS load well under the ceiling. */
const RATE = Number(flag('--rate') ?? (quick ? 200 : 1_000));
const CONNECTIONS = 16;
const STREAM_BATCH_OPS = 500;
const STREAM_BATCHES_IN_FLIGHT = 16;
/** The loaded phase lasts this share of the what-if's time alone, so the what-if runs throughout it. */
const LOADED_SHARE = 0.7;
const LOADED_MS_MIN = 1_000;
const POLL_MS = 20;
const MS_PER_S = 1000;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const dir = mkdtempSync(join(tmpdir(), 'loyalty-what-if-bench-'));
const pauseMs = flag('--pause-ms');
const server = new ServerChild({ dataDir: dir, env: { LOYALTY_SHARDS: '2', LOYALTY_SWEEP_INTERVAL_MS: '0', ...(pauseMs === undefined ? {} : { LOYALTY_WHAT_IF_PAUSE_MS: pauseMs }) } });

async function ok(method: string, path: string, body: unknown): Promise<any> {
  const r = await server.request(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Sends `count` ops built by `op(i)` over the stream, STREAM_BATCH_OPS a batch, several batches in flight. */
async function streamOps(terminal: StreamTerminal, count: number, op: (i: number) => Record<string, unknown>, firstId: number): Promise<number> {
  let id = firstId;
  const inflight: Array<Promise<void>> = [];
  for (let from = 0; from < count; from += STREAM_BATCH_OPS) {
    const ops = Array.from({ length: Math.min(STREAM_BATCH_OPS, count - from) }, (_, k) => op(from + k));
    const batchId = id++;
    terminal.send({ type: 'batch', id: batchId, ops });
    inflight.push(terminal.ack(batchId).then((ack: { results: Array<{ ok: boolean; error?: unknown }> }) => {
      const failed = ack.results.find((r) => !r.ok);
      if (failed !== undefined) throw new Error(`stream op refused: ${JSON.stringify(failed)}`);
    }));
    if (inflight.length >= STREAM_BATCHES_IN_FLIGHT) await inflight.shift();
  }
  await Promise.all(inflight);
  return id;
}

/** Starts a what-if and resolves with its report once done. */
async function whatIf(program: unknown): Promise<WhatIfReport> {
  const started = await ok('POST', '/v1/admin/what-if', { program });
  for (;;) {
    const job = await ok('GET', `/v1/admin/what-if/${started.id}`, undefined);
    if (job.state === 'done') return job.result as WhatIfReport;
    if (job.state === 'failed') throw new Error(`what-if failed: ${job.error.message}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

let orderNo = 0;
function load(durationMs: number): Promise<HttpLoadResult> {
  return runHttpLoad({
    origin: `http://127.0.0.1:${server.port}`, connections: CONNECTIONS, durationMs, targetReqPerS: RATE,
    headers: { authorization: `Bearer ${server.adminKey}` },
    request: () => {
      const n = orderNo++;
      return { path: '/v1/purchases', body: JSON.stringify({ orderId: `h-${n}`, memberId: `m${(n * 7_919) % MEMBERS}`, amountCents: 1_000 + (n % 50_000) }) };
    },
  });
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`what-if thread pause between 20 ms slices: ${pauseMs ?? 'the default'} ms`);
  await server.start();
  try {
    const { version: _version, ...demo } = await ok('GET', '/v1/program', undefined);
    const program = {
      ...demo, pointsExpiryDays: 365,
      referral: { enabled: true, refereePoints: 10, levels: [{ registerPoints: 20, firstPurchasePoints: 30, repeatPurchasePoints: 2, purchaseSharePct: 5 }, { registerPoints: 5, firstPurchasePoints: 10, repeatPurchasePoints: 1, purchaseSharePct: 2 }] },
    };
    await ok('PUT', '/v1/program', program);
    const terminal = await StreamTerminal.open(`ws://127.0.0.1:${server.port}/v1/stream`, server.adminKey);
    const built = performance.now();
    // Registrations in waves, a referrer always from an earlier wave (so it exists when referred).
    let id = 1;
    const wave = MEMBERS / 4;
    for (let from = 0; from < MEMBERS; from += wave) {
      id = await streamOps(terminal, wave, (i) => {
        const n = from + i;
        return from > 0 && n % 5 === 0 ? { op: 'register', memberId: `m${n}`, referrerId: `m${n % from}` } : { op: 'register', memberId: `m${n}` };
      }, id);
    }
    id = await streamOps(terminal, PURCHASES, (n) => ({ op: 'purchase', orderId: `s-${n}`, memberId: `m${(n * 104_729) % MEMBERS}`, amountCents: 500 + (n % 80_000) }), id);
    terminal.close();
    // Credits land just after their acks: let them.
    await new Promise((r) => setTimeout(r, 500));
    console.log(`history: ${fmt(MEMBERS)} members, ${fmt(PURCHASES)} purchases over the stream in ${fmt((performance.now() - built) / MS_PER_S, 1)} s`);

    const tiers = program.tiers as Array<{ earn: { cents: number; points: number } }>;
    const doubled = { ...program, tiers: tiers.map((t) => ({ ...t, earn: { ...t.earn, points: t.earn.points * 2 } })) };
    const alone = await whatIf(doubled);
    const aloneMs = alone.replay.ms;
    const loadedMs = Math.max(LOADED_MS_MIN, Math.round(aloneMs * LOADED_SHARE));
    const baseline = await load(loadedMs);
    const [during, loadedReport] = await Promise.all([load(loadedMs), whatIf(doubled)]);

    console.log('');
    console.log('| figure | value |');
    console.log('|---|---|');
    console.log(`| log entries replayed (both copies each) | ${fmt(alone.replay.batches)} (${fmt(alone.replay.ops)} ops) |`);
    console.log(`| what-if alone | ${fmt(aloneMs / MS_PER_S, 2)} s, ${fmt(alone.replay.batchesPerS)} entries/s, ${fmt(alone.replay.ops / (aloneMs / MS_PER_S))} ops/s |`);
    console.log(`| what-if under ${fmt(RATE)} purchases/s (the history and the first load's purchases) | ${fmt(loadedReport.replay.ms / MS_PER_S, 2)} s, ${fmt(loadedReport.replay.batchesPerS)} entries/s, ${fmt(loadedReport.replay.ops / (loadedReport.replay.ms / MS_PER_S))} ops/s |`);
    console.log(`| HTTP purchases at ${fmt(RATE)}/s, no what-if: p50 / p99 / p99.9 ms | ${fmt(baseline.p50Ms, 2)} / ${fmt(baseline.p99Ms, 2)} / ${fmt(baseline.p999Ms, 2)} (${fmt(baseline.reqPerS)} req/s) |`);
    console.log(`| the same during a what-if: p50 / p99 / p99.9 ms | ${fmt(during.p50Ms, 2)} / ${fmt(during.p99Ms, 2)} / ${fmt(during.p999Ms, 2)} (${fmt(during.reqPerS)} req/s) |`);
    console.log(`| p99 during / without | ${fmt(during.p99Ms / baseline.p99Ms, 2)}x |`);
    console.log('');
    console.log(`what-if: pointsIssued ${fmt(alone.actual.pointsIssued)} -> ${fmt(alone.whatIf.pointsIssued)}, credits ${fmt(alone.credits.substituted)} substituted`);
    for (const r of [baseline, during]) {
      if (r.errors > 0 || r.non2xx > 0) throw new Error(`load problems: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.firstProblem ?? ''}`);
    }
  } finally {
    await server.stop();
    if (process.argv.includes('--keep')) console.log(`data folder kept: ${dir}`); else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
