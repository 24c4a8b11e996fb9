// One stream connection's state and its window: at most STREAM_UNACKED_BATCHES_MAX batches run at
// once; frames past the window, or sent while a shard queue is full, wait parked undecoded (uWS.js
// cannot pause a WebSocket's reads) up to STREAM_PARKED_BYTES_MAX, and run as room comes back.
import { STREAM_PARKED_BYTES_MAX, STREAM_UNACKED_BATCHES_MAX } from '../../engine/limits.js';
import type { OpSequence } from '../../engine/router/orchestrate.js';
import type { Role } from '../auth.js';
import type { OwnerRecord } from '../../engine/cluster/owner-lease.js';
import { streamStats } from './stats.js';

/** How often a stream waiting for a full shard queue looks again. */
const SATURATION_POLL_MS = 5;

export interface Conn {
  /** The key's role; null until a hello frame names a valid key (when the upgrade carried none). */
  role: Role | null;
  /** The key that authenticated the stream: every batch checks that it is still live (not revoked). */
  keyId: string | null;
  /** Batches taken and not yet acked. */
  unacked: number;
  parked: Array<{ bytes: Uint8Array; binary: boolean }>;
  parkedBytes: number;
  closed: boolean;
  /** Set while a shard's queue is full: frames park until it has room. */
  waiting: boolean;
  /** The connection's batches, queued in arrival order (engine/router/orchestrate.ts). */
  sequence: OpSequence;
  /**
   * Cluster mode, on a node that forwards this connection's batches to the owner: the name the
   * owner knows the connection by, the owner it was forwarded to last, and the last forwarded
   * batch's answer being sent, after which the next one is sent (acks stay in frame order).
   */
  forward: { name: string; owner: OwnerRecord; tail: Promise<void> } | null;
}

export function newConn(principal: { id: string; role: Role } | null, sequence: OpSequence): Conn {
  return { role: principal?.role ?? null, keyId: principal?.id ?? null, unacked: 0, parked: [], parkedBytes: 0, closed: false, waiting: false, sequence, forward: null };
}

/** Whether a frame arriving now must wait: the window is full, a shard is, or frames already wait. */
export function mustPark(conn: Conn): boolean {
  return conn.waiting || conn.unacked >= STREAM_UNACKED_BATCHES_MAX || conn.parked.length > 0;
}

/**
 * Parks a frame, copying it out of uWS's memory (valid only during its callback). False when the
 * park would pass its bound: the terminal ignores the window, and the caller closes the connection.
 */
export function park(conn: Conn, message: ArrayBuffer, binary: boolean): boolean {
  conn.parkedBytes += message.byteLength;
  if (conn.parkedBytes > STREAM_PARKED_BYTES_MAX) return false;
  streamStats.parkedFrames += 1;
  conn.parked.push({ bytes: new Uint8Array(message.slice(0)), binary });
  return true;
}

/** Hands parked frames to `handle`, oldest first, while the window and the shards have room. */
export function drainParked(conn: Conn, handle: (bytes: Uint8Array, binary: boolean) => void): void {
  while (!conn.closed && !conn.waiting && conn.parked.length > 0 && conn.unacked < STREAM_UNACKED_BATCHES_MAX) {
    const next = conn.parked.shift()!;
    conn.parkedBytes -= next.bytes.byteLength;
    handle(next.bytes, next.binary);
  }
}

/** Holds the connection's frames while `saturated()`, looking again every few ms; then `resume()`. */
export function waitForRoom(conn: Conn, saturated: () => boolean, resume: () => void): void {
  if (conn.waiting) return;
  conn.waiting = true;
  const check = (): void => {
    if (conn.closed) return;
    if (saturated()) { setTimeout(check, SATURATION_POLL_MS); return; }
    conn.waiting = false;
    resume();
  };
  setTimeout(check, SATURATION_POLL_MS);
}
