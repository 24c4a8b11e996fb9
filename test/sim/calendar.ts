// Calendar arithmetic for the reference model, kept apart from the engine's: only time zones whose
// offset from UTC has been fixed since 2000 (no daylight saving), so a local date is the UTC date of
// the instant shifted by a constant. test/sim/sim.test.ts checks the table against the runtime's ICU.

export const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** Offset from UTC in minutes, for every zone the simulated programs may use. */
export const ZONE_OFFSET_MINUTES: Readonly<Record<string, number>> = {
  'UTC': 0,
  'Asia/Hong_Kong': 480,
  'Asia/Kolkata': 330,
  'Asia/Kathmandu': 345,
  'Pacific/Kiritimati': 840,
  'Pacific/Marquesas': -570,
  'America/Bogota': -300,
};

export const ZONES = Object.keys(ZONE_OFFSET_MINUTES);

function offsetMs(zone: string): number {
  const minutes = ZONE_OFFSET_MINUTES[zone];
  if (minutes === undefined) throw new Error(`the simulator's calendar does not know the zone ${zone}`);
  return minutes * MINUTE_MS;
}

export interface LocalDate { year: number; month: number; day: number }

export function localDate(atMs: number, zone: string): LocalDate {
  const d = new Date(atMs + offsetMs(zone));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The instant a local date starts (local midnight). Years below 100 are not used by the simulator. */
/** The local date of an instant in the zone, as YYYY-MM-DD (how campaign windows and report days are written). */
export function localDay(atMs: number, zone: string): string {
  const d = localDate(atMs, zone);
  return `${String(d.year).padStart(4, '0')}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;
}

export function startOfLocalDay(year: number, month: number, day: number, zone: string): number {
  return Date.UTC(year, month - 1, day) - offsetMs(zone);
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** When the gift for `year` is due: the start of the birthday, 29 February counting as 28 February in other years. */
export function birthdayGiftAt(year: number, month: number, day: number, zone: string): number {
  const d = month === 2 && day === 29 && !isLeapYear(year) ? 28 : day;
  return startOfLocalDay(year, month, d, zone);
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
