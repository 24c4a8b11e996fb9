// The sweep benchmark: N members whose periods have all ended, spread over two shard stores, are
// brought up to date by the shard's sweep in its bounded slices, as the worker runs it (one
// transaction per slice). Prints members/s and the projected time for 1,000,000 members.
//
//   node dist/bench/sweep.js [--members N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, putState, type ShardStore } from '../engine/shard/store.js';
import { encodeProgram, loadCore } from '../engine/core/wasm.js';
import { BatchExecutor } from '../engine/shard/batch.js';
import { programContext } from '../engine/rules/member-state.js';
import { demoProgram } from '../engine/rules/program.js';
import { SWEEP_SLICE_MEMBERS } from '../engine/limits.js';
import type { HotState } from '../engine/rules/member-state.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';

const SHARDS = 2;
const DAY_MS = 86_400_000;
/** Members written per transaction while setting up. */
const SETUP_TXN_MEMBERS = 10_000;
const MEMBERS_GOAL = 1_000_000;
const GOAL_S = 30;


const quick = process.argv.includes('--quick');
const members = Number(flag('--members') ?? (quick ? 4_000 : 200_000));
const dir = mkdtempSync(join(tmpdir(), 'loyalty-sweep-'));
const ctx = programContext(1, demoProgram());
const periodEnd = Date.UTC(2026, 0, 1);
const asOfMs = periodEnd + DAY_MS;

function silverState(): HotState {
  return {
    tierId: 'silver', periodStart: periodEnd - 365 * DAY_MS, periodEnd, periodMetric: 50_000, periodStartTierId: 'silver',
    points: 100, growth: 100, walletCents: 0, lifetimeSpendCents: 150_000, purchaseCount: 1, firstPurchaseAt: null,
    lastPurchaseAt: null, lastSeq: 0, standingOrders: 1, birthdayMonth: 0, birthdayDay: 0, lastBirthdayYear: 0,
    nextDue: periodEnd, referralChain: [], grants: [], pending: [], expiryNotices: [],
  };
}

try {
  console.log(machineLine());
  const stores: ShardStore[] = [];
  for (let s = 0; s < SHARDS; s++) stores.push(openShardStore(join(dir, `shard-${s}`), 16 * 1024 * 1024 * 1024));
  const setupStart = performance.now();
  for (let s = 0; s < SHARDS; s++) {
    const store = stores[s]!;
    const mine = Math.ceil(members / SHARDS);
    for (let from = 0; from < mine; from += SETUP_TXN_MEMBERS) {
      store.root.transactionSync(() => {
        for (let i = from; i < Math.min(mine, from + SETUP_TXN_MEMBERS); i++) {
          const id = `s${s}-m${String(i).padStart(8, '0')}`;
          putState(store, id, silverState());
          store.due.putSync([periodEnd, id], '');
        }
      });
    }
  }
  console.log(`setup: ${members.toLocaleString('en-US')} members with ended periods in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

  // Shards sweep in parallel in the server (one worker each); here they run one after the other
  // on one thread, so the figure is per core.
  let swept = 0;
  const started = performance.now();
  for (const store of stores) {
    const exec = new BatchExecutor(store, loadCore(), 0);
    for (;;) {
      const slice = store.root.transactionSync(() => exec.sweep(ctx, asOfMs, SWEEP_SLICE_MEMBERS, (out) => encodeProgram(ctx.program, out)));
      swept += slice.members;
      if (!slice.more) break;
    }
    await store.root.flushed;
  }
  const seconds = (performance.now() - started) / 1000;
  if (swept !== members && swept !== Math.ceil(members / SHARDS) * SHARDS) throw new Error(`swept ${swept} of ${members}`);
  const perS = swept / seconds;
  const projectedS = MEMBERS_GOAL / perS / SHARDS;
  console.log(`sweep: ${swept.toLocaleString('en-US')} members in ${seconds.toFixed(2)} s on one thread = ${Math.round(perS).toLocaleString('en-US')} members/s`);
  console.log(`projected for ${MEMBERS_GOAL.toLocaleString('en-US')} members over ${SHARDS} shard workers: ${projectedS.toFixed(1)} s (goal < ${GOAL_S} s)`);
  for (const store of stores) await store.root.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
