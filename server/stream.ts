// The POS stream, GET /v1/stream: a WebSocket carrying batches of ops (msgpack in binary frames,
// JSON in text frames) and acks that come back in op order only once every op is durable.
import uWS from 'uWebSockets.js';
import { Packr } from 'msgpackr';
import { opError, type ErrorCode } from '../engine/errors.js';
import {
  FRAME_BYTES_MAX, FRAME_BYTES_HARD_MAX, JSON_DEPTH_MAX, STREAM_OPS_MAX, STREAM_PARKED_BYTES_MAX,
  STREAM_UNACKED_BATCHES_MAX, STREAM_IDLE_TIMEOUT_S, STREAM_BACKPRESSURE_BYTES_MAX,
} from '../engine/limits.js';
import type { OpResult } from '../engine/ops.js';
import { bearerKey, type Role } from './auth.js';
import { perform, STREAM_OPS, type OpName } from './perform.js';
import type { Api } from './routes.js';
import type { Lifecycle } from './http.js';

interface Conn {
  role: Role | null;
  /** The key that authenticated the stream: every batch checks that it is still live (not revoked). */
  keyId: string | null;
  unacked: number;
  parked: Array<{ bytes: Uint8Array; binary: boolean }>;
  parkedBytes: number;
  closed: boolean;
  /** Set while a shard's queue is full: frames park until it has room. */
  waiting: boolean;
}

/** How often a stream waiting for a full shard queue looks again. */
const SATURATION_POLL_MS = 5;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/** Counters the metrics endpoint reads. */
export const streamStats = { connections: 0, batches: 0, ops: 0, parkedFrames: 0, badFrames: 0 };

function encode(value: unknown, binary: boolean): Uint8Array | string {
  return binary ? packr.pack(value) : JSON.stringify(value);
}

function decode(bytes: Uint8Array, binary: boolean): unknown {
  return binary ? packr.unpack(bytes) : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

/** Half of a UTF-16 surrogate pair (String.prototype.isWellFormed is past this tree's ES2023 lib). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What is wrong with a decoded frame that the decoder accepted: arrays and objects nested deeper
 * than `depthMax` (walked with an explicit stack, because the recursive steps behind it, such as the
 * idempotency fingerprint, would overflow), or a string holding half of a surrogate pair (a JSON
 * `\uD800` escape, which would be stored as U+FFFD). Null when neither.
 */
function frameProblem(value: unknown, depthMax: number): string | null {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return 'a string holds half of a UTF-16 surrogate pair';
      continue;
    }
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) continue;
    if (depth > depthMax) return `the frame nests arrays and objects deeper than ${depthMax - 2} levels below its ops`;
    if (!Array.isArray(v)) stack.push(...Object.keys(v).map((k): [unknown, number] => [k, depth]));
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return null;
}

/** An op whose processing failed unexpectedly answers `internal` alone; its batch is still acked. */
const internalResult = (): OpResult => ({ ok: false, error: opError('internal') });

/** The server's handle on the streams: at a stop, every open one is closed. */
export interface StreamControl {
  /** Closes every open stream with `code` (1001, going away, at a stop). */
  closeAll(code: number, reason: string): void;
}

function errorFrame(code: ErrorCode, message: string, id?: unknown): Record<string, unknown> {
  const frame: Record<string, unknown> = { type: 'error', error: opError(code, message) };
  if (typeof id === 'number' && Number.isSafeInteger(id)) frame['id'] = id;
  return frame;
}

export function attachStream(app: uWS.TemplatedApp, api: Api, lifecycle: Lifecycle = { stopping: false, storageFull: null }): StreamControl {
  const open = new Set<uWS.WebSocket<Conn>>();
  const send = (ws: uWS.WebSocket<Conn>, value: unknown, binary: boolean): void => {
    const conn = ws.getUserData();
    if (conn.closed) return;
    // With closeOnBackpressureLimit a reader too slow for its acks is closed, never silently
    // dropped: the terminal reconnects and resends unacked batches, which replay idempotently.
    ws.cork(() => { ws.send(encode(value, binary), binary); });
  };

  const runBatch = async (ws: uWS.WebSocket<Conn>, conn: Conn, frame: Record<string, unknown>, binary: boolean): Promise<void> => {
    const id = frame['id'];
    const ops = frame['ops'];
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) { send(ws, errorFrame('invalid_request', 'a batch needs an integer id'), binary); return; }
    if (!Array.isArray(ops) || ops.length === 0 || ops.length > STREAM_OPS_MAX) {
      send(ws, errorFrame('invalid_request', `ops must be an array of 1..${STREAM_OPS_MAX} ops`, id), binary);
      return;
    }
    conn.unacked += 1;
    streamStats.batches += 1;
    streamStats.ops += ops.length;
    const pending: Array<Promise<OpResult>> = [];
    for (const raw of ops) {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        pending.push(Promise.resolve({ ok: false, error: opError('invalid_request', 'an op must be an object') }));
        continue;
      }
      const { op, ...body } = raw as Record<string, unknown>;
      if (typeof op !== 'string' || !(STREAM_OPS as readonly string[]).includes(op)) {
        pending.push(Promise.resolve({ ok: false, error: opError('invalid_request', `op must be one of ${STREAM_OPS.join(', ')}`, 'op') }));
        continue;
      }
      const result = perform(api.engine, op as OpName, body, conn.role!, true).catch(internalResult);
      pending.push(result);
      // Ops that look something up before reaching their shard (a referrer, an order's member, a
      // transfer's target) finish before later ops of the batch start, so ops on one member apply
      // in batch order.
      if (op === 'return' || op === 'transfer' || (op === 'register' && 'referrerId' in body)) await result;
    }
    const results = await Promise.all(pending);
    conn.unacked -= 1;
    send(ws, { type: 'ack', id, results }, binary);
    drainParked(ws, conn);
  };

  const handleFrame = (ws: uWS.WebSocket<Conn>, conn: Conn, bytes: Uint8Array, binary: boolean): void => {
    if (bytes.byteLength > FRAME_BYTES_MAX) {
      streamStats.badFrames += 1;
      send(ws, errorFrame('payload_too_large', `a frame may be at most ${FRAME_BYTES_MAX} bytes`), binary);
      return;
    }
    let frame: unknown;
    try {
      frame = decode(bytes, binary);
    } catch {
      streamStats.badFrames += 1;
      send(ws, errorFrame('invalid_request', binary ? 'the frame is not valid msgpack' : 'the frame is not valid JSON'), binary);
      return;
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
      streamStats.badFrames += 1;
      send(ws, errorFrame('invalid_request', 'a frame must be an object with a type'), binary);
      return;
    }
    // A batch frame wraps its ops two levels deep: the ops themselves get the HTTP bodies' bound.
    const problem = frameProblem(frame, JSON_DEPTH_MAX + 2);
    if (problem !== null) {
      streamStats.badFrames += 1;
      send(ws, errorFrame('invalid_request', problem, (frame as Record<string, unknown>)['id']), binary);
      return;
    }
    const f = frame as Record<string, unknown>;
    if (f['type'] === 'hello') {
      const principal = typeof f['key'] === 'string' ? api.keys.authenticate(f['key']) : null;
      if (principal === null) { send(ws, errorFrame('unauthorized', 'the hello frame\'s key is not valid'), binary); return; }
      conn.role = principal.role;
      conn.keyId = principal.id;
      send(ws, { type: 'welcome', role: principal.role }, binary);
      return;
    }
    if (f['type'] !== 'batch') {
      streamStats.badFrames += 1;
      send(ws, errorFrame('invalid_request', 'type must be "hello" or "batch"', f['id']), binary);
      return;
    }
    if (conn.role === null) { send(ws, errorFrame('unauthorized', 'send a hello frame with a key first', f['id']), binary); return; }
    // A key revoked since it opened the stream: this batch is refused and the stream closed (1008).
    if (!api.keys.isLive(conn.keyId!)) {
      send(ws, errorFrame('unauthorized', 'the key of this stream was revoked', f['id']), binary);
      conn.closed = true;
      ws.end(1008, 'key revoked');
      return;
    }
    if (lifecycle.stopping) { send(ws, errorFrame('shutting_down', 'the server is stopping; resend this batch after it restarts', f['id']), binary); return; }
    if (lifecycle.storageFull !== null) { send(ws, errorFrame('storage_failed', `batches are refused until there is room: ${lifecycle.storageFull}`, f['id']), binary); return; }
    runBatch(ws, conn, f, binary).catch(() => {
      // Every op's failure is caught above; reaching this is a bug, and the terminal is told to resend.
      if (!conn.closed) { conn.closed = true; ws.end(1011, 'internal error'); }
    });
  };

  const waitForRoom = (ws: uWS.WebSocket<Conn>, conn: Conn): void => {
    if (conn.waiting) return;
    conn.waiting = true;
    const check = (): void => {
      if (conn.closed) return;
      if (api.engine.anySaturated) { setTimeout(check, SATURATION_POLL_MS); return; }
      conn.waiting = false;
      drainParked(ws, conn);
    };
    setTimeout(check, SATURATION_POLL_MS);
  };

  const drainParked = (ws: uWS.WebSocket<Conn>, conn: Conn): void => {
    while (!conn.closed && !conn.waiting && conn.parked.length > 0 && conn.unacked < STREAM_UNACKED_BATCHES_MAX) {
      const next = conn.parked.shift()!;
      conn.parkedBytes -= next.bytes.byteLength;
      handleFrame(ws, conn, next.bytes, next.binary);
    }
  };

  app.ws<Conn>('/v1/stream', {
    compression: uWS.DISABLED,
    maxPayloadLength: FRAME_BYTES_HARD_MAX,
    maxBackpressure: STREAM_BACKPRESSURE_BYTES_MAX,
    closeOnBackpressureLimit: 1,
    idleTimeout: STREAM_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const header = req.getHeader('authorization');
      let principal: { id: string; role: Role } | null = null;
      if (header !== '') {
        principal = api.keys.authenticate(bearerKey(header));
        if (principal === null) {
          res.writeStatus('401 Unauthorized').writeHeader('Content-Type', 'application/json')
            .end(JSON.stringify({ error: opError('unauthorized') }));
          return;
        }
      }
      const conn: Conn = { role: principal?.role ?? null, keyId: principal?.id ?? null, unacked: 0, parked: [], parkedBytes: 0, closed: false, waiting: false };
      res.upgrade(conn, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => { open.add(ws); streamStats.connections += 1; },
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData();
      if (conn.closed) return;
      // A full shard queue stops the stream's reading too: frames wait parked until it drains.
      if (api.engine.anySaturated) waitForRoom(ws, conn);
      // uWS.js cannot pause a WebSocket's reads: frames past the window are parked undecoded,
      // and a terminal that ignores the window long enough to fill the park is closed.
      if (conn.waiting || conn.unacked >= STREAM_UNACKED_BATCHES_MAX || conn.parked.length > 0) {
        conn.parkedBytes += message.byteLength;
        if (conn.parkedBytes > STREAM_PARKED_BYTES_MAX) {
          conn.closed = true;
          ws.end(1008, 'more unacked batches than the window allows');
          return;
        }
        streamStats.parkedFrames += 1;
        conn.parked.push({ bytes: new Uint8Array(message.slice(0)), binary: isBinary });
        return;
      }
      // The message's memory is valid only during this callback; the decoder copies what it keeps.
      handleFrame(ws, conn, new Uint8Array(message), isBinary);
    },
    close: (ws) => {
      const conn = ws.getUserData();
      conn.closed = true;
      conn.parked = [];
      open.delete(ws);
      streamStats.connections -= 1;
    },
  });

  return {
    closeAll(code: number, reason: string): void {
      for (const ws of [...open]) {
        const conn = ws.getUserData();
        if (conn.closed) continue;
        conn.closed = true;
        ws.end(code, reason);
      }
    },
  };
}
