// A shard's part of a backup (engine/shard/shard-backup.ts): LMDB's hot copy of the store, 0600,
// at the log position read from the copy itself; a refusal to overwrite a copy; the log entries a
// copy lacks up to a point in time, which replayed into the copy make it equal to the live store,
// database by database, log included.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { loadCore } from '../../engine/core/wasm.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { decodeLogHeader, logPosition } from '../../engine/shard/batch-log.js';
import { copyShard, logEntriesUntil, storePosition } from '../../engine/shard/shard-backup.js';
import { replayShard } from '../../engine/shard/replay.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { PurchaseOp, RegisterOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-shard-backup-'));
const T0 = Date.parse('2026-03-10T02:00:00Z');
const opened: ShardStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

const store = openShardStore(join(dir, 'live'), 256 * 1024 * 1024, { noSync: true });
opened.push(store);
const machine = new ShardMachine(store, loadCore(), 0, { log: true });
machine.run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, T0);
const register: RegisterOp[] = Array.from({ length: 50 }, (_, i) => ({ op: 'register', memberId: `m${i}`, referralChain: [], key: `reg:m:m${i}`, fp: i + 1, atMs: T0 }));
machine.run({ kind: 'batch', ops: register }, T0 + 1);

let orderNo = 0;
function buy(committedAtMs: number): void {
  const ops: PurchaseOp[] = Array.from({ length: 20 }, (_, i) => {
    const n = orderNo++;
    return { op: 'purchase', orderId: `o${n}`, memberId: `m${i}`, key: `order:o${n}`, fp: 100 + n, atMs: T0 + 60_000, amountCents: 10_000 + n, discountCents: 0, redeemPoints: 0, walletCents: 0 };
  });
  machine.run({ kind: 'batch', ops }, committedAtMs);
}
buy(T0 + 2);

describe('a shard\'s copy for a backup', () => {
  const into = join(dir, 'copy');
  mkdirSync(into);

  it('is the live store at the log position read from the copy, 0600, without a lock file left behind', async () => {
    const copy = await copyShard(store, 0, into);
    expect(copy.shard).toBe(0);
    expect(copy.bytes).toBe(statSync(join(into, 'data.mdb')).size);
    expect(statSync(join(into, 'data.mdb')).mode & 0o777).toBe(0o600);
    expect(await storePosition(into)).toEqual({ batch: logPosition(store).seq, committedAtMs: T0 + 2, unlogged: false });
    expect(readdirSync(into)).toEqual(['data.mdb']);
  });

  it('refuses a folder that holds a data file already', async () => {
    const other = join(dir, 'taken');
    mkdirSync(other);
    writeFileSync(join(other, 'data.mdb'), 'not mine to overwrite');
    await expect(copyShard(store, 0, other)).rejects.toThrow(`${join(other, 'data.mdb')} exists already`);
  });

  it('is carried forward to a point by the entries the live log holds after it, up to that point', async () => {
    const at = (await storePosition(into)).batch;
    buy(T0 + 3);
    buy(T0 + 4);
    const toPoint = logEntriesUntil(store, at, T0 + 4, 100);
    expect(toPoint.map(([seq]) => seq)).toEqual([at + 1, at + 2]);
    expect(toPoint.map(([, v]) => decodeLogHeader(v).committedAtMs)).toEqual([T0 + 3, T0 + 4]);
    expect(logEntriesUntil(store, at, T0 + 4, 1)).toHaveLength(1);
    expect(logEntriesUntil(store, at, T0 + 2, 100)).toEqual([]);
    const copied = openShardStore(into, undefined, { noSync: true });
    opened.push(copied);
    const result = replayShard({ shardId: 0, values: (from) => toPoint.filter(([seq]) => seq >= from) }, copied);
    expect(result).toMatchObject({ fromSeq: at, lastSeq: at + 2, batches: 2, stoppedBy: 'end' });
    const diff = diffStores(store, copied, { listedMax: 20 });
    expect(diff.differences).toEqual([]);
    expect(diff.entries['states']).toBe(50);
    buy(T0 + 5);
    expect(logEntriesUntil(store, at + 2, T0 + 4, 100)).toEqual([]);
    expect(logEntriesUntil(store, at + 2, T0 + 5, 100).map(([seq]) => seq)).toEqual([at + 3]);
  });
});
