// Where a stream purchase's CPU goes: runs a real server under `node --cpu-prof` on a fresh data
// folder, registers members and drives POS terminals buying from them, and prints the CPU every
// thread of the server (and the load client) spent per purchase, from /proc over the purchase
// phase alone, split by what the threads' profiles say they ran: LMDB (lmdb-js and its native
// calls), msgpack, the engine's own JavaScript (executor, rules, core), the front end (server and
// router), Piscina's thread hand-over, garbage collection, and the rest. It is the profile behind
// the README's performance figures, as one command:
//
//   node dist/bench/profile.js [--shards N] [--members N] [--seconds S] [--node-flags "..."] [--top N] [--keep DIR]
//
// `--top N` also prints the N functions with the most self time on the main thread and on the shard
// threads (by function and file), and `--keep DIR` keeps the .cpuprofile files there for a closer look.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { flag } from './flags.js';
import { machineLine } from './machine.js';
import { runWsLoad } from './ws-client.js';
import { SERVER_NODE_FLAGS } from '../server/node-flags.js';
import { defaultShardCount } from '../server/config.js';

const HOST = '127.0.0.1';
/** The shape of the throughput issue's stream load: 4 terminals × 16 batches in flight × 500 purchases. */
const TERMINALS = 4;
const WINDOW_BATCHES = 16;
const BATCH_OPS = 500;
const REGISTER_BATCH_OPS = 1_000;
const AMOUNT_CENTS_MIN = 100;
const AMOUNT_CENTS_MAX = 100_000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** /proc/<pid>/task/<tid>/stat counts CPU time in clock ticks (USER_HZ, 100 on Linux). */
const US_PER_TICK = 10_000;
const US_PER_MS = 1_000;

/** CPU ticks of every thread of a process, by thread id (user + system). */
function threadTicks(pid: number): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks.set(Number(tid), Number(fields[11]) + Number(fields[12]));
  }
  return ticks;
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string } }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const CATEGORIES = ['lmdb', 'msgpack', 'engine', 'front end', 'thread hand-over', 'garbage collection', 'other'] as const;
type Category = typeof CATEGORIES[number];

/** What a profiled function is, by where its code lives. */
function categoryOf(functionName: string, url: string): Category | 'idle' {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (url.includes('/node_modules/lmdb/') || url.includes('/ordered-binary/')) return 'lmdb';
  if (url.includes('/msgpackr/')) return 'msgpack';
  if (url.includes('/piscina/') || functionName === 'postMessage') return 'thread hand-over';
  if (url.includes('/engine/shard/') || url.includes('/engine/rules/') || url.includes('/engine/core/') || url.startsWith('wasm://')) return 'engine';
  if (url.includes('/server/') || url.includes('/engine/router/') || url.includes('/uWebSockets.js/')) return 'front end';
  return 'other';
}

/** A thread's self time by function (name and file), in µs of profile time, most first. */
function selfTimes(profile: CpuProfile): { where: string; us: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const us = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') return;
    const file = frame.url.slice(frame.url.lastIndexOf('/') + 1);
    const where = `${frame.functionName || '(anonymous)'} ${file}`;
    us.set(where, (us.get(where) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...us].map(([where, t]) => ({ where, us: t })).sort((a, b) => b.us - a.us);
}

/** The share of a thread's busy (non-idle) samples in each category. */
function profileShares(profile: CpuProfile): { shares: Map<Category, number>; busyUs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const us = new Map<Category | 'idle', number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const category = categoryOf(node.callFrame.functionName, node.callFrame.url);
    us.set(category, (us.get(category) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  let busyUs = 0;
  for (const c of CATEGORIES) busyUs += us.get(c) ?? 0;
  const shares = new Map<Category, number>();
  for (const c of CATEGORIES) shares.set(c, busyUs === 0 ? 0 : (us.get(c) ?? 0) / busyUs);
  return { shares, busyUs };
}

async function main(): Promise<void> {
  const shards = Number(flag('--shards') ?? defaultShardCount(availableParallelism()));
  const members = Number(flag('--members') ?? 20_000);
  const seconds = Number(flag('--seconds') ?? 8);
  const top = Number(flag('--top') ?? 0);
  const keepDir = flag('--keep');
  // The server's V8 flags (server/node-flags.ts), or others to compare: `--node-flags ""` runs without any.
  const nodeFlagsText = flag('--node-flags');
  const nodeFlags = nodeFlagsText === undefined ? SERVER_NODE_FLAGS : nodeFlagsText.split(' ').filter((f) => f !== '');
  for (const [name, value] of [['--shards', shards], ['--members', members], ['--seconds', seconds]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`profile: ${name} must be a positive integer`);
  }
  console.log(machineLine());
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-profile-'));
  const profileDir = mkdtempSync(join(tmpdir(), 'loyalty-profile-cpu-'));
  const server = spawn(process.execPath, [...nodeFlags, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, fileURLToPath(new URL('../server/main.js', import.meta.url))], {
    env: { ...process.env, PORT: '0', HOST, LOYALTY_DATA: dataDir, LOYALTY_SHARDS: String(shards), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('profile: the server did not start')), START_TIMEOUT_MS);
      server.once('exit', (code) => reject(new Error(`profile: the server exited (${code})`)));
      createInterface({ input: server.stdout! }).on('line', (line) => {
        try {
          const record = JSON.parse(line) as { msg?: string; port?: number };
          if (record.msg === 'loyalty ledger listening' && typeof record.port === 'number') { clearTimeout(timer); resolve(record.port); }
        } catch { /* not a log line */ }
      });
    });
    const url = `ws://${HOST}:${port}/v1/stream`;
    const authorization = `Bearer ${readFileSync(join(dataDir, 'admin.key'), 'utf8').trim()}`;
    await runWsLoad({ url, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: REGISTER_BATCH_OPS, totalOps: members, op: (i) => ({ op: 'register', memberId: `m${i}` }) });
    let seed = 1;
    const random = (): number => { seed = (seed * 48_271) % 2_147_483_647; return seed / 2_147_483_647; };
    const before = threadTicks(server.pid!);
    const clientBefore = process.cpuUsage();
    const load = await runWsLoad({
      url, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, durationMs: seconds * 1000, warmupMs: 0,
      op: (i) => ({ op: 'purchase', orderId: `p-${i}`, memberId: `m${Math.floor(random() * members)}`, amountCents: AMOUNT_CENTS_MIN + Math.floor(random() * (AMOUNT_CENTS_MAX - AMOUNT_CENTS_MIN)) }),
    });
    const after = threadTicks(server.pid!);
    const client = process.cpuUsage(clientBefore);
    if (load.failedOps > 0) throw new Error(`profile: ${load.failedOps} purchases failed (${load.problems.join(', ')})`);
    const perPurchase = (ticks: number): number => (ticks * US_PER_TICK) / load.ops;
    const deltas = [...after].map(([tid, t]) => ({ tid, ticks: t - (before.get(tid) ?? 0) })).sort((a, b) => a.tid - b.tid);
    const mainTicks = deltas[0]!.ticks;
    // Shard threads are the busiest of the rest; V8's own helper threads (concurrent GC) follow the main thread's id.
    const others = deltas.slice(1).sort((a, b) => b.ticks - a.ticks);
    const shardTicks = others.slice(0, shards).reduce((s, d) => s + d.ticks, 0);
    const restTicks = others.slice(shards).reduce((s, d) => s + d.ticks, 0);
    console.log(`profile: node flags ${nodeFlags.length === 0 ? '(none)' : nodeFlags.join(' ')}, ${shards} shards, ${members.toLocaleString('en-US')} members, ${TERMINALS} terminals × ${WINDOW_BATCHES} batches × ${BATCH_OPS} purchases, ` +
      `${load.ops.toLocaleString('en-US')} purchases in ${(load.elapsedMs / US_PER_MS).toFixed(1)} s (${Math.round(load.opsPerS).toLocaleString('en-US')}/s)`);
    console.log('| thread | CPU µs per purchase |');
    console.log('|---|---:|');
    console.log(`| server main thread (front end, router) | ${perPurchase(mainTicks).toFixed(1)} |`);
    console.log(`| server shard threads (together) | ${perPurchase(shardTicks).toFixed(1)} |`);
    console.log(`| server's other threads (V8 concurrent GC and compiler, reader, libuv) | ${perPurchase(restTicks).toFixed(1)} |`);
    console.log(`| load client (this process: 4 terminals, msgpack) | ${((client.user + client.system) / load.ops).toFixed(1)} |`);
    console.log(`| all | ${(perPurchase(mainTicks + shardTicks + restTicks) + (client.user + client.system) / load.ops).toFixed(1)} |`);

    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.kill('SIGKILL'), STOP_TIMEOUT_MS);
      server.once('exit', () => { clearTimeout(timer); resolve(); });
      server.kill('SIGTERM');
    });
    // Profiles are named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread.
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
    if (keepDir !== undefined) cpSync(profileDir, keepDir, { recursive: true });
    const profiles = files.map((f) => {
      const profile = JSON.parse(readFileSync(join(profileDir, f), 'utf8')) as CpuProfile;
      return { thread: Number(f.split('.')[4]), ...profileShares(profile), self: top > 0 ? selfTimes(profile) : [] };
    });
    const main = profiles.find((p) => p.thread === 0);
    const shardProfiles = profiles.filter((p) => p.thread !== 0).sort((a, b) => b.busyUs - a.busyUs).slice(0, shards);
    const shardShares = new Map<Category, number>();
    const shardBusy = shardProfiles.reduce((s, p) => s + p.busyUs, 0);
    for (const c of CATEGORIES) shardShares.set(c, shardProfiles.reduce((s, p) => s + (p.shares.get(c) ?? 0) * p.busyUs, 0) / (shardBusy || 1));
    console.log('');
    console.log('| what the busy time went to (whole run, --cpu-prof self time) | main thread µs/purchase | shard threads µs/purchase |');
    console.log('|---|---:|---:|');
    for (const c of CATEGORIES) {
      const mainUs = (main?.shares.get(c) ?? 0) * perPurchase(mainTicks);
      const shardUs = (shardShares.get(c) ?? 0) * perPurchase(shardTicks);
      console.log(`| ${c} | ${mainUs.toFixed(1)} | ${shardUs.toFixed(1)} |`);
    }
    // Self time per function, scaled like the table above: the thread's CPU per purchase × its share of busy samples.
    const printTop = (title: string, self: { where: string; us: number }[], busyUs: number, threadUs: number): void => {
      console.log('');
      console.log(`| ${title}: most self time | µs/purchase |`);
      console.log('|---|---:|');
      for (const { where, us } of self.slice(0, top)) console.log(`| ${where} | ${((us / (busyUs || 1)) * threadUs).toFixed(2)} |`);
    };
    if (top > 0 && main !== undefined) printTop('main thread', main.self, main.busyUs, perPurchase(mainTicks));
    if (top > 0 && shardProfiles.length === 1) printTop('shard thread', shardProfiles[0]!.self, shardProfiles[0]!.busyUs, perPurchase(shardTicks));
  } finally {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
