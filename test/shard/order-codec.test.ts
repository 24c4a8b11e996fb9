// Order records in their binary form (engine/shard/order-codec.ts) read back exactly as they were
// written, field order included, whatever they hold; orders that msgpack wrote before it still read,
// replay, return (staying msgpack records) and answer the order query as before; and the replay
// check compares the two forms by content: a folder written by a build of before replays clean
// into binary orders, and a changed field in one of its orders is still found.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeOrder, encodeOrder, ORDER_FORMAT, ORDER_TAG, orderHasCampaigns, readOrderHead } from '../../engine/shard/order-codec.js';
import { getOrder, getOrderHead, hasOrder, openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { replayShard, storeLogSource } from '../../engine/shard/replay.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { answer } from '../../engine/shard/queries.js';
import { dailyPart } from '../../engine/shard/report-scans.js';
import { loadCore } from '../../engine/core/wasm.js';
import { demoProgram } from '../../engine/rules/program.js';
import { purchaseOp, registerOp, returnOp } from '../../server/requests.js';
import type { OrderRecord } from '../../engine/rules/member-state.js';
import type { OpResult, WriteOp } from '../../engine/ops.js';
import type { Program } from '../../engine/rules/program-types.js';

const MAX = Number.MAX_SAFE_INTEGER;
const T0 = Date.parse('2026-03-10T02:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'loyalty-order-codec-'));
const stores: ShardStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An order as batch-core.ts finishCore builds it, fields in its order. */
function order(o: Partial<OrderRecord> = {}): OrderRecord {
  return {
    orderId: 'w-123456', memberId: 'm1234', at: T0, seq: 3 * 2 ** 20 + 17, amountCents: 60_000,
    discountCents: 0, redeemPoints: 0, redeemValueCents: 0, walletCents: 0, netCents: 60_000, earnedPoints: 600,
    growth: 600, tierIdBefore: 'member', upgradedTo: null, birthday: false, returns: [], fp: 7_177_441_112_233_445,
    after: { points: 1_200, walletBalanceCents: 0, growth: 1_500, tierId: 'member' },
    rate: { earnCents: 100, earnPoints: 1, orderPoints: 0, multiplierPct: 100, growthPoints: 1, growthGrowth: 1 },
    express: false, before: { periodStart: T0 - 1_000, periodEnd: null, periodStartTierId: 'member', periodMetric: 900 },
    rewards: [], now: { earnedPoints: 600, growth: 600, restoredPoints: 0, walletRefundedCents: 0, fixedReversed: false },
    redeemedFrom: [], ...o,
  };
}

/** Every shape and extreme a record can hold, optional fields added as finishCore and returns add them. */
function shapes(): OrderRecord[] {
  const full = order({
    upgradedTo: 'gold', birthday: true, express: true, redeemPoints: 500, redeemValueCents: 5_000, walletCents: 1_000,
    returns: [{ returnId: 'r-1', amountCents: 100, at: T0 + 5 }, { returnId: 'r-2', amountCents: 7, at: T0 + 9 }],
    before: { periodStart: T0 - 5, periodEnd: T0 + 365 * 86_400_000, periodStartTierId: 'silver', periodMetric: 0 },
    rewards: [{ memberId: 'a', fixedPoints: 20, sharePct: 10, sharePoints: 60 }, { memberId: 'b', fixedPoints: 0, sharePct: 5, sharePoints: 30 }],
    now: { earnedPoints: 590, growth: 590, restoredPoints: 5, walletRefundedCents: 107, fixedReversed: true },
    redeemedFrom: [[3 * 2 ** 20, T0 + 30 * 86_400_000, 400], [4 * 2 ** 20 + 1, T0 + 31 * 86_400_000, 100]],
  });
  full.storeId = 'shop-7';
  full.channel = 'offline';
  full.items = [{ sku: 'sku-1', qty: 2, amountCents: 30_000 }, { sku: 'sku-2', qty: 1_000_000, amountCents: 0 }];
  full.restoredTo = [[3 * 2 ** 20, T0 + 30 * 86_400_000, 5]];
  full.campaigns = {
    baseMultiplierPct: 150,
    applied: [
      { campaignId: 'double-weekend', multiplierPct: 200, bonusPoints: 0, itemPoints: 100, multiplierPoints: 13 },
      { campaignId: '開幕', multiplierPct: 100, bonusPoints: 1_000_000_000_000, itemPoints: 0, multiplierPoints: 0 },
    ],
  };
  // Coupons and campaigns together: the campaigns follow the coupons; a program with campaigns of which none applied.
  const couponsAndCampaigns = order();
  couponsAndCampaigns.coupons = { discountCents: 0, used: [], issued: [{ code: 'ABCDEFGHJKMN', templateId: 'w', campaignId: 'c', validFrom: 'x', expiresAt: 'y' }], skipped: [] };
  couponsAndCampaigns.campaigns = { baseMultiplierPct: 100, applied: [] };
  const onlyChannel = order();
  onlyChannel.channel = 'online';
  // Pending points: the activation time comes last, after the campaigns when there are any.
  full.pendingUntil = T0 + 14 * 86_400_000;
  const onlyPending = order();
  onlyPending.pendingUntil = T0 + 86_400_000;
  const extremes = order({
    fp: MAX, seq: MAX, at: -MAX, amountCents: 2 ** 31, netCents: -(2 ** 31), earnedPoints: 2 ** 30, growth: -(2 ** 30) - 1,
    after: { points: -MAX, walletBalanceCents: MAX, growth: 2 ** 53 - 2, tierId: 'member' },
  });
  return [
    order(), full, onlyChannel, extremes, couponsAndCampaigns,
    // Text that is not ASCII: Latin, CJK, an astral character and a lone surrogate.
    order({ orderId: 'ordé-1', memberId: '陳大文', tierIdBefore: 'tier-😀', upgradedTo: '\ud800x' }),
    // A number no varint holds: the whole record is written wide, and exact.
    order({ rewards: [{ memberId: 'a', fixedPoints: 0, sharePct: 12.5, sharePoints: 75 }], discountCents: 2 ** 60 }),
    onlyPending,
  ];
}

describe('the binary order record', () => {
  it('reads back every shape exactly, fields in the order they were written', () => {
    for (const o of shapes()) {
      const back = decodeOrder(encodeOrder(o));
      expect(back).toEqual(o);
      expect(JSON.stringify(back)).toBe(JSON.stringify(o));
    }
  });

  it('starts with a byte msgpack never writes and its format, writes a record with a fraction wide, and refuses another format', () => {
    const [plain, , , , , , fraction] = shapes();
    const bytes = Buffer.from(encodeOrder(plain!));
    expect([bytes[0], bytes[1], bytes[2]! & 1]).toEqual([ORDER_TAG, ORDER_FORMAT, 0]);
    expect(ORDER_TAG).toBe(0xc1);
    expect(Buffer.from(encodeOrder(fraction!))[2]! & 1).toBe(1);
    bytes[1] = ORDER_FORMAT + 1;
    expect(() => decodeOrder(bytes)).toThrow(/order format 2 is not 1/);
  });

  it('says whether a record names campaigns from its flags alone', () => {
    const [plain, full, , , withNone] = shapes();
    expect([plain, full, withNone].map((o) => orderHasCampaigns(encodeOrder(o!)))).toEqual([false, true, true]);
  });

  it('reads back -0 as 0, as msgpack did', () => {
    expect(Object.is(decodeOrder(encodeOrder(order({ growth: -0 }))).growth, 0)).toBe(true);
  });

  it('gives its head without the rest, and is smaller than the msgpack record of before', () => {
    const o = shapes()[1]!;
    expect(readOrderHead(encodeOrder(o))).toEqual({ fp: o.fp, orderId: 'w-123456', memberId: 'm1234', netCents: 60_000, earnedPoints: 600, redeemPoints: 500 });
    // A plain purchase with the load benchmark's ids; its tier ids, all the same, are written once.
    expect(encodeOrder(order()).length).toBe(88);
    expect(encodeOrder(order({ after: { ...order().after, tierId: 'silver' } })).length).toBe(88 + 7);
  });
});

/** 1 point per HK$1 and a referrer's share, so that orders hold rewards and returns reverse them. */
const program: Program = {
  ...demoProgram(),
  tiers: demoProgram().tiers.map((t, i) => (i === 0 ? { ...t, earn: { cents: 100, points: 1 } } : t)),
  pointsExpiryDays: 30,
  referral: { enabled: true, refereePoints: 0, levels: [{ registerPoints: 0, firstPurchasePoints: 3, repeatPurchasePoints: 0, purchaseSharePct: 10 }] },
};
const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const purchase = (n: number, memberId: string): WriteOp =>
  purchaseOp({ orderId: `o-${n}`, memberId, amountCents: 10_000 + n * 101, redeemPoints: n === 3 ? 50 : 0, ...(n === 2 ? { storeId: 'shop-1' } : {}) }, admin(T0 + n * 1_000));
const returnOf = (n: number, orderId: string, memberId: string, amountCents: number): WriteOp =>
  ({ ...returnOp({ returnId: `r-${n}`, orderId, amountCents }, admin(T0 + 100_000 + n)), memberId });

/** A shard with a program, a referrer `a`, a member `b` it referred, and b's four purchases. */
function shard(name: string): { store: ShardStore; machine: ShardMachine; run: (ops: WriteOp[]) => OpResult[] } {
  const store = openShardStore(join(dir, name), 256 * 1024 * 1024, { noSync: true });
  stores.push(store);
  const machine = new ShardMachine(store, loadCore(), 0, { log: true });
  let clock = 1;
  const run = (ops: WriteOp[]): OpResult[] => (machine.run({ kind: 'batch', ops }, clock++) as { results: OpResult[] }).results;
  machine.run({ kind: 'program', version: 1, program, atMs: T0, record: true }, clock++);
  run([registerOp({ memberId: 'a' }, admin(T0), () => 'x'), registerOp({ memberId: 'b', referrerId: 'a' }, admin(T0), () => 'x')]);
  run([purchase(1, 'b'), purchase(2, 'b')]);
  run([purchase(3, 'b'), purchase(4, 'b')]);
  return { store, machine, run };
}

/** Rewrites every order of the store as a msgpack record, as the builds before the binary form wrote them. */
function asWrittenBefore(store: ShardStore): void {
  const ids = [...store.orders.getKeys()].filter((k): k is string => typeof k === 'string');
  const records = ids.map((id) => getOrder(store, id)!);
  store.root.transactionSync(() => { for (const o of records) store.legacyOrders.putSync(o.orderId, o); });
  for (const id of ids) expect(store.orders.getBinary(id)![0]).not.toBe(ORDER_TAG);
}

describe('orders written as msgpack records before the binary form', () => {
  it('read, replay, take returns (staying msgpack) and answer queries as binary ones do', () => {
    const binary = shard('binary');
    const legacy = shard('legacy');
    asWrittenBefore(legacy.store);
    expect(binary.store.orders.getBinary('o-4')!.length).toBeLessThan(legacy.store.orders.getBinary('o-4')!.length);
    for (const s of [binary, legacy]) expect(getOrder(s.store, 'o-3')).toEqual(getOrder(binary.store, 'o-3'));
    // The same ops on both: replays of the purchases (their first answers), then returns, then replays again.
    const ops = (): WriteOp[] => [purchase(1, 'b'), purchase(3, 'b'), returnOf(1, 'o-1', 'b', 4_000), returnOf(2, 'o-3', 'b', 5_000), purchase(3, 'b')];
    const answers = binary.run(ops());
    expect(answers.map((r) => r.ok && r['replayed'])).toEqual([true, true, false, false, true]);
    expect((answers[3] as { restoredPoints?: number }).restoredPoints).toBeGreaterThan(0);
    expect(legacy.run(ops())).toEqual(answers);
    for (const id of ['o-1', 'o-2', 'o-3', 'o-4']) {
      expect(getOrder(legacy.store, id), id).toEqual(getOrder(binary.store, id));
      expect(getOrderHead(legacy.store, id), id).toEqual(getOrderHead(binary.store, id));
      expect(answer(legacy.store, { q: 'order', orderId: id }), id).toEqual(answer(binary.store, { q: 'order', orderId: id }));
      expect(answer(legacy.store, { q: 'orderMember', orderId: id }), id).toBe('b');
      expect(hasOrder(legacy.store, id)).toBe(true);
    }
    // A return rewrote its msgpack record as one; a record written since is binary.
    expect(legacy.store.orders.getBinary('o-1')![0]).not.toBe(ORDER_TAG);
    expect(getOrder(legacy.store, 'o-1')!.returns).toEqual([{ returnId: 'r-1', amountCents: 4_000, at: T0 + 100_001 }]);
    const day = new Date(T0).toISOString().slice(0, 10);
    expect(dailyPart(legacy.store, day, day, 'UTC', 0, 10_000)).toEqual(dailyPart(binary.store, day, day, 'UTC', 0, 10_000));
    legacy.run([purchase(5, 'b')]);
    expect(legacy.store.orders.getBinary('o-5')![0]).toBe(ORDER_TAG);
    expect(hasOrder(legacy.store, 'o-9')).toBe(false);
  });

  it('replay into binary orders and compare equal by content; a changed field in one is still a difference', () => {
    const live = shard('live');
    live.run([returnOf(1, 'o-2', 'b', 3_000)]);
    asWrittenBefore(live.store);
    const replayed = openShardStore(join(dir, 'replayed'), 256 * 1024 * 1024, { noSync: true });
    stores.push(replayed);
    replayShard(storeLogSource(live.store, 0), replayed);
    expect(replayed.orders.getBinary('o-2')![0]).toBe(ORDER_TAG);
    const diff = diffStores(live.store, replayed, { listedMax: 5 });
    expect(diff.differences).toEqual([]);
    // The msgpack records' shared definitions are how they were encoded, not an order: not compared.
    expect(diff.entries['orders']).toBe(4);
    const o2 = getOrder(live.store, 'o-2')!;
    live.store.root.transactionSync(() => live.store.legacyOrders.putSync('o-2', { ...o2, earnedPoints: o2.earnedPoints + 1 }));
    const changed = diffStores(live.store, replayed, { listedMax: 5 });
    expect(changed.differenceCount).toBe(1);
    expect(changed.differences[0]).toMatchObject({ db: 'orders', key: 'o-2', live: { earnedPoints: o2.earnedPoints + 1 }, replayed: { earnedPoints: o2.earnedPoints } });
  });
});
