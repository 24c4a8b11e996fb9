// Reads an engine node's data folder from the test, beside the node or after it stopped: where each
// shard copy's log stands. LMDB takes readers from other processes, so a running node's copy can be
// read without stopping it.
import { join } from 'node:path';
import { openShardStore } from '../../engine/shard/store.js';
import { logPosition } from '../../engine/shard/batch-log.js';

/** The LMDB map size a test opens a copy with: far more than any test's copy grows to. */
const COPY_MAP_BYTES = 256 * 1024 * 1024;

/** Each shard copy's log position in the data folder `dataDir` (`shard-0` … `shard-(shards-1)`), shard 0 first. */
export function copyEnds(dataDir: string, shards: number): number[] {
  return Array.from({ length: shards }, (_, shard) => {
    const store = openShardStore(join(dataDir, `shard-${shard}`), COPY_MAP_BYTES);
    try { return logPosition(store).seq; } finally { void store.root.close(); }
  });
}
