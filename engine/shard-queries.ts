// Read-only questions a shard answers from committed state, outside the write batches: members,
// ledgers, balances at a past moment, orders, the verify fold and the front end's directory.
import type { ShardStore } from './store.js';
import type { LedgerEntry, Query } from './ops.js';
import { memberView, type MemberRecord } from './member-state.js';

const SEQ_MAX = Number.MAX_SAFE_INTEGER;

/** Balances as the fold of a member's entries (SPEC section 8). */
export interface Fold { points: number; growth: number; walletCents: number; lifetimeSpendCents: number; purchaseCount: number; tierId: string | null }

export function emptyFold(): Fold {
  return { points: 0, growth: 0, walletCents: 0, lifetimeSpendCents: 0, purchaseCount: 0, tierId: null };
}

export function foldEntry(f: Fold, e: LedgerEntry): void {
  f.points += e.pointsDelta;
  f.growth += e.growthDelta;
  f.walletCents += e.walletDeltaCents;
  f.lifetimeSpendCents += e.spendDeltaCents;
  if (e.kind === 'purchase') f.purchaseCount += 1;
  if (e.tierId !== null) f.tierId = e.tierId;
}

export function ledgerView(e: LedgerEntry): Record<string, unknown> {
  return { ...e, at: new Date(e.at).toISOString() };
}

function matches(m: MemberRecord, prefix: string): boolean {
  return m.memberId.startsWith(prefix) || (m.name?.toLowerCase().startsWith(prefix.toLowerCase()) ?? false)
    || (m.phone?.startsWith(prefix) ?? false) || (m.email?.toLowerCase().startsWith(prefix.toLowerCase()) ?? false);
}

export function answer(store: ShardStore, q: Query): unknown {
  switch (q.q) {
    case 'member': {
      const m = store.members.get(q.memberId);
      return m === undefined ? null : memberView(m);
    }
    case 'members': {
      const out: Record<string, unknown>[] = [];
      const range = store.members.getRange(q.after === undefined ? {} : { start: q.after });
      for (const { key, value } of range) {
        if (q.after !== undefined && key === q.after) continue;
        if (q.tierId !== undefined && value.tierId !== q.tierId) continue;
        if (q.prefix !== undefined && !matches(value, q.prefix)) continue;
        out.push(memberView(value));
        if (out.length >= q.limit) break;
      }
      return out;
    }
    case 'ledger': {
      if (store.members.get(q.memberId) === undefined) return null;
      const before = q.beforeSeq ?? SEQ_MAX;
      const out: Record<string, unknown>[] = [];
      for (const { key, value } of store.ledger.getRange({ start: [q.memberId, before], end: [q.memberId, 0], reverse: true })) {
        if (key[1] >= before) continue;
        out.push(ledgerView(value));
        if (out.length >= q.limit) break;
      }
      return out;
    }
    case 'balance': {
      if (store.members.get(q.memberId) === undefined) return null;
      const f = emptyFold();
      for (const { value } of store.ledger.getRange({ start: [q.memberId, 0], end: [q.memberId, SEQ_MAX] })) {
        if (value.at <= q.atMs) foldEntry(f, value);
      }
      return { at: new Date(q.atMs).toISOString(), points: f.points, growth: f.growth, walletCents: f.walletCents };
    }
    case 'order': {
      const o = store.orders.get(q.orderId);
      if (o === undefined) return null;
      const iso = (ms: number) => new Date(ms).toISOString();
      const returnedCents = o.returns.reduce((s, r) => s + r.amountCents, 0);
      return { ...o, at: iso(o.at), returns: o.returns.map((r) => ({ ...r, at: iso(r.at) })), remainingCents: o.netCents - returnedCents };
    }
    case 'verify': return verify(store);
    case 'directory': {
      const out: Array<[string, string]> = [];
      for (const { key, value } of store.unique.getRange({})) out.push([key, value]);
      return out;
    }
    case 'program': return store.meta.get('program') ?? null;
  }
}

/** Recomputes every member from its entries and reports each difference from the stored state. */
export function verify(store: ShardStore): { members: number; entries: number; mismatches: Array<Record<string, unknown>> } {
  const mismatches: Array<Record<string, unknown>> = [];
  let members = 0;
  let entries = 0;
  let current: string | null = null;
  let fold = emptyFold();
  const folds = new Map<string, Fold>();
  for (const { key, value } of store.ledger.getRange({})) {
    entries += 1;
    const memberId = key[0];
    if (memberId === '') continue;
    if (memberId !== current) {
      current = memberId;
      fold = emptyFold();
      folds.set(memberId, fold);
    }
    foldEntry(fold, value);
  }
  for (const { key, value } of store.members.getRange({})) {
    members += 1;
    const f = folds.get(key) ?? emptyFold();
    const stored: Fold = {
      points: value.points, growth: value.growth, walletCents: value.walletCents,
      lifetimeSpendCents: value.lifetimeSpendCents, purchaseCount: value.purchaseCount, tierId: value.tierId,
    };
    for (const field of Object.keys(stored) as Array<keyof Fold>) {
      if (stored[field] !== f[field]) mismatches.push({ memberId: key, field, stored: stored[field], ledger: f[field] });
    }
    folds.delete(key);
  }
  for (const memberId of folds.keys()) mismatches.push({ memberId, field: 'member', stored: null, ledger: 'entries without a member' });
  return { members, entries, mismatches };
}
