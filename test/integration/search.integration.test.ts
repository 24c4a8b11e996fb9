// Member search on a real server, where it runs on the reader thread over read-only views of the
// shards: every page of `GET /v1/members?q=` across two shards equals what the members themselves
// say (prefixes of names in any case, phones, emails, ids; the tier filter; the cursor), a profile
// change is seen by the very next search, and a data folder without the index gets it at start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openShardStore } from '../../engine/shard/store.js';
import { ServerProcess } from '../helpers/server-process.js';

const MEMBERS = 240;
const NAMES = ['Ada Lovelace', 'adam Smith', 'Émile Zola', 'Chan Tai Man', 'CHAN Siu Ming', '陳大文', 'Zoë Ng', 'Bo Li'];
const TIERS = ['member', 'silver', 'gold'];

/** Member i as imported: every third has no email, every fifth no phone; phones in E.164 as stored. */
function member(i: number): { memberId: string; name: string; phone: string; email: string; tierId: string } {
  return {
    memberId: i % 4 === 0 ? `VIP-${i}` : `m${String(i).padStart(3, '0')}`,
    name: `${NAMES[i % NAMES.length]} ${i}`,
    phone: i % 5 === 0 ? '' : `+8526${String(i % 9)}00${String(1000 + i)}`,
    email: i % 3 === 0 ? '' : `${NAMES[i % NAMES.length]!.split(' ')[0]!.toLowerCase()}.${i}@example.com`,
    tierId: TIERS[i % TIERS.length]!,
  };
}
const people = Array.from({ length: MEMBERS }, (_, i) => member(i));

/** What a search should answer, from the members as imported (the patched one aside). */
function expected(prefix: string, tierId?: string): string[] {
  const lower = prefix.toLowerCase();
  return people
    .filter((p) => tierId === undefined || p.tierId === tierId)
    .filter((p) => p.memberId.startsWith(prefix) || p.name.toLowerCase().startsWith(lower) || p.phone.startsWith(prefix) || (p.email !== '' && p.email.startsWith(lower)))
    .map((p) => p.memberId)
    .sort();
}

const server = new ServerProcess(ServerProcess.tempDataDir());

/** Every page of a search, following nextCursor. */
async function search(q: string, limit: number, tierId?: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor = '';
  for (;;) {
    const page = await server.call('GET /v1/members', { query: { q, limit, tierId, cursor: cursor === '' ? undefined : cursor } });
    ids.push(...page.members.map((m) => m.memberId));
    if (page.nextCursor === null) return ids;
    cursor = page.nextCursor;
  }
}

const PREFIXES = ['a', 'ADA', 'adam s', 'émile', 'chan', 'CHAN S', '陳', 'zoë ng 1', 'VIP-1', 'vip', 'm0', 'm01', '+8526', '+85263', '+8526300', 'bo.', 'ADA.1', 'nobody', 'Ada Lovelace 200'];

beforeAll(async () => {
  await server.start();
  const csv = ['memberId,name,phone,email,tierId', ...people.map((p) => `${p.memberId},${p.name},${p.phone},${p.email},${p.tierId}`)].join('\n') + '\n';
  expect(await server.call('POST /v1/import/members', { body: csv })).toMatchObject({ imported: MEMBERS, failed: 0 });
});
afterAll(async () => {
  await server.stop();
  server.cleanup();
});

describe('GET /v1/members?q=', () => {
  it('answers every page as the members themselves say, across both shards', async () => {
    for (const q of PREFIXES) {
      for (const limit of [3, 50]) expect(await search(q, limit), `${q} by ${limit}`).toEqual(expected(q));
      expect(await search(q, 7, 'gold'), `${q} in gold`).toEqual(expected(q, 'gold'));
    }
    expect(expected('a').length).toBeGreaterThan(50);
  });

  it('sees a profile change in the next search: the old name is no longer found, the new one is', async () => {
    const target = people.find((p) => p.name.startsWith('Zoë'))!;
    const before = await search(target.name, 10);
    expect(before).toContain(target.memberId);
    expect((await server.call('PATCH /v1/members/:id', { params: { id: target.memberId }, body: { name: 'Xavier Quinn' } })).name).toBe('Xavier Quinn');
    expect(await search(target.name, 10)).toEqual(before.filter((id) => id !== target.memberId));
    expect(await search('xavier q', 10)).toEqual([target.memberId]);
    people[people.indexOf(target)] = { ...target, name: 'Xavier Quinn' };
    expect(await search('zoë', 50)).toEqual(expected('zoë'));
  });

  it('builds the index at start for a data folder that has none, and answers the same', async () => {
    await server.stop();
    // The folder as the previous version left it: profiles, no index, no record of one.
    for (const shard of [0, 1]) {
      const store = openShardStore(join(server.dataDir, `shard-${shard}`));
      store.root.transactionSync(() => { store.search.clearSync(); store.meta.removeSync('searchIndex'); });
      expect(store.search.getKeysCount()).toBe(0);
      await store.root.close();
    }
    await server.start();
    for (const q of PREFIXES) expect(await search(q, 50), q).toEqual(expected(q));
    for (const shard of [0, 1]) {
      const store = openShardStore(join(server.dataDir, `shard-${shard}`), { readOnly: true });
      expect(store.meta.get('searchIndex')).toMatchObject({ version: 1, done: true });
      expect(store.search.getKeysCount()).toBeGreaterThan(MEMBERS / 2);
      await store.root.close();
    }
  });
});
