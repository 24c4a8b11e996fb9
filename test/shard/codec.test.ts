// The ledger and state codec is exact for every safe integer, ±(2^53 − 1). Before, the zigzag value
// of a negative number past 2^52 in magnitude (2|v| − 1, odd and past 2^53) rounded to an even
// double, so it was stored as the positive number: an expiry of −4,505,000,000,000,000 points came
// back as +4,505,000,000,000,000 and verify reported the member's balance as a mismatch. The bytes
// are the plain zigzag varint's, so what is already on disk reads the same.
import { afterEach, describe, expect, it } from 'vitest';
import { Reader, Writer, decodeEntry, decodeState, encodeState, writeEntry } from '../../engine/shard/codec.js';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { HotState } from '../../engine/rules/member-state.js';
import type { StoredEntry } from '../../engine/ops.js';

const MAX = Number.MAX_SAFE_INTEGER;
const TWO_52 = 2 ** 52;
const DAY_MS = 86_400_000;
const AT = Date.parse('2026-03-10T02:00:00Z');

/** The zigzag varint of `v` computed in BigInt: the format's definition, exact by construction. */
function zigzagBytes(v: number): number[] {
  let z = v >= 0 ? BigInt(v) * 2n : BigInt(-v) * 2n - 1n;
  const out: number[] = [];
  while (z >= 0x80n) { out.push(Number(z & 0x7fn) | 0x80); z >>= 7n; }
  out.push(Number(z));
  return out;
}

/** Boundary values: around 0, around each varint byte length, around 2^52 and 2^53 − 1, both signs. */
function boundaries(): number[] {
  const out = new Set<number>([0, 1, -1, 4_505_000_000_000_000, -4_505_000_000_000_000, 9_006_930_766_787_109, -9_006_930_766_787_109]);
  for (let bits = 5; bits <= 53; bits++) {
    const p = 2 ** bits;
    for (const v of [p - 2, p - 1, p, p + 1]) if (Number.isSafeInteger(v)) { out.add(v); out.add(-v); }
  }
  for (const v of [MAX, MAX - 1, TWO_52 + 1, TWO_52 + 3]) { out.add(v); out.add(-v); }
  return [...out].sort((a, b) => a - b);
}

describe('the varint codec', () => {
  it('writes every boundary value as its zigzag varint and reads it back exactly', () => {
    const w = new Writer(16);
    for (const v of boundaries()) {
      w.reset().int(v);
      expect([v, [...w.bytes()]]).toEqual([v, zigzagBytes(v)]);
      expect([v, new Reader(w.bytes()).int()]).toEqual([v, v]);
    }
  });

  it('round-trips a seeded spread of safe integers of every magnitude, in one buffer', () => {
    let seed = 12_345;
    const next = (): number => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed / 2 ** 31; };
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const magnitude = Math.floor(2 ** (next() * 53));
      values.push(Math.min(magnitude, MAX) * (next() < 0.5 ? -1 : 1));
    }
    const w = new Writer(8);
    for (const v of values) { w.reserve(10); w.int(v); }
    const r = new Reader(w.bytes());
    expect(values.map(() => r.int())).toEqual(values);
    expect(r.pos).toBe(w.pos);
  });

  it('refuses what is not a safe integer', () => {
    const w = new Writer(16);
    for (const v of [MAX + 1, -MAX - 1, 0.5, Number.NaN, Infinity]) expect(() => w.int(v)).toThrow(/not a safe integer/);
  });
});

describe('ledger entries and member state', () => {
  it('keep deltas and balances of ±(2^53 − 1) exact', () => {
    for (const d of [-MAX, -4_505_000_000_000_000, -(TWO_52 + 1), MAX]) {
      const e: StoredEntry = {
        kind: 'expire', at: AT, prev: 7, cause: null, pointsDelta: d, growthDelta: -d, walletDeltaCents: d,
        spendDeltaCents: -d, memberId: 'm1', ref: `expire:${AT}`, tierId: null, pendingDelta: d === MAX ? 0 : d,
      };
      const w = new Writer(8);
      writeEntry(w, e);
      expect(decodeEntry(w.bytes())).toEqual(e);
    }
    const state: HotState = {
      periodStart: AT, periodEnd: null, periodMetric: MAX, points: -MAX, growth: MAX, walletCents: MAX, lifetimeSpendCents: -(TWO_52 + 1),
      purchaseCount: 3, firstPurchaseAt: AT, lastPurchaseAt: AT, lastSeq: 9, standingOrders: 1, birthdayMonth: 2, birthdayDay: 29,
      lastBirthdayYear: 2025, nextDue: AT + DAY_MS, tierId: 'member', periodStartTierId: 'member', referralChain: ['r1'],
      grants: [{ id: 1, expiresAt: AT + DAY_MS, remaining: MAX }], pending: [], expiryNotices: [],
    };
    expect(decodeState(encodeState(state))).toEqual(state);
    // Pending points follow the grants; a state without any is read as one written before they existed.
    state.pending = [{ id: 3, activatesAt: AT + 14 * DAY_MS, points: MAX, growth: 7, orderId: 'o-1' }, { id: 4, activatesAt: AT + 15 * DAY_MS, points: 1, growth: 0, orderId: 'o-2' }];
    expect(decodeState(encodeState(state))).toEqual(state);
    // The grants given their expiry notice come last, also after an empty list of pending points.
    state.expiryNotices = [1, TWO_52];
    expect(decodeState(encodeState(state))).toEqual(state);
    state.pending = [];
    expect(decodeState(encodeState(state))).toEqual(state);
  });
});

describe('a shard', () => {
  let h: ShardHarness;
  afterEach(async () => { await h.close(); });

  it('stores an expiry of 4,505,000,000,000,000 points as a debit, and verify agrees', () => {
    h = new ShardHarness({ ...demoProgram(), pointsExpiryDays: 30 }, 1);
    expect(h.one({ op: 'register', memberId: 'big', key: 'reg:m:big', fp: 1, atMs: AT, referralChain: [], points: 4_505_000_000_000_000 }))
      .toMatchObject({ ok: true, points: 4_505_000_000_000_000 });
    h.sweep(AT + 31 * DAY_MS);
    const expiry = h.entries('big').find((e) => e.kind === 'expire');
    expect(expiry).toMatchObject({ at: AT + 30 * DAY_MS, pointsDelta: -4_505_000_000_000_000 });
    expect(h.state('big')).toMatchObject({ points: 0, grants: [] });
    expect(h.mismatches()).toEqual([]);
  });
});
