// The shard count a server starts with: LOYALTY_SHARDS when set, else the data folder's own count,
// else one shard per CORES_PER_SHARD cores of this machine for a new folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromEnv, defaultShardCount } from '../../server/config.js';
import { openDataFolder } from '../../engine/router/data-folder.js';

const root = mkdtempSync(join(tmpdir(), 'loyalty-config-shards-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('shard count', () => {
  it('is one per two cores for a new folder, at least one', () => {
    expect([1, 2, 3, 4, 8, 9].map(defaultShardCount)).toEqual([1, 1, 1, 2, 4, 4]);
    expect(configFromEnv({ LOYALTY_DATA: join(root, 'new') }).shards).toBe(defaultShardCount(availableParallelism()));
  });

  it("is the folder's own count when LOYALTY_SHARDS is not set, and LOYALTY_SHARDS when it is", () => {
    const dir = join(root, 'three');
    openDataFolder(dir, { shards: 3, access: 'write', create: true, holder: 'the test' }).release();
    expect(configFromEnv({ LOYALTY_DATA: dir }).shards).toBe(3);
    expect(configFromEnv({ LOYALTY_DATA: dir, LOYALTY_SHARDS: '' }).shards).toBe(3);
    expect(configFromEnv({ LOYALTY_DATA: dir, LOYALTY_SHARDS: '5' }).shards).toBe(5);
    // The explicit count is then checked against the folder when the engine opens it.
    expect(() => openDataFolder(dir, { shards: 5, access: 'read', create: false, holder: 'the test' })).toThrow(/created with 3 shards/);
  });

  it('refuses a LOYALTY_SHARDS outside 1..64 and ignores an engine.json without a count', () => {
    expect(() => configFromEnv({ LOYALTY_DATA: join(root, 'x'), LOYALTY_SHARDS: '0' })).toThrow(/LOYALTY_SHARDS must be an integer 1..64/);
    expect(() => configFromEnv({ LOYALTY_DATA: join(root, 'x'), LOYALTY_SHARDS: 'two' })).toThrow(/LOYALTY_SHARDS/);
    const odd = mkdtempSync(join(root, 'odd-'));
    writeFileSync(join(odd, 'engine.json'), '{"createdAt":"2026-01-01"}');
    expect(configFromEnv({ LOYALTY_DATA: odd }).shards).toBe(defaultShardCount(availableParallelism()));
  });
});
