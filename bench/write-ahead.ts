// Measures what a purchase batch's durable write costs on real lmdb-js stores, today's way against
// a write-ahead way, at 20,000 and 1,000,000 members, so that the choice between them rests on
// figures from this machine and not on expectation.
//
//   (A) today: one synchronous LMDB transaction per batch of 500 purchases on random members, each
//       purchase reading its member's state and putting it back, putting its order record, and the
//       batch putting its ledger value, its batch log entry and its meta keys; the commit's fdatasync
//       is the durable point.
//   (C) A with member states cached in memory: the same puts and fdatasync, no state read after a
//       member's first one. C/A separates what reading costs from what writing costs.
//   (B) write-ahead: per batch, one sequential write of the batch log entry to a log file and one
//       fdatasync of it (the durable point); member states in a Map (read from LMDB once); the LMDB
//       puts of K batches applied by a checkpoint in one transaction without fdatasync, then one
//       fdatasync of the data file (a checkpoint must be on disk before the log it covers is
//       recycled), for K = 1, 10 and 100. The checkpoint runs on this thread: on a busy two-core
//       machine it costs the same CPU wherever it runs, and its share is printed apart.
//
// What a purchase reads and puts, and how many bytes each value has, is not assumed: a real shard
// (engine/shard/machine.ts, the demo program) runs a batch of purchases first, with every database
// access counted, and the benchmark replays that shape with the real value bytes. What this leaves
// out is everything that is not LMDB or the log: the rules, the core, the codecs, the transfer
// between threads (bench/shard-cpu.ts measures those).
//
// The variants take turns, a block of batches each, on stores seeded in one big transaction, so
// that each sees the same machine; ratios are to A measured in the same turns. Figures per variant:
// CPU µs per purchase (process.cpuUsage: user + system), wall purchases/s, the bytes this process
// sent to storage per batch (/proc/self/io write_bytes, page-granular: LMDB's dirtied pages and the
// log's), and the data file's growth.
//
//   node dist/bench/write-ahead.js [--quick] [--members N] [--turns N]
import { closeSync, cpSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, SHARD_DATABASES, type ShardStore } from '../engine/shard/store.js';
import { ShardMachine } from '../engine/shard/machine.js';
import { loadCore } from '../engine/core/wasm.js';
import { demoProgram } from '../engine/rules/program.js';
import { toImportRows } from '../engine/import-rows.js';
import type { PurchaseOp, RegisterOp } from '../engine/ops.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';
import { prng } from './prng.js';

const quick = process.argv.includes('--quick');
/** Purchases per batch, as a POS terminal sends them. */
const BATCH_PURCHASES = 500;
const memberCounts = flag('--members') !== undefined ? [Number(flag('--members'))] : quick ? [20_000] : [20_000, 1_000_000];
/** Checkpoint intervals of the write-ahead variant, in batches. */
const CHECKPOINT_BATCHES = [1, 10, 100] as const;
/** Batches each variant runs per turn: a multiple of the longest checkpoint interval, so that every turn ends on a checkpoint. */
const TURN_BATCHES = 100;
/** Turns per member count, each variant once per turn; the first is warm-up and uncounted. */
const turns = Number(flag('--turns') ?? (quick ? 2 : 4));
/** Members the calibrating shard imports: enough that its 500 purchases land on distinct members mostly. */
const CALIBRATION_MEMBERS = 5_000;
const IMPORT_ROWS = 5_000;
/** Address space only; the files grow as written. */
const MAP_BYTES = 16 * 1024 ** 3;
/** The log file is written in place over a segment of this size, allocated before the run, as a write-ahead log keeps its segments. */
const LOG_SEGMENT_BYTES = 64 * 1024 ** 2;
const LOG_FILE_MODE = 0o600;
const T0 = Date.UTC(2026, 2, 1);
const POS_KEY_ID = 'k_3f9a2c7e1b04';
const SEED = 14;
/** LMDB's page size here (lmdb-js's default), the unit of the write counts. */
const PAGE_BYTES = 4096;
const MS_PER_S = 1000;

/** A database of the shard, by its name in ShardStore. */
type DbName = typeof SHARD_DATABASES[number] | 'legacyOrders';

/** One database's accesses in the calibrating batch; a miss is a read that found nothing. */
interface Access { reads: number; misses: number; puts: number; putBytes: number; removes: number }

/** What one purchase batch of the real shard read and put. */
interface Shape {
  /** Accesses per database: reads (hits and misses) and puts, with the puts' raw bytes. */
  table: Map<DbName, Access>;
  /** A member state as a purchase writes it, and an order record, as stored. */
  stateBytes: Buffer;
  orderBytes: Buffer;
  /** The batch's one ledger value and one batch log value, as stored. */
  ledgerBytes: Buffer;
  logBytes: Buffer;
  /** The batch's other puts (meta keys, key ids), replayed as they were. */
  perBatchPuts: Array<{ db: DbName; key: unknown; value: unknown }>;
}

function purchase(n: number, members: number, next: () => number): PurchaseOp {
  const orderId = `w-${n}`;
  return {
    op: 'purchase', orderId, memberId: `m${Math.floor(next() * members)}`, key: `order:${orderId}`, fp: Math.floor(next() * 2 ** 53),
    atMs: T0 + 1_000 + Math.floor(n / 50), amountCents: 100 + Math.floor(next() * 99_900), discountCents: 0, redeemPoints: 0,
    walletCents: 0, keyHome: true, by: POS_KEY_ID,
  };
}

/**
 * Runs the demo program on a real shard, imports members, runs one batch of purchases to warm it,
 * then one more with every read and put of every database recorded: the shape the variants replay.
 */
async function calibrate(dir: string): Promise<Shape> {
  const store = openShardStore(join(dir, 'calibration'), MAP_BYTES, { noSync: true });
  const machine = new ShardMachine(store, loadCore(), 0, { log: true });
  machine.run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, T0);
  const rows: RegisterOp[] = [];
  for (let i = 0; i < CALIBRATION_MEMBERS; i++) {
    rows.push({ op: 'register', memberId: `m${i}`, referralChain: [], key: `reg:m:m${i}`, fp: 1_000 + i, atMs: T0, lean: true });
    if (rows.length === IMPORT_ROWS) machine.run({ kind: 'import', rows: toImportRows(rows.splice(0)) }, T0);
  }
  if (rows.length > 0) machine.run({ kind: 'import', rows: toImportRows(rows) }, T0);
  const next = prng(SEED);
  let n = 0;
  const batch = (): PurchaseOp[] => Array.from({ length: BATCH_PURCHASES }, () => purchase(n++, CALIBRATION_MEMBERS, next));
  const run = (ops: PurchaseOp[]): void => {
    const reply = machine.run({ kind: 'batch', ops }, T0) as { results: Array<{ ok: boolean }> };
    if (!reply.results.every((r) => r.ok)) throw new Error('a purchase of the calibrating batch was refused');
  };
  run(batch());

  const table: Shape['table'] = new Map();
  const puts: Array<{ db: DbName; key: unknown; value: unknown }> = [];
  const names: DbName[] = [...SHARD_DATABASES, 'legacyOrders'];
  const row = (name: DbName): Access => {
    let r = table.get(name);
    if (r === undefined) table.set(name, r = { reads: 0, misses: 0, puts: 0, putBytes: 0, removes: 0 });
    return r;
  };
  // Each database's read, put and remove methods are shadowed on the instance for one batch, then
  // the shadows deleted, so that the prototype's methods serve again.
  const shadowed = ['get', 'getBinaryFast', 'getBinary', 'putSync', 'removeSync'];
  for (const name of names) {
    const db = store[name] as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of shadowed) {
      const original = db[method]!.bind(db);
      db[method] = (...args: unknown[]) => {
        if (method === 'putSync') puts.push({ db: name, key: args[0], value: args[1] instanceof Uint8Array ? Buffer.from(args[1]) : structuredClone(args[1]) });
        const result = original(...args);
        if (method === 'removeSync') row(name).removes++;
        else if (method !== 'putSync') {
          row(name).reads++;
          if (result === undefined) row(name).misses++;
        }
        return result;
      };
    }
  }
  run(batch());
  for (const name of names) for (const method of shadowed) delete (store[name] as unknown as Record<string, unknown>)[method];

  // The raw bytes each put left in the store, read back after the commit.
  let stateBytes: Buffer | undefined, orderBytes: Buffer | undefined, ledgerBytes: Buffer | undefined, logBytes: Buffer | undefined;
  const perBatchPuts: Shape['perBatchPuts'] = [];
  for (const p of puts) {
    const raw = (store[p.db] as unknown as { getBinary(key: unknown): Buffer | undefined }).getBinary(p.key);
    const r = row(p.db);
    r.puts++;
    r.putBytes += raw?.byteLength ?? 0;
    if (p.db === 'states') stateBytes ??= Buffer.from(raw!);
    else if (p.db === 'orders') orderBytes ??= Buffer.from(raw!);
    else if (p.db === 'ledger') ledgerBytes = Buffer.from(raw!);
    else if (p.db === 'log') logBytes = Buffer.from(raw!);
    // The sweep's index changes when a purchase moves the member's next event (a first purchase):
    // the replay models members who bought before, whose index key stays, so it is left out.
    else if (p.db !== 'due') perBatchPuts.push(p);
  }
  await store.root.close();
  if (stateBytes === undefined || orderBytes === undefined || ledgerBytes === undefined || logBytes === undefined) {
    throw new Error('the calibrating batch did not put a state, an order, a ledger value and a log entry');
  }
  return { table, stateBytes, orderBytes, ledgerBytes, logBytes, perBatchPuts };
}


/**
 * This process's write counters (/proc/self/io): `wchar`, the bytes it passed to write calls (LMDB
 * writes each dirty page with pwrite, so these are LMDB's pages and the log's bytes exactly), and
 * `write_bytes`, what the kernel accounted to storage, which on kernels that cache files in large
 * folios counts a whole folio for each 4 KiB page dirtied in it. NaN where Linux's counters are missing.
 */
function ioCounters(): { wchar: number; storage: number } {
  try {
    const text = readFileSync('/proc/self/io', 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { wchar: field('wchar'), storage: field('write_bytes') };
  } catch {
    return { wchar: Number.NaN, storage: Number.NaN };
  }
}

/**
 * A store of `members` members, each with the calibrated state bytes (the purchase's counter
 * bumped, so that no two are equal), written in one transaction, and the same states in memory.
 */
async function seed(path: string, members: number, shape: Shape): Promise<Map<string, Buffer>> {
  const store = openShardStore(path, MAP_BYTES, { noSync: true });
  const hot = new Map<string, Buffer>();
  store.root.transactionSync(() => {
    for (let i = 0; i < members; i++) {
      const bytes = Buffer.from(shape.stateBytes);
      bytes.writeUInt32LE(i, bytes.length - 4);
      const memberId = `m${i}`;
      store.states.putSync(memberId, bytes);
      hot.set(memberId, bytes);
    }
  });
  await store.root.close();
  return hot;
}

/** The same purchases for every variant: a member index and an order number per purchase, from one seed. */
class Purchases {
  private readonly next = prng(SEED);
  private orderNo = 0;
  constructor(private readonly members: number, private readonly prefix: string) {}
  batch(): Array<{ memberId: string; orderId: string }> {
    return Array.from({ length: BATCH_PURCHASES }, () => ({ memberId: `m${Math.floor(this.next() * this.members)}`, orderId: `${this.prefix}-${this.orderNo++}` }));
  }
}

/** A purchase's new state: the old one with its counter moved, in a new buffer (the engine encodes a new one too). */
function nextState(old: Uint8Array): Buffer {
  // lmdb-js's getBinaryFast answers a view of its whole read buffer with `length` set to the
  // value's: the subarray is the value alone.
  const bytes = Buffer.from(old.subarray(0, old.length));
  bytes[0] = (bytes[0]! + 1) & 0x7f;
  return bytes;
}

/** One way of making a batch durable, on its own copy of the seeded store. */
interface Variant {
  name: string;
  store: ShardStore;
  dataPath: string;
  purchases: Purchases;
  runBatch(batch: Array<{ memberId: string; orderId: string }>): void;
  /** Totals over the counted turns. */
  cpuUs: number; wallMs: number; writeBytes: number; storageBytes: number; batches: number; checkpointCpuUs: number; checkpointWallMs: number;
  dataBytesAtStart: number;
  close(): Promise<void>;
}

/** The batch's other puts (meta keys) as the calibrating shard made them, in the caller's transaction. */
function putOthers(store: ShardStore, shape: Shape): void {
  for (const p of shape.perBatchPuts) (store[p.db] as unknown as { putSync(key: unknown, value: unknown): void }).putSync(p.key, p.value);
}

function newVariant(name: string, path: string, members: number, prefix: string, noSync: boolean): Omit<Variant, 'runBatch' | 'close'> {
  const store = openShardStore(path, MAP_BYTES, { noSync });
  const dataPath = join(path, 'data.mdb');
  return {
    name, store, dataPath, purchases: new Purchases(members, prefix),
    cpuUs: 0, wallMs: 0, writeBytes: 0, storageBytes: 0, batches: 0, checkpointCpuUs: 0, checkpointWallMs: 0, dataBytesAtStart: 0,
  };
}

/**
 * (A) today's shape, and (C) with `hot` the states in memory: one synchronous transaction per
 * batch with every put, the commit's fdatasync its durable point.
 */
function transactionPerBatch(name: string, path: string, members: number, shape: Shape, hot: Map<string, Buffer> | null): Variant {
  const v = newVariant(name, path, members, name.toLowerCase(), false);
  const { store } = v;
  let batchNo = 1_000;
  return {
    ...v,
    runBatch(batch) {
      batchNo++;
      store.root.transactionSync(() => {
        for (const { memberId, orderId } of batch) {
          let state: Buffer;
          if (hot === null) {
            const stored = store.states.getBinaryFast(memberId);
            if (stored === undefined) throw new Error(`${name}: no state for ${memberId}`);
            state = nextState(stored);
          } else {
            state = nextState(hot.get(memberId)!);
            hot.set(memberId, state);
          }
          if (store.orders.getBinaryFast(orderId) !== undefined) throw new Error(`${name}: order ${orderId} exists`);
          store.states.putSync(memberId, state);
          store.orders.putSync(orderId, shape.orderBytes);
        }
        store.ledger.putSync(batchNo, shape.ledgerBytes, { append: true });
        store.log.putSync(batchNo, shape.logBytes, { append: true });
        putOthers(store, shape);
      });
    },
    close: () => store.root.close(),
  };
}

/**
 * (B) write-ahead: the batch log entry written to a log file and synced is the durable point; the
 * states live in `hot`; every `k` batches a checkpoint applies the batches' puts to LMDB in one
 * transaction without fdatasync, then syncs the data file once.
 */
function writeAhead(k: number, path: string, members: number, shape: Shape, hot: Map<string, Buffer>): Variant {
  const v = newVariant(`B${k}`, path, members, `b${k}`, true);
  const { store } = v;
  const logFd = openSync(join(path, 'batch.log'), 'w+', LOG_FILE_MODE);
  // The segment is written whole and synced before the run, so that a batch's write changes no
  // file size and its fdatasync has no metadata to write: how a write-ahead log keeps its segments.
  const zeros = Buffer.alloc(1024 ** 2);
  for (let at = 0; at < LOG_SEGMENT_BYTES; at += zeros.length) writeSync(logFd, zeros, 0, zeros.length, at);
  fdatasyncSync(logFd);
  const dataFd = openSync(v.dataPath, 'r');
  let logAt = 0;
  let batchNo = 1_000;
  /** What the next checkpoint writes: the latest state of each member touched, the orders, the batches. */
  const dirty = new Map<string, Buffer>();
  const orderIds = new Set<string>();
  let batchesPending = 0;
  const variant: Variant = {
    ...v,
    runBatch(batch) {
      batchNo++;
      for (const { memberId, orderId } of batch) {
        const state = nextState(hot.get(memberId)!);
        hot.set(memberId, state);
        dirty.set(memberId, state);
        // An order id is new unless the log since the last checkpoint or the store has it.
        if (orderIds.has(orderId) || store.orders.getBinaryFast(orderId) !== undefined) throw new Error(`B${k}: order ${orderId} exists`);
        orderIds.add(orderId);
      }
      if (logAt + shape.logBytes.length > LOG_SEGMENT_BYTES) logAt = 0;
      writeSync(logFd, shape.logBytes, 0, shape.logBytes.length, logAt);
      logAt += shape.logBytes.length;
      fdatasyncSync(logFd);
      batchesPending++;
      if (batchesPending === k) {
        const cpu = process.cpuUsage();
        const started = performance.now();
        store.root.transactionSync(() => {
          for (const [memberId, state] of dirty) store.states.putSync(memberId, state);
          for (const orderId of orderIds) store.orders.putSync(orderId, shape.orderBytes);
          for (let b = batchNo - k + 1; b <= batchNo; b++) store.ledger.putSync(b, shape.ledgerBytes, { append: true });
          putOthers(store, shape);
        });
        fdatasyncSync(dataFd);
        dirty.clear();
        orderIds.clear();
        batchesPending = 0;
        const used = process.cpuUsage(cpu);
        variant.checkpointCpuUs += used.user + used.system;
        variant.checkpointWallMs += performance.now() - started;
      }
    },
    async close() {
      closeSync(logFd);
      closeSync(dataFd);
      await store.root.close();
    },
  };
  return variant;
}

/** Runs one turn of `TURN_BATCHES` batches on a variant; counted unless a warm-up. */
function turn(v: Variant, counted: boolean): void {
  const batches = Array.from({ length: TURN_BATCHES }, () => v.purchases.batch());
  const checkpointCpuUs = v.checkpointCpuUs;
  const checkpointWallMs = v.checkpointWallMs;
  const written = ioCounters();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const batch of batches) v.runBatch(batch);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const after = ioCounters();
  if (!counted) {
    v.checkpointCpuUs = checkpointCpuUs;
    v.checkpointWallMs = checkpointWallMs;
    v.dataBytesAtStart = statSync(v.dataPath).size;
    return;
  }
  v.cpuUs += used.user + used.system;
  v.wallMs += wallMs;
  v.writeBytes += after.wchar - written.wchar;
  v.storageBytes += after.storage - written.storage;
  v.batches += TURN_BATCHES;
}

const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function measure(dir: string, members: number, shape: Shape): Promise<void> {
  const seeded = join(dir, `seed-${members}`);
  let started = performance.now();
  const hot = await seed(seeded, members, shape);
  const seedMs = performance.now() - started;
  started = performance.now();
  const copy = (name: string): string => {
    const path = join(dir, `${members}-${name}`);
    cpSync(seeded, path, { recursive: true });
    return path;
  };
  const variants: Variant[] = [
    transactionPerBatch('A', copy('a'), members, shape, null),
    transactionPerBatch('C', copy('c'), members, shape, hot),
    ...CHECKPOINT_BATCHES.map((k) => writeAhead(k, copy(`b${k}`), members, shape, hot)),
  ];
  console.log(`${fmt(members)} members: seeded in ${fmt(seedMs)} ms (one transaction), data file ${fmt(statSync(join(seeded, 'data.mdb')).size / 1024 ** 2, 1)} MB, copies made in ${fmt(performance.now() - started)} ms`);
  rmSync(seeded, { recursive: true, force: true });
  // Each turn starts with the next variant, so that none always runs right after another's commits.
  for (let t = 0; t < turns; t++) {
    for (let i = 0; i < variants.length; i++) turn(variants[(t + i) % variants.length]!, t > 0);
  }

  const a = variants[0]!;
  const perPurchase = (v: Variant): number => v.cpuUs / (v.batches * BATCH_PURCHASES);
  const rate = (v: Variant): number => (v.batches * BATCH_PURCHASES) / (v.wallMs / MS_PER_S);
  const pagesPerBatch = (v: Variant): number => v.writeBytes / v.batches / PAGE_BYTES;
  for (const v of variants) {
    const grownMB = (statSync(v.dataPath).size - v.dataBytesAtStart) / 1024 ** 2;
    const checkpoint = v.name.startsWith('B')
      ? `; of which checkpoint ${fmt(v.checkpointCpuUs / (v.batches * BATCH_PURCHASES), 2)} µs CPU/purchase and ${fmt(v.checkpointWallMs / v.batches, 2)} ms wall/batch, ` +
        `durable path alone ${fmt((v.cpuUs - v.checkpointCpuUs) / (v.batches * BATCH_PURCHASES), 2)} µs CPU/purchase`
      : '';
    const ratios = v === a ? '' : `; ${v.name}/A: CPU ${fmt(perPurchase(v) / perPurchase(a), 3)}, rate ${fmt(rate(v) / rate(a), 3)}, writes ${fmt(v.writeBytes / a.writeBytes, 3)}`;
    console.log(`${fmt(members)} members ${v.name.padEnd(4)}: ${fmt(perPurchase(v), 2)} µs CPU/purchase, ${fmt(rate(v))} purchases/s, ` +
      `${fmt(pagesPerBatch(v), 1)} pages written/batch (storage ${fmt(v.storageBytes / v.batches / PAGE_BYTES, 1)}), data file +${fmt(grownMB, 1)} MB over ${fmt(v.batches)} batches${checkpoint}${ratios}`);
  }
  for (const v of variants) await v.close();
}

async function main(): Promise<void> {
  console.log(machineLine());
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`load average before the run: ${load}; batches of ${BATCH_PURCHASES} purchases on random members; ${turns - 1} counted turns of ${TURN_BATCHES} batches per variant (one warm-up turn before)`);
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-write-ahead-'));
  try {
    const shape = await calibrate(dir);
    const rows = [...shape.table].filter(([, r]) => r.reads + r.puts + r.removes > 0)
      .map(([name, r]) => `${name} ${r.reads} reads (${r.misses} misses), ${r.puts} puts of ${fmt(r.putBytes)} B${r.removes > 0 ? `, ${r.removes} removes` : ''}`);
    console.log(`a real shard's batch of ${BATCH_PURCHASES} purchases: ${rows.join('; ')}`);
    console.log(`replayed per purchase: state ${shape.stateBytes.length} B (read, put), order ${shape.orderBytes.length} B (read: a miss; put); ` +
      `per batch: ledger ${fmt(shape.ledgerBytes.length)} B, batch log ${fmt(shape.logBytes.length)} B (${fmt(shape.logBytes.length / BATCH_PURCHASES, 1)} B/purchase), ` +
      `${shape.perBatchPuts.length} meta puts`);
    for (const members of memberCounts) await measure(dir, members, shape);
    console.log(`A: one synchronous transaction per batch (today); C: A without the state reads; Bk: batch log file + fdatasync per batch, LMDB checkpoint every k batches`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
