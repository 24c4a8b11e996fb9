// Coupons in the batch log: a history that issues coupons by every rule trigger (registration,
// purchase, upgrade, the sweep's birthday) and by hand, uses, revokes, gives back on a full return
// and expires them, replays from the log alone into a store equal to the live one database by
// database, coupons, their indexes and the order records included.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { loadCore } from '../../engine/core/wasm.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { replayShard, storeLogSource } from '../../engine/shard/replay.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { verify } from '../../engine/shard/queries.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { CouponTemplate, Program } from '../../engine/rules/program-types.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-coupons-log-'));
const T0 = Date.parse('2026-03-10T02:00:00Z');
const DAY_MS = 86_400_000;
const stores: ShardStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

const template = (id: string, more: Partial<CouponTemplate> = {}): CouponTemplate => ({
  id, name: id, active: true, discount: { amountCents: 1_000 }, minSpendCents: 0, eligibleTiers: null, channels: ['online', 'offline'],
  validDays: 30, validFrom: null, validTo: null, perMemberMax: null, totalMax: null, restoreOnFullReturn: true, ...more,
});
const program: Program = {
  ...demoProgram(),
  coupons: [template('welcome'), template('thanks', { discount: { percentBps: 1_000, maxCents: 5_000 } }), template('gold'), template('bday'), template('capped', { totalMax: 10 })],
  couponRules: [
    { id: 'r-welcome', trigger: 'register', templateId: 'welcome', minNetCents: 0, tiers: null, channels: null },
    { id: 'r-thanks', trigger: 'purchase', templateId: 'thanks', minNetCents: 20_000, tiers: null, channels: null },
    { id: 'r-gold', trigger: 'upgrade', templateId: 'gold', minNetCents: 0, tiers: ['gold'], channels: null },
    { id: 'r-bday', trigger: 'birthday', templateId: 'bday', minNetCents: 0, tiers: null, channels: null },
  ],
  birthday: { bonusPoints: 50, multiplierPct: 100 },
};

let n = 0;
const codes = (k: number): string[] => Array.from({ length: k }, () => `L${String(++n).padStart(11, '0')}`);

describe('coupons in the batch log', () => {
  it('replay from the log gives the live store back, database by database', () => {
    const live = openShardStore(join(dir, 'live'), 256 * 1024 * 1024, { noSync: true });
    stores.push(live);
    const machine = new ShardMachine(live, loadCore(), 0, { log: true });
    let clock = 1_000;
    let lastCounts: Record<string, number> | undefined;
    const batch = (ops: WriteOp[]): OpResult[] => {
      const reply = machine.run({ kind: 'batch', ops }, (clock += 1_000)) as { results: OpResult[]; couponCounts?: Record<string, number> };
      lastCounts = reply.couponCounts;
      return reply.results;
    };
    machine.run({ kind: 'program', version: 1, program, atMs: T0, record: true }, (clock += 1_000));
    const t1 = T0 + 1_000;
    const regs = batch([
      { op: 'register', memberId: 'ann', key: 'reg:ann', fp: 1, atMs: t1, referralChain: [], birthday: '1990-04-20', newCodes: codes(2) },
      { op: 'register', memberId: 'bob', key: 'reg:bob', fp: 1, atMs: t1, referralChain: [], newCodes: codes(2) },
    ] as WriteOp[]);
    const welcome = (regs[0] as unknown as { couponsIssued: Array<{ code: string }> }).couponsIssued[0]!.code;
    const results = batch([
      { op: 'purchase', memberId: 'ann', orderId: 'o1', key: 'order:o1', fp: 2, atMs: t1 + 1, amountCents: 600_000, discountCents: 0, redeemPoints: 0, walletCents: 0, couponCodes: [welcome], newCodes: codes(3) },
      { op: 'coupon_issue', memberId: 'bob', templateId: 'capped', source: 'admin', key: 'ci:1', fp: 3, atMs: t1 + 2, newCodes: codes(2), couponAllow: ['capped'] },
      { op: 'coupon_issue', memberId: 'bob', templateId: 'capped', source: 'bulk', key: 'ci:2', fp: 3, atMs: t1 + 2, newCodes: codes(2) },
    ] as WriteOp[]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'ok', 'coupon_limit']);
    expect(lastCounts).toEqual({ thanks: 1, gold: 1, capped: 1 });
    expect((results[0] as unknown as { couponsIssued: Array<{ templateId: string }> }).couponsIssued.map((c) => c.templateId)).toEqual(['thanks', 'gold']);
    const capped = (results[1] as unknown as { code: string }).code;
    batch([
      { op: 'coupon_revoke', memberId: 'bob', code: capped, key: 'rv:1', fp: 1, atMs: t1 + 3 },
      { op: 'return', memberId: 'ann', returnId: 'r1', orderId: 'o1', amountCents: 599_000, key: 'ret:r1', fp: 1, atMs: t1 + DAY_MS },
    ] as WriteOp[]);
    // The birthday in April issues its coupon in the sweep, with the codes the sweep brought; the rest expire.
    const swept = machine.run({ kind: 'sweep', asOfMs: T0 + 60 * DAY_MS, limit: 1_000, newCodes: codes(4) }, (clock += 1_000));
    // The router's totalMax counter adds what each task reports issued per template, birthday gifts included.
    expect(swept).toEqual({ members: 1, more: false, couponCounts: { bday: 1 } });
    expect(verify(live).mismatches).toEqual([]);
    const states = [...live.coupons.getRange()].map(({ value }) => `${value.templateId}:${value.state}`).sort();
    expect(states).toEqual(['bday:active', 'capped:revoked', 'gold:revoked', 'thanks:revoked', 'welcome:expired', 'welcome:expired']);

    const replayed = openShardStore(join(dir, 'replayed'), 256 * 1024 * 1024, { noSync: true });
    stores.push(replayed);
    const result = replayShard(storeLogSource(live, 0), replayed);
    expect(result.stoppedBy).toBe('end');
    const diff = diffStores(live, replayed, { listedMax: 10 });
    expect(diff.differences).toEqual([]);
    expect(diff.entries['coupons']).toBe(6);
  });
});
