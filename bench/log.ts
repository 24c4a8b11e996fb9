// The batch log benchmark, in one process on one shard store: what logging costs per purchase op
// in the shard's commit path (the same batches run with the log on and off, alternating, so both
// see the same machine), the log's bytes on disk per purchase op, and the replay's rate (the log
// replayed into an empty store through the same commit path, then compared database by database).
// Commits skip fdatasync here (noSync), so the figures are the CPU work alone; bench/load.ts
// gives the end-to-end ratio over a real server.
//
//   node dist/bench/log.js [--quick] [--batches N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../engine/shard/store.js';
import { loadCore } from '../engine/core/wasm.js';
import { ShardMachine } from '../engine/shard/machine.js';
import { replayShard, storeLogSource } from '../engine/shard/replay.js';
import { diffStores } from '../engine/shard/store-diff.js';
import { logPosition } from '../engine/shard/batch-log.js';
import { demoProgram } from '../engine/rules/program.js';
import type { PurchaseOp, RegisterOp } from '../engine/ops.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';

const quick = process.argv.includes('--quick');
const BATCH_OPS = 1_000;
const MEMBERS = 10_000;
/** Purchase batches each side commits; the two sides take turns batch by batch. */
const batchesEach = Number(flag('--batches') ?? (quick ? 8 : 200));
/** Batches each side runs first, uncounted, so that both are past their warm-up. */
const WARMUP_BATCHES = quick ? 2 : 20;
const T0 = Date.UTC(2026, 2, 1);
const MS_PER_S = 1000;
const US_PER_MS = 1000;
const MAP_BYTES = 16 * 1024 * 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'loyalty-log-bench-'));
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A shard with the demo program and MEMBERS members, its log on or off. */
function shard(name: string, log: boolean): { store: ShardStore; machine: ShardMachine } {
  const store = openShardStore(join(dir, name), MAP_BYTES, { noSync: true });
  const machine = new ShardMachine(store, loadCore(), 0, { log });
  machine.run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, T0);
  for (let from = 0; from < MEMBERS; from += BATCH_OPS) {
    const ops: RegisterOp[] = Array.from({ length: BATCH_OPS }, (_, i) => ({ op: 'register', memberId: `m${from + i}`, referralChain: [], key: `reg:m:m${from + i}`, fp: 1_000 + from + i, atMs: T0 }));
    machine.run({ kind: 'batch', ops }, T0);
  }
  return { store, machine };
}

let orderNo = 0;
/** A batch of purchases as the front end builds them (server/requests.ts purchaseOp), ids like the load benchmark's. */
function purchases(): PurchaseOp[] {
  return Array.from({ length: BATCH_OPS }, () => {
    const n = orderNo++;
    const orderId = `w-${n}`;
    return {
      op: 'purchase', orderId, memberId: `m${(n * 7_919) % MEMBERS}`, key: `order:${orderId}`, fp: (n * 2_654_435_761) % 4_294_967_296,
      atMs: T0 + 1_000 + Math.floor(n / 50), amountCents: 100 + ((n * 104_729) % 99_900), discountCents: 0, redeemPoints: 0, walletCents: 0,
    };
  });
}

/** Commits one batch on the machine; returns the milliseconds it took. */
function commit(machine: ShardMachine, ops: PurchaseOp[]): number {
  const started = performance.now();
  machine.run({ kind: 'batch', ops }, T0);
  return performance.now() - started;
}

try {
  console.log(machineLine());
  console.log(`log: ${fmtInt(batchesEach)} batches × ${BATCH_OPS} purchases with the log and as many without, taking turns batch by batch, ` +
    `${fmtInt(MEMBERS)} members, one shard, commits without fdatasync${quick ? ' (--quick)' : ''}`);
  const on = shard('on', true);
  const off = shard('off', false);
  let onMs = 0;
  let offMs = 0;
  // The two sides take turns batch by batch, the one going first swapped each time: on a shared,
  // busy machine, longer turns measured the load's swings more than the log (30 to 55% apart
  // between runs in turns of 30 batches, within a few % batch by batch).
  for (let i = 0; i < WARMUP_BATCHES + batchesEach; i++) {
    const ops = purchases();
    const copy = ops.map((op) => ({ ...op }));
    const counted = i >= WARMUP_BATCHES;
    if (i % 2 === 0) {
      const a = commit(on.machine, ops);
      const b = commit(off.machine, copy);
      if (counted) { onMs += a; offMs += b; }
    } else {
      const b = commit(off.machine, copy);
      const a = commit(on.machine, ops);
      if (counted) { onMs += a; offMs += b; }
    }
  }
  const ops = batchesEach * BATCH_OPS;
  const onUsPerOp = (onMs * US_PER_MS) / ops;
  const offUsPerOp = (offMs * US_PER_MS) / ops;
  const logStats = on.store.log.getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
  const logBytes = logStats.pageSize * (logStats.treeBranchPageCount + logStats.treeLeafPageCount + logStats.overflowPages);
  const logOps = logPosition(on.store).ops;
  const lastValue = on.store.log.getBinary(logPosition(on.store).seq)!;
  const purchaseBytesPerOp = lastValue.length / BATCH_OPS;

  // The replay: every entry of the logged shard into an empty store, then the comparison.
  const target = openShardStore(join(dir, 'replayed'), MAP_BYTES, { noSync: true });
  const replayStarted = performance.now();
  const replay = replayShard(storeLogSource(on.store, 0), target);
  const replayMs = performance.now() - replayStarted;
  const diffStarted = performance.now();
  const diff = diffStores(on.store, target, { listedMax: 5 });
  const diffMs = performance.now() - diffStarted;

  const rows: Array<[string, string, string]> = [
    ['commit, batch log on', onUsPerOp.toFixed(2), 'µs/purchase'],
    ['commit, batch log off', offUsPerOp.toFixed(2), 'µs/purchase'],
    ['commit time with the log ÷ without', (onUsPerOp / offUsPerOp).toFixed(3), 'ratio'],
    ['batch log on disk (registrations and purchases)', (logBytes / logOps).toFixed(1), 'B/op'],
    ['replay', fmtInt(replay.batches / (replayMs / MS_PER_S)), 'batches/s'],
    ['replay', fmtInt(replay.ops / (replayMs / MS_PER_S)), 'ops/s'],
    ['replay ÷ live commit (log on)', ((replay.ops / replayMs) / (ops / onMs)).toFixed(3), 'ratio'],
    ['bytes per purchase op in its log entry', purchaseBytesPerOp.toFixed(1), 'B/op'],
    ['comparison of every database', fmtInt(Object.values(diff.entries).reduce((a, b) => a + b, 0) / (diffMs / MS_PER_S)), 'entries/s'],
  ];
  console.log('');
  console.log('| figure | value | unit |');
  console.log('|---|---:|---|');
  for (const [name, value, unit] of rows) console.log(`| ${name} | ${value} | ${unit} |`);
  console.log('');
  if (diff.differenceCount !== 0 || replay.lastSeq !== logPosition(on.store).seq) {
    console.log(`log: FAILED: the replay differs: ${JSON.stringify(diff.differences)}`);
    process.exitCode = 1;
  } else {
    console.log(`log: ok, ${fmtInt(replay.batches)} entries replayed equal`);
  }
  await Promise.all([on.store.root.close(), off.store.root.close(), target.root.close()]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
