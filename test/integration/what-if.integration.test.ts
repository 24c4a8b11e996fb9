// The what-if end to end on real servers with four shards. A realistic history (a referral tree
// across shards, purchases, partial and full returns, a cross-shard transfer, top-ups, a redemption
// refused for want of points, backdated periods and grants swept, a program change) is run on a
// live server; then:
// - `loyalty what-if` with the live program reports no difference at all, and its actual figures
//   are the live summary's, while the server keeps serving;
// - `POST /v1/admin/what-if` with doubled earn rates reports exactly the figures (and each
//   member's points) of a fresh server that ran the same requests under that program from the
//   start, and the refused redemption that the doubled points would have paid;
// - the live folder is byte for byte what it was after a what-if, which still replays exactly;
// - bad requests, an unknown job and a second what-if while one runs are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { ApiError, type BodyOf } from '../../client/http.js';
import { expectReplayEqualsLive, loyaltyCli } from '../helpers/replay-check.js';
import { hashId } from '../../engine/router/member-hash.js';
import type { WhatIfFigures, WhatIfReport } from '../../engine/rules/what-if-report.js';

const SHARDS = 4;
const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const ids = ['root', 'ann', 'ben', 'cat', 'dan', 'eve', 'fay'] as const;
/** Every moment of the history, fixed once, so that both servers run exactly the same requests. */
const t0 = Date.now() - 500 * DAY_MS;

// A longer pause than the default between the what-if thread's slices: a what-if runs long enough to be caught running.
const live = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_WHAT_IF_PAUSE_MS: '100' });
const direct = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
const direct3 = new ServerProcess(ServerProcess.tempDataDir(), { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });


/** Cross-shard credits land just after their ack: wait until the books stop moving. */
async function settled(server: ServerProcess): Promise<void> {
  const figures = async () => JSON.stringify((await server.call('GET /v1/reports/summary')));
  const deadline = Date.now() + 10_000;
  let seen = await figures();
  for (;;) {
    await new Promise((r) => setTimeout(r, 60));
    const now = await figures();
    if (now === seen) return;
    if (Date.now() > deadline) throw new Error(`the books did not settle: ${now}`);
    seen = now;
  }
}

/** The program of the history (after its first change): referral on two levels, points expiring. */
function historyProgram(demo: Record<string, unknown>): Record<string, unknown> {
  const { version: _version, ...program } = demo;
  return {
    ...program, pointsExpiryDays: 200,
    referral: {
      enabled: true, refereePoints: 50,
      levels: [
        { registerPoints: 100, firstPurchasePoints: 200, repeatPurchasePoints: 20, purchaseSharePct: 10 },
        { registerPoints: 50, firstPurchasePoints: 100, repeatPurchasePoints: 10, purchaseSharePct: 5 },
      ],
    },
  };
}

/** The same program with every tier earning twice the points per cent spent. */
function doubled(program: Record<string, unknown>): Record<string, unknown> {
  const tiers = program['tiers'] as Array<{ earn: { cents: number; points: number } }>;
  return { ...program, tiers: tiers.map((t) => ({ ...t, earn: { ...t.earn, points: t.earn.points * 2 } })) };
}

/** The same program paying a third referral level, which the live program's two never reached. */
function threeLevels(program: Record<string, unknown>): Record<string, unknown> {
  const referral = program['referral'] as { levels: unknown[] };
  return { ...program, referral: { ...referral, levels: [...referral.levels, { registerPoints: 25, firstPurchasePoints: 50, repeatPurchasePoints: 5, purchaseSharePct: 2 }] } };
}

/**
 * The history, request for request, with every time given. `changeProgram` makes the live server's
 * second program change (orderPoints); the direct run under one program throughout leaves it out.
 * Answers the status of the redemption that needs more points than the live program gives.
 */
async function runHistory(server: ServerProcess, changeProgram: (() => Promise<void>) | null): Promise<number> {
  const s = settled.bind(null, server);
  const at = (days: number) => iso(t0 + days * DAY_MS);
  await server.call('POST /v1/members', { body: { memberId: 'root', at: at(0) } });
  await server.call('POST /v1/members', { body: { memberId: 'ann', referrerId: 'root', at: at(0) } }); await s();
  await server.call('POST /v1/members', { body: { memberId: 'ben', referrerId: 'ann', at: at(0) } }); await s();
  await server.call('POST /v1/members', { body: { memberId: 'cat', referrerId: 'ben', at: at(0) } }); await s();
  await server.call('POST /v1/members', { body: { memberId: 'dan', at: at(0) } });
  await server.call('POST /v1/members', { body: { memberId: 'eve', at: at(0) } });
  await server.call('POST /v1/members', { body: { memberId: 'fay', referrerId: 'dan', at: at(0) } }); await s();
  await server.call('POST /v1/purchases', { body: { orderId: 'ann-1', memberId: 'ann', amountCents: 600_000, at: at(1) } }); await s();
  await server.call('POST /v1/purchases', { body: { orderId: 'ben-1', memberId: 'ben', amountCents: 40_000, storeId: 's1', channel: 'offline', items: [{ sku: 'a', qty: 2, amountCents: 40_000 }], at: at(1) } }); await s();
  await server.call('POST /v1/purchases', { body: { orderId: 'cat-1', memberId: 'cat', amountCents: 20_000, at: at(1) } }); await s();
  await server.call('POST /v1/purchases', { body: { orderId: 'dan-1', memberId: 'dan', amountCents: 1_200_000, at: at(1) } });
  await server.call('POST /v1/purchases', { body: { orderId: 'fay-1', memberId: 'fay', amountCents: 90_000, at: at(1) } }); await s();
  await server.call('POST /v1/returns', { body: { returnId: 'ann-r1', orderId: 'ann-1', amountCents: 200_000, at: at(2) } }); await s();
  await server.call('POST /v1/returns', { body: { returnId: 'cat-r1', orderId: 'cat-1', amountCents: 20_000, at: at(2) } }); await s();
  await server.call('POST /v1/wallet/topups', { body: { requestId: 'dan-t1', memberId: 'dan', amountCents: 100_000, at: at(1) } });
  await server.call('POST /v1/wallet/transfers', { body: { requestId: 'dan-x1', fromMemberId: 'dan', toMemberId: 'eve', amountCents: 5_000, at: at(3) } }); await s();
  await server.call('POST /v1/points/redemptions', { body: { requestId: 'dan-p1', memberId: 'dan', points: 100, at: at(3) } });
  await server.call('POST /v1/points/adjustments', { body: { requestId: 'ben-a1', memberId: 'ben', points: -5, reason: 'correction', at: at(3) } });
  // Expiry: the sweep as of day 240 expires what days 0..40 granted (200 days), dated then.
  await server.call('POST /v1/admin/sweep', { body: { asOf: at(240) } });
  await server.call('POST /v1/purchases', { body: { orderId: 'eve-1', memberId: 'eve', amountCents: 30_000, at: at(250) } });
  await server.call('POST /v1/purchases', { body: { orderId: 'cat-2', memberId: 'cat', amountCents: 15_000, at: at(250) } }); await s();
  // Needs 30 points: eve holds 15 (30,000 cents at 1 per 2,000), doubled she holds 30.
  // Its status: 200 when it paid, the refusal's when it did not.
  const redemption = await server.call('POST /v1/points/redemptions', { body: { requestId: 'eve-p1', memberId: 'eve', points: 30, at: at(251) } })
    .then(() => 200, (err: unknown) => { if (err instanceof ApiError) return err.status; throw err; });
  await server.call('POST /v1/admin/sweep', { body: {} });
  if (changeProgram !== null) await changeProgram();
  await server.call('POST /v1/purchases', { body: { orderId: 'ben-2', memberId: 'ben', amountCents: 30_000, at: at(300) } }); await s();
  await server.call('POST /v1/purchases', { body: { orderId: 'root-1', memberId: 'root', amountCents: 50_000, at: at(300) } });
  await server.call('POST /v1/returns', { body: { returnId: 'ben-r2', orderId: 'ben-2', amountCents: 10_000, at: at(301) } }); await s();
  // Periods (a year from day 1) and the day-250 grants' expiry, swept as of day 460.
  await server.call('POST /v1/admin/sweep', { body: { asOf: at(460) } });
  // Recent purchases and a late return: points still held at the end, so members differ in points.
  await server.call('POST /v1/purchases', { body: { orderId: 'ann-2', memberId: 'ann', amountCents: 80_000, at: at(490) } }); await s();
  await server.call('POST /v1/purchases', { body: { orderId: 'ben-3', memberId: 'ben', amountCents: 20_000, at: at(490) } }); await s();
  await server.call('POST /v1/purchases', { body: { orderId: 'dan-2', memberId: 'dan', amountCents: 50_000, at: at(490) } });
  await server.call('POST /v1/returns', { body: { returnId: 'fay-r1', orderId: 'fay-1', amountCents: 30_000, at: at(491) } }); await s();
  // And as of now, as the automatic sweep would: the day-300 grants expire at day 500, when the test began.
  await server.call('POST /v1/admin/sweep', { body: {} });
  return redemption;
}

/** The figures a what-if reports, read from a server's own reports. */
async function figuresOf(server: ServerProcess): Promise<WhatIfFigures> {
  const summary = await server.call('GET /v1/reports/summary');
  const program = await server.call('GET /v1/program');
  let referralPoints = 0;
  for (const id of ids) {
    const report = await server.call('GET /v1/reports/referrals/:id', { params: { id } });
    referralPoints += report.levels.reduce((sum, l) => sum + l.points, 0);
  }
  const rate = program.tiers[0]!.redeem;
  // This history's totals are far below 2^53, where they would turn into decimal strings.
  const n = (count: number | string) => Number(count);
  return {
    pointsIssued: n(summary.pointsIssued),
    pointsRedeemed: n(summary.pointsRedeemed),
    pointsExpired: n(summary.pointsExpired),
    liabilityCents: Math.floor((n(summary.pointsOutstanding) * rate.cents) / rate.points) + n(summary.walletOutstandingCents),
    membersPerTier: Object.fromEntries(summary.tiers.map((t) => [t.tierId, t.members])),
    referralPoints,
  };
}

async function memberPoints(server: ServerProcess): Promise<Record<string, { points: number; tierId: string }>> {
  const out: Record<string, { points: number; tierId: string }> = {};
  for (const id of ids) {
    const m = await server.call('GET /v1/members/:id', { params: { id } });
    out[id] = { points: m.points, tierId: m.tierId };
  }
  return out;
}

/** A hash of each shard's data file: what "the live folder is untouched" is checked against. */
function folderHashes(dataDir: string): string[] {
  return Array.from({ length: SHARDS }, (_, shard) => createHash('sha256').update(readFileSync(join(dataDir, `shard-${shard}`, 'data.mdb'))).digest('hex'));
}

async function whatIfOverHttp(server: ServerProcess, body: BodyOf<'POST /v1/admin/what-if'>): Promise<{ report: WhatIfReport; progressSeen: Array<{ batches: number; totalBatches: number }> }> {
  const { id } = await server.call('POST /v1/admin/what-if', { body });
  const progressSeen: Array<{ batches: number; totalBatches: number }> = [];
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = await server.call('GET /v1/admin/what-if/:id', { params: { id } });
    progressSeen.push(job.progress);
    if (job.state !== 'running') {
      expect(job.error).toBeNull();
      expect(job.state).toBe('done');
      return { report: job.result as WhatIfReport, progressSeen };
    }
    if (Date.now() > deadline) throw new Error('the what-if did not finish');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The program of most of the history (version 2), and the live one since `changedAtMs` (version 3). */
let historyV2: Record<string, unknown>;
let liveProgram: Record<string, unknown>;
let changedAtMs = 0;
/** The live books just before the change, swept as of then: what a what-if to that moment reports as actual. */
let figuresBeforeChange: WhatIfFigures;
let liveRedemptionStatus = 0;
let directRedemptionStatus = 0;

beforeAll(async () => {
  await Promise.all([live.start(), direct.start(), direct3.start()]);
  const demo: Record<string, unknown> = { ...await live.call('GET /v1/program') };
  const program = historyProgram(demo);
  historyV2 = program;
  await live.call('PUT /v1/program', { body: program });
  liveRedemptionStatus = await runHistory(live, async () => {
    // Apart from every entry before it by a few ms, so `from` can name this change exactly.
    await settled(live);
    figuresBeforeChange = await figuresOf(live);
    await new Promise((r) => setTimeout(r, 20));
    changedAtMs = Date.now();
    await live.call('PUT /v1/program', { body: { ...program, orderPoints: 7 } });
  });
  await settled(live);
  liveProgram = { ...await live.call('GET /v1/program') };
  // The direct run: a fresh server under the doubled program from the start, the same requests.
  await direct.call('PUT /v1/program', { body: doubled(program) });
  directRedemptionStatus = await runHistory(direct, null);
  await settled(direct);
  await direct3.call('PUT /v1/program', { body: threeLevels(program) });
  await runHistory(direct3, null);
  await settled(direct3);
}, 180_000);

afterAll(async () => {
  await Promise.all([live.stop(), direct.stop(), direct3.stop()]);
  live.cleanup();
  direct.cleanup();
  direct3.cleanup();
});

describe('what-if', () => {
  it('spreads the members over the shards, and the history refused one redemption that doubled points pay', () => {
    expect(new Set(ids.map((id) => hashId(id) % SHARDS)).size).toBeGreaterThan(2);
    expect(liveRedemptionStatus).toBe(422);
    expect(directRedemptionStatus).toBe(200);
  });

  it('under the live program from its change on reports no difference, and the live figures as actual, while the server serves', async () => {
    const programFile = join(live.dataDir, 'what-if-live.json');
    writeFileSync(programFile, JSON.stringify(liveProgram));
    const before = await figuresOf(live);
    const r = loyaltyCli(live.dataDir, 'what-if', '--program', programFile, '--from', iso(changedAtMs), '--json', '--data', live.dataDir);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as WhatIfReport;
    expect(report.actual).toEqual(before);
    expect(report.whatIf).toEqual(report.actual);
    expect(report.membersTierDiffers).toBe(0);
    expect(report.topChanged).toEqual([]);
    expect(report.divergences).toEqual({ acceptedThenRefused: 0, refusedThenAccepted: 0, listed: [] });
    expect(report.credits.added).toBe(0);
    expect(report.credits.dropped).toBe(0);
    expect(report.credits.substituted).toBeGreaterThan(10);
    expect(report.replay.batches).toBeGreaterThan(30);
    // Progress went to stderr; the server still answers.
    expect(r.stderr).toMatch(/what-if: \d+ of \d+ log entries/);
    expect((await live.call('GET /v1/admin/verify'))).toMatchObject({ ok: true });
  });

  it('under the live program from the first entry reports the order points the earlier purchases would have earned', async () => {
    const programFile = join(live.dataDir, 'what-if-live.json');
    writeFileSync(programFile, JSON.stringify(liveProgram));
    const r = loyaltyCli(live.dataDir, 'what-if', '--program', programFile, '--json', '--data', live.dataDir);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as WhatIfReport;
    // Seven purchases before the change, 7 order points each (cat-1's clawed back again by its full
    // return, which the points issued do not net), and two level-1 referral shares the 7 points lift
    // over a whole point: 10% of cat-2's 7 + 7 and of fay-1's 45 + 7 points. Net of reversals, the
    // referrers keep one of those two: fay-r1 takes back a third of fay-1's share, 1 of 4 as
    // recorded and 2 of 5 under the live program from the start.
    expect(report.whatIf.pointsIssued - report.actual.pointsIssued).toBe(7 * 7 + 2);
    expect(report.whatIf.referralPoints - report.actual.referralPoints).toBe(1);
    expect(report.membersTierDiffers).toBe(0);
    expect(report.replay.from).toBeNull();
  });

  it('with doubled earn rates reports exactly what a server under that program from the start gives', async () => {
    // The doubled program replaces every program change, the live one (order points) included.
    const { report, progressSeen } = await whatIfOverHttp(live, { program: doubled(historyV2) });
    const expected = await figuresOf(direct);
    expect(report.whatIf).toEqual(expected);
    expect(report.actual).toEqual(await figuresOf(live));
    expect(report.whatIf.pointsIssued).toBeGreaterThan(report.actual.pointsIssued);
    // Every member's points and tier: the most changed list holds each member whose points differ.
    const actualMembers = await memberPoints(live);
    const directMembers = await memberPoints(direct);
    expect(report.topChanged.length).toBeGreaterThan(3);
    const changed = ids.filter((id) => actualMembers[id]!.points !== directMembers[id]!.points || actualMembers[id]!.tierId !== directMembers[id]!.tierId);
    expect(report.topChanged.map((m) => m.memberId).sort()).toEqual([...changed].sort());
    for (const m of report.topChanged) {
      expect(m).toEqual({ memberId: m.memberId, actualPoints: actualMembers[m.memberId]!.points, whatIfPoints: directMembers[m.memberId]!.points, actualTierId: actualMembers[m.memberId]!.tierId, whatIfTierId: directMembers[m.memberId]!.tierId });
    }
    const diff = (m: WhatIfReport['topChanged'][number]) => Math.abs(m.whatIfPoints - m.actualPoints);
    for (let i = 1; i < report.topChanged.length; i++) {
      const [a, b] = [report.topChanged[i - 1]!, report.topChanged[i]!];
      expect(diff(a) > diff(b) || (diff(a) === diff(b) && a.memberId < b.memberId)).toBe(true);
    }
    // eve's redemption, refused as recorded, is paid under the doubled program.
    expect(report.divergences.acceptedThenRefused).toBe(0);
    expect(report.divergences.refusedThenAccepted).toBe(1);
    expect(report.divergences.listed).toEqual([expect.objectContaining({ op: 'redeem', memberId: 'eve', actual: 'insufficient_points', whatIf: 'ok' })]);
    // Progress was shown while it ran, and at the end every entry was replayed.
    const last = progressSeen[progressSeen.length - 1]!;
    expect(last.batches).toBe(report.replay.batches);
    expect(last.totalBatches).toBe(report.replay.batches);
  });

  it('with a third referral level pays the deeper ancestors a server under that program pays', async () => {
    const { report } = await whatIfOverHttp(live, { program: threeLevels(historyV2) });
    expect(report.whatIf).toEqual(await figuresOf(direct3));
    expect(report.whatIf.referralPoints).toBeGreaterThan(report.actual.referralPoints);
    // root is cat's third-level ancestor: the rewards for cat's registration and purchases are
    // credits the recorded history never had, delivered right after the batches that made them.
    expect(report.credits.added).toBeGreaterThan(0);
    // (Those points expired by now, as everything the history granted before day 300 did.)
    const actualMembers = await memberPoints(live);
    const directMembers = await memberPoints(direct3);
    const changed = ids.filter((id) => actualMembers[id]!.points !== directMembers[id]!.points || actualMembers[id]!.tierId !== directMembers[id]!.tierId);
    expect(report.topChanged.map((m) => m.memberId).sort()).toEqual([...changed].sort());
    for (const m of report.topChanged) expect(m.whatIfPoints).toBe(directMembers[m.memberId]!.points);
  });

  it('to a moment in the past compares the books as they were then', async () => {
    const { report } = await whatIfOverHttp(live, { program: doubled(historyV2), to: iso(changedAtMs) });
    expect(report.actual).toEqual(figuresBeforeChange);
    expect(report.replay).toMatchObject({ to: iso(changedAtMs), sweptAsOf: iso(changedAtMs) });
    expect(report.whatIf.pointsIssued).toBeGreaterThan(report.actual.pointsIssued);
    expect(report.divergences.refusedThenAccepted).toBe(1);
  });

  it('counts the ops the recorded history accepted and a meaner program would have refused', () => {
    const tiers = historyV2['tiers'] as Array<Record<string, unknown>>;
    const programFile = join(live.dataDir, 'what-if-mean.json');
    const mean = { ...historyV2, referral: { enabled: false, refereePoints: 0, levels: [] }, tiers: tiers.map((t) => ({ ...t, earn: { cents: 100_000, points: 1 } })) };
    writeFileSync(programFile, JSON.stringify(mean));
    const r = loyaltyCli(live.dataDir, 'what-if', '--program', programFile, '--json', '--data', live.dataDir);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as WhatIfReport;
    // Day 3: dan redeems 100 points, which he held as recorded (600 earned on dan-1, more for
    // referring fay) and not at $1,000 a point without referral rewards (12); ben's adjustment of
    // -5 finds 0 points (no referee points, and ben-1's $400 earns none).
    expect(report.divergences.acceptedThenRefused).toBe(2);
    expect(report.divergences.refusedThenAccepted).toBe(0);
    expect(report.divergences.listed).toEqual([
      expect.objectContaining({ op: 'redeem', memberId: 'dan', actual: 'ok', whatIf: 'insufficient_points' }),
      expect.objectContaining({ op: 'adjust', memberId: 'ben', actual: 'ok', whatIf: 'insufficient_points' }),
    ]);
    expect(report.whatIf.pointsRedeemed).toBe(report.actual.pointsRedeemed - 100);
    // No referral level, so every recorded referral credit is left out; the transfer stays.
    expect(report.whatIf.referralPoints).toBe(0);
    expect(report.credits.substituted).toBe(1);
  });

  it('refuses a bad program, a window in the future or reversed, an unknown job, and a second what-if while one runs', async () => {
    expect(await refusal(live.call('POST /v1/admin/what-if', { body: { program: { ...liveProgram, tiers: [] } } })))
      .toMatchObject({ status: 400, code: 'invalid_request', field: 'program.tiers' });
    expect((await refusal(live.call('POST /v1/admin/what-if', { body: { program: liveProgram, to: iso(Date.now() + DAY_MS) } }))).field).toBe('to');
    expect((await refusal(live.call('POST /v1/admin/what-if', { body: { program: liveProgram, from: iso(t0 + DAY_MS), to: iso(t0) } }))).field).toBe('from');
    expect(await refusal(live.call('GET /v1/admin/what-if/:id', { params: { id: 'wi_0000' } }))).toMatchObject({ status: 404, code: 'what_if_not_found' });
    const first = await live.call('POST /v1/admin/what-if', { body: { program: liveProgram, from: iso(changedAtMs) } });
    expect(first.state).toBe('running');
    expect(await refusal(live.call('POST /v1/admin/what-if', { body: { program: liveProgram } }))).toMatchObject({ status: 409, code: 'what_if_running' });
    const id = first.id;
    for (let i = 0; i < 600 && (await live.call('GET /v1/admin/what-if/:id', { params: { id } })).state === 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    const done = await live.call('GET /v1/admin/what-if/:id', { params: { id } });
    expect(done).toMatchObject({ state: 'done', request: { from: iso(changedAtMs), to: null }, result: { membersTierDiffers: 0, topChanged: [] } });
    expect(done.result!.whatIf).toEqual(done.result!.actual);
  });

  it('leaves no scratch copies behind when the server stops during a what-if', async () => {
    // The job's folder and the scratch copies in it (a thread ended by the stop runs no cleanup of its own).
    const jobFolders = () => new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('loyalty-what-if-') && !n.startsWith('loyalty-what-if-bench-')));
    const before = jobFolders();
    const started = await live.call('POST /v1/admin/what-if', { body: { program: doubled(historyV2) } });
    expect(started.state).toBe('running');
    // Stopped once the thread has made its scratch copies and replays (it knows how many entries).
    // The job's size is said as soon as its copies are open, and the replay waits one pause after them.
    let job: { state: string; progress: { batches: number; totalBatches: number } };
    // Polled every 5 ms rather than back to back, leaving the lower-priority what-if thread room.
    for (;;) {
      job = await live.call('GET /v1/admin/what-if/:id', { params: { id: started.id } });
      if (job.state !== 'running' || job.progress.totalBatches !== 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(job.state).toBe('running');
    expect(job.progress.batches).toBe(0);
    const made = [...jobFolders()].filter((n) => !before.has(n));
    expect(made.length).toBeGreaterThanOrEqual(1);
    await live.stop();
    expect(made.filter((n) => existsSync(join(tmpdir(), n)))).toEqual([]);
  });

  it('leaves the live folder byte for byte as it was, and it still replays exactly', async () => {
    const before = folderHashes(live.dataDir);
    const programFile = join(live.dataDir, 'what-if-doubled.json');
    writeFileSync(programFile, JSON.stringify(doubled(historyV2)));
    const r = loyaltyCli(live.dataDir, 'what-if', '--program', programFile, '--data', live.dataDir);
    expect(r.status, r.stderr).toBe(0);
    // The text report: the figures side by side.
    expect(r.stdout).toMatch(/^pointsIssued\s+[\d,]+\s+[\d,]+\s+\+[\d,]+$/m);
    expect(folderHashes(live.dataDir)).toEqual(before);
    expectReplayEqualsLive(live.dataDir);
  });
});
