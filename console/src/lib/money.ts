// Amounts between the API's integer minor units ("cents") and what a manager reads and types, in
// the program's currency, without floating point: "1,234.50" ⇄ 123450 by string arithmetic, so an
// amount is never off by a cent however large. Pure: no DOM, no Vue (unit-tested under Node).

/** Digits after the decimal point of a currency (2 for HKD and CNY, 0 for JPY), as Intl knows them. */
export function currencyDigits(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** Minor units as an exact decimal string: 123450 → "1234.50", -5 → "-0.05" (digits 2). Takes a number or a string of digits. */
export function centsToDecimal(cents: number | string, digits: number): string {
  let text = typeof cents === 'number' ? String(Math.trunc(cents)) : cents.trim();
  const negative = text.startsWith('-');
  if (negative) text = text.slice(1);
  if (!/^\d+$/.test(text)) return String(cents);
  if (digits === 0) return (negative ? '-' : '') + text.replace(/^0+(?=\d)/, '');
  const padded = text.padStart(digits + 1, '0');
  const whole = padded.slice(0, padded.length - digits).replace(/^0+(?=\d)/, '');
  return `${negative ? '-' : ''}${whole}.${padded.slice(padded.length - digits)}`;
}

/** The largest amount a field takes, in minor units (the API's 10^12 and the safe-integer bound). */
export const AMOUNT_CENTS_MAX = 1_000_000_000_000_000;

/**
 * What a manager typed as an amount, in minor units; null when it is not one. Accepts thousands
 * separators (commas, spaces, apostrophes), an optional currency sign or code around the number and
 * at most `digits` decimals: "HK$1,234.5" → 123450. A minus sign only when `allowNegative`.
 */
export function parseAmount(text: string, digits: number, allowNegative = false): number | null {
  let s = text.trim().replace(/[\s,'’_]/g, '');
  s = s.replace(/^[A-Za-z]{0,3}[$¥￥€£]?/, '').replace(/[A-Za-z]{0,3}$/, '');
  let negative = false;
  if (s.startsWith('-') || s.startsWith('−')) { negative = true; s = s.slice(1); }
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (m === null || (m[1] === '' && (m[2] === undefined || m[2] === ''))) return null;
  const fraction = m[2] ?? '';
  if (fraction.length > digits) return null;
  const units = (m[1] === '' ? '0' : m[1]!) + fraction.padEnd(digits, '0');
  const value = Number(units);
  if (!Number.isSafeInteger(value) || value > AMOUNT_CENTS_MAX) return null;
  if (negative && !allowNegative) return null;
  return negative ? -value : value;
}

/** A whole number a manager typed (points, days), with thousands separators; null when it is not one. */
export function parseWhole(text: string, allowNegative = false): number | null {
  let s = text.trim().replace(/[\s,'’_]/g, '');
  let negative = false;
  if (s.startsWith('-') || s.startsWith('−')) { negative = true; s = s.slice(1); }
  if (!/^\d+$/.test(s)) return null;
  const value = Number(s);
  if (!Number.isSafeInteger(value)) return null;
  if (negative && !allowNegative) return null;
  return negative ? -value : value;
}

/**
 * Basis points as a percentage a manager reads and types: 500 ⇄ "5", 1250 ⇄ "12.5". Two decimals
 * of a percent are the most a basis point holds.
 */
export function bpsToPercent(bps: number): string {
  return centsToDecimal(bps, 2).replace(/\.?0+$/, '');
}

export function percentToBps(text: string): number | null {
  const s = text.trim().replace(/%$/, '').trim();
  return parseAmount(s, 2);
}
