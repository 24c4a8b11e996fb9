// The shard's member search index (engine/shard/search-index.ts) against the scan of every profile
// it replaces: the same members, in the same order, for prefixes of names in any case, phones,
// emails and ids, with the tier filter and cursor paging, on a few hundred members; the index kept
// exactly right through registrations and profile changes; and built for a data folder written
// before it existed, also when that build was cut short.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardStore, type ShardStore } from '../../engine/shard/store.js';
import { encodeProgram, loadCore } from '../../engine/core/wasm.js';
import { BatchExecutor } from '../../engine/shard/batch.js';
import { programContext } from '../../engine/rules/member-state.js';
import { answer } from '../../engine/shard/queries.js';
import { ensureSearchIndex, scanMembers, searchIndexReady, searchMembers, type MemberSearch } from '../../engine/shard/search-index.js';
import { demoProgram } from '../../engine/rules/program.js';
import { patchOp, registerOp } from '../../server/requests.js';
import type { WriteOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-search-index-'));
const AT = Date.parse('2026-03-10T02:00:00Z');
const program = demoProgram();
const ctx = programContext(1, program);
const encode = (out: Float64Array) => encodeProgram(program, out);
const admin = { role: 'admin' as const, nowMs: AT, defaultCountry: 'HK' };

const FIRST = ['Ada', 'ada', 'Adam', 'Émile', 'émilie', 'Zoë', 'İpek', 'Ωmega', '陳大文', '陈小明', 'Bo', 'bob', 'O\'Neil', '😀 Smile', 'Ann-Marie'];
const LAST = ['Chan', 'CHAN', 'Wong', 'Müller', 'MÜLLER', 'de la Cruz', 'Ng', 'Lee', 'Li'];
const TIERS = ['member', 'silver', 'gold'];
/** A name longer than the index keeps (64 characters), to search past the indexed part. */
const LONG = 'Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaftschaferswessen Senior';

/** Member i of the test population: every field optional, ids of several shapes. */
function body(i: number): Record<string, unknown> {
  const b: Record<string, unknown> = { memberId: i % 7 === 0 ? `AB-${i}` : i % 5 === 0 ? `ab.${i}` : `m${String(i).padStart(4, '0')}`, tierId: TIERS[i % 3] };
  if (i % 11 !== 0) b['name'] = i === 17 ? LONG : `${FIRST[i % FIRST.length]} ${LAST[i % LAST.length]}`;
  if (i % 4 !== 0) b['phone'] = `+852${5000 + (i % 37)}${String(1000 + i).slice(-4)}`;
  if (i % 6 !== 1) b['email'] = `${FIRST[i % FIRST.length]!.toLowerCase().replace(/[^a-z]/g, '') || 'x'}${i}@Example.com`;
  return b;
}
const MEMBERS = 300;

function open(name: string): { store: ShardStore; exec: BatchExecutor } {
  const store = openShardStore(join(dir, name), 256 * 1024 * 1024);
  return { store, exec: new BatchExecutor(store, loadCore(), 0) };
}
function run(s: { store: ShardStore; exec: BatchExecutor }, ops: WriteOp[]): void {
  const { results } = s.store.root.transactionSync(() => s.exec.apply(ctx, ops, encode));
  for (const r of results) expect(r.ok, JSON.stringify(r)).toBe(true);
}
function registerAll(s: { store: ShardStore; exec: BatchExecutor }): void {
  const ops = Array.from({ length: MEMBERS }, (_, i) => registerOp(body(i), admin, () => 'unused'));
  for (let i = 0; i < ops.length; i += 100) run(s, ops.slice(i, i + 100));
}

/** Every page of a search, following the cursor, through `page`. */
function pages(page: (q: MemberSearch) => Array<Record<string, unknown>>, q: Omit<MemberSearch, 'after'>): string[][] {
  const out: string[][] = [];
  let after: string | undefined;
  for (;;) {
    const got = page(after === undefined ? q : { ...q, after }).map((m) => m['memberId'] as string);
    out.push(got);
    if (got.length < q.limit) return out;
    after = got[got.length - 1];
  }
}

/** Prefixes that exercise every field: of each member's id, name (in three cases), phone and email, and misses. */
function prefixes(): string[] {
  const set = new Set<string>(['a', 'A', 'ab', 'AB', 'ab.', 'AB-1', 'm0', 'm01', 'z', 'Z', 'é', 'É', 'emi', 'ÉMI', 'i̇', 'İ', 'ip', '陳', '陈小', '😀', '\ud83d', 'o\'n', 'ann-', '+852', '+85250', '+8525001', '+852 5', 'chan', 'CHAN ', 'müll', 'MÜLLER', 'de la', 'example', '@', 'nothing', '%', 'ω', 'Ω', LONG.slice(0, 70), LONG.slice(0, 70).toUpperCase(), LONG, LONG + 'x']);
  for (let i = 0; i < MEMBERS; i += 23) {
    const b = body(i);
    for (const v of [b['memberId'], b['name'], b['phone'], b['email']]) {
      if (typeof v !== 'string') continue;
      for (const n of [1, 2, 4, v.length]) { set.add(v.slice(0, n)); set.add(v.slice(0, n).toUpperCase()); set.add(v.slice(0, n).toLowerCase()); }
    }
  }
  return [...set];
}

/** The index's keys as text, and what a rebuild from the profiles would hold. */
function indexKeys(store: ShardStore): string[] {
  return [...store.search.getKeys({})].map((k) => Buffer.from(k).toString('utf8'));
}

function expectSameAsScan(store: ShardStore): number {
  expect(searchIndexReady(store)).toBe(true);
  let found = 0;
  for (const prefix of prefixes()) {
    for (const tierId of [undefined, 'gold']) {
      for (const limit of [3, 50]) {
        const q: Omit<MemberSearch, 'after'> = tierId === undefined ? { prefix, limit } : { prefix, limit, tierId };
        // The index alone however many entries match, and with the bound past which a common prefix is walked.
        const byIndex = pages((x) => searchMembers(store, x, Number.POSITIVE_INFINITY), q);
        const scanned = pages((x) => scanMembers(store, x), q);
        expect(byIndex, JSON.stringify(q)).toEqual(scanned);
        expect(pages((x) => searchMembers(store, x, 20), q), JSON.stringify(q)).toEqual(scanned);
        found += byIndex.flat().length;
      }
    }
  }
  // Whole answers, not only ids: the same member views.
  expect(searchMembers(store, { prefix: 'ad', limit: 20 }, Number.POSITIVE_INFINITY)).toEqual(scanMembers(store, { prefix: 'ad', limit: 20 }));
  return found;
}

let live: { store: ShardStore; exec: BatchExecutor };
beforeAll(() => {
  live = open('live');
  expect(ensureSearchIndex(live.store)).toBe(0);
  registerAll(live);
});
afterAll(async () => {
  await live.store.root.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('member search by the index', () => {
  it('answers what the scan answers, page by page, for every kind of prefix, with and without a tier', () => {
    expect(expectSameAsScan(live.store)).toBeGreaterThan(1000);
    // Against the population itself: a name prefix in another case finds members by name or email.
    const expected = Array.from({ length: MEMBERS }, (_, i) => body(i))
      .filter((b) => String(b['name'] ?? '').toLowerCase().startsWith('ada') || String(b['email'] ?? '').toLowerCase().startsWith('ada'))
      .map((b) => b['memberId'] as string).sort();
    expect(expected.length).toBeGreaterThan(40);
    expect(searchMembers(live.store, { prefix: 'ADA', limit: 1000 }).map((m) => m['memberId'])).toEqual(expected);
    expect(searchMembers(live.store, { prefix: LONG.toUpperCase(), limit: 10 }).map((m) => m['name'])).toEqual([LONG]);
    expect(searchMembers(live.store, { prefix: LONG + 'x', limit: 10 })).toEqual([]);
  });

  it('answers the members query from the index once it is built', () => {
    expect(answer(live.store, { q: 'members', prefix: 'émi', limit: 1000 })).toEqual(scanMembers(live.store, { prefix: 'émi', limit: 1000 }));
    expect(answer(live.store, { q: 'members', tierId: 'silver', limit: 1000 })).toEqual(scanMembers(live.store, { tierId: 'silver', limit: 1000 }));
  });

  it('follows profile changes: the old name, email and phone are gone from the index, the new ones found', () => {
    const before = searchMembers(live.store, { prefix: 'zoë', limit: 1000 }).map((m) => m['memberId'] as string);
    const target = before.find((id) => live.store.members.get(id)?.email !== undefined && live.store.members.get(id)?.phone !== undefined)!;
    const old = live.store.members.get(target)!;
    run(live, [patchOp(target, { name: 'Quentin Quux', email: 'qq@example.com', phone: '+85299990000' }, admin)]);
    // A member registered and changed in one batch is indexed as it ends the batch.
    run(live, [registerOp({ memberId: 'late-1', name: 'Early Name' }, admin, () => 'unused'), patchOp('late-1', { name: 'Late Name' }, admin)]);
    expect(searchMembers(live.store, { prefix: 'zoë', limit: 1000 }).map((m) => m['memberId'])).toEqual(before.filter((id) => id !== target));
    expect(searchMembers(live.store, { prefix: old.email!, limit: 10 })).toEqual([]);
    expect(searchMembers(live.store, { prefix: old.phone!, limit: 10 }).map((m) => m['memberId'])).not.toContain(target);
    expect(searchMembers(live.store, { prefix: 'quentin', limit: 10 }).map((m) => m['memberId'])).toEqual([target]);
    expect(searchMembers(live.store, { prefix: 'QQ@', limit: 10 }).map((m) => m['memberId'])).toEqual([target]);
    expect(searchMembers(live.store, { prefix: '+8529999', limit: 10 }).map((m) => m['memberId'])).toEqual([target]);
    expect(searchMembers(live.store, { prefix: 'early', limit: 10 })).toEqual([]);
    expect(searchMembers(live.store, { prefix: 'late', limit: 10 }).map((m) => m['memberId'])).toEqual(['late-1']);
    // The index holds exactly what a rebuild from the profiles holds: nothing stale, nothing missing.
    const kept = indexKeys(live.store);
    const rebuilt = open('rebuilt-compare');
    live.store.root.transactionSync(() => {
      for (const { key, value } of live.store.members.getRange({})) rebuilt.store.members.putSync(key, value);
    });
    expect(ensureSearchIndex(rebuilt.store)).toBe(MEMBERS + 1);
    expect(indexKeys(rebuilt.store)).toEqual(kept);
    expect(kept.length).toBeGreaterThan(MEMBERS * 2);
    expectSameAsScan(live.store);
  });
});

describe('a data folder written before the index', () => {
  it('is searched by the scan until its index is built at start, then by the index, the same', () => {
    const old = open('old');
    registerAll(old);
    // As a folder of the previous version: profiles, no index, no record of one.
    old.store.root.transactionSync(() => { old.store.search.clearSync(); old.store.meta.removeSync('searchIndex'); });
    expect(searchIndexReady(old.store)).toBe(false);
    const scanned = answer(old.store, { q: 'members', prefix: 'ada', limit: 1000 });
    expect(ensureSearchIndex(old.store)).toBe(MEMBERS);
    expect(ensureSearchIndex(old.store)).toBe(0);
    expect(answer(old.store, { q: 'members', prefix: 'ada', limit: 1000 })).toEqual(scanned);
    expectSameAsScan(old.store);
  });

  it('resumes a build cut short where it stopped, and rebuilds an index of another layout', () => {
    const cut = open('cut');
    registerAll(cut);
    const complete = indexKeys(cut.store);
    cut.store.root.transactionSync(() => { cut.store.search.clearSync(); cut.store.meta.removeSync('searchIndex'); });
    // Built in slices of 64 members, one transaction each.
    const firstIds = [...cut.store.members.getKeys({})].slice(0, 192);
    cut.store.root.transactionSync(() => {
      cut.store.meta.putSync('searchIndex', { version: 1, done: false, after: null });
    });
    expect(ensureSearchIndex(cut.store, 64)).toBe(MEMBERS);
    expect(indexKeys(cut.store)).toEqual(complete);
    // Cut after 192 members: the record says so, and the rest is indexed on the next start.
    cut.store.root.transactionSync(() => {
      cut.store.search.clearSync();
      cut.store.meta.putSync('searchIndex', { version: 1, done: false, after: firstIds[191] });
    });
    expect(ensureSearchIndex(cut.store, 64)).toBe(MEMBERS - 192);
    expect(indexKeys(cut.store).length).toBeLessThan(complete.length);
    // An index of an unknown layout is dropped and rebuilt whole.
    cut.store.root.transactionSync(() => { cut.store.meta.putSync('searchIndex', { version: 0, done: true, after: null }); });
    expect(ensureSearchIndex(cut.store, 64)).toBe(MEMBERS);
    expect(indexKeys(cut.store)).toEqual(complete);
    expectSameAsScan(cut.store);
  });
});
