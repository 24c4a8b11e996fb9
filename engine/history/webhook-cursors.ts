// The webhook cursors of a restored folder: a backup copies each subscription's state a moment after
// its point, and a restore may also stop earlier than the backup (`--until`), so a cursor may stand
// past the restored ledger's end. The entries the restored folder writes next take the seqs after
// that end, which such a cursor would skip; each is moved back to its shard's restored end.
// (The state file is the delivery thread's, server/webhooks/store.ts: `{ cursors: [{ seq, part }], … }`.)
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_FILE_MODE } from '../limits.js';
import { answer } from '../shard/queries.js';
import type { ShardStore } from '../shard/store.js';

/** A cursor past every event of the entry at its seq (server/webhooks/dispatcher.ts). */
const WHOLE_ENTRY_PART = 9;
const STATE_FILE = /^wh_[0-9a-f]{1,64}\.state\.json$/;

/** Moves every cursor of the folder's webhook states that stands past its shard's ledger end back to it; answers how many moved. */
export function clampWebhookCursors(dataDir: string, stores: readonly ShardStore[]): number {
  const dir = join(dataDir, 'webhooks');
  if (!existsSync(dir)) return 0;
  const ends = stores.map((store) => answer(store, { q: 'ledgerEnd' }) as number);
  let moved = 0;
  for (const name of readdirSync(dir).filter((f) => STATE_FILE.test(f)).sort()) {
    const path = join(dir, name);
    const state = JSON.parse(readFileSync(path, 'utf8')) as { cursors: Array<{ seq: number; part: number }>; retrying?: unknown[] };
    let changed = false;
    state.cursors.forEach((cursor, shard) => {
      const end = ends[shard];
      if (end === undefined || cursor.seq <= end) return;
      state.cursors[shard] = { seq: end, part: WHOLE_ENTRY_PART };
      // The event it was retrying is of the discarded history.
      if (Array.isArray(state.retrying) && state.retrying.length > shard) state.retrying[shard] = null;
      changed = true;
      moved += 1;
    });
    if (!changed) continue;
    const fd = openSync(`${path}.tmp`, 'w', DATA_FILE_MODE);
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${path}.tmp`, path);
  }
  if (moved > 0) {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  }
  return moved;
}
