// The order record's binary form: written by every purchase (and again by each of its returns),
// read back on a replay, a return, the order query and the daily report. Hand-written like the
// member state (codec.ts): a msgpack record of this nested object cost about as much as the rest of
// the purchase's encoding together. Orders written before it are msgpack records; this form starts
// with 0xc1, the one byte msgpack never writes, so the two tell themselves apart by their first byte.
//
//   offset  field
//        0  ORDER_TAG (0xc1)
//        1  ORDER_FORMAT
//        2  flags (FLAG_*)
//        3  fp, then the head: orderId, memberId, netCents, earnedPoints, redeemPoints, the fields a
//           replay's answer, the order's member and the daily report read (readOrderHead)
//        …  the rest in the order of OrderRecord, optional fields flagged
//
// Numbers are zigzag varints (codec.ts Writer#int); a record holding any number that is not a safe
// integer is written with every number as a float64 instead (FLAG_WIDE), so that every record
// reads back as it was (-0 reads back as 0, as it did from msgpack). Text is its UTF-16 length with an ASCII flag, then its
// bytes (ASCII) or its code units.
import assert from 'node:assert/strict';
import type { OrderRecord } from '../rules/member-state.js';
import type { Consumption } from '../rules/grants.js';
import { Reader, Writer } from './codec.js';

/** The first byte of a binary order: 0xc1 is never used by msgpack, which wrote every older order. */
export const ORDER_TAG = 0xc1;
/** The layout version after the tag; a reader refuses any other. */
export const ORDER_FORMAT = 1;

const FLAG_WIDE = 1;
const FLAG_UPGRADED = 2;
const FLAG_BIRTHDAY = 4;
const FLAG_EXPRESS = 8;
const FLAG_FIXED_REVERSED = 16;
const FLAG_PERIOD_END = 32;
const FLAG_STORE = 64;
const FLAG_CHANNEL = 128;
/** The second flags byte. */
const FLAG_ITEMS = 1;
const FLAG_RESTORED = 2;
/** The tier after the purchase, and the period's start tier, are the tier before it (most purchases): not written again. */
const FLAG_AFTER_TIER_SAME = 4;
const FLAG_PERIOD_TIER_SAME = 8;
/** The order's coupons (OrderRecord.coupons), as JSON text at the end: rare, small and nested. */
const FLAG_COUPONS = 16;
/**
 * The order's campaigns (OrderRecord.campaigns), after the coupons: B, then per campaign its id,
 * multiplier, bonus, item and multiplier points. Orders written before campaigns lack the flag.
 */
const FLAG_CAMPAIGNS = 32;
/** When the order's points activate (OrderRecord.pendingUntil), last: orders written before pending points lack it. */
const FLAG_PENDING = 64;
/** The staff member of the sale (OrderRecord.staffId), after the campaigns. Orders written before staff lack the flag. */
const FLAG_STAFF = 128;

/** The fields at the front of a binary order, readable without decoding the rest. */
export interface OrderHead {
  fp: number; orderId: string; memberId: string; netCents: number; earnedPoints: number; redeemPoints: number;
}

/**
 * Writes an order's numbers compactly, or notes that one of them needs the wide form. It holds a
 * Writer rather than extending one: the codecs' Writer and Reader each keep one shape, so their
 * hot methods stay monomorphic.
 */
class OrderWriter {
  readonly w = new Writer(1024);
  wide = false;
  compactFailed = false;

  get pos(): number { return this.w.pos; }

  u8(v: number): void { this.w.u8(v); }
  int(v: number): void { this.w.int(v); }
  reserve(bytes: number): void { this.w.reserve(bytes); }

  num(v: number): void {
    const w = this.w;
    // Writer#int's 32-bit case inline: about 45 numbers per order, most of them small.
    if (v >= -0x40000000 && v < 0x40000000 && (v | 0) === v && !this.wide) {
      const buf = w.buf;
      let z = (v << 1) ^ (v >> 31);
      while (z >= 0x80) { buf[w.pos++] = (z & 0x7f) | 0x80; z >>>= 7; }
      buf[w.pos++] = z;
      return;
    }
    if (this.wide) { w.f64(v); return; }
    if (Number.isSafeInteger(v)) { w.int(v); return; }
    // Written as 0 for now: the record is written again, wide, once this pass ends.
    this.compactFailed = true;
    w.u8(0);
  }

  text(s: string): void {
    const w = this.w;
    const n = s.length;
    w.reserve(10 + 2 * n);
    const start = w.pos;
    // The ASCII case, which every id is, as one byte per char after its length.
    w.int(n * 2);
    const buf = w.buf;
    let pos = w.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) { w.pos = start; this.utf16(s); return; }
      buf[pos++] = c;
    }
    w.pos = pos;
  }

  /** Any other text as its UTF-16 code units, lone surrogates too: exact for every string. */
  private utf16(s: string): void {
    const w = this.w;
    w.int(s.length * 2 + 1);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      w.buf[w.pos++] = c & 0xff;
      w.buf[w.pos++] = c >>> 8;
    }
  }
}

/** Reads an order's numbers in the form its flags name (a Reader inside, as OrderWriter holds a Writer). */
class OrderReader {
  readonly r: Reader;
  constructor(buf: Uint8Array, readonly wide: boolean, at: number) {
    this.r = new Reader(buf);
    this.r.pos = at;
  }

  get pos(): number { return this.r.pos; }

  int(): number { return this.r.int(); }

  num(): number {
    return this.wide ? this.r.f64() : this.r.int();
  }

  text(): string {
    const r = this.r;
    const h = r.int();
    const n = h >>> 1;
    const buf = r.buf;
    let pos = r.pos;
    let s = '';
    if ((h & 1) === 0) {
      for (let i = 0; i < n; i++) s += String.fromCharCode(buf[pos++]!);
    } else {
      for (let i = 0; i < n; i++, pos += 2) s += String.fromCharCode(buf[pos]! | (buf[pos + 1]! << 8));
    }
    r.pos = pos;
    return s;
  }
}

/** Room for everything but text and arrays, which reserve their own. */
const FIXED_BYTES_MAX = 3 + 40 * 9;
const writer = new OrderWriter();

function consumption(w: OrderWriter, c: Consumption): void {
  w.reserve(10 + c.length * 27);
  w.int(c.length);
  for (const [id, expiresAt, points] of c) { w.num(id); w.num(expiresAt); w.num(points); }
}

function writeOrder(w: OrderWriter, o: OrderRecord): void {
  w.w.reset();
  w.reserve(FIXED_BYTES_MAX);
  w.u8(ORDER_TAG);
  w.u8(ORDER_FORMAT);
  w.u8((w.wide ? FLAG_WIDE : 0) | (o.upgradedTo !== null ? FLAG_UPGRADED : 0) | (o.birthday ? FLAG_BIRTHDAY : 0)
    | (o.express ? FLAG_EXPRESS : 0) | (o.now.fixedReversed ? FLAG_FIXED_REVERSED : 0) | (o.before.periodEnd !== null ? FLAG_PERIOD_END : 0)
    | (o.storeId !== undefined ? FLAG_STORE : 0) | (o.channel !== undefined ? FLAG_CHANNEL : 0));
  const afterTierSame = o.after.tierId === o.tierIdBefore;
  const periodTierSame = o.before.periodStartTierId === o.tierIdBefore;
  w.u8((o.items !== undefined ? FLAG_ITEMS : 0) | (o.restoredTo !== undefined ? FLAG_RESTORED : 0)
    | (afterTierSame ? FLAG_AFTER_TIER_SAME : 0) | (periodTierSame ? FLAG_PERIOD_TIER_SAME : 0) | (o.coupons !== undefined ? FLAG_COUPONS : 0)
    | (o.campaigns !== undefined ? FLAG_CAMPAIGNS : 0) | (o.pendingUntil !== undefined ? FLAG_PENDING : 0)
    | (o.staffId !== undefined ? FLAG_STAFF : 0));
  w.num(o.fp);
  w.text(o.orderId);
  w.text(o.memberId);
  w.reserve(FIXED_BYTES_MAX);
  w.num(o.netCents); w.num(o.earnedPoints); w.num(o.redeemPoints);
  w.num(o.at); w.num(o.seq); w.num(o.amountCents); w.num(o.discountCents); w.num(o.redeemValueCents);
  w.num(o.walletCents); w.num(o.growth);
  w.text(o.tierIdBefore);
  if (o.upgradedTo !== null) w.text(o.upgradedTo);
  w.reserve(10);
  w.int(o.returns.length);
  for (const r of o.returns) { w.text(r.returnId); w.reserve(20); w.num(r.amountCents); w.num(r.at); }
  const { after, rate, before, now } = o;
  w.reserve(FIXED_BYTES_MAX);
  w.num(after.points); w.num(after.walletBalanceCents); w.num(after.growth);
  if (!afterTierSame) w.text(after.tierId);
  w.reserve(FIXED_BYTES_MAX);
  w.num(rate.earnCents); w.num(rate.earnPoints); w.num(rate.orderPoints); w.num(rate.multiplierPct); w.num(rate.growthPoints); w.num(rate.growthGrowth);
  w.num(before.periodStart);
  if (before.periodEnd !== null) w.num(before.periodEnd);
  w.num(before.periodMetric);
  if (!periodTierSame) w.text(before.periodStartTierId);
  w.reserve(10);
  w.int(o.rewards.length);
  for (const r of o.rewards) { w.text(r.memberId); w.reserve(30); w.num(r.fixedPoints); w.num(r.sharePct); w.num(r.sharePoints); }
  w.reserve(FIXED_BYTES_MAX);
  w.num(now.earnedPoints); w.num(now.growth); w.num(now.restoredPoints); w.num(now.walletRefundedCents);
  consumption(w, o.redeemedFrom);
  if (o.storeId !== undefined) w.text(o.storeId);
  if (o.channel !== undefined) w.text(o.channel);
  if (o.items !== undefined) {
    w.reserve(10);
    w.int(o.items.length);
    for (const item of o.items) { w.text(item.sku); w.reserve(20); w.num(item.qty); w.num(item.amountCents); }
  }
  if (o.restoredTo !== undefined) consumption(w, o.restoredTo);
  if (o.coupons !== undefined) w.text(JSON.stringify(o.coupons));
  if (o.campaigns !== undefined) {
    const { applied } = o.campaigns;
    w.reserve(20);
    w.num(o.campaigns.baseMultiplierPct);
    w.int(applied.length);
    for (const a of applied) {
      w.text(a.campaignId);
      w.reserve(4 * 9);
      w.num(a.multiplierPct); w.num(a.bonusPoints); w.num(a.itemPoints); w.num(a.multiplierPoints);
    }
  }
  if (o.pendingUntil !== undefined) { w.reserve(10); w.num(o.pendingUntil); }
  if (o.staffId !== undefined) w.text(o.staffId);
}

/** An order's bytes, as a view that the next call overwrites (Writer#view): put them, or copy them. */
export function encodeOrder(o: OrderRecord): Buffer {
  const w = writer;
  w.wide = false;
  w.compactFailed = false;
  writeOrder(w, o);
  if (w.compactFailed) {
    w.wide = true;
    writeOrder(w, o);
    w.wide = false;
  }
  return w.w.view();
}

/** Whether a stored order names campaigns, read off its flags without decoding it (an order msgpack wrote never does). */
export function orderHasCampaigns(bytes: Uint8Array): boolean {
  return bytes[0] === ORDER_TAG && (bytes[3]! & FLAG_CAMPAIGNS) !== 0;
}

/** Whether a stored binary order names its staff member, read off its flags without decoding it. */
export function orderHasStaff(bytes: Uint8Array): boolean {
  return bytes[0] === ORDER_TAG && (bytes[3]! & FLAG_STAFF) !== 0;
}

/** Whether `bytes` hold a binary order (else an order msgpack wrote, before this form). */
export function isBinaryOrder(bytes: Uint8Array): boolean {
  return bytes[0] === ORDER_TAG;
}

function open(bytes: Uint8Array): { r: OrderReader; flags: number; flags2: number } {
  assert.ok(bytes[0] === ORDER_TAG, 'not a binary order');
  if (bytes[1] !== ORDER_FORMAT) assert.fail(`order format ${bytes[1]} is not ${ORDER_FORMAT}`);
  const flags = bytes[2]!;
  const r = new OrderReader(bytes, (flags & FLAG_WIDE) !== 0, 4);
  return { r, flags, flags2: bytes[3]! };
}

/** The head of a binary order: its fingerprint, ids and the figures the daily report reads. */
export function readOrderHead(bytes: Uint8Array): OrderHead {
  const { r } = open(bytes);
  const fp = r.num();
  const orderId = r.text();
  const memberId = r.text();
  const netCents = r.num();
  const earnedPoints = r.num();
  const redeemPoints = r.num();
  return { fp, orderId, memberId, netCents, earnedPoints, redeemPoints };
}

function readConsumption(r: OrderReader): Consumption {
  const n = r.int();
  const out: Consumption = new Array(n);
  for (let i = 0; i < n; i++) out[i] = [r.num(), r.num(), r.num()];
  return out;
}

/** A binary order, whole: the same fields, in the same order, as the object that was written. */
export function decodeOrder(bytes: Uint8Array): OrderRecord {
  const { r, flags, flags2 } = open(bytes);
  const fp = r.num();
  const orderId = r.text();
  const memberId = r.text();
  const netCents = r.num(); const earnedPoints = r.num(); const redeemPoints = r.num();
  const at = r.num(); const seq = r.num(); const amountCents = r.num(); const discountCents = r.num(); const redeemValueCents = r.num();
  const walletCents = r.num(); const growth = r.num();
  const tierIdBefore = r.text();
  const upgradedTo = (flags & FLAG_UPGRADED) !== 0 ? r.text() : null;
  const returnCount = r.int();
  const returns: OrderRecord['returns'] = new Array(returnCount);
  for (let i = 0; i < returnCount; i++) {
    const returnId = r.text();
    const returnCents = r.num();
    returns[i] = { returnId, amountCents: returnCents, at: r.num() };
  }
  const after = { points: r.num(), walletBalanceCents: r.num(), growth: r.num(), tierId: (flags2 & FLAG_AFTER_TIER_SAME) !== 0 ? tierIdBefore : r.text() };
  const rate = { earnCents: r.num(), earnPoints: r.num(), orderPoints: r.num(), multiplierPct: r.num(), growthPoints: r.num(), growthGrowth: r.num() };
  const periodStart = r.num();
  const periodEnd = (flags & FLAG_PERIOD_END) !== 0 ? r.num() : null;
  const periodMetric = r.num();
  const before = { periodStart, periodEnd, periodStartTierId: (flags2 & FLAG_PERIOD_TIER_SAME) !== 0 ? tierIdBefore : r.text(), periodMetric };
  const rewardCount = r.int();
  const rewards: OrderRecord['rewards'] = new Array(rewardCount);
  for (let i = 0; i < rewardCount; i++) rewards[i] = { memberId: r.text(), fixedPoints: r.num(), sharePct: r.num(), sharePoints: r.num() };
  const now = { earnedPoints: r.num(), growth: r.num(), restoredPoints: r.num(), walletRefundedCents: r.num(), fixedReversed: (flags & FLAG_FIXED_REVERSED) !== 0 };
  const redeemedFrom = readConsumption(r);
  // The literal's order is finishCore's (batch-core.ts), so the decoded record lists its fields
  // as the written one did (the order query answers them in that order).
  const order: OrderRecord = {
    orderId, memberId, at, seq, amountCents, discountCents, redeemPoints, redeemValueCents, walletCents, netCents, earnedPoints,
    growth, tierIdBefore, upgradedTo, birthday: (flags & FLAG_BIRTHDAY) !== 0, returns, fp, after, rate,
    express: (flags & FLAG_EXPRESS) !== 0, before, rewards, now, redeemedFrom,
  };
  if ((flags & FLAG_STORE) !== 0) order.storeId = r.text();
  if ((flags & FLAG_CHANNEL) !== 0) order.channel = r.text();
  if ((flags2 & FLAG_ITEMS) !== 0) {
    const n = r.int();
    const items: NonNullable<OrderRecord['items']> = new Array(n);
    for (let i = 0; i < n; i++) items[i] = { sku: r.text(), qty: r.num(), amountCents: r.num() };
    order.items = items;
  }
  if ((flags2 & FLAG_RESTORED) !== 0) order.restoredTo = readConsumption(r);
  if ((flags2 & FLAG_COUPONS) !== 0) order.coupons = JSON.parse(r.text()) as NonNullable<OrderRecord['coupons']>;
  if ((flags2 & FLAG_CAMPAIGNS) !== 0) {
    const baseMultiplierPct = r.num();
    const n = r.int();
    const applied: NonNullable<OrderRecord['campaigns']>['applied'] = new Array(n);
    for (let i = 0; i < n; i++) applied[i] = { campaignId: r.text(), multiplierPct: r.num(), bonusPoints: r.num(), itemPoints: r.num(), multiplierPoints: r.num() };
    order.campaigns = { baseMultiplierPct, applied };
  }
  if ((flags2 & FLAG_PENDING) !== 0) order.pendingUntil = r.num();
  if ((flags2 & FLAG_STAFF) !== 0) order.staffId = r.text();
  assert.equal(r.pos, bytes.length, 'an order record read to its end');
  return order;
}
