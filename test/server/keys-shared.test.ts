// The key store's cluster side (server/auth.ts; docs/cluster.md, "API keys"), without NATS: a
// change is in force only once published, a refused publish changes nothing and is answered
// storage_failed, a revoked key stays revoked whatever record arrives later, and adopting the
// deployment's keys drops the folder's own.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore, keyHashHex, type SharedKey } from '../../server/auth.js';
import { LoyaltyError } from '../../engine/errors.js';

const dirs: string[] = [];
function store(): KeyStore {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-keys-shared-'));
  dirs.push(dir);
  return new KeyStore(dir);
}
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const record = (id: string, key: string, revoked = false): SharedKey => ({ id, role: 'pos', hash: keyHashHex(key), createdAt: '2026-01-01T00:00:00.000Z', revoked });

describe('the key store of a cluster node', () => {
  it('publishes a new key before it is in force, and a refused publish changes nothing', async () => {
    const keys = store();
    const published: SharedKey[] = [];
    let refuse = false;
    keys.shareThrough(async (k) => {
      if (refuse) throw new Error('no stream leader');
      published.push(k);
    });
    const created = await keys.createShared('pos');
    expect(published).toEqual([{ id: created.id, role: 'pos', hash: keyHashHex(created.key), createdAt: expect.any(String) as string, revoked: false }]);
    expect(keys.authenticate(created.key)).toEqual({ id: created.id, role: 'pos' });

    refuse = true;
    const failed = await keys.createShared('reader').catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(LoyaltyError);
    expect((failed as LoyaltyError).code).toBe('storage_failed');
    expect(keys.list().map((k) => k.id)).toEqual([created.id]);
    expect(((await keys.revokeShared(created.id).catch((err: unknown) => err)) as LoyaltyError).code).toBe('storage_failed');
    expect(keys.isLive(created.id)).toBe(true);

    refuse = false;
    expect(await keys.revokeShared(created.id)).toMatchObject({ id: created.id, revoked: true });
    expect(published.map((k) => k.revoked)).toEqual([false, true]);
    expect(keys.authenticate(created.key)).toBeNull();
    // Only the stream changes a cluster node's keys.
    expect(() => keys.create('pos')).toThrow(/keys stream/);
  });

  it('keeps a revoked key revoked when an older record of it is read later, and adopting drops the folder\'s own keys', () => {
    const keys = store();
    const own = keys.create('admin');
    keys.shareThrough(async () => {});
    const dropped = keys.adopt([record('k_000000000001', 'one'), record('k_000000000002', 'two')]);
    expect(dropped).toEqual([own.id]);
    expect(keys.authenticate(own.key)).toBeNull();
    expect(keys.authenticate('one')).toEqual({ id: 'k_000000000001', role: 'pos' });

    expect(keys.merge([record('k_000000000001', 'one', true), record('k_000000000003', 'three')])).toEqual({ created: ['k_000000000003'], revoked: ['k_000000000001'] });
    expect(keys.merge([record('k_000000000001', 'one', false)])).toEqual({ created: [], revoked: [] });
    expect(keys.authenticate('one')).toBeNull();
    expect(keys.isLiveKey('three')).toBe(true);
    const file = JSON.parse(readFileSync(join(dirs[0]!, 'keys.json'), 'utf8')) as Array<{ id: string; revoked?: boolean }>;
    expect(file.map((k) => [k.id, k.revoked === true])).toEqual([['k_000000000001', true], ['k_000000000002', false], ['k_000000000003', false]]);
  });
});
