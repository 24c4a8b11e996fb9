// Smoke test of bench/cluster: the quick run starts three nats-server processes, runs a turn of
// the POS stream load against one node alone and one in cluster mode, prints both rates and their
// ratio, finds every entry of the cluster node's logs in the streams, prints the append's latency
// and the pipeline's rate against one append in flight, and ends with verify clean on both nodes,
// so that the benchmark cannot rot. It skips only when nats-server is missing and CI is unset.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { skipWithoutNats } from '../helpers/nats-cluster.js';
import { CLUSTER_APPENDS_IN_FLIGHT_MAX as IN_FLIGHT } from '../../engine/limits.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const BENCH_TIMEOUT_MS = 120_000;

describe.skipIf(skipWithoutNats())('bench/cluster (quick)', () => {
  it('measures one node in cluster mode against one alone in the same run', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench/cluster.js'), '--quick'], { cwd: ROOT, timeout: BENCH_TIMEOUT_MS, killSignal: 'SIGTERM' });
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout).toMatch(/^\| single node purchases\/s \(mean of 1\) \| [\d,]+ \|$/m);
    expect(stdout).toMatch(/^\| cluster mode purchases\/s \(mean of 1\) \| [\d,]+ \|$/m);
    const ratio = /^\| cluster ÷ single \| (\d+\.\d{3}) \|$/m.exec(stdout);
    expect(ratio, stdout).not.toBeNull();
    expect(Number(ratio![1])).toBeGreaterThan(0);
    expect(stdout).toMatch(/^\| verify, single node \| ok \|$/m);
    expect(stdout).toMatch(/^\| verify, cluster node \| ok \|$/m);
    const streams = /^streams: ([\d,]+) messages, .*; the cluster node's logs: ([\d,]+) entries$/m.exec(stdout);
    expect(streams, stdout).not.toBeNull();
    expect(streams![1]).toBe(streams![2]);
    expect(stdout).toMatch(/^append of a [\d,]+-byte log value, one in flight: p50 \d+\.\d\d ms, p99 \d+\.\d\d ms \(400 appends\)$/m);
    expect(stdout).toMatch(new RegExp(`^\\| appends/s, ${IN_FLIGHT} in flight \\(peak ${IN_FLIGHT}\\) \\| [\\d,]+ \\|$`, 'm'));
    expect(stdout).toMatch(new RegExp(`^\\| ${IN_FLIGHT} in flight ÷ one \\| \\d+\\.\\d{3} \\|$`, 'm'));
    expect(stdout).not.toMatch(/PROBLEM/);
  }, BENCH_TIMEOUT_MS + 10_000);
});
