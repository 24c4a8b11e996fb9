// Smoke test of bench/webhooks: the quick run alternates purchases with no subscription and with a
// subscription whose receiver hangs, then with one that answers, on one server, prints the rates and
// their ratios, and ends without problems, so that the benchmark cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 90_000;

describe('bench/webhooks (quick)', () => {
  it('measures purchases with a hanging receiver and with an answering one against none, in the same run', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/webhooks.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout).toMatch(/^\| purchases\/s, a receiver that hangs \(mean of 1\) \| [\d,]+ \|$/m);
    for (const label of ['hanging ÷ none', 'answering ÷ none']) {
      const ratio = new RegExp(`^\\| ${label} \\| (\\d+\\.\\d{3}) \\|$`, 'm').exec(stdout);
      expect(ratio, stdout).not.toBeNull();
      expect(Number(ratio![1])).toBeGreaterThan(0);
    }
    expect(stdout).toMatch(/^\| events the answering receiver got during its turns \| [\d,]+ of 2,000 purchases \|$/m);
    expect(stdout).toMatch(/^\| delivery with no load, one receiver answering at once \(events\/s, 2 lanes\) \| [\d,]+ \|$/m);
    expect(stdout).not.toMatch(/PROBLEM/);
  }, BENCH_TIMEOUT_MS + 10_000);
});
