// Opens one shard's LMDB environment and its named databases with every option spelled out,
// because the first opener of an environment fixes its flags and defaults change between versions.
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { LMDB_READERS_MAX, SHARD_MAP_BYTES } from './limits.js';
import type { LedgerEntry } from './ops.js';
import type { MemberRecord, OrderRecord } from './member-state.js';

export interface StoredKey { fp: string; res: Record<string, unknown> }

export interface ShardStore {
  root: RootDatabase;
  members: Database<MemberRecord, string>;
  /** Ledger entries keyed [memberId, seq]: one member's entries are one contiguous range. */
  ledger: Database<LedgerEntry, [string, number]>;
  keys: Database<StoredKey, string>;
  orders: Database<OrderRecord, string>;
  /** Unique profile fields: 'p:' + phone and 'e:' + email map to the member holding them. */
  unique: Database<string, string>;
  meta: Database<unknown, string>;
}

export function openShardStore(path: string, mapBytes = SHARD_MAP_BYTES): ShardStore {
  mkdirSync(path, { recursive: true });
  const root = open({
    path,
    mapSize: mapBytes,
    maxReaders: LMDB_READERS_MAX,
    maxDbs: 16,
    overlappingSync: true,
    noSync: false,
    noMemInit: true,
    compression: false,
    cache: false,
    encoding: 'msgpack',
  });
  const sub = <V, K extends import('lmdb').Key>(name: string) =>
    root.openDB<V, K>({ name, encoding: 'msgpack', sharedStructuresKey: Symbol.for('structures'), cache: false, compression: false });
  return {
    root,
    members: sub<MemberRecord, string>('members'),
    ledger: sub<LedgerEntry, [string, number]>('ledger'),
    keys: sub<StoredKey, string>('keys'),
    orders: sub<OrderRecord, string>('orders'),
    unique: root.openDB<string, string>({ name: 'unique', encoding: 'string', cache: false }),
    meta: root.openDB<unknown, string>({ name: 'meta', encoding: 'msgpack', cache: false }),
  };
}
