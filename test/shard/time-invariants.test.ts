// The time invariants of a shard: a profile change that adds or changes a birthday keeps the member
// in the sweep's due index at its next event (period end, birthday), so the tier drops at its
// period's end and the gift comes on the birthday; and verify sees this class of defect: a member
// missing from the index or indexed at the wrong time, an index entry for nobody, a stored next
// event time that is not the state's, and an event left due at or before the last complete sweep.
import { afterEach, describe, expect, it } from 'vitest';
import { ShardHarness } from '../helpers/shard-harness.js';
import { demoProgram } from '../../engine/rules/program.js';
import { encodeProgram } from '../../engine/core/wasm.js';
import { getState, putState } from '../../engine/shard/store.js';
import type { PatchOp, RegisterOp } from '../../engine/ops.js';
import type { Program } from '../../engine/rules/program-types.js';

const DAY_MS = 86_400_000;
const AT = Date.parse('2026-03-10T02:00:00Z');
let h: ShardHarness;
afterEach(async () => { await h.close(); });

const program: Program = { ...demoProgram(), birthday: { bonusPoints: 50, multiplierPct: 100 } };
const register = (memberId: string, extra: Partial<RegisterOp> = {}): RegisterOp =>
  ({ op: 'register', memberId, key: 'reg:m:' + memberId, fp: 1, atMs: AT, referralChain: [], ...extra });
const patch = (memberId: string, birthday: string, atMs: number): PatchOp => ({ op: 'patch', memberId, key: '', fp: 0, atMs, birthday });

describe('a birthday set by a profile change', () => {
  it('keeps the member in the due index: the gift on the birthday, the tier drops at period end', () => {
    h = new ShardHarness(program, 1);
    expect(h.one(register('g1', { tierId: 'gold' }))).toMatchObject({ ok: true });
    const periodEnd = AT + 365 * DAY_MS;
    expect(h.one(patch('g1', '1990-07-15', AT + DAY_MS))).toMatchObject({ ok: true, birthday: '1990-07-15' });
    // Hong Kong midnight of 15 July 2026; the period ends later, on 10 March 2027.
    const gift = Date.parse('2026-07-14T16:00:00Z');
    expect(h.state('g1')).toMatchObject({ birthdayMonth: 7, birthdayDay: 15, lastBirthdayYear: 2025, nextDue: gift });
    expect(h.mismatches()).toEqual([]);

    h.sweep(Date.parse('2026-07-20T00:00:00Z'));
    expect(h.state('g1')).toMatchObject({ tierId: 'gold', points: 50, nextDue: periodEnd });
    h.sweep(periodEnd + DAY_MS);
    expect(h.state('g1')).toMatchObject({ tierId: 'member', periodEnd: null, nextDue: Date.parse('2027-07-14T16:00:00Z') });
    expect(h.entries('g1').map((e) => [e.kind, e.at, e.pointsDelta, e.tierId])).toEqual([
      // The profile change leaves its member_update entry (no balance moves), for webhooks.
      ['register', AT, 0, 'gold'], ['member_update', AT + DAY_MS, 0, null], ['birthday', gift, 50, null], ['downgrade', periodEnd, 0, 'member'],
    ]);
    expect(h.mismatches()).toEqual([]);
  });

  it('changes the day with the month, and never pays a year twice', () => {
    h = new ShardHarness(program, 1);
    h.one(register('c1', { birthday: '1990-03-20' }));
    h.sweep(Date.parse('2026-03-25T00:00:00Z'));
    expect(h.state('c1')).toMatchObject({ points: 50, lastBirthdayYear: 2026 });
    // Moved to 5 July: this year's gift was paid on 20 March, so the next one is in 2027.
    h.one(patch('c1', '1990-07-05', Date.parse('2026-04-01T00:00:00Z')));
    expect(h.state('c1')).toMatchObject({ birthdayMonth: 7, birthdayDay: 5, lastBirthdayYear: 2026, nextDue: Date.parse('2027-07-04T16:00:00Z') });
    h.sweep(Date.parse('2026-12-31T00:00:00Z'));
    expect(h.state('c1')!.points).toBe(50);
    expect(h.mismatches()).toEqual([]);
  });
});

describe('verify', () => {
  it('reports a member missing from the due index, a wrong time, an entry for nobody, and an overdue event', () => {
    h = new ShardHarness(program, 1);
    for (const id of ['v1', 'v2', 'v3', 'v4']) h.one(register(id, { tierId: 'silver' }));
    const periodEnd = AT + 365 * DAY_MS;
    h.sweep(AT + DAY_MS);
    expect(h.mismatches()).toEqual([]);
    const { store } = h.shards[0]!;
    store.root.transactionSync(() => {
      // v1: out of the index, as a negative next event time left a member.
      const v1 = getState(store, 'v1')!;
      store.due.removeSync([periodEnd, 'v1']);
      putState(store, 'v1', { ...v1, nextDue: -1 });
      // v2: indexed a day late.
      store.due.removeSync([periodEnd, 'v2']);
      store.due.putSync([periodEnd + DAY_MS, 'v2'], '');
      // Nobody: an entry for a member that does not exist.
      store.due.putSync([periodEnd, 'ghost'], '');
      // v4: its period ended before the last complete sweep, yet nothing applied it.
      const v4 = getState(store, 'v4')!;
      store.due.removeSync([periodEnd, 'v4']);
      store.due.putSync([AT, 'v4'], '');
      putState(store, 'v4', { ...v4, periodEnd: AT, nextDue: AT });
    });
    expect(h.mismatches()).toEqual([
      { memberId: 'v1', field: 'nextDue', stored: -1, ledger: periodEnd },
      { memberId: 'v2', field: 'due', stored: [periodEnd + DAY_MS], ledger: [periodEnd] },
      { memberId: 'v4', field: 'overdue', stored: AT, ledger: `applied by the sweep as of ${AT + DAY_MS}` },
      { memberId: 'ghost', field: 'due', stored: [periodEnd], ledger: 'no such member' },
    ]);
  });

  it('no longer loses a member whose events fell before 1970: it is due at once, and the settling at start mends it', () => {
    h = new ShardHarness(program, 1);
    h.one(register('old', { tierId: 'gold' }));
    const { store, exec } = h.shards[0]!;
    const end = AT + 365 * DAY_MS;
    store.root.transactionSync(() => {
      // As data written before `at` was bounded could be: a period that ended in 1969, unindexed.
      store.due.removeSync([end, 'old']);
      putState(store, 'old', { ...getState(store, 'old')!, periodEnd: -DAY_MS, nextDue: -1 });
    });
    expect(h.mismatches()).toEqual([
      { memberId: 'old', field: 'nextDue', stored: -1, ledger: 0 },
    ]);
    const ctx = h.ctx;
    expect(store.root.transactionSync(() => exec.settle(ctx, AT, null, 100, (out) => encodeProgram(ctx.program, out)))).toBeNull();
    expect(h.state('old')!.nextDue).toBe(0);
    expect(h.mismatches()).toEqual([]);
    h.sweep(AT + DAY_MS);
    expect(h.state('old')).toMatchObject({ tierId: 'member', nextDue: -1 });
    expect(h.mismatches()).toEqual([]);
  });
});
