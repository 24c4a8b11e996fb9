// Smoke test of bench/compaction: the quick run compacts a shard with erased members, prints the
// compaction's time and the purchases' wait across it beside their wait without it, and both
// backup copies, so that the benchmark cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 50_000;

describe('bench/compaction (quick)', () => {
  it('compacts 4,000 members with 10 erased and prints the times in ms', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/compaction.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout).toMatch(/^round 1: backup copy plain +: [\d.,]+ ms, [\d.]+ MB$/m);
    expect(stdout).toMatch(/^round 1: backup copy compacting: [\d.,]+ ms, [\d.]+ MB$/m);
    expect(stdout).toMatch(/^round 1: compaction [\d.,]+ ms \(copy [\d.,]+ ms, swap [\d.,]+ ms\), data file [\d.]+ → [\d.]+ MB$/m);
    expect(stdout).toMatch(/^round 1: purchases without: [\d,]+, p50 [\d.]+ ms, max [\d.]+ ms; across the compaction: \d+, max wait [\d.,]+ ms \([\d.]+× the compaction's wall time\)$/m);
  }, BENCH_TIMEOUT_MS + 10_000);
});
