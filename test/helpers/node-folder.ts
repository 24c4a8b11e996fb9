// Reads an engine node's data folder from the test, beside the node or after it stopped: where each
// shard copy's log stands, whether two nodes' copies are the same database by database, and what
// `loyalty verify` says of a stopped node's folder. LMDB takes readers from other processes, so a
// running node's copy can be read without stopping it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { openShardStore } from '../../engine/shard/store.js';
import { logPosition } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { ROOT } from './server-process.js';

/** The LMDB map size a test opens a copy with: far more than any test's copy grows to. */
const COPY_MAP_BYTES = 256 * 1024 * 1024;

/** Each shard copy's log position in the data folder `dataDir` (`shard-0` … `shard-(shards-1)`), shard 0 first. */
export function copyEnds(dataDir: string, shards: number): number[] {
  return Array.from({ length: shards }, (_, shard) => {
    const store = openShardStore(join(dataDir, `shard-${shard}`), COPY_MAP_BYTES);
    try { return logPosition(store).seq; } finally { void store.root.close(); }
  });
}

/** Expects each of `shards` shard copies in `copyDir` to be the one in `ownerDir`, database by database (`diffStores`, five differences listed). */
export async function expectSameCopies(ownerDir: string, copyDir: string, shards: number): Promise<void> {
  for (let shard = 0; shard < shards; shard++) {
    const owner = openShardStore(join(ownerDir, `shard-${shard}`), COPY_MAP_BYTES);
    const copy = openShardStore(join(copyDir, `shard-${shard}`), COPY_MAP_BYTES);
    try {
      expect(diffStores(owner, copy, { listedMax: 5 }).differences).toEqual([]);
    } finally {
      await owner.root.close();
      await copy.root.close();
    }
  }
}

/**
 * Runs the built `loyalty verify` on a stopped node's data folder of `shards` shards, expects it to
 * exit 0 (its stderr is the failure's message), and answers its report.
 */
export function verifyFolder(dataDir: string, shards: number): { ok: boolean; members: number } {
  const run = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), 'verify'], {
    env: { PATH: process.env['PATH'] ?? '', LOYALTY_DATA: dataDir, LOYALTY_SHARDS: String(shards) }, encoding: 'utf8', timeout: 60_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { ok: boolean; members: number };
}
