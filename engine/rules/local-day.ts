// Local calendar days (`YYYY-MM-DD` in the program's time zone) of ledger instants, for the daily
// report, the ledger export and the coupon report's window (engine/rules/calendar.ts memoises the
// dates per 15-minute bucket, so a scan of millions of entries formats only a few thousand instants).
import { localDateOf, startOfLocalDay } from './calendar.js';
import { REPORT_DAYS_MAX } from '../limits.js';
import { FieldError, checkDate } from './validate.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** No zone is more than 14 hours from UTC: a day's instants lie within these margins of its UTC date. */
const ZONE_MARGIN_MS = 15 * 60 * 60 * 1000;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** The local date of `atMs` in `timeZone` as `YYYY-MM-DD` (which sorts and compares as text). */
export function localDay(atMs: number, timeZone: string): string {
  const d = localDateOf(atMs, timeZone);
  return `${pad(d.year, 4)}-${pad(d.month, 2)}-${pad(d.day, 2)}`;
}

/** A calendar date as sent in a query (`YYYY-MM-DD`, a real date), or a FieldError naming `field`. */
export function checkDay(value: string | null, field: string): string {
  return checkDate(value, field);
}

/** Every date from `from` to `to` inclusive; at most REPORT_DAYS_MAX of them. */
export function daysBetween(from: string, to: string): string[] {
  const start = Date.parse(from + 'T00:00:00Z');
  const end = Date.parse(to + 'T00:00:00Z');
  if (end < start) throw new FieldError('to', 'must not be before from');
  const n = Math.round((end - start) / DAY_MS) + 1;
  if (n > REPORT_DAYS_MAX) throw new FieldError('to', `a report covers at most ${REPORT_DAYS_MAX} days`);
  return Array.from({ length: n }, (_, i) => new Date(start + i * DAY_MS).toISOString().slice(0, 10));
}

/** Instants outside [lowMs, highMs] cannot fall on a local day from `from` to `to` in any zone. */
export function dayRangeMs(from: string, to: string): { lowMs: number; highMs: number } {
  return { lowMs: Date.parse(from + 'T00:00:00Z') - ZONE_MARGIN_MS, highMs: Date.parse(to + 'T00:00:00Z') + DAY_MS + ZONE_MARGIN_MS };
}

/**
 * The instants of local days `from` to `to` (inclusive) in `timeZone`: from the local midnight that
 * starts `from` up to, not including, the one that ends `to`. At most REPORT_DAYS_MAX days.
 */
export function localDaysWindowMs(from: string, to: string, timeZone: string): { fromMs: number; toMs: number } {
  const days = daysBetween(from, to);
  const after = new Date(Date.parse(days[days.length - 1]! + 'T00:00:00Z') + DAY_MS);
  return {
    fromMs: startOfLocalDay(Number(from.slice(0, 4)), Number(from.slice(5, 7)), Number(from.slice(8, 10)), timeZone),
    toMs: startOfLocalDay(after.getUTCFullYear(), after.getUTCMonth() + 1, after.getUTCDate(), timeZone),
  };
}
