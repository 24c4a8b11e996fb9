// The POS stream client: a terminal's operations over one WebSocket (GET /v1/stream, docs/api.md
// "The POS stream"), gathered into batches, at most a window of batches unacknowledged, each op's
// result a promise. It may know several nodes of a cluster (every node serves the stream and
// forwards to the owner): when a connection drops, cannot be opened, or its node says it cannot
// take batches (a standby with no owner to forward to, a node stopping), it connects to the next
// node in turn, and once every node has failed in a row it waits a growing, jittered delay before
// the next round. On each new connection it sends every unacknowledged batch again: each op carries
// its key (an orderId, a requestId), so what was already applied answers again with
// `replayed: true` and nothing applies twice. Frames are JSON (text) or msgpack (binary), as the
// server takes both. Runs in browsers and in Node (pass the `ws` package's WebSocket where there is
// no global one); msgpackr runs in both.
import { Packr } from 'msgpackr';
import type { ErrorCode } from '../engine/errors.js';
import type { OpBodies } from '../server/schema/bodies.js';

/** The names of the stream's ops, and the body each takes (the same as its HTTP route's). */
export type OpName = keyof OpBodies;
export type { OpBodies };

/** One op's result: the HTTP answer with `ok: true`, or the refusal. A refusal never affects another op. */
export type OpResult =
  | ({ ok: true; replayed?: boolean } & Record<string, unknown>)
  | { ok: false; error: { code: ErrorCode; message: string; field?: string } };

/** One op as a batch carries it: its name and its body. */
export type StreamOp = { [N in OpName]: { op: N } & OpBodies[N] }[OpName];

/** The part of a WebSocket this client uses: the browser's, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  /** A browser's socket hands binary frames over as Blobs unless told `arraybuffer`. */
  binaryType?: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface StreamOptions {
  /** `ws://127.0.0.1:8080/v1/stream`: one node; the same as `urls: [url]`. */
  url?: string;
  /**
   * The nodes to use, tried in this order (`ws://` or `wss://`, at least one): the stream starts on
   * the first and moves to the next when its node is lost. Give every node of a cluster.
   */
  urls?: readonly string[];
  /** The API key, sent in a hello frame (a browser cannot set the upgrade's headers). */
  key: string;
  /** The WebSocket to use; the global one unless told. */
  WebSocket?: WebSocketConstructor;
  /** JSON in text frames (readable in a browser's network panel), or msgpack in binary frames (smaller, faster to encode). */
  encoding?: 'json' | 'msgpack';
  /** Most ops in one batch; the server takes 10,000 and 1 MiB a frame: 500 ops stay far below both. */
  batchOpsMax?: number;
  /** Most batches unacknowledged at once; the server's window is 64. */
  windowBatches?: number;
  /** How long an op waits for others to share its batch. */
  lingerMs?: number;
  /**
   * The delay before a new round of connections once every node has failed in a row (the next node
   * after one failure is tried at once): doubled at each round that fails up to `reconnectMaxMs`,
   * each drawn at 50-100%. With one node, each reconnect waits it.
   */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Most ops waiting for a batch; `send` past it throws (the caller is sending faster than the server takes). */
  queuedOpsMax?: number;
  /** How long a batch the server could not take (stopping, out of room, overloaded) waits before it is sent again. */
  retryDelayMs?: number;
  /** Longest wait in `close` for the server to answer the close. */
  closeWaitMs?: number;
  /** Longest wait from opening a connection to the server's welcome before the next node is tried (a dead machine may never refuse). */
  connectTimeoutMs?: number;
  /** Called with a node's URL each time a connection to it is welcomed: a terminal shows which node it is on. */
  onNode?: (url: string) => void;
}

export const STREAM_DEFAULTS = { encoding: 'json', batchOpsMax: 500, windowBatches: 64, lingerMs: 2, reconnectMinMs: 100, reconnectMaxMs: 5_000, queuedOpsMax: 100_000, retryDelayMs: 1_000, closeWaitMs: 1_000, connectTimeoutMs: 5_000 } as const;

/** WebSocket.CLOSED: the same number in browsers and in the `ws` package. */
const WS_CLOSED = 3;

/** Error frames that say "send this batch again later": nothing of it was applied. */
const RETRYABLE: ReadonlySet<string> = new Set(['shutting_down', 'storage_failed', 'overloaded']);

/**
 * Error frames that say "this node cannot take batches, another may": a standby with no owner to
 * forward to, a node stopping. Nothing of the batch was applied; with more than one node the
 * stream moves to the next one and resends there. Storage and overload stay on the node: every
 * node forwards to the same owner, so another node would answer the same.
 */
const NEXT_NODE: ReadonlySet<string> = new Set(['not_owner', 'shutting_down']);

/** The URLs of the options, checked: at least one, each a WebSocket URL. */
function nodeUrls(options: StreamOptions): readonly string[] {
  const urls = options.urls ?? (options.url === undefined ? [] : [options.url]);
  if (options.urls !== undefined && options.url !== undefined) throw new TypeError('give url or urls, not both');
  if (urls.length === 0) throw new TypeError('the stream needs at least one node: url or urls');
  for (const url of urls) if (!/^wss?:\/\/[^/]/.test(url)) throw new TypeError(`a node's URL starts with ws:// or wss://, not ${JSON.stringify(url)}`);
  return [...urls];
}

/** The server's msgpack settings (server/stream/frames.ts): plain maps, no record extension. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

interface PendingOp { frame: Record<string, unknown>; resolve: (r: OpResult) => void; reject: (e: Error) => void }
/** A batch of ops answered together: one settle for all its results, so that a caller sending whole batches pays for no per-op promise. */
interface Batch { id: number; opCount: number; payload: string | Uint8Array; settle: (results: OpResult[]) => void; fail: (e: Error) => void }

type Frame = { type?: string; id?: number; results?: OpResult[]; error?: { code: ErrorCode; message: string } };

export class PosStream {
  /** Connections opened after the first, and batches (and their ops) sent again on them: what a run reports. */
  reconnects = 0;
  resentBatches = 0;
  resentOps = 0;
  /** Connections given up for the next node: dropped, refused, not welcomed in time, or a node that cannot take batches. */
  nodeMoves = 0;
  private readonly o: Required<Omit<StreamOptions, 'WebSocket' | 'url' | 'urls' | 'onNode'>> & { WebSocket: WebSocketConstructor; onNode?: (url: string) => void };
  private readonly urls: readonly string[];
  /** The node connected or being connected to, as an index of `urls`. */
  private urlIndex = 0;
  /** Connections failed in a row since a working one dropped: a round is complete when every node has failed once. */
  private failedInRound = 0;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private queue: PendingOp[] = [];
  /** Whole batches given to `sendBatch` (and the single ops queued before them) waiting for room in the window. */
  private waiting: Batch[] = [];
  /** Batches sent or to be sent, not yet acknowledged, in id order. */
  private readonly unacked = new Map<number, Batch>();
  /** The ops of those batches, kept as a count: `pump` asks after every ack. */
  private unackedOps = 0;
  private nextId = 1;
  private ws: WebSocketLike | null = null;
  private ready = false;
  private stopped = false;
  /** Rounds failed in a row: the exponent of the next round's delay. */
  private attempts = 0;
  private lingerTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private idleWaiters: Array<() => void> = [];
  private fatal: Error | null = null;
  private connectedWaiters: Array<(err: Error | null) => void> = [];
  private welcomed = false;

  constructor(options: StreamOptions) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WS === undefined) throw new TypeError('no WebSocket here: pass one (in Node 20, the ws package\'s)');
    this.urls = nodeUrls(options);
    const { url: _url, urls: _urls, ...rest } = options;
    this.o = { ...STREAM_DEFAULTS, ...rest, WebSocket: WS };
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
    if (this.queuedOps() >= this.o.queuedOpsMax) throw new Error(`more than ${this.o.queuedOpsMax} ops wait for the server`);
    return new Promise<OpResult>((resolve, reject) => {
      this.queue.push({ frame: { op, ...body }, resolve, reject });
      if (this.queue.length >= this.o.batchOpsMax) this.pump();
      else this.lingerTimer ??= setTimeout(() => { this.lingerTimer = null; this.pump(); }, this.o.lingerMs);
    });
  }

  /**
   * Sends these ops as one batch, after every op sent before, and resolves with their results in
   * order: the same window, resends and replays as `send`, with one promise for the batch rather
   * than one per op (what a load harness at a few hundred thousand ops a second needs). Throws at
   * once when the batch holds more than `batchOpsMax` ops, or `queuedOpsMax` would be passed.
   */
  sendBatch(ops: readonly StreamOp[]): Promise<OpResult[]> {
    if (this.fatal !== null) return Promise.reject(this.fatal);
    if (this.stopped) return Promise.reject(new Error('the stream is closed'));
    if (ops.length === 0 || ops.length > this.o.batchOpsMax) throw new RangeError(`a batch holds 1 to ${this.o.batchOpsMax} ops, not ${ops.length}`);
    if (this.queuedOps() + ops.length > this.o.queuedOpsMax) throw new Error(`more than ${this.o.queuedOpsMax} ops wait for the server`);
    return new Promise<OpResult[]>((resolve, reject) => {
      // The single ops queued before this batch go first, in batches of their own.
      while (this.queue.length > 0) this.waiting.push(this.formBatch(this.queue.splice(0, this.o.batchOpsMax)));
      this.waiting.push(this.encodeBatch(ops, resolve, reject));
      this.pump();
    });
  }

  /** Resolves once the server has welcomed the first connection (the key is good); rejects if it refused the key or the stream was closed first. */
  connected(): Promise<void> {
    if (this.fatal !== null) return Promise.reject(this.fatal);
    if (this.welcomed) return Promise.resolve();
    return new Promise((resolve, reject) => this.connectedWaiters.push((err) => (err === null ? resolve() : reject(err))));
  }

  /** The URL of the node this stream is on (welcomed), or null while it is between nodes. */
  get node(): string | null {
    return this.ready ? this.urls[this.urlIndex]! : null;
  }

  /** Ops sent and not yet answered. */
  get pendingOps(): number {
    return this.queuedOps() + this.unackedOps;
  }

  /** Ops not yet in the window. */
  private queuedOps(): number {
    let n = this.queue.length;
    for (const b of this.waiting) n += b.opCount;
    return n;
  }

  /** Resolves once every op sent so far is answered. */
  flush(): Promise<void> {
    if (this.pendingOps === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Waits for every op to be answered (`drain`), then closes and waits for the close to be answered; without `drain`, the ops not answered are rejected. */
  async close(drain = true): Promise<void> {
    if (drain && this.fatal === null) await this.flush();
    this.stopped = true;
    for (const t of [this.lingerTimer, this.retryTimer, this.connectTimer]) if (t !== null) clearTimeout(t);
    this.failAll(new Error('the stream was closed before the server answered'));
    const ws = this.ws;
    this.ws = null;
    if (ws === null) return;
    // Resolves once the server has answered the close (so that a Node process can exit at once), or
    // after closeWaitMs when it does not answer: a closed stream must not hang its caller.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.o.closeWaitMs);
      ws.onclose = () => { clearTimeout(timer); resolve(); };
      ws.close(1000, 'done');
      if (ws.readyState === WS_CLOSED) { clearTimeout(timer); resolve(); }
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new this.o.WebSocket(this.urls[this.urlIndex]!);
    this.ws = ws;
    if (ws.binaryType === 'blob') ws.binaryType = 'arraybuffer';
    ws.onopen = () => ws.send(this.encode({ type: 'hello', key: this.o.key }));
    ws.onmessage = (ev) => this.onFrame(ws, ev.data);
    ws.onerror = () => { /* the close that follows moves on */ };
    ws.onclose = () => { if (this.ws === ws) this.lost(true); };
    this.connectTimer = setTimeout(() => { this.connectTimer = null; this.leave(ws); }, this.o.connectTimeoutMs);
  }

  /** Gives a connection up (its node cannot take batches, or did not welcome in time) and moves to the next node. */
  private leave(ws: WebSocketLike): void {
    if (this.ws !== ws) return;
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    try { ws.close(1000, 'moving to another node'); } catch { /* a socket still connecting may refuse to close: it is dropped all the same */ }
    this.lost(false);
  }

  /**
   * The connection is gone: the next node is tried at once, unless every node has now failed in a
   * row, when the next round waits a delay doubled at each failed round (jittered, so that the
   * terminals of a store that all lost the same node do not come back at once). A node that had
   * welcomed the stream and then dropped was working: the count starts again. One that welcomed
   * and then could not take batches (`dropped` false) counts as failed, so that a standby with no
   * owner and a dead node are not asked in a tight loop.
   */
  private lost(dropped: boolean): void {
    if (this.connectTimer !== null) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    if (this.ready && dropped) { this.failedInRound = 0; this.attempts = 0; }
    this.ws = null;
    this.ready = false;
    if (this.stopped || this.fatal !== null) return;
    this.nodeMoves += 1;
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.failedInRound += 1;
    let delayMs = 0;
    if (this.failedInRound >= this.urls.length) {
      this.failedInRound = 0;
      delayMs = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** this.attempts) * (0.5 + Math.random() / 2);
      this.attempts += 1;
    }
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.reconnects += 1; this.connect(); }, delayMs);
  }

  private encode(frame: unknown): string | Uint8Array {
    return this.o.encoding === 'msgpack' ? packr.pack(frame) : JSON.stringify(frame);
  }

  /** The server answers each frame in its encoding: text frames are JSON, binary ones msgpack. */
  private decode(data: unknown): Frame | null {
    try {
      if (typeof data === 'string') return JSON.parse(data) as Frame;
      if (data instanceof ArrayBuffer) return packr.unpack(new Uint8Array(data)) as Frame;
      if (ArrayBuffer.isView(data)) return packr.unpack(data as Uint8Array) as Frame;
    } catch {
      return null;
    }
    return null;
  }

  private onFrame(ws: WebSocketLike, data: unknown): void {
    const frame = this.decode(data);
    if (frame === null) return;
    if (frame.type === 'welcome') {
      if (this.connectTimer !== null) { clearTimeout(this.connectTimer); this.connectTimer = null; }
      this.ready = true;
      this.o.onNode?.(this.urls[this.urlIndex]!);
      // Every batch not acknowledged goes again, oldest first: the server replays what it applied.
      for (const b of this.unacked.values()) {
        if (this.reconnects > 0) { this.resentBatches += 1; this.resentOps += b.opCount; }
        ws.send(b.payload);
      }
      this.welcomed = true;
      for (const w of this.connectedWaiters.splice(0)) w(null);
      this.pump();
    } else if (frame.type === 'ack' && frame.id !== undefined) {
      const batch = this.unacked.get(frame.id);
      if (batch === undefined) return;
      this.unacked.delete(frame.id);
      this.unackedOps -= batch.opCount;
      const results = frame.results ?? [];
      if (results.length < batch.opCount) {
        for (let i = results.length; i < batch.opCount; i++) results.push({ ok: false, error: { code: 'internal', message: 'the ack had no result for this op' } });
      }
      batch.settle(results);
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
    if (NEXT_NODE.has(error.code) && this.urls.length > 1) {
      // Nothing of it was applied: the next node takes it, with every other batch not acknowledged.
      this.leave(ws);
      return;
    }
    if (RETRYABLE.has(error.code)) {
      // Nothing of it was applied; the server is stopping (a reconnect resends it) or out of room.
      setTimeout(() => { if (this.ws === ws && this.ready && this.unacked.has(batch.id)) ws.send(batch.payload); }, this.o.retryDelayMs);
      return;
    }
    this.unacked.delete(batch.id);
    this.unackedOps -= batch.opCount;
    batch.settle(Array.from({ length: batch.opCount }, () => ({ ok: false, error })));
    if (error.code === 'unauthorized') {
      this.fatal = Object.assign(new Error(`the stream refused the key: ${error.message}`), { code: error.code });
      this.failAll(this.fatal);
    }
    this.pump();
  }

  /** A batch of single ops, each settled by its own result. */
  private formBatch(ops: PendingOp[]): Batch {
    return this.encodeBatch(
      ops.map((o) => o.frame),
      (results) => { for (let i = 0; i < ops.length; i++) ops[i]!.resolve(results[i]!); },
      (err) => { for (const op of ops) op.reject(err); },
    );
  }

  /** Numbers and encodes a batch once: a resend sends the very same bytes. */
  private encodeBatch(frames: readonly Record<string, unknown>[], settle: Batch['settle'], fail: Batch['fail']): Batch {
    const id = this.nextId++;
    return { id, opCount: frames.length, payload: this.encode({ type: 'batch', id, ops: frames }), settle, fail };
  }

  /** Sends formed batches, then forms batches of single ops, while the window has room. */
  private pump(): void {
    if (this.lingerTimer !== null) { clearTimeout(this.lingerTimer); this.lingerTimer = null; }
    while (this.unacked.size < this.o.windowBatches) {
      const batch = this.waiting.length > 0 ? this.waiting.shift()! : this.queue.length > 0 ? this.formBatch(this.queue.splice(0, this.o.batchOpsMax)) : null;
      if (batch === null) break;
      this.unacked.set(batch.id, batch);
      this.unackedOps += batch.opCount;
      if (this.ready && this.ws !== null) this.ws.send(batch.payload);
    }
    if (this.pendingOps === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private failAll(err: Error): void {
    for (const b of this.unacked.values()) b.fail(err);
    this.unacked.clear();
    this.unackedOps = 0;
    for (const b of this.waiting.splice(0)) b.fail(err);
    for (const op of this.queue.splice(0)) op.reject(err);
    for (const w of this.idleWaiters.splice(0)) w();
    for (const w of this.connectedWaiters.splice(0)) w(err);
  }
}
