// The read side of a shard's coupons, on stores written as the executor writes them (records,
// both indexes, the per-template counters, the ledger entries and the totals): each query's exact
// answer, the report's figures over a window, the export's pages, and verify clean on such a store
// and naming each kind of tampering.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import { answer, verify } from '../../engine/shard/queries.js';
import { getState, LedgerAppender, putState, type ShardStore } from '../../engine/shard/store.js';
import { entry } from '../../engine/shard/batch-scope.js';
import { couponsActive, readTotals, TotalsChange, type BookTotals } from '../../engine/rules/totals.js';
import { mergeCouponReport, type CouponFigures } from '../../engine/rules/coupon-report.js';
import { COUPON_COLUMNS } from '../../engine/rules/coupon-views.js';
import { localDaysWindowMs } from '../../engine/rules/local-day.js';
import type { CouponRecord } from '../../engine/rules/coupons.js';
import type { RegisterOp } from '../../engine/ops.js';
import { MEMBER_COUPONS_LIST_MAX } from '../../engine/limits.js';

const at = (iso: string) => Date.parse(iso);
const MAX = Number.MAX_SAFE_INTEGER;
const code = (name: string) => name.padEnd(12, '0');

type CouponKind = 'coupon_issue' | 'coupon_use' | 'coupon_restore' | 'coupon_expire' | 'coupon_revoke';
const TOTAL_OF = {
  coupon_issue: 'couponsIssued', coupon_use: 'couponsUsed', coupon_restore: 'couponsRestored', coupon_expire: 'couponsExpired', coupon_revoke: 'couponsRevoked',
} as const;

/** One batch of coupon events written as the executor writes them, in one transaction. */
class CouponBatch {
  private readonly ledger: LedgerAppender;
  private readonly totals = new TotalsChange();

  constructor(private readonly store: ShardStore) {
    this.ledger = new LedgerAppender(store);
  }

  private record(c: string): CouponRecord {
    const r = this.store.coupons.get(c);
    if (r === undefined) throw new Error(`no coupon ${c}`);
    return r;
  }

  /** Appends the entry on the member's chain and moves the totals by it, as engine/shard/batch-coupons.ts does. */
  private append(kind: CouponKind, c: string, memberId: string, atMs: number, discountCents = 0): void {
    const state = getState(this.store, memberId)!;
    const e = entry(atMs, kind, memberId, c, {});
    e.prev = state.lastSeq;
    state.lastSeq = this.ledger.append(e);
    putState(this.store, memberId, state);
    this.totals[TOTAL_OF[kind]] += 1;
    if (kind === 'coupon_use') this.totals.couponDiscountCents.add(discountCents);
    if (kind === 'coupon_restore') this.totals.couponDiscountCents.add(-discountCents);
  }

  issue(c: string, templateId: string, memberId: string, atMs: number, expiresAtMs: number, more: Partial<CouponRecord> = {}): this {
    const r: CouponRecord = {
      code: c, templateId, memberId, state: 'active', issuedAtMs: atMs, validFromMs: atMs, expiresAtMs, source: 'admin',
      issuedByOrderId: null, usedOrderId: null, discountCents: 0, history: [['active', atMs]], ...more,
    };
    this.store.coupons.putSync(c, r);
    this.store.memberCoupons.putSync([memberId, c], templateId);
    this.store.couponDue.putSync([expiresAtMs, c], '');
    this.store.meta.putSync(`cc:${templateId}`, ((this.store.meta.get(`cc:${templateId}`) as number | undefined) ?? 0) + 1);
    this.append('coupon_issue', c, memberId, atMs);
    return this;
  }

  use(c: string, atMs: number, orderId: string, discountCents: number): this {
    const r = this.record(c);
    this.store.coupons.putSync(c, { ...r, state: 'used', usedOrderId: orderId, discountCents, history: [...r.history, ['used', atMs]] });
    this.store.couponDue.removeSync([r.expiresAtMs, c]);
    this.append('coupon_use', c, r.memberId, atMs, discountCents);
    return this;
  }

  restore(c: string, atMs: number): this {
    const r = this.record(c);
    this.store.coupons.putSync(c, { ...r, state: 'active', usedOrderId: null, discountCents: 0, history: [...r.history, ['active', atMs]] });
    this.store.couponDue.putSync([r.expiresAtMs, c], '');
    this.append('coupon_restore', c, r.memberId, atMs, r.discountCents);
    return this;
  }

  expire(c: string): this {
    const r = this.record(c);
    this.store.coupons.putSync(c, { ...r, state: 'expired', history: [...r.history, ['expired', r.expiresAtMs]] });
    this.store.couponDue.removeSync([r.expiresAtMs, c]);
    this.append('coupon_expire', c, r.memberId, r.expiresAtMs);
    return this;
  }

  revoke(c: string, atMs: number): this {
    const r = this.record(c);
    this.store.coupons.putSync(c, { ...r, state: 'revoked', history: [...r.history, ['revoked', atMs]] });
    this.store.couponDue.removeSync([r.expiresAtMs, c]);
    this.append('coupon_revoke', c, r.memberId, atMs);
    return this;
  }

  finish(): void {
    this.ledger.finish();
    this.store.meta.putSync('totals', this.totals.appliedTo(readTotals(this.store.meta.get('totals'))));
  }
}

let h: ShardHarness | undefined;
afterEach(async () => { await h?.close(); h = undefined; });

/** A one-shard store with members ann and bob, and `write`'s coupon events as one batch. */
function shardWith(write: (b: CouponBatch) => void): ShardStore {
  h = new ShardHarness(demoProgram(), 1);
  const register = (memberId: string): RegisterOp => ({ op: 'register', memberId, key: 'reg:m:' + memberId, fp: 1, atMs: at('2026-03-01T00:00:00Z'), referralChain: [] });
  expect(h.batch([register('ann'), register('bob')]).every((r) => r.ok)).toBe(true);
  const store = h.shards[0]!.store;
  store.root.transactionSync(() => { const b = new CouponBatch(store); write(b); b.finish(); });
  return store;
}

const tamper = (store: ShardStore, change: () => void) => store.root.transactionSync(change);

/**
 * The report's fixture (Hong Kong dates 10–12 March 2026 are [09T16:00Z, 12T16:00Z)): each coupon
 * notes what it adds to its template's figures.
 */
function reportFixture(b: CouponBatch): void {
  b.issue(code('K1'), 'w10', 'ann', at('2026-03-05T00:00:00Z'), at('2026-04-05T16:00:00Z'))
    .use(code('K1'), at('2026-03-10T01:00:00Z'), 'o-1', 1000); // used 1, discount 1000
  b.issue(code('K2'), 'w10', 'ann', at('2026-03-10T00:00:00Z'), at('2026-04-10T16:00:00Z')) // issued 1
    .use(code('K2'), at('2026-03-11T00:00:00Z'), 'o-2', 500) // used 1
    .restore(code('K2'), at('2026-03-11T05:00:00Z')) // restored 1
    .use(code('K2'), at('2026-03-12T10:00:00Z'), 'o-3', 700); // used 1, discount 700 (its current use), issuedUsed 1
  b.issue(code('K3'), 'w10', 'bob', at('2026-03-11T00:00:00Z'), at('2026-03-25T16:00:00Z')); // issued 1, activeNow 1
  b.issue(code('K4'), 'w10', 'bob', at('2026-03-01T00:00:00Z'), at('2026-03-10T16:00:00Z')).expire(code('K4')); // expired 1
  b.issue(code('K5'), 'pct', 'bob', at('2026-03-12T15:59:59.999Z'), at('2026-04-12T16:00:00Z')) // issued 1 (the window's last ms)
    .revoke(code('K5'), at('2026-03-12T16:00:00Z')); // after the window: not counted
  b.issue(code('K6'), 'pct', 'ann', at('2026-03-09T15:59:59.999Z'), at('2026-03-12T16:00:00Z')); // before the window; past expiry now, not swept
  b.issue(code('K7'), 'old', 'ann', at('2026-03-10T00:00:00Z'), at('2026-04-10T16:00:00Z')) // issued 1
    .use(code('K7'), at('2026-03-16T00:00:00Z'), 'o-4', 300); // used after the window; issuedUsed 1
}
const WINDOW = { fromMs: at('2026-03-09T16:00:00Z'), toMs: at('2026-03-12T16:00:00Z'), nowMs: at('2026-03-18T00:00:00Z') };
const zero: CouponFigures = { issued: 0, used: 0, restored: 0, expired: 0, revoked: 0, activeNow: 0, discountCents: 0, issuedUsed: 0 };

describe('coupon queries', () => {
  it('coupon: the view with ISO instants and its history; its state at an instant; null when absent', () => {
    const store = shardWith(reportFixture);
    expect(answer(store, { q: 'coupon', code: code('K2') })).toEqual({
      code: 'K20000000000', templateId: 'w10', memberId: 'ann', state: 'used',
      issuedAt: '2026-03-10T00:00:00.000Z', validFrom: '2026-03-10T00:00:00.000Z', expiresAt: '2026-04-10T16:00:00.000Z',
      source: 'admin', orderId: null, usedOrderId: 'o-3', discountCents: 700,
      history: [
        { state: 'active', at: '2026-03-10T00:00:00.000Z' }, { state: 'used', at: '2026-03-11T00:00:00.000Z' },
        { state: 'active', at: '2026-03-11T05:00:00.000Z' }, { state: 'used', at: '2026-03-12T10:00:00.000Z' },
      ],
    });
    const stateAt = (iso: string) => (answer(store, { q: 'coupon', code: code('K2'), atMs: at(iso) }) as { at: string; stateAt: string | null });
    expect(stateAt('2026-03-09T23:59:59.999Z')).toMatchObject({ at: '2026-03-09T23:59:59.999Z', stateAt: null });
    expect(stateAt('2026-03-10T00:00:00Z').stateAt).toBe('active');
    expect(stateAt('2026-03-11T04:59:59.999Z').stateAt).toBe('used');
    expect(stateAt('2026-03-11T05:00:00Z').stateAt).toBe('active');
    expect(stateAt('2026-03-12T10:00:00Z').stateAt).toBe('used');
    expect(answer(store, { q: 'coupon', code: code('K4'), atMs: at('2026-03-10T16:00:00Z') })).toMatchObject({ state: 'expired', stateAt: 'expired' });
    expect(answer(store, { q: 'coupon', code: code('K4') })).not.toHaveProperty('stateAt');
    expect(answer(store, { q: 'coupon', code: code('ZZ') })).toBeNull();
  });

  it('memberCoupons: newest issue first, one state when asked, null for an unknown member', () => {
    const store = shardWith(reportFixture);
    const codes = (q: { memberId: string; state?: 'active' | 'used' | 'expired' | 'revoked' }) =>
      (answer(store, { q: 'memberCoupons', ...q }) as Array<{ code: string }>).map((c) => c.code.slice(0, 2));
    expect(codes({ memberId: 'ann' })).toEqual(['K2', 'K7', 'K6', 'K1']); // K2 and K7 at the same instant: by code
    expect(codes({ memberId: 'ann', state: 'used' })).toEqual(['K2', 'K7', 'K1']);
    expect(codes({ memberId: 'ann', state: 'active' })).toEqual(['K6']);
    expect(codes({ memberId: 'bob' })).toEqual(['K5', 'K3', 'K4']);
    expect(codes({ memberId: 'bob', state: 'revoked' })).toEqual(['K5']);
    expect(codes({ memberId: 'bob', state: 'used' })).toEqual([]);
    expect((answer(store, { q: 'memberCoupons', memberId: 'ann' }) as unknown[])[0]).toEqual(answer(store, { q: 'coupon', code: code('K2') }));
    expect(answer(store, { q: 'memberCoupons', memberId: 'nobody' })).toBeNull();
  });

  it('memberCoupons lists at most MEMBER_COUPONS_LIST_MAX, the newest', () => {
    const n = MEMBER_COUPONS_LIST_MAX + 1;
    const store = shardWith((b) => {
      for (let i = 0; i < n; i++) b.issue(`M${String(i).padStart(11, '0')}`, 'w10', 'ann', at('2026-03-01T00:00:00Z') + i, at('2026-04-01T00:00:00Z'));
    });
    const list = answer(store, { q: 'memberCoupons', memberId: 'ann' }) as Array<{ code: string }>;
    expect(list.length).toBe(MEMBER_COUPONS_LIST_MAX);
    expect(list[0]!.code).toBe(`M${String(n - 1).padStart(11, '0')}`);
    expect(list[list.length - 1]!.code).toBe('M00000000001');
  });

  it('couponCounts: the per-template counters; the member view lists the active coupons, soonest expiry first', () => {
    const store = shardWith(reportFixture);
    expect(answer(store, { q: 'couponCounts' })).toEqual({ old: 1, pct: 2, w10: 4 });
    expect((answer(store, { q: 'member', memberId: 'ann' }) as { coupons: unknown }).coupons).toEqual([
      { code: 'K60000000000', templateId: 'pct', expiresAt: '2026-03-12T16:00:00.000Z' },
    ]);
    store.root.transactionSync(() => { const b = new CouponBatch(store); b.restore(code('K1'), at('2026-03-13T00:00:00Z')); b.finish(); });
    expect((answer(store, { q: 'member', memberId: 'ann' }) as { coupons: unknown }).coupons).toEqual([
      { code: 'K60000000000', templateId: 'pct', expiresAt: '2026-03-12T16:00:00.000Z' },
      { code: 'K10000000000', templateId: 'w10', expiresAt: '2026-04-05T16:00:00.000Z' },
    ]);
    expect((answer(store, { q: 'member', memberId: 'bob' }) as { coupons: unknown }).coupons).toEqual([
      { code: 'K30000000000', templateId: 'w10', expiresAt: '2026-03-25T16:00:00.000Z' },
    ]);
    expect(verify(store).mismatches).toEqual([]);
  });

  it('couponReport: each template\'s exact figures over the window, merged in program order', () => {
    const store = shardWith(reportFixture);
    const part = answer(store, { q: 'couponReport', ...WINDOW }) as Record<string, CouponFigures>;
    expect(part).toEqual({
      w10: { issued: 2, used: 3, restored: 1, expired: 1, revoked: 0, activeNow: 1, discountCents: 1700, issuedUsed: 1 },
      pct: { ...zero, issued: 1 },
      old: { ...zero, issued: 1, issuedUsed: 1 },
    });
    const merged = mergeCouponReport([{ id: 'w10', name: 'Welcome' }, { id: 'pct', name: 'Ten percent' }, { id: 'unused', name: 'Never issued' }], [part, { w10: { ...zero, issued: 2 } }]);
    expect(merged).toEqual({
      templates: [
        { templateId: 'w10', name: 'Welcome', issued: 4, used: 3, restored: 1, expired: 1, revoked: 0, activeNow: 1, discountCents: 1700, issuedUsed: 1, useRate: 0.25 },
        { templateId: 'pct', name: 'Ten percent', ...zero, issued: 1, useRate: 0 },
        { templateId: 'unused', name: 'Never issued', ...zero, useRate: null },
        { templateId: 'old', name: null, ...zero, issued: 1, issuedUsed: 1, useRate: 1 },
      ],
      totals: { issued: 6, used: 3, restored: 1, expired: 1, revoked: 0, activeNow: 1, discountCents: 1700, issuedUsed: 2, useRate: 0.3333 },
    });
    // Later in the window the revocation counts; K6 (issued a millisecond before it) does not.
    const later = answer(store, { q: 'couponReport', ...WINDOW, toMs: WINDOW.toMs + 1 }) as Record<string, CouponFigures>;
    expect(later['pct']).toEqual({ ...zero, issued: 1, revoked: 1 });
    const earlier = answer(store, { q: 'couponReport', ...WINDOW, fromMs: WINDOW.fromMs - 1 }) as Record<string, CouponFigures>;
    expect(earlier['pct']).toEqual({ ...zero, issued: 2 });
  });

  it('couponReport: the discount given is exact past 2^53, on a shard and across shards', () => {
    const store = shardWith((b) => {
      for (const name of ['B1', 'B2']) {
        b.issue(code(name), 'big', 'ann', at('2026-03-10T00:00:00Z'), at('2026-04-10T16:00:00Z')).use(code(name), at('2026-03-10T01:00:00Z'), `o-${name}`, MAX - 1);
      }
    });
    const part = answer(store, { q: 'couponReport', ...WINDOW }) as Record<string, CouponFigures>;
    expect(part['big']!.discountCents).toBe((2n * BigInt(MAX - 1)).toString());
    const merged = mergeCouponReport([], [part, { big: { ...zero, discountCents: 2 } }]);
    expect(merged.templates[0]!.discountCents).toBe((2n * BigInt(MAX - 1) + 2n).toString());
    expect(merged.totals.discountCents).toBe((2n * BigInt(MAX - 1) + 2n).toString());
    expect(answer(store, { q: 'totals' })).toMatchObject({ couponsIssued: 2, couponsUsed: 2, couponDiscountCents: (2n * BigInt(MAX - 1)).toString() });
    expect(verify(store).mismatches).toEqual([]);
  });

  it('couponsPage: code order, pages of `limit` with a cursor, the export\'s columns', () => {
    const store = shardWith(reportFixture);
    type Page = { rows: Array<Array<string | number | null>>; next: string | null };
    const pages: Page[] = [];
    for (let after: string | null | undefined; after !== null;) {
      const page = answer(store, { q: 'couponsPage', after: after ?? null, limit: 3 }) as Page;
      pages.push(page);
      after = page.next;
    }
    expect(pages.map((p) => p.rows.map((r) => (r[0] as string).slice(0, 2)))).toEqual([['K1', 'K2', 'K3'], ['K4', 'K5', 'K6'], ['K7']]);
    expect(COUPON_COLUMNS).toEqual(['code', 'templateId', 'memberId', 'state', 'issuedAt', 'validFrom', 'expiresAt', 'source', 'orderId', 'usedOrderId', 'discountCents']);
    expect(pages[0]!.rows[1]).toEqual(['K20000000000', 'w10', 'ann', 'used', '2026-03-10T00:00:00.000Z', '2026-03-10T00:00:00.000Z', '2026-04-10T16:00:00.000Z', 'admin', null, 'o-3', 700]);
    // A page that ends exactly at the last coupon says so at the next read.
    expect(answer(store, { q: 'couponsPage', after: null, limit: 7 })).toMatchObject({ next: null });
    expect((answer(store, { q: 'couponsPage', after: code('K7'), limit: 7 }) as Page).rows).toEqual([]);
  });

  it('the window of local dates: local midnight to local midnight, across a change of offset', () => {
    expect(localDaysWindowMs('2026-03-10', '2026-03-12', 'Asia/Hong_Kong')).toEqual({ fromMs: at('2026-03-09T16:00:00Z'), toMs: at('2026-03-12T16:00:00Z') });
    expect(localDaysWindowMs('2026-03-29', '2026-03-29', 'Europe/London')).toEqual({ fromMs: at('2026-03-29T00:00:00Z'), toMs: at('2026-03-29T23:00:00Z') });
    expect(() => localDaysWindowMs('2026-03-12', '2026-03-10', 'Asia/Hong_Kong')).toThrow('must not be before from');
  });
});

describe('the summary\'s coupon figures', () => {
  it('count each coupon event; the coupons active follow from them; totals stored before them read as 0', () => {
    const store = shardWith(reportFixture);
    // Issued 7; used K1, K2 twice and K7; K2 given back once; K4 expired; K5 revoked. The discount
    // of the uses less the one given back: 1000 + 500 + 700 + 300 − 500. Active: K3 and K6.
    const totals = answer(store, { q: 'totals' }) as BookTotals;
    expect(totals).toMatchObject({ couponsIssued: 7, couponsUsed: 4, couponsRestored: 1, couponsExpired: 1, couponsRevoked: 1, couponDiscountCents: 2000 });
    expect(couponsActive(totals)).toBe(2);
    const old = { ...(store.meta.get('totals') as Record<string, unknown>) };
    for (const field of ['couponsIssued', 'couponsUsed', 'couponsRestored', 'couponsExpired', 'couponsRevoked', 'couponDiscountCents']) delete old[field];
    expect(readTotals(old)).toMatchObject({ members: 2, couponsIssued: 0, couponsUsed: 0, couponsRestored: 0, couponsExpired: 0, couponsRevoked: 0, couponDiscountCents: 0 });
    tamper(store, () => store.meta.putSync('totals', old));
    expect(answer(store, { q: 'totals' })).toMatchObject({ members: 2, couponsIssued: 0, couponDiscountCents: 0 });
    // A batch on such totals counts from 0.
    store.root.transactionSync(() => { const b = new CouponBatch(store); b.issue(code('N1'), 'w10', 'bob', at('2026-03-20T00:00:00Z'), at('2026-04-20T00:00:00Z')).use(code('N1'), at('2026-03-20T01:00:00Z'), 'o-9', 250); b.finish(); });
    expect(answer(store, { q: 'totals' })).toMatchObject({ members: 2, couponsIssued: 1, couponsUsed: 1, couponsRestored: 0, couponDiscountCents: 250 });
  });
});

describe('verify recounts the coupons', () => {
  const K2 = code('K2');
  const K3 = code('K3');
  const fixture = () => shardWith(reportFixture);

  it('finds nothing on a store the executor would write', () => {
    const store = fixture();
    expect(verify(store).mismatches).toEqual([]);
    // The sweep's expiry of K6 and a return giving K7 back keep it clean.
    store.root.transactionSync(() => { const b = new CouponBatch(store); b.expire(code('K6')).restore(code('K7'), at('2026-03-17T00:00:00Z')); b.finish(); });
    expect(verify(store).mismatches).toEqual([]);
  });

  it('a state the ledger does not give', () => {
    const store = fixture();
    tamper(store, () => store.coupons.putSync(K2, { ...store.coupons.get(K2)!, state: 'revoked' }));
    expect(verify(store).mismatches).toEqual([
      { memberId: 'ann', field: `coupons.${K2}.state`, stored: 'revoked', ledger: 'used' },
      { memberId: null, field: 'totals.couponDiscountCents', stored: 2000, ledger: 1300 },
    ]);
  });

  it('a member the ledger does not give, with the index entries that follow it', () => {
    const store = fixture();
    tamper(store, () => store.coupons.putSync(K3, { ...store.coupons.get(K3)!, memberId: 'ann' }));
    expect(verify(store).mismatches).toEqual([
      { memberId: 'ann', field: `coupons.${K3}.memberId`, stored: 'ann', ledger: 'bob' },
      { memberId: 'ann', field: `coupons.${K3}.memberCoupons`, stored: null, ledger: 'w10' },
      { memberId: 'bob', field: `coupons.${K3}.memberCoupons`, stored: 'w10', ledger: null },
    ]);
  });

  it('entries of one code under two members', () => {
    const store = fixture();
    tamper(store, () => { const b = new CouponBatch(store); b['append']('coupon_revoke', K3, 'ann', at('2026-03-13T00:00:00Z')); b.finish(); });
    expect(verify(store).mismatches).toEqual([
      { memberId: 'bob', field: `coupons.${K3}.memberId`, stored: 'bob', ledger: ['bob', 'ann'] },
      { memberId: 'bob', field: `coupons.${K3}.state`, stored: 'active', ledger: 'revoked' },
      { memberId: 'bob', field: `coupons.${K3}.history`, stored: [['active', at('2026-03-11T00:00:00Z')]], ledger: [['active', at('2026-03-11T00:00:00Z')], ['revoked', at('2026-03-13T00:00:00Z')]] },
      { memberId: null, field: 'totals.couponsRevoked', stored: 2, ledger: 1 },
    ]);
  });

  it('a history whose instants differ from the entries\'', () => {
    const store = fixture();
    const r = store.coupons.get(K2)!;
    const history: CouponRecord['history'] = r.history.map(([s, t], i) => [s, i === 1 ? t + 1 : t]);
    tamper(store, () => store.coupons.putSync(K2, { ...r, history }));
    expect(verify(store).mismatches).toEqual([{ memberId: 'ann', field: `coupons.${K2}.history`, stored: history, ledger: r.history }]);
  });

  it('a record without entries, and entries without a record', () => {
    const store = fixture();
    const ghost = code('GH');
    tamper(store, () => {
      store.coupons.putSync(ghost, { ...store.coupons.get(K3)!, code: ghost });
      store.memberCoupons.putSync(['bob', ghost], 'w10');
      store.couponDue.putSync([at('2026-03-25T16:00:00Z'), ghost], '');
    });
    expect(verify(store).mismatches).toEqual([
      { memberId: 'bob', field: `coupons.${ghost}`, stored: 'active', ledger: null },
      { memberId: null, field: 'couponCounts.w10', stored: 4, ledger: 5 },
      { memberId: null, field: 'totals.couponsIssued', stored: 7, ledger: 8 },
    ]);
    tamper(store, () => {
      for (const c of [ghost, K3]) {
        const rec = store.coupons.get(c)!;
        store.coupons.removeSync(c);
        store.memberCoupons.removeSync([rec.memberId, c]);
        store.couponDue.removeSync([rec.expiresAtMs, c]);
      }
    });
    expect(verify(store).mismatches).toEqual([
      { memberId: 'bob', field: `coupons.${K3}`, stored: null, ledger: 'active' },
      { memberId: null, field: 'couponCounts.w10', stored: 4, ledger: 3 },
      { memberId: null, field: 'totals.couponsIssued', stored: 7, ledger: 6 },
    ]);
  });

  it('a member index entry missing, of another template, or without its coupon', () => {
    const store = fixture();
    tamper(store, () => store.memberCoupons.removeSync(['bob', K3]));
    expect(verify(store).mismatches).toEqual([{ memberId: 'bob', field: `coupons.${K3}.memberCoupons`, stored: null, ledger: 'w10' }]);
    tamper(store, () => store.memberCoupons.putSync(['bob', K3], 'pct'));
    expect(verify(store).mismatches).toEqual([{ memberId: 'bob', field: `coupons.${K3}.memberCoupons`, stored: 'pct', ledger: 'w10' }]);
    tamper(store, () => { store.memberCoupons.putSync(['bob', K3], 'w10'); store.memberCoupons.putSync(['bob', code('NO')], 'w10'); });
    expect(verify(store).mismatches).toEqual([{ memberId: 'bob', field: `coupons.${code('NO')}.memberCoupons`, stored: 'w10', ledger: null }]);
  });

  it('an active coupon without its due entry, a used one with one, one at the wrong time, one without a coupon', () => {
    const store = fixture();
    const k3 = store.coupons.get(K3)!;
    const k2 = store.coupons.get(K2)!;
    tamper(store, () => {
      store.couponDue.removeSync([k3.expiresAtMs, K3]);
      store.couponDue.putSync([k2.expiresAtMs, K2], '');
      store.couponDue.putSync([at('2026-05-01T00:00:00Z'), code('NO')], '');
    });
    expect(verify(store).mismatches).toEqual([
      { memberId: 'ann', field: `coupons.${K2}.couponDue`, stored: [k2.expiresAtMs], ledger: [] },
      { memberId: 'bob', field: `coupons.${K3}.couponDue`, stored: [], ledger: [k3.expiresAtMs] },
      { memberId: null, field: `coupons.${code('NO')}.couponDue`, stored: [at('2026-05-01T00:00:00Z')], ledger: 'no such coupon' },
    ]);
    tamper(store, () => {
      store.couponDue.removeSync([k2.expiresAtMs, K2]);
      store.couponDue.removeSync([at('2026-05-01T00:00:00Z'), code('NO')]);
      store.couponDue.putSync([k3.expiresAtMs + 1, K3], '');
    });
    expect(verify(store).mismatches).toEqual([{ memberId: 'bob', field: `coupons.${K3}.couponDue`, stored: [k3.expiresAtMs + 1], ledger: [k3.expiresAtMs] }]);
  });

  it('a per-template counter that is not the coupons of its template', () => {
    const store = fixture();
    tamper(store, () => { store.meta.putSync('cc:w10', 5); store.meta.putSync('cc:gone', 1); });
    expect(verify(store).mismatches).toEqual([
      { memberId: null, field: 'couponCounts.gone', stored: 1, ledger: 0 },
      { memberId: null, field: 'couponCounts.w10', stored: 5, ledger: 4 },
    ]);
  });

  it('the totals\' coupon figures against the records', () => {
    const store = fixture();
    tamper(store, () => store.meta.putSync('totals', {
      ...readTotals(store.meta.get('totals')), couponsIssued: 6, couponsUsed: 5, couponsRestored: 0, couponsExpired: 2, couponsRevoked: 0, couponDiscountCents: 1999,
    }));
    expect(verify(store).mismatches).toEqual([
      { memberId: null, field: 'totals.couponsIssued', stored: 6, ledger: 7 },
      { memberId: null, field: 'totals.couponsUsed', stored: 5, ledger: 4 },
      { memberId: null, field: 'totals.couponsRestored', stored: 0, ledger: 1 },
      { memberId: null, field: 'totals.couponsExpired', stored: 2, ledger: 1 },
      { memberId: null, field: 'totals.couponsRevoked', stored: 0, ledger: 1 },
      { memberId: null, field: 'totals.couponDiscountCents', stored: 1999, ledger: 2000 },
    ]);
  });
});
