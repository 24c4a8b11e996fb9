// The load harness: measures the raw LMDB and bare uWS ceilings and the PostgreSQL peer (the same
// purchase as a PL/pgSQL function, bench/pg-peer.ts), then drives a real server over loopback
// through the POS stream and the HTTP API (closed loop with wrk, bench/wrk.ts; open loop at half
// that rate with the Node client), checks the ledger with verify, replays its batch log
// (`loyalty replay --check`), measures the same stream and HTTP phases on a server with the batch
// log off (a benchmark switch) to give the log's cost, and prints one table of throughput, latency,
// memory and storage figures with their ratios to the ceilings and to the peer.
//
//   node dist/bench/load.js [--quick] [--http-only] [--duration S] [--shards N (the server's default)] [--members N]
//
// --http-only runs the bare uWS ceiling and the server's two HTTP phases (and verify), skipping the
// raw LMDB ceiling, the PostgreSQL peer, the stream, the batch log's cost and the replay check.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { runHttpLoad, type HttpLoadResult } from './http-client.js';
import { measureLmdbPutsPerS } from './lmdb-baseline.js';
import { describeMachine, machineLine } from './machine.js';
import { findPostgres, measurePgPeer, PG_BATCH_CONNECTIONS, PG_BATCH_PURCHASES, PG_SINGLE_CONNECTIONS, type PgCluster, type PgPeerResult } from './pg-peer.js';
import { findWrk, runWrk, wrkVersion } from './wrk.js';
import { runWsLoad, type StreamOp, type WsLoadResult } from './ws-client.js';
import { checkReplay } from '../engine/history/replay-check.js';
import { SERVER_NODE_FLAGS } from '../server/node-flags.js';
import { defaultShardCount } from '../server/config.js';
import { SHARDS_MAX } from '../engine/limits.js';

const MS_PER_S = 1000;
const BYTES_PER_MIB = 1024 * 1024;
const KIB = 1024;
const HOST = '127.0.0.1';
/** The issue's member count; --members changes it (1,000,000 is a real chain's size). */
const MEMBERS_DEFAULT = 20_000;
const MEMBERS_QUICK = 1_000;
/** At least one slice of members per purchase of the peer's batched script; at most what an import takes in reasonable time. */
const MEMBERS_MIN = PG_BATCH_PURCHASES;
const MEMBERS_MAX = 10_000_000;
/** Member ids per generated chunk of the registration CSV (about 90 kB). */
const REGISTER_CSV_CHUNK_ROWS = 10_000;
/** Importing millions of members takes a while. */
const REGISTER_TIMEOUT_MS = 600_000;
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
/** Generous bound on any phase so that a stuck run still ends. */
const DURATION_S_MAX = 600;

/** The figures an --http-only run measures: the rest of the table is left out. */
const HTTP_ONLY_ROWS = /^(bare uWS|HTTP purchases, (closed|open) loop|HTTP (closed|open)-loop latency|HTTP req\/s ÷ bare|server RSS during HTTP|ledger|all data\.mdb|batch log bytes)/;
/** What an --http-only run has instead of a stream phase and a replay check: nothing measured. */
const NO_WS_LOAD: WsLoadResult = { ops: 0, opsPerS: Number.NaN, batches: 0, batchP50Ms: Number.NaN, batchP99Ms: Number.NaN, batchP999Ms: Number.NaN, failedOps: 0, elapsedMs: 0, problems: [], reconnects: 0, resentBatches: 0 };
const NO_REPLAY_CHECK = { ok: true, batches: 0, ops: 0, ms: 0, batchesPerS: Number.NaN, opsPerS: Number.NaN, differences: [] as unknown[], error: undefined as unknown };

/** A bad command line: reported as one line, without a stack. */
class UsageError extends Error {}

interface Settings {
  quick: boolean;
  /** Only the HTTP phases: the bare uWS ceiling, then the server's closed and open loops. */
  httpOnly: boolean;
  durationMs: number;
  shards: number;
  terminals: number;
  windowBatches: number;
  batchOps: number;
  connections: number;
  members: number;
  /** wrk and pgbench count whole seconds: the phase's duration rounded up, and their warm-up (0 with --quick). */
  clientDurationS: number;
  clientWarmupS: number;
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
  const valued = ['--duration', '--shards', '--members'];
  const known = new Set(['--quick', '--http-only', ...valued]);
  argv.forEach((arg, i) => {
    if (arg.startsWith('--') && !known.has(arg)) throw new UsageError(`load: unknown flag ${arg} (flags: --quick, --http-only, --duration S, --shards N, --members N)`);
    if (!arg.startsWith('--') && !valued.includes(argv[i - 1] ?? '')) throw new UsageError(`load: unexpected argument ${arg}`);
  });
  const durationText = valueOf('--duration');
  const durationS = durationText === undefined ? (quick ? 1 : 10) : Number(durationText);
  if (!(durationS > 0 && durationS <= DURATION_S_MAX)) throw new UsageError(`load: --duration must be in (0, ${DURATION_S_MAX}] seconds, got ${durationText}`);
  const shardsText = valueOf('--shards');
  // Without --shards, the server's own default for this machine (server/config.ts).
  const shards = shardsText === undefined ? defaultShardCount(availableParallelism()) : Number(shardsText);
  if (!(Number.isInteger(shards) && shards >= 1 && shards <= SHARDS_MAX)) throw new UsageError(`load: --shards must be 1..${SHARDS_MAX}, got ${shardsText}`);
  const membersText = valueOf('--members');
  const members = membersText === undefined ? (quick ? MEMBERS_QUICK : MEMBERS_DEFAULT) : Number(membersText);
  if (!(Number.isInteger(members) && members >= MEMBERS_MIN && members <= MEMBERS_MAX)) {
    throw new UsageError(`load: --members must be ${fmtInt(MEMBERS_MIN)}..${fmtInt(MEMBERS_MAX)}, got ${membersText}`);
  }
  const clientDurationS = Math.ceil(durationS);
  const httpOnly = argv.includes('--http-only');
  // The issue's shapes: 4 terminals × 16 batches in flight × 500 purchases; 64 HTTP connections.
  return quick
    ? { quick, httpOnly, durationMs: durationS * MS_PER_S, shards, terminals: 2, windowBatches: 8, batchOps: 200, connections: 8, members, lmdbBaselineMs: 500, uwsBaselineMs: 500, warmupMs: 200, clientDurationS, clientWarmupS: 0 }
    : { quick, httpOnly, durationMs: durationS * MS_PER_S, shards, terminals: 4, windowBatches: 16, batchOps: 500, connections: 64, members, lmdbBaselineMs: 3_000, uwsBaselineMs: 3_000, warmupMs: 2_000, clientDurationS, clientWarmupS: 2 };
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
    // The engine's server runs with the V8 flags `npm start` gives it (server/node-flags.ts).
    const nodeFlags = script.endsWith('/server/main.js') ? SERVER_NODE_FLAGS : [];
    const proc = spawn(process.execPath, [...nodeFlags, script], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const child = new Child(proc);
    children.add(child);
    createInterface({ input: proc.stderr! }).on('line', (line) => child.keep(line));
    const lines = createInterface({ input: proc.stdout! });
    // Lines are parsed only until the ready one: afterwards a server logs a line per write request,
    // and parsing each would be this process's work on the cores the server is measured on.
    let started = false;
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in ${CHILD_START_TIMEOUT_MS} ms:\n${child.logs.join('\n')}`)), CHILD_START_TIMEOUT_MS);
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited ${code} before listening:\n${child.logs.join('\n')}`)); });
      lines.on('line', (line) => {
        child.keep(line);
        if (started) return;
        let record: Record<string, unknown>;
        try { record = JSON.parse(line) as Record<string, unknown>; } catch { return; }
        const found = ready(record);
        if (found !== undefined) { started = true; clearTimeout(timer); resolve(found); }
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

/** Every child, temporary folder and PostgreSQL cluster of this run, released in `cleanup` whatever happens. */
const children = new Set<Child>();
const tempDirs = new Set<string>();
let pgCluster: PgCluster | undefined;

async function cleanup(): Promise<void> {
  pgCluster?.stop();
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
    `p99.9 ${fmtMs(r.p999Ms)} ms, ${r.errors} errors, ${r.non2xx} non-2xx${r.firstProblem ? ` (first: ${r.firstProblem})` : ''}` +
    (r.sendLagP50Ms === undefined ? '' : `; the client's own send lag p50 ${fmtMs(r.sendLagP50Ms)} ms, p99 ${fmtMs(r.sendLagP99Ms ?? Number.NaN)} ms`);
}

function describeWs(label: string, r: WsLoadResult): string {
  return `${label}: ${fmtInt(r.opsPerS)} ops/s, ${fmtInt(r.ops)} ops in ${fmtInt(r.batches)} batches, batch p50 ${fmtMs(r.batchP50Ms)} ms, ` +
    `p99 ${fmtMs(r.batchP99Ms)} ms, p99.9 ${fmtMs(r.batchP999Ms)} ms, ${r.failedOps} failed ops${r.problems.length > 0 ? ` (${r.problems.join(', ')})` : ''}`;
}

interface Verify { ok: boolean; members: number; entries: number; mismatches: unknown[] }

/**
 * Registers members m0 … m(count − 1) through the CSV import route (POST /v1/import/members, a
 * streamed body of one `memberId` column): the fastest way in. Measured on this machine, a million
 * members took 5.5 s this way against 17.8 s as stream registrations (1,000 per batch, 4 terminals ×
 * 8 batches), 200,000 took 1.4 s against 3.8 s. Answers the seconds it took.
 */
async function registerMembers(origin: string, authorization: string, count: number, problems: string[]): Promise<number> {
  async function* csv(): AsyncGenerator<string> {
    yield 'memberId\n';
    for (let start = 0; start < count; start += REGISTER_CSV_CHUNK_ROWS) {
      let chunk = '';
      for (let i = start; i < Math.min(count, start + REGISTER_CSV_CHUNK_ROWS); i++) chunk += `${memberIdOf(i)}\n`;
      yield chunk;
    }
  }
  const startedMs = performance.now();
  const res = await request(`${origin}/v1/import/members`, {
    method: 'POST', headers: { authorization, 'content-type': 'text/csv' }, body: Readable.from(csv()), headersTimeout: REGISTER_TIMEOUT_MS, bodyTimeout: REGISTER_TIMEOUT_MS,
  });
  const text = await res.body.text();
  const seconds = (performance.now() - startedMs) / MS_PER_S;
  let imported = 0;
  try { imported = (JSON.parse(text) as { imported?: number }).imported ?? 0; } catch { /* reported below */ }
  if (res.statusCode !== 200 || imported !== count) problems.push(`registered ${imported} of ${count} members (HTTP ${res.statusCode} ${text.slice(0, 300)})`);
  return seconds;
}

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
  await registerMembers(`http://${HOST}:${unlogged.port}`, unlogged.authorization, s.members, problems);
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
  // Other work on a shared machine moves every figure: its load says how much to trust a run.
  const loadAtStart = loadavg()[0]!;
  console.log(`load: ${s.quick ? '--quick, ' : ''}${s.durationMs / MS_PER_S} s per phase, ${s.shards} shards, ws ${s.terminals} terminals × ${s.windowBatches} window × ${s.batchOps} ops, ` +
    `http ${s.connections} connections, ${fmtInt(s.members)} members, ${s.warmupMs / MS_PER_S} s uncounted warm-up per phase`);
  const wrkPath = findWrk();
  const pgBin = findPostgres();
  const closedClient = wrkPath === undefined ? 'the Node client (undici)' : `${wrkVersion(wrkPath)}, -t1 -c${s.connections}`;
  console.log(`http client: ${wrkPath === undefined ? 'wrk not installed, closed loop and bare uWS with the Node client (undici) instead' : closedClient}` +
    `; open loop: the Node client (undici)`);
  if (pgBin === undefined) console.log('postgres peer: not measured (PostgreSQL not installed: no initdb, pg_ctl, pgbench, psql and postgres in /usr/lib/postgresql/*/bin or LOYALTY_PG_BIN)');

  /** The Node client's purchases: order ids `<prefix>-<i>`, random members and amounts (wrk's script builds the same). */
  const httpBody = (prefix: string) => (i: number) => {
    const memberId = memberIdOf(randomInt(0, s.members - 1));
    return { path: '/v1/purchases', body: `{"orderId":"${prefix}-${i}","memberId":"${memberId}","amountCents":${randomInt(AMOUNT_CENTS_MIN, AMOUNT_CENTS_MAX)}}` };
  };
  /** The closed-loop HTTP phase: wrk when installed, else the Node client; an uncounted warm-up run first. */
  const closedLoop = async (origin: string, authorization: string | undefined, prefix: string, seed: number): Promise<HttpLoadResult> => {
    if (wrkPath === undefined) {
      return runHttpLoad({
        origin, connections: s.connections, durationMs: s.durationMs, warmupMs: s.warmupMs, headers: authorization === undefined ? {} : { authorization }, request: httpBody(prefix),
      });
    }
    const common = { origin, connections: s.connections, members: s.members, amountCentsMin: AMOUNT_CENTS_MIN, amountCentsMax: AMOUNT_CENTS_MAX };
    const auth = authorization === undefined ? {} : { authorization };
    if (s.clientWarmupS > 0) {
      const warm = await runWrk(wrkPath, { ...common, ...auth, durationS: s.clientWarmupS, prefix: `${prefix}w`, seed: seed + 1 });
      if (warm.errors > 0 || warm.non2xx > 0) problems.push(`the warm-up of ${prefix} had errors: ${warm.firstProblem}`);
    }
    return runWrk(wrkPath, { ...common, ...auth, durationS: s.clientDurationS, prefix, seed });
  };

  // 1. The storage ceiling, before anything else runs on the machine.
  const lmdbPutsPerS = s.httpOnly ? Number.NaN : await measureLmdbPutsPerS(s.lmdbBaselineMs);
  if (!s.httpOnly) console.log(`lmdb raw: ${fmtInt(lmdbPutsPerS)} puts/s (1,000 puts per transaction, awaiting flushed, ${s.lmdbBaselineMs / MS_PER_S} s)`);

  // 2. The HTTP ceiling: the same client against a server that does nothing but parse and answer.
  const bare = await Child.start('bare uWS', fileURLToPath(new URL('./bare-uws.js', import.meta.url)), {},
    (line) => (typeof line['port'] === 'number' ? line['port'] : undefined));
  const bareResult = await closedLoop(`http://${HOST}:${bare.port}`, undefined, 'b', 1);
  await bare.child.stop();
  console.log(describeHttp(`bare uWS (${bare.child.logs[0] ?? ''}), ${closedClient}`, bareResult));
  if (bareResult.errors > 0 || bareResult.non2xx > 0) problems.push('the bare uWS baseline had errors');

  // 3. The conventional peer: the same purchase in PostgreSQL, on a throw-away cluster.
  let pg: PgPeerResult | undefined;
  if (pgBin !== undefined && !s.httpOnly) {
    try {
      pg = await measurePgPeer(pgBin, { members: s.members, durationS: s.clientDurationS, warmupS: s.clientWarmupS }, (cluster) => { pgCluster = cluster; });
      const describePg = (label: string, r: PgPeerResult['single']): string =>
        `${label}: ${fmtInt(r.purchasesPerS)} purchases/s (${fmtInt(r.transactionsPerS)} transactions/s of ${r.purchasesPerTransaction}, ${r.connections} connections), ` +
        `transaction p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms, ${r.failedTransactions} failed`;
      console.log(`postgres peer: ${pg.version}; ${pg.settings}; pgbench -M prepared -j 1; cluster started in ${pg.startS.toFixed(1)} s, ` +
        `${fmtInt(s.members)} members seeded in ${pg.seedS.toFixed(1)} s`);
      console.log(describePg('postgres peer, one purchase per transaction', pg.single));
      console.log(describePg(`postgres peer, ${PG_BATCH_PURCHASES} purchases per transaction`, pg.batched));
      console.log(`postgres peer ledger check: ${pg.verifyOk ? 'ok' : 'FAILED'}, ${fmtInt(pg.orders)} orders`);
      if (!pg.verifyOk) problems.push('the PostgreSQL peer\'s ledger check failed');
      if (pg.single.failedTransactions > 0 || pg.batched.failedTransactions > 0) problems.push('the PostgreSQL peer had failed transactions');
    } catch (err) {
      console.log(`postgres peer: FAILED: ${(err as Error).message}`);
      problems.push('the PostgreSQL peer failed');
    }
  }

  // 4. The real server on a fresh data folder.
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

  const registrationS = await registerMembers(origin, authorization, s.members, problems);
  console.log(`register members (CSV import route): ${fmtInt(s.members)} in ${registrationS.toFixed(1)} s (${fmtInt(s.members / registrationS)} members/s)`);
  assertServerAlive('registration');

  const purchaseOp = (prefix: string) => (i: number) => ({
    op: 'purchase' as const, orderId: `${prefix}-${i}`, memberId: memberIdOf(randomInt(0, s.members - 1)), amountCents: randomInt(AMOUNT_CENTS_MIN, AMOUNT_CENTS_MAX),
  });
  const ws = s.httpOnly ? { result: NO_WS_LOAD, rssBytes: [], anonBytes: [] } : await withRssSamples(server.child.pid, () => runWsLoad({
    url: streamUrl, authorization, terminals: s.terminals, windowBatches: s.windowBatches, batchOps: s.batchOps,
    durationMs: s.durationMs, warmupMs: s.warmupMs, op: purchaseOp('w'),
  }));
  if (!s.httpOnly) {
    console.log(describeWs('ws purchases', ws.result));
    if (ws.result.failedOps > 0 || ws.result.ops === 0) problems.push('the WebSocket phase had failed ops');
    assertServerAlive('the WebSocket phase');
  }

  const http = await withRssSamples(server.child.pid, () => closedLoop(origin, authorization, 'h', 2));
  console.log(describeHttp(`http purchases, closed loop, ${s.connections} connections, ${closedClient}`, http.result));
  if (http.result.errors > 0 || http.result.non2xx > 0 || http.result.requests === 0) problems.push('the HTTP closed-loop phase had errors');
  assertServerAlive('the HTTP closed-loop phase');

  const openRatePerS = http.result.reqPerS / 2;
  const open = await withRssSamples(server.child.pid, () => runHttpLoad({
    origin, connections: s.connections, durationMs: s.durationMs, warmupMs: s.warmupMs, headers: { authorization }, targetReqPerS: openRatePerS, request: httpBody('o'),
  }));
  console.log(describeHttp(`http purchases, open loop at ${fmtInt(openRatePerS)} req/s`, open.result));
  if (open.result.errors > 0 || open.result.non2xx > 0 || open.result.requests === 0) problems.push('the HTTP open-loop phase had errors');
  assertServerAlive('the HTTP open-loop phase');

  // 5. What the batch log costs: the same phases in turns with a server whose log is off.
  const logCost = s.httpOnly ? { wsOn: Number.NaN, wsOff: Number.NaN, httpOn: Number.NaN, httpOff: Number.NaN }
    : await runLogCost(s, { port: server.port, authorization }, purchaseOp, httpBody, problems);
  assertServerAlive('the log-cost comparison');

  // 6. The ledger must add up, and its size per entry says what the storage costs.
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

  // 7. The replay check on the stopped server's folder: every shard rebuilt from its log and compared.
  const replay = s.httpOnly ? NO_REPLAY_CHECK : await checkReplay({ dataDir });
  if (!s.httpOnly) console.log(`replay: ${replay.ok ? 'ok' : 'FAILED'}, ${fmtInt(replay.batches)} batches, ${fmtInt(replay.ops)} ops in ${fmtInt(replay.ms)} ms` +
    `${replay.ok ? '' : `: ${JSON.stringify(replay.error ?? replay.differences.slice(0, 3))}`}`);
  if (!replay.ok) problems.push('the replay check failed');

  const rss = ws.rssBytes;
  const rssMin = Math.min(...rss);
  const rssMax = Math.max(...rss);
  // Half the range over its midpoint: RSS moved ±this much around the middle of the phase.
  const rssSpreadPct = ((rssMax - rssMin) / (rssMax + rssMin)) * 100;
  const httpRssMax = Math.max(...http.rssBytes, ...open.rssBytes);

  const wsLabel = `${s.terminals} terminals × ${s.windowBatches} window × ${s.batchOps} ops`;
  const client = wrkPath === undefined ? 'Node client' : 'wrk';
  /** A figure of the peer, or why there is none. */
  const pgNotMeasured = pgBin === undefined ? 'not measured (PostgreSQL not installed)' : 'not measured (the peer failed)';
  const pgFigure = (value: (r: PgPeerResult) => number, format: (n: number) => string): string => (pg === undefined ? pgNotMeasured : format(value(pg)));
  const rows: Array<[string, string, string]> = [
    ['raw lmdb puts (1,000 per txn, flushed)', fmtInt(lmdbPutsPerS), 'puts/s'],
    [`bare uWS, ${s.connections} connections, ${client}`, fmtInt(bareResult.reqPerS), 'req/s'],
    [`PostgreSQL peer, 1 purchase per transaction, ${PG_SINGLE_CONNECTIONS} connections (pgbench)`, pgFigure((r) => r.single.purchasesPerS, fmtInt), 'purchases/s'],
    ['PostgreSQL peer, per-purchase transaction latency p50', pgFigure((r) => r.single.p50Ms, fmtMs), 'ms'],
    ['PostgreSQL peer, per-purchase transaction latency p99', pgFigure((r) => r.single.p99Ms, fmtMs), 'ms'],
    [`PostgreSQL peer, ${PG_BATCH_PURCHASES} purchases per transaction, ${PG_BATCH_CONNECTIONS} connections (pgbench)`, pgFigure((r) => r.batched.purchasesPerS, fmtInt), 'purchases/s'],
    [`PostgreSQL peer, ${PG_BATCH_PURCHASES}-purchase transaction latency p50`, pgFigure((r) => r.batched.p50Ms, fmtMs), 'ms'],
    [`PostgreSQL peer, ${PG_BATCH_PURCHASES}-purchase transaction latency p99`, pgFigure((r) => r.batched.p99Ms, fmtMs), 'ms'],
    [`WS purchases, ${wsLabel}`, fmtInt(ws.result.opsPerS), 'ops/s'],
    ['WS batch latency p50', fmtMs(ws.result.batchP50Ms), 'ms'],
    ['WS batch latency p99', fmtMs(ws.result.batchP99Ms), 'ms'],
    ['WS batch latency p99.9', fmtMs(ws.result.batchP999Ms), 'ms'],
    [`HTTP purchases, closed loop, ${s.connections} connections, ${client}`, fmtInt(http.result.reqPerS), 'req/s'],
    ['HTTP closed-loop latency p50', fmtMs(http.result.p50Ms), 'ms'],
    ['HTTP closed-loop latency p99', fmtMs(http.result.p99Ms), 'ms'],
    ['HTTP closed-loop latency p99.9', fmtMs(http.result.p999Ms), 'ms'],
    [`HTTP purchases, open loop at half the max (${fmtInt(openRatePerS)}/s), Node client`, fmtInt(open.result.reqPerS), 'req/s'],
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
    [`HTTP purchases in turns, batch log on, ${s.connections} connections, Node client`, fmtInt(logCost.httpOn), 'req/s'],
    [`HTTP purchases in turns, batch log off, ${s.connections} connections, Node client`, fmtInt(logCost.httpOff), 'req/s'],
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
    ['WS purchases/s ÷ PostgreSQL per-purchase purchases/s', pgFigure((r) => ws.result.opsPerS / r.single.purchasesPerS, fmtRatio), 'ratio'],
    ['WS purchases/s ÷ PostgreSQL batched purchases/s', pgFigure((r) => ws.result.opsPerS / r.batched.purchasesPerS, fmtRatio), 'ratio'],
    ['HTTP req/s ÷ bare uWS req/s', fmtRatio(http.result.reqPerS / bareResult.reqPerS), 'ratio'],
    ['HTTP req/s ÷ PostgreSQL per-purchase purchases/s', pgFigure((r) => http.result.reqPerS / r.single.purchasesPerS, fmtRatio), 'ratio'],
    ['HTTP req/s ÷ PostgreSQL batched purchases/s', pgFigure((r) => http.result.reqPerS / r.batched.purchasesPerS, fmtRatio), 'ratio'],
  ];
  console.log(`machine load: 1-minute load average ${loadAtStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end (${describeMachine().cores} cores)`);
  console.log('');
  console.log('| figure | value | unit |');
  console.log('|---|---:|---|');
  for (const [figure, value, unit] of rows.filter(([figure]) => !s.httpOnly || HTTP_ONLY_ROWS.test(figure))) console.log(`| ${figure} | ${value} | ${unit} |`);
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
