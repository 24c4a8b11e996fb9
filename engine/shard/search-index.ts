// The member search of one shard: an index of lowercased names, lowercased emails and phones, each
// pointing at its member, written in the same transaction as every profile, so that
// `GET /v1/members?q=` reads only the members whose field starts with the prefix instead of every
// profile. Member ids need no index: the states database is keyed by them, in id order.
import assert from 'node:assert/strict';
import { SEARCH_INDEX_BUILD_SLICE_MEMBERS, SEARCH_INDEX_CANDIDATES_MAX, SEARCH_INDEX_CHARS_MAX } from '../limits.js';
import { memberView, type MemberProfile } from '../rules/member-state.js';
import { getState, type ShardStore } from './store.js';

/**
 * An index key is one tag byte, the field's text (at most SEARCH_INDEX_CHARS_MAX characters) in
 * UTF-8, a 0 byte, then the member id. Keys sort by text, then id: the members whose text starts
 * with a prefix are one range, from the tag and prefix up to the same bytes followed by 0xff, a
 * byte UTF-8 never holds. The 0 byte keeps a text apart from its id; the id is what follows the
 * last 0 byte, since ids never hold one (ids are [A-Za-z0-9._:-]).
 */
const TAG_NAME = 'n';
const TAG_EMAIL = 'e';
const TAG_PHONE = 'p';
const SEPARATOR = '\u0000';
const RANGE_END = Buffer.from([0xff]);
const EMPTY = Buffer.alloc(0);

/** Where the index stands, in the shard's meta database: built whole, or built up to a member id. */
const META_KEY = 'searchIndex';
/** Bumped when the key layout changes: a data folder whose index has another version rebuilds it. */
const INDEX_VERSION = 1;
interface IndexMeta { version: number; done: boolean; after: string | null }

/**
 * The text a field is indexed by: its first SEARCH_INDEX_CHARS_MAX UTF-16 units, less a final
 * high surrogate, so that a prefix cut inside a character pair is still a byte prefix of the text it
 * was cut from (UTF-8 would write a lone half as U+FFFD).
 */
function indexText(text: string): string {
  let cut = text.length > SEARCH_INDEX_CHARS_MAX ? text.slice(0, SEARCH_INDEX_CHARS_MAX) : text;
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut;
}

/** The index keys of a profile, as strings (UTF-8 encoded when written). */
function keysOf(p: MemberProfile): string[] {
  const keys: string[] = [];
  if (p.name !== undefined) keys.push(TAG_NAME + indexText(p.name.toLowerCase()) + SEPARATOR + p.memberId);
  if (p.email !== undefined) keys.push(TAG_EMAIL + indexText(p.email.toLowerCase()) + SEPARATOR + p.memberId);
  if (p.phone !== undefined) keys.push(TAG_PHONE + indexText(p.phone) + SEPARATOR + p.memberId);
  return keys;
}

/**
 * Writes a member's profile and moves its index entries along, inside the caller's transaction.
 * A new member's entries are only added; a changed one's old profile, still the stored one, says
 * which entries go.
 */
export function writeProfile(store: ShardStore, memberId: string, profile: MemberProfile, created: boolean): void {
  const after = keysOf(profile);
  const before = created ? [] : keysOf(store.members.get(memberId) ?? profile);
  for (const key of before) if (!after.includes(key)) store.search.removeSync(Buffer.from(key, 'utf8'));
  for (const key of after) if (!before.includes(key)) store.search.putSync(Buffer.from(key, 'utf8'), EMPTY);
  store.members.putSync(memberId, profile);
}

function indexMeta(store: ShardStore): IndexMeta | undefined {
  return store.meta.get(META_KEY) as IndexMeta | undefined;
}

/** Whether the index holds every profile: a folder whose index is still being built is searched by a scan. */
export function searchIndexReady(store: ShardStore): boolean {
  const meta = indexMeta(store);
  return meta !== undefined && meta.version === INDEX_VERSION && meta.done;
}

/**
 * Builds the index of a data folder written before it existed (or under another key layout), in
 * slices of SEARCH_INDEX_BUILD_SLICE_MEMBERS profiles, one transaction each, recording how far it
 * got: a build cut short by a stop resumes there. Runs in the shard's worker before it takes any
 * batch, so no profile changes meanwhile. Returns the profiles indexed.
 */
export function ensureSearchIndex(store: ShardStore, sliceMembers = SEARCH_INDEX_BUILD_SLICE_MEMBERS): number {
  let meta = indexMeta(store);
  if (meta !== undefined && meta.version === INDEX_VERSION && meta.done) return 0;
  if (meta === undefined || meta.version !== INDEX_VERSION) {
    const fresh: IndexMeta = { version: INDEX_VERSION, done: false, after: null };
    store.root.transactionSync(() => {
      store.search.clearSync();
      store.meta.putSync(META_KEY, fresh);
    });
    meta = fresh;
  }
  let indexed = 0;
  for (let after = meta.after; ;) {
    const slice = store.root.transactionSync(() => {
      let last: string | null = null;
      let count = 0;
      for (const { key, value } of store.members.getRange(after === null ? {} : { start: after })) {
        if (key === after) continue;
        if (count >= sliceMembers) break;
        for (const k of keysOf(value)) store.search.putSync(Buffer.from(k, 'utf8'), EMPTY);
        last = key;
        count += 1;
      }
      store.meta.putSync(META_KEY, { version: INDEX_VERSION, done: last === null, after: last ?? after } satisfies IndexMeta);
      return { last, count };
    });
    indexed += slice.count;
    if (slice.last === null) return indexed;
    after = slice.last;
  }
}

/**
 * Whether a member matches a search prefix: a prefix of its id or phone as written, of its name or
 * email in any case, or its phone starts with one of `phonePrefixes` (what the text means as the
 * start of an E.164 phone: engine/rules/phone.ts phonePrefixes).
 */
function prefixMatcher(prefix: string, phonePrefixes: readonly string[] = []): (m: MemberProfile) => boolean {
  const lower = prefix.toLowerCase();
  return (m) => m.memberId.startsWith(prefix) || (m.name?.toLowerCase().startsWith(lower) ?? false)
    || (m.phone?.startsWith(prefix) ?? false) || (m.email?.toLowerCase().startsWith(lower) ?? false)
    || (m.phone !== undefined && phonePrefixes.some((p) => m.phone!.startsWith(p)));
}

export interface MemberSearch { prefix: string; phonePrefixes?: string[]; tierId?: string; after?: string; limit: number }

/**
 * Members in id order after `after`, filtered, by reading the profiles from there: the listing
 * without a prefix, a search whose prefix is common (see searchMembers), and a search while the
 * shard's index is still being built.
 */
export function scanMembers(store: ShardStore, q: { tierId?: string; prefix?: string; phonePrefixes?: string[]; after?: string; limit: number }): Array<Record<string, unknown>> {
  const out: Record<string, unknown>[] = [];
  const matches = q.prefix === undefined ? null : prefixMatcher(q.prefix, q.phonePrefixes);
  const range = store.members.getRange(q.after === undefined ? {} : { start: q.after });
  for (const { key, value } of range) {
    if (q.after !== undefined && key === q.after) continue;
    if (matches !== null && !matches(value)) continue;
    const state = getState(store, key);
    if (state === undefined || (q.tierId !== undefined && state.tierId !== q.tierId)) continue;
    out.push(memberView(value, state, state.grants, state.pending));
    if (out.length >= q.limit) break;
  }
  return out;
}

/**
 * The members matching `prefix` after `after` in id order, at most `limit`: exactly what
 * scanMembers answers, read from the index. The names, emails and phones starting with the prefix
 * give their member ids, sorted; the ids starting with it come in order from the profiles' keys;
 * the two are merged, and each candidate is checked against the whole prefix (the index keeps only
 * the first characters) before it is answered. A prefix with more than `candidatesMax` index
 * entries is common, and the walk in id order (scanMembers) finds a page of it sooner than sorting
 * them all. An index entry whose member has no profile is a broken invariant: the index is written
 * with the profiles, in their transactions.
 */
export function searchMembers(store: ShardStore, q: MemberSearch, candidatesMax = SEARCH_INDEX_CANDIDATES_MAX): Array<Record<string, unknown>> {
  const lower = q.prefix.toLowerCase();
  const found: string[] = [];
  let entries = 0;
  const starts = [TAG_NAME + indexText(lower), TAG_EMAIL + indexText(lower), TAG_PHONE + indexText(q.prefix)];
  for (const phone of q.phonePrefixes ?? []) if (phone !== q.prefix) starts.push(TAG_PHONE + indexText(phone));
  for (const start of starts) {
    const from = Buffer.from(start, 'utf8');
    for (const key of store.search.getKeys({ start: from, end: Buffer.concat([from, RANGE_END]) })) {
      if (++entries > candidatesMax) return scanMembers(store, q);
      const id = key.toString('latin1', key.lastIndexOf(0) + 1);
      if (q.after === undefined || id > q.after) found.push(id);
    }
  }
  found.sort();
  const matches = prefixMatcher(q.prefix, q.phonePrefixes);
  const ids = store.members.getKeys({ start: q.after !== undefined && q.after > q.prefix ? q.after : q.prefix })[Symbol.iterator]();
  const out: Array<Record<string, unknown>> = [];
  try {
    let nextId = ids.next();
    let i = 0;
    let previous: string | undefined;
    while (out.length < q.limit) {
      const byId = !nextId.done && nextId.value.startsWith(q.prefix) ? nextId.value : undefined;
      const byIndex = found[i];
      if (byId === undefined && byIndex === undefined) break;
      let memberId: string;
      if (byIndex === undefined || (byId !== undefined && byId <= byIndex)) { memberId = byId!; nextId = ids.next(); }
      else { memberId = byIndex; i += 1; }
      if (memberId === previous || memberId === q.after) continue;
      previous = memberId;
      const state = getState(store, memberId);
      if (state === undefined || (q.tierId !== undefined && state.tierId !== q.tierId)) continue;
      const profile = store.members.get(memberId);
      assert.ok(profile !== undefined, `member ${memberId} has a state but no profile`);
      if (!matches(profile)) continue;
      out.push(memberView(profile, state, state.grants, state.pending));
    }
  } finally {
    ids.return?.();
  }
  return out;
}
