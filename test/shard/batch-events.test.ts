// Events an earlier op of the same batch made (a grant's expiry, the end of a period an upgrade or
// a registration opened) happen before a later op of that member in the batch that they precede,
// exactly as when the ops come in batches of their own. Before, the member's next event time was
// read once, as stored before the batch: `[register x with 100 points at T, purchase x at T+60d]`
// under 30-day expiry answered the purchase 101 points with the expired grant still held, where two
// batches answered 1.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { HotState } from '../../engine/rules/member-state.js';
import type { OpResult, StoredEntry, WriteOp } from '../../engine/ops.js';

const DAY_MS = 86_400_000;
const T = Date.parse('2026-01-10T02:00:00Z');
const harnesses: ShardHarness[] = [];
afterEach(async () => { for (const h of harnesses.splice(0)) await h.close(); });

const program = (over: Partial<Program> = {}): Program => ({ ...demoProgram(), pointsExpiryDays: 30, ...over });
function harness(p: Program): ShardHarness {
  const h = new ShardHarness(p, 1);
  harnesses.push(h);
  return h;
}

let n = 0;
const register = (atMs: number, extra: Record<string, unknown> = {}): WriteOp =>
  ({ op: 'register', memberId: 'x', key: 'reg:m:x', fp: 1, atMs, referralChain: [], ...extra });
const purchase = (atMs: number, amountCents: number, redeemPoints = 0): WriteOp =>
  ({ op: 'purchase', memberId: 'x', orderId: `o${++n}`, key: `o${n}`, fp: 2, atMs, amountCents, discountCents: 0, redeemPoints, walletCents: 0 });
const adjust = (atMs: number, points: number): WriteOp => ({ op: 'adjust', memberId: 'x', points, reason: 'test', key: `req:a${++n}`, fp: 3, atMs });
const redeem = (atMs: number, points: number): WriteOp => ({ op: 'redeem', memberId: 'x', points, key: `req:d${++n}`, fp: 3, atMs });
const topup = (atMs: number, amountCents: number): WriteOp => ({ op: 'topup', memberId: 'x', amountCents, key: `req:t${++n}`, fp: 3, atMs });
const quote = (atMs: number, amountCents: number): WriteOp => ({ op: 'quote', memberId: 'x', amountCents, atMs });
const returnOf = (orderId: string, atMs: number, amountCents: number): WriteOp =>
  ({ op: 'return', memberId: 'x', orderId, returnId: `r${++n}`, amountCents, key: `ret:r${n}`, fp: 4, atMs });
const patch = (atMs: number, birthday: string): WriteOp => ({ op: 'patch', memberId: 'x', key: '', fp: 0, atMs, birthday });

/** What an entry says, without its place in the log (seq and chain links differ by batch). */
const said = (e: StoredEntry) => [e.kind, e.at, e.ref, e.pointsDelta, e.growthDelta, e.walletDeltaCents, e.spendDeltaCents, e.tierId];
/** A member's state without what names a place in the log (the last seq, grants' ids: their entries' seqs). */
const comparable = (s: HotState) => ({ ...s, lastSeq: 0, grants: s.grants.map((g) => [g.expiresAt, g.remaining]), expiryNotices: s.expiryNotices.length });
const answer = (r: OpResult) => (r.ok ? r : { ok: false, code: r.error.code });

/** The ops as one batch and as one batch each: the answers, the ledger and the state must be the same. */
function sameBothWays(p: Program, ops: WriteOp[]): { results: OpResult[]; h: ShardHarness } {
  const together = harness(p);
  const alone = harness(p);
  const results = together.batch(ops.map((o) => ({ ...o })));
  const one = ops.map((o) => alone.one({ ...o }));
  expect(results.map(answer)).toEqual(one.map(answer));
  expect(together.entries('x').map(said)).toEqual(alone.entries('x').map(said));
  expect(comparable(together.state('x')!)).toEqual(comparable(alone.state('x')!));
  expect(together.mismatches()).toEqual([]);
  return { results, h: together };
}

describe('an event made earlier in the same batch', () => {
  it('a registration grant that expired comes off before a purchase 60 days later', () => {
    const { results, h } = sameBothWays(program(), [register(T, { points: 100 }), purchase(T + 60 * DAY_MS, 2_000)]);
    expect(results[1]).toMatchObject({ ok: true, earnedPoints: 1, points: 1 });
    expect(h.entries('x').map((e) => [e.kind, e.at, e.pointsDelta])).toEqual([
      // The grant's notice falls notifyExpiringDays (7 by default) before its expiry.
      ['register', T, 100], ['points_expiring', T + 23 * DAY_MS, 0], ['expire', T + 30 * DAY_MS, -100], ['purchase', T + 60 * DAY_MS, 1],
    ]);
  });

  it('the period a registration opened ends before a purchase past it', () => {
    const { results } = sameBothWays(program({ pointsExpiryDays: null }), [register(T, { tierId: 'gold' }), purchase(T + 400 * DAY_MS, 2_000)]);
    expect(results[1]).toMatchObject({ ok: true, tierId: 'member', earnedPoints: 1 });
  });

  it('points a queued arithmetic op credited expire before a later op of the batch', () => {
    const { results } = sameBothWays(program(), [
      register(T), adjust(T + DAY_MS, 500), purchase(T + 2 * DAY_MS, 20_000), redeem(T + 40 * DAY_MS, 100), quote(T + 41 * DAY_MS, 1_000),
    ]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'ok', 'ok', 'insufficient_points', 'ok']);
    expect(results[4]).toMatchObject({ points: 0 });
  });

  it('the period an upgrade opened in the batch ends before a purchase past it', () => {
    const { results } = sameBothWays(program({ pointsExpiryDays: null }), [
      register(T), purchase(T + DAY_MS, 150_000), purchase(T + 400 * DAY_MS, 2_000), quote(T + 401 * DAY_MS, 1_000),
    ]);
    expect(results[1]).toMatchObject({ ok: true, upgradedTo: 'silver' });
    expect(results[2]).toMatchObject({ ok: true, tierId: 'member', upgradedTo: null });
  });

  it('points a return restores to an expired grant expire before the next op', () => {
    const { results, h } = sameBothWays(program(), [
      register(T, { points: 300 }), purchase(T + DAY_MS, 4_000, 200), returnOf('o' + n, T + 45 * DAY_MS, 2_000), quote(T + 46 * DAY_MS, 1_000),
    ]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'ok', 'ok', 'ok']);
    // 200 points go back to the registration's grant, which expired 15 days before the return.
    expect(results[2]).toMatchObject({ restoredPoints: 200, clawedBackPoints: 1, points: 199 });
    expect(results[3]).toMatchObject({ points: 0 });
    expect(h.entries('x').at(-1)).toMatchObject({ kind: 'expire', at: T + 30 * DAY_MS, pointsDelta: -199 });
  });

  it('a birthday a profile change set pays its gift before a later op', () => {
    const p = program({ pointsExpiryDays: null, birthday: { bonusPoints: 50, multiplierPct: 100 } });
    const { results } = sameBothWays(p, [register(T), patch(T + DAY_MS, '1990-03-01'), quote(Date.parse('2026-03-02T00:00:00Z'), 1_000)]);
    expect(results[2]).toMatchObject({ ok: true, points: 50 });
  });

  it('a seeded mix of one member\'s ops at spread times answers as op by op', () => {
    let seed = 7;
    const next = (k: number): number => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed % k; };
    const p = program({ membershipDays: 90, birthday: { bonusPoints: 20, multiplierPct: 200 } });
    for (let round = 0; round < 20; round++) {
      let at = T;
      const ops: WriteOp[] = [register(at, { points: next(300), birthday: '1990-0' + (1 + next(9)) + '-1' + next(10) })];
      const orders: string[] = [];
      for (let k = 0; k < 12; k++) {
        at += next(4) === 0 ? 0 : next(50) * DAY_MS + next(DAY_MS);
        const roll = next(7);
        if (roll === 0) { const o = purchase(at, 1_000 + next(200_000), next(3) === 0 ? next(60) : 0); orders.push((o as { orderId: string }).orderId); ops.push(o); }
        else if (roll === 1) ops.push(adjust(at, next(5) === 0 ? -next(50) - 1 : next(400) + 1));
        else if (roll === 2) ops.push(redeem(at, next(80) + 1));
        else if (roll === 3) ops.push(topup(at, 100 + next(5_000)));
        else if (roll === 4 && orders.length > 0) ops.push(returnOf(orders[next(orders.length)]!, at, 1 + next(2_000)));
        else ops.push(quote(at, next(10_000)));
      }
      sameBothWays(p, ops);
    }
  });
});
