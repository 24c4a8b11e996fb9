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

/** Whether `atMs` falls in the birthday month ('YYYY-MM-DD') in the program's zone. */
export function inBirthdayMonth(birthday: string | undefined, atMs: number, timeZone: string): boolean {
  if (birthday === undefined) return false;
  return Number(birthday.slice(5, 7)) === localDate(atMs, timeZone).month;
}
