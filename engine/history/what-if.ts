// The what-if: the recorded history of a data folder replayed under another program, beside the
// same history replayed as recorded, in a scratch folder, and the two sets of books compared
// (engine/rules/what-if-report.ts says what is reported). The live folder is only read, a few log
// entries at a time, so it works beside a running server.
//
// How the history is replayed (the README's "Running a what-if" says the same for users):
// - Two scratch copies of every shard start empty. The `actual` copy runs every logged entry as it
//   was recorded and must give the logged checksum, so it is the live books at each point. The
//   `whatIf` copy runs the same entries with every program change from `from` on replaced by the
//   other program (which takes over at the first entry committed at or after `from`); before
//   `from` it runs the history as recorded. Entries committed after `to` are not replayed.
// - The shards' logs are merged in commit-time order (ties by shard), which is the order the
//   engine ran them in as far as one shard's work can depend on another's.
// - Cross-shard credits (referral rewards and reversals, transfers) travel through the source
//   shard's outbox, and the recorded history holds each as a `credit` op in a batch of its target.
//   The other program sends other credits. Each credit the whatIf copy's source writes is matched
//   to the recorded one of the same source op (same source shard, kind, reference, target and
//   level): a matched credit is delivered where the recorded one was, with the other program's
//   points; a credit with no recorded counterpart (say, a reward of a referral level the live
//   program did not pay) is delivered right after the batch that wrote it; a recorded credit with
//   no counterpart is left out. Outbox messages the recorded history had not delivered by the
//   end stay undelivered on both sides.
// - A registration with a referrer gets its referral chain again from the whatIf copy of its
//   referrer, cut to the other program's number of levels, so a program with more levels pays the
//   deeper ancestors (the recorded chain was cut to the live program's levels).
// - Sweep slices run where they were logged, each drained at its moment. A sweep that found
//   nothing under the live program left no entry, so both copies are finally swept as of the
//   comparison's end: what the other program would have expired or downgraded by then counts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCore } from '../core/wasm.js';
import { openShardStore, type ShardStore } from '../shard/store.js';
import { decodeLogHeader, decodeLogValue, firstLogSeq, logPosition, logValues, LogFormatError, type LoggedTask, type LogHeader } from '../shard/batch-log.js';
import { LOG_STARTED_LATE, LogReplayError, ShardMachine, type TaskReply } from '../shard/machine.js';
import { decodeState } from '../shard/codec.js';
import { sumTotals, emptyTotals, type BookTotals } from '../rules/totals.js';
import type { Program } from '../rules/program-types.js';
import { creditOp, CREDIT_KEY_PREFIX, type OutboxMessage } from '../rules/member-state.js';
import type { CreditOp, OpResult, RegisterOp, WriteOp } from '../ops.js';
import { figuresOf, MostChanged, type WhatIfDivergence, type WhatIfReport } from '../rules/what-if-report.js';
import { SWEEP_SLICE_MEMBERS, WHAT_IF_DIVERGENCES_LISTED_MAX, WHAT_IF_LOG_READ_ENTRIES, WHAT_IF_TOP_CHANGED } from '../limits.js';
import { FolderError, folderShards, shardDir } from './folder.js';

export interface WhatIfOptions {
  /** The live data folder (only read). */
  dataDir: string;
  /** The other program, already validated (engine/rules/program.ts validateProgram). */
  program: Program;
  /** The moment the other program takes over (ms since epoch); default: the first entry. */
  fromMs?: number;
  /** Where the comparison stops (ms since epoch); default: the logs' last entries when it starts. */
  toMs?: number;
  /** Where the scratch folder is made (default: the system's temporary folder); it is removed after. */
  scratchParent?: string;
  /** Called every few hundred entries and at the end: entries replayed of the entries to replay. */
  onProgress?: (p: { batches: number; totalBatches: number }) => void;
  /**
   * Beside a live server: after each `workMs` of replay, pause `pauseMs`, so the what-if takes at
   * most workMs / (workMs + pauseMs) of a core and leaves the disk quiet between slices.
   */
  pace?: { workMs: number; pauseMs: number };
  /**
   * Asked between entries and after each pause: true ends the run with WhatIfCancelled, its
   * transactions ended and its stores closed, so that the thread is idle when it is let go (lmdb-js
   * can deadlock when a thread is terminated with a transaction open: a server stop hung in
   * process.exit, its what-if thread waiting on a lock in lmdb-js's cleanup of stray transactions).
   */
  cancelled?: () => boolean;
}

/** A run ended by its `cancelled` (a server stop); its stores are closed and its scratch folder removed. */
export class WhatIfCancelled extends Error {
  constructor() {
    super('the what-if was cancelled: the server stopped');
  }
}

/** Why a what-if cannot run at all (not a data folder, a trimmed or unlogged log): said in words. */
export class WhatIfUnavailable extends FolderError {}

const PROGRESS_EVERY_BATCHES = 256;
const MS_PER_S = 1000;

/** One logged entry, read from the live log. */
interface Entry { seq: number; header: LogHeader; value: Uint8Array }

/** A shard's live log, read a few entries at a time in short read transactions. */
class LogCursor {
  private buffered: Entry[] = [];
  private at = 0;
  /** The next entry's sequence. */
  next: number;

  constructor(private readonly live: ShardStore, readonly shard: number, readonly lastSeq: number) {
    this.next = 1;
  }

  /** The next entry, without taking it; null past the log's end (or past `limit` when given). */
  peek(limitSeq = this.lastSeq): Entry | null {
    if (this.next > limitSeq) return null;
    if (this.at === this.buffered.length) {
      // A fresh snapshot per read: entries up to the starting position never change, and an entry
      // written since (read only when a credit's source is needed past it) must be seen.
      this.live.root.resetReadTxn();
      this.buffered = [];
      this.at = 0;
      for (const [seq, value] of logValues(this.live, this.next, this.next + WHAT_IF_LOG_READ_ENTRIES - 1)) {
        let header: LogHeader;
        try {
          header = decodeLogHeader(value);
        } catch (err) {
          if (err instanceof LogFormatError) throw new LogReplayError(this.shard, seq, 'format', err.message);
          throw err;
        }
        this.buffered.push({ seq, header, value: Uint8Array.prototype.slice.call(value) });
      }
      if (this.buffered.length === 0) return null;
    }
    const entry = this.buffered[this.at]!;
    if (entry.seq !== this.next) throw new LogReplayError(this.shard, this.next, 'sequence', `entry ${this.next} is missing from the log (the next one is ${entry.seq}): was the log trimmed during the what-if?`);
    return entry;
  }

  take(): void {
    this.at += 1;
    this.next += 1;
  }
}

/** One shard: its live log and its two scratch copies. */
interface Shard {
  id: number;
  live: ShardStore;
  cursor: LogCursor;
  actual: { store: ShardStore; machine: ShardMachine };
  whatIf: { store: ShardStore; machine: ShardMachine };
  /** Whether the whatIf copy runs the other program yet. */
  switched: boolean;
  /** Whether an entry of this shard is being run (its next entries must wait). */
  busy: boolean;
}

/** The identity of a credit across the two runs: its source shard, kind, reference, target, level and cause. */
function creditMatchKey(sourceShard: string, m: { kind: string; ref: string; memberId: string; level: number; fromMemberId: string }): string {
  return `${sourceShard}|${m.kind}|${m.ref}|${m.memberId}|${m.level}|${m.fromMemberId}`;
}

const sourceShardOf = (messageId: string): string => messageId.slice(0, messageId.indexOf(':'));


const outcome = (r: OpResult): string => (r.ok ? 'ok' : r.error.code);

class WhatIfRun {
  private readonly shards: Shard[] = [];
  /**
   * Every recorded outbox message the actual copy has written and not yet seen removed, by its id,
   * with the whatIf copy's counterpart (null when the other program wrote none).
   */
  private readonly counterparts = new Map<string, OutboxMessage | null>();
  private readonly divergences: WhatIfReport['divergences'] = { acceptedThenRefused: 0, refusedThenAccepted: 0, listed: [] };
  private readonly credits = { substituted: 0, added: 0, dropped: 0 };
  /** Per source shard, the highest outbox sequence the actual copy has written: later ones are still to come. */
  private readonly writtenOutSeq = new Map<number, number>();
  private batches = 0;
  private ops = 0;
  private totalBatches = 0;
  private lastCommittedMs = Number.NEGATIVE_INFINITY;
  /** The moment both copies were finally swept as of (finalSweep), null when nothing ran. */
  private sweptAsOfMs: number | null = null;

  constructor(private readonly options: WhatIfOptions, private readonly scratch: string) {}

  open(): void {
    const { dataDir } = this.options;
    const count = folderShards(dataDir);
    for (let id = 0; id < count; id++) {
      let live: ShardStore;
      try {
        live = openShardStore(shardDir(dataDir, id), undefined, { readOnly: true });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new WhatIfUnavailable(/no log database/.test(message) ? `shard ${id} has no batch log: it was written by a version without one` : message);
      }
      // Pushed at once, so that close() releases it whatever is refused next.
      const shard = { id, live } as Shard;
      this.shards.push(shard);
      if (live.meta.get('unlogged') === true) throw new WhatIfUnavailable(`shard ${id} ran with the batch log off (LOYALTY_TEST_NO_BATCH_LOG, a benchmark switch): its history is not recorded`);
      if (live.meta.get(LOG_STARTED_LATE) === true) throw new WhatIfUnavailable(`shard ${id} held books before its batch log began (data written by an earlier version): its history is not recorded from the start`);
      const lastSeq = logPosition(live).seq;
      const firstSeq = firstLogSeq(live);
      if (lastSeq > 0 && firstSeq !== 1) throw new WhatIfUnavailable(`shard ${id}'s log was trimmed (it starts at entry ${firstSeq ?? lastSeq + 1}): a what-if replays the history from the first entry`);
      const scratchStore = (side: string) => {
        const dir = join(this.scratch, side, `shard-${id}`);
        mkdirSync(dir, { recursive: true });
        // Thrown away afterwards: no fdatasync per replayed entry.
        return openShardStore(dir, undefined, { noSync: true });
      };
      const actualStore = scratchStore('actual');
      const whatIfStore = scratchStore('what-if');
      Object.assign(shard, {
        cursor: new LogCursor(live, id, lastSeq),
        // Each machine has a core of its own: a core holds the program it last encoded, by version,
        // and the two copies run different programs under the same version numbers.
        // The actual copy logs what it replays and proves each checksum; the whatIf copy's log would
        // only record a history that never happened.
        actual: { store: actualStore, machine: new ShardMachine(actualStore, loadCore(), id, { log: true }) },
        whatIf: { store: whatIfStore, machine: new ShardMachine(whatIfStore, loadCore(), id, { log: false }) },
        switched: false,
        busy: false,
      });
      this.totalBatches += this.entriesToReplay(shard);
    }
  }

  /** The entries of a shard the what-if will replay: up to its starting position and not after `to`. */
  private entriesToReplay(shard: Shard): number {
    const { toMs } = this.options;
    if (toMs === undefined) return shard.cursor.lastSeq;
    let n = 0;
    for (const [, value] of logValues(shard.live, 1, shard.cursor.lastSeq)) {
      if (decodeLogHeader(value).committedAtMs > toMs) break;
      n += 1;
    }
    return n;
  }

  /** The next entry of a shard inside the window, or null. */
  private nextOf(shard: Shard): Entry | null {
    const entry = shard.cursor.peek();
    if (entry === null) return null;
    if (this.options.toMs !== undefined && entry.header.committedAtMs > this.options.toMs) return null;
    return entry;
  }

  /** The shard whose next entry comes first in commit-time order (ties: lower shard), among those not busy. */
  private earliest(notAfterMs = Number.POSITIVE_INFINITY): Shard | null {
    let best: Shard | null = null;
    let bestMs = Number.POSITIVE_INFINITY;
    for (const shard of this.shards) {
      if (shard.busy) continue;
      const entry = this.nextOf(shard);
      if (entry === null || entry.header.committedAtMs > notAfterMs) continue;
      if (entry.header.committedAtMs < bestMs) { best = shard; bestMs = entry.header.committedAtMs; }
    }
    return best;
  }

  async run(): Promise<void> {
    const pace = this.options.pace;
    // The job's size is known once the copies are open: said at once, not after the first entries.
    this.progress();
    // Making the scratch copies was a burst of reads and writes: beside a live server the replay
    // starts after one pause, as after any slice of work.
    if (pace !== undefined) await new Promise((resolve) => setTimeout(resolve, pace.pauseMs));
    const cancelled = this.options.cancelled ?? (() => false);
    let sliceStartedMs = performance.now();
    for (let shard = this.earliest(); shard !== null; shard = this.earliest()) {
      if (cancelled()) throw new WhatIfCancelled();
      this.step(shard);
      if (pace !== undefined && performance.now() - sliceStartedMs >= pace.workMs) {
        await new Promise((resolve) => setTimeout(resolve, pace.pauseMs));
        sliceStartedMs = performance.now();
      }
    }
    this.finalSweep();
    this.progress();
  }

  /** Takes and runs one shard's next entry on both copies. */
  private step(shard: Shard): void {
    const entry = shard.cursor.peek(Number.MAX_SAFE_INTEGER)!;
    shard.cursor.take();
    shard.busy = true;
    try {
      this.runEntry(shard, entry);
    } finally {
      shard.busy = false;
    }
    this.batches += 1;
    this.ops += entry.header.ops;
    this.lastCommittedMs = Math.max(this.lastCommittedMs, entry.header.committedAtMs);
    if (this.batches % PROGRESS_EVERY_BATCHES === 0) this.progress();
  }

  private progress(): void {
    this.options.onProgress?.({ batches: this.batches, totalBatches: Math.max(this.batches, this.totalBatches) });
  }

  /**
   * Runs other shards' entries committed no later than `atMs` (ahead of the merge order) until
   * `found` holds: what an entry needs from another shard (a credit's source batch, a referrer's
   * registration) committed before it, but may share its millisecond. Answers whether it holds.
   */
  private catchUp(atMs: number, found: () => boolean): boolean {
    while (!found()) {
      const shard = this.earliest(atMs);
      if (shard === null) return false;
      this.step(shard);
    }
    return true;
  }

  private runEntry(shard: Shard, entry: Entry): void {
    const { task } = decodeLogValue(entry.seq, entry.value);
    const atMs = entry.header.committedAtMs;
    // What the whatIf copy runs, prepared before either copy runs the entry (it may run other shards' entries first).
    const whatIfTask = this.whatIfTask(shard, task, atMs);
    const actualReply = shard.actual.machine.run(task, atMs, entry);
    if (!shard.switched && this.inWindow(atMs)) {
      // The other program takes over before the first entry at or after `from` (its version is the
      // next one, so the recorded change it replaces, if any, changes nothing more).
      const version = (shard.whatIf.machine.program?.version ?? 0) + 1;
      shard.whatIf.machine.run({ kind: 'program', version, program: this.options.program, atMs, record: false }, atMs);
      shard.switched = true;
    }
    const whatIfReply = whatIfTask === null ? null : shard.whatIf.machine.run(whatIfTask.task, atMs);
    if (task.kind === 'sweep' && whatIfReply !== null) this.drainSweep(shard, task.asOfMs, whatIfReply);
    if (task.kind === 'outboxDone') {
      for (const outSeq of task.outSeqs) this.counterparts.delete(`${shard.id}:${outSeq}`);
    }
    if (task.kind === 'batch' || task.kind === 'import') {
      const actual = actualReply as Extract<TaskReply, { results: OpResult[] }>;
      const whatIf = whatIfReply as Extract<TaskReply, { results: OpResult[] }>;
      this.compareOutcomes(shard, entry.seq, task, whatIfTask?.liveIndex ?? [], actual.results, whatIf?.results ?? []);
      this.matchOutbox(shard, actual.outbox, whatIf?.outbox ?? []);
    }
  }

  private inWindow(atMs: number): boolean {
    return this.options.fromMs === undefined || atMs >= this.options.fromMs;
  }

  /**
   * The task as the whatIf copy runs it (null: nothing to run), with, for a batch, the index in the
   * recorded batch of each op it runs (-1 for a credit, whose outcome is not compared).
   */
  private whatIfTask(shard: Shard, task: LoggedTask, atMs: number): { task: LoggedTask; liveIndex: number[] } | null {
    switch (task.kind) {
      case 'program':
        return this.inWindow(atMs) ? { task: { ...task, program: this.options.program }, liveIndex: [] } : { task, liveIndex: [] };
      case 'outboxDone':
        // The whatIf copy's outbox is not compared: its delivered messages simply stay there.
        return null;
      case 'term':
        // A cluster owner's takeover changes no books: the whatIf copy has nothing to run.
        return null;
      case 'import':
        return { task, liveIndex: task.rows.memberId.map((_, i) => i) };
      case 'sweep': case 'settle':
        // A sweep slice, and a program change's settling of members (which settles them under the
        // program the whatIf copy holds), run as recorded.
        return { task, liveIndex: [] };
      case 'batch': {
        const ops: WriteOp[] = [];
        const liveIndex: number[] = [];
        task.ops.forEach((op, i) => {
          if (op.op === 'credit') {
            const credit = this.creditFor(shard, op);
            if (credit !== null) { ops.push(credit); liveIndex.push(-1); }
            return;
          }
          ops.push(op.op === 'register' && this.inWindow(atMs) ? this.withChain(op, atMs) : op);
          liveIndex.push(i);
        });
        return ops.length === 0 ? null : { task: { kind: 'batch', ops }, liveIndex };
      }
    }
  }

  /** The whatIf copy's counterpart of a recorded credit (null when the other program sent none). */
  private creditFor(shard: Shard, op: CreditOp): CreditOp | null {
    assert.ok(op.key.startsWith(CREDIT_KEY_PREFIX), `a credit's key is ${CREDIT_KEY_PREFIX}<message id>`);
    const id = op.key.slice(CREDIT_KEY_PREFIX.length);
    if (!this.counterparts.has(id)) {
      const sourceId = Number(sourceShardOf(id));
      const outSeq = Number(id.slice(id.indexOf(':') + 1));
      const source = this.shards[sourceId];
      if (source === undefined || !Number.isSafeInteger(outSeq)) throw new LogReplayError(shard.id, shard.cursor.next - 1, 'sequence', `a credit of message ${id}, from a shard this folder does not have`);
      // The source's batch committed before this delivery, perhaps in the same millisecond: run it
      // (and what precedes it on its shard) now, unless the message was written and removed already.
      while (outSeq > (this.writtenOutSeq.get(sourceId) ?? 0) && !source.busy && source.cursor.peek(Number.MAX_SAFE_INTEGER) !== null) this.step(source);
      // A repeat of a credit whose message had left its outbox: a replay of the first, as it was live.
      if (!this.counterparts.has(id)) return null;
    }
    const counterpart = this.counterparts.get(id)!;
    if (counterpart === null) { this.credits.dropped += 1; return null; }
    this.credits.substituted += 1;
    return creditOp(counterpart);
  }

  /** A registration's referral chain from the whatIf copy of its referrer, cut to the other program's levels. */
  private withChain(op: RegisterOp, atMs: number): RegisterOp {
    if (op.referrerId === undefined) return op;
    const referrer = op.referrerId;
    let chain: string[] | null = null;
    this.catchUp(atMs, () => (chain = this.whatIfChainOf(referrer)) !== null);
    if (chain === null) return op;
    const full = [referrer, ...(chain as string[])].slice(0, this.options.program.referral.levels.length);
    const same = full.length === op.referralChain.length && full.every((id, i) => id === op.referralChain[i]);
    return same ? op : { ...op, referralChain: full };
  }

  private whatIfChainOf(memberId: string): string[] | null {
    for (const shard of this.shards) {
      const bytes = shard.whatIf.store.states.getBinaryFast(memberId);
      if (bytes !== undefined) return decodeState(bytes).referralChain;
    }
    return null;
  }

  /** Which shard's whatIf copy holds a member, or null. */
  private shardHolding(memberId: string): Shard | null {
    for (const shard of this.shards) if (shard.whatIf.store.states.doesExist(memberId)) return shard;
    return null;
  }

  /** Drains a sweep the whatIf copy found more due for than the recorded slice took. */
  private drainSweep(shard: Shard, asOfMs: number, reply: TaskReply): void {
    for (let r = reply as { more: boolean }; r.more;) {
      r = shard.whatIf.machine.run({ kind: 'sweep', asOfMs, limit: SWEEP_SLICE_MEMBERS }, asOfMs) as { more: boolean };
    }
  }

  /** Counts (and lists the first) client ops accepted on one copy and refused on the other. */
  private compareOutcomes(shard: Shard, seq: number, task: LoggedTask, liveIndex: number[], actual: OpResult[], whatIf: OpResult[]): void {
    const whatIfByLive = new Map<number, OpResult>();
    liveIndex.forEach((live, j) => { if (live >= 0) whatIfByLive.set(live, whatIf[j]!); });
    actual.forEach((a, i) => {
      if (task.kind === 'batch' && task.ops[i]!.op === 'credit') return;
      const w = whatIfByLive.get(i);
      assert.ok(w !== undefined, 'every client op of a batch runs on both copies');
      if (a.ok === w.ok) return;
      if (a.ok) this.divergences.acceptedThenRefused += 1; else this.divergences.refusedThenAccepted += 1;
      if (this.divergences.listed.length < WHAT_IF_DIVERGENCES_LISTED_MAX) {
        const op = task.kind === 'batch' ? task.ops[i]! : null;
        const listed: WhatIfDivergence = {
          shard: shard.id, seq, index: i, op: op?.op ?? 'import',
          memberId: op !== null ? op.memberId : (task as Extract<LoggedTask, { kind: 'import' }>).rows.memberId[i]!,
          actual: outcome(a), whatIf: outcome(w),
        };
        this.divergences.listed.push(listed);
      }
    });
  }

  /**
   * Pairs the outbox messages one entry wrote on the two copies: a whatIf message with a recorded
   * counterpart waits for the recorded delivery; one without is delivered now.
   */
  private matchOutbox(shard: Shard, actual: Array<[number, OutboxMessage]>, whatIf: Array<[number, OutboxMessage]>): void {
    const source = String(shard.id);
    const recorded = new Map<string, string>();
    for (const [outSeq, msg] of actual) {
      recorded.set(creditMatchKey(source, msg), msg.id);
      this.counterparts.set(msg.id, null);
      this.writtenOutSeq.set(shard.id, Math.max(outSeq, this.writtenOutSeq.get(shard.id) ?? 0));
    }
    const unmatched: OutboxMessage[] = [];
    for (const [, msg] of whatIf) {
      const liveId = recorded.get(creditMatchKey(source, msg));
      if (liveId !== undefined) this.counterparts.set(liveId, msg); else unmatched.push(msg);
    }
    const byTarget = new Map<Shard, CreditOp[]>();
    for (const msg of unmatched) {
      const target = this.shardHolding(msg.memberId);
      if (target === null) continue;
      let ops = byTarget.get(target);
      if (ops === undefined) { ops = []; byTarget.set(target, ops); }
      ops.push(creditOp(msg));
    }
    for (const [target, ops] of byTarget) {
      this.credits.added += ops.length;
      target.whatIf.machine.run({ kind: 'batch', ops }, ops[0]!.atMs);
    }
  }

  /** Both copies swept as of the comparison's end (`to`, else the last entry's commit time). */
  private finalSweep(): void {
    const asOfMs = this.options.toMs ?? this.lastCommittedMs;
    if (!Number.isFinite(asOfMs)) return;
    for (const shard of this.shards) {
      for (const side of [shard.actual, shard.whatIf]) {
        if (side.machine.program === null) continue;
        for (let more = true; more;) more = (side.machine.run({ kind: 'sweep', asOfMs, limit: SWEEP_SLICE_MEMBERS }, asOfMs) as { more: boolean }).more;
      }
    }
    this.sweptAsOfMs = asOfMs;
  }

  /** The two sets of books compared. */
  report(ms: number): WhatIfReport {
    const side = (pick: (s: Shard) => { store: ShardStore; machine: ShardMachine }, fallback: Program) => {
      const totals: BookTotals[] = [];
      let referralPoints = 0;
      for (const shard of this.shards) {
        const { store } = pick(shard);
        totals.push((store.meta.get('totals') as BookTotals | undefined) ?? emptyTotals());
        for (const { value } of store.refstats.getRange({})) referralPoints += value;
      }
      const program = pick(this.shards[0]!).machine.program?.program ?? fallback;
      return figuresOf(sumTotals(totals), referralPoints, program);
    };
    const actual = side((s) => s.actual, this.options.program);
    const whatIf = side((s) => s.whatIf, this.options.program);
    const top = new MostChanged(WHAT_IF_TOP_CHANGED);
    let membersTierDiffers = 0;
    for (const shard of this.shards) {
      membersTierDiffers += compareMembers(shard.actual.store, shard.whatIf.store, top);
    }
    const iso = (ms: number | undefined | null) => (ms === undefined || ms === null ? null : new Date(ms).toISOString());
    return {
      actual, whatIf, membersTierDiffers, topChanged: top.list,
      divergences: this.divergences,
      credits: this.credits,
      replay: {
        from: iso(this.options.fromMs), to: iso(this.options.toMs), sweptAsOf: iso(this.sweptAsOfMs),
        shards: this.shards.length, batches: this.batches, ops: this.ops, ms: Math.round(ms),
        batchesPerS: ms > 0 ? Math.round(this.batches / (ms / MS_PER_S)) : 0,
      },
    };
  }

  async close(): Promise<void> {
    for (const shard of this.shards) {
      await shard.actual?.store.root.close();
      await shard.whatIf?.store.root.close();
      await shard.live.root.close();
    }
  }
}

/**
 * Walks one shard's members on both copies in id order (a member lives on the same shard in
 * both), offers each whose points or tier differ to `top`, and answers how many tiers differ.
 */
function compareMembers(actual: ShardStore, whatIf: ShardStore, top: MostChanged): number {
  const a = actual.states.getRange({})[Symbol.iterator]();
  const w = whatIf.states.getRange({})[Symbol.iterator]();
  let na = a.next();
  let nw = w.next();
  let tierDiffers = 0;
  while (!na.done || !nw.done) {
    const ka = na.done ? null : na.value.key;
    const kw = nw.done ? null : nw.value.key;
    const takeA = ka !== null && (kw === null || ka <= kw);
    const takeW = kw !== null && (ka === null || kw <= ka);
    const sa = takeA ? decodeState(na.value!.value) : null;
    const sw = takeW ? decodeState(nw.value!.value) : null;
    const memberId = (takeA ? ka : kw)!;
    const actualTierId = sa?.tierId ?? null;
    const whatIfTierId = sw?.tierId ?? null;
    const actualPoints = sa?.points ?? 0;
    const whatIfPoints = sw?.points ?? 0;
    if (actualTierId !== whatIfTierId) tierDiffers += 1;
    if (actualTierId !== whatIfTierId || actualPoints !== whatIfPoints) top.offer({ memberId, actualPoints, whatIfPoints, actualTierId, whatIfTierId });
    if (takeA) na = a.next();
    if (takeW) nw = w.next();
  }
  return tierDiffers;
}

/**
 * Runs a what-if over `dataDir` and answers the report. Rejects with WhatIfUnavailable when it
 * cannot run, and with LogReplayError when the recorded history does not replay to its checksums
 * (`loyalty replay --check` then says more). The scratch folder is removed in every case.
 */
export async function runWhatIf(options: WhatIfOptions): Promise<WhatIfReport> {
  if (options.fromMs !== undefined && options.toMs !== undefined && options.fromMs > options.toMs) {
    throw new WhatIfUnavailable('from must not be after to');
  }
  const scratch = mkdtempSync(join(options.scratchParent ?? tmpdir(), 'loyalty-what-if-'));
  const started = performance.now();
  const run = new WhatIfRun(options, scratch);
  try {
    run.open();
    await run.run();
    return run.report(performance.now() - started);
  } finally {
    await run.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
