// One shard's appends kept in flight together (docs/cluster.md, "Writing: the fence"): up to
// CLUSTER_APPENDS_IN_FLIGHT_MAX log values on their way to the shard's stream at once, each fenced
// on the one before it, and acknowledged to the caller in log order, so that a shard's batches per
// second are not bounded by one append's round trip. The owner's copy already holds every value it
// asks for (they are committed); the pipeline reads them through `read` only when a place in flight
// frees, so that a stalled stream holds no more than the bound in memory.
import assert from 'node:assert/strict';
import { CLUSTER_APPENDS_IN_FLIGHT_MAX } from '../limits.js';
import type { ReplicatedLog } from './fenced-append.js';

/** The values of stream sequences `fromSeq` … `toSeq` (inclusive), in order, read from the owner's copy. */
export type StreamValues = (fromSeq: number, toSeq: number) => Uint8Array[];

/** The outcome of one append, for the append after it: resolved once it is acknowledged, rejected when it failed. */
interface Outcome { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void }

function outcome(): Outcome {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  // Its failure is reported to the callers through their waits; the append after it only reads it.
  promise.catch(() => { /* reported by fail() */ });
  return { promise, resolve, reject };
}

/** A caller waiting for every message up to `seq` to be acknowledged. */
interface Waiter { seq: number; resolve: () => void; reject: (err: unknown) => void }

export class AppendPipeline {
  /** The last stream sequence asked for, sent, and acknowledged together with every one before it. */
  private wantedSeq: number;
  private sentSeq: number;
  private ackedSeq: number;
  /** The appends sent and not yet below `ackedSeq`, by stream sequence. */
  private readonly outcomes = new Map<number, Outcome>();
  /** Appends acknowledged while one before them was not (its retry overtaken), not yet counted in `ackedSeq`. */
  private readonly aheadSeqs = new Set<number>();
  private waiters: Waiter[] = [];
  /** The first append that failed: every wait for it or a later message fails with it, and nothing more is sent. */
  private failure: { seq: number; err: unknown } | null = null;
  /** The most appends that were in flight at once, for tests and benchmarks. */
  peakInFlight = 0;

  /**
   * `ackedSeq` is the stream's last sequence that the owner's copy holds too (the levelling's
   * common entry): the first append is fenced on it.
   */
  constructor(private readonly log: ReplicatedLog, readonly shard: number, ackedSeq: number, private readonly read: StreamValues, private readonly inFlightMax = CLUSTER_APPENDS_IN_FLIGHT_MAX) {
    assert.ok(Number.isSafeInteger(ackedSeq) && ackedSeq >= 0, 'the first fence is a stream sequence');
    assert.ok(Number.isInteger(inFlightMax) && inFlightMax >= 1, 'at least one append in flight');
    this.wantedSeq = this.sentSeq = this.ackedSeq = ackedSeq;
  }

  /** The stream sequence up to which every message is acknowledged. */
  get acknowledgedSeq(): number {
    return this.ackedSeq;
  }

  /**
   * Sends every message up to `seq` not sent yet (as places in flight free), and resolves once it
   * and every one before it are acknowledged. Rejects with the first failure at or before `seq`.
   */
  through(seq: number): Promise<void> {
    if (this.failure !== null && seq >= this.failure.seq) return Promise.reject(this.failure.err);
    if (seq <= this.ackedSeq) return Promise.resolve();
    if (seq > this.wantedSeq) this.wantedSeq = seq;
    const wait = new Promise<void>((resolve, reject) => { this.waiters.push({ seq, resolve, reject }); });
    this.send();
    return wait;
  }

  /** Resolves once every message asked for so far is acknowledged. */
  settled(): Promise<void> {
    return this.through(this.wantedSeq);
  }

  /** Sends the messages asked for, in order, while fewer than the bound are in flight. */
  private send(): void {
    if (this.failure !== null) return;
    const toSeq = Math.min(this.wantedSeq, this.ackedSeq + this.inFlightMax);
    if (toSeq <= this.sentSeq) return;
    let values: Uint8Array[];
    try {
      values = this.read(this.sentSeq + 1, toSeq);
      assert.equal(values.length, toSeq - this.sentSeq, `shard ${this.shard}: the copy holds ${values.length} of the values ${this.sentSeq + 1}…${toSeq}`);
    } catch (err) {
      // A committed value the copy cannot give: nothing from there on can be appended, and every wait for it fails.
      this.fail(this.sentSeq + 1, err);
      return;
    }
    for (const value of values) {
      const seq = ++this.sentSeq;
      // Fenced on the append before it while that one is in flight; on the sequence alone once it is acknowledged.
      const predecessor = this.outcomes.get(seq - 1)?.promise;
      const own = outcome();
      this.outcomes.set(seq, own);
      this.log.appendFenced(this.shard, value, seq - 1, predecessor).then(
        () => { own.resolve(); this.acknowledged(seq); },
        (err: unknown) => { own.reject(err); this.fail(seq, err); },
      );
    }
    this.peakInFlight = Math.max(this.peakInFlight, this.sentSeq - this.ackedSeq);
  }

  private acknowledged(seq: number): void {
    this.aheadSeqs.add(seq);
    while (this.aheadSeqs.delete(this.ackedSeq + 1)) this.outcomes.delete(++this.ackedSeq);
    const waiting: Waiter[] = [];
    // In the order the waits were asked for, which is the order of their sequences: replies leave in log order.
    for (const w of this.waiters) {
      if (w.seq <= this.ackedSeq) w.resolve();
      else waiting.push(w);
    }
    this.waiters = waiting;
    this.send();
  }

  private fail(seq: number, err: unknown): void {
    if (this.failure === null || seq < this.failure.seq) this.failure = { seq, err };
    const waiting: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.seq >= seq) w.reject(err);
      else waiting.push(w);
    }
    this.waiters = waiting;
  }
}
