// Smoke test of bench/campaigns: the quick run streams the same purchases without campaigns and under
// three, on one server, prints both rates and their ratio, and ends with the summary's points, the
// campaign report and verify agreeing with the purchases acknowledged, so that the benchmark cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 90_000;

describe('bench/campaigns (quick)', () => {
  it('measures purchases under three campaigns against none in the same run', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/campaigns.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout).toMatch(/^\| purchases\/s without campaigns \(mean of 1\) \| [\d,]+ \|$/m);
    expect(stdout).toMatch(/^\| purchases\/s under three campaigns \(mean of 1\) \| [\d,]+ \|$/m);
    const ratio = /^\| three campaigns ÷ none \| (\d+\.\d{3}) \|$/m.exec(stdout);
    expect(ratio, stdout).not.toBeNull();
    expect(Number(ratio![1])).toBeGreaterThan(0);
    expect(stdout).toMatch(/^campaign report over 8,000 orders: \d+ ms$/m);
    expect(stdout).toMatch(/^\| verify \| ok \|$/m);
    expect(stdout).not.toMatch(/PROBLEM/);
  }, BENCH_TIMEOUT_MS + 10_000);
});
