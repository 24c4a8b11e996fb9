// Per-scenario micro benchmarks (tinybench): the WASM core against its TypeScript reference, the
// msgpack codec of a stream batch, and the raw LMDB put rate, each printed in ops/s with latency.
//
//   node dist/bench/micro.js [--quick]
import { Packr } from 'msgpackr';
import { Bench, type Task } from 'tinybench';
import { encodeProgram, loadCore } from '../engine/core/wasm.js';
import {
  M_SLOTS, M_PERIOD_START_MS, M_PERIOD_END_MS, M_FIRST_PURCHASE_AT_MS, M_LAST_PURCHASE_AT_MS,
  NONE, O_SLOTS, O_KIND, O_SLOT, O_AT_MS, O_A, O_MULTIPLIER_PCT, OP_PURCHASE, R_SLOTS, R_STATUS, S_OK,
} from '../engine/core/layout.js';
import { runReference } from '../engine/core/reference.js';
import { demoProgram } from '../engine/rules/program.js';
import { BASELINE_PUTS_PER_TXN, openLmdbBaseline } from './lmdb-baseline.js';
import { machineLine } from './machine.js';

/** Ops per core call and per codec batch: the size of a busy shard batch. */
const BATCH_OPS = 1_000;
/** Member slots the batch spreads over, so several ops hit each member as in a real batch. */
const MEMBER_SLOTS = 100;
const AMOUNT_CENTS_MIN = 100;
const AMOUNT_CENTS_MAX = 100_000;
const START_AT_MS = 1_767_225_600_000;
/** Ops of one batch are a second apart, inside one membership period. */
const OP_SPACING_MS = 1_000;
const MS_PER_S = 1000;
/** A purchase outside the birthday month and every campaign: its points are not multiplied. */
const NO_MULTIPLIER_PCT = 100;

const QUICK = process.argv.includes('--quick');
/** Time budget per task: about a second by default, a tenth of that for the smoke test. */
const TASK_TIME_MS = QUICK ? 100 : 1_000;
const WARMUP_TIME_MS = QUICK ? 20 : 200;
const TASK_ITERATIONS_MIN = QUICK ? 8 : 64;

function randomAmountCents(): number {
  return AMOUNT_CENTS_MIN + Math.floor(Math.random() * (AMOUNT_CENTS_MAX - AMOUNT_CENTS_MIN + 1));
}

/** Fresh members at the first tier: zero balances, a period that started at START_AT_MS and never ends. */
function freshMembers(): Float64Array {
  const members = new Float64Array(MEMBER_SLOTS * M_SLOTS);
  for (let s = 0; s < MEMBER_SLOTS; s++) {
    const m = s * M_SLOTS;
    members[m + M_PERIOD_START_MS] = START_AT_MS;
    members[m + M_PERIOD_END_MS] = NONE;
    members[m + M_FIRST_PURCHASE_AT_MS] = NONE;
    members[m + M_LAST_PURCHASE_AT_MS] = NONE;
  }
  return members;
}

/** BATCH_OPS purchase records over MEMBER_SLOTS members, no discount, redemption or wallet tender. */
function purchaseRecords(): Float64Array {
  const ops = new Float64Array(BATCH_OPS * O_SLOTS);
  for (let k = 0; k < BATCH_OPS; k++) {
    const o = k * O_SLOTS;
    ops[o + O_KIND] = OP_PURCHASE;
    ops[o + O_SLOT] = k % MEMBER_SLOTS;
    ops[o + O_AT_MS] = START_AT_MS + k * OP_SPACING_MS;
    ops[o + O_A] = randomAmountCents();
    ops[o + O_MULTIPLIER_PCT] = NO_MULTIPLIER_PCT;
  }
  return ops;
}

/** A stream batch as a POS terminal sends it. */
function purchaseBatch(): Record<string, unknown> {
  const ops = [];
  for (let k = 0; k < BATCH_OPS; k++) {
    ops.push({ op: 'purchase', orderId: `o-bench-${k}`, memberId: `m${k % MEMBER_SLOTS}`, amountCents: randomAmountCents() });
  }
  return { type: 'batch', id: 1, ops };
}

function assertSameBytes(a: Float64Array, b: Float64Array, what: string): void {
  const bytesA = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const bytesB = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (!bytesA.equals(bytesB)) throw new Error(`micro: the WASM core and the reference disagree on ${what}`);
}

interface Row { scenario: string; unit: string; opsPerS: number; meanMs: number; p99Ms: number; samples: number }

function rowOf(task: Task, opsPerIteration: number, unit: string): Row {
  const result = task.result;
  if (result.state !== 'completed') {
    throw new Error(`micro: task ${task.name} ended ${result.state}${result.state === 'errored' ? `: ${result.error.message}` : ''}`);
  }
  return {
    scenario: task.name,
    unit,
    opsPerS: (opsPerIteration * MS_PER_S) / result.period,
    meanMs: result.latency.mean,
    p99Ms: result.latency.p99,
    samples: result.latency.samplesCount,
  };
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => n.toFixed(4);

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(`micro: ${TASK_TIME_MS} ms per task${QUICK ? ' (--quick)' : ''}, ${BATCH_OPS} ops per iteration`);

  // (a) The core: the same records through the WASM core and the TypeScript reference.
  const core = loadCore();
  encodeProgram(demoProgram(), core.program);
  const initialMembers = freshMembers();
  const ops = purchaseRecords();
  core.ops.set(ops);
  const refProgram = core.program.slice();
  const refMembers = new Float64Array(initialMembers.length);
  const refResults = new Float64Array(BATCH_OPS * R_SLOTS);
  const wasmCore = (): void => { core.members.set(initialMembers); core.run(BATCH_OPS); };
  const reference = (): void => { refMembers.set(initialMembers); runReference(refProgram, refMembers, ops, refResults, BATCH_OPS); };
  // Both must compute the same thing, or the comparison means nothing.
  wasmCore();
  reference();
  assertSameBytes(core.members.subarray(0, initialMembers.length), refMembers, 'members');
  assertSameBytes(core.results.subarray(0, refResults.length), refResults, 'results');
  for (let k = 0; k < BATCH_OPS; k++) {
    if (refResults[k * R_SLOTS + R_STATUS] !== S_OK) throw new Error(`micro: purchase ${k} was rejected by the core`);
  }

  // (b) The stream codec: what the server decodes and the terminal encodes per batch.
  const packr = new Packr({ useRecords: false });
  const batch = purchaseBatch();
  const frameBytes = packr.pack(batch).byteLength;
  const codec = (): void => {
    const decoded = packr.unpack(packr.pack(batch)) as { ops: unknown[] };
    if (decoded.ops.length !== BATCH_OPS) throw new Error('micro: the codec lost ops');
  };

  // (c) Raw LMDB: one transaction of 1,000 puts, awaited until flushed to disk.
  const lmdb = openLmdbBaseline();

  const bench = new Bench({ time: TASK_TIME_MS, warmupTime: WARMUP_TIME_MS, iterations: TASK_ITERATIONS_MIN, throws: true });
  bench
    .add('core: WASM run(1000)', wasmCore)
    .add('core: TypeScript reference', reference)
    .add(`msgpackr: pack+unpack ${BATCH_OPS}-op batch (${fmtInt(frameBytes)} B)`, codec)
    .add(`lmdb: txn of ${BASELINE_PUTS_PER_TXN} puts (${lmdb.valueBytes} B values) + flushed`, () => lmdb.putBatch());
  try {
    await bench.run();
  } finally {
    await lmdb.close();
  }

  const [wasmTask, refTask, codecTask, lmdbTask] = bench.tasks;
  if (!wasmTask || !refTask || !codecTask || !lmdbTask) throw new Error('micro: a task is missing');
  const rows = [
    rowOf(wasmTask, BATCH_OPS, 'ops/s'),
    rowOf(refTask, BATCH_OPS, 'ops/s'),
    rowOf(codecTask, BATCH_OPS, 'ops/s'),
    rowOf(lmdbTask, BASELINE_PUTS_PER_TXN, 'puts/s'),
  ];
  console.log('');
  console.log('| scenario | rate | unit | mean ms per 1,000 | p99 ms per 1,000 | samples |');
  console.log('|---|---:|---|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${fmtInt(r.opsPerS)} | ${r.unit} | ${fmtMs(r.meanMs)} | ${fmtMs(r.p99Ms)} | ${r.samples} |`);
  }
  const [wasmRow, refRow] = rows;
  console.log('');
  console.log(`core ratio WASM/reference: ${(wasmRow!.opsPerS / refRow!.opsPerS).toFixed(2)}x`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
