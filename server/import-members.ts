// CSV member import (SPEC section 10) for the HTTP route, the CLI and the benchmark alike: parses
// the CSV as it streams in, registers each valid row through `perform` as an admin with a bounded
// number of rows in flight, and counts what was imported, replayed (skipped) and refused.
import { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import type { Engine } from '../engine/engine.js';
import { LoyaltyError, type ErrorCode } from '../engine/errors.js';
import { FieldError } from '../engine/validate.js';
import { IMPORT_DEFERRED_ROWS_MAX, IMPORT_ERRORS_LISTED_MAX, IMPORT_IN_FLIGHT_MAX, RETRY_AFTER_SECONDS, TEXT_LENGTH_MAX } from '../engine/limits.js';
import { perform } from './perform.js';
import { readHeader, rowBody } from './member-csv.js';

export interface ImportRowError { row: number; code: ErrorCode; message: string; field?: string }

export interface ImportResult {
  imported: number;
  /** Rows whose member the same row had registered before (a re-import): nothing changed. */
  skipped: number;
  /** Rows refused; the first IMPORT_ERRORS_LISTED_MAX of them are listed in `errors`, by row. */
  failed: number;
  errors: ImportRowError[];
}

/** Live counters for a progress display: rows answered so far and source bytes read. */
export interface ImportProgress { rows: number; bytes: number }

/** Characters csv-parse may buffer for one field or line: far above the longest valid row (an export's 20 fields). */
const RECORD_CHARS_MAX = 32 * TEXT_LENGTH_MAX;

interface Row { line: number; body: Record<string, unknown> }

/** Counts free slots of the in-flight window; `acquire` waits while it is full (one caller at a time: rows are dispatched in order). */
class Window {
  private used = 0;
  private waiter: (() => void) | null = null;
  constructor(private readonly size: number) {}
  async acquire(): Promise<void> {
    while (this.used >= this.size) await new Promise<void>((r) => { this.waiter = r; });
    this.used += 1;
  }
  release(): void {
    this.used -= 1;
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

/** Lines a record spans: one, plus the line breaks inside its quoted fields. */
function linesOf(cells: string[]): number {
  let lines = 1;
  for (const c of cells) if (c.includes('\n')) lines += c.split('\n').length - 1;
  return lines;
}

/**
 * The source as bytes for the parser, counted and checked to be UTF-8 as they pass: csv-parse
 * decodes leniently, and a decoder that replaced bad bytes with U+FFFD would register names that
 * were never sent. The check decodes each chunk once more and drops the text.
 */
async function* checkedBytes(source: AsyncIterable<string | Uint8Array> | string, progress: ImportProgress): AsyncGenerator<Buffer> {
  if (typeof source === 'string') {
    const buf = Buffer.from(source, 'utf8');
    progress.bytes += buf.length;
    yield buf;
    return;
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    try {
      utf8.decode(buf, { stream: true });
    } catch {
      throw new FieldError('(body)', `the CSV is not valid UTF-8 (in bytes ${progress.bytes}..${progress.bytes + buf.length})`);
    }
    progress.bytes += buf.length;
    yield buf;
  }
  try {
    utf8.decode();
  } catch {
    throw new FieldError('(body)', 'the CSV ends inside a UTF-8 character');
  }
}

/**
 * Imports members from CSV text. The header row is required and names the columns
 * (server/member-csv.ts); `row` in an error is the row's line number, the header being line 1.
 * A wrong header refuses the whole file (FieldError); a row's problem refuses that row only.
 */
export async function importMembers(
  engine: Engine,
  source: AsyncIterable<string | Uint8Array> | string,
  progress: ImportProgress = { rows: 0, bytes: 0 },
): Promise<ImportResult> {
  const result: ImportResult = { imported: 0, skipped: 0, failed: 0, errors: [] };
  const window = new Window(IMPORT_IN_FLIGHT_MAX);
  /** Rows in flight by memberId: a later row naming one as its referrer (or repeating it) waits for it. */
  const inFlight = new Map<string, Promise<void>>();
  let deferred: Row[] = [];
  /** Why the import stops early: the server is stopping, or the input failed. */
  let stopping: Error | null = null;

  const fail = (line: number, code: ErrorCode, message: string, field?: string) => {
    result.failed += 1;
    if (result.errors.length >= IMPORT_ERRORS_LISTED_MAX) return;
    const error: ImportRowError = { row: line, code, message };
    if (field !== undefined) error.field = field;
    result.errors.push(error);
  };

  const register = async (row: Row, lastPass: boolean): Promise<void> => {
    for (;;) {
      let r: Awaited<ReturnType<typeof perform>>;
      try {
        // Lean: an import counts rows and needs no member view back (engine/ops.ts RegisterOp.lean).
        r = await perform(engine, 'register', row.body, 'admin', false, true);
      } catch (err) {
        // An unexpected failure is this row's, reported like any other: the import goes on.
        fail(row.line, 'internal', err instanceof Error ? err.message : String(err));
        return;
      }
      if (r.ok) {
        if (r['replayed'] === true) result.skipped += 1; else result.imported += 1;
        return;
      }
      const { code, message, field } = r.error;
      // A full shard queue is back-pressure, not a verdict on the row: wait and send it again.
      if (code === 'overloaded') { await new Promise((res) => setTimeout(res, RETRY_AFTER_SECONDS * 100)); continue; }
      if (code === 'shutting_down') { stopping ??= new LoyaltyError(code, message); return; }
      // The referrer may be a row further down the file: try again once the rest is in.
      if (code === 'referrer_not_found' && !lastPass && deferred.length < IMPORT_DEFERRED_ROWS_MAX) { deferred.push(row); return; }
      fail(row.line, code, message, field);
      return;
    }
  };

  const dispatch = async (row: Row, lastPass: boolean): Promise<void> => {
    const memberId = row.body['memberId'] as string | undefined;
    const referrerId = row.body['referrerId'] as string | undefined;
    const waitFor = [referrerId, memberId].map((id) => (id === undefined ? undefined : inFlight.get(id)));
    for (const w of waitFor) if (w !== undefined) await w;
    await window.acquire();
    const done = register(row, lastPass).finally(() => {
      window.release();
      progress.rows += 1;
      if (memberId !== undefined && inFlight.get(memberId) === done) inFlight.delete(memberId);
    });
    if (memberId !== undefined) inFlight.set(memberId, done);
  };

  // Line numbers are counted here rather than with csv-parse's `info`, which costs a snapshot object
  // per record: empty lines come through as one empty field, so every line is seen.
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: false, max_record_size: RECORD_CHARS_MAX });
  const input = Readable.from(checkedBytes(source, progress));
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  let header: Array<string | null> | null = null;
  let nextLine = 1;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (stopping !== null) break;
      const line = nextLine;
      nextLine += linesOf(record);
      if (record.length === 1 && record[0] === '') continue;
      if (header === null) { header = readHeader(record); continue; }
      let body: Record<string, unknown>;
      try {
        body = rowBody(header, record);
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
        progress.rows += 1;
        fail(line, 'invalid_request', `${err.field}: ${err.message}`, err.field);
        continue;
      }
      await dispatch({ line, body }, false);
    }
  } catch (err) {
    // A CSV syntax error ends the parse: rows before it stand, the error names where it stopped.
    // Anything else (a bad header, bad UTF-8, a body past its bound) fails the request, once the
    // rows already sent are answered, so that nothing is still being written after the reply.
    if (err instanceof CsvError) fail(typeof err['lines'] === 'number' ? err['lines'] : 0, 'invalid_request', `CSV: ${err.message}`);
    else stopping ??= err instanceof Error ? err : new Error(String(err));
  } finally {
    input.destroy();
  }
  await drain(window);
  if (header === null && stopping === null) throw new FieldError('header', 'the file is empty: a header row naming the columns is required');
  // Rows whose referrer came later: passes until no row gets in, then the rest are errors.
  for (let lastPass = false; deferred.length > 0 && stopping === null;) {
    const rows = deferred.sort((a, b) => a.line - b.line);
    deferred = [];
    for (const row of rows) await dispatch(row, lastPass);
    await drain(window);
    if (deferred.length === rows.length) lastPass = true;
  }
  if (stopping !== null) throw stopping;
  result.errors.sort((a, b) => a.row - b.row);
  return result;
}

/** Waits until every row in flight has been answered. */
async function drain(window: Window): Promise<void> {
  for (let i = 0; i < IMPORT_IN_FLIGHT_MAX; i++) await window.acquire();
  for (let i = 0; i < IMPORT_IN_FLIGHT_MAX; i++) window.release();
}
