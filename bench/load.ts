// The load harness: measures the raw LMDB and bare uWS ceilings, then drives a real server over
// loopback through the POS stream and the HTTP API, checks the ledger with verify, replays its
// batch log (`loyalty replay --check`), measures the same stream and HTTP phases on a server with
// the batch log off (a benchmark switch) to give the log's cost, and prints one table of
// throughput, latency, memory and storage figures with their ratios to the ceilings.
//
//   node dist/bench/load.js [--quick] [--duration S] [--shards N]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { runHttpLoad, type HttpLoadResult } from './http-client.js';
import { measureLmdbPutsPerS } from './lmdb-baseline.js';
import { machineLine } from './machine.js';
import { runWsLoad, type StreamOp, type WsLoadResult } from './ws-client.js';
import { checkReplay } from '../engine/history/replay-check.js';

/** Conventional reference: a Node.js API on PostgreSQL, one transaction per purchase over HTTP (the issue's figure). */
const POSTGRES_HTTP_PURCHASES_PER_S = 2_500;
/** Conventional reference: the same stack with batched inserts, the best it reaches (the issue's figure). */
const POSTGRES_BATCHED_PURCHASES_PER_S = 14_000;

const MS_PER_S = 1000;
const BYTES_PER_MIB = 1024 * 1024;
const KIB = 1024;
const HOST = '127.0.0.1';
/** Register ops per stream batch while loading members. */
const REGISTER_BATCH_OPS = 1_000;
const AMOUNT_CENTS_MIN = 100;
const AMOUNT_CENTS_MAX = 100_000;
/** How often the server's resident memory is sampled during the load phases. */
const RSS_SAMPLE_INTERVAL_MS = 1_000;
/** A child that has not started or stopped in this long is treated as broken. */
const CHILD_START_TIMEOUT_MS = 30_000;
const CHILD_STOP_TIMEOUT_MS = 15_000;
/** Verify reads the whole ledger; millions of entries take a while. */
const VERIFY_TIMEOUT_MS = 300_000;
/** Log lines of a child kept to explain a failure. */
const CHILD_LOG_LINES_MAX = 50;
const SHARDS_MAX = 64;
/** Generous bound on any phase so that a stuck run still ends. */
const DURATION_S_MAX = 600;

/** A bad command line: reported as one line, without a stack. */
class UsageError extends Error {}

interface Settings {
  quick: boolean;
  durationMs: number;
  shards: number;
  terminals: number;
  windowBatches: number;
  batchOps: number;
  connections: number;
  members: number;
  lmdbBaselineMs: number;
  uwsBaselineMs: number;
  /** Each load phase first runs this long uncounted, so that client and server are past their JIT warm-up. */
  warmupMs: number;
}

function parseSettings(argv: readonly string[]): Settings {
  const quick = argv.includes('--quick');
  const valueOf = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const value = argv[i + 1];
    if (value === undefined) throw new UsageError(`load: ${flag} needs a value`);
    return value;
  };
  const known = new Set(['--quick', '--duration', '--shards']);
  argv.forEach((arg, i) => {
    if (arg.startsWith('--') && !known.has(arg)) throw new UsageError(`load: unknown flag ${arg} (flags: --quick, --duration S, --shards N)`);
    if (!arg.startsWith('--') && !['--duration', '--shards'].includes(argv[i - 1] ?? '')) throw new UsageError(`load: unexpected argument ${arg}`);
  });
  const durationText = valueOf('--duration');
  const durationS = durationText === undefined ? (quick ? 1 : 10) : Number(durationText);
  if (!(durationS > 0 && durationS <= DURATION_S_MAX)) throw new UsageError(`load: --duration must be in (0, ${DURATION_S_MAX}] seconds, got ${durationText}`);
  const shardsText = valueOf('--shards');
  const shards = shardsText === undefined ? 2 : Number(shardsText);
  if (!(Number.isInteger(shards) && shards >= 1 && shards <= SHARDS_MAX)) throw new UsageError(`load: --shards must be 1..${SHARDS_MAX}, got ${shardsText}`);
  return quick
    ? { quick, durationMs: durationS * MS_PER_S, shards, terminals: 2, windowBatches: 8, batchOps: 200, connections: 8, members: 1_000, lmdbBaselineMs: 500, uwsBaselineMs: 500, warmupMs: 200 }
    : { quick, durationMs: durationS * MS_PER_S, shards, terminals: 4, windowBatches: 8, batchOps: 1_000, connections: 64, members: 10_000, lmdbBaselineMs: 3_000, uwsBaselineMs: 3_000, warmupMs: 2_000 };
}

/** A child process that prints one JSON line announcing its port, with its last log lines kept. */
class Child {
  readonly logs: string[] = [];
  exited = false;
  exitCode: number | null = null;
  private constructor(readonly process: ChildProcess) {
    process.once('exit', (code, signal) => { this.exited = true; this.exitCode = code; this.keep(`(exited ${code ?? signal})`); });
  }

  keep(line: string): void {
    this.logs.push(line);
    if (this.logs.length > CHILD_LOG_LINES_MAX) this.logs.shift();
  }

  /** Spawns `node script` and resolves with the child once a stdout JSON line passes `ready`. */
  static async start(name: string, script: string, env: Record<string, string>, ready: (line: Record<string, unknown>) => number | undefined): Promise<{ child: Child; port: number }> {
    const proc = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const child = new Child(proc);
    children.add(child);
    createInterface({ input: proc.stderr! }).on('line', (line) => child.keep(line));
    const lines = createInterface({ input: proc.stdout! });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in ${CHILD_START_TIMEOUT_MS} ms:\n${child.logs.join('\n')}`)), CHILD_START_TIMEOUT_MS);
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited ${code} before listening:\n${child.logs.join('\n')}`)); });
      lines.on('line', (line) => {
        child.keep(line);
        let record: Record<string, unknown>;
        try { record = JSON.parse(line) as Record<string, unknown>; } catch { return; }
        const found = ready(record);
        if (found !== undefined) { clearTimeout(timer); resolve(found); }
      });
    });
    return { child, port };
  }

  get pid(): number { return this.process.pid!; }

  /** SIGTERM, then SIGKILL if it has not exited in CHILD_STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => { if (!this.exited) this.process.kill('SIGKILL'); }, CHILD_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    children.delete(this);
  }
}

/** Every child and temporary folder of this run, released in `cleanup` whatever happens. */
const children = new Set<Child>();
const tempDirs = new Set<string>();

async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop().catch(() => { c.process.kill('SIGKILL'); })));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * Resident memory of a process in bytes, from /proc/<pid>/status (in kB): `VmRSS`, or `RssAnon`,
 * the part that is the process's own memory, without the pages of the memory-mapped LMDB files
 * (which grow with the data, as a page cache does). Undefined once the process is gone.
 */
function rssBytesOf(pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * KIB : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS at the start, every RSS_SAMPLE_INTERVAL_MS, and at the end of a phase. */
async function withRssSamples<T>(pid: number, phase: () => Promise<T>): Promise<{ result: T; rssBytes: number[]; anonBytes: number[] }> {
  const rssBytes: number[] = [];
  const anonBytes: number[] = [];
  const sample = (): void => {
    const rss = rssBytesOf(pid);
    const anon = rssBytesOf(pid, 'RssAnon');
    if (rss !== undefined) rssBytes.push(rss);
    if (anon !== undefined) anonBytes.push(anon);
  };
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_INTERVAL_MS);
  try {
    const result = await phase();
    sample();
    return { result, rssBytes, anonBytes };
  } finally {
    clearInterval(timer);
  }
}

const randomInt = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));
const memberIdOf = (i: number): string => `m${i}`;
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => n.toFixed(2);
const fmtRatio = (n: number): string => n.toFixed(3);
const fmtMiB = (bytes: number): string => (bytes / BYTES_PER_MIB).toFixed(1);

function describeHttp(label: string, r: HttpLoadResult): string {
  return `${label}: ${fmtInt(r.reqPerS)} req/s, ${fmtInt(r.requests)} requests, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms, ` +
    `p99.9 ${fmtMs(r.p999Ms)} ms, ${r.errors} errors, ${r.non2xx} non-2xx${r.firstProblem ? ` (first: ${r.firstProblem})` : ''}`;
}

function describeWs(label: string, r: WsLoadResult): string {
  return `${label}: ${fmtInt(r.opsPerS)} ops/s, ${fmtInt(r.ops)} ops in ${fmtInt(r.batches)} batches, batch p50 ${fmtMs(r.batchP50Ms)} ms, ` +
    `p99 ${fmtMs(r.batchP99Ms)} ms, p99.9 ${fmtMs(r.batchP999Ms)} ms, ${r.failedOps} failed ops${r.problems.length > 0 ? ` (${r.problems.join(', ')})` : ''}`;
}

interface Verify { ok: boolean; members: number; entries: number; mismatches: unknown[] }

/** The server's listening line: the port it chose. */
const listening = (line: Record<string, unknown>): number | undefined => (line['msg'] === 'loyalty ledger listening' && typeof line['port'] === 'number' ? line['port'] : undefined);

/** Turns each server gets in the log-cost comparison (2 with --quick); the one going first alternates. */
const LOG_COST_TURNS = 4;
const LOG_COST_TURNS_QUICK = 2;
/** A turn shorter than this may end before a loaded machine acks one 1,000-op stream batch. */
const LOG_COST_TURN_MS_MIN = 1_000;
/** Warm-up of each turn after a server's first (JIT and caches are warm by then). */
const TURN_WARMUP_MS = 300;

interface LogCost { wsOn: number; wsOff: number; httpOn: number; httpOff: number }

/**
 * What the batch log costs: the stream and closed-loop HTTP phases on the running server (log on)
 * and on a fresh one whose shards commit without their log entries (LOYALTY_TEST_NO_BATCH_LOG=1,
 * a switch for this benchmark only), in turns (on, off, off, on, …) of a quarter phase each, so that
 * both see the same machine: one long phase after the other measured this shared machine's swings
 * (from 0.98 to 1.38 between runs) more than the log. The logged server holds more data by then,
 * which counts against the log.
 */
async function runLogCost(
  s: Settings,
  logged: { port: number; authorization: string },
  purchaseOp: (prefix: string) => (i: number) => StreamOp,
  httpBody: (prefix: string) => (i: number) => { path: string; body: string },
  problems: string[],
): Promise<LogCost> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-load-unlogged-'));
  tempDirs.add(dataDir);
  const server = await Child.start('server (batch log off)', fileURLToPath(new URL('../server/main.js', import.meta.url)),
    { PORT: '0', HOST, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: String(s.shards), LOG_LEVEL: 'info', LOYALTY_TEST_NO_BATCH_LOG: '1' }, listening);
  const unlogged = { port: server.port, authorization: `Bearer ${readFileSync(join(dataDir, 'admin.key'), 'utf8').trim()}` };
  const wsUrl = (port: number) => `ws://${HOST}:${port}/v1/stream`;
  await runWsLoad({ url: wsUrl(unlogged.port), authorization: unlogged.authorization, terminals: s.terminals, windowBatches: s.windowBatches, batchOps: REGISTER_BATCH_OPS, totalOps: s.members, op: (i) => ({ op: 'register', memberId: memberIdOf(i) }) });
  const sides = [{ name: 'on', ...logged }, { name: 'off', ...unlogged }] as const;
  const turns = s.quick ? LOG_COST_TURNS_QUICK : LOG_COST_TURNS;
  const turnMs = Math.max(LOG_COST_TURN_MS_MIN, s.durationMs / turns);
  const sum = { ws: { on: [0, 0], off: [0, 0] }, http: { on: [0, 0], off: [0, 0] } } as Record<'ws' | 'http', Record<'on' | 'off', [number, number]>>;
  for (let turn = 0; turn < turns; turn++) {
    for (const side of turn % 2 === 0 ? sides : [...sides].reverse()) {
      const warmupMs = turn < 2 ? s.warmupMs : TURN_WARMUP_MS;
      const ws = await runWsLoad({ url: wsUrl(side.port), authorization: side.authorization, terminals: s.terminals, windowBatches: s.windowBatches, batchOps: s.batchOps, durationMs: turnMs, warmupMs, op: purchaseOp(`c${turn}w`) });
      sum.ws[side.name][0] += ws.ops;
      sum.ws[side.name][1] += ws.elapsedMs;
      if (ws.failedOps > 0) problems.push(`the log-cost stream turn with the log ${side.name} had failed ops`);
    }
  }
  for (let turn = 0; turn < turns; turn++) {
    for (const side of turn % 2 === 0 ? sides : [...sides].reverse()) {
      const warmupMs = turn < 2 ? s.warmupMs : TURN_WARMUP_MS;
      const http = await runHttpLoad({ origin: `http://${HOST}:${side.port}`, connections: s.connections, durationMs: turnMs, warmupMs, headers: { authorization: side.authorization }, request: httpBody(`c${turn}h`) });
      sum.http[side.name][0] += http.requests;
      sum.http[side.name][1] += http.elapsedMs;
      if (http.errors > 0 || http.non2xx > 0) problems.push(`the log-cost HTTP turn with the log ${side.name} had errors`);
    }
  }
  for (const phase of ['ws', 'http'] as const) {
    for (const side of ['on', 'off'] as const) if (sum[phase][side][0] === 0) problems.push(`the log-cost ${phase} turns with the log ${side} completed nothing`);
  }
  if (server.child.exited) problems.push(`the server with the batch log off exited (code ${server.child.exitCode})`);
  await server.child.stop();
  const rate = ([count, ms]: [number, number]) => count / (ms / MS_PER_S);
  const cost = { wsOn: rate(sum.ws.on), wsOff: rate(sum.ws.off), httpOn: rate(sum.http.on), httpOff: rate(sum.http.off) };
  console.log(`log cost: ws ${fmtInt(cost.wsOn)} ops/s with the log, ${fmtInt(cost.wsOff)} without; http ${fmtInt(cost.httpOn)} req/s with, ${fmtInt(cost.httpOff)} without (${turns} turns of ${fmtInt(turnMs)} ms each)`);
  return cost;
}

async function main(): Promise<number> {
  const s = parseSettings(process.argv.slice(2));
  const problems: string[] = [];
  console.log(machineLine());
  console.log(`load: ${s.quick ? '--quick, ' : ''}${s.durationMs / MS_PER_S} s per phase, ${s.shards} shards, ws ${s.terminals} terminals × ${s.windowBatches} window × ${s.batchOps} ops, ` +
    `http ${s.connections} connections, ${fmtInt(s.members)} members, ${s.warmupMs / MS_PER_S} s uncounted warm-up per phase`);

  // 1. The storage ceiling, before anything else runs on the machine.
  const lmdbPutsPerS = await measureLmdbPutsPerS(s.lmdbBaselineMs);
  console.log(`lmdb raw: ${fmtInt(lmdbPutsPerS)} puts/s (1,000 puts per transaction, awaiting flushed, ${s.lmdbBaselineMs / MS_PER_S} s)`);

  // 2. The HTTP ceiling: the same client against a server that does nothing but parse and answer.
  const bare = await Child.start('bare uWS', fileURLToPath(new URL('./bare-uws.js', import.meta.url)), {},
    (line) => (typeof line['port'] === 'number' ? line['port'] : undefined));
  const bareResult = await runHttpLoad({
    origin: `http://${HOST}:${bare.port}`, connections: s.connections, durationMs: s.uwsBaselineMs, warmupMs: s.warmupMs,
    request: (i) => ({ path: '/v1/purchases', body: `{"orderId":"b-${i}","memberId":"m${i % s.members}","amountCents":${randomInt(AMOUNT_CENTS_MIN, AMOUNT_CENTS_MAX)}}` }),
  });
  await bare.child.stop();
  console.log(describeHttp(`bare uWS (${bare.child.logs[0] ?? ''})`, bareResult));
  if (bareResult.errors > 0 || bareResult.non2xx > 0) problems.push('the bare uWS baseline had errors');

  // 3. The real server on a fresh data folder.
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-load-'));
  tempDirs.add(dataDir);
  const server = await Child.start('server', fileURLToPath(new URL('../server/main.js', import.meta.url)),
    { PORT: '0', HOST, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: String(s.shards), LOG_LEVEL: 'info' },
    (line) => (line['msg'] === 'loyalty ledger listening' && typeof line['port'] === 'number' ? line['port'] : undefined));
  const adminKey = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
  const authorization = `Bearer ${adminKey}`;
  const origin = `http://${HOST}:${server.port}`;
  const streamUrl = `ws://${HOST}:${server.port}/v1/stream`;
  console.log(`server: pid ${server.child.pid}, port ${server.port}, ${server.child.logs.find((l) => l.includes('listening')) ?? ''}`);

  /** A server that died takes the remaining phases with it: stop there, with its last words. */
  const assertServerAlive = (after: string): void => {
    if (server.child.exited) throw new Error(`load: the server exited (code ${server.child.exitCode}) during ${after}; last log lines:\n${server.child.logs.join('\n')}`);
  };

  const registration = await runWsLoad({
    url: streamUrl, authorization, terminals: s.terminals, windowBatches: s.windowBatches, batchOps: REGISTER_BATCH_OPS,
    totalOps: s.members, op: (i) => ({ op: 'register', memberId: memberIdOf(i) }),
  });
  console.log(describeWs('register members (stream)', registration));
  if (registration.ops !== s.members) problems.push(`registered ${registration.ops} of ${s.members} members`);
  assertServerAlive('registration');

  const purchaseOp = (prefix: string) => (i: number) => ({
    op: 'purchase' as const, orderId: `${prefix}-${i}`, memberId: memberIdOf(randomInt(0, s.members - 1)), amountCents: randomInt(AMOUNT_CENTS_MIN, AMOUNT_CENTS_MAX),
  });
  const ws = await withRssSamples(server.child.pid, () => runWsLoad({
    url: streamUrl, authorization, terminals: s.terminals, windowBatches: s.windowBatches, batchOps: s.batchOps,
    durationMs: s.durationMs, warmupMs: s.warmupMs, op: purchaseOp('w'),
  }));
  console.log(describeWs('ws purchases', ws.result));
  if (ws.result.failedOps > 0 || ws.result.ops === 0) problems.push('the WebSocket phase had failed ops');
  assertServerAlive('the WebSocket phase');

  const httpBody = (prefix: string) => (i: number) => {
    const memberId = memberIdOf(randomInt(0, s.members - 1));
    return { path: '/v1/purchases', body: `{"orderId":"${prefix}-${i}","memberId":"${memberId}","amountCents":${randomInt(AMOUNT_CENTS_MIN, AMOUNT_CENTS_MAX)}}` };
  };
  const http = await withRssSamples(server.child.pid, () => runHttpLoad({
    origin, connections: s.connections, durationMs: s.durationMs, warmupMs: s.warmupMs, headers: { authorization }, request: httpBody('h'),
  }));
  console.log(describeHttp(`http purchases, closed loop, ${s.connections} connections`, http.result));
  if (http.result.errors > 0 || http.result.non2xx > 0 || http.result.requests === 0) problems.push('the HTTP closed-loop phase had errors');
  assertServerAlive('the HTTP closed-loop phase');

  const openRatePerS = http.result.reqPerS / 2;
  const open = await withRssSamples(server.child.pid, () => runHttpLoad({
    origin, connections: s.connections, durationMs: s.durationMs, warmupMs: s.warmupMs, headers: { authorization }, targetReqPerS: openRatePerS, request: httpBody('o'),
  }));
  console.log(describeHttp(`http purchases, open loop at ${fmtInt(openRatePerS)} req/s`, open.result));
  if (open.result.errors > 0 || open.result.non2xx > 0 || open.result.requests === 0) problems.push('the HTTP open-loop phase had errors');
  assertServerAlive('the HTTP open-loop phase');

  // 4. What the batch log costs: the same phases in turns with a server whose log is off.
  const logCost = await runLogCost(s, { port: server.port, authorization }, purchaseOp, httpBody, problems);
  assertServerAlive('the log-cost comparison');

  // 5. The ledger must add up, and its size per entry says what the storage costs.
  const verifyRes = await request(`${origin}/v1/admin/verify`, {
    headers: { authorization }, headersTimeout: VERIFY_TIMEOUT_MS, bodyTimeout: VERIFY_TIMEOUT_MS,
  });
  const verifyText = await verifyRes.body.text();
  let verify: Verify = { ok: false, members: 0, entries: 0, mismatches: [] };
  try { verify = JSON.parse(verifyText) as Verify; } catch { /* reported below */ }
  const verifyOk = verifyRes.statusCode === 200 && verify.ok === true;
  console.log(`verify: ${verifyOk ? 'ok' : 'FAILED'}, ${fmtInt(verify.members)} members, ${fmtInt(verify.entries)} entries` +
    `${verifyOk ? '' : `, HTTP ${verifyRes.statusCode} ${verifyText.slice(0, 500)}`}`);
  if (!verifyOk) problems.push('verify is not ok');
  if (server.child.exited) problems.push(`the server exited during the run (code ${server.child.exitCode})`);
  // The ledger database alone (GET /metrics reports each database's pages): what an entry costs.
  const metricsText = await (await request(`${origin}/metrics`, { headers: { authorization } })).body.text();
  const ledgerBytes = Number(/loyalty_db_bytes\{db="ledger"\} (\d+)/.exec(metricsText)?.[1] ?? Number.NaN);
  const ledgerBytesPerEntry = verify.entries > 0 ? ledgerBytes / verify.entries : Number.NaN;
  // The batch log: its pages on disk over the ops it holds (registrations and purchases here).
  const logBytes = Number(/loyalty_db_bytes\{db="log"\} (\d+)/.exec(metricsText)?.[1] ?? Number.NaN);
  const logOps = [...metricsText.matchAll(/^loyalty_log_ops\{shard="\d+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  const logBytesPerOp = logOps > 0 ? logBytes / logOps : Number.NaN;

  await server.child.stop();
  const dataBytes = readdirSync(dataDir)
    .filter((name) => name.startsWith('shard-'))
    .reduce((sum, name) => sum + statSync(join(dataDir, name, 'data.mdb')).size, 0);
  const bytesPerEntry = verify.entries > 0 ? dataBytes / verify.entries : Number.NaN;

  // 6. The replay check on the stopped server's folder: every shard rebuilt from its log and compared.
  const replay = await checkReplay({ dataDir });
  console.log(`replay: ${replay.ok ? 'ok' : 'FAILED'}, ${fmtInt(replay.batches)} batches, ${fmtInt(replay.ops)} ops in ${fmtInt(replay.ms)} ms` +
    `${replay.ok ? '' : `: ${JSON.stringify(replay.error ?? replay.differences.slice(0, 3))}`}`);
  if (!replay.ok) problems.push('the replay check failed');

  const rss = ws.rssBytes;
  const rssMin = Math.min(...rss);
  const rssMax = Math.max(...rss);
  // Half the range over its midpoint: RSS moved ±this much around the middle of the phase.
  const rssSpreadPct = ((rssMax - rssMin) / (rssMax + rssMin)) * 100;
  const httpRssMax = Math.max(...http.rssBytes, ...open.rssBytes);

  const wsLabel = `${s.terminals} terminals × ${s.windowBatches} window × ${s.batchOps} ops`;
  const rows: Array<[string, string, string]> = [
    ['raw lmdb puts (1,000 per txn, flushed)', fmtInt(lmdbPutsPerS), 'puts/s'],
    [`bare uWS, ${s.connections} connections`, fmtInt(bareResult.reqPerS), 'req/s'],
    [`WS purchases, ${wsLabel}`, fmtInt(ws.result.opsPerS), 'ops/s'],
    ['WS batch latency p50', fmtMs(ws.result.batchP50Ms), 'ms'],
    ['WS batch latency p99', fmtMs(ws.result.batchP99Ms), 'ms'],
    ['WS batch latency p99.9', fmtMs(ws.result.batchP999Ms), 'ms'],
    [`HTTP purchases, closed loop, ${s.connections} connections`, fmtInt(http.result.reqPerS), 'req/s'],
    ['HTTP closed-loop latency p50', fmtMs(http.result.p50Ms), 'ms'],
    ['HTTP closed-loop latency p99', fmtMs(http.result.p99Ms), 'ms'],
    ['HTTP closed-loop latency p99.9', fmtMs(http.result.p999Ms), 'ms'],
    ['HTTP purchases, open loop at half the max', fmtInt(open.result.reqPerS), 'req/s'],
    ['HTTP open-loop latency p50', fmtMs(open.result.p50Ms), 'ms'],
    ['HTTP open-loop latency p99', fmtMs(open.result.p99Ms), 'ms'],
    ['HTTP open-loop latency p99.9', fmtMs(open.result.p999Ms), 'ms'],
    ['ledger entries (verify)', fmtInt(verify.entries), 'entries'],
    ['ledger database bytes per entry', ledgerBytesPerEntry.toFixed(1), 'B/entry'],
    ['all data.mdb bytes (members, orders, keys too) per entry', bytesPerEntry.toFixed(1), 'B/entry'],
    ['batch log bytes on disk per op (registrations and purchases)', logBytesPerOp.toFixed(1), 'B/op'],
    ['replay check, batches', fmtInt(replay.batchesPerS), 'batches/s'],
    ['replay check, ops', fmtInt(replay.opsPerS), 'ops/s'],
    ['WS purchases in turns, batch log on', fmtInt(logCost.wsOn), 'ops/s'],
    ['WS purchases in turns, batch log off (benchmark switch)', fmtInt(logCost.wsOff), 'ops/s'],
    [`HTTP purchases in turns, batch log on, ${s.connections} connections`, fmtInt(logCost.httpOn), 'req/s'],
    [`HTTP purchases in turns, batch log off, ${s.connections} connections`, fmtInt(logCost.httpOff), 'req/s'],
    ['WS purchases/s with the log ÷ without', fmtRatio(logCost.wsOn / logCost.wsOff), 'ratio'],
    ['HTTP req/s with the log ÷ without', fmtRatio(logCost.httpOn / logCost.httpOff), 'ratio'],
    ['server RSS during WS, first', fmtMiB(rss[0] ?? Number.NaN), 'MiB'],
    ['server RSS during WS, min', fmtMiB(rssMin), 'MiB'],
    ['server RSS during WS, max', fmtMiB(rssMax), 'MiB'],
    ['server RSS during WS, last', fmtMiB(rss[rss.length - 1] ?? Number.NaN), 'MiB'],
    ['server RSS during WS, spread', `±${rssSpreadPct.toFixed(1)}`, '%'],
    ['server RSS during HTTP, max', fmtMiB(httpRssMax), 'MiB'],
    ['server own memory (RssAnon, without the mapped DB) during WS, first', fmtMiB(ws.anonBytes[0] ?? Number.NaN), 'MiB'],
    ['server own memory during WS, max', fmtMiB(Math.max(...ws.anonBytes)), 'MiB'],
    ['server own memory during WS, last', fmtMiB(ws.anonBytes[ws.anonBytes.length - 1] ?? Number.NaN), 'MiB'],
    ['server own memory during WS, spread', `±${(((Math.max(...ws.anonBytes) - Math.min(...ws.anonBytes)) / (Math.max(...ws.anonBytes) + Math.min(...ws.anonBytes))) * 100).toFixed(1)}`, '%'],
    ['WS purchases/s ÷ raw lmdb puts/s', fmtRatio(ws.result.opsPerS / lmdbPutsPerS), 'ratio'],
    ['HTTP req/s ÷ bare uWS req/s', fmtRatio(http.result.reqPerS / bareResult.reqPerS), 'ratio'],
    [`WS purchases/s ÷ PostgreSQL batched ${fmtInt(POSTGRES_BATCHED_PURCHASES_PER_S)}/s`, fmtRatio(ws.result.opsPerS / POSTGRES_BATCHED_PURCHASES_PER_S), 'ratio'],
    [`HTTP req/s ÷ PostgreSQL per-request ${fmtInt(POSTGRES_HTTP_PURCHASES_PER_S)}/s`, fmtRatio(http.result.reqPerS / POSTGRES_HTTP_PURCHASES_PER_S), 'ratio'],
  ];
  console.log('');
  console.log('| figure | value | unit |');
  console.log('|---|---:|---|');
  for (const [figure, value, unit] of rows) console.log(`| ${figure} | ${value} | ${unit} |`);
  console.log('');
  if (problems.length > 0) {
    console.log(`load: FAILED: ${problems.join('; ')}`);
    console.log(`server log (last lines):\n${server.child.logs.join('\n')}`);
    return 1;
  }
  console.log('load: ok');
  return 0;
}

let exitCode = 1;
const interrupted = (): void => { void cleanup().finally(() => process.exit(130)); };
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);
try {
  exitCode = await main();
} catch (err) {
  console.error(err instanceof UsageError ? err.message : err);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
