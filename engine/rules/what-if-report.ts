// What a what-if reports (the recorded history replayed under another program, beside the books as
// they were) and the pure arithmetic behind it: the figures of one set of books, the liability at
// the base redeem rate, and the choice of the members most changed. The replay itself lives in
// engine/history/what-if.ts; the front end and the command line only see these shapes.
import type { Program } from './program-types.js';
import type { BookTotals, Count } from './totals.js';
import { validateProgram } from './program.js';
import { FieldError, readObject, ROOT_FIELD } from './validate.js';

/** One side's figures: the books as recorded (`actual`) or as the other program would have left them (`whatIf`). */
export interface WhatIfFigures {
  pointsIssued: number;
  pointsRedeemed: number;
  pointsExpired: number;
  /** Points outstanding at the first tier's redeem rate, plus the wallets, in cents. */
  liabilityCents: number;
  membersPerTier: Record<string, number>;
  /** Referral rewards the referrers kept (rewards less reversals), in points. */
  referralPoints: number;
}

/** A member whose points or tier differ between the two sides. */
export interface WhatIfMemberChange {
  memberId: string;
  actualPoints: number;
  whatIfPoints: number;
  /** null: the member does not exist on that side (a registration one side refused). */
  actualTierId: string | null;
  whatIfTierId: string | null;
}

/** An op of the history whose outcome differs: accepted on one side and refused on the other. */
export interface WhatIfDivergence {
  shard: number;
  /** The log entry (of that shard) the op is in, and its place in the entry. */
  seq: number;
  index: number;
  op: string;
  memberId: string;
  /** The error code of the side that refused. */
  actual: 'ok' | string;
  whatIf: 'ok' | string;
}

export interface WhatIfReport {
  actual: WhatIfFigures;
  whatIf: WhatIfFigures;
  /** Members whose tier differs between the two sides. */
  membersTierDiffers: number;
  /** The members most changed: largest absolute points difference first, ties by member id. */
  topChanged: WhatIfMemberChange[];
  /** Ops accepted as recorded but refused under the other program, and the reverse, with the first few. */
  divergences: { acceptedThenRefused: number; refusedThenAccepted: number; listed: WhatIfDivergence[] };
  /**
   * Cross-shard credits (referral rewards and reversals, transfers) of the other program: delivered
   * where the recorded history delivered their counterpart, delivered right after their source when
   * it had none, and the recorded ones the other program did not make.
   */
  credits: { substituted: number; added: number; dropped: number };
  /** The replay: its window (ISO), what it ran and how fast. */
  replay: { from: string | null; to: string | null; sweptAsOf: string | null; shards: number; batches: number; ops: number; ms: number; batchesPerS: number };
}

/** What a what-if is asked: the other program, validated, and the window in ms since epoch. */
export interface WhatIfRequest { program: Program; fromMs?: number; toMs?: number }

/** What the front end sends the what-if thread (engine/history/what-if-worker.ts). */
export interface WhatIfTask extends WhatIfRequest {
  dataDir: string;
  /** Where the thread makes its scratch folder. */
  scratchParent: string;
  /**
   * Three 64-bit counters: [entries replayed, entries to replay], written by the thread and read by
   * the front end, and [cancel], set by the front end at a stop and read by the thread.
   */
  progress: SharedArrayBuffer;
  /** The thread's nice value (0 = the process's priority, 19 = the lowest). */
  nice: number;
  /** Work and pause slices (engine/history/what-if.ts WhatIfOptions.pace). */
  pace: { workMs: number; pauseMs: number };
}

/** An instant with its offset, as every time on the wire is written. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function instant(value: unknown, field: string, nowMs: number): number {
  const ms = typeof value === 'string' && ISO_INSTANT.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new FieldError(field, 'must be an ISO-8601 time with an offset, e.g. 2026-11-22T10:00:00Z');
  if (ms > nowMs) throw new FieldError(field, 'must not be in the future: the what-if replays recorded history');
  return ms;
}

/**
 * Reads `{ program, from?, to? }` (the HTTP body, or what the command line gathered): the program
 * as `PUT /v1/program` takes it (a `version` field, as `GET /v1/program` shows it, is ignored),
 * `from` and `to` ISO instants, neither in the future, `from` not after `to`. Throws FieldError.
 */
export function readWhatIfRequest(doc: unknown, nowMs: number): WhatIfRequest {
  const body = readObject(doc, '', ['program', 'from', 'to']);
  const raw = body['program'];
  if (raw === undefined) throw new FieldError('program', 'is required');
  const copy = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { ...(raw as Record<string, unknown>) } : raw;
  if (copy !== null && typeof copy === 'object' && !Array.isArray(copy)) delete (copy as Record<string, unknown>)['version'];
  const checked = validateProgram(copy);
  if (!checked.ok) throw new FieldError(checked.field === '' || checked.field === ROOT_FIELD ? 'program' : `program.${checked.field}`, checked.message);
  const request: WhatIfRequest = { program: checked.program };
  if (body['from'] !== undefined) request.fromMs = instant(body['from'], 'from', nowMs);
  if (body['to'] !== undefined) request.toMs = instant(body['to'], 'to', nowMs);
  if (request.fromMs !== undefined && request.toMs !== undefined && request.fromMs > request.toMs) throw new FieldError('from', 'must not be after to');
  return request;
}

/** The value of `points` at the program's base (first tier's) redeem rate, in whole cents, rounded down. */
export function pointsValueCents(program: Program, points: number): number {
  const rate = program.tiers[0]!.redeem;
  return Math.floor((points * rate.cents) / rate.points);
}

/** One side's figures from its summed totals, its referral points and the program it ended under. */
export function figuresOf(totals: BookTotals, referralPoints: number, program: Program): WhatIfFigures {
  const membersPerTier: Record<string, number> = {};
  // Every tier of the program is listed (an empty one as 0), then any tier only the books still hold.
  for (const t of program.tiers) membersPerTier[t.id] = totals.membersPerTier[t.id] ?? 0;
  for (const [tierId, n] of Object.entries(totals.membersPerTier).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!(tierId in membersPerTier) && n !== 0) membersPerTier[tierId] = n;
  }
  // Totals past 2^53 are decimal strings (engine/rules/totals.ts); a what-if compares figures, so it
  // reads them as numbers, exact up to 2^53 and within a part in 2^53 past it.
  const n = (c: Count): number => (typeof c === 'number' ? c : Number(c));
  return {
    pointsIssued: n(totals.pointsIssued),
    pointsRedeemed: n(totals.pointsRedeemed),
    pointsExpired: n(totals.pointsExpired),
    liabilityCents: pointsValueCents(program, n(totals.pointsOutstanding)) + n(totals.walletOutstandingCents),
    membersPerTier,
    referralPoints,
  };
}

/** Whether `a` ranks before `b` among the most changed: larger absolute difference, then member id. */
function ranksBefore(a: WhatIfMemberChange, b: WhatIfMemberChange): boolean {
  const da = Math.abs(a.whatIfPoints - a.actualPoints);
  const db = Math.abs(b.whatIfPoints - b.actualPoints);
  return da !== db ? da > db : a.memberId < b.memberId;
}

/**
 * Keeps the `max` members most changed while members are offered one at a time, in O(max) memory
 * whatever the number of members.
 */
export class MostChanged {
  private readonly kept: WhatIfMemberChange[] = [];

  constructor(private readonly max: number) {}

  offer(change: WhatIfMemberChange): void {
    const kept = this.kept;
    if (kept.length === this.max && !ranksBefore(change, kept[kept.length - 1]!)) return;
    let i = kept.length;
    while (i > 0 && ranksBefore(change, kept[i - 1]!)) i -= 1;
    kept.splice(i, 0, change);
    if (kept.length > this.max) kept.pop();
  }

  get list(): WhatIfMemberChange[] {
    return this.kept.slice();
  }
}
