// One shard's copy for a backup (engine/shard/shard-backup.ts): LMDB's hot copy of the store as of
// the call, equal to the live store database by database, at the log position it reports, 0600;
// it refuses a folder that already holds a copy; and a shard whose fellow shards never reach their
// copy tasks waits for them at most BACKUP_BARRIER_WAIT_MS before it copies alone.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { loadCore } from '../../engine/core/wasm.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { checksumHex, decodeLogHeader, logPosition } from '../../engine/shard/batch-log.js';
import { copyShard } from '../../engine/shard/shard-backup.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { demoProgram } from '../../engine/rules/program.js';
import { BACKUP_BARRIER_WAIT_MS, BACKUP_SNAPSHOT_WAIT_MS } from '../../engine/limits.js';
import type { PurchaseOp, RegisterOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-shard-backup-'));
const T0 = Date.parse('2026-03-10T02:00:00Z');
const opened: ShardStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

function live(): ShardStore {
  const store = openShardStore(join(dir, 'live'), 256 * 1024 * 1024, { noSync: true });
  opened.push(store);
  const machine = new ShardMachine(store, loadCore(), 0, { log: true });
  machine.run({ kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true }, T0);
  const register: RegisterOp[] = Array.from({ length: 50 }, (_, i) => ({ op: 'register', memberId: `m${i}`, referralChain: [], key: `reg:m:m${i}`, fp: i + 1, atMs: T0 }));
  machine.run({ kind: 'batch', ops: register }, T0 + 1);
  const buy: PurchaseOp[] = Array.from({ length: 50 }, (_, i) => ({
    op: 'purchase', orderId: `o${i}`, memberId: `m${i}`, key: `order:o${i}`, fp: 100 + i, atMs: T0 + 60_000, amountCents: 10_000 + i, discountCents: 0, redeemPoints: 0, walletCents: 0,
  }));
  machine.run({ kind: 'batch', ops: buy }, T0 + 2);
  return store;
}

const alone = () => ({ barrier: new SharedArrayBuffer(4), shards: 1 });

describe('a shard\'s copy for a backup', () => {
  const store = live();

  it('is the live store, database by database, at the log position it reports', async () => {
    const into = join(dir, 'copy-1');
    mkdirSync(into);
    const copy = await copyShard(store, 0, into, alone());
    const at = logPosition(store).seq;
    expect(copy).toMatchObject({ shard: 0, batch: at, members: 50, committedAtMs: T0 + 2 });
    expect(copy.checksum).toBe(checksumHex(decodeLogHeader(store.log.getBinary(at)!).checksum));
    expect(copy.bytes).toBe(statSync(join(into, 'data.mdb')).size);
    expect(statSync(join(into, 'data.mdb')).mode & 0o777).toBe(0o600);
    expect(copy.barrierMs).toBeLessThan(BACKUP_BARRIER_WAIT_MS);
    expect(copy.pauseMs).toBeLessThan(BACKUP_SNAPSHOT_WAIT_MS);
    const copied = openShardStore(into, undefined, { readOnly: true });
    opened.push(copied);
    expect(logPosition(copied).seq).toBe(at);
    const diff = diffStores(store, copied, { listedMax: 20 });
    expect(diff.differences).toEqual([]);
    expect(diff.differenceCount).toBe(0);
    expect(diff.entries['states']).toBe(50);
  });

  it('refuses a folder that holds a data file already', async () => {
    const into = join(dir, 'copy-2');
    mkdirSync(into);
    writeFileSync(join(into, 'data.mdb'), 'not mine to overwrite');
    await expect(copyShard(store, 0, into, alone())).rejects.toThrow(`${join(into, 'data.mdb')} exists already`);
  });

  it('waits for fellow shards that never come at most the barrier\'s bound, then copies alone', async () => {
    const into = join(dir, 'copy-3');
    mkdirSync(into);
    const copy = await copyShard(store, 0, into, { barrier: new SharedArrayBuffer(4), shards: 2 });
    expect(copy.barrierMs).toBeGreaterThanOrEqual(BACKUP_BARRIER_WAIT_MS - 1);
    expect(copy.barrierMs).toBeLessThan(BACKUP_BARRIER_WAIT_MS + 200);
    expect(copy.batch).toBe(logPosition(store).seq);
  });
});
