// Smoke test of bench/write-ahead: the quick run replays a real shard's purchase batch on 20,000
// members today's way (A), without state reads (C) and write-ahead with checkpoints every 1, 10 and
// 100 batches (B1, B10, B100), and prints each one's figures and its ratios to A, so that the
// benchmark cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 60_000;

/** A printed figure: digits with thousands separators and a decimal point. */
const num = (text: string): number => Number(text.replace(/,/g, ''));

describe('bench/write-ahead (quick)', () => {
  it('prints the shape it replays, and per variant finite positive figures and ratios to A', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/write-ahead.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^machine: /);
    // The calibrating shard's batch reads and puts a state per member, and puts an order per purchase.
    expect(stdout).toMatch(/^a real shard's batch of 500 purchases: .*orders 500 reads \(500 misses\), 500 puts of [\d,]+ B; states (\d+) reads \(0 misses\), \1 puts of [\d,]+ B;/m);
    expect(stdout).toMatch(/^replayed per purchase: state \d+ B \(read, put\), order \d+ B \(read: a miss; put\); per batch: ledger [\d,]+ B, batch log [\d,]+ B \([\d.]+ B\/purchase\), \d+ meta puts$/m);

    const figure = /^20,000 members (A|C|B1|B10|B100) *: ([\d.,]+) µs CPU\/purchase, ([\d,]+) purchases\/s, ([\d.,]+) pages written\/batch \(storage ([\d.,]+)\), data file \+[\d.,]+ MB over 100 batches(.*)$/gm;
    const rows = [...stdout.matchAll(figure)];
    expect(rows.map((r) => r[1])).toEqual(['A', 'C', 'B1', 'B10', 'B100']);
    for (const r of rows) {
      for (const value of [r[2]!, r[3]!, r[4]!, r[5]!]) {
        expect(Number.isFinite(num(value))).toBe(true);
        expect(num(value)).toBeGreaterThan(0);
      }
      if (r[1] === 'A') continue;
      const ratios = /; (\w+)\/A: CPU ([\d.]+), rate ([\d.]+), writes ([\d.]+)$/.exec(r[6]!);
      expect(ratios?.[1]).toBe(r[1]);
      for (const ratio of ratios!.slice(2)) {
        expect(Number.isFinite(Number(ratio))).toBe(true);
        expect(Number(ratio)).toBeGreaterThan(0);
      }
      if (r[1]!.startsWith('B')) {
        expect(r[6]).toMatch(/^; of which checkpoint [\d.]+ µs CPU\/purchase and [\d.]+ ms wall\/batch, durable path alone [\d.]+ µs CPU\/purchase;/);
      }
    }
    // C puts what A puts: the same pages; a checkpoint every 100 batches writes fewer than one per batch.
    const pages = new Map(rows.map((r) => [r[1], num(r[4]!)]));
    expect(pages.get('C')).toBe(pages.get('A'));
    expect(pages.get('B100')!).toBeLessThan(pages.get('B1')!);
  }, BENCH_TIMEOUT_MS + 10_000);
});
