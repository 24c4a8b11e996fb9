// Dates and instants are read strictly: a day the calendar does not have (30 February, 31 April,
// 29 February outside leap years, month 13) and a time of day past 23:59:59 (T24:00, a 60th minute
// or second) are refused with the field, where JavaScript's Date would roll them over.
import { describe, expect, it } from 'vitest';
import { FieldError, checkDate, daysInMonth, parseInstant } from '../../engine/rules/validate.js';
import { checkDay } from '../../engine/rules/local-day.js';

function refused(check: () => unknown, field: string): string {
  try {
    check();
  } catch (err) {
    expect(err).toBeInstanceOf(FieldError);
    expect((err as FieldError).field).toBe(field);
    return (err as FieldError).message;
  }
  throw new Error('accepted');
}

describe('checkDate', () => {
  it('accepts the days the calendar has', () => {
    for (const d of ['2026-01-31', '2026-02-28', '2024-02-29', '2000-02-29', '2026-04-30', '2026-12-31', '0001-01-01']) expect(checkDate(d, 'birthday')).toBe(d);
  });

  it('refuses days it does not have and other spellings, naming the field', () => {
    for (const d of ['2026-02-30', '2026-02-29', '1900-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', '2026-1-5', '20260105', '2026-01-05T00:00:00Z', '', 20260105, null]) {
      refused(() => checkDate(d, 'birthday'), 'birthday');
    }
    expect(refused(() => checkDate('2026-02-30', 'birthday'), 'birthday')).toBe('is not a date the calendar has (2026-02-30)');
    // The report's and export's from/to use the same rule.
    refused(() => checkDay('2026-02-30', 'from'), 'from');
  });

  it('knows leap years', () => {
    expect([2024, 2025, 2000, 1900].map((y) => daysInMonth(y, 2))).toEqual([29, 28, 29, 28]);
  });
});

describe('parseInstant', () => {
  it('reads ISO-8601 with an offset exactly', () => {
    expect(parseInstant('2026-11-22T10:00:00Z', 'at')).toBe(Date.UTC(2026, 10, 22, 10));
    expect(parseInstant('2026-11-22T18:00+08:00', 'at')).toBe(Date.UTC(2026, 10, 22, 10));
    expect(parseInstant('2026-11-22T23:59:59.999999999-05:30', 'at')).toBe(Date.UTC(2026, 10, 23, 5, 29, 59, 999));
    expect(parseInstant('2024-02-29T00:00:00Z', 'at')).toBe(Date.UTC(2024, 1, 29));
  });

  it('refuses 30 February, T24:00, a 60th minute or second, and offsets past ±23:59', () => {
    expect(refused(() => parseInstant('2026-02-30T10:00:00Z', 'at'), 'at')).toBe('is not a date the calendar has (2026-02-30)');
    expect(refused(() => parseInstant('2026-01-01T24:00:00Z', 'asOf'), 'asOf')).toMatch(/hours run 00-23/);
    refused(() => parseInstant('2026-01-01T24:00Z', 'at'), 'at');
    refused(() => parseInstant('2026-01-01T23:60:00Z', 'at'), 'at');
    refused(() => parseInstant('2026-01-01T23:59:60Z', 'at'), 'at');
    refused(() => parseInstant('2026-01-01T10:00:00+24:00', 'at'), 'at');
    refused(() => parseInstant('2026-01-01T10:00:00+05:60', 'at'), 'at');
    refused(() => parseInstant('2026-04-31T10:00:00Z', 'at'), 'at');
    refused(() => parseInstant('2026-01-01T10:00:00', 'at'), 'at');
    refused(() => parseInstant('2026-01-01 10:00:00Z', 'at'), 'at');
    refused(() => parseInstant(1767261600000, 'at'), 'at');
  });
});
