// Bounds each CSV record before the parser sees it: a record (a line, or several when a quoted
// field holds line breaks) longer than its bound is taken out of the byte stream and replaced by
// one marker line, so the import fails that row alone, with its line number, and reads on. The
// parser (csv-parse) cannot do this itself: its size bound is an error that ends the parse, and its
// option to skip bad records keeps buffering the whole record and builds an error object for every
// byte past the bound.
//
// The scan follows RFC 4180 as csv-parse reads it: a field opening with `"` is quoted until a `"`
// that is not doubled; outside quotes, LF, CR LF or a lone CR ends a record. On text csv-parse
// itself refuses (a quote inside an unquoted field) the scan goes on as if it were text, and the
// parser stops at that text with its syntax error, as it did before.

/** The cell that stands for a record left out: NUL, then how many lines the record spanned. */
export const OVERLONG_MARKER = '\u0000';

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** Where the scan is within a record. */
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTE_IN_QUOTED = 3;

/** The number of lines an over-long record spanned, if `cells` is the marker that stands for it; else 0. */
export function overlongLines(cells: readonly string[]): number {
  if (cells.length !== 1) return 0;
  const cell = cells[0]!;
  if (cell.length < 2 || cell[0] !== OVERLONG_MARKER || !/^\d{1,12}$/.test(cell.slice(1))) return 0;
  return Number(cell.slice(1));
}

/**
 * The scan's state across pieces of input. A plain class rather than the generator's own locals:
 * V8 optimises this byte loop far better outside an async generator.
 */
class RecordScanner {
  /** Where the scan is within the current record (FIELD_START .. QUOTE_IN_QUOTED). */
  at = FIELD_START;
  /** Bytes of the current record not yet passed on, and their length. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Inside an over-long record: its bytes are dropped, its line breaks counted. */
  private dropping = false;
  private droppedLines = 1;
  /** A CR ended the previous record; an LF right after it belongs to that ending. */
  private afterCr = false;
  /** A dropped record ended in CR: its marker waits to see whether an LF follows. */
  private markerAfterCr = false;

  constructor(private readonly recordBytesMax: number) {}

  private marker(ending: string): Buffer {
    return Buffer.from(`${OVERLONG_MARKER}${this.droppedLines}${ending}`, 'utf8');
  }

  /** The bytes of `chunk` that may go on to the parser now, in order. */
  scan(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const n = chunk.length;
    /** Bytes of `chunk` from here to recordStart are whole records, to be passed on in one piece. */
    let emitFrom = 0;
    /** Where the current record starts in `chunk` (0 when it started in an earlier piece: `held`). */
    let recordStart = 0;
    let i = 0;
    if (this.afterCr) {
      // The previous piece ended with the CR that ended a record: an LF here belongs to it.
      this.afterCr = false;
      i = this.endAfterCr(chunk, 0, out);
      emitFrom = i;
      recordStart = i;
    }
    let dropping = this.dropping;
    while (i < n) {
      // Scanned to the first byte past the current record's bound at most (to the end of the piece
      // when its bytes are dropped anyway): a record of exactly recordBytesMax bytes ends there.
      const stop = dropping ? n : Math.min(n, recordStart + this.recordBytesMax - this.heldBytes + 1);
      const end = recordEnd(chunk, i, stop, this);
      if (end === stop && stop < n) {
        // Past the bound: the record so far is dropped, and the rest of it as it comes.
        if (recordStart > emitFrom) out.push(chunk.subarray(emitFrom, recordStart));
        this.droppedLines = 1 + countLf([...this.held, chunk.subarray(recordStart, stop)]);
        this.held = [];
        this.heldBytes = 0;
        dropping = true;
        i = stop;
        continue;
      }
      if (end === n) {
        if (dropping) this.droppedLines += countLf([chunk.subarray(i, n)]);
        i = n;
        break;
      }
      const byte = chunk[end]!;
      let next = end + 1;
      if (dropping) {
        dropping = false;
        this.droppedLines += countLf([chunk.subarray(i, end)]);
        if (byte === LF) out.push(this.marker('\n'));
        else if (next === n) { this.afterCr = true; this.markerAfterCr = true; } else next = this.endAfterCrMarker(chunk, next, out);
        emitFrom = next;
      } else {
        // The record is whole: what was held of it goes on, and its bytes here with the next ones.
        if (this.held.length > 0) {
          for (const piece of this.held) out.push(piece);
          this.held = [];
          this.heldBytes = 0;
        }
        if (byte === CR) {
          if (next === n) this.afterCr = true; else if (chunk[next] === LF) next += 1;
        }
      }
      recordStart = next;
      i = next;
    }
    this.dropping = dropping;
    if (dropping) return out;
    if (recordStart > emitFrom) out.push(chunk.subarray(emitFrom, Math.min(recordStart, n)));
    if (recordStart < n) {
      this.held.push(chunk.subarray(recordStart));
      this.heldBytes += n - recordStart;
    }
    return out;
  }

  /**
   * After the CR that ended a record in an earlier piece, at `i` of `chunk`: the position where
   * the next record starts (past an LF that completes the ending), and the dropped record's
   * marker, if one waits for its ending.
   */
  private endAfterCr(chunk: Buffer, i: number, out: Buffer[]): number {
    if (this.markerAfterCr) {
      this.markerAfterCr = false;
      return this.endAfterCrMarker(chunk, i, out);
    }
    // An LF completing a whole record's CR LF goes on to the parser as the first byte of this piece.
    return i;
  }

  /** The marker of a dropped record that ended in CR at `i - 1`, with its whole ending; returns where the next record starts. */
  private endAfterCrMarker(chunk: Buffer, i: number, out: Buffer[]): number {
    if (chunk[i] === LF) { out.push(this.marker('\r\n')); return i + 1; }
    out.push(this.marker('\r'));
    return i;
  }

  /** What is left once the input ends. */
  end(): Buffer[] {
    if (this.markerAfterCr) return [this.marker('\r')];
    if (this.dropping) return [this.marker('')];
    return this.held;
  }
}

/**
 * Runs the record's state machine over `chunk[from..stop)` from `state.at` and returns the index of
 * the LF or CR that ends the record, or `stop` if none does; `state.at` is where it got to. A
 * function of its own so that V8 keeps this loop, run once per byte of the file, tight.
 */
function recordEnd(chunk: Buffer, from: number, stop: number, state: { at: number }): number {
  let at = state.at;
  for (let i = from; i < stop; i++) {
    const byte = chunk[i]!;
    if (at === UNQUOTED) {
      if (byte === COMMA) at = FIELD_START;
      else if (byte === LF || byte === CR) { state.at = FIELD_START; return i; }
    } else if (at === FIELD_START) {
      if (byte === QUOTE) at = QUOTED;
      else if (byte === LF || byte === CR) { state.at = FIELD_START; return i; }
      else if (byte !== COMMA) at = UNQUOTED;
    } else if (at === QUOTED) {
      if (byte === QUOTE) at = QUOTE_IN_QUOTED;
    } else if (byte === QUOTE) at = QUOTED;
    else if (byte === COMMA) at = FIELD_START;
    else if (byte === LF || byte === CR) { state.at = FIELD_START; return i; }
    else at = UNQUOTED;
  }
  state.at = at;
  return stop;
}

function countLf(pieces: readonly Buffer[]): number {
  let lines = 0;
  for (const buf of pieces) for (let i = buf.indexOf(LF); i !== -1; i = buf.indexOf(LF, i + 1)) lines += 1;
  return lines;
}

/**
 * The bytes of `source` with every record longer than `recordBytesMax` (its line ending excluded)
 * replaced by a marker line that ends as the record did (overlongLines reads it). Holds at most one
 * record's bytes, up to the bound, beyond what it has passed on.
 */
export async function* boundedRecords(source: AsyncIterable<Buffer>, recordBytesMax: number): AsyncGenerator<Buffer> {
  const scanner = new RecordScanner(recordBytesMax);
  for await (const chunk of source) {
    const out = scanner.scan(chunk);
    if (out.length === 1) yield out[0]!;
    else if (out.length > 1) yield Buffer.concat(out);
  }
  const rest = scanner.end();
  if (rest.length > 0) yield Buffer.concat(rest);
}
