// The batch log end to end on a real server with four shards: a realistic history (program
// changes, a referral tree across shards, purchases, partial and full returns, top-ups, a
// cross-shard transfer, redemptions, adjustments, a product, a CSV import, a sweep over backdated
// periods, POS stream batches) replays exactly with `loyalty replay --check`, on the running
// server's folder and after it stopped; a changed log entry and a changed state are found and
// named (exit 1); after `loyalty log trim` the check needs the backup the log was trimmed to, and
// passes from it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, refusal } from '../helpers/server-process.js';
import { expectReplayEqualsLive, loyaltyCli, runReplayCheck, runReplayCheckAsync } from '../helpers/replay-check.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';
import { hashId } from '../../engine/router/member-hash.js';
import { getState, openShardStore, putState } from '../../engine/shard/store.js';
import { checksumHex, decodeLogHeader, decodeLogValue, logPosition, logValues, packTask, sealLogValue } from '../../engine/shard/batch-log.js';
import type { WriteOp } from '../../engine/ops.js';

const SHARDS = 4;
const DAY_MS = 86_400_000;
const dataDir = ServerProcess.tempDataDir();
const backupDir = mkdtempSync(join(tmpdir(), 'loyalty-backup-'));
const server = new ServerProcess(dataDir, { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
const iso = (ms: number) => new Date(ms).toISOString();
const ids = ['root', 'ann', 'ben', 'cat', 'dan', 'eve'] as const;

interface LogStatusRow { shard: number; firstSeq: number | null; lastSeq: number; ops: number; bytes: number; unlogged: boolean }
const logStatus = (): LogStatusRow[] => {
  const r = loyaltyCli(dataDir, 'log', 'status', '--data', dataDir);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { shards: LogStatusRow[] }).shards;
};


/** Cross-shard credits land just after their ack: wait until the books stop moving. */
async function settled(): Promise<void> {
  const figures = async () => JSON.stringify((await server.call('GET /v1/reports/summary')));
  const deadline = Date.now() + 10_000;
  let seen = await figures();
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await figures();
    if (now === seen) break;
    if (Date.now() > deadline) throw new Error(`the books did not settle: ${now}`);
    seen = now;
  }
  expect((await server.call('GET /v1/admin/verify'))).toMatchObject({ ok: true, mismatches: [] });
}

beforeAll(async () => {
  await server.start();
  // A program change (version 2): three referral levels.
  const program = (await server.call('GET /v1/program'));
  await server.call('PUT /v1/program', { body: {
    ...program, pointsExpiryDays: 200,
    referral: {
      enabled: true, refereePoints: 50,
      levels: [
        { registerPoints: 100, firstPurchasePoints: 200, repeatPurchasePoints: 20, purchaseSharePct: 10 },
        { registerPoints: 50, firstPurchasePoints: 100, repeatPurchasePoints: 10, purchaseSharePct: 5 },
        { registerPoints: 25, firstPurchasePoints: 50, repeatPurchasePoints: 5, purchaseSharePct: 2 },
      ],
    },
  } });
  // Two years of history, backdated: periods and grants end before today, for the sweep.
  const t0 = Date.now() - 500 * DAY_MS;
  await server.call('POST /v1/members', { body: { memberId: 'root', birthday: '1980-02-29', at: iso(t0) } });
  await server.call('POST /v1/members', { body: { memberId: 'ann', referrerId: 'root', phone: '+852 5555 0101', at: iso(t0) } });
  await server.call('POST /v1/members', { body: { memberId: 'ben', referrerId: 'ann', email: 'ben@example.com', at: iso(t0) } });
  await server.call('POST /v1/members', { body: { memberId: 'cat', referrerId: 'ben', at: iso(t0) } });
  await server.call('POST /v1/members', { body: { memberId: 'dan', at: iso(t0) } });
  await server.call('POST /v1/members', { body: { requestId: 'eve-reg', name: 'Eve', at: iso(t0) } });
  await server.call('POST /v1/members', { body: { memberId: 'eve', at: iso(t0) } });
  const t1 = t0 + DAY_MS;
  await server.call('POST /v1/purchases', { body: { orderId: 'ann-1', memberId: 'ann', amountCents: 600_000, at: iso(t1) } });
  await server.call('POST /v1/purchases', { body: { orderId: 'ben-1', memberId: 'ben', amountCents: 40_000, storeId: 's1', channel: 'offline', items: [{ sku: 'a', qty: 2, amountCents: 40_000 }], at: iso(t1) } });
  await server.call('POST /v1/purchases', { body: { orderId: 'cat-1', memberId: 'cat', amountCents: 20_000, at: iso(t1) } });
  await server.call('POST /v1/purchases', { body: { orderId: 'dan-1', memberId: 'dan', amountCents: 1_200_000, at: iso(t1) } });
  await server.call('POST /v1/returns', { body: { returnId: 'ann-r1', orderId: 'ann-1', amountCents: 200_000, at: iso(t1 + DAY_MS) } });
  await server.call('POST /v1/returns', { body: { returnId: 'cat-r1', orderId: 'cat-1', amountCents: 20_000, at: iso(t1 + DAY_MS) } });
  await server.call('POST /v1/wallet/topups', { body: { requestId: 'dan-t1', memberId: 'dan', amountCents: 100_000, at: iso(t1) } });
  await server.call('POST /v1/wallet/transfers', { body: { requestId: 'dan-x1', fromMemberId: 'dan', toMemberId: 'eve', amountCents: 5_000, at: iso(t1 + 2 * DAY_MS) } });
  await server.call('POST /v1/points/redemptions', { body: { requestId: 'dan-p1', memberId: 'dan', points: 100, at: iso(t1 + 2 * DAY_MS) } });
  await server.call('POST /v1/points/adjustments', { body: { requestId: 'ben-a1', memberId: 'ben', points: -5, reason: 'correction', at: iso(t1 + 2 * DAY_MS) } });
  await server.call('POST /v1/points/adjustments', { body: { requestId: 'eve-a1', memberId: 'eve', points: 40, reason: 'welcome' } });
  await server.call('POST /v1/product-purchases', { body: { orderId: 'eve-p1', memberId: 'eve', productId: 'silver-upgrade' } });
  expect((await refusal(server.call('POST /v1/wallet/withdrawals', { body: { requestId: 'eve-w1', memberId: 'eve', amountCents: 999_999_999 } }))).status).toBe(422);
  await server.call('PATCH /v1/members/:id', { params: { id: 'ann' }, body: { name: 'Ann B' } });
  // A CSV import: lean rows in bulk, a row naming a referrer through the general path.
  const csv = ['memberId,name,phone,points,referrerId', ...Array.from({ length: 40 }, (_, i) => `imp-${i},Imported ${i},+852 6000 ${String(1000 + i)},${i},`), 'imp-ref,Referred,,,ann'].join('\n');
  expect(await server.call('POST /v1/import/members', { body: csv })).toMatchObject({ imported: 41, failed: 0 });
  // POS stream batches, binary msgpack.
  const terminal = await StreamTerminal.open(`ws://127.0.0.1:${server.port}/v1/stream`, server.adminKey);
  terminal.send({ type: 'batch', id: 1, ops: [
    { op: 'purchase', orderId: 's-1', memberId: 'imp-1', amountCents: 30_000 },
    { op: 'purchase', orderId: 's-2', memberId: 'ann', amountCents: 12_000 },
    { op: 'quote', memberId: 'ben', amountCents: 50_000 },
  ] });
  expect((await terminal.ack(1)).results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true, true]);
  terminal.send({ type: 'batch', id: 2, ops: [{ op: 'return', returnId: 's-r1', orderId: 's-1', amountCents: 10_000 }, { op: 'topup', requestId: 's-t1', memberId: 'imp-2', amountCents: 5_000 }] });
  expect((await terminal.ack(2)).results.map((r: { ok: boolean }) => r.ok)).toEqual([true, true]);
  terminal.ws.close();
  // The sweep as of now: ann's and dan's gold periods have ended, the grants of 200 days expired.
  const sweep = await server.call('POST /v1/admin/sweep', { body: {} });
  expect(sweep.members).toBeGreaterThan(0);
  // Another program change (version 3), then purchases under it.
  const v2 = (await server.call('GET /v1/program'));
  await server.call('PUT /v1/program', { body: { ...v2, orderPoints: 7 } });
  await server.call('POST /v1/purchases', { body: { orderId: 'ben-2', memberId: 'ben', amountCents: 30_000 } });
  await server.call('POST /v1/purchases', { body: { orderId: 'root-1', memberId: 'root', amountCents: 50_000 } });
  await settled();
}, 120_000);

afterAll(async () => {
  await server.stop();
  server.cleanup();
  rmSync(backupDir, { recursive: true, force: true });
});

/** A copy of the stopped folder with a manifest of each shard's log position: what a backup holds. */
function backUp(): Array<{ shard: number; batch: number; checksum: string }> {
  const shards = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    cpSync(join(dataDir, `shard-${shard}`, 'data.mdb'), join(backupDir, `shard-${shard}`, 'data.mdb'));
    const store = openShardStore(join(dataDir, `shard-${shard}`), undefined, { readOnly: true });
    const batch = logPosition(store).seq;
    shards.push({ shard, batch, checksum: checksumHex(decodeLogHeader(store.log.getBinary(batch)!).checksum) });
    void store.root.close();
  }
  writeFileSync(join(backupDir, 'backup.json'), JSON.stringify({ shards }));
  return shards;
}

describe('loyalty replay --check', () => {
  it('spreads the members over the shards', () => {
    expect(new Set(ids.map((id) => hashId(id) % SHARDS)).size).toBeGreaterThan(2);
  });

  it('replays a running server\'s folder, read only, to exactly its data, while a terminal streams purchases', async () => {
    const terminal = await StreamTerminal.open(`ws://127.0.0.1:${server.port}/v1/stream`, server.adminKey);
    let sent = 0;
    let streaming = true;
    const stream = (async () => {
      while (streaming) {
        const id = ++sent;
        terminal.send({ type: 'batch', id, ops: ids.map((memberId, i) => ({ op: 'purchase', orderId: `live-${id}-${i}`, memberId, amountCents: 1_000 + i })) });
        expect((await terminal.ack(id)).results.every((r: { ok: boolean }) => r.ok)).toBe(true);
      }
    })();
    const run = await runReplayCheckAsync(dataDir);
    streaming = false;
    await stream;
    terminal.ws.close();
    expect(run.report, run.stderr).toMatchObject({ ok: true, shards: SHARDS, error: null, differences: [] });
    expect(run.status).toBe(0);
    expect(run.report!.batches).toBeGreaterThan(20);
    // Writes went on during the check: it proved each shard as of its own snapshot.
    expect(sent).toBeGreaterThan(1);
    await settled();
  });

  it('reports each shard\'s log entries, ops and bytes per op in /metrics', async () => {
    const text = (await server.call('GET /metrics')) as string;
    for (let shard = 0; shard < SHARDS; shard++) {
      expect(Number(new RegExp(`^loyalty_log_entries_total\\{shard="${shard}"\\} (\\d+)$`, 'm').exec(text)?.[1])).toBeGreaterThan(0);
      expect(Number(new RegExp(`^loyalty_log_ops\\{shard="${shard}"\\} (\\d+)$`, 'm').exec(text)?.[1])).toBeGreaterThan(0);
      expect(Number(new RegExp(`^loyalty_log_bytes_per_op\\{shard="${shard}"\\} ([\\d.]+)$`, 'm').exec(text)?.[1])).toBeGreaterThan(0);
    }
    expect(text).toMatch(/^loyalty_db_bytes\{db="log"\} \d+$/m);
  });

  it('replays every entry of every shard once stopped, and counts them as the logs do', async () => {
    await server.stop();
    const status = logStatus();
    expect(status.map((s) => s.firstSeq)).toEqual([1, 1, 1, 1]);
    const report = expectReplayEqualsLive(dataDir);
    expect(report.perShard.map((p) => p.lastSeq)).toEqual(status.map((s) => s.lastSeq));
    expect(report.batches).toBe(status.reduce((n, s) => n + s.lastSeq, 0));
    expect(report.ops).toBe(status.reduce((n, s) => n + s.ops, 0));
    expect(report.perShard.every((p) => p.differenceCount === 0 && p.entries['ledger']! > 0 && p.entries['log'] === p.lastSeq)).toBe(true);
    expect(report.batchesPerS).toBeGreaterThan(0);
  });

  it('names the shard and entry of a changed log entry, and exits 1', () => {
    const shard = hashId('ben') % SHARDS;
    const store = openShardStore(join(dataDir, `shard-${shard}`));
    // The entry holding ben's second purchase, with its amount changed and the header kept.
    let target: { seq: number; original: Buffer } | null = null;
    for (const [seq, value] of logValues(store)) {
      const record = decodeLogValue(seq, value);
      if (record.task.kind !== 'batch') continue;
      const ops = record.task.ops;
      const i = ops.findIndex((op) => op.op === 'purchase' && op.orderId === 'ben-2');
      if (i === -1) continue;
      (ops[i] as WriteOp & { amountCents: number }).amountCents = 30_100;
      target = { seq, original: Buffer.from(value) };
      store.root.transactionSync(() => store.log.putSync(seq, sealLogValue(packTask({ kind: 'batch', ops }), record)));
      break;
    }
    expect(target).not.toBeNull();
    const run = runReplayCheck(dataDir);
    expect(run.status).toBe(1);
    expect(run.report!.ok).toBe(false);
    expect(run.report!.error).toMatchObject({ shard, seq: target!.seq, reason: 'checksum' });
    expect(run.report!.error!.message).toMatch(new RegExp(`^shard ${shard}, log entry ${target!.seq}: a batch whose results differ from the logged ones`));
    store.root.transactionSync(() => store.log.putSync(target!.seq, target!.original));
    void store.root.close();
    expectReplayEqualsLive(dataDir);
  });

  it('lists a state changed behind the log as a difference, and exits 1', () => {
    const shard = hashId('dan') % SHARDS;
    const store = openShardStore(join(dataDir, `shard-${shard}`));
    const dan = getState(store, 'dan')!;
    store.root.transactionSync(() => putState(store, 'dan', { ...dan, walletCents: dan.walletCents + 1 }));
    const run = runReplayCheck(dataDir);
    expect(run.status).toBe(1);
    expect(run.report!.error).toBeNull();
    expect(run.report!.differences).toEqual([{ shard, db: 'states', key: 'dan', live: { walletCents: dan.walletCents + 1 }, replayed: { walletCents: dan.walletCents } }]);
    expect(run.report!.perShard[shard]!.differenceCount).toBe(1);
    store.root.transactionSync(() => putState(store, 'dan', dan));
    void store.root.close();
  });

  it('after a trim to a backup, refuses to check from empty and checks from the backup', async () => {
    const backup = backUp();
    await server.start();
    await server.call('POST /v1/purchases', { body: { orderId: 'ann-3', memberId: 'ann', amountCents: 80_000 } });
    await server.call('POST /v1/returns', { body: { returnId: 'ben-r2', orderId: 'ben-2', amountCents: 10_000 } });
    await server.call('POST /v1/members', { body: { memberId: 'fay', referrerId: 'cat' } });
    await settled();
    // Trimmed while the server runs: LMDB serialises the two writers.
    const trim = loyaltyCli(dataDir, 'log', 'trim', '--before', backupDir, '--data', dataDir);
    expect(trim.status, trim.stderr).toBe(0);
    const trimmed = (JSON.parse(trim.stdout) as { shards: Array<{ shard: number; removed: number; firstSeq: number | null }> }).shards;
    expect(trimmed.map((t) => t.removed)).toEqual(backup.map((b) => b.batch));
    await server.call('POST /v1/purchases', { body: { orderId: 'eve-2', memberId: 'eve', amountCents: 9_000 } });
    await server.stop();
    const status = logStatus();
    expect(status.map((s) => s.firstSeq)).toEqual(backup.map((b, i) => (status[i]!.lastSeq > b.batch ? b.batch + 1 : null)));

    const fromEmpty = runReplayCheck(dataDir);
    expect(fromEmpty.status).toBe(2);
    expect(fromEmpty.stderr).toMatch(/log was trimmed \(it starts at entry \d+\): check it from the backup it was trimmed to, with --from-backup DIR/);
    const report = expectReplayEqualsLive(dataDir, '--from-backup', backupDir);
    expect(report.perShard.map((p) => p.fromSeq)).toEqual(backup.map((b) => b.batch));
    expect(report.batches).toBe(status.reduce((n, s, i) => n + s.lastSeq - backup[i]!.batch, 0));
  });

  it('refuses a trim past the log\'s end and one to a backup of other data', () => {
    const past = loyaltyCli(dataDir, 'log', 'trim', '--before-batch', '0:999999', '--data', dataDir);
    expect(past.status).toBe(2);
    expect(past.stderr).toMatch(/^loyalty: shard 0's log ends at entry \d+: a trim before entry 999999 would reach entries not yet written\n$/);
    const bad = loyaltyCli(dataDir, 'log', 'trim', '--before-batch', 'zero', '--data', dataDir);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--before-batch needs SHARD:N');
    const status = logStatus();
    const other = mkdtempSync(join(tmpdir(), 'loyalty-other-backup-'));
    writeFileSync(join(other, 'backup.json'), JSON.stringify({ shards: status.map((s) => ({ shard: s.shard, batch: s.lastSeq, checksum: '0000000000000000' })) }));
    const refused = loyaltyCli(dataDir, 'log', 'trim', '--before', other, '--data', dataDir);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/the backup is not of this data/);
    expect(logStatus()).toEqual(status);
    rmSync(other, { recursive: true, force: true });
  });
});
