// The shard threads' CPU per purchase, in one process: two shards' (or `--shards N`) commit paths (engine/shard/
// machine.ts: the executor, the batch log and its checksum) on real stores without fdatasync, fed
// what the router sends them under a POS stream: each shard's own purchases, the ones whose key is
// homed here marked for the claim check, and one claim op for the keys homed here of the other
// shard's purchases. Measured at 20,000 members and at 1,000,000 (where every purchase lands on a
// cold B-tree leaf). Prints CPU µs per purchase (process CPU time, all threads) and where it goes,
// from a V8 CPU profile of the same batches taken in this process: reads, puts, commit, msgpack,
// the hand-written codecs, the batch log and checksum, the executor and garbage collection.
//
// With `--baseline DIST` (another build's dist folder, e.g. of the previous commit), that build's
// commit path runs the same batches on a copy of the same stores, the two taking turns batch by
// batch so that both see the same machine, and the ratio is printed.
//
//   node dist/bench/shard-cpu.js [--quick] [--shards N] [--members N] [--rounds N] [--baseline DIST] [--copies] [--no-key-ids] [--profile-out PREFIX] [--top N]
//
// This build's purchases carry a key id (`by`) as the front end sends them; `--no-key-ids` leaves it out.
//
// The baseline gets copies of this build's ops (structuredClone); with `--copies` this build gets
// copies of its own too, so that the two builds run ops of the same making.
//
// --profile-out writes one more profile of this build, uninterrupted, to PREFIX.<members>.cpuprofile.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';
import type { ClaimOp, PurchaseOp, RegisterOp, WriteOp } from '../engine/ops.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';
import { prng } from './prng.js';

type StoreModule = typeof import('../engine/shard/store.js');
type MachineModule = typeof import('../engine/shard/machine.js');
type ShardStore = import('../engine/shard/store.js').ShardStore;
type ShardMachine = import('../engine/shard/machine.js').ShardMachine;

const quick = process.argv.includes('--quick');
/**
 * Shards in the process: two by default; `--shards 1` is a deployment's only shard (the default on
 * two cores), whose purchases all have their key at home and which never holds a claim.
 */
const SHARDS = Number(flag('--shards') ?? 2);
/** Purchases per shard batch, as a POS terminal sends them. */
const SHARD_BATCH_PURCHASES = 500;
/** Purchases per round, split over the shards by member as the router splits a POS batch: about 500 per shard batch. */
const ROUND_PURCHASES = SHARD_BATCH_PURCHASES * SHARDS;
/** Rounds each build runs first, uncounted, so that both are past their warm-up. */
const WARMUP_ROUNDS = quick ? 2 : 10;
const roundsEach = Number(flag('--rounds') ?? (quick ? 6 : 60));
/** Rounds profiled per build after the timed ones. */
const PROFILED_ROUNDS = quick ? 4 : 30;
const memberCounts = flag('--members') !== undefined ? [Number(flag('--members'))] : quick ? [20_000] : [20_000, 1_000_000];
const baselineDist = flag('--baseline');
/** Whether this build's purchases carry the POS key's id, as the front end sends them since key ids were recorded. */
const keyIds = !process.argv.includes('--no-key-ids');
/** Whether this build runs copies of the ops too, as the baseline does. */
const copiesBoth = process.argv.includes('--copies');
/** A key id of the length `POST /v1/admin/keys` gives. */
const POS_KEY_ID = 'k_3f9a2c7e1b04';
const profileOut = flag('--profile-out');
/** Functions listed by self time per profile. */
const topFunctions = Number(flag('--top') ?? 15);
const IMPORT_ROWS = 5_000;
const T0 = Date.UTC(2026, 2, 1);
const MAP_BYTES = 16 * 1024 * 1024 * 1024;
const US_PER_MS = 1000;
/** The V8 profiler's sampling interval: fine enough for a few µs per op over tens of thousands of ops. */
const SAMPLING_INTERVAL_US = 50;
const SEED = 14;

/** One build's modules, loaded from its dist folder. */
interface Build {
  name: string;
  store: StoreModule;
  machine: MachineModule;
  loadCore: typeof import('../engine/core/wasm.js').loadCore;
  demoProgram: typeof import('../engine/rules/program.js').demoProgram;
  hashId: typeof import('../engine/router/member-hash.js').hashId;
  toImportRows: typeof import('../engine/import-rows.js').toImportRows;
  verify: typeof import('../engine/shard/queries.js').verify;
}

async function loadBuild(name: string, dist: string): Promise<Build> {
  const from = async <T>(path: string): Promise<T> => (await import(join(dist, path))) as T;
  return {
    name,
    store: await from<StoreModule>('engine/shard/store.js'),
    machine: await from<MachineModule>('engine/shard/machine.js'),
    loadCore: (await from<typeof import('../engine/core/wasm.js')>('engine/core/wasm.js')).loadCore,
    demoProgram: (await from<typeof import('../engine/rules/program.js')>('engine/rules/program.js')).demoProgram,
    hashId: (await from<typeof import('../engine/router/member-hash.js')>('engine/router/member-hash.js')).hashId,
    toImportRows: (await from<typeof import('../engine/import-rows.js')>('engine/import-rows.js')).toImportRows,
    verify: (await from<typeof import('../engine/shard/queries.js')>('engine/shard/queries.js')).verify,
  };
}

interface Shards { build: Build; stores: ShardStore[]; machines: ShardMachine[]; cpuUs: number; wallMs: number; roundCpuUs: number[] }

function openShards(build: Build, dir: string): Shards {
  const stores = Array.from({ length: SHARDS }, (_, s) => build.store.openShardStore(join(dir, `shard-${s}`), MAP_BYTES, { noSync: true }));
  const machines = stores.map((store, s) => new build.machine.ShardMachine(store, build.loadCore(), s, { log: true }));
  return { build, stores, machines, cpuUs: 0, wallMs: 0, roundCpuUs: [] };
}

/** The program, then `members` members imported in rows as the bulk import sends them. */
function populate(shards: Shards, members: number): void {
  const { build, machines } = shards;
  for (const m of machines) m.run({ kind: 'program', version: 1, program: build.demoProgram(), atMs: T0, record: true }, T0);
  const rows: RegisterOp[][] = machines.map(() => []);
  const flush = (s: number): void => {
    machines[s]!.run({ kind: 'import', rows: build.toImportRows(rows[s]!) }, T0);
    rows[s] = [];
  };
  for (let i = 0; i < members; i++) {
    const memberId = `m${i}`;
    const s = build.hashId(memberId) % SHARDS;
    rows[s]!.push({ op: 'register', memberId, referralChain: [], key: `reg:m:${memberId}`, fp: 1_000 + i, atMs: T0, lean: true });
    if (rows[s]!.length === IMPORT_ROWS) flush(s);
  }
  for (let s = 0; s < SHARDS; s++) if (rows[s]!.length > 0) flush(s);
}

/** The batches of one round, one per shard: the claims homed there, then its own purchases. */
function round(build: Build, members: number, next: () => number, orderNo: { n: number }): WriteOp[][] {
  const purchases: PurchaseOp[][] = Array.from({ length: SHARDS }, () => []);
  const claims: ClaimOp[] = Array.from({ length: SHARDS }, () => ({ op: 'claim', keys: [], fps: [], memberIds: [], release: false, atMs: 0, memberId: '' }));
  for (let i = 0; i < ROUND_PURCHASES; i++) {
    const n = orderNo.n++;
    const orderId = `w-${n}`;
    const memberId = `m${Math.floor(next() * members)}`;
    const atMs = T0 + 1_000 + Math.floor(n / 50);
    const op: PurchaseOp = {
      op: 'purchase', orderId, memberId, key: `order:${orderId}`, fp: Math.floor(next() * 2 ** 53), atMs,
      amountCents: 100 + Math.floor(next() * 99_900), discountCents: 0, redeemPoints: 0, walletCents: 0,
    };
    // The key id the front end marks each op with (engine/ops.ts Keyed.by), unless `--no-key-ids`
    // or the build is the baseline: a build before key ids would log such a purchase whole.
    if (keyIds && build.name !== 'baseline') op.by = POS_KEY_ID;
    const s = build.hashId(memberId) % SHARDS;
    const home = build.hashId(op.key) % SHARDS;
    if (home === s) op.keyHome = true;
    else {
      const c = claims[home]!;
      c.keys.push(`c:${op.key}`); c.fps.push(Math.floor(next() * 2 ** 53)); c.memberIds.push(memberId); c.atMs = atMs;
    }
    purchases[s]!.push(op);
  }
  return purchases.map((own, s) => [...(claims[s]!.keys.length > 0 ? [claims[s]!] : []), ...own]);
}

/** Runs one round's batches on the shards, adding the CPU and wall time they took. */
function runRound(shards: Shards, batches: WriteOp[][]): void {
  const cpu = process.cpuUsage();
  const started = performance.now();
  batches.forEach((ops, s) => {
    const reply = shards.machines[s]!.run({ kind: 'batch', ops }, T0) as { results: Array<{ ok: boolean }> };
    if (!reply.results.every((r) => r.ok)) throw new Error(`${shards.build.name}: an op of the benchmark was refused`);
  });
  shards.wallMs += performance.now() - started;
  const used = process.cpuUsage(cpu);
  shards.cpuUs += used.user + used.system;
  shards.roundCpuUs.push(used.user + used.system);
}

/** Each op's batches as the other build gets them: its own objects, the same content. */
const copyOf = (batches: WriteOp[][]): WriteOp[][] => batches.map((ops) => ops.map((op) => structuredClone(op)));

// What a sample's stack spent its time on: the innermost frame that says so.
const LMDB_READS = new Set(['getBinaryFast', 'getBinary', 'get', 'doesExist', 'getRange', 'getKeys', 'getValues', 'getFast', 'getSharedFast']);
const LMDB_PUTS = new Set(['putSync', 'removeSync', 'writeInstructions', 'put', 'remove']);
const LMDB_COMMIT = new Set(['transactionSync', 'commit', 'finishTxn', 'resetTxn', 'beginTxn', 'commitTxn', 'abortTxn']);
const CATEGORIES = ['reads', 'puts', 'commit', 'msgpack', 'codecs', 'log', 'executor', 'gc', 'other'] as const;
type Category = typeof CATEGORIES[number];

interface ProfileNode { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

function frameCategory(frame: ProfileNode['callFrame']): Category | null {
  const { functionName: name, url } = frame;
  if (name === '(garbage collector)') return 'gc';
  if (url.includes('/msgpackr/')) return 'msgpack';
  if (url.includes('/lmdb/')) {
    if (LMDB_READS.has(name)) return 'reads';
    if (LMDB_PUTS.has(name)) return 'puts';
    if (LMDB_COMMIT.has(name)) return 'commit';
    return null;
  }
  if (/\/engine\/shard\/(codec|order-codec)\.js$/.test(url)) return 'codecs';
  if (/\/engine\/shard\/(batch-log|log-ops)\.js$/.test(url)) return 'log';
  if (url.includes('/engine/')) return 'executor';
  return null;
}

/**
 * Self time per category and per function, in µs, from a profile: the samples from the first to
 * the last one taken inside runRound (garbage collection has no stack of its own), so that the
 * profiler's own start and stop are left out.
 */
function splitProfile(profile: CpuProfile): { byCategory: Record<Category, number>; byFunction: Map<string, number>; totalUs: number } {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const memo = new Map<number, { category: Category; inRun: boolean }>();
  const classify = (id: number): { category: Category; inRun: boolean } => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let category: Category | null = null;
    let inRun = false;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      category ??= frameCategory(frame);
      if (frame.functionName === 'runRound' && frame.url.endsWith('/bench/shard-cpu.js')) inRun = true;
    }
    const out = { category: category ?? 'other', inRun };
    memo.set(id, out);
    return out;
  };
  const runSamples = profile.samples.map((id) => classify(id).inRun);
  const firstIn = runSamples.indexOf(true);
  const lastIn = runSamples.lastIndexOf(true);
  const byCategory = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const byFunction = new Map<string, number>();
  let totalUs = 0;
  // The first sample's delta reaches back to the profiler's start: it is left out.
  for (let i = firstIn + 1; firstIn >= 0 && i <= lastIn; i++) {
    const id = profile.samples[i]!;
    const node = byId.get(id)!;
    const { category, inRun } = classify(id);
    // Outside runRound only the collector and native time count: the profiler's own frames do not.
    if (!inRun && !['(garbage collector)', '(program)'].includes(node.callFrame.functionName)) continue;
    // A sample's delta is the time since the previous one: it belongs to this sample.
    const us = profile.timeDeltas[i] ?? 0;
    totalUs += us;
    byCategory[category] += us;
    const file = node.callFrame.url.split('/').slice(-1)[0] ?? '';
    const caller = parent.get(id);
    const name = file === '' && caller !== undefined
      ? `${node.callFrame.functionName || '(native)'} ← ${byId.get(caller)!.callFrame.functionName || '(anonymous)'}`
      : `${node.callFrame.functionName || '(anonymous)'} ${file}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  }
  return { byCategory, byFunction, totalUs };
}

type Split = ReturnType<typeof splitProfile>;

function emptySplit(): Split {
  return { byCategory: Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>, byFunction: new Map(), totalUs: 0 };
}

function addSplit(into: Split, from: Split): void {
  for (const c of CATEGORIES) into.byCategory[c] += from.byCategory[c];
  for (const [name, us] of from.byFunction) into.byFunction.set(name, (into.byFunction.get(name) ?? 0) + us);
  into.totalUs += from.totalUs;
}

async function profiled(session: Session, run: () => void): Promise<CpuProfile> {
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
  run();
  const { profile } = await session.post('Profiler.stop');
  return profile as unknown as CpuProfile;
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

const here = fileURLToPath(new URL('..', import.meta.url));
const builds = [await loadBuild('this build', here)];
if (baselineDist !== undefined) builds.push(await loadBuild('baseline', baselineDist));
const dir = mkdtempSync(join(tmpdir(), 'loyalty-shard-cpu-'));
const session = new Session();
session.connect();
await session.post('Profiler.enable');

try {
  console.log(machineLine());
  console.log(`shard-cpu: ${SHARDS} shards in one process, rounds of ${ROUND_PURCHASES} purchases (about ${ROUND_PURCHASES / SHARDS} per shard batch, ` +
    `plus a claim op for the keys homed on the other shard), ${roundsEach} timed rounds per build, commits without fdatasync` +
    `${baselineDist === undefined ? '' : `, against the baseline build ${baselineDist} batch by batch`}${quick ? ' (--quick)' : ''}`);
  for (const members of memberCounts) {
    const setupStarted = performance.now();
    const first = openShards(builds[0]!, join(dir, `${members}-0`));
    populate(first, members);
    await Promise.all(first.stores.map((s) => s.root.close()));
    // Every build starts from the same bytes: the first one's stores, copied.
    const sides = builds.map((build, b) => {
      const at = join(dir, `${members}-${b}`);
      if (b > 0) cpSync(join(dir, `${members}-0`), at, { recursive: true });
      return openShards(build, at);
    });
    const setupS = (performance.now() - setupStarted) / 1000;
    const next = prng(SEED + members);
    const orderNo = { n: 0 };
    for (let i = 0; i < WARMUP_ROUNDS + roundsEach; i++) {
      const batches = round(builds[0]!, members, next, orderNo);
      const turns = sides.map((side, b) => ({ side, batches: b === 0 && !copiesBoth ? batches : copyOf(batches) }));
      if (i % 2 === 1) turns.reverse();
      if (i === WARMUP_ROUNDS) for (const side of sides) { side.cpuUs = 0; side.wallMs = 0; side.roundCpuUs = []; }
      for (const { side, batches: own } of turns) runRound(side, own);
    }
    const purchases = roundsEach * ROUND_PURCHASES;
    console.log('');
    console.log(`## ${fmtInt(members)} members (set up in ${fmt(setupS, 1)} s)`);
    console.log('');
    console.log('| figure | value | unit |');
    console.log('|---|---:|---|');
    for (const side of sides) {
      console.log(`| ${side.build.name}: CPU per purchase | ${fmt(side.cpuUs / purchases)} | µs/purchase |`);
      console.log(`| ${side.build.name}: wall time per purchase | ${fmt((side.wallMs * US_PER_MS) / purchases)} | µs/purchase |`);
    }
    if (sides.length > 1) {
      console.log(`| CPU per purchase, this build ÷ baseline | ${fmt(sides[0]!.cpuUs / sides[1]!.cpuUs, 3)} | ratio |`);
      // Round by round (the two ran the same batches back to back): the median and quartiles, which a busy spell moves less.
      const ratios = sides[0]!.roundCpuUs.map((us, i) => us / sides[1]!.roundCpuUs[i]!).sort((a, b) => a - b);
      const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.floor(q * ratios.length))]!;
      console.log(`| CPU per round, this build ÷ baseline: median (quartiles) | ${fmt(at(0.5), 3)} (${fmt(at(0.25), 3)}–${fmt(at(0.75), 3)}) | ratio |`);
    }

    const timedCpuUs = sides.map((side) => side.cpuUs);
    // The profiles take turns too, one round at a time, so that each build's shares come from the same stretch of time.
    const splits = sides.map(() => emptySplit());
    for (let i = 0; i < PROFILED_ROUNDS; i++) {
      const batches = round(builds[0]!, members, next, orderNo);
      const turns = sides.map((side, b) => ({ b, side, batches: b === 0 && !copiesBoth ? batches : copyOf(batches) }));
      if (i % 2 === 1) turns.reverse();
      for (const { b, side, batches: own } of turns) addSplit(splits[b]!, splitProfile(await profiled(session, () => runRound(side, own))));
    }
    for (const [b, side] of sides.entries()) {
      const { byCategory, byFunction, totalUs } = splits[b]!;
      const profiledPurchases = PROFILED_ROUNDS * ROUND_PURCHASES;
      // The profiler slows what it samples; its shares, applied to the CPU time measured without it, estimate each part.
      const cpuUsPerPurchase = timedCpuUs[b]! / purchases;
      const part = (us: number): string => `| ${fmt((cpuUsPerPurchase * us) / totalUs)} | ${fmt((100 * us) / totalUs, 1)}% |`;
      console.log('');
      console.log(`${side.build.name}, ${fmtInt(members)} members: where the CPU goes (profiles of ${fmtInt(profiledPurchases)} more purchases; ` +
        `each part's share of the samples times the ${fmt(cpuUsPerPurchase)} µs measured without the profiler)`);
      console.log('');
      console.log('| part | µs/purchase | share |');
      console.log('|---|---:|---:|');
      for (const c of CATEGORIES) console.log(`| ${c} ${part(byCategory[c])}`);
      console.log('');
      console.log('| function (self time) | µs/purchase | share |');
      console.log('|---|---:|---:|');
      for (const [name, us] of [...byFunction].sort((x, y) => y[1] - x[1]).slice(0, topFunctions)) console.log(`| ${name.replace(/\|/g, '/')} ${part(us)}`);
    }
    if (profileOut !== undefined) {
      // One uninterrupted profile of this build, for a closer look (e.g. in Chrome's DevTools).
      const rounds = Array.from({ length: PROFILED_ROUNDS }, () => round(builds[0]!, members, next, orderNo));
      const profile = await profiled(session, () => { for (const batches of rounds) runRound(sides[0]!, batches); });
      writeFileSync(`${profileOut}.${members}.cpuprofile`, JSON.stringify(profile));
    }
    // The books the batches left verify clean on every shard of every build (each build's own verify).
    for (const side of sides) {
      const mismatches = side.stores.reduce((n, store) => n + side.build.verify(store).mismatches.length, 0);
      if (mismatches > 0) throw new Error(`${side.build.name}: verify found ${mismatches} mismatches after the run`);
    }
    console.log('');
    console.log(`verify: ok, ${sides.length * SHARDS} shards at ${fmtInt(members)} members`);
    await Promise.all(sides.flatMap((side) => side.stores.map((s) => s.root.close())));
    rmSync(join(dir, `${members}-0`), { recursive: true, force: true });
    for (let b = 1; b < sides.length; b++) rmSync(join(dir, `${members}-${b}`), { recursive: true, force: true });
  }
  console.log('');
  console.log('shard-cpu: ok');
} finally {
  await session.post('Profiler.disable');
  session.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
