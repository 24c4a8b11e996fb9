// The pure parts of the what-if's report: reading the request (the program validated as PUT
// /v1/program does, the window checked), the liability at the base redeem rate, the figures of a
// side, and the choice of the members most changed.
import { describe, expect, it } from 'vitest';
import { demoProgram } from '../../engine/rules/program.js';
import { emptyTotals } from '../../engine/rules/totals.js';
import { FieldError } from '../../engine/rules/validate.js';
import { figuresOf, MostChanged, pointsValueCents, readWhatIfRequest, type WhatIfMemberChange } from '../../engine/rules/what-if-report.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');

function fieldOf(doc: unknown): string {
  try {
    readWhatIfRequest(doc, NOW);
  } catch (err) {
    if (err instanceof FieldError) return `${err.field}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}

describe('readWhatIfRequest', () => {
  it('takes a program as GET /v1/program shows it, and the window as instants', () => {
    const r = readWhatIfRequest({ program: { version: 7, ...demoProgram() }, from: '2026-01-01T00:00:00+08:00', to: '2026-11-30T12:00:00Z' }, NOW);
    expect(r).toEqual({ program: demoProgram(), fromMs: Date.parse('2025-12-31T16:00:00Z'), toMs: NOW });
    expect(readWhatIfRequest({ program: demoProgram() }, NOW)).toEqual({ program: demoProgram() });
  });

  it('names the field it refuses', () => {
    expect(fieldOf({})).toBe('program: is required');
    expect(fieldOf({ program: 'x' })).toMatch(/^program: must be an object/);
    expect(fieldOf({ program: { ...demoProgram(), tiers: [] } })).toMatch(/^program\.tiers: /);
    expect(fieldOf({ program: demoProgram(), extra: 1 })).toBe('extra: unknown field');
    expect(fieldOf({ program: demoProgram(), from: '2026-01-01' })).toMatch(/^from: must be an ISO-8601 time with an offset/);
    expect(fieldOf({ program: demoProgram(), to: '2026-11-30T12:00:01Z' })).toMatch(/^to: must not be in the future/);
    expect(fieldOf({ program: demoProgram(), from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' })).toBe('from: must not be after to');
  });
});

describe('figures', () => {
  it('values points at the first tier\'s redeem rate, rounded down on the total, plus the wallets', () => {
    const program = demoProgram(); // 10 points → 100 cents
    expect(pointsValueCents(program, 19)).toBe(190);
    expect(pointsValueCents(program, -3)).toBe(-30);
    const totals = { ...emptyTotals(), pointsOutstanding: 1_005, walletOutstandingCents: 7, pointsIssued: 3, pointsRedeemed: 2, pointsExpired: 1, membersPerTier: { gold: 2, member: 5, legacy: 1, gone: 0 } };
    expect(figuresOf(totals, 44, { ...program, tiers: [{ ...program.tiers[0]!, redeem: { points: 3, cents: 1 } }, ...program.tiers.slice(1)] })).toEqual({
      pointsIssued: 3, pointsRedeemed: 2, pointsExpired: 1, liabilityCents: 335 + 7,
      membersPerTier: { member: 5, silver: 0, gold: 2, legacy: 1 }, referralPoints: 44,
    });
  });
});

describe('MostChanged', () => {
  const change = (memberId: string, actualPoints: number, whatIfPoints: number): WhatIfMemberChange => ({ memberId, actualPoints, whatIfPoints, actualTierId: 'member', whatIfTierId: 'member' });

  it('keeps the largest absolute differences, ties by member id, whatever the order offered', () => {
    const all = [change('d', 0, 5), change('a', 10, 5), change('c', 3, 3), change('b', 0, -5), change('e', 100, 0), change('f', 1, 2)];
    for (const order of [all, [...all].reverse(), [all[2]!, all[4]!, all[0]!, all[5]!, all[1]!, all[3]!]]) {
      const top = new MostChanged(4);
      for (const c of order) top.offer(c);
      expect(top.list.map((c) => c.memberId)).toEqual(['e', 'a', 'b', 'd']);
    }
  });
});
