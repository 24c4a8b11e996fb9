// The POS stream client: a terminal's operations over one WebSocket (GET /v1/stream, docs/api.md
// "The POS stream"), gathered into batches, at most a window of batches unacknowledged, each op's
// result a promise. When the connection drops or the server restarts it reconnects with a growing,
// jittered delay and sends every unacknowledged batch again: each op carries its key (an orderId, a
// requestId), so what was already applied answers again with `replayed: true` and nothing applies
// twice. Runs in browsers and in Node (pass the `ws` package's WebSocket where there is no global one).
import type { ErrorCode } from '../engine/errors.js';
import type { OpBodies } from '../server/schema/bodies.js';

/** The names of the stream's ops, and the body each takes (the same as its HTTP route's). */
export type OpName = keyof OpBodies;
export type { OpBodies };

/** One op's result: the HTTP answer with `ok: true`, or the refusal. A refusal never affects another op. */
export type OpResult =
  | ({ ok: true; replayed?: boolean } & Record<string, unknown>)
  | { ok: false; error: { code: ErrorCode; message: string; field?: string } };

/** The part of a WebSocket this client uses: the browser's, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface StreamOptions {
  /** `ws://127.0.0.1:8080/v1/stream` */
  url: string;
  /** The API key, sent in a hello frame (a browser cannot set the upgrade's headers). */
  key: string;
  /** The WebSocket to use; the global one unless told. */
  WebSocket?: WebSocketConstructor;
  /** Most ops in one batch; the server takes 10,000 and 1 MiB a frame: 500 ops stay far below both. */
  batchOpsMax?: number;
  /** Most batches unacknowledged at once; the server's window is 64. */
  windowBatches?: number;
  /** How long an op waits for others to share its batch. */
  lingerMs?: number;
  /** The first reconnect delay, doubled at each failed attempt up to `reconnectMaxMs`, each drawn at 50-100%. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Most ops waiting for a batch; `send` past it throws (the caller is sending faster than the server takes). */
  queuedOpsMax?: number;
  /** How long a batch the server could not take (stopping, out of room, overloaded) waits before it is sent again. */
  retryDelayMs?: number;
}

export const STREAM_DEFAULTS = { batchOpsMax: 500, windowBatches: 64, lingerMs: 2, reconnectMinMs: 100, reconnectMaxMs: 5_000, queuedOpsMax: 100_000, retryDelayMs: 1_000 } as const;

/** Error frames that say "send this batch again later": nothing of it was applied. */
const RETRYABLE: ReadonlySet<string> = new Set(['shutting_down', 'storage_failed', 'overloaded']);

interface PendingOp { frame: Record<string, unknown>; resolve: (r: OpResult) => void; reject: (e: Error) => void }
interface Batch { id: number; ops: PendingOp[]; text: string }

export class PosStream {
  /** Connections opened after the first, and batches sent again on them: what a run reports. */
  reconnects = 0;
  resentBatches = 0;
  private readonly o: Required<Omit<StreamOptions, 'WebSocket'>> & { WebSocket: WebSocketConstructor };
  private queue: PendingOp[] = [];
  /** Batches sent or to be sent, not yet acknowledged, in id order. */
  private readonly unacked = new Map<number, Batch>();
  private nextId = 1;
  private ws: WebSocketLike | null = null;
  private ready = false;
  private stopped = false;
  private attempts = 0;
  private lingerTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private idleWaiters: Array<() => void> = [];
  private fatal: Error | null = null;

  constructor(options: StreamOptions) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WS === undefined) throw new TypeError('no WebSocket here: pass one (in Node 20, the ws package\'s)');
    this.o = { ...STREAM_DEFAULTS, ...options, WebSocket: WS };
    this.connect();
  }

  /**
   * Sends one op; resolves with its result once the server has it on disk (or refused it), and
   * rejects only when the stream is closed first or its key is refused. Throws at once when
   * `queuedOpsMax` ops already wait: the caller should wait for answers before sending more.
   */
  send<N extends OpName>(op: N, body: OpBodies[N]): Promise<OpResult> {
    if (this.fatal !== null) return Promise.reject(this.fatal);
    if (this.stopped) return Promise.reject(new Error('the stream is closed'));
    if (this.queue.length >= this.o.queuedOpsMax) throw new Error(`more than ${this.o.queuedOpsMax} ops wait for the server`);
    return new Promise<OpResult>((resolve, reject) => {
      this.queue.push({ frame: { op, ...body }, resolve, reject });
      if (this.queue.length >= this.o.batchOpsMax) this.pump();
      else this.lingerTimer ??= setTimeout(() => { this.lingerTimer = null; this.pump(); }, this.o.lingerMs);
    });
  }

  /** Ops sent and not yet answered. */
  get pendingOps(): number {
    let n = this.queue.length;
    for (const b of this.unacked.values()) n += b.ops.length;
    return n;
  }

  /** Resolves once every op sent so far is answered. */
  flush(): Promise<void> {
    if (this.pendingOps === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Waits for every op to be answered (`drain`), then closes; without `drain`, the ops not answered are rejected. */
  async close(drain = true): Promise<void> {
    if (drain && this.fatal === null) await this.flush();
    this.stopped = true;
    for (const t of [this.lingerTimer, this.retryTimer]) if (t !== null) clearTimeout(t);
    this.failAll(new Error('the stream was closed before the server answered'));
    this.ws?.close(1000, 'done');
    this.ws = null;
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new this.o.WebSocket(this.o.url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', key: this.o.key }));
    ws.onmessage = (ev) => this.onFrame(ws, typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data as Uint8Array));
    ws.onerror = () => { /* the close that follows reconnects */ };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (!this.stopped && this.fatal === null) this.reconnectLater();
    };
  }

  private reconnectLater(): void {
    const ceiling = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** this.attempts);
    this.attempts += 1;
    // Jitter spreads the terminals of a store that all lost the same server.
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.reconnects += 1; this.connect(); }, ceiling * (0.5 + Math.random() / 2));
  }

  private onFrame(ws: WebSocketLike, text: string): void {
    let frame: { type?: string; id?: number; results?: OpResult[]; error?: { code: ErrorCode; message: string } };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return;
    }
    if (frame.type === 'welcome') {
      this.ready = true;
      this.attempts = 0;
      // Every batch not acknowledged goes again, oldest first: the server replays what it applied.
      for (const b of this.unacked.values()) {
        if (this.reconnects > 0) this.resentBatches += 1;
        ws.send(b.text);
      }
      this.pump();
    } else if (frame.type === 'ack' && frame.id !== undefined) {
      const batch = this.unacked.get(frame.id);
      if (batch === undefined) return;
      this.unacked.delete(frame.id);
      batch.ops.forEach((op, i) => op.resolve(frame.results?.[i] ?? { ok: false, error: { code: 'internal', message: 'the ack had no result for this op' } }));
      this.pump();
    } else if (frame.type === 'error') {
      this.onErrorFrame(ws, frame.id, frame.error ?? { code: 'internal', message: 'an error frame without an error' });
    }
  }

  private onErrorFrame(ws: WebSocketLike, id: number | undefined, error: { code: ErrorCode; message: string }): void {
    const batch = id === undefined ? undefined : this.unacked.get(id);
    if (batch === undefined) {
      // A refused hello: the key is wrong or revoked, and no reconnect will mend that.
      if (error.code === 'unauthorized') {
        this.fatal = Object.assign(new Error(`the stream refused the key: ${error.message}`), { code: error.code });
        this.failAll(this.fatal);
        ws.close(1000, 'unauthorized');
      }
      return;
    }
    if (RETRYABLE.has(error.code)) {
      // Nothing of it was applied; the server is stopping (a reconnect resends it) or out of room.
      setTimeout(() => { if (this.ws === ws && this.ready && this.unacked.has(batch.id)) ws.send(batch.text); }, this.o.retryDelayMs);
      return;
    }
    this.unacked.delete(batch.id);
    for (const op of batch.ops) op.resolve({ ok: false, error });
    if (error.code === 'unauthorized') {
      this.fatal = Object.assign(new Error(`the stream refused the key: ${error.message}`), { code: error.code });
      this.failAll(this.fatal);
    }
    this.pump();
  }

  /** Forms and sends batches while the window has room. */
  private pump(): void {
    if (this.lingerTimer !== null) { clearTimeout(this.lingerTimer); this.lingerTimer = null; }
    while (this.queue.length > 0 && this.unacked.size < this.o.windowBatches) {
      const ops = this.queue.splice(0, this.o.batchOpsMax);
      const id = this.nextId++;
      const batch: Batch = { id, ops, text: JSON.stringify({ type: 'batch', id, ops: ops.map((o) => o.frame) }) };
      this.unacked.set(id, batch);
      if (this.ready && this.ws !== null) this.ws.send(batch.text);
    }
    if (this.pendingOps === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private failAll(err: Error): void {
    for (const b of this.unacked.values()) for (const op of b.ops) op.reject(err);
    this.unacked.clear();
    for (const op of this.queue.splice(0)) op.reject(err);
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
