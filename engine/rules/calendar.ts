// Calendar questions in the program's IANA time zone (birthday month, calendar year), answered
// with cached Intl formatters so no per-op allocation of a formatter happens.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local calendar date of an instant in a zone, as { year, month (1-12), day }. */
export function localDate(atMs: number, timeZone: string): { year: number; month: number; day: number } {
  let year = 0, month = 0, day = 0;
  for (const part of formatter(timeZone).formatToParts(atMs)) {
    if (part.type === 'year') year = Number(part.value);
    else if (part.type === 'month') month = Number(part.value);
    else if (part.type === 'day') day = Number(part.value);
  }
  return { year, month, day };
}

/** Whether `atMs` falls in the birthday month (1-12; 0 = unknown) in the program's zone. */
export function inBirthdayMonth(birthdayMonth: number, atMs: number, timeZone: string): boolean {
  return birthdayMonth !== 0 && birthdayMonth === localMonth(atMs, timeZone);
}

/** Local dates are memoised per 15-minute bucket: every zone's offset is a multiple of 15 minutes. */
const BUCKET_MS = 15 * 60 * 1000;
const DATE_MEMO_MAX = 200_000;
const dateMemo = new Map<string, Map<number, { year: number; month: number; day: number }>>();

/** `localDate`, memoised: cheap when called for many instants of few periods (batches, scans). */
export function localDateOf(atMs: number, timeZone: string): { year: number; month: number; day: number } {
  let memo = dateMemo.get(timeZone);
  if (memo === undefined) { memo = new Map(); dateMemo.set(timeZone, memo); }
  const bucket = Math.floor(atMs / BUCKET_MS);
  let date = memo.get(bucket);
  if (date === undefined) {
    if (memo.size >= DATE_MEMO_MAX) memo.clear();
    date = localDate(bucket * BUCKET_MS, timeZone);
    memo.set(bucket, date);
  }
  return date;
}

/** The local month (1-12) of an instant in a zone. */
export function localMonth(atMs: number, timeZone: string): number {
  return localDateOf(atMs, timeZone).month;
}

const timeFormatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at an instant, in ms (local = utc + offset). */
function offsetMs(atMs: number, timeZone: string): number {
  let f = timeFormatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    timeFormatters.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(atMs)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p['year']!, p['month']! - 1, p['day']!, p['hour']!, p['minute']!, p['second']!);
  return asUtc - Math.floor(atMs / 1000) * 1000;
}

/** Per zone: year * 10,000 + month * 100 + day → the instant that local date starts. */
const dayStartMemo = new Map<string, Map<number, number>>();

/** The instant local midnight starts a date in a zone (memoised: birthdays repeat the same dates). */
export function startOfLocalDay(year: number, month: number, day: number, timeZone: string): number {
  let zone = dayStartMemo.get(timeZone);
  if (zone === undefined) { zone = new Map(); dayStartMemo.set(timeZone, zone); }
  const key = year * 10_000 + month * 100 + day;
  let start = zone.get(key);
  if (start === undefined) {
    const guess = Date.UTC(year, month - 1, day);
    const first = guess - offsetMs(guess, timeZone);
    start = guess - offsetMs(first, timeZone);
    if (zone.size >= DATE_MEMO_MAX) zone.clear();
    zone.set(key, start);
  }
  return start;
}

/**
 * When a member's birthday gift of `year` is due: the start of their birthday in the program's
 * zone. A 29 February birthday is celebrated on 28 February in other years.
 */
export function birthdayGiftAt(year: number, month: number, day: number, timeZone: string): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return startOfLocalDay(year, month, month === 2 && day === 29 && !leap ? 28 : day, timeZone);
}
