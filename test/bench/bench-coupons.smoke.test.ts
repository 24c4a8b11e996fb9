// Smoke test of bench/coupons: the quick run issues coupons in bulk, runs a plain and a coupon turn
// over the stream on one server, prints both rates and their ratio, and ends with a clean verify and
// the summary agreeing with the coupons acknowledged, so that the benchmark cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 90_000;

describe('bench/coupons (quick)', () => {
  it('measures purchases with one coupon each against plain ones in the same run', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/coupons.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout).toMatch(/^bulk issue: 2,000 coupons in /m);
    expect(stdout).toMatch(/^\| plain purchases\/s \(mean of 1\) \| [\d,]+ \|$/m);
    expect(stdout).toMatch(/^\| purchases with one coupon\/s \(mean of 1\) \| [\d,]+ \|$/m);
    const ratio = /^\| coupon ÷ plain \| (\d+\.\d{3}) \|$/m.exec(stdout);
    expect(ratio, stdout).not.toBeNull();
    expect(Number(ratio![1])).toBeGreaterThan(0);
    expect(stdout).toMatch(/^\| verify \| ok \|$/m);
    expect(stdout).not.toMatch(/PROBLEM/);
  }, BENCH_TIMEOUT_MS + 10_000);
});
