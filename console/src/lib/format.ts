// How the console writes figures for people: money in the program's currency (Intl.NumberFormat),
// instants in the program's time zone (Intl.DateTimeFormat), local dates, points and counts, each
// in the chosen language. One Formatter per (language, currency, time zone). Pure: no DOM, no Vue.
import { centsToDecimal, currencyDigits } from './money.js';

export interface FormatOptions { locale: string; currency: string; timeZone: string }

export class Formatter {
  readonly digits: number;
  private readonly moneyFormat: Intl.NumberFormat;
  private readonly numberFormat: Intl.NumberFormat;
  private readonly percentFormat: Intl.NumberFormat;
  private readonly dateTimeFormat: Intl.DateTimeFormat;
  private readonly dateFormat: Intl.DateTimeFormat;
  private readonly shortDateFormat: Intl.DateTimeFormat;
  private readonly localDateFormat: Intl.DateTimeFormat;
  private readonly shortLocalDateFormat: Intl.DateTimeFormat;
  private readonly localDayFormat: Intl.DateTimeFormat;

  constructor(readonly options: FormatOptions) {
    const { locale, currency, timeZone } = options;
    this.digits = currencyDigits(currency);
    this.moneyFormat = new Intl.NumberFormat(locale, { style: 'currency', currency, currencyDisplay: 'symbol', minimumFractionDigits: this.digits, maximumFractionDigits: this.digits });
    this.numberFormat = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    this.percentFormat = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 2 });
    this.dateTimeFormat = new Intl.DateTimeFormat(locale, { timeZone, dateStyle: 'medium', timeStyle: 'short' });
    this.dateFormat = new Intl.DateTimeFormat(locale, { timeZone, dateStyle: 'medium' });
    this.shortDateFormat = new Intl.DateTimeFormat(locale, { timeZone, month: 'short', day: 'numeric' });
    // A local date (YYYY-MM-DD) is a calendar day, not an instant: written as a day of UTC.
    this.localDateFormat = new Intl.DateTimeFormat(locale, { timeZone: 'UTC', dateStyle: 'medium' });
    this.shortLocalDateFormat = new Intl.DateTimeFormat(locale, { timeZone: 'UTC', month: 'short', day: 'numeric' });
    this.localDayFormat = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  }

  /** Minor units (a number, or the exact digits the summary sends past 2^53) in the currency: "HK$1,234.50". */
  money(cents: number | string | null | undefined): string {
    if (cents === null || cents === undefined) return '—';
    // The string form keeps every digit: Intl formats a decimal string exactly (no binary fraction).
    return this.moneyFormat.format(centsToDecimal(cents, this.digits) as unknown as number);
  }

  /** A signed amount: "+HK$10.00", "−HK$10.00". */
  signedMoney(cents: number): string {
    return (cents > 0 ? '+' : cents < 0 ? '−' : '') + this.money(Math.abs(cents));
  }

  /** The currency's symbol as this language writes it ("HK$", "¥"). */
  currencySymbol(): string {
    const part = this.moneyFormat.formatToParts(0).find((p) => p.type === 'currency');
    return part?.value ?? this.options.currency;
  }

  number(n: number | string | null | undefined): string {
    if (n === null || n === undefined) return '—';
    return this.numberFormat.format(n as number);
  }

  signedNumber(n: number): string {
    return (n > 0 ? '+' : n < 0 ? '−' : '') + this.number(Math.abs(n));
  }

  /** A share 0..1 as a percentage: 0.1234 → "12.34%". */
  percent(share: number | null | undefined): string {
    if (share === null || share === undefined) return '—';
    return this.percentFormat.format(share);
  }

  /** Basis points as a percentage: 500 → "5%". */
  bps(bps: number): string {
    return this.percentFormat.format(bps / 10_000);
  }

  /** An instant (ISO text or ms) as a date and time in the program's zone. */
  dateTime(at: string | number | null | undefined): string {
    if (at === null || at === undefined) return '—';
    return this.dateTimeFormat.format(new Date(at));
  }

  /** An instant's day in the program's zone: "22 Nov 2026". */
  date(at: string | number | null | undefined): string {
    if (at === null || at === undefined) return '—';
    return this.dateFormat.format(new Date(at));
  }

  shortDate(at: string | number): string {
    return this.shortDateFormat.format(new Date(at));
  }

  /** A local date YYYY-MM-DD (a birthday, a report's day) as the language writes a day. */
  localDate(date: string | null | undefined): string {
    if (date === null || date === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(date)) return date ?? '—';
    return this.localDateFormat.format(new Date(`${date}T00:00:00Z`));
  }

  shortLocalDate(date: string): string {
    return this.shortLocalDateFormat.format(new Date(`${date}T00:00:00Z`));
  }

  /** The local date (YYYY-MM-DD) an instant falls on in the program's zone. */
  localDayOf(at: number | Date): string {
    return this.localDayFormat.format(at);
  }
}

/** The local date `days` after (or before, negative) a local date YYYY-MM-DD. */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
