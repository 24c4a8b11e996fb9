// A program that drops a tier some members hold: those members are at the first tier for every op
// (a quote, a purchase, the return of an order bought at the dropped tier, an express upgrade
// undone), for the sweep and for every view, with a `downgrade` entry dated at the change, and
// verify clean. Before, any core op on such a member stopped the process ("core and fold disagree").
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import { answer } from '../../engine/shard/queries.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { OpResult, RegisterOp, WriteOp } from '../../engine/ops.js';

const AT = Date.parse('2026-03-10T02:00:00Z');
const CHANGE = Date.parse('2026-04-01T00:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h.close(); });

const register = (memberId: string, tierId?: string): RegisterOp =>
  ({ op: 'register', memberId, key: 'reg:m:' + memberId, fp: 1, atMs: AT, referralChain: [], ...(tierId === undefined ? {} : { tierId }) });
const purchase = (memberId: string, orderId: string, amountCents: number, atMs: number): WriteOp =>
  ({ op: 'purchase', memberId, orderId, key: orderId, fp: 2, atMs, amountCents, discountCents: 0, redeemPoints: 0, walletCents: 0 });
const returnOf = (memberId: string, orderId: string, amountCents: number, atMs: number): WriteOp =>
  ({ op: 'return', memberId, orderId, returnId: orderId + '-r', amountCents, key: 'ret:' + orderId + '-r', fp: 3, atMs });

/** The demo program without Silver (and without the product that sells it). */
function withoutSilver(): Program {
  const p = demoProgram();
  return { ...p, tiers: p.tiers.filter((t) => t.id !== 'silver'), products: p.products.filter((x) => x.includes.tierId !== 'silver') };
}

const ok = (r: OpResult) => { expect(r).toMatchObject({ ok: true }); return r; };

describe('a program that drops a tier members hold', () => {
  it('puts them at the first tier for every op, the sweep and the views', () => {
    h = new ShardHarness(demoProgram(), 1);
    ok(h.one(register('s1', 'silver')));
    ok(h.one(register('g1', 'gold')));
    ok(h.one(purchase('s1', 'o1', 20_000, AT + 1_000)));
    const silverEnd = h.state('s1')!.periodEnd!;
    expect(h.shards[0]!.store.due.get([silverEnd, 's1'])).toBe('');

    h.setProgram(withoutSilver(), CHANGE);
    expect(h.state('s1')).toMatchObject({ tierId: 'member', periodStartTierId: 'member', periodEnd: null, periodMetric: 20_000, nextDue: -1 });
    expect(h.state('g1')).toMatchObject({ tierId: 'gold' });
    expect(h.entries('s1').map((e) => [e.kind, e.at, e.tierId, e.ref])).toEqual([
      ['register', AT, 'silver', 'reg:m:s1'], ['purchase', AT + 1_000, null, 'o1'], ['downgrade', CHANGE, 'member', 'program:2'],
    ]);
    expect(h.shards[0]!.store.due.get([silverEnd, 's1'])).toBeUndefined();
    expect(answer(h.shards[0]!.store, { q: 'member', memberId: 's1' })).toMatchObject({ tierId: 'member', periodEnd: null });
    expect(h.shards[0]!.store.meta.get('totals')).toMatchObject({ membersPerTier: { member: 1, silver: 0, gold: 1 } });

    // A quote, a purchase, and the return of the order bought at Silver, in one batch.
    const [quote, buy, back] = h.batch([
      { op: 'quote', memberId: 's1', amountCents: 10_000, atMs: CHANGE + 1_000 },
      purchase('s1', 'o2', 10_000, CHANGE + 2_000),
      returnOf('s1', 'o1', 20_000, CHANGE + 3_000),
    ]);
    expect(quote).toMatchObject({ ok: true, tierId: 'member', discountBps: 0, discountCents: 0 });
    expect(buy).toMatchObject({ ok: true, tierId: 'member', earnedPoints: 5 });
    expect(back).toMatchObject({ ok: true, tierId: 'member', downgradedTo: null, clawedBackPoints: 10 });
    h.sweep(silverEnd + 1_000);
    expect(h.state('s1')).toMatchObject({ tierId: 'member', periodEnd: null });
    expect(h.mismatches()).toEqual([]);
  });

  it('undoes an express upgrade from a dropped tier to the first tier', () => {
    h = new ShardHarness(demoProgram(), 1);
    ok(h.one(register('e1', 'silver')));
    expect(h.one(purchase('e1', 'big', 600_000, AT + 1_000))).toMatchObject({ ok: true, upgradedTo: 'gold' });
    h.setProgram(withoutSilver(), CHANGE);
    expect(h.state('e1')).toMatchObject({ tierId: 'gold', periodStartTierId: 'gold' });
    // The order that made the upgrade is returned whole: the member goes back to the tier held
    // before it, which the program no longer has, so to its first tier, a period that never ends.
    expect(h.one(returnOf('e1', 'big', 600_000, AT + 2_000))).toMatchObject({ ok: true, tierId: 'member', downgradedTo: 'member' });
    expect(h.state('e1')).toMatchObject({ tierId: 'member', periodStartTierId: 'member', periodEnd: null });
    expect(h.mismatches()).toEqual([]);
  });
});
