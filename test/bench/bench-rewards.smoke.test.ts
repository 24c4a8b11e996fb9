// Smoke test of bench/rewards: the quick run registers members with points, runs a plain and a
// redemption turn over the stream on one server against one shared stock, prints both rates and
// their ratio, and ends with the stock used up exactly, the summary agreeing and a clean verify, so
// that the benchmark cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 90_000;

describe('bench/rewards (quick)', () => {
  it('measures redemptions of one shared stock against plain purchases in the same run', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/rewards.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout).toMatch(/^\| plain purchases\/s \(mean of 1\) \| [\d,]+ \|$/m);
    expect(stdout).toMatch(/^\| reward redemptions\/s \(one shared stock\) \(mean of 1\) \| [\d,]+ \|$/m);
    const ratio = /^\| redemptions ÷ plain \| (\d+\.\d{3}) \|$/m.exec(stdout);
    expect(ratio, stdout).not.toBeNull();
    expect(Number(ratio![1])).toBeGreaterThan(0);
    expect(stdout).toMatch(/^\| units redeemed of the stock \| 2,000 of 2,000 \(0 left\) \|$/m);
    expect(stdout).toMatch(/^\| verify \| ok \|$/m);
    expect(stdout).not.toMatch(/PROBLEM/);
  }, BENCH_TIMEOUT_MS + 10_000);
});
