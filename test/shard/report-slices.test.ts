// Reports read a shard in slices between its batches: the daily figures and the RFM columns read
// slice by slice (one batch's entries, one member at a time) add up to exactly one whole read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { encodeProgram, loadCore } from '../../engine/core/wasm.js';
import { BatchExecutor } from '../../engine/shard/batch.js';
import { programContext } from '../../engine/rules/member-state.js';
import { demoProgram } from '../../engine/rules/program.js';
import { mergeDaily, type DayFigures, type RfmColumns } from '../../engine/rules/reports.js';
import { dailyPart, rfmPart } from '../../engine/shard/report-scans.js';
import type { WriteOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-slices-'));
let store: ShardStore;
const ctx = programContext(1, demoProgram());
const day = (d: number) => Date.UTC(2026, 5, d, 4);

beforeAll(() => {
  store = openShardStore(join(dir, 'shard-0'), 256 * 1024 * 1024);
  const exec = new BatchExecutor(store, loadCore(), 0);
  const run = (ops: WriteOp[]) => store.root.transactionSync(() => exec.apply(ctx, ops, (out) => encodeProgram(ctx.program, out)));
  run(['a', 'b', 'c'].map((id) => ({ op: 'register', memberId: id, referralChain: [], key: `reg:m:${id}`, fp: 1, atMs: day(1) })));
  for (let d = 2; d <= 6; d++) {
    run(['a', 'b', 'c'].map((id, i) => ({ op: 'purchase', memberId: id, orderId: `${id}-${d}`, amountCents: 1000 * (i + d), discountCents: 0, redeemPoints: 0, walletCents: 0, key: `order:${id}-${d}`, fp: 1, atMs: day(d) })));
  }
});
afterAll(async () => {
  await store.root.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('report slices', () => {
  it('daily figures read one batch at a time equal one whole read', () => {
    const whole = dailyPart(store, '2026-06-01', '2026-06-30', 'Asia/Hong_Kong', 0, Number.MAX_SAFE_INTEGER);
    expect(whole.next).toBeNull();
    const slices: Array<Record<string, DayFigures>> = [];
    let reads = 0;
    for (let from: number | null = 0; from !== null; reads++) {
      const slice = dailyPart(store, '2026-06-01', '2026-06-30', 'Asia/Hong_Kong', from, 1);
      slices.push(slice.days);
      from = slice.next;
    }
    expect(reads).toBe(6);
    const days = Array.from({ length: 30 }, (_, i) => `2026-06-${String(i + 1).padStart(2, '0')}`);
    expect(mergeDaily(days, slices)).toEqual(mergeDaily(days, [whole.days]));
    expect(mergeDaily(days, slices).totals.purchases).toBe(15);
  });

  it('RFM columns read one member at a time equal one whole read', () => {
    const whole = rfmPart(store, null, Number.MAX_SAFE_INTEGER);
    const parts: RfmColumns[] = [];
    for (let after: string | null | undefined; after !== null;) {
      const slice = rfmPart(store, after ?? null, 1);
      parts.push(slice.columns);
      after = slice.next;
    }
    const joined = (k: keyof RfmColumns) => parts.flatMap((p) => p[k] as unknown[]);
    expect(joined('memberIds')).toEqual(whole.columns.memberIds);
    expect(joined('lifetimeSpendCents')).toEqual(whole.columns.lifetimeSpendCents);
    expect(whole.columns.memberIds).toEqual(['a', 'b', 'c']);
  });
});
