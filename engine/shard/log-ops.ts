// How a batch's ops are laid out in a batch-log entry. Purchases, nearly every op a merchant
// sends, are written field by field (ids as short ASCII strings, numbers as zigzag varints, the
// time as the difference from the previous purchase's, the key left out when it is the one the
// front end derives from the order id): about 30 bytes instead of msgpack's 60. Every other op,
// and any purchase with an optional field (store, channel, items) or a value the compact form
// cannot hold, goes whole into a msgpack array after them, so nothing an op carries is ever lost.
//
//   u8 OPS_LAYOUT, varint op count, then per op a tag:
//     TAG_PURCHASE: orderId, key flags (KEY_GIVEN: the key follows, else it is "order:" + orderId;
//                   KEY_HOME: the router marked the op `keyHome`, its key's home is this shard),
//                   memberId, fp, atMs − previous purchase's atMs, amountCents, discountCents,
//                   redeemPoints, walletCents
//
// KEY_HOME came later: a log written before it has key flags 0 and 1 only, which read the same.
// The key id that sent the purchase (`by`) came later still: BY_GIVEN, its id follows the key (a
// short string); BY_REPEAT, it is the previous purchase's of the payload (one terminal's batch
// names one key id, so it costs one byte per purchase after the first). A purchase without either
// flag has no `by`: every purchase logged before key ids were recorded.
//     TAG_PACKED:   the next op of the msgpack array that ends the payload
import type { Packr } from 'msgpackr';
import type { PurchaseOp, WriteOp } from '../ops.js';
import { Reader, Writer } from './codec.js';

const OPS_LAYOUT = 1;
const TAG_PACKED = 0;
const TAG_PURCHASE = 1;
/** The key the front end gives a purchase (server/requests.ts purchaseOp). */
const PURCHASE_KEY_PREFIX = 'order:';
/** A plain purchase has exactly these fields: op, orderId, memberId, key, fp, atMs and the four amounts (and maybe keyHome and by). */
const PLAIN_PURCHASE_FIELDS = 10;
const KEY_GIVEN = 1;
const KEY_HOME = 2;
const BY_GIVEN = 4;
const BY_REPEAT = 8;
const KEY_FLAGS_ALL = KEY_GIVEN | KEY_HOME | BY_GIVEN | BY_REPEAT;
/** Short strings are written with a one-byte length (codec.ts Writer.str keeps 255 for null). */
const SHORT_STRING_MAX = 254;
/** The most a compact purchase takes: four short strings with their lengths, a flag, a tag and six varints. */
const PURCHASE_BYTES_MAX = 4 * (1 + SHORT_STRING_MAX) + 2 + 6 * 10;

const writer = new Writer(64 * 1024);

function shortAscii(s: unknown): s is string {
  if (typeof s !== 'string' || s.length > SHORT_STRING_MAX) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Whether the purchase is exactly the plain shape and every value fits the compact form. */
function compactPurchase(op: WriteOp): op is PurchaseOp {
  if (op.op !== 'purchase') return false;
  let fields = 0;
  for (const _ in op) fields += 1;
  // Half the purchases of a deployment with two shards have their key at home, marked by the router.
  const extra = (op.keyHome === true ? 1 : 0) + (op.by === undefined ? 0 : 1);
  return fields === PLAIN_PURCHASE_FIELDS + extra && (op.by === undefined || shortAscii(op.by))
    && shortAscii(op.orderId) && shortAscii(op.memberId) && shortAscii(op.key)
    && Number.isSafeInteger(op.fp) && Number.isSafeInteger(op.atMs) && Number.isSafeInteger(op.amountCents)
    && Number.isSafeInteger(op.discountCents) && Number.isSafeInteger(op.redeemPoints) && Number.isSafeInteger(op.walletCents);
}

/** The ops as a log payload, after `headerBytes` of room for the entry's header. */
export function encodeOps(ops: readonly WriteOp[], headerBytes: number, packr: Packr): Buffer {
  const w = writer.reset();
  w.reserve(headerBytes + 11);
  w.pos = headerBytes;
  w.u8(OPS_LAYOUT);
  w.int(ops.length);
  const packed: WriteOp[] = [];
  let lastAtMs = 0;
  let lastBy: string | undefined;
  for (const op of ops) {
    if (!compactPurchase(op)) {
      w.reserve(1);
      w.u8(TAG_PACKED);
      packed.push(op);
      continue;
    }
    w.reserve(PURCHASE_BYTES_MAX);
    w.u8(TAG_PURCHASE);
    w.str(op.orderId);
    const derivedKey = op.key.length === PURCHASE_KEY_PREFIX.length + op.orderId.length && op.key.startsWith(PURCHASE_KEY_PREFIX) && op.key.endsWith(op.orderId);
    const by = op.by;
    const flags = (op.keyHome === true ? KEY_HOME : 0) | (by === undefined ? 0 : by === lastBy ? BY_REPEAT : BY_GIVEN);
    if (derivedKey) w.u8(flags);
    else { w.u8(KEY_GIVEN | flags); w.str(op.key); }
    if ((flags & BY_GIVEN) !== 0) { w.str(by!); lastBy = by; }
    w.str(op.memberId);
    w.int(op.fp);
    w.int(op.atMs - lastAtMs);
    lastAtMs = op.atMs;
    w.int(op.amountCents);
    w.int(op.discountCents);
    w.int(op.redeemPoints);
    w.int(op.walletCents);
  }
  if (packed.length > 0) {
    const tail = packr.pack(packed);
    w.reserve(tail.length);
    w.buf.set(tail, w.pos);
    w.pos += tail.length;
  }
  return w.bytes();
}

/** A log payload that does not decode as ops. */
export class OpsLayoutError extends Error {}

/** The ops of a payload written by encodeOps. */
export function decodeOps(payload: Uint8Array, packr: Packr): WriteOp[] {
  const r = new Reader(payload);
  if (r.u8() !== OPS_LAYOUT) throw new OpsLayoutError(`unknown ops layout ${payload[0]}`);
  const count = r.int();
  const ops: Array<WriteOp | null> = new Array(count);
  let packedCount = 0;
  let lastAtMs = 0;
  let lastBy: string | undefined;
  for (let i = 0; i < count; i++) {
    const tag = r.u8();
    if (tag === TAG_PACKED) { ops[i] = null; packedCount += 1; continue; }
    if (tag !== TAG_PURCHASE) throw new OpsLayoutError(`unknown op tag ${tag}`);
    const orderId = r.str()!;
    const keyFlags = r.u8();
    if ((keyFlags & ~KEY_FLAGS_ALL) !== 0 || (keyFlags & (BY_GIVEN | BY_REPEAT)) === (BY_GIVEN | BY_REPEAT)) throw new OpsLayoutError(`unknown key flags ${keyFlags}`);
    const key = (keyFlags & KEY_GIVEN) === 0 ? PURCHASE_KEY_PREFIX + orderId : r.str()!;
    if ((keyFlags & BY_GIVEN) !== 0) lastBy = r.str()!;
    else if ((keyFlags & BY_REPEAT) !== 0 && lastBy === undefined) throw new OpsLayoutError('a purchase repeats a key id none gave before');
    const by = (keyFlags & (BY_GIVEN | BY_REPEAT)) === 0 ? undefined : lastBy;
    const memberId = r.str()!;
    const fp = r.int();
    const atMs = lastAtMs + r.int();
    lastAtMs = atMs;
    // The field order purchaseOp builds (then the front end's key id and the router's mark), so that a decoded op is the op that arrived.
    const op: PurchaseOp = {
      op: 'purchase', orderId, memberId, key, fp, atMs,
      amountCents: r.int(), discountCents: r.int(), redeemPoints: r.int(), walletCents: r.int(),
    };
    if (by !== undefined) op.by = by;
    if ((keyFlags & KEY_HOME) !== 0) op.keyHome = true;
    ops[i] = op;
  }
  if (r.pos > payload.length) throw new OpsLayoutError('the payload ends inside an op');
  if (packedCount > 0) {
    const packed = packr.unpack(payload.subarray(r.pos)) as unknown;
    if (!Array.isArray(packed) || packed.length !== packedCount) throw new OpsLayoutError(`expected ${packedCount} packed ops`);
    let next = 0;
    for (let i = 0; i < count; i++) if (ops[i] === null) ops[i] = packed[next++] as WriteOp;
  } else if (r.pos !== payload.length) {
    throw new OpsLayoutError('bytes after the last op');
  }
  return ops as WriteOp[];
}
