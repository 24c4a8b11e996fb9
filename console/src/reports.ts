// What the report screens share: the default window (the last 30 local days, today included) and
// the axis labels of money, which are written in the currency, never in cents.
import { addDays } from './lib/format.js';
import { fmt } from './session.js';

export const REPORT_DAYS_DEFAULT = 30;

export function lastDays(days = REPORT_DAYS_DEFAULT): [string, string] {
  const today = fmt.value.localDayOf(Date.now());
  return [addDays(today, -(days - 1)), today];
}

/** An axis label of money: the amount in the currency, without decimals when they are zero. */
export function moneyAxis(cents: number): string {
  return fmt.value.money(cents).replace(/[.,]00(?=\D*$)/, '');
}
