// The POS stream load client: N terminals, each the repository's own POS stream client (client/
// stream.ts, msgpack frames, whole batches through `sendBatch`) keeping a window of W unacked
// batches of K ops in flight, either for a duration or until a total of ops is sent. It measures
// each batch from send to ack and counts the ops the server applied and those it refused; what the
// client had to do to get there (reconnects, resent batches) is reported as a problem.
import WebSocket from 'ws';
import { PosStream, type StreamOp as ClientStreamOp, type WebSocketConstructor } from '../client/stream.js';
import { LatencySamples } from './http-client.js';

const MS_PER_S = 1000;
/** The server's window (engine/limits.ts STREAM_UNACKED_BATCHES_MAX); a client past it gets parked. */
export const WINDOW_BATCHES_MAX = 64;
/** Ops per batch the server accepts (engine/limits.ts STREAM_OPS_MAX). */
export const BATCH_OPS_MAX = 10_000;
/** A terminal that waits this long for any ack gives up: its unacked batches count as failed instead of hanging the run. */
const ACK_TIMEOUT_MS = 30_000;
/** Opening a connection, and the server's welcome, take at most this long. */
const OPEN_TIMEOUT_MS = 10_000;
/** How long a batch the server could not take (overloaded, stopping) waits before the client sends it again: short, as the run is timed. */
const RETRY_DELAY_MS = 50;
/** Acks are read back whole: a 10,000-op ack stays far below this. */
const ACK_BYTES_MAX = 64 * 1024 * 1024;
/** Error codes kept for the report, most frequent first. */
const PROBLEM_CODES_SHOWN = 5;

export type StreamOp = Record<string, unknown> & { op: string };

export interface WsLoadOptions {
  /** e.g. ws://127.0.0.1:8080/v1/stream */
  url: string;
  /** The Authorization header, `Bearer <key>`. */
  authorization: string;
  terminals: number;
  windowBatches: number;
  batchOps: number;
  /** Run for this long (then wait for the outstanding acks)… */
  durationMs?: number;
  /** …after running the same load this long uncounted (failures still count), past the JIT warm-up. */
  warmupMs?: number;
  /** …or until this many ops have been sent and acked. Exactly one of the two. */
  totalOps?: number;
  /** Builds op i (0, 1, 2, … across every terminal, in send order). */
  op: (i: number) => StreamOp;
}

export interface WsLoadResult {
  /** Ops acked with ok: true, in batches sent after the warm-up. */
  ops: number;
  opsPerS: number;
  batches: number;
  batchP50Ms: number;
  batchP99Ms: number;
  batchP999Ms: number;
  /** Ops acked with ok: false, in batches refused with an error frame, or lost with a connection. */
  failedOps: number;
  elapsedMs: number;
  /** The most frequent failure codes with their counts, e.g. "insufficient_wallet×12", and the client's reconnects and resent batches. */
  problems: string[];
  /** Connections the terminals opened again after losing one, and batches they sent again on them. */
  reconnects: number;
  resentBatches: number;
}

/** The `ws` package's WebSocket as the load wants it: no compression, room for the largest ack. */
class LoadSocket extends WebSocket {
  constructor(url: string) {
    super(url, { perMessageDeflate: false, maxPayload: ACK_BYTES_MAX, handshakeTimeout: OPEN_TIMEOUT_MS });
  }
}

/** Drives the terminals and reports once every terminal has drained its window and closed. */
export async function runWsLoad(options: WsLoadOptions): Promise<WsLoadResult> {
  const { terminals, windowBatches, batchOps, durationMs, totalOps } = options;
  if (!(Number.isInteger(terminals) && terminals > 0)) throw new RangeError(`ws load: terminals must be a positive integer, got ${terminals}`);
  if (!(Number.isInteger(windowBatches) && windowBatches > 0 && windowBatches <= WINDOW_BATCHES_MAX)) {
    throw new RangeError(`ws load: windowBatches must be 1..${WINDOW_BATCHES_MAX}, got ${windowBatches}`);
  }
  if (!(Number.isInteger(batchOps) && batchOps > 0 && batchOps <= BATCH_OPS_MAX)) throw new RangeError(`ws load: batchOps must be 1..${BATCH_OPS_MAX}, got ${batchOps}`);
  if ((durationMs === undefined) === (totalOps === undefined)) throw new RangeError('ws load: give exactly one of durationMs and totalOps');
  if (durationMs !== undefined && !(durationMs > 0)) throw new RangeError(`ws load: durationMs must be positive, got ${durationMs}`);
  if (totalOps !== undefined && !(Number.isInteger(totalOps) && totalOps > 0)) throw new RangeError(`ws load: totalOps must be a positive integer, got ${totalOps}`);
  const warmupMs = options.warmupMs ?? 0;
  if (!(warmupMs >= 0) || (warmupMs > 0 && durationMs === undefined)) throw new RangeError(`ws load: warmupMs must be at least 0, and only with durationMs, got ${warmupMs}`);

  const latency = new LatencySamples();
  const problemCounts = new Map<string, number>();
  const problem = (code: string, count: number): void => { problemCounts.set(code, (problemCounts.get(code) ?? 0) + count); };
  let okOps = 0;
  let failedOps = 0;
  let batches = 0;
  let opsIssued = 0;

  const key = options.authorization.replace(/^Bearer\s+/i, '');
  const streams = Array.from({ length: terminals }, () => new PosStream({
    url: options.url, key, WebSocket: LoadSocket as unknown as WebSocketConstructor, encoding: 'msgpack',
    batchOpsMax: batchOps, windowBatches, queuedOpsMax: batchOps * windowBatches, retryDelayMs: RETRY_DELAY_MS,
  }));
  // Connect every terminal before the clock starts: the handshake is not part of the load.
  let openTimer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.all(streams.map((s) => s.connected())),
      new Promise<never>((_, reject) => { openTimer = setTimeout(() => reject(new Error(`ws load: no welcome from ${options.url} within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS); }),
    ]);
  } catch (err) {
    await Promise.all(streams.map((s) => s.close(false)));
    throw err;
  } finally {
    clearTimeout(openTimer);
  }
  /** Batches sent from startMs on are measured; those before only warm up. */
  const startMs = performance.now() + warmupMs;
  const endMs = durationMs === undefined ? Number.POSITIVE_INFINITY : startMs + durationMs;
  /** Ops the next batch may carry: 0 once the run is over. */
  const nextBatchOps = (): number => {
    if (totalOps !== undefined) return Math.min(batchOps, totalOps - opsIssued);
    return performance.now() < endMs ? batchOps : 0;
  };

  const runTerminal = (stream: PosStream): Promise<void> => new Promise<void>((resolve) => {
    let inFlight = 0;
    let finished = false;
    // Restarted on every ack: it fires only when the server has gone quiet with batches outstanding.
    const watchdog = setTimeout(() => {
      if (inFlight > 0) problem('unacked_at_end', inFlight);
      finish(false);
    }, ACK_TIMEOUT_MS);

    const finish = (drained: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(watchdog);
      // Closing without draining rejects the batches still out: each counts its ops as failed.
      void stream.close(drained).then(resolve, resolve);
    };

    const fill = (): void => {
      while (!finished && inFlight < windowBatches) {
        const opCount = nextBatchOps();
        if (opCount === 0) break;
        const ops = new Array<ClientStreamOp>(opCount);
        for (let k = 0; k < opCount; k++) ops[k] = options.op(opsIssued++) as unknown as ClientStreamOp;
        const sentMs = performance.now();
        inFlight += 1;
        stream.sendBatch(ops).then((results) => {
          inFlight -= 1;
          watchdog.refresh();
          const measured = sentMs >= startMs;
          if (measured) {
            latency.record(performance.now() - sentMs);
            batches += 1;
          }
          for (const result of results) {
            if (!result.ok) { failedOps += 1; problem(result.error.code, 1); } else if (measured) { okOps += 1; }
          }
          fill();
        }, (err: Error) => {
          inFlight -= 1;
          failedOps += opCount;
          problem(`batch:${(err as { code?: string }).code ?? 'unanswered'}`, 1);
          fill();
        });
      }
      if (inFlight === 0) finish(true);
    };
    fill();
  });

  await Promise.all(streams.map(runTerminal));
  const elapsedMs = performance.now() - startMs;
  const reconnects = streams.reduce((n, s) => n + s.reconnects, 0);
  const resentBatches = streams.reduce((n, s) => n + s.resentBatches, 0);
  if (reconnects > 0) problem('reconnects', reconnects);
  if (resentBatches > 0) problem('resent_batches', resentBatches);
  const [batchP50Ms = Number.NaN, batchP99Ms = Number.NaN, batchP999Ms = Number.NaN] = latency.percentilesMs([0.5, 0.99, 0.999]);
  const problems = [...problemCounts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, PROBLEM_CODES_SHOWN)
    .map(([code, count]) => `${code}×${count}`);
  return { ops: okOps, opsPerS: (okOps * MS_PER_S) / elapsedMs, batches, batchP50Ms, batchP99Ms, batchP999Ms, failedOps, elapsedMs, problems, reconnects, resentBatches };
}
