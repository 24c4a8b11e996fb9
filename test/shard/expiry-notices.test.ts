// The `points_expiring` notice (docs/rules.md §6): written by the sweep or a catch-up
// `notifyExpiringDays` before a grant expires, once per grant however often the member is brought
// up to date, with the points and the expiry in the entry and no balance moved; none when the
// grant was spent first or when the program turns notices off; and the program field's validation.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram, validateProgram } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { WriteOp } from '../../engine/ops.js';

const DAY_MS = 86_400_000;
const T = Date.parse('2026-01-10T02:00:00Z');
const harnesses: ShardHarness[] = [];
afterEach(async () => { for (const h of harnesses.splice(0)) await h.close(); });

function harness(over: Partial<Program> = {}): ShardHarness {
  const h = new ShardHarness({ ...demoProgram(), pointsExpiryDays: 30, ...over }, 1);
  harnesses.push(h);
  return h;
}
let n = 0;
const register = (memberId: string, atMs: number, points: number): WriteOp => ({ op: 'register', memberId, key: `reg:m:${memberId}`, fp: 1, atMs, referralChain: [], points });
const adjust = (memberId: string, atMs: number, points: number): WriteOp => ({ op: 'adjust', memberId, points, reason: 'test', key: `req:a${++n}`, fp: 3, atMs });
const redeem = (memberId: string, atMs: number, points: number): WriteOp => ({ op: 'redeem', memberId, points, key: `req:d${++n}`, fp: 3, atMs });

describe('points_expiring', () => {
  it('is written once per grant, notifyExpiringDays before its expiry, with the points and the expiry', () => {
    const h = harness({ notifyExpiringDays: 5 });
    h.one(register('x', T, 100));
    h.one(adjust('x', T + 2 * DAY_MS, 40));
    const firstExpiry = h.state('x')!.grants[0]!.expiresAt;
    const secondExpiry = h.state('x')!.grants[1]!.expiresAt;
    h.sweep(firstExpiry - 5 * DAY_MS - 1);
    expect(h.entries('x').map((e) => e.kind)).toEqual(['register', 'adjust']);
    h.sweep(firstExpiry - 5 * DAY_MS);
    // Swept again (and a later sweep before the second notice): still one notice for the first grant.
    h.sweep(firstExpiry - 4 * DAY_MS);
    h.sweep(firstExpiry - 4 * DAY_MS + 1);
    const notices = () => h.entries('x').filter((e) => e.kind === 'points_expiring');
    expect(notices()).toEqual([expect.objectContaining({
      at: firstExpiry - 5 * DAY_MS, pointsDelta: 0, growthDelta: 0, walletDeltaCents: 0, expiringPoints: 100, expiresAtMs: firstExpiry,
    })]);
    h.sweep(secondExpiry);
    expect(notices().map((e) => [e.at, e.expiringPoints, e.expiresAtMs])).toEqual([
      [firstExpiry - 5 * DAY_MS, 100, firstExpiry], [secondExpiry - 5 * DAY_MS, 40, secondExpiry],
    ]);
    expect(h.entries('x').map((e) => e.kind)).toEqual(['register', 'adjust', 'points_expiring', 'points_expiring', 'expire', 'expire']);
    expect(h.state('x')).toMatchObject({ points: 0, expiryNotices: [] });
    expect(h.mismatches()).toEqual([]);
  });

  it('tells the points left at the notice; a grant spent first and a program with 0 days get none', () => {
    const h = harness();
    h.one(register('spent', T, 100));
    h.one(redeem('spent', T + DAY_MS, 100));
    h.one(register('part', T, 100));
    h.one(redeem('part', T + DAY_MS, 30));
    h.sweep(T + 40 * DAY_MS);
    expect(h.entries('spent').filter((e) => e.kind === 'points_expiring')).toEqual([]);
    expect(h.entries('part').filter((e) => e.kind === 'points_expiring').map((e) => e.expiringPoints)).toEqual([70]);
    const off = harness({ notifyExpiringDays: 0 });
    off.one(register('y', T, 100));
    off.sweep(T + 40 * DAY_MS);
    expect(off.entries('y').map((e) => e.kind)).toEqual(['register', 'expire']);
  });

  it('is a program field of 0..366 days, 7 when left out', () => {
    const doc = { ...demoProgram() } as Record<string, unknown>;
    delete doc['notifyExpiringDays'];
    const checked = validateProgram(doc);
    expect(checked.ok && checked.program.notifyExpiringDays).toBe(7);
    expect(validateProgram({ ...doc, notifyExpiringDays: 367 })).toMatchObject({ ok: false, field: 'notifyExpiringDays' });
    expect(validateProgram({ ...doc, notifyExpiringDays: -1 })).toMatchObject({ ok: false, field: 'notifyExpiringDays' });
    expect(validateProgram({ ...doc, notifyExpiringDays: 14 })).toMatchObject({ ok: true, program: { notifyExpiringDays: 14 } });
  });
});
