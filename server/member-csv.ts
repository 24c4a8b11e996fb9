// The members CSV format shared by import and export: its columns, how one parsed row becomes a
// registration body, how a member becomes a row, and how cells are written: RFC 4180 quoting, and
// text a spreadsheet would run as a formula neutralised with a leading `'` (which the import undoes).
import { createHash } from 'node:crypto';
import { FieldError } from '../engine/rules/validate.js';

/** Columns an import reads: the registration fields (docs/rules.md §2) and the admin's opening balances. */
export const IMPORT_COLUMNS = [
  'memberId', 'name', 'phone', 'email', 'birthday', 'gender', 'address', 'referrerId', 'storeId', 'channel',
  'staffId', 'points', 'walletCents', 'tierId',
] as const;
/** Columns an export adds for the reader; an import accepts and ignores them, so an export re-imports. */
export const EXPORT_ONLY_COLUMNS = ['growth', 'lifetimeSpendCents', 'purchaseCount', 'firstPurchaseAt', 'lastPurchaseAt', 'createdAt'] as const;
export const EXPORT_COLUMNS = [...IMPORT_COLUMNS, ...EXPORT_ONLY_COLUMNS] as const;

const INTEGER_COLUMNS: ReadonlySet<string> = new Set(['points', 'walletCents']);
const DATE_COLUMNS: ReadonlySet<string> = new Set(['birthday']);
const KNOWN: ReadonlySet<string> = new Set<string>(EXPORT_COLUMNS);
const IMPORTED: ReadonlySet<string> = new Set<string>(IMPORT_COLUMNS);
/** A whole number, optionally with commas between groups of three digits (`1,000`, `12,345,678`). */
const WHOLE_NUMBER = /^(?:\d{1,16}|\d{1,3}(?:,\d{3}){1,5})$/;
const DIGITS_MAX = 16;
/** `YYYY-MM-DD`, `YYYY/M/D`, and `D/M/YYYY` or `M/D/YYYY` (the program's csvDayFirst says which). */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const YEAR_FIRST = /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/;
const YEAR_LAST = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;

/** How an import reads what spreadsheets write differently by region. */
export interface CsvReading {
  /** `4/3/1990` is 4 March (true: Hong Kong, China, the UK) or April 3 (false: the US). */
  dayFirst: boolean;
}

/** The header's columns: each known, none twice. Index i of a row is column `header[i]` (null: ignored). */
export function readHeader(cells: string[]): Array<string | null> {
  const seen = new Set<string>();
  return cells.map((raw, i) => {
    const name = raw.trim();
    if (!KNOWN.has(name)) throw new FieldError('header', `column ${i + 1} "${name.slice(0, 64)}" is not one of ${IMPORT_COLUMNS.join(', ')} (or an export's ${EXPORT_ONLY_COLUMNS.join(', ')})`);
    if (seen.has(name)) throw new FieldError('header', `column "${name}" appears twice`);
    seen.add(name);
    return IMPORTED.has(name) ? name : null;
  });
}

/** A row whose every cell is empty or spaces (`,,` as spreadsheets leave them): skipped, not counted. */
export function isBlankRow(cells: readonly string[]): boolean {
  for (const c of cells) if (c.trim() !== '') return false;
  return true;
}

/** A whole number cell: digits, with or without thousands commas (`1,000`, quoted in the file). */
function wholeNumber(cell: string, name: string): number {
  const text = cell.trim();
  const digits = WHOLE_NUMBER.test(text) ? text.replace(/,/g, '') : '';
  if (digits === '' || digits.length > DIGITS_MAX) {
    throw new FieldError(name, `must be a whole number of at most ${DIGITS_MAX} digits, with or without thousands commas (1,000)`);
  }
  return Number(digits);
}

/**
 * A date cell as `YYYY-MM-DD`: written so, or `YYYY/M/D`, or `D/M/YYYY` (`M/D/YYYY` when
 * `dayFirst` is false). Whether the day exists is checked where every date is (registerOp).
 */
function dateCell(cell: string, name: string, reading: CsvReading): string {
  const text = cell.trim();
  if (ISO_DATE.test(text)) return text;
  const pad = (n: string) => n.padStart(2, '0');
  const first = YEAR_FIRST.exec(text);
  if (first !== null) return `${first[1]}-${pad(first[2]!)}-${pad(first[3]!)}`;
  const last = YEAR_LAST.exec(text);
  if (last !== null) {
    const [day, month] = reading.dayFirst ? [last[1]!, last[2]!] : [last[2]!, last[1]!];
    return `${last[3]}-${pad(month)}-${pad(day)}`;
  }
  throw new FieldError(name, `must be a date YYYY-MM-DD, YYYY/M/D or ${reading.dayFirst ? 'D/M/YYYY' : 'M/D/YYYY'}`);
}

/**
 * A row as a registration body: empty cells are absent fields, points and walletCents are whole
 * numbers, birthdays are dates in one of the spellings above.
 * A row without memberId is keyed by `import:<sha256 of its cells>`, so importing it again replays.
 */
export function rowBody(header: Array<string | null>, cells: string[], reading: CsvReading): Record<string, unknown> {
  if (cells.length !== header.length) throw new FieldError('(row)', `has ${cells.length} fields, the header has ${header.length}`);
  const body: Record<string, unknown> = {};
  for (let i = 0; i < cells.length; i++) {
    const name = header[i];
    // A cell of an export comes back as it was before the export neutralised it.
    const cell = unneutralise(cells[i]!);
    if (name === null || name === undefined || cell === '') continue;
    if (INTEGER_COLUMNS.has(name)) body[name] = wholeNumber(cell, name);
    else if (DATE_COLUMNS.has(name)) body[name] = dateCell(cell, name, reading);
    else body[name] = cell;
  }
  if (body['memberId'] === undefined) {
    body['requestId'] = 'import:' + createHash('sha256').update(JSON.stringify(cells)).digest('hex').slice(0, 40);
  }
  return body;
}

/**
 * The byte-order mark every CSV export starts with: Excel reads a CSV without one in the system's
 * legacy code page, and 陳大文 comes out as mojibake.
 */
export const CSV_BOM = '\ufeff';

/**
 * Text a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, and a tab or CR before one of
 * them): CSV formula injection. Also text already opening with `'` before such a character, so
 * that undoing the `'` on import gives back exactly what was exported.
 */
const FORMULA_TEXT = /^'*[=+\-@\t\r]/;
/** A cell the export neutralised: one `'` is removed on import. */
const NEUTRALISED_CELL = /^'+[=+\-@\t\r]/;

/**
 * A text cell as the export writes it: text a spreadsheet would run as a formula gets a leading `'`
 * (`=HYPERLINK(…)` → `'=HYPERLINK(…)`, a phone `+85291234567` → `'+85291234567`). Numbers are not
 * text: a negative points delta stays `-5`.
 */
export function neutralise(text: string): string {
  return FORMULA_TEXT.test(text) ? `'${text}` : text;
}

/** A cell as the export wrote it, back to its value: the `'` neutralise added is removed. */
export function unneutralise(cell: string): string {
  return NEUTRALISED_CELL.test(cell) ? cell.slice(1) : cell;
}

/**
 * One field: a string is text (neutralised against formulas), a number is written as it is; then
 * quoted as RFC 4180 asks when it holds a comma, quote, line break or edge space.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'string' ? neutralise(value) : String(value);
  if (!/[",\r\n]|^\s|\s$/.test(s)) return s;
  return '"' + s.replace(/"/g, '""') + '"';
}

export function csvLine(values: readonly unknown[]): string {
  return values.map(csvField).join(',') + '\r\n';
}

/** A member's public view (engine/rules/member-state.ts memberView) as an export row. */
export function memberRow(m: Record<string, unknown>): string {
  return csvLine(EXPORT_COLUMNS.map((c) => m[c]));
}
