// The POS stream's frames: msgpack in binary frames and JSON in text frames, decoded and checked
// (size, shape, nesting, text) before anything reads them, and the error frames that answer the rest.
import { Packr } from 'msgpackr';
import { opError, type ErrorCode } from '../../engine/errors.js';
import { FRAME_BYTES_MAX, JSON_DEPTH_MAX } from '../../engine/limits.js';
import { STREAM_PACKR_OPTIONS, type ResultList } from '../../engine/batch-records.js';

/** The shards pack a batch's results with the same options, so that an ack splices their bytes. */
const packr = new Packr(STREAM_PACKR_OPTIONS);

export function encode(value: unknown, binary: boolean): Uint8Array | string {
  return binary ? packr.pack(value) : JSON.stringify(value);
}

/**
 * A batch's ack, `{ type: 'ack', id, results }`, byte for byte what encode would make of it: in
 * msgpack, each result the shards left packed is copied in as it is (engine/batch-records.ts), and
 * only the others are packed here.
 */
export function encodeAck(id: number, results: ResultList, binary: boolean): Uint8Array | string {
  if (!binary) return JSON.stringify({ type: 'ack', id, results: results.toArray() });
  // The head is the map with a nil in place of the results array, which ends it: that nil goes.
  // packr.pack answers a view of its own buffer, which its next call overwrites: what is kept is copied.
  const head = new Uint8Array(packr.pack({ type: 'ack', id, results: null }));
  const n = results.length;
  /** The results that are objects (refusals decided here, answers read again), packed here. */
  let unpacked: Array<Uint8Array | undefined> | null = null;
  let bytes = head.byteLength - 1 + (n < 0x10 ? 1 : n < 0x10000 ? 3 : 5);
  for (let i = 0; i < n; i++) {
    const length = results.packedLength(i);
    if (length >= 0) { bytes += length; continue; }
    const part = new Uint8Array(packr.pack(results.get(i)));
    (unpacked ??= new Array(n))[i] = part;
    bytes += part.byteLength;
  }
  const ack = new Uint8Array(bytes);
  ack.set(head.subarray(0, head.byteLength - 1), 0);
  let at = head.byteLength - 1;
  if (n < 0x10) ack[at++] = 0x90 | n;
  else if (n < 0x10000) { ack[at++] = 0xdc; ack[at++] = n >> 8; ack[at++] = n & 0xff; }
  else { ack[at++] = 0xdd; new DataView(ack.buffer).setUint32(at, n); at += 4; }
  for (let i = 0; i < n;) {
    const part = unpacked?.[i];
    if (part !== undefined) { ack.set(part, at); at += part.byteLength; i++; continue; }
    const end = results.packedRunEnd(i);
    at = results.copyPackedRun(i, end, ack, at);
    i = end;
  }
  return ack;
}

function decode(bytes: Uint8Array, binary: boolean): unknown {
  return binary ? packr.unpack(bytes) : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

/** Half of a UTF-16 surrogate pair (String.prototype.isWellFormed is past this tree's ES2023 lib). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What is wrong with a decoded frame that the decoder accepted: arrays and objects nested deeper
 * than `depthMax`, or a string (a value or a key) holding half of a surrogate pair (a JSON `\uD800`
 * escape, which would be stored as U+FFFD). Null when neither. The walk recurses, but never deeper
 * than `depthMax` (it stops there), so the steps behind it, such as the idempotency fingerprint,
 * cannot overflow either; it allocates nothing, because it reads every op of every batch.
 */
function frameProblem(value: unknown, depthMax: number): string | null {
  return problemAt(value, 1, depthMax);
}

const SURROGATE_PROBLEM = 'a string holds half of a UTF-16 surrogate pair';

function problemAt(v: unknown, depth: number, depthMax: number): string | null {
  if (typeof v === 'string') return LONE_SURROGATE.test(v) ? SURROGATE_PROBLEM : null;
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return null;
  if (depth > depthMax) return `the frame nests arrays and objects deeper than ${depthMax - 2} levels below its ops`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const problem = problemAt(v[i], depth + 1, depthMax);
      if (problem !== null) return problem;
    }
    return null;
  }
  const record = v as Record<string, unknown>;
  for (const key in record) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    if (LONE_SURROGATE.test(key)) return SURROGATE_PROBLEM;
    const problem = problemAt(record[key], depth + 1, depthMax);
    if (problem !== null) return problem;
  }
  return null;
}

export function errorFrame(code: ErrorCode, message: string, id?: unknown): Record<string, unknown> {
  const frame: Record<string, unknown> = { type: 'error', error: opError(code, message) };
  if (typeof id === 'number' && Number.isSafeInteger(id)) frame['id'] = id;
  return frame;
}

/** A frame fit to read, or the error frame that answers it. */
export type Decoded = { frame: Record<string, unknown>; refusal: null } | { frame: null; refusal: Record<string, unknown> };

/** Decodes and checks one frame as received: at most FRAME_BYTES_MAX, an object, bounded and well-formed. */
export function decodeFrame(bytes: Uint8Array, binary: boolean): Decoded {
  if (bytes.byteLength > FRAME_BYTES_MAX) {
    return { frame: null, refusal: errorFrame('payload_too_large', `a frame may be at most ${FRAME_BYTES_MAX} bytes`) };
  }
  let frame: unknown;
  try {
    frame = decode(bytes, binary);
  } catch {
    return { frame: null, refusal: errorFrame('invalid_request', binary ? 'the frame is not valid msgpack' : 'the frame is not valid JSON') };
  }
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    return { frame: null, refusal: errorFrame('invalid_request', 'a frame must be an object with a type') };
  }
  // A batch frame wraps its ops two levels deep: the ops themselves get the HTTP bodies' bound.
  const problem = frameProblem(frame, JSON_DEPTH_MAX + 2);
  if (problem !== null) return { frame: null, refusal: errorFrame('invalid_request', problem, (frame as Record<string, unknown>)['id']) };
  return { frame: frame as Record<string, unknown>, refusal: null };
}
