// The HTTP load client: an undici Pool of C keep-alive connections (no pipelining) driven for a fixed
// duration, either closed-loop (every connection sends its next request as soon as the last one is
// answered: the maximum rate) or open-loop at a target rate (requests leave on a schedule whether or
// not earlier ones were answered, and latency counts from the scheduled time, so a stalled server
// shows up in the percentiles instead of hiding behind fewer requests).
import { Pool } from 'undici';

const MS_PER_S = 1000;
/** Samples the recorder holds before it starts doubling its buffer. */
const SAMPLES_INITIAL = 1 << 18;
/** At most 2^24 samples (128 MiB): minutes at the rates this machine reaches. Later samples are dropped. */
const SAMPLES_MAX = 1 << 24;
/** A request unanswered this long counts as an error instead of hanging the run. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Open loop: requests in flight per connection before the scheduler waits (they still count from their scheduled time). */
const OPEN_LOOP_INFLIGHT_PER_CONNECTION_MAX = 64;
/** Open loop: how often the scheduler wakes to send what has come due. */
const SCHEDULER_TICK_MS = 1;

/** Latency samples in milliseconds, in a preallocated Float64Array that doubles up to SAMPLES_MAX. */
export class LatencySamples {
  #samples = new Float64Array(SAMPLES_INITIAL);
  #count = 0;
  #droppedCount = 0;

  get count(): number { return this.#count; }
  get droppedCount(): number { return this.#droppedCount; }

  record(latencyMs: number): void {
    if (this.#count === this.#samples.length) {
      if (this.#samples.length >= SAMPLES_MAX) { this.#droppedCount += 1; return; }
      const grown = new Float64Array(Math.min(this.#samples.length * 2, SAMPLES_MAX));
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = latencyMs;
  }

  /** Nearest-rank percentiles (q in 0..1) over every recorded sample; NaN when there are none. */
  percentilesMs(qs: readonly number[]): number[] {
    const sorted = this.#samples.slice(0, this.#count).sort();
    return qs.map((q) => {
      if (sorted.length === 0) return Number.NaN;
      const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
      return sorted[rank - 1]!;
    });
  }
}

export interface HttpRequestSpec { path: string; body: string }

export interface HttpLoadOptions {
  /** e.g. http://127.0.0.1:8080 */
  origin: string;
  connections: number;
  durationMs: number;
  /** The same load runs this long first, uncounted, so that both ends are past their JIT warm-up. */
  warmupMs?: number;
  /** Open loop at this rate when set; closed loop (maximum rate) when not. */
  targetReqPerS?: number;
  /** Sent with every request (authorization, say); content-type is always application/json. */
  headers?: Record<string, string>;
  /** Builds request i (0, 1, 2, … in send order). Always a POST. */
  request: (i: number) => HttpRequestSpec;
}

export interface HttpLoadResult {
  /** Requests answered (any status). */
  requests: number;
  /** Requests that failed without an answer (connection error, timeout). */
  errors: number;
  /** Answers with a status outside 200..299. */
  non2xx: number;
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  elapsedMs: number;
  /** The first transport error or non-2xx answer, to say what went wrong. */
  firstProblem?: string;
  /**
   * Open loop only: how late the client itself sent its requests, p50 and p99 of the time from a
   * request's scheduled moment to its send (the scheduler's tick, and a client that falls behind).
   * The latencies above count from the scheduled moment, so they include this lag.
   */
  sendLagP50Ms?: number;
  sendLagP99Ms?: number;
}

/**
 * Runs the load for options.warmupMs uncounted, then options.durationMs counted, waits for the
 * requests in flight, and reports on the requests sent during the counted part.
 */
export async function runHttpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const { origin, connections, durationMs, targetReqPerS } = options;
  if (!(Number.isInteger(connections) && connections > 0)) throw new RangeError(`http load: connections must be a positive integer, got ${connections}`);
  if (!(durationMs > 0)) throw new RangeError(`http load: durationMs must be positive, got ${durationMs}`);
  if (targetReqPerS !== undefined && !(targetReqPerS > 0)) throw new RangeError(`http load: targetReqPerS must be positive, got ${targetReqPerS}`);

  const pool = new Pool(origin, {
    connections,
    pipelining: 1,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    connectTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: REQUEST_TIMEOUT_MS,
  });
  const headers = { 'content-type': 'application/json', ...options.headers };
  const latency = new LatencySamples();
  const sendLag = new LatencySamples();
  let requests = 0;
  let errors = 0;
  let non2xx = 0;
  let firstProblem: string | undefined;
  let sent = 0;
  const warmupMs = options.warmupMs ?? 0;
  if (!(warmupMs >= 0)) throw new RangeError(`http load: warmupMs must be at least 0, got ${warmupMs}`);
  const warmupStartMs = performance.now();
  /** Requests sent from here on are measured; those sent before only warm up (their failures still count). */
  const startMs = warmupStartMs + warmupMs;
  const endMs = startMs + durationMs;

  /** Sends request i and records its latency from startedMs (the scheduled time in the open loop). */
  const send = async (startedMs: number): Promise<void> => {
    const spec = options.request(sent++);
    const measured = startedMs >= startMs;
    if (measured && targetReqPerS !== undefined) sendLag.record(performance.now() - startedMs);
    try {
      const res = await pool.request({ method: 'POST', path: spec.path, headers, body: spec.body });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await res.body.dump();
      } else {
        const text = await res.body.text();
        non2xx += 1;
        firstProblem ??= `HTTP ${res.statusCode} ${text.slice(0, 200)}`;
      }
      if (measured) {
        requests += 1;
        latency.record(performance.now() - startedMs);
      }
    } catch (err) {
      errors += 1;
      firstProblem ??= err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
  };

  try {
    if (targetReqPerS === undefined) {
      const loop = async (): Promise<void> => {
        while (performance.now() < endMs) await send(performance.now());
      };
      await Promise.all(Array.from({ length: connections }, loop));
    } else {
      const intervalMs = MS_PER_S / targetReqPerS;
      const inflightMax = connections * OPEN_LOOP_INFLIGHT_PER_CONNECTION_MAX;
      const inflight = new Set<Promise<void>>();
      let issued = 0;
      for (;;) {
        const nowMs = performance.now();
        if (nowMs >= endMs) break;
        const due = Math.floor((nowMs - warmupStartMs) / intervalMs) + 1;
        while (issued < due && inflight.size < inflightMax) {
          const p: Promise<void> = send(warmupStartMs + issued * intervalMs).finally(() => inflight.delete(p));
          inflight.add(p);
          issued += 1;
        }
        await new Promise((resolve) => setTimeout(resolve, SCHEDULER_TICK_MS));
      }
      await Promise.all(inflight);
    }
  } finally {
    await pool.close();
  }
  const elapsedMs = performance.now() - startMs;
  const [p50Ms = Number.NaN, p99Ms = Number.NaN, p999Ms = Number.NaN] = latency.percentilesMs([0.5, 0.99, 0.999]);
  const result: HttpLoadResult = { requests, errors, non2xx, reqPerS: (requests * MS_PER_S) / elapsedMs, p50Ms, p99Ms, p999Ms, elapsedMs };
  if (firstProblem !== undefined) result.firstProblem = firstProblem;
  if (targetReqPerS !== undefined) [result.sendLagP50Ms = Number.NaN, result.sendLagP99Ms = Number.NaN] = sendLag.percentilesMs([0.5, 0.99]);
  return result;
}
