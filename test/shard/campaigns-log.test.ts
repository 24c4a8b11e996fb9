// Campaigns in the batch log: which campaigns apply, M, the bonus and item points and the campaign
// coupons are a function of the program and the op alone, so the log needs nothing new. A history
// of purchases under campaigns (a weekend multiplier across local midnight, a store's bonus with its
// coupon, SKU points, a birthday month, a purchase refused past the extra-points bound, one whose
// tier an earlier op of its batch changed), returns partial and full, a program change that drops a
// campaign and a backdated purchase after it replays from the log alone into a store equal to the
// live one, database by database, the order records and the answers' campaigns included.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getOrder, openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { loadCore } from '../../engine/core/wasm.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { replayShard, storeLogSource } from '../../engine/shard/replay.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { verify } from '../../engine/shard/queries.js';
import { demoProgram, validateProgram } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-campaigns-log-'));
const stores: ShardStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

type Doc = Record<string, any>;
function programWith(campaigns: Doc[]): Program {
  const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
  doc.coupons = [{ id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 30 }];
  doc.birthday = { bonusPoints: 0, multiplierPct: 150 };
  doc.campaigns = campaigns;
  const result = validateProgram(doc);
  if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
  return result.program;
}
const doubleWeekend = {
  id: 'double-weekend', name: 'Double points weekends', from: '2026-12-01', to: '2026-12-31', daysOfWeek: [6, 7],
  pointsMultiplierPct: 200, itemPoints: [{ sku: 'TEA-01', points: 50 }, { sku: 'GOLD-BAR', points: 1_000_000_000 }],
};
const opening = { id: 'tst-opening', name: 'Opening', storeIds: ['tst'], tiers: ['silver'], bonusPoints: 20, couponTemplateId: 'welcome10' };

let n = 0;
const codes = (k: number): string[] => Array.from({ length: k }, () => `Q${String(++n).padStart(11, '0')}`);
const SATURDAY_HK = Date.parse('2026-12-04T16:00:00Z');

describe('campaigns in the batch log', () => {
  it('replay from the log gives the live store back, database by database', () => {
    const live = openShardStore(join(dir, 'live'), 256 * 1024 * 1024, { noSync: true });
    stores.push(live);
    const machine = new ShardMachine(live, loadCore(), 0, { log: true });
    let clock = 1_000;
    const batch = (ops: WriteOp[]): OpResult[] => (machine.run({ kind: 'batch', ops }, (clock += 1_000)) as { results: OpResult[] }).results;
    const program = programWith([doubleWeekend, opening]);
    machine.run({ kind: 'program', version: 1, program, atMs: Date.parse('2026-11-01T00:00:00Z'), record: true }, (clock += 1_000));
    const buy = (memberId: string, orderId: string, atMs: number, amountCents: number, more: Record<string, unknown> = {}): WriteOp =>
      ({ op: 'purchase', memberId, orderId, key: 'order:' + orderId, fp: 2, atMs, amountCents, discountCents: 0, redeemPoints: 0, walletCents: 0, ...more } as WriteOp);
    batch([
      { op: 'register', memberId: 'ann', key: 'reg:ann', fp: 1, atMs: Date.parse('2026-11-02T00:00:00Z'), referralChain: [], birthday: '1990-12-20' },
      { op: 'register', memberId: 'bob', key: 'reg:bob', fp: 1, atMs: Date.parse('2026-11-02T00:00:00Z'), referralChain: [] },
    ] as WriteOp[]);
    const tins = [{ sku: 'TEA-01', qty: 2, amountCents: 10_000 }];
    const results = batch([
      // A second before local midnight (Friday) and at it (Saturday): ann's December birthday gives 150 on Friday.
      buy('ann', 'a1', SATURDAY_HK - 1_000, 50_000, { items: tins }),
      buy('ann', 'a2', SATURDAY_HK, 50_000, { items: tins }),
      // Past the bound: refused alone.
      buy('ann', 'a3', SATURDAY_HK + 1, 50_000, { items: [{ sku: 'GOLD-BAR', qty: 1_001, amountCents: 1 }] }),
      // bob reaches Silver, and his next purchase of the batch, at tst, gets the opening campaign as Silver.
      buy('bob', 'b1', SATURDAY_HK + 2, 100_000),
      buy('bob', 'b2', SATURDAY_HK + 3, 15_000, { storeId: 'tst', channel: 'offline', newCodes: codes(2) }),
    ]);
    expect(results.map((r) => (r.ok ? r['campaigns'] : r.error.code))).toEqual([
      [], [{ id: 'double-weekend', points: 13 + 100 }], 'balance_limit',
      [{ id: 'double-weekend', points: 50 }], [{ id: 'double-weekend', points: 7 }, { id: 'tst-opening', points: 20 }],
    ]);
    expect(results.map((r) => (r.ok ? r['earnedPoints'] : null))).toEqual([37, 150, null, 100, 14 + 20]);
    batch([
      { op: 'return', memberId: 'ann', returnId: 'ra', orderId: 'a2', amountCents: 20_000, key: 'ret:ra', fp: 1, atMs: SATURDAY_HK + 86_400_000 },
      { op: 'return', memberId: 'bob', returnId: 'rb', orderId: 'b2', amountCents: 15_000, key: 'ret:rb', fp: 1, atMs: SATURDAY_HK + 86_400_000 },
    ] as WriteOp[]);
    // The weekend campaign is dropped; a purchase synced late for that Saturday no longer gets it, and a retry of a2 answers as first.
    machine.run({ kind: 'program', version: 2, program: programWith([opening]), atMs: SATURDAY_HK + 2 * 86_400_000, record: true }, (clock += 1_000));
    const late = batch([buy('ann', 'a4', SATURDAY_HK + 5, 50_000, { items: tins }), buy('ann', 'a2', SATURDAY_HK, 50_000, { items: tins })]);
    expect(late.map((r) => (r.ok ? [r['earnedPoints'], r['campaigns'], r['replayed']] : r.error.code))).toEqual([
      [37, [], false], [150, [{ id: 'double-weekend', points: 113 }], true],
    ]);
    expect(getOrder(live, 'b2')!.coupons!.issued).toMatchObject([{ templateId: 'welcome10', campaignId: 'tst-opening' }]);
    expect([...live.coupons.getRange()].map(({ value }) => `${value.source}:${value.state}`)).toEqual(['campaign:tst-opening:revoked']);
    expect(verify(live).mismatches).toEqual([]);

    const replayed = openShardStore(join(dir, 'replayed'), 256 * 1024 * 1024, { noSync: true });
    stores.push(replayed);
    const result = replayShard(storeLogSource(live, 0), replayed);
    expect(result.stoppedBy).toBe('end');
    const diff = diffStores(live, replayed, { listedMax: 10 });
    expect(diff.differences).toEqual([]);
    expect(diff.entries['orders']).toBe(5);
    expect(getOrder(replayed, 'a2')!.campaigns).toEqual(getOrder(live, 'a2')!.campaigns);
  });
});
