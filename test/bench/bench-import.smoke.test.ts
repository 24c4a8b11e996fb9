// Smoke test of bench/import: the quick run imports every generated row through the engine, prints
// a positive rows/s figure and a clean verify, so that the benchmark cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 50_000;

describe('bench/import (quick)', () => {
  it('imports 5,000 generated rows end to end and prints rows/s', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/import.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout).toMatch(/^\| imported \| 5,000 \|$/m);
    expect(stdout).toMatch(/^\| failed \| 0 \|$/m);
    expect(stdout).toMatch(/^\| verify \| ok \(5,000 members\) \|$/m);
    const rate = /^\| rows\/s \| ([\d,]+) \|$/m.exec(stdout);
    expect(rate, stdout).not.toBeNull();
    expect(Number(rate![1]!.replace(/,/g, ''))).toBeGreaterThan(0);
    // The baseline of the same run: csv-parse alone over the same rows, and the ratio to it.
    expect(stdout).toMatch(/^\| baseline: csv-parse alone, rows\/s \| [\d,]+ \|$/m);
    expect(stdout).toMatch(/^\| import ÷ csv-parse alone \| \d+\.\d{3} \|$/m);
  }, BENCH_TIMEOUT_MS + 10_000);
});
