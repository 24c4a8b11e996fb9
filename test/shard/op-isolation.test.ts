// One op can never fail another op of its batch: an `at` before 1970 (or before the engine's
// earliest 2000-01-01), or an amount past the core's range, is that op's own `invalid_request`,
// while every other op of the batch is applied. Before, such an op reached the core, whose
// assertion failed the whole batch as storage_failed.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import { purchaseOp, registerOp, topupOp } from '../../server/requests.js';
import { FieldError } from '../../engine/rules/validate.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';

const AT = Date.parse('2026-03-10T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h?.close(); });

const purchase = (orderId: string, atMs: number, amountCents = 10_000): WriteOp =>
  ({ op: 'purchase', memberId: 'm1', orderId, key: orderId, fp: 2, atMs, amountCents, discountCents: 0, redeemPoints: 0, walletCents: 0 });
const outcome = (r: OpResult) => (r.ok ? 'ok' : `${r.error.code}:${r.error.field ?? ''}`);

describe('a shard batch', () => {
  it('refuses an op dated before 2000 alone, and applies the others', () => {
    h = new ShardHarness(demoProgram(), 1);
    h.one({ op: 'register', memberId: 'm1', key: 'reg:m:m1', fp: 1, atMs: AT, referralChain: [] });
    const results = h.batch([
      purchase('ok-1', AT + 1_000),
      purchase('old-1', Date.parse('1969-12-31T23:59:00Z')),
      purchase('old-2', Date.parse('1999-12-31T23:59:59Z')),
      { op: 'quote', memberId: 'm1', amountCents: 100, atMs: -1 },
      { op: 'register', memberId: 'm2', key: 'reg:m:m2', fp: 1, atMs: -86_400_000, referralChain: [] },
      purchase('ok-2', AT + 2_000),
    ]);
    expect(results.map(outcome)).toEqual(['ok', 'invalid_request:at', 'invalid_request:at', 'invalid_request:at', 'invalid_request:at', 'ok']);
    expect(h.state('m1')).toMatchObject({ purchaseCount: 2, points: 10 });
    expect(h.state('m2')).toBeUndefined();
    expect(h.shardOf('m1').store.orders.get('old-1')).toBeUndefined();
    expect(h.mismatches()).toEqual([]);
  });

  it('refuses an amount past the range of the core alone', () => {
    h = new ShardHarness(demoProgram(), 1);
    h.one({ op: 'register', memberId: 'm1', key: 'reg:m:m1', fp: 1, atMs: AT, referralChain: [] });
    const results = h.batch([
      purchase('big', AT + 1_000, 2_000_000_000_000),
      { op: 'topup', memberId: 'm1', amountCents: -5, key: 'req:t1', fp: 3, atMs: AT },
      { op: 'adjust', memberId: 'm1', points: 0.5, reason: 'x', key: 'req:a1', fp: 3, atMs: AT },
      { op: 'return', memberId: 'm1', orderId: 'ok-1', returnId: 'r', amountCents: -1, key: 'ret:r', fp: 4, atMs: AT },
      purchase('ok-1', AT + 2_000),
    ]);
    expect(results.map(outcome)).toEqual(['invalid_request:amountCents', 'invalid_request:amountCents', 'invalid_request:points', 'invalid_request:amountCents', 'ok']);
    expect(h.state('m1')).toMatchObject({ purchaseCount: 1, walletCents: 0, points: 5 });
  });
});

describe('the front end', () => {
  const ctx = { role: 'admin' as const, nowMs: AT, defaultCountry: 'HK' };
  const fieldOf = (build: () => unknown): string | null => {
    try { build(); return null; } catch (err) { return err instanceof FieldError ? `${err.field}: ${err.message}` : String(err); }
  };

  it('refuses an `at` before 2000-01-01T00:00:00Z, or more than 5 minutes ahead, naming the field', () => {
    const body = (at: string | number) => ({ orderId: 'o', memberId: 'm1', amountCents: 100, at });
    expect(fieldOf(() => purchaseOp(body('1969-12-31T23:59:59Z'), ctx))).toBe('at: must not be before 2000-01-01T00:00:00Z');
    expect(fieldOf(() => purchaseOp(body('1999-12-31T23:59:59.999Z'), ctx))).toBe('at: must not be before 2000-01-01T00:00:00Z');
    expect(fieldOf(() => purchaseOp(body(946_684_799_999), ctx))).toBe('at: must not be before 2000-01-01T00:00:00Z');
    expect(fieldOf(() => topupOp({ requestId: 'r', memberId: 'm1', amountCents: 100, at: '0001-01-01T00:00:00Z' }, ctx))).toBe('at: must not be before 2000-01-01T00:00:00Z');
    expect(fieldOf(() => registerOp({ memberId: 'x', at: '1950-06-01T00:00:00+08:00' }, ctx, () => 'x'))).toBe('at: must not be before 2000-01-01T00:00:00Z');
    expect(fieldOf(() => purchaseOp(body(new Date(AT + 5 * 60_000 + 1).toISOString()), ctx))).toBe('at: is more than 5 minutes in the future');
    expect(purchaseOp(body('2000-01-01T00:00:00Z'), ctx).atMs).toBe(Date.UTC(2000, 0, 1));
    expect(purchaseOp(body(new Date(AT + 5 * 60_000).toISOString()), ctx).atMs).toBe(AT + 5 * 60_000);
  });
});
