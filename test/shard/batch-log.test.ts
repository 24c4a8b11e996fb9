// The batch log at the shard level: every kind of task a shard commits (client batches with every
// op family, imports, sweep slices, program changes, delivered outbox messages) is logged with its
// checksum; replaying the log into an empty store through the same commit path gives a store equal
// to the live one database by database; a changed entry or a changed state is caught and named;
// replays stop at an entry or a moment; a cluster owner's `term` entry changes no books, decodes to
// what was written and replays with its checksum; and a purchase costs at most 80 bytes of log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getState, openShardStore, putState, type ShardStore } from '../../engine/shard/store.js';
import { encodeProgram, loadCore } from '../../engine/core/wasm.js';
import { BatchExecutor } from '../../engine/shard/batch.js';
import { programContext } from '../../engine/rules/member-state.js';
import { checkReplay } from '../../engine/history/replay-check.js';
import { LOG_STARTED_LATE, ShardMachine, type TaskReply } from '../../engine/shard/machine.js';
import { LogReplayError, replayShard, storeLogSource, type LogSource } from '../../engine/shard/replay.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { sameLogEntry } from '../../engine/shard/log-redaction.js';
import {
  appendLogValue, BatchDigest, decodeLogHeader, decodeLogValue, firstLogSeq, LOG_HEADER_BYTES, LOG_KIND_CODES, logPosition, logValues, packTask, sealLogValue,
  termLogValue, type LoggedTask,
} from '../../engine/shard/batch-log.js';
import { verify } from '../../engine/shard/queries.js';
import { demoProgram } from '../../engine/rules/program.js';
import { toImportRows } from '../../engine/import-rows.js';
import { purchaseOp, registerOp, returnOp, topupOp, transferOp, redeemOp, adjustOp, withdrawOp, patchOp, quoteOp } from '../../server/requests.js';
import type { CreditOp, OpResult, PurchaseOp, WriteOp } from '../../engine/ops.js';
import type { OutboxMessage } from '../../engine/rules/member-state.js';
import type { Program } from '../../engine/rules/program-types.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-batch-log-'));
const T0 = Date.parse('2026-03-10T02:00:00Z');
const DAY_MS = 86_400_000;
let stores: ShardStore[] = [];

function fresh(name: string): ShardStore {
  const store = openShardStore(join(dir, name), 256 * 1024 * 1024, { noSync: true });
  stores.push(store);
  return store;
}

afterAll(async () => {
  for (const s of stores) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

const referralProgram: Program = {
  ...demoProgram(),
  pointsExpiryDays: 30,
  referral: { enabled: true, refereePoints: 10, levels: [{ registerPoints: 5, firstPurchasePoints: 20, repeatPurchasePoints: 3, purchaseSharePct: 10 }] },
};
const doubledProgram: Program = { ...referralProgram, tiers: referralProgram.tiers.map((t) => ({ ...t, earn: { cents: t.earn.cents, points: t.earn.points * 2 } })) };

const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });

/** A credit op for an outbox message, as the router's delivery builds it (engine/router/engine.ts). */
function creditOf(msg: OutboxMessage): CreditOp {
  return { op: 'credit', memberId: msg.memberId, kind: msg.kind, points: msg.points, walletCents: msg.walletCents, ref: msg.ref, key: 'msg:' + msg.id, fp: 0, atMs: msg.atMs, fromMemberId: msg.fromMemberId, level: msg.level };
}

/**
 * A shard's history with every kind of task: the live machine's store, its replies, and the
 * number of entries logged. The outbox is delivered to the same shard (one shard holds everyone).
 */
function liveHistory(): { store: ShardStore; replies: TaskReply[] } {
  const store = fresh('live');
  const machine = new ShardMachine(store, loadCore(), 0, { log: true });
  const replies: TaskReply[] = [];
  let clock = 1_000;
  const run = (task: LoggedTask): TaskReply => {
    const reply = machine.run(task, (clock += 1_000));
    replies.push(reply);
    return reply;
  };
  const batch = (ops: WriteOp[]) => run({ kind: 'batch', ops }) as { results: OpResult[]; outbox: Array<[number, OutboxMessage]> };
  const deliver = (outbox: Array<[number, OutboxMessage]>): void => {
    if (outbox.length === 0) return;
    const credits = batch(outbox.map(([, m]) => creditOf(m)));
    expect(credits.results.every((r) => r.ok)).toBe(true);
    run({ kind: 'outboxDone', outSeqs: outbox.map(([seq]) => seq) });
    deliver(credits.outbox);
  };

  run({ kind: 'program', version: 1, program: referralProgram, atMs: T0, record: true });
  const t1 = T0 + 1_000;
  const b1 = batch([
    registerOp({ memberId: 'ann', name: 'Ann', phone: '+85290000001', birthday: '1990-03-20', ...at(t1) }, admin(t1), () => 'x'),
    { ...registerOp({ memberId: 'bob', referrerId: 'ann', ...at(t1) }, admin(t1), () => 'x'), referralChain: ['ann'] },
    registerOp({ requestId: 'gen-1', ...at(t1) }, admin(t1), () => 'm-generated-1'),
    purchaseOp({ orderId: 'o1', memberId: 'ann', amountCents: 600_000, ...at(t1) }, admin(t1)),
    purchaseOp({ orderId: 'o2', memberId: 'bob', amountCents: 40_000, ...at(t1) }, admin(t1)),
    quoteOp({ memberId: 'ann', amountCents: 10_000, ...at(t1) }, admin(t1)),
    topupOp({ requestId: 't1', memberId: 'ann', amountCents: 100_000, ...at(t1) }, admin(t1)),
    redeemOp({ requestId: 'r1', memberId: 'ann', points: 100, ...at(t1) }, admin(t1)),
    adjustOp({ requestId: 'a1', memberId: 'bob', points: -3, reason: 'goodwill', ...at(t1) }, admin(t1)),
    withdrawOp({ requestId: 'w1', memberId: 'ann', amountCents: 999_999_999, ...at(t1) }, admin(t1)),
    purchaseOp({ orderId: 'o1', memberId: 'ann', amountCents: 600_000, ...at(t1) }, admin(t1)),
    purchaseOp({ orderId: 'o1', memberId: 'ann', amountCents: 1, ...at(t1) }, admin(t1)),
  ]);
  expect(b1.results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'insufficient_wallet', 'ok', 'idempotency_conflict']);
  deliver(b1.outbox);
  const t2 = T0 + 2 * DAY_MS;
  const b2 = batch([
    { ...transferOp({ requestId: 'x1', fromMemberId: 'ann', toMemberId: 'bob', amountCents: 5_000, ...at(t2) }, admin(t2)) },
    { ...returnOp({ returnId: 'ret1', orderId: 'o2', amountCents: 40_000, ...at(t2) }, admin(t2)), memberId: 'bob' },
    patchOp('ann', { phone: '+85290000009' }, admin(t2)),
    purchaseOp({ orderId: 'o1', memberId: 'ann', amountCents: 600_000, ...at(t1) }, admin(t2)),
  ]);
  expect(b2.results.every((r) => r.ok)).toBe(true);
  deliver(b2.outbox);
  run({ kind: 'import', rows: toImportRows([
    { ...registerOp({ memberId: 'imp1', name: 'I1', points: 40, ...at(t2) }, admin(t2), () => 'x'), lean: true },
    { ...registerOp({ memberId: 'imp2', walletCents: 700, tierId: 'silver', ...at(t2) }, admin(t2), () => 'x'), lean: true },
    { ...registerOp({ memberId: 'ann', ...at(t2) }, admin(t2), () => 'x'), lean: true },
  ]) });
  // Points expire after 30 days, ann's gold period ends after a year: both happen in the sweep.
  const slice = run({ kind: 'sweep', asOfMs: T0 + 400 * DAY_MS, limit: 2 }) as { members: number; more: boolean };
  expect(slice).toEqual({ members: 2, more: true });
  run({ kind: 'sweep', asOfMs: T0 + 400 * DAY_MS, limit: 1_000 });
  // A slice with nothing due is logged too: as a sweep's last slice it records the moment the
  // shard was swept to, which verify reads (engine/shard/batch-sweep.ts).
  const before = logPosition(store).seq;
  expect(run({ kind: 'sweep', asOfMs: T0 + 400 * DAY_MS, limit: 1_000 })).toEqual({ members: 0, more: false });
  expect(logPosition(store).seq).toBe(before + 1);
  // A repeated program version changes nothing and is not logged; a new one is.
  run({ kind: 'program', version: 1, program: referralProgram, atMs: T0, record: true });
  expect(logPosition(store).seq).toBe(before + 1);
  run({ kind: 'program', version: 2, program: doubledProgram, atMs: T0 + 401 * DAY_MS, record: false });
  const t3 = T0 + 402 * DAY_MS;
  deliver(batch([purchaseOp({ orderId: 'o3', memberId: 'bob', amountCents: 20_000, ...at(t3) }, admin(t3))]).outbox);
  expect(verify(store).mismatches).toEqual([]);
  return { store, replies };
}

let live: ShardStore;

beforeAll(() => {
  live = liveHistory().store;
});

describe('the batch log', () => {
  it('holds every committed task with its kind, ops, program version and commit time, in order', () => {
    const records = [...logValues(live)].map(([seq, v]) => decodeLogValue(seq, v));
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    expect(records.map((r) => r.kind)).toEqual([
      'program', 'batch', 'batch', 'outboxDone', 'batch', 'batch', 'outboxDone', 'import', 'sweep', 'sweep', 'sweep', 'program', 'batch', 'batch', 'outboxDone',
    ]);
    expect(records.map((r) => r.programVersion)).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2]);
    expect(records[1]!.ops).toBe(12);
    expect(records[7]!.ops).toBe(3);
    // The commit times are the ones the caller passed, strictly increasing here.
    expect(records.map((r) => r.committedAtMs)).toEqual([...records.map((r) => r.committedAtMs)].sort((a, b) => a - b));
    // The ops exactly as applied: the generated id and the server-assigned time are in the entry.
    const registration = (records[1]!.task as { ops: WriteOp[] }).ops[2]!;
    expect(registration).toMatchObject({ op: 'register', memberId: 'm-generated-1', key: 'reg:gen-1', atMs: T0 + 1_000 });
    expect(logPosition(live)).toEqual({ seq: 15, ops: records.reduce((s, r) => s + r.ops, 0) });
  });

  it('replays into an empty store equal to the live one, database by database, log included', () => {
    const replayed = fresh('replayed');
    const seen: number[] = [];
    const result = replayShard(storeLogSource(live, 0), replayed, { onBatch: (b) => seen.push(b.seq) });
    expect(result).toMatchObject({ shard: 0, fromSeq: 0, lastSeq: 15, batches: 15, stoppedBy: 'end' });
    expect(seen).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    const diff = diffStores(live, replayed, { listedMax: 10 });
    expect(diff.differences).toEqual([]);
    expect(diff.differenceCount).toBe(0);
    expect(diff.entries['ledger']).toBeGreaterThan(5);
    expect(diff.entries['log']).toBe(15);
  });

  it('names the shard and the entry whose results differ when an entry was changed', () => {
    // Entry 5 (ann's transfer, bob's return, …) with the transfer's amount changed: it still decodes, and gives other results.
    const tampered: LogSource = {
      shardId: 0,
      *values(fromSeq) {
        for (const [seq, value] of logValues(live, fromSeq)) {
          if (seq !== 5) { yield [seq, value]; continue; }
          const record = decodeLogValue(seq, value);
          const ops = (record.task as { ops: WriteOp[] }).ops;
          (ops[0] as { amountCents: number }).amountCents = 5_001;
          yield [seq, sealLogValue(packTask({ kind: 'batch', ops }), record)];
        }
      },
    };
    const target = fresh('tampered');
    let error: unknown;
    try { replayShard(tampered, target); } catch (err) { error = err; }
    expect(error).toBeInstanceOf(LogReplayError);
    expect(error).toMatchObject({ shard: 0, seq: 5, reason: 'checksum' });
    expect((error as Error).message).toMatch(/^shard 0, log entry 5: a batch whose results differ from the logged ones/);
    // The entries before it are committed, the diverging one is not.
    expect(logPosition(target).seq).toBe(4);
  });

  it('finds a state changed behind the log, and a missing or corrupted entry', () => {
    const replayed = fresh('replayed-2');
    replayShard(storeLogSource(live, 0), replayed);
    const ann = getState(replayed, 'ann')!;
    replayed.root.transactionSync(() => putState(replayed, 'ann', { ...ann, points: ann.points + 1 }));
    const diff = diffStores(live, replayed, { listedMax: 10 });
    expect(diff.differenceCount).toBe(1);
    expect(diff.differences).toEqual([{ db: 'states', key: 'ann', live: { points: ann.points }, replayed: { points: ann.points + 1 } }]);

    const gap: LogSource = { shardId: 0, *values(fromSeq) { for (const e of logValues(live, fromSeq)) if (e[0] !== 3) yield e; } };
    expect(() => replayShard(gap, fresh('gap'))).toThrow(/^shard 0, log entry 3: entry 3 is missing from the log \(the next one is 4\)$/);
    const corrupt: LogSource = { shardId: 0, *values(fromSeq) { for (const [seq, v] of logValues(live, fromSeq)) yield [seq, seq === 2 ? v.subarray(0, LOG_HEADER_BYTES + 3) : v]; } };
    expect(() => replayShard(corrupt, fresh('corrupt'))).toThrow(LogReplayError);
    // An entry that makes the executor fail (here a registration without its referral chain) is named too, not thrown through.
    const broken: LogSource = {
      shardId: 0,
      *values(fromSeq) {
        for (const [seq, v] of logValues(live, fromSeq)) {
          yield [seq, seq === 2 ? sealLogValue(packTask({ kind: 'batch', ops: [{ op: 'register', memberId: 'x', key: 'reg:m:x', fp: 1, atMs: T0 } as unknown as WriteOp] }), decodeLogHeader(v)) : v];
        }
      },
    };
    let error: unknown;
    try { replayShard(broken, fresh('broken')); } catch (err) { error = err; }
    expect(error).toMatchObject({ shard: 0, seq: 2, reason: 'execution' });
    expect((error as Error).message).toMatch(/^shard 0, log entry 2: a batch that fails to run: /);
  });

  it('stops at an entry (inclusive) or before the first entry committed after a moment', () => {
    const upTo = fresh('until-batch');
    expect(replayShard(storeLogSource(live, 0), upTo, { untilBatch: 7 })).toMatchObject({ lastSeq: 7, batches: 7, stoppedBy: 'untilBatch' });
    // Carried on from there, it ends where the live shard is.
    expect(replayShard(storeLogSource(live, 0), upTo)).toMatchObject({ fromSeq: 7, lastSeq: 15, batches: 8 });
    expect(diffStores(live, upTo, { listedMax: 5 }).differences).toEqual([]);
    const header9 = decodeLogHeader(live.log.getBinary(9)!);
    const byTime = fresh('until-ms');
    expect(replayShard(storeLogSource(live, 0), byTime, { untilMs: header9.committedAtMs - 1 })).toMatchObject({ lastSeq: 8, stoppedBy: 'untilMs' });
    expect(() => replayShard(storeLogSource(live, 0), fresh('past-end'), { untilBatch: 99 })).toThrow(/the log ends at entry 15, before entry 99/);
  });

  it('replays a rewritten history without comparing checksums (a what-if)', () => {
    const whatIf = fresh('what-if');
    const result = replayShard(storeLogSource(live, 0), whatIf, {
      rewrite: (task) => (task.kind === 'program' && task.version === 1 ? { ...task, program: doubledProgram } : task),
    });
    expect(result.batches).toBe(15);
    const issued = (store: ShardStore) => (store.meta.get('totals') as { pointsIssued: number }).pointsIssued;
    expect(issued(whatIf)).toBeGreaterThan(issued(live));
    expect(verify(whatIf).mismatches).toEqual([]);
  });

  it('checksums what a batch answered and wrote: each outcome, each state, the outbox, the ledger value', () => {
    const reply = { results: [{ ok: true, memberId: 'a', points: 1, replayed: false }, { ok: false, error: { code: 'insufficient_points', message: 'y' } }], outbox: [[1, { id: '0:1', points: 5 }]] };
    const sum = (r: unknown, states: Array<[string, number]>, ledger: number[] | undefined) => {
      const d = new BatchDigest();
      d.begin();
      for (const [id, byte] of states) d.state(id, Uint8Array.of(byte, 2, 3));
      return Buffer.from(d.finish(r, ledger === undefined ? undefined : Uint8Array.from(ledger))).toString('hex');
    };
    const first = sum(reply, [['a', 1]], [1, 2, 3]);
    expect(sum(structuredClone(reply), [['a', 1]], [1, 2, 3])).toBe(first);
    const changed = [
      sum({ ...reply, results: [{ ...reply.results[0], replayed: true }, reply.results[1]] }, [['a', 1]], [1, 2, 3]),
      sum({ ...reply, results: [reply.results[0], { ok: false, error: { code: 'insufficient_wallet', message: 'y' } }] }, [['a', 1]], [1, 2, 3]),
      sum({ ...reply, outbox: [[1, { id: '0:1', points: 6 }]] }, [['a', 1]], [1, 2, 3]),
      sum(reply, [['a', 9]], [1, 2, 3]),
      sum(reply, [['b', 1]], [1, 2, 3]),
      sum(reply, [['a', 1]], [1, 2, 4]),
      sum(reply, [['a', 1]], undefined),
      sum({ members: 1, more: false }, [], undefined),
    ];
    expect(new Set([first, ...changed]).size).toBe(changed.length + 1);
    expect(sum({ members: 1, more: false }, [], undefined)).toBe(sum({ members: 1, more: false }, [], undefined));
  });

  it('costs at most 80 bytes per purchase op in a batch of 1,000', () => {
    const store = fresh('bytes');
    const machine = new ShardMachine(store, loadCore(), 0, { log: true });
    machine.run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, 1);
    const members = Array.from({ length: 1_000 }, (_, i) => `m${i}`);
    machine.run({ kind: 'batch', ops: members.map((m) => registerOp({ memberId: m }, admin(T0), () => 'x')) }, 2);
    const ops = members.map((m, i) => purchaseOp({ orderId: `w-${100_000 + i}`, memberId: m, amountCents: 100 + ((i * 7_919) % 99_900) }, admin(T0 + i)));
    machine.run({ kind: 'batch', ops }, 3);
    const value = store.log.getBinary(3)!;
    expect(decodeLogHeader(value).ops).toBe(1_000);
    expect(value.length / 1_000).toBeLessThanOrEqual(80);
    expect(firstLogSeq(store)).toBe(1);
  });
});

describe('the layout of a batch\'s ops in the log', () => {
  const purchase = (n: number, extra: Record<string, unknown> = {}): PurchaseOp =>
    purchaseOp({ orderId: `o-${n}`, memberId: `m${n % 7}`, amountCents: 1_000 + n, discountCents: n % 3, redeemPoints: n % 5, walletCents: n % 2, ...extra }, admin(T0 + n * 13));
  const roundTrip = (ops: WriteOp[]): WriteOp[] => {
    const task: LoggedTask = { kind: 'batch', ops };
    const value = sealLogValue(packTask(task), { kind: 'batch', ops: ops.length, programVersion: 1, committedAtMs: 5, checksum: new Uint8Array(8) });
    return (decodeLogValue(1, value).task as { ops: WriteOp[] }).ops;
  };

  it('gives back every op as it was, in order: plain purchases, purchases with optional fields, and every other op', () => {
    const ops: WriteOp[] = [
      purchase(1), purchase(2),
      purchase(3, { storeId: 's1', channel: 'offline', items: [{ sku: 'a', qty: 1, amountCents: 1_003 }] }),
      { ...purchase(4), key: 'order:elsewhere' },
      { ...purchase(5), fp: Number.MAX_SAFE_INTEGER, atMs: T0 - 10 * DAY_MS },
      { ...purchase(6), memberId: 'mé' },
      registerOp({ memberId: 'r1', name: '陳大文', phone: '+85290000001', ...at(T0) }, admin(T0), () => 'x'),
      quoteOp({ memberId: 'm1', amountCents: 5, ...at(T0) }, admin(T0)),
      purchase(7),
      { ...purchase(8), orderId: 'x'.repeat(64), key: `order:${'x'.repeat(64)}` },
      { ...purchase(10), keyHome: true },
      { ...purchase(11), key: 'order:moved', keyHome: true },
    ];
    expect(roundTrip(ops)).toEqual(ops);
    expect(roundTrip([purchase(9)])).toEqual([purchase(9)]);
    expect(roundTrip([])).toEqual([]);
  });

  it('writes a lone plain purchase in under 70 bytes with its header', () => {
    const value = packTask({ kind: 'batch', ops: [purchase(1_000_001)] });
    expect(value.length).toBeLessThan(70);
  });

  it('writes a purchase the router marked keyHome field by field too, at no more than a plain one', () => {
    // Half the purchases of two shards carry the mark; they went whole into msgpack (about twice the bytes and the time).
    const plain = Array.from({ length: 100 }, (_, n) => purchase(n));
    const marked = plain.map((op) => ({ ...op, keyHome: true as const }));
    expect(packTask({ kind: 'batch', ops: marked }).length).toBe(packTask({ kind: 'batch', ops: plain }).length);
    expect(roundTrip(marked)).toEqual(marked);
  });

  it('reads a log value written before the keyHome mark, and writes the same bytes for ops without it', () => {
    // Two purchases (the derived key, and a key given) as the build before the mark wrote them.
    const before = '010401036f2d3100026d31e8cff2c0cee0ff049ad4c7d79a67d20f02020201036f2d3201076f726465723a78026d32aec1b383ee8485091ad40f040400';
    const ops = [purchase(1), { ...purchase(2), key: 'order:x' }];
    const value = Buffer.concat([Buffer.alloc(LOG_HEADER_BYTES), Buffer.from(before, 'hex')]);
    sealLogValue(value, { kind: 'batch', ops: 2, programVersion: 1, committedAtMs: 5, checksum: new Uint8Array(8) });
    expect((decodeLogValue(1, value).task as { ops: WriteOp[] }).ops).toEqual(ops);
    expect(packTask({ kind: 'batch', ops }).subarray(LOG_HEADER_BYTES).toString('hex')).toBe(before);
  });
});

describe('a shard whose books predate its log', () => {
  it('is marked when the log begins, and the replay check asks for a backup instead of failing a checksum', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'loyalty-prelog-'));
    try {
      writeFileSync(join(folder, 'engine.json'), JSON.stringify({ shards: 1, createdAt: new Date(T0).toISOString() }));
      const store = openShardStore(join(folder, 'shard-0'), 256 * 1024 * 1024);
      // Books written by a version without the log: a program and a member, and no log entry.
      const executor = new BatchExecutor(store, loadCore(), 0);
      const ctx = programContext(1, demoProgram());
      store.root.transactionSync(() => {
        store.meta.putSync('program', { version: 1, program: demoProgram() });
        executor.apply(ctx, [registerOp({ memberId: 'old' }, admin(T0), () => 'x')], (out) => encodeProgram(ctx.program, out));
      });
      const machine = new ShardMachine(store, loadCore(), 0, { log: true });
      expect(store.meta.get(LOG_STARTED_LATE)).toBe(true);
      machine.run({ kind: 'batch', ops: [purchaseOp({ orderId: 'p1', memberId: 'old', amountCents: 5_000 }, admin(T0))] }, 1);
      expect(logPosition(store).seq).toBe(1);
      await store.root.close();
      await expect(checkReplay({ dataDir: folder })).rejects.toThrow(/^shard 0 held books before its batch log began \(data written by an earlier version\): check it from a backup taken since, with --from-backup DIR$/);
      // A fresh shard is not marked.
      const fresh = openShardStore(join(folder, 'fresh'), 256 * 1024 * 1024);
      new ShardMachine(fresh, loadCore(), 0, { log: true }).run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, 1);
      expect(fresh.meta.get(LOG_STARTED_LATE)).toBeUndefined();
      await fresh.root.close();
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('the term entry of a cluster owner\'s takeover', () => {
  it('round-trips through encode and decode, is what the machine logs for it, and replays with its checksum while changing no books', async () => {
    const value = termLogValue(7, 'node-b', 1, T0 + 5_000);
    expect(value[1]).toBe(LOG_KIND_CODES.term);
    expect(decodeLogValue(4, value)).toMatchObject({
      seq: 4, kind: 'term', ops: 0, programVersion: 1, committedAtMs: T0 + 5_000, task: { kind: 'term', term: 7, nodeId: 'node-b' },
    });
    expect(packTask({ kind: 'term', term: 7, nodeId: 'node-b' }).subarray(LOG_HEADER_BYTES)).toEqual(value.subarray(LOG_HEADER_BYTES));

    // The machine runs a term entry to the very value termLogValue makes: nothing but its log entry is written.
    const owner = fresh('term-owner');
    const machine = new ShardMachine(owner, loadCore(), 0, { log: true });
    machine.run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, T0 + 1_000);
    machine.run({ kind: 'batch', ops: [registerOp({ memberId: 'tm', ...at(T0 + 2_000) }, admin(T0 + 2_000), () => 'x')] }, T0 + 2_000);
    const booksBefore = fresh('term-books-before');
    replayShard(storeLogSource(owner, 0), booksBefore);
    expect(machine.run({ kind: 'term', term: 2, nodeId: 'node-a' }, T0 + 3_000)).toEqual({ term: 2, nodeId: 'node-a' });
    expect([...logValues(owner, 3, 3)][0]![1]).toEqual(termLogValue(2, 'node-a', 1, T0 + 3_000));
    // A new owner commits the value its stream acknowledged (engine/shard/replicator.ts), as here.
    owner.root.transactionSync(() => appendLogValue(owner, termLogValue(7, 'node-b', 1, T0 + 4_000), 0));
    // The term entries changed no books: only the two log entries and the log's position differ from the books before them.
    const diff = diffStores(owner, booksBefore, { listedMax: 10 });
    expect(diff.differences.map((d) => [d.db, d.key])).toEqual([['log', '3'], ['log', '4'], ['meta', 'log.seq']]);
    machine.run({ kind: 'batch', ops: [purchaseOp({ orderId: 'tp', memberId: 'tm', amountCents: 5_000, ...at(T0 + 5_000) }, admin(T0 + 5_000))] }, T0 + 5_000);
    expect(logPosition(owner)).toEqual({ seq: 5, ops: 2 });

    // Replayed from empty, each entry gives its logged checksum; the store is the owner's, log included.
    const replayed = fresh('term-replayed');
    const kinds: string[] = [];
    expect(replayShard(storeLogSource(owner, 0), replayed, { onBatch: (b) => kinds.push(b.kind) })).toMatchObject({ lastSeq: 5, batches: 5, stoppedBy: 'end' });
    expect(kinds).toEqual(['program', 'batch', 'term', 'term', 'batch']);
    expect(diffStores(owner, replayed, { listedMax: 10 }).differences).toEqual([]);
    expect(verify(replayed).mismatches).toEqual([]);
    // Up to an entry, the term entries included.
    expect(replayShard(storeLogSource(owner, 0), fresh('term-until'), { untilBatch: 4 })).toMatchObject({ lastSeq: 4, stoppedBy: 'untilBatch' });

    // The levelling's comparison of a copy's entry with the stream's (log-redaction.ts): a term entry is the same byte for byte, another term or node is not.
    const [, termEntry] = [...logValues(owner, 4, 4)][0]!;
    expect(sameLogEntry(owner, 4, termEntry, termLogValue(7, 'node-b', 1, T0 + 4_000))).toBe(true);
    expect(sameLogEntry(owner, 4, termEntry, termLogValue(8, 'node-b', 1, T0 + 4_000))).toBe(false);
    expect(sameLogEntry(owner, 4, termEntry, termLogValue(7, 'node-c', 1, T0 + 4_000))).toBe(false);

    // A term entry whose checksum is not its reply's is refused, naming it.
    const forged = termLogValue(7, 'node-b', 1, T0 + 4_000);
    forged[18] = forged[18]! ^ 1;
    const source: LogSource = { shardId: 0, values: (fromSeq) => [...logValues(owner, fromSeq)].map(([seq, v]): [number, Uint8Array] => [seq, seq === 4 ? forged : v]) };
    expect(() => replayShard(source, fresh('term-forged'))).toThrow(LogReplayError);
    expect(() => replayShard(source, fresh('term-forged-2'))).toThrow(/log entry 4: a term whose results differ from the logged ones/);
  });
});
