// The raw LMDB write baseline: what lmdb-js alone reaches on this disk with the engine's durability
// (1,000 puts per transaction, overlappingSync, waiting for `flushed`), the ceiling the ledger is
// compared against.
import { open, type RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Puts per transaction: the batch size the DESIGN's group commit aims for. */
export const BASELINE_PUTS_PER_TXN = 1_000;
/** Address space only; the file grows as written. 8 GiB holds minutes of puts at the ceiling rate. */
const BASELINE_MAP_BYTES = 8 * 1024 ** 3;
const BASELINE_READERS_MAX = 16;
/** A plausible ledger entry's timestamp; a constant keeps every value the same size. */
const ENTRY_AT_MS = 1_767_225_600_000;
const MS_PER_S = 1000;

export interface LmdbBaseline {
  /** Bytes of one msgpack value (about 60, the size of a compact ledger entry). */
  readonly valueBytes: number;
  /** One transaction of BASELINE_PUTS_PER_TXN puts under increasing keys, resolved once flushed to disk. */
  putBatch(): Promise<void>;
  /** Closes the environment and deletes its temporary folder. */
  close(): Promise<void>;
}

/** Opens a fresh environment in a temporary folder with every option spelled out (DESIGN rule 6). */
export function openLmdbBaseline(): LmdbBaseline {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-lmdb-bench-'));
  const root: RootDatabase<Buffer, number> = open<Buffer, number>({
    path: dir,
    mapSize: BASELINE_MAP_BYTES,
    maxReaders: BASELINE_READERS_MAX,
    overlappingSync: true,
    noSync: false,
    noMemInit: true,
    compression: false,
    cache: false,
    encoding: 'binary',
  });
  const packr = new Packr({ useRecords: false });
  let nextKey = 0;
  const entry = (seq: number): Buffer => packr.pack({ memberId: 'm0001234', seq, points: 30, cents: 60_000, atMs: ENTRY_AT_MS });
  return {
    valueBytes: entry(1_000_000).byteLength,
    async putBatch(): Promise<void> {
      root.transactionSync(() => {
        for (let i = 0; i < BASELINE_PUTS_PER_TXN; i++) {
          const key = nextKey++;
          root.putSync(key, entry(key));
        }
      });
      await root.flushed;
    },
    async close(): Promise<void> {
      await root.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs put batches back to back for durationMs (at least one batch) and returns the put rate. */
export async function measureLmdbPutsPerS(durationMs: number): Promise<number> {
  if (!(durationMs > 0)) throw new RangeError(`lmdb baseline: durationMs must be positive, got ${durationMs}`);
  const baseline = openLmdbBaseline();
  try {
    await baseline.putBatch(); // opens the file and warms the code paths outside the measurement
    let puts = 0;
    const startMs = performance.now();
    let elapsedMs = 0;
    do {
      await baseline.putBatch();
      puts += BASELINE_PUTS_PER_TXN;
      elapsedMs = performance.now() - startMs;
    } while (elapsedMs < durationMs);
    return (puts * MS_PER_S) / elapsedMs;
  } finally {
    await baseline.close();
  }
}
