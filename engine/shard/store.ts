// Opens one shard's LMDB environment and its named databases with every option spelled out,
// because the first opener of an environment fixes its flags and defaults change between versions.
import { open, type Database, type RootDatabase } from 'lmdb';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_FILE_MODE, DATA_FOLDER_MODE, LMDB_READERS_MAX, SHARD_MAP_BYTES } from '../limits.js';
import { SYSTEM_KEY_ID, type StoredEntry } from '../ops.js';
import type { MemberProfile, MemberRecord, OrderRecord, OutboxMessage } from '../rules/member-state.js';
import { KeyIdInterner } from './key-ids.js';
import { decodeEntry, decodeState, encodeState, writeEntry, Writer } from './codec.js';
import { decodeOrder, encodeOrder, isBinaryOrder, readOrderHead, type OrderHead } from './order-codec.js';
import type { HotState } from '../rules/member-state.js';
import type { CouponRecord } from '../rules/coupons.js';
import type { CardRecord, RedemptionRecord } from '../rules/rewards.js';

export interface StoredKey { fp: number; res: Record<string, unknown> }

export interface ShardStore {
  root: RootDatabase;
  /** Profiles (msgpack): written on registration and profile changes only. */
  members: Database<MemberProfile, string>;
  /** Hot member state (engine/shard/codec.ts binary): read and written by every batch. */
  states: Database<Buffer, string>;
  /** Ledger entries (binary), one value per batch keyed by batch number: a batch is one append. */
  ledger: Database<Buffer, number>;
  /** Idempotency keys of non-purchase writes; a purchase's key is its order record. */
  keys: Database<StoredKey, string>;
  /**
   * Order records by orderId, as bytes: engine/shard/order-codec.ts's binary form, or a msgpack
   * record written before it. Read and written through getOrder, getOrderHead, hasOrder and putOrder.
   */
  orders: Database<Buffer, string>;
  /** The same database read as msgpack, for the orders written before the binary form (with their shared structures). */
  legacyOrders: Database<OrderRecord, string>;
  /** Cross-shard credits written with the batch that caused them, removed once delivered. */
  outbox: Database<OutboxMessage, number>;
  /** The sweep's index: [next event time, memberId] for every member with a time-driven event. */
  due: Database<string, [number, string]>;
  /** Referral points a member earned per level: key `<memberId>|<level>`. */
  refstats: Database<number, string>;
  /** The member search index (engine/shard/search-index.ts): binary keys, empty values. */
  search: Database<Buffer, Buffer>;
  meta: Database<unknown, string>;
  /** Issued coupons by code (engine/rules/coupons.ts CouponRecord): only codes that land on this shard. */
  coupons: Database<CouponRecord, string>;
  /** A member's coupons: key [memberId, code], value the template id (perMemberMax counts these). */
  memberCoupons: Database<string, [string, string]>;
  /** Active coupons by expiry: key [expiresAtMs, code]; the sweep expires them (batch-sweep.ts). */
  couponDue: Database<string, [number, string]>;
  /** The batch log (engine/shard/batch-log.ts): every committed batch, keyed by its log sequence. */
  log: Database<Buffer, number>;
  /** Reward redemptions of this shard's members, by redemption id (engine/shard/batch-rewards.ts). */
  redemptions: Database<RedemptionRecord, string>;
  /** A member's redemptions: key [memberId, redemptionId], value the reward id (perMemberMax counts these). */
  memberRedemptions: Database<string, [string, string]>;
  /** Count cards: key [memberId, serviceId] (engine/shard/batch-cards.ts). */
  cards: Database<CardRecord, [string, string]>;
  /** Active cards by expiry: key [expiresAtMs, memberId, serviceId]; the sweep expires them. */
  cardDue: Database<string, [number, string, string]>;
  /** Every card use, by [atMs, entry seq]: who used what where, for the staff report. */
  cardUses: Database<CardUseRecord, [number, number]>;
  /**
   * Told of every member state written, as its bytes: the shard's machine (machine.ts) folds them
   * into the batch's checksum. Unset, nothing is told.
   */
  onStateWrite?: (memberId: string, bytes: Uint8Array) => void;
}

/** One card use as the staff report reads it. */
export interface CardUseRecord { memberId: string; serviceId: string; uses: number; storeId: string | null; staffId: string | null }

/** The named databases of a shard, in the order the replay check compares them. */
export const SHARD_DATABASES = [
  'members', 'states', 'ledger', 'keys', 'orders', 'outbox', 'due', 'refstats', 'search', 'meta', 'log', 'coupons', 'memberCoupons', 'couponDue',
  'redemptions', 'memberRedemptions', 'cards', 'cardDue', 'cardUses',
] as const;
export type ShardDatabaseName = typeof SHARD_DATABASES[number];

export interface ShardStoreOptions {
  mapBytes?: number;
  /**
   * Opens an existing shard for reading only: the replay check on a live folder, and the reader
   * thread (engine/shard/reader.ts). Nothing is created or written. lmdb-js shares one LMDB
   * environment per data file within a process (its env.cpp finds the environment already open by
   * device and inode and reuses it), so LMDB's rule that one process opens an environment once
   * holds, and the environment keeps the flags of the shard's worker, which opened it first. What
   * readOnly changes is this handle: it gets no write methods, and it opens each database inside a
   * read transaction, which finds the worker's database handles rather than creating any.
   */
  readOnly?: boolean;
  /**
   * Commits without fdatasync (LMDB's MDB_NOSYNC): for scratch folders (a replay check) whose
   * content is thrown away if the machine stops, and a restore that keeps its result syncs once at
   * the end instead; and for the live shard under LOYALTY_COMMIT=pipelined, whose worker syncs the
   * data file itself and answers nothing before that sync (engine/shard/group-sync.ts).
   */
  noSync?: boolean;
  /**
   * Commits that fdatasync their pages but write the meta page that makes them current without a
   * flush (LMDB's MDB_NOMETASYNC): for the live shard under LOYALTY_COMMIT=nometasync, whose worker
   * answers a commit only after a later sync of the data file has carried its meta page to disk.
   */
  noMetaSync?: boolean;
}

/** Opens a shard: `openShardStore(path)`, `(path, mapBytes, options)` or `(path, options)`. */
export function openShardStore(path: string, mapBytesOrOptions: number | ShardStoreOptions = {}, more: ShardStoreOptions = {}): ShardStore {
  const options: ShardStoreOptions = typeof mapBytesOrOptions === 'number' ? { ...more, mapBytes: mapBytesOrOptions } : { ...more, ...mapBytesOrOptions };
  const mapBytes = options.mapBytes ?? SHARD_MAP_BYTES;
  const readOnly = options.readOnly === true;
  if (readOnly && !existsSync(join(path, 'data.mdb'))) throw new Error(`no shard data at ${path}`);
  if (!readOnly) mkdirSync(path, { recursive: true, mode: DATA_FOLDER_MODE });
  const root = open({
    path,
    readOnly,
    mapSize: mapBytes,
    maxReaders: LMDB_READERS_MAX,
    // Room for the 19 databases below and those to come: a named database costs a slot, nothing on disk.
    maxDbs: 32,
    // Durability: with overlappingSync off, a transactionSync commit returns only after its
    // fdatasync (or, with noSync, without one). lmdb-js 3.5's `flushed` promise does not track sync
    // transactions (its lastSyncTxnFlush is never assigned), so with overlappingSync on, nothing
    // could be awaited; and its patched LMDB still syncs inside mdb_txn_commit on the committing
    // thread, just outside the write lock, while lmdb-js refuses noSync beside it.
    overlappingSync: false,
    noSync: options.noSync === true,
    noMetaSync: options.noMetaSync === true,
    // LMDB zeroes the unused part of each page it allocates. With MDB_NOMEMINIT it would write
    // whatever the process's heap held there (freed page images, values of other writes) into the
    // file: an erased name could reach data.mdb, and a compacted copy, through that gap.
    noMemInit: false,
    compression: false,
    cache: false,
    encoding: 'msgpack',
    // data.mdb and lock.mdb: owner only. lmdb-js 3.5.6 reads `permissionsMode` (src/env.cpp) and
    // passes it to mdb_env_open (its default is 0664), but its typings do not declare it.
    ...{ permissionsMode: DATA_FILE_MODE },
  });
  // A read-only environment cannot create a database: lmdb-js answers undefined for a missing one.
  const present = <D>(name: string, db: D | undefined): D => {
    if (db === undefined) throw new Error(`the shard at ${path} has no ${name} database`);
    return db;
  };
  const sub = <V, K extends import('lmdb').Key>(name: string) =>
    present(name, root.openDB<V, K>({ name, encoding: 'msgpack', sharedStructuresKey: Symbol.for('structures'), cache: false, compression: false }));
  return {
    root,
    members: sub<MemberProfile, string>('members'),
    states: present('states', root.openDB<Buffer, string>({ name: 'states', encoding: 'binary', cache: false, compression: false })),
    ledger: present('ledger', root.openDB<Buffer, number>({ name: 'ledger', encoding: 'binary', cache: false, compression: false })),
    keys: sub<StoredKey, string>('keys'),
    orders: present('orders', root.openDB<Buffer, string>({ name: 'orders', encoding: 'binary', cache: false, compression: false })),
    legacyOrders: sub<OrderRecord, string>('orders'),
    outbox: present('outbox', root.openDB<OutboxMessage, number>({ name: 'outbox', encoding: 'msgpack', cache: false })),
    refstats: present('refstats', root.openDB<number, string>({ name: 'refstats', encoding: 'msgpack', cache: false })),
    search: present('search', root.openDB<Buffer, Buffer>({ name: 'search', keyEncoding: 'binary', encoding: 'binary', cache: false, compression: false })),
    due: present('due', root.openDB<string, [number, string]>({ name: 'due', encoding: 'string', cache: false })),
    meta: present('meta', root.openDB<unknown, string>({ name: 'meta', encoding: 'msgpack', cache: false })),
    log: present('log', root.openDB<Buffer, number>({ name: 'log', encoding: 'binary', cache: false, compression: false })),
    coupons: present('coupons', root.openDB<CouponRecord, string>({ name: 'coupons', encoding: 'msgpack', cache: false, compression: false })),
    memberCoupons: present('memberCoupons', root.openDB<string, [string, string]>({ name: 'memberCoupons', encoding: 'string', cache: false })),
    couponDue: present('couponDue', root.openDB<string, [number, string]>({ name: 'couponDue', encoding: 'string', cache: false })),
    redemptions: present('redemptions', root.openDB<RedemptionRecord, string>({ name: 'redemptions', encoding: 'msgpack', cache: false, compression: false })),
    memberRedemptions: present('memberRedemptions', root.openDB<string, [string, string]>({ name: 'memberRedemptions', encoding: 'string', cache: false })),
    cards: present('cards', root.openDB<CardRecord, [string, string]>({ name: 'cards', encoding: 'msgpack', cache: false, compression: false })),
    cardDue: present('cardDue', root.openDB<string, [number, string, string]>({ name: 'cardDue', encoding: 'string', cache: false })),
    cardUses: present('cardUses', root.openDB<CardUseRecord, [number, number]>({ name: 'cardUses', encoding: 'msgpack', cache: false, compression: false })),
  };
}

export function getState(store: ShardStore, memberId: string): HotState | undefined {
  const buf = store.states.getBinaryFast(memberId);
  return buf === undefined ? undefined : decodeState(buf);
}

export function putState(store: ShardStore, memberId: string, state: HotState): void {
  const bytes = encodeState(state);
  store.states.putSync(memberId, bytes);
  store.onStateWrite?.(memberId, bytes);
}

/**
 * Entry seqs are `batchNo * SEQS_PER_BATCH + index`: increasing, safe integers, and the batch's
 * entries are one LMDB value, so appending a batch costs one put however many entries it has.
 */
export const SEQS_PER_BATCH = 2 ** 20;

/** Gathers one batch's entries in one buffer and appends them as one value. */
export class LedgerAppender {
  private readonly offsets: number[] = [];
  private readonly w = new Writer(64 * 1024);
  readonly batchNo: number;
  /**
   * The API key id of the op whose entries are being appended (SYSTEM_KEY_ID for the sweep and
   * settling, the default), recorded on each; undefined for an op logged before key ids were.
   */
  by: string | undefined = SYSTEM_KEY_ID;
  private readonly keyIds: KeyIdInterner;

  constructor(private readonly store: ShardStore) {
    this.batchNo = ((store.meta.get('batch') as number | undefined) ?? 0) + 1;
    this.keyIds = new KeyIdInterner(store);
  }

  append(e: StoredEntry): number {
    if (this.offsets.length >= SEQS_PER_BATCH) throw new Error('too many entries in one batch');
    this.offsets.push(this.w.pos);
    writeEntry(this.w, e, this.by === undefined ? -1 : this.keyIds.indexOf(this.by));
    return this.batchNo * SEQS_PER_BATCH + this.offsets.length - 1;
  }

  /** Writes the batch's entries (inside the caller's transaction). Layout: u32 count, u32 offsets, entries. */
  finish(): void {
    const n = this.offsets.length;
    if (n === 0) return;
    const header = 4 * (n + 2);
    const blob = Buffer.allocUnsafe(header + this.w.pos);
    blob.writeUInt32LE(n, 0);
    for (let i = 0; i < n; i++) blob.writeUInt32LE(header + this.offsets[i]!, 4 * (i + 1));
    blob.writeUInt32LE(header + this.w.pos, 4 * (n + 1));
    this.w.buf.copy(blob, header, 0, this.w.pos);
    this.store.ledger.putSync(this.batchNo, blob, { append: true });
    this.keyIds.save();
    this.store.meta.putSync('batch', this.batchNo);
  }
}

function entryIn(blob: Uint8Array, index: number): StoredEntry | undefined {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (index >= view.getUint32(0, true)) return undefined;
  const start = view.getUint32(4 * (index + 1), true);
  const end = view.getUint32(4 * (index + 2), true);
  return decodeEntry(blob.subarray(start, end));
}

export function getEntry(store: ShardStore, seq: number): StoredEntry | undefined {
  const blob = store.ledger.getBinaryFast(Math.floor(seq / SEQS_PER_BATCH));
  return blob === undefined ? undefined : entryIn(blob, seq % SEQS_PER_BATCH);
}

/** Every entry in seq order, from batch `fromBatch` on. */
export function* allEntries(store: ShardStore, fromBatch = 0): Generator<[number, StoredEntry]> {
  for (const { key, value } of store.ledger.getRange({ start: fromBatch })) {
    const n = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0, true);
    for (let i = 0; i < n; i++) yield [key * SEQS_PER_BATCH + i, entryIn(value, i)!];
  }
}

/** Orders read from msgpack records (written before the binary form): putOrder writes them back as they were. */
const legacyOrdersRead = new WeakSet<OrderRecord>();

type ReadOptions = { transaction?: import('lmdb').Transaction };

/** lmdb-js's getBinaryFast takes read options (a transaction) at run time; its typings leave them out. */
const bytesOf = (db: Database<Buffer, string>, key: string, options?: ReadOptions): Buffer | undefined =>
  (db.getBinaryFast as (id: string, options?: ReadOptions) => Buffer | undefined).call(db, key, options);

/** An order record, or undefined. */
export function getOrder(store: ShardStore, orderId: string, options?: ReadOptions): OrderRecord | undefined {
  const bytes = bytesOf(store.orders, orderId, options);
  if (bytes === undefined) return undefined;
  if (isBinaryOrder(bytes)) return decodeOrder(bytes);
  const legacy = store.legacyOrders.get(orderId, options);
  if (legacy === undefined) throw new Error(`order ${orderId} vanished between two reads`);
  legacyOrdersRead.add(legacy);
  return legacy;
}

/** The head of an order record (its fingerprint, ids and the report's figures), without decoding the rest. */
export function getOrderHead(store: ShardStore, orderId: string, options?: ReadOptions): OrderHead | undefined {
  const bytes = bytesOf(store.orders, orderId, options);
  if (bytes === undefined) return undefined;
  if (isBinaryOrder(bytes)) return readOrderHead(bytes);
  const o = getOrder(store, orderId, options)!;
  return { fp: o.fp, orderId: o.orderId, memberId: o.memberId, netCents: o.netCents, earnedPoints: o.earnedPoints, redeemPoints: o.redeemPoints };
}

/** Whether an order record exists, without decoding it. */
export function hasOrder(store: ShardStore, orderId: string): boolean {
  return store.orders.getBinaryFast(orderId) !== undefined;
}

/**
 * Writes an order record (inside the caller's transaction) in the binary form, unless it was read
 * as a msgpack record: that stays one, so that an older record keeps exactly the fields it has.
 */
export function putOrder(store: ShardStore, order: OrderRecord): void {
  if (legacyOrdersRead.has(order)) store.legacyOrders.putSync(order.orderId, order);
  else store.orders.putSync(order.orderId, encodeOrder(order));
}

/** A whole member (profile and state), or undefined. */
export function getMember(store: ShardStore, memberId: string): MemberRecord | undefined {
  const state = getState(store, memberId);
  if (state === undefined) return undefined;
  const profile = store.members.get(memberId);
  if (profile === undefined) throw new Error(`member ${memberId} has a state but no profile`);
  return { ...profile, ...state };
}
