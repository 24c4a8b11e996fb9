// The members CSV format shared by import and export: its columns, how one parsed row becomes a
// registration body, how a member becomes a row, and RFC 4180 quoting for what we write.
import { createHash } from 'node:crypto';
import { FieldError } from '../engine/rules/validate.js';

/** Columns an import reads: the registration fields (SPEC section 2) and the admin's opening balances. */
export const IMPORT_COLUMNS = [
  'memberId', 'name', 'phone', 'email', 'birthday', 'gender', 'address', 'referrerId', 'storeId', 'channel',
  'staffId', 'points', 'walletCents', 'tierId',
] as const;
/** Columns an export adds for the reader; an import accepts and ignores them, so an export re-imports. */
export const EXPORT_ONLY_COLUMNS = ['growth', 'lifetimeSpendCents', 'purchaseCount', 'firstPurchaseAt', 'lastPurchaseAt', 'createdAt'] as const;
export const EXPORT_COLUMNS = [...IMPORT_COLUMNS, ...EXPORT_ONLY_COLUMNS] as const;

const INTEGER_COLUMNS: ReadonlySet<string> = new Set(['points', 'walletCents']);
const KNOWN: ReadonlySet<string> = new Set<string>(EXPORT_COLUMNS);
const IMPORTED: ReadonlySet<string> = new Set<string>(IMPORT_COLUMNS);
const DIGITS = /^\d{1,16}$/;

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

/**
 * A row as a registration body: empty cells are absent fields, points and walletCents are integers.
 * A row without memberId is keyed by `import:<sha256 of its cells>`, so importing it again replays.
 */
export function rowBody(header: Array<string | null>, cells: string[]): Record<string, unknown> {
  if (cells.length !== header.length) throw new FieldError('(row)', `has ${cells.length} fields, the header has ${header.length}`);
  const body: Record<string, unknown> = {};
  for (let i = 0; i < cells.length; i++) {
    const name = header[i];
    const cell = cells[i]!;
    if (name === null || name === undefined || cell === '') continue;
    if (INTEGER_COLUMNS.has(name)) {
      if (!DIGITS.test(cell)) throw new FieldError(name, 'must be a whole number of at most 16 digits');
      body[name] = Number(cell);
    } else body[name] = cell;
  }
  if (body['memberId'] === undefined) {
    body['requestId'] = 'import:' + createHash('sha256').update(JSON.stringify(cells)).digest('hex').slice(0, 40);
  }
  return body;
}

/** One field quoted as RFC 4180 asks when it holds a comma, quote, line break or edge space. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'string' ? value : String(value);
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
