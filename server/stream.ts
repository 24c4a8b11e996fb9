// The POS stream, GET /v1/stream: a WebSocket carrying batches of ops (msgpack in binary frames,
// JSON in text frames) and acks that come back in op order only once every op is durable. The
// pieces live in server/stream/: frames, the connection's window, batches, the upgrade.
import uWS from 'uWebSockets.js';
import {
  FRAME_BYTES_HARD_MAX, STREAM_IDLE_TIMEOUT_S, STREAM_BACKPRESSURE_BYTES_MAX, STREAM_BACKPRESSURE_TOTAL_BYTES_MAX,
} from '../engine/limits.js';
import type { Api } from './routes.js';
import type { Lifecycle } from './http.js';
import { LoyaltyError } from '../engine/errors.js';
import type { Forwarder } from './cluster-forward.js';
import type { OwnerRecord } from '../engine/cluster/owner-lease.js';
import { drainParked, mustPark, park, waitForRoom, type Conn } from './stream/connection.js';
import { decodeFrame, encode, encodeAck, errorFrame } from './stream/frames.js';
import type { ResultList } from '../engine/batch-records.js';
import { runBatchFrame } from './stream/batches.js';
import { hello, upgradeHandler } from './stream/upgrade.js';
import { streamStats } from './stream/stats.js';
import { SendBudget } from './stream/send-budget.js';

export { streamStats };

/** The server's handle on the streams: at a stop, every open one is closed. */
export interface StreamControl {
  /** Closes every open stream with `code` (1001, going away, at a stop). */
  closeAll(code: number, reason: string): void;
}

type Ws = uWS.WebSocket<Conn>;

export function attachStream(app: uWS.TemplatedApp, api: Api, lifecycle: Lifecycle = { stopping: false, storageFull: null }): StreamControl {
  const open = new Set<Ws>();
  const budget = new SendBudget<Ws>(STREAM_BACKPRESSURE_BYTES_MAX, STREAM_BACKPRESSURE_TOTAL_BYTES_MAX);

  /**
   * Closes a reader too slow for its acks, at once: a close frame would wait behind the acks it is
   * not reading and hold their memory (uWS kept 196 MiB for over 11 s after `end`; `close` freed it
   * at once). The terminal reconnects and resends its unacked batches, which replay.
   */
  const closeSlowReader = (ws: Ws): void => {
    const conn = ws.getUserData();
    if (conn.closed) return;
    conn.closed = true;
    streamStats.slowReadersClosed += 1;
    ws.close();
  };

  /** Counts what a connection holds buffered, closing whoever the bounds say must go. */
  const account = (ws: Ws): void => {
    for (const slow of budget.update(ws, ws.getBufferedAmount())) closeSlowReader(slow);
  };

  const send = (ws: Ws, value: unknown, binary: boolean): void => {
    if (ws.getUserData().closed) return;
    ws.cork(() => { ws.send(encode(value, binary), binary); });
    account(ws);
  };

  /** A batch's ack, its results spliced in as the shards packed them (server/stream/frames.ts encodeAck). */
  const sendAck = (ws: Ws, id: number, results: ResultList, binary: boolean): void => {
    if (ws.getUserData().closed) return;
    ws.cork(() => { ws.send(encodeAck(id, results, binary), binary); });
    account(ws);
  };

  /** One frame, decoded and answered: a hello, a batch, or an error frame. */
  const handleFrame = (ws: Ws, conn: Conn, bytes: Uint8Array, binary: boolean): void => {
    const { frame, refusal } = decodeFrame(bytes, binary);
    if (frame === null) { streamStats.badFrames += 1; send(ws, refusal, binary); return; }
    if (frame['type'] === 'hello') { send(ws, hello(api.keys, conn, frame, api.requestLog), binary); return; }
    if (frame['type'] !== 'batch') {
      streamStats.badFrames += 1;
      send(ws, errorFrame('invalid_request', 'type must be "hello" or "batch"', frame['id']), binary);
      return;
    }
    if (conn.role === null) { send(ws, errorFrame('unauthorized', 'send a hello frame with a key first', frame['id']), binary); return; }
    // A key revoked since it opened the stream: this batch is refused and the stream closed (1008).
    if (!api.keys.isLive(conn.keyId!)) {
      send(ws, errorFrame('unauthorized', 'the key of this stream was revoked', frame['id']), binary);
      conn.closed = true;
      ws.end(1008, 'key revoked');
      return;
    }
    if (lifecycle.stopping) { send(ws, errorFrame('shutting_down', 'the server is stopping; resend this batch after it restarts', frame['id']), binary); return; }
    if (lifecycle.notOwner != null) {
      const forwarder = lifecycle.forwarder;
      if (forwarder == null) { send(ws, errorFrame('not_owner', lifecycle.notOwner, frame['id']), binary); return; }
      // No owner to forward to yet (a takeover under way): a retryable refusal, so that the terminal resends.
      if (forwarder.owner === null) { send(ws, errorFrame('overloaded', `${lifecycle.notOwner}; resend this batch`, frame['id']), binary); return; }
      forwardBatch(ws, conn, forwarder, forwarder.owner, frame, bytes, binary);
      return;
    }
    if (lifecycle.storageFull !== null) { send(ws, errorFrame('storage_failed', `batches are refused until there is room: ${lifecycle.storageFull}`, frame['id']), binary); return; }
    const startedMs = performance.now();
    runBatchFrame(api.engine, conn, frame, (value) => send(ws, value, binary), (id, results) => sendAck(ws, id, results, binary)).then(
      () => {
        // One line per batch, not per op: the ops' results are in the ack, their entries carry the key id.
        const ops = Array.isArray(frame['ops']) ? frame['ops'].length : 0;
        api.requestLog?.record({ keyId: conn.keyId, method: 'WS', route: '/v1/stream batch', status: 200, latencyMs: Math.round((performance.now() - startedMs) * 100) / 100, ops });
        resume(ws, conn);
      },
      () => {
        // Every op's failure is answered in the ack; reaching this is a bug, and the terminal is told to resend.
        if (!conn.closed) { conn.closed = true; ws.end(1011, 'internal error'); }
      },
    );
  };

  /**
   * Cluster mode: sends a batch frame to the owner, which runs it on a connection of its own for
   * this one, and sends the owner's answer back once every earlier batch's answer was sent. The
   * window counts the batch until then, as a local one.
   */
  const forwardBatch = (ws: Ws, conn: Conn, forwarder: Forwarder, owner: OwnerRecord, frame: Record<string, unknown>, bytes: Uint8Array, binary: boolean): void => {
    const id = frame['id'];
    const ops = Array.isArray(frame['ops']) ? frame['ops'].length : 0;
    conn.forward ??= { name: forwarder.newConnectionId(), owner, tail: Promise.resolve() };
    conn.forward.owner = owner;
    conn.unacked += 1;
    const startedMs = performance.now();
    const answer = forwarder.batch(owner, conn.forward.name, conn.keyId!, conn.role!, binary, bytes).then(
      (data): Uint8Array | string => (binary ? data : Buffer.from(data).toString('utf8')),
      (err: unknown) => encode(errorFrame(err instanceof LoyaltyError ? err.code : 'overloaded', err instanceof Error ? err.message : String(err), id), binary),
    );
    const previous = conn.forward.tail;
    conn.forward.tail = previous.then(() => answer).then((out) => {
      conn.unacked -= 1;
      if (!conn.closed) {
        ws.cork(() => { ws.send(out, binary); });
        account(ws);
      }
      api.requestLog?.record({ keyId: conn.keyId, method: 'WS', route: '/v1/stream batch', status: 200, latencyMs: Math.round((performance.now() - startedMs) * 100) / 100, ops, forwardedTo: owner.nodeId });
      resume(ws, conn);
    }).catch(() => {
      // Reaching this is a bug; the terminal is told to reconnect and resend, and the chain goes on for no one.
      if (!conn.closed) { conn.closed = true; ws.end(1011, 'internal error'); }
    });
  };

  /** Runs parked frames while the window and the shards have room. */
  const resume = (ws: Ws, conn: Conn): void => drainParked(conn, (bytes, binary) => handleFrame(ws, conn, bytes, binary));

  app.ws<Conn>('/v1/stream', {
    compression: uWS.DISABLED,
    maxPayloadLength: FRAME_BYTES_HARD_MAX,
    // A backstop only: the budget above closes a slow reader once past its bound, before uWS's check
    // (made before each send, so it is passed by one ack) could drop an ack.
    maxBackpressure: 2 * STREAM_BACKPRESSURE_BYTES_MAX,
    closeOnBackpressureLimit: 1,
    idleTimeout: STREAM_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    upgrade: upgradeHandler(api.keys, api.engine, api.requestLog),
    open: (ws) => { open.add(ws); streamStats.connections += 1; },
    drain: (ws) => { if (!ws.getUserData().closed) account(ws); },
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData();
      if (conn.closed) return;
      // A full shard queue stops the stream's reading too: frames wait parked until it drains.
      if (api.engine.anySaturated) waitForRoom(conn, () => api.engine.anySaturated, () => resume(ws, conn));
      if (mustPark(conn)) {
        if (!park(conn, message, isBinary)) {
          conn.closed = true;
          ws.end(1008, 'more unacked batches than the window allows');
        }
        return;
      }
      // The message's memory is valid only during this callback; the decoder copies what it keeps.
      handleFrame(ws, conn, new Uint8Array(message), isBinary);
    },
    close: (ws) => {
      const conn = ws.getUserData();
      conn.closed = true;
      conn.parked = [];
      if (conn.forward !== null) lifecycle.forwarder?.closed(conn.forward.owner, conn.forward.name);
      budget.remove(ws);
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
