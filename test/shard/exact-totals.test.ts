// The summary's running totals stay exact past 2^53: a shard tallies each batch's changes exactly
// and stores an amount as a number while it is a safe integer, as its decimal digits past that;
// the sum over shards and verify's recount are exact too. Before, the totals were float sums and
// lost cents (and verify then reported the exact recount as a mismatch).
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import { addCounts, emptyTotals, sumTotals, Tally, type BookTotals } from '../../engine/rules/totals.js';
import type { RegisterOp } from '../../engine/ops.js';

const MAX = Number.MAX_SAFE_INTEGER;
const AT = Date.parse('2026-03-10T02:00:00Z');
let h: ShardHarness | undefined;
afterEach(async () => { await h?.close(); h = undefined; });

describe('Tally and Count', () => {
  it('add exactly past 2^53, as numbers while safe and decimal strings past that', () => {
    const t = new Tally();
    t.add(MAX); t.add(MAX); t.add(3);
    expect(t.count).toBe((2n * BigInt(MAX) + 3n).toString());
    t.add(-MAX); t.add(-MAX);
    expect(t.count).toBe(3);
    expect(addCounts(MAX, 1)).toBe('9007199254740992');
    expect(addCounts('9007199254740992', -2)).toBe(MAX - 1);
    expect(addCounts(-MAX, -MAX)).toBe('-18014398509481982');
  });

  it('sum shards exactly', () => {
    const part = (wallet: number | string): BookTotals => ({ ...emptyTotals(), members: 1, walletOutstandingCents: wallet, membersPerTier: { member: 1 } });
    expect(sumTotals([part(MAX), part(MAX), part(1)])).toMatchObject({ members: 3, walletOutstandingCents: '18014398509481983', membersPerTier: { member: 3 } });
    expect(sumTotals([part('18014398509481983'), part(-MAX)])).toMatchObject({ walletOutstandingCents: '9007199254740992' });
    expect(sumTotals([part('9007199254740992'), part(-1)])).toMatchObject({ walletOutstandingCents: MAX });
    expect(sumTotals([part(100), part(23)])).toMatchObject({ walletOutstandingCents: 123 });
  });
});

describe('a shard\'s totals past 2^53', () => {
  it('are exact, and verify agrees with them', () => {
    h = new ShardHarness(demoProgram(), 1);
    const register = (memberId: string): RegisterOp =>
      ({ op: 'register', memberId, key: 'reg:m:' + memberId, fp: 1, atMs: AT, referralChain: [], points: MAX - 10, walletCents: MAX - 7 });
    // Three in one batch, and one in a batch of its own.
    expect(h.batch([register('t1'), register('t2'), register('t3')]).every((r) => r.ok)).toBe(true);
    expect(h.one(register('t4')).ok).toBe(true);
    const totals = h.shards[0]!.store.meta.get('totals') as BookTotals;
    expect(totals).toMatchObject({
      members: 4,
      pointsIssued: (4n * BigInt(MAX - 10)).toString(),
      pointsOutstanding: (4n * BigInt(MAX - 10)).toString(),
      walletOutstandingCents: (4n * BigInt(MAX - 7)).toString(),
      purchases: 0,
      netSalesCents: 0,
    });
    expect(h.mismatches()).toEqual([]);
    // Later batches add to the stored digits exactly.
    for (const id of ['t1', 't2', 't3']) expect(h.one({ op: 'withdraw', memberId: id, amountCents: 1_000_000_000_000, key: `req:w-${id}`, fp: 2, atMs: AT }).ok).toBe(true);
    const after = h.shards[0]!.store.meta.get('totals') as BookTotals;
    expect(after.walletOutstandingCents).toBe((4n * BigInt(MAX - 7) - 3_000_000_000_000n).toString());
    expect(h.mismatches()).toEqual([]);
  });
});
