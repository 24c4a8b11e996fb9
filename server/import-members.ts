// CSV member import (docs/rules.md §10) for the HTTP route, the CLI and the benchmark alike: parses
// the CSV as it streams in and registers each valid row as an admin would. Rows go to their shard in
// batches the importer gathers itself (one task and one promise per batch, not per row); a row that
// names a referrer goes on its own through the group commit, once its referrer's row is in, with
// the referral chain the referrer has (known here for members this import registered).
import { parse, CsvError } from 'csv-parse';
import type { Engine } from '../engine/router/engine.js';
import type { OpResult, RegisterOp } from '../engine/ops.js';
import { LoyaltyError, opError, type ErrorCode } from '../engine/errors.js';
import { FieldError } from '../engine/rules/validate.js';
import {
  IMPORT_BATCH_ROWS, IMPORT_BATCHES_IN_FLIGHT_PER_SHARD, IMPORT_CHUNK_BYTES, IMPORT_DEFERRED_ROWS_MAX,
  IMPORT_ERRORS_LISTED_MAX, IMPORT_IN_FLIGHT_MAX, IMPORT_QUESTIONS_IN_FLIGHT_MAX, IMPORT_ROW_BYTES_MAX, RETRY_AFTER_SECONDS,
} from '../engine/limits.js';
import { failure } from './perform.js';
import { registerOp } from './requests.js';
import { isBlankRow, readHeader, rowBody } from './member-csv.js';
import { boundedRecords, overlongLines } from './csv-records.js';

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

interface Row { line: number; body: Record<string, unknown> }

const NO_CHAIN: readonly string[] = Object.freeze([]);

/** How long a row waits before it is sent again to a shard that answered `overloaded`. */
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, RETRY_AFTER_SECONDS * 100));

/**
 * Rows gathered for one shard: closed when full, or soon after a later row waits for one of them,
 * then sent once its shard has room.
 */
interface Batch {
  shard: number;
  ops: RegisterOp[];
  lines: number[];
  /** What each op holds in the directory while in flight (Engine.claimUnique). */
  claims: number[];
  /** No more rows join it: it waits for room on its shard, or is in flight. */
  closed: boolean;
  /** Settles once the batch is answered and counted. */
  done: Promise<void>;
  settle: () => void;
}

function newBatch(shard: number): Batch {
  let settle!: () => void;
  const done = new Promise<void>((resolve) => { settle = resolve; });
  return { shard, ops: [], lines: [], claims: [], closed: false, done, settle };
}

/** Lines a record spans: one, plus the line breaks inside its quoted fields. */
function linesOf(cells: string[]): number {
  let lines = 1;
  for (const c of cells) if (c.includes('\n')) lines += c.split('\n').length - 1;
  return lines;
}

/**
 * The source as bytes for the parser, counted and checked to be UTF-8 as they pass, in pieces of at
 * most IMPORT_CHUNK_BYTES so that one large piece never sends more batches at once than the window
 * allows. csv-parse decodes leniently, and a decoder that replaced bad bytes with U+FFFD would
 * register names that were never sent: the check decodes each piece once more and drops the text.
 */
async function* checkedBytes(source: AsyncIterable<string | Uint8Array> | string, progress: ImportProgress): AsyncGenerator<Buffer> {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces = typeof source === 'string' ? [source] : source;
  for await (const chunk of pieces) {
    const whole = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < whole.length; at += IMPORT_CHUNK_BYTES) {
      const buf = whole.subarray(at, at + IMPORT_CHUNK_BYTES);
      try {
        utf8.decode(buf, { stream: true });
      } catch {
        throw new FieldError('(body)', `the CSV is not valid UTF-8 (in bytes ${progress.bytes}..${progress.bytes + buf.length})`);
      }
      progress.bytes += buf.length;
      yield buf;
    }
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
  /** The API key id that sent the import over HTTP; absent for the command line's (its entries carry none). */
  keyId?: string,
): Promise<ImportResult> {
  const result: ImportResult = { imported: 0, skipped: 0, failed: 0, errors: [] };
  const shardCount = engine.shards.length;
  const gathering: Batch[] = engine.shards.map((_, shard) => newBatch(shard));
  /** Closed batches waiting for room on their shard, and how many each shard has in flight. */
  const ready: Batch[][] = engine.shards.map(() => []);
  const running: number[] = engine.shards.map(() => 0);
  /** Batches a row waits for, closed together once the rows parsed meanwhile have joined them. */
  const wanted = new Set<Batch>();
  let wantedScheduled = false;
  /** The batch (gathering or in flight) carrying each member's row: a row naming it waits for it. */
  const carrying = new Map<string, Batch>();
  /** Rows going one by one (they name a referrer), by memberId: a repeat of one waits for it. */
  const single = new Map<string, Promise<void>>();
  /**
   * Referral chains of the members this import registered, so a referee's needs no question to a
   * shard. Kept from the first row that names a referrer on: a file without referrals builds no
   * map of a million members (measured: 1.5-2 s of a million-row import); referrers answered
   * before that row are asked for on their shards.
   */
  const chains = new Map<string, readonly string[]>();
  let rememberChains = false;
  /** Closed batches not yet answered: waiting for room or in flight. */
  let batchesInFlight = 0;
  let singlesInFlight = 0;
  /** Referrers being looked up on their shards. */
  let questions = 0;
  let waiters: Array<() => void> = [];
  let deferred: Row[] = [];
  /** Why the import stops early: the server is stopping, or the input failed. */
  let stopping: Error | null = null;

  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  /** Waits while `busy()` holds; every answered batch or row looks again. */
  const until = async (busy: () => boolean): Promise<void> => {
    while (busy()) await new Promise<void>((r) => waiters.push(r));
  };

  const fail = (line: number, code: ErrorCode, message: string, field?: string) => {
    result.failed += 1;
    if (result.errors.length >= IMPORT_ERRORS_LISTED_MAX) return;
    const error: ImportRowError = { row: line, code, message };
    if (field !== undefined) error.field = field;
    result.errors.push(error);
  };

  /**
   * Runs one closed batch on its shard. A full task queue on the shard (`overloaded`: live traffic,
   * or other work of this import) is back-pressure, not a verdict on the rows: the same rows are
   * sent again after a pause, holding their directory claims, until the shard takes them.
   */
  const run = async (batch: Batch): Promise<void> => {
    const { ops, lines, claims } = batch;
    try {
      let results: OpResult[];
      for (;;) {
        try {
          results = await engine.shards[batch.shard]!.runImport(ops);
          break;
        } catch (err) {
          if (err instanceof LoyaltyError && err.code === 'overloaded') { await pause(); continue; }
          for (let k = 0; k < ops.length; k++) engine.settleUnique(ops[k]!, claims[k]!, null);
          if (err instanceof LoyaltyError && err.code === 'shutting_down') { stopping ??= err; return; }
          // The batch did not run (a dead worker): each of its rows is reported, the import goes on.
          const { error } = failure(err);
          for (const line of lines) fail(line, error.code, error.message);
          return;
        }
      }
      for (let k = 0; k < ops.length; k++) {
        const r = results[k]!;
        // A row without a referrer has no referral chain: its referees' chains start with it.
        if (r.ok && rememberChains) chains.set(ops[k]!.memberId, NO_CHAIN);
        // Registered as sent (engine/shard/batch.ts IMPORTED_AS_SENT): the claims stay as they are.
        if (r.ok && r['asSent'] === true) { result.imported += 1; continue; }
        engine.settleUnique(ops[k]!, claims[k]!, r);
        if (r.ok) {
          if (r['replayed'] === true) result.skipped += 1; else result.imported += 1;
        } else fail(lines[k]!, r.error.code, r.error.message, r.error.field);
      }
    } finally {
      for (const op of ops) if (carrying.get(op.memberId) === batch) carrying.delete(op.memberId);
      batchesInFlight -= 1;
      progress.rows += ops.length;
      batch.settle();
      wake();
    }
  };

  /** Sends a shard's closed batches while it has fewer than IMPORT_BATCHES_IN_FLIGHT_PER_SHARD in flight. */
  const pump = (shard: number): void => {
    while (running[shard]! < IMPORT_BATCHES_IN_FLIGHT_PER_SHARD && ready[shard]!.length > 0) {
      const batch = ready[shard]!.shift()!;
      running[shard]! += 1;
      void run(batch).finally(() => {
        running[shard]! -= 1;
        pump(shard);
      });
    }
  };

  /** Closes a batch: no more rows join it, and it is sent once its shard has room. */
  const close = (batch: Batch): Promise<void> => {
    if (batch.closed) return batch.done;
    batch.closed = true;
    gathering[batch.shard] = newBatch(batch.shard);
    batchesInFlight += 1;
    ready[batch.shard]!.push(batch);
    pump(batch.shard);
    return batch.done;
  };

  /**
   * The batch a row waits for (it carries the row's referrer, or an earlier row of the same
   * member), closed on the next turn of the event loop rather than at once: every row of the CSV
   * piece being parsed joins it first. Closing it at once sent a batch of one or two rows per
   * referee, thousands at a time, which overflowed the shard's task queue (measured: 8,882 of
   * 10,000 rows, every second one naming the row three lines above, failed as `overloaded`).
   */
  const waitFor = (batch: Batch): Promise<void> => {
    if (batch.closed) return batch.done;
    wanted.add(batch);
    if (!wantedScheduled) {
      wantedScheduled = true;
      setImmediate(() => {
        wantedScheduled = false;
        for (const b of wanted) void close(b);
        wanted.clear();
      });
    }
    return batch.done;
  };

  /**
   * One row that names a referrer, through the general registration path: its referral chain is
   * the referrer's, known here when this import registered the referrer, else read from the
   * referrer's shard (at most IMPORT_QUESTIONS_IN_FLIGHT_MAX such questions at once).
   */
  const registerOne = async (row: Row, lastPass: boolean): Promise<void> => {
    let op: RegisterOp;
    try {
      op = registerOp(row.body, { role: 'admin', nowMs: engine.now(), defaultCountry: engine.program.program.defaultCountry }, (key) => engine.newMemberId(key));
      if (keyId !== undefined) op.by = keyId;
    } catch (err) {
      const { error } = failure(err);
      fail(row.line, error.code, error.message, error.field);
      return;
    }
    // Lean: an import counts rows and needs no member view back (engine/ops.ts RegisterOp.lean).
    op.lean = true;
    const referrerId = op.referrerId!;
    let chain = chains.get(referrerId);
    while (chain === undefined) {
      await until(() => questions >= IMPORT_QUESTIONS_IN_FLIGHT_MAX);
      questions += 1;
      let referrer: { referralChain: string[] } | null;
      try {
        referrer = await engine.queryMember({ q: 'member', memberId: referrerId }) as { referralChain: string[] } | null;
      } catch (err) {
        if (err instanceof LoyaltyError && err.code === 'overloaded') { await pause(); continue; }
        const { error } = failure(err);
        fail(row.line, error.code, error.message);
        return;
      } finally {
        questions -= 1;
        wake();
      }
      if (referrer === null) {
        // The referrer may be a row further down the file: try again once the rest is in.
        if (!lastPass && deferred.length < IMPORT_DEFERRED_ROWS_MAX) deferred.push(row);
        else fail(row.line, 'referrer_not_found', opError('referrer_not_found').message, 'referrerId');
        return;
      }
      chain = referrer.referralChain;
    }
    op.referralChain = engine.referralChain(referrerId, chain);
    for (;;) {
      let r: OpResult;
      try {
        r = await engine.registerOrPatch(op);
      } catch (err) {
        r = failure(err);
      }
      if (r.ok) {
        if (r['replayed'] === true) result.skipped += 1; else result.imported += 1;
        chains.set(op.memberId, op.referralChain);
        return;
      }
      const { code, message, field } = r.error;
      // A full shard queue is back-pressure, not a verdict on the row: wait and send it again.
      if (code === 'overloaded') { await pause(); continue; }
      if (code === 'shutting_down') { stopping ??= new LoyaltyError(code, message); return; }
      fail(row.line, code, message, field);
      return;
    }
  };

  /** Starts a single row once the rows it depends on (its referrer, an earlier row of the same member) are answered. */
  const startSingle = (row: Row, lastPass: boolean): void => {
    const memberId = row.body['memberId'] as string | undefined;
    const before: Array<Promise<void>> = [];
    for (const id of [row.body['referrerId'] as string | undefined, memberId]) {
      if (id === undefined) continue;
      const batch = carrying.get(id);
      if (batch !== undefined) before.push(waitFor(batch));
      const earlier = single.get(id);
      if (earlier !== undefined) before.push(earlier);
    }
    singlesInFlight += 1;
    const done = Promise.all(before).then(() => registerOne(row, lastPass)).catch((err: unknown) => {
      const { error } = failure(err);
      fail(row.line, error.code, error.message);
    }).finally(() => {
      singlesInFlight -= 1;
      progress.rows += 1;
      if (memberId !== undefined && single.get(memberId) === done) single.delete(memberId);
      wake();
    });
    if (memberId !== undefined) single.set(memberId, done);
  };

  /** One data row: refused here, added to its shard's batch, or started on its own. */
  const take = (row: Row): void => {
    const memberId = row.body['memberId'] as string | undefined;
    if (row.body['referrerId'] !== undefined) rememberChains = true;
    if (row.body['referrerId'] !== undefined || (memberId !== undefined && single.has(memberId))) { startSingle(row, false); return; }
    let op: RegisterOp;
    try {
      op = registerOp(row.body, { role: 'admin', nowMs: engine.now(), defaultCountry: engine.program.program.defaultCountry }, (key) => engine.newMemberId(key));
      if (keyId !== undefined) op.by = keyId;
    } catch (err) {
      progress.rows += 1;
      const { error } = failure(err);
      fail(row.line, error.code, error.message, error.field);
      return;
    }
    // Lean: an import counts rows and needs no member view back (engine/ops.ts RegisterOp.lean).
    op.lean = true;
    const batch = gathering[engine.shardOf(op.memberId).shardId]!;
    batch.claims.push(engine.claimUnique(op));
    batch.ops.push(op);
    batch.lines.push(row.line);
    carrying.set(op.memberId, batch);
    if (batch.ops.length >= IMPORT_BATCH_ROWS) void close(batch);
  };

  // Line numbers are counted here rather than with csv-parse's `info`, which costs a snapshot object
  // per record: empty lines come through as one empty field, so every line is seen.
  let header: Array<string | null> | null = null;
  let nextLine = 1;
  const onRecord = (record: string[]): void => {
    if (stopping !== null) return;
    const line = nextLine;
    const overlong = overlongLines(record);
    nextLine += overlong > 0 ? overlong : linesOf(record);
    // Empty lines and rows of empty cells (`,,`, as spreadsheets leave them) are not rows: not counted.
    if (overlong === 0 && isBlankRow(record)) return;
    try {
      if (overlong > 0) {
        const message = `the row is longer than ${IMPORT_ROW_BYTES_MAX} bytes`;
        if (header === null) throw new FieldError('header', `the header row is longer than ${IMPORT_ROW_BYTES_MAX} bytes`);
        progress.rows += 1;
        fail(line, 'invalid_request', message, '(row)');
        return;
      }
      if (header === null) { header = readHeader(record); return; }
      let body: Record<string, unknown>;
      try {
        body = rowBody(header, record, { dayFirst: engine.program.program.csvDayFirst });
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
        progress.rows += 1;
        fail(line, 'invalid_request', `${err.field}: ${err.message}`, err.field);
        return;
      }
      take({ line, body });
    } catch (err) {
      // A bad header refuses the file; anything else unexpected stops the import the same way.
      stopping ??= err instanceof Error ? err : new Error(String(err));
    }
  };

  // Rows past IMPORT_ROW_BYTES_MAX never reach the parser (server/csv-records.ts): its own bound
  // stays as a backstop, since a bound it meets ends the parse.
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: false, max_record_size: IMPORT_ROW_BYTES_MAX });
  let parseError: unknown = null;
  parser.on('data', onRecord);
  parser.on('error', (err) => { parseError ??= err; });
  const closed = new Promise<void>((r) => parser.once('close', r));
  const full = () => batchesInFlight >= IMPORT_BATCHES_IN_FLIGHT_PER_SHARD * shardCount || singlesInFlight >= IMPORT_IN_FLIGHT_MAX;
  try {
    for await (const chunk of boundedRecords(checkedBytes(source, progress), IMPORT_ROW_BYTES_MAX)) {
      if (stopping !== null || parseError !== null) break;
      // The parser's own bound: past it, wait for it to drain (or to fail and close).
      if (!parser.write(chunk)) await Promise.race([new Promise((r) => parser.once('drain', r)), closed]);
      await until(full);
    }
  } catch (err) {
    // Bad UTF-8 or a body past its bound fails the request, once the rows already sent are
    // answered, so that nothing is still being written after the reply.
    stopping ??= err instanceof Error ? err : new Error(String(err));
  }
  if (stopping === null && parseError === null) parser.end(); else parser.destroy();
  await closed;
  // A CSV syntax error ends the parse: rows before it stand, the error names where it stopped.
  if (parseError instanceof CsvError) fail(typeof parseError['lines'] === 'number' ? parseError['lines'] : 0, 'invalid_request', `CSV: ${parseError.message}`);
  else if (parseError !== null) stopping ??= parseError instanceof Error ? parseError : new Error(String(parseError));
  for (const batch of gathering) if (batch.ops.length > 0) void close(batch);
  await until(() => batchesInFlight > 0 || singlesInFlight > 0);
  if (header === null && stopping === null) throw new FieldError('header', 'the file is empty: a header row naming the columns is required');
  // Rows whose referrer came later: passes until no row gets in, then the rest are errors.
  for (let lastPass = false; deferred.length > 0 && stopping === null;) {
    const rows = deferred.sort((a, b) => a.line - b.line);
    deferred = [];
    for (const row of rows) {
      startSingle(row, lastPass);
      await until(() => singlesInFlight >= IMPORT_IN_FLIGHT_MAX);
    }
    await until(() => singlesInFlight > 0);
    if (deferred.length === rows.length) lastPass = true;
  }
  if (stopping !== null) throw stopping;
  result.errors.sort((a, b) => a.row - b.row);
  return result;
}
