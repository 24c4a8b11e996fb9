// A batch frame's life on the server: its id and ops checked, each op built and authorized
// (server/perform.ts), the ops run by the engine in op order, and one ack in op order once every
// op is durable.
import { opError } from '../../engine/errors.js';
import { STREAM_OPS_MAX } from '../../engine/limits.js';
import type { Engine } from '../../engine/router/engine.js';
import type { Intent } from '../../engine/router/orchestrate.js';
import type { OpResult } from '../../engine/ops.js';
import type { ResultList } from '../../engine/batch-records.js';
import type { Role } from '../auth.js';
import { buildOp, failure, STREAM_OPS, type OpName } from '../perform.js';
import { bodyFingerprint } from '../fingerprint.js';
import { errorFrame } from './frames.js';
import type { Conn } from './connection.js';
import { streamStats } from './stats.js';

/** One raw op of a batch: the engine op it asks for, or the result refusing it. */
function opOf(engine: Engine, raw: unknown, role: Role, keyId: string, nowMs: number): Intent | OpResult {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, error: opError('invalid_request', 'an op must be an object') };
  const { op, ...body } = raw as Record<string, unknown>;
  if (typeof op !== 'string' || !(STREAM_OPS as readonly string[]).includes(op)) {
    return { ok: false, error: opError('invalid_request', `op must be one of ${STREAM_OPS.join(', ')}`, 'op') };
  }
  return buildOp(engine, op as OpName, body, role, nowMs, keyId);
}

/**
 * Runs one batch frame and sends its ack (or an error frame when the frame is not a batch).
 * Resolves once the ack is sent; the connection's window counts the batch until then.
 */
export async function runBatchFrame(
  engine: Engine, conn: Conn, frame: Record<string, unknown>, send: (value: unknown) => void, sendAck: (id: number, results: ResultList) => void,
): Promise<void> {
  const id = frame['id'];
  const ops = frame['ops'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) { send(errorFrame('invalid_request', 'a batch needs an integer id')); return; }
  if (!Array.isArray(ops) || ops.length === 0 || ops.length > STREAM_OPS_MAX) {
    send(errorFrame('invalid_request', `ops must be an array of 1..${STREAM_OPS_MAX} ops`, id));
    return;
  }
  conn.unacked += 1;
  streamStats.batches += 1;
  streamStats.ops += ops.length;
  let results: ResultList;
  try {
    const nowMs = engine.now();
    const items = ops.map((raw) => opOf(engine, raw, conn.role!, conn.keyId!, nowMs));
    // A key stored under a request's fingerprint of before (its raw body's) still replays.
    const earlier = (i: number): number => {
      const { op: _name, ...body } = ops[i] as Record<string, unknown>;
      return bodyFingerprint((items[i] as Intent).op, body);
    };
    // An op whose processing fails unexpectedly answers alone (`failure`); its batch is still acked.
    results = await conn.sequence.runBatch(items, true, failure, earlier);
  } finally {
    conn.unacked -= 1;
  }
  // A node that stepped down (a drain) refuses the ops that reached it too late with shutting_down:
  // the whole batch is answered as one to resend, which the next owner applies (an op of it that
  // did apply here replays there, under its key), instead of acking those ops as refused.
  if (engine.handingOver && refusedForHandOver(results)) {
    send(errorFrame('shutting_down', 'this node is handing the deployment over to another node; resend this batch', id));
    return;
  }
  sendAck(id, results);
}

/** Whether an op of the batch was refused because the node stopped writing. */
function refusedForHandOver(results: ResultList): boolean {
  for (let i = 0; i < results.length; i++) {
    if (results.ok(i)) continue;
    const result = results.get(i);
    if (!result.ok && result.error.code === 'shutting_down') return true;
  }
  return false;
}
