// The bulk import's shard path (BatchExecutor.importBatch) against the general one (apply): the same
// rows registered either way leave the same state, profile, ledger, due index and totals, with
// points that expire (grants), signup points, opening tiers and wallets, birthdays, refusals and
// repeats. Then the replay of an imported member's registration through the general path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allEntries, getState, openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { encodeProgram, loadCore } from '../../engine/core/wasm.js';
import { BatchExecutor } from '../../engine/shard/batch.js';
import { programContext, type ProgramContext } from '../../engine/rules/member-state.js';
import { verify } from '../../engine/shard/queries.js';
import { demoProgram } from '../../engine/rules/program.js';
import { toImportRows } from '../../engine/import-rows.js';
import { registerOp } from '../../server/requests.js';
import type { OpResult, RegisterOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-import-batch-'));
let bulk: { store: ShardStore; exec: BatchExecutor };
let general: { store: ShardStore; exec: BatchExecutor };
const AT = Date.parse('2026-03-10T02:00:00Z');

beforeAll(() => {
  const open = (name: string) => {
    const store = openShardStore(join(dir, name), 256 * 1024 * 1024);
    return { store, exec: new BatchExecutor(store, loadCore(), 0) };
  };
  bulk = open('bulk');
  general = open('general');
});
afterAll(async () => {
  await bulk.store.root.close();
  await general.store.root.close();
  rmSync(dir, { recursive: true, force: true });
});

const program = { ...demoProgram(), signupPoints: 50, pointsExpiryDays: 365 };
const ctx: ProgramContext = programContext(1, program);
const encode = (out: Float64Array) => encodeProgram(program, out);

const op = (body: Record<string, unknown>, lean: boolean): RegisterOp => {
  const o = registerOp({ at: new Date(AT).toISOString(), ...body }, { role: 'admin', nowMs: AT, defaultCountry: 'HK' }, () => `gen-${String(body['requestId'])}`);
  if (lean) o.lean = true;
  return o;
};

const BODIES: Array<Record<string, unknown>> = [
  { memberId: 'a1', name: 'Ada', phone: '+852 1000 0001', email: 'ada@example.com', birthday: '1990-03-20', points: 120, walletCents: 500 },
  { memberId: 'a2', name: 'Bo', birthday: '1988-02-29', tierId: 'gold' },
  { memberId: 'a3', points: 7, tierId: 'silver', gender: 'f', address: '1 Road', storeId: 's1', channel: 'offline', staffId: 'st9' },
  { memberId: 'a1', name: 'Ada', phone: '+852 1000 0001', email: 'ada@example.com', birthday: '1990-03-20', points: 120, walletCents: 500 },
  { memberId: 'a1', name: 'Someone else' },
  { memberId: 'a4', tierId: 'platinum' },
  { requestId: 'r1', name: 'No id', walletCents: 1 },
  { memberId: 'a5', phone: '+852 1000 0005' },
];

function runBoth(): { bulk: OpResult[]; general: OpResult[] } {
  const b = bulk.store.root.transactionSync(() => bulk.exec.importBatch(ctx, toImportRows(BODIES.map((x) => op(x, true))), encode));
  const g = general.store.root.transactionSync(() => general.exec.apply(ctx, BODIES.map((x) => op(x, true)), encode));
  return { bulk: b.results, general: g.results };
}

describe('importBatch', () => {
  it('answers every row as apply does, and writes the same members, ledger, due index and totals', () => {
    const results = runBoth();
    const outcome = (r: OpResult) => (r.ok ? (r['replayed'] === true ? 'replayed' : 'imported') : r.error.code);
    expect(results.bulk.map(outcome)).toEqual(['imported', 'imported', 'imported', 'replayed', 'member_exists', 'tier_not_found', 'imported', 'imported']);
    expect(results.general.map(outcome)).toEqual(results.bulk.map(outcome));

    for (const id of ['a1', 'a2', 'a3', 'a5', 'gen-r1']) {
      expect(getState(bulk.store, id), id).toEqual(getState(general.store, id));
      const { fp, ...profile } = bulk.store.members.get(id)!;
      expect(profile, id).toEqual(general.store.members.get(id));
      // A member keyed by its id keeps the row's fingerprint in its profile; one keyed by requestId under its key.
      if (id === 'gen-r1') expect(fp).toBeUndefined(); else expect(typeof fp).toBe('number');
    }
    expect(getState(bulk.store, 'a1')).toMatchObject({ points: 170, walletCents: 500, grants: [expect.objectContaining({ remaining: 170 })] });
    expect([...allEntries(bulk.store)]).toEqual([...allEntries(general.store)]);
    expect([...bulk.store.due.getKeys({})]).toEqual([...general.store.due.getKeys({})]);
    expect(bulk.store.meta.get('totals')).toEqual(general.store.meta.get('totals'));
    expect(bulk.store.keys.get('reg:r1')).toMatchObject({ res: { memberId: 'gen-r1' } });
    expect(verify(bulk.store).mismatches).toEqual([]);
  });

  it('replays an imported member for the general path too, from the fingerprint in its profile', () => {
    const again = bulk.store.root.transactionSync(() => bulk.exec.apply(ctx, [op(BODIES[0]!, false), op({ ...BODIES[0]!, name: 'Other' }, false)], encode));
    expect(again.results[0]).toEqual({ ok: true, memberId: 'a1', phone: '+85210000001', email: 'ada@example.com', replayed: true });
    expect(again.results[1]).toMatchObject({ ok: false, error: { code: 'member_exists' } });
    // Imported again in bulk: every row that was registered is a replay, nothing is written.
    const before = [...allEntries(bulk.store)].length;
    const replay = bulk.store.root.transactionSync(() => bulk.exec.importBatch(ctx, toImportRows([op(BODIES[0]!, true), op(BODIES[6]!, true)]), encode));
    expect(replay.results.map((r) => r.ok && r['replayed'])).toEqual([true, true]);
    expect([...allEntries(bulk.store)].length).toBe(before);
  });

  it('refuses the phone or email the front end marked as taken', () => {
    const taken = op({ memberId: 'a6', phone: '+852 1000 0001' }, true);
    taken.taken = 'phone_taken';
    const r = bulk.store.root.transactionSync(() => bulk.exec.importBatch(ctx, toImportRows([taken]), encode));
    expect(r.results[0]).toMatchObject({ ok: false, error: { code: 'phone_taken', field: 'phone' } });
    expect(getState(bulk.store, 'a6')).toBeUndefined();
  });
});
