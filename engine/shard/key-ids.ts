// The shard's table of API key ids, so that a ledger entry records who caused it in a varint
// rather than the id's dozen bytes: index 0 is SYSTEM_KEY_ID, index n the n-th id the shard's
// ledger met, in the order its batches appended entries. Only the batch executor adds to the table,
// inside its transaction and in op order, so a replay or a what-if of the same ops builds the same one.
import { SYSTEM_KEY_ID } from '../ops.js';
import type { ShardStore } from './store.js';

/** The meta key of the table: the ids after SYSTEM_KEY_ID, in index order. */
const KEY_IDS_META = 'keyIds';

/** The key ids the shard's entries name, by index (index 0 is SYSTEM_KEY_ID). */
export function keyIdNames(store: ShardStore): string[] {
  return [SYSTEM_KEY_ID, ...((store.meta.get(KEY_IDS_META) as string[] | undefined) ?? [])];
}

/** The key id of an entry's index, or undefined for an entry without one. */
export function keyIdOf(names: readonly string[], index: number | undefined): string | undefined {
  if (index === undefined) return undefined;
  const name = names[index];
  if (name === undefined) throw new Error(`ledger entry names key index ${index}, the table holds ${names.length}`);
  return name;
}

/** One batch's view of the table: read when its first entry names a key, written back when it grew. */
export class KeyIdInterner {
  private names: string[] | null = null;
  private readonly index = new Map<string, number>();
  private grew = false;
  /** The last id asked for and its index: a terminal's batch names one key id for every entry. */
  private lastKeyId: string | null = null;
  private lastIndex = -1;

  constructor(private readonly store: ShardStore) {}

  /** The index of `keyId`, added to the table when new. */
  indexOf(keyId: string): number {
    if (keyId === this.lastKeyId) return this.lastIndex;
    const i = this.lookUp(keyId);
    this.lastKeyId = keyId;
    this.lastIndex = i;
    return i;
  }

  private lookUp(keyId: string): number {
    if (this.names === null) {
      this.names = keyIdNames(this.store);
      this.names.forEach((name, i) => this.index.set(name, i));
    }
    let i = this.index.get(keyId);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(keyId);
      this.index.set(keyId, i);
      this.grew = true;
    }
    return i;
  }

  /** Writes the table back (inside the caller's transaction) when this batch added to it. */
  save(): void {
    if (this.grew) this.store.meta.putSync(KEY_IDS_META, this.names!.slice(1));
    this.grew = false;
  }
}
