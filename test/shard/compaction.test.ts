// The compaction of a shard's data file (engine/shard/compaction.ts): the bytes of a deleted value
// stay in data.mdb until a compaction, which leaves a file without them, a handle that reads and
// writes the same data, a marker of the erasures it covered, and no copy folder; a copy a crash
// cut short is removed at start and the shard's file is untouched.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { clearCompactionLeftovers, COMPACT_FOLDER, compactedErasures, compactionDue, compactShard } from '../../engine/shard/compaction.js';
import { ERASURES_META_KEY } from '../../engine/shard/batch-erase.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-compaction-'));
/** Handles still open at the end (a compaction closes the one it replaces). */
const stores = new Set<ShardStore>();
const SECRET = 'Zebulon Unforgettable-Secretvalue';

afterAll(async () => {
  for (const s of stores) await s.root.close();
  rmSync(dir, { recursive: true, force: true });
});

const open = (path: string): ShardStore => {
  const s = openShardStore(path, 64 * 1024 * 1024);
  stores.add(s);
  return s;
};

describe('compaction', () => {
  it('leaves a file without the freed bytes, and a handle on it that reads and writes the same data', async () => {
    const shardDir = join(dir, 'shard-0');
    const store = open(shardDir);
    store.root.transactionSync(() => {
      for (let i = 0; i < 500; i++) store.members.putSync(`m${i}`, { memberId: `m${i}`, referrerId: null, referralChain: [], createdAt: i, name: i === 7 ? SECRET : `Member ${i}` });
    });
    store.root.transactionSync(() => {
      store.members.putSync('m7', { memberId: 'm7', referrerId: null, referralChain: [], createdAt: 7 });
      store.meta.putSync(ERASURES_META_KEY, 1);
    });
    const file = join(shardDir, 'data.mdb');
    expect(readFileSync(file).includes(Buffer.from(SECRET))).toBe(true);
    expect(compactionDue(store, shardDir)).toBe(true);
    const inodeBefore = statSync(file).ino;
    const { store: fresh, report } = await compactShard(store, 0, shardDir, open);
    stores.delete(store);
    expect(readFileSync(file).includes(Buffer.from(SECRET))).toBe(false);
    expect(statSync(file).ino).not.toBe(inodeBefore);
    expect(report).toMatchObject({ shard: 0, bytesAfter: statSync(file).size });
    expect(existsSync(join(shardDir, COMPACT_FOLDER))).toBe(false);
    expect(compactedErasures(shardDir)).toBe(1);
    expect(compactionDue(fresh, shardDir)).toBe(false);
    expect(fresh.members.get('m8')?.name).toBe('Member 8');
    fresh.root.transactionSync(() => fresh.members.putSync('after', { memberId: 'after', referrerId: null, referralChain: [], createdAt: 1 }));
    await fresh.root.close();
    stores.delete(fresh);
    // Reopened from the path, as at the next start: the write made on the new handle is there.
    const again = open(shardDir);
    expect(again.members.get('after')?.memberId).toBe('after');
    expect(again.members.get('m7')?.name).toBeUndefined();
  });

  it('removes a copy a crash cut short, leaving the shard\'s file as it was', () => {
    const shardDir = join(dir, 'shard-1');
    mkdirSync(join(shardDir, COMPACT_FOLDER), { recursive: true });
    writeFileSync(join(shardDir, COMPACT_FOLDER, 'data.mdb'), 'half a copy');
    writeFileSync(join(shardDir, 'data.mdb'), 'the shard');
    clearCompactionLeftovers(shardDir);
    expect(existsSync(join(shardDir, COMPACT_FOLDER))).toBe(false);
    expect(readFileSync(join(shardDir, 'data.mdb'), 'utf8')).toBe('the shard');
  });
});
