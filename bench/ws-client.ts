// The POS stream load client: N terminals (WebSocket, msgpack binary frames), each keeping a window
// of W unacked batches of K ops in flight, either for a duration or until a total of ops is sent.
// It measures each batch from send to ack and counts the ops the server applied and those it refused.
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { LatencySamples } from './http-client.js';

const MS_PER_S = 1000;
/** The server's window (engine/limits.ts STREAM_UNACKED_BATCHES_MAX); a client past it gets parked. */
export const WINDOW_BATCHES_MAX = 64;
/** Ops per batch the server accepts (engine/limits.ts STREAM_OPS_MAX). */
export const BATCH_OPS_MAX = 10_000;
/** A terminal that waits this long for any ack gives up: its unacked batches count as failed instead of hanging the run. */
const ACK_TIMEOUT_MS = 30_000;
/** Opening a connection takes at most this long. */
const OPEN_TIMEOUT_MS = 10_000;
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
  /** The most frequent failure codes with their counts, e.g. "overloaded×12". */
  problems: string[];
}

interface AckFrame { type: 'ack'; id: number; results: Array<{ ok: boolean; error?: { code?: string } }> }
interface ErrorFrame { type: 'error'; id?: number; error?: { code?: string; message?: string } }

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

  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  const latency = new LatencySamples();
  const problemCounts = new Map<string, number>();
  const problem = (code: string, count: number): void => { problemCounts.set(code, (problemCounts.get(code) ?? 0) + count); };
  let okOps = 0;
  let failedOps = 0;
  let batches = 0;
  let opsIssued = 0;

  // Connect every terminal before the clock starts: the handshake is not part of the load.
  const sockets = await Promise.all(Array.from({ length: terminals }, () => openSocket(options.url, options.authorization)));
  /** Batches sent from startMs on are measured; those before only warm up. */
  const startMs = performance.now() + warmupMs;
  const endMs = durationMs === undefined ? Number.POSITIVE_INFINITY : startMs + durationMs;
  /** Ops the next batch may carry: 0 once the run is over. */
  const nextBatchOps = (): number => {
    if (totalOps !== undefined) return Math.min(batchOps, totalOps - opsIssued);
    return performance.now() < endMs ? batchOps : 0;
  };

  const runTerminal = (ws: WebSocket): Promise<void> => new Promise<void>((resolve) => {
    /** Unacked batches by id, with their send time and op count. */
    const pending = new Map<number, { sentMs: number; opCount: number }>();
    let nextId = 1;
    let finished = false;
    // Restarted on every ack: it fires only when the server has gone quiet with batches outstanding.
    const watchdog = setTimeout(() => finish(), ACK_TIMEOUT_MS);

    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(watchdog);
      for (const batch of pending.values()) failedOps += batch.opCount;
      if (pending.size > 0) problem('unacked_at_end', pending.size);
      pending.clear();
      ws.removeAllListeners('message');
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        ws.once('close', () => resolve());
        ws.close(1000, 'done');
      } else {
        resolve();
      }
    };

    const fill = (): void => {
      while (pending.size < windowBatches && ws.readyState === WebSocket.OPEN) {
        const opCount = nextBatchOps();
        if (opCount === 0) break;
        const ops = new Array<StreamOp>(opCount);
        for (let k = 0; k < opCount; k++) ops[k] = options.op(opsIssued++);
        const id = nextId++;
        const frame = packr.pack({ type: 'batch', id, ops });
        pending.set(id, { sentMs: performance.now(), opCount });
        ws.send(frame, { binary: true });
      }
      if (pending.size === 0) finish();
    };

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let frame: AckFrame | ErrorFrame;
      try {
        frame = (isBinary ? packr.unpack(data) : JSON.parse(data.toString('utf8'))) as AckFrame | ErrorFrame;
      } catch {
        problem('undecodable_frame', 1);
        return;
      }
      const batch = typeof frame.id === 'number' ? pending.get(frame.id) : undefined;
      if (batch !== undefined) watchdog.refresh();
      if (frame.type === 'ack' && batch !== undefined) {
        const measured = batch.sentMs >= startMs;
        pending.delete(frame.id);
        if (measured) {
          latency.record(performance.now() - batch.sentMs);
          batches += 1;
        }
        for (const result of frame.results) {
          if (!result.ok) { failedOps += 1; problem(result.error?.code ?? 'unknown', 1); } else if (measured) { okOps += 1; }
        }
        if (frame.results.length !== batch.opCount) {
          failedOps += Math.max(0, batch.opCount - frame.results.length);
          problem('short_ack', 1);
        }
      } else if (frame.type === 'error' && batch !== undefined) {
        pending.delete(frame.id!);
        failedOps += batch.opCount;
        problem(`batch:${frame.error?.code ?? 'unknown'}`, 1);
      } else {
        problem(`unexpected_${String(frame.type)}_frame`, 1);
        return;
      }
      fill();
    });
    ws.on('error', (err) => { problem(`socket_error:${err.message}`, 1); });
    ws.on('close', (code) => {
      if (!finished) { problem(`closed_by_server:${code}`, 1); finish(); }
    });
    fill();
  });

  try {
    await Promise.all(sockets.map(runTerminal));
  } finally {
    for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  }
  const elapsedMs = performance.now() - startMs;
  const [batchP50Ms = Number.NaN, batchP99Ms = Number.NaN, batchP999Ms = Number.NaN] = latency.percentilesMs([0.5, 0.99, 0.999]);
  const problems = [...problemCounts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, PROBLEM_CODES_SHOWN)
    .map(([code, count]) => `${code}×${count}`);
  return { ops: okOps, opsPerS: (okOps * MS_PER_S) / elapsedMs, batches, batchP50Ms, batchP99Ms, batchP999Ms, failedOps, elapsedMs, problems };
}

function openSocket(url: string, authorization: string): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization }, perMessageDeflate: false, maxPayload: ACK_BYTES_MAX, handshakeTimeout: OPEN_TIMEOUT_MS });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => { reject(new Error(`ws load: upgrade refused with HTTP ${res.statusCode}`)); ws.terminate(); });
    // Kept for the socket's life: a later error then settles nothing here, and never goes unheard.
    ws.on('error', reject);
  });
}
