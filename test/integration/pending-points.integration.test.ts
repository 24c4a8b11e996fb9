// Pending points over a real server on two shards (docs/rules.md §13.5): a purchase's points and the
// referral reward it causes wait for the 14-day return window; a return inside the window cancels
// them (the balance never moves), the sweep activates what is left at the right moment (a grant whose
// expiry counts from then), a return after it claws back from the balance; `balance?at=` before and
// after the activation; the summary and the daily report; a change of `pointsPendingDays` leaving
// what is already pending as it was; and verify clean throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import type { AnswerOf, BodyOf } from '../../client/http.js';
import { hashId } from '../../engine/router/member-hash.js';

const SHARDS = 2;
const server = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
const DAY_MS = 86_400_000;
/** Noon in Hong Kong on 2026-03-02 + `day` days. */
const at = (day: number): string => new Date(Date.parse('2026-03-02T04:00:00Z') + day * DAY_MS).toISOString();

beforeAll(async () => {
  await server.start();
  const { version: _version, ...program } = await server.call('GET /v1/program');
  await server.call('PUT /v1/program', { body: {
    ...program,
    pointsPendingDays: 14,
    pointsExpiryDays: 365,
    allowNegativePoints: false,
    referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 0, firstPurchasePoints: 10, repeatPurchasePoints: 0, purchaseSharePct: 10 }] },
  } });
  for (const [memberId, extra] of [['rita', {}], ['ann', { referrerId: 'rita' }]] as const) {
    await server.call('POST /v1/members', { body: { memberId, at: at(-1), ...extra } });
  }
});
afterAll(async () => { await server.stop(); server.cleanup(); });

type Member = AnswerOf<'GET /v1/members/:id'>;
const member = (id: string): Promise<Member> => server.call('GET /v1/members/:id', { params: { id } });
const balance = (id: string, when: string) => server.call('GET /v1/members/:id/balance', { params: { id }, query: { at: when } });
const purchase = (body: BodyOf<'POST /v1/purchases'>) => server.call('POST /v1/purchases', { body });
const giveBack = (body: BodyOf<'POST /v1/returns'>) => server.call('POST /v1/returns', { body });
const sweep = (asOf: string) => server.call('POST /v1/admin/sweep', { body: { asOf } });
const pendingOf = (m: Member) => ({ points: m.points, pendingPoints: m.pendingPoints, pointsActivating: m.pointsActivating });

/** The referrer's reward crosses shards after the purchase's ack: wait until it has landed. */
async function settled(id: string, expected: Record<string, unknown>): Promise<void> {
  const deadline = Date.now() + 5_000;
  let seen = pendingOf(await member(id));
  while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    seen = pendingOf(await member(id));
  }
  expect(seen).toEqual(expected);
}
async function verified(): Promise<void> {
  expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
}

describe('pending points with a 14-day return window', () => {
  it('puts the referrer and the member on different shards', () => {
    expect(hashId('rita') % SHARDS).not.toBe(hashId('ann') % SHARDS);
  });

  it('keeps a purchase\'s points and its referral reward pending, not spendable', async () => {
    const o1 = await purchase({ orderId: 'o1', memberId: 'ann', amountCents: 100_000, at: at(0) });
    expect(o1).toMatchObject({ earnedPoints: 50, points: 0, tierId: 'silver', upgradedTo: 'silver', pointsPendingUntil: at(14), referralRewards: [{ memberId: 'rita', points: 15 }] });
    await settled('ann', { points: 0, pendingPoints: 50, pointsActivating: [{ at: at(14), points: 50 }] });
    expect((await server.call('GET /v1/orders/:id', { params: { id: 'o1' } }))).toMatchObject({ orderId: 'o1', earnedPoints: 50, pendingUntil: at(14) });
    await settled('rita', { points: 0, pendingPoints: 15, pointsActivating: [{ at: at(14), points: 15 }] });
    // Pending points cannot be spent: neither redeemed at the till nor for cash.
    expect(await refusal(purchase({ orderId: 'o-spend', memberId: 'ann', amountCents: 10_000, redeemPoints: 10, at: at(1) }))).toMatchObject({ status: 422, code: 'insufficient_points' });
    const o2 = await purchase({ orderId: 'o2', memberId: 'ann', amountCents: 60_000, at: at(3) });
    expect(o2).toMatchObject({ earnedPoints: 30, points: 0, pointsPendingUntil: at(17), referralRewards: [{ memberId: 'rita', points: 3 }] });
    await settled('rita', { points: 0, pendingPoints: 18, pointsActivating: [{ at: at(14), points: 15 }, { at: at(17), points: 3 }] });
    await verified();
  });

  it('cancels pending points first on a return inside the window, the referrer\'s too', async () => {
    // 20,000 of o2's 60,000 back: it keeps 20 of its 30 points, the referrer 2 of 3.
    const r = await giveBack({ returnId: 'r2a', orderId: 'o2', amountCents: 20_000, at: at(4) });
    expect(r).toMatchObject({ clawedBackPoints: 0, cancelledPendingPoints: 10, points: 0, referralReversals: [{ memberId: 'rita', points: 1 }] });
    await settled('ann', { points: 0, pendingPoints: 70, pointsActivating: [{ at: at(14), points: 50 }, { at: at(17), points: 20 }] });
    await settled('rita', { points: 0, pendingPoints: 17, pointsActivating: [{ at: at(14), points: 15 }, { at: at(17), points: 2 }] });
    const ledger = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'ann' } })).entries;
    expect(ledger.slice(0, 2).map((e) => [e.kind, e.ref, e.pointsDelta, e.pendingDelta])).toEqual([['points_cancel', 'r2a', 0, -10], ['return', 'r2a', 0, 0]]);
    await verified();
  });

  it('activates at purchase + 14 days by the sweep, dated then, as a grant that expires a year after', async () => {
    expect(await sweep(new Date(Date.parse(at(14)) - 1).toISOString())).toMatchObject({ members: 0 });
    expect((await member('ann')).points).toBe(0);
    expect(await sweep(at(14))).toMatchObject({ members: 2 });
    const ann = await member('ann');
    expect(pendingOf(ann)).toEqual({ points: 50, pendingPoints: 20, pointsActivating: [{ at: at(17), points: 20 }] });
    expect(ann.pointsExpiring).toEqual([{ at: at(14 + 365), points: 50 }]);
    expect(pendingOf(await member('rita'))).toEqual({ points: 15, pendingPoints: 2, pointsActivating: [{ at: at(17), points: 2 }] });
    const [activation] = (await server.call('GET /v1/members/:id/ledger', { params: { id: 'ann' } })).entries;
    expect(activation).toMatchObject({ kind: 'points_activate', at: at(14), ref: 'o1', pointsDelta: 50, growthDelta: 50, pendingDelta: -50 });
    await verified();
  });

  it('answers balance?at= before and after the activation', async () => {
    expect(await balance('ann', at(2))).toMatchObject({ points: 0, pendingPoints: 50 });
    expect(await balance('ann', new Date(Date.parse(at(14)) - 1).toISOString())).toMatchObject({ points: 0, pendingPoints: 70 });
    expect(await balance('ann', at(14))).toMatchObject({ points: 50, pendingPoints: 20, growth: 50 });
    expect(await balance('rita', at(14))).toMatchObject({ points: 15, pendingPoints: 2 });
  });

  it('claws back from the balance once the points are active, and cancels what is still pending', async () => {
    const late = await giveBack({ returnId: 'r1', orderId: 'o1', amountCents: 100_000, at: at(15) });
    expect(late).toMatchObject({ clawedBackPoints: 50, cancelledPendingPoints: 0, points: 0, referralReversals: [{ memberId: 'rita', points: 15 }] });
    const rest = await giveBack({ returnId: 'r2b', orderId: 'o2', amountCents: 40_000, at: at(16) });
    expect(rest).toMatchObject({ clawedBackPoints: 0, cancelledPendingPoints: 20, points: 0, referralReversals: [{ memberId: 'rita', points: 2 }] });
    await settled('ann', { points: 0, pendingPoints: 0, pointsActivating: [] });
    await settled('rita', { points: 0, pendingPoints: 0, pointsActivating: [] });
    // Nothing is left to activate on o2's date.
    expect(await sweep(at(18))).toMatchObject({ members: 0 });
    await verified();
  });

  it('reports pending points in the summary and per day', async () => {
    const summary = await server.call('GET /v1/reports/summary');
    expect(summary).toMatchObject({ pointsPending: 0, pointsPendingCancelled: 10 + 1 + 20 + 2, pointsIssued: 65, pointsClawedBack: 65 });
    const daily = await server.call('GET /v1/reports/daily', { query: { from: '2026-03-02', to: '2026-03-18' } });
    const day = (date: string) => daily.days.find((d) => d.date === date);
    expect(day('2026-03-02')).toMatchObject({ purchases: 1, pointsPending: 65, pointsIssued: 0 });
    expect(day('2026-03-05')).toMatchObject({ purchases: 1, pointsPending: 33, pointsIssued: 0 });
    expect(day('2026-03-06')).toMatchObject({ returns: 1, pointsPendingCancelled: 11 });
    expect(day('2026-03-16')).toMatchObject({ pointsIssued: 65, pointsPending: 0 });
    expect(day('2026-03-18')).toMatchObject({ returns: 1, pointsPendingCancelled: 22 });
  });

  it('applies a change of pointsPendingDays to later purchases only', async () => {
    expect(await purchase({ orderId: 'o4', memberId: 'ann', amountCents: 20_000, at: at(20) })).toMatchObject({ earnedPoints: 10, points: 0, pointsPendingUntil: at(34) });
    const { version: _version, ...program } = await server.call('GET /v1/program');
    await server.call('PUT /v1/program', { body: { ...program, pointsPendingDays: 0 } });
    const o5 = await purchase({ orderId: 'o5', memberId: 'ann', amountCents: 20_000, at: at(21) });
    expect(o5).toMatchObject({ earnedPoints: 10, points: 10 });
    expect(o5.pointsPendingUntil).toBeUndefined();
    expect(pendingOf(await member('ann'))).toEqual({ points: 10, pendingPoints: 10, pointsActivating: [{ at: at(34), points: 10 }] });
    await sweep(at(34));
    expect(pendingOf(await member('ann'))).toEqual({ points: 20, pendingPoints: 0, pointsActivating: [] });
    await verified();
  });
});
