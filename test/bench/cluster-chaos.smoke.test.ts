// Smoke test of bench/cluster-chaos: the quick run starts three nats-server processes and three
// engine nodes, kills the owner three times and a NATS server once, adds a fourth node, drains the
// owner and undrains it later, all under
// POS stream and HTTP load sent to any node, and must print every check passed: each op answered,
// nothing acknowledged lost or applied twice, money conserved, verify clean on all four nodes, the
// four replicas identical. It skips only when nats-server is missing and CI is unset.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { skipWithoutNats } from '../helpers/nats-cluster.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const CHAOS_TIMEOUT_MS = 170_000;

describe.skipIf(skipWithoutNats())('cluster:chaos (quick)', () => {
  it('loses nothing acknowledged and applies nothing twice through three owner kills, a NATS server kill, a node added and the owner drained', async () => {
    const result = await run(process.execPath, [join(ROOT, 'dist/bench/cluster-chaos.js'), '--quick'], { cwd: ROOT, timeout: CHAOS_TIMEOUT_MS, killSignal: 'SIGTERM' })
      .catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? String(err) }));
    const { stdout } = result;
    expect(stdout.split('\n')[0]).toMatch(/^machine: /);
    expect(stdout, stdout + result.stderr).toMatch(/^chaos: all \d+ checks passed$/m);
    expect(stdout).not.toMatch(/^\| FAIL \|/m);
    for (const node of ['node-1', 'node-2', 'node-3', 'node-4']) expect(stdout).toMatch(new RegExp(`^\\| pass \\| verify clean on ${node} \\| exit 0, 48 members, 0 mismatches \\|$`, 'm'));
    expect(stdout.match(/^\| pass \| replica books identical: /gm)).toHaveLength(3);
    expect(stdout).toMatch(/^\| pass \| nothing acknowledged lost: every op answered ok is in the books under its key \| [\d,]+ acknowledged; missing: 0 ledger keys, 0 orders, 0 returns \|$/m);
    expect(stdout.match(/^chaos: \d+\.\d s: owner kill \d: node-\d killed with SIGKILL, node-\d owns [\d,]+ ms later$/gm)).toHaveLength(3);
    expect(stdout).toMatch(/^chaos: \d+\.\d s: node-4 added, stands by$/m);
    expect(stdout).toMatch(/^chaos: \d+\.\d s: drain: node-\d drained \(answered in [\d,]+ ms\), node-\d owns [\d,]+ ms after the drain was asked for$/m);
    expect(stdout).toMatch(/^chaos: \d+\.\d s: drain: node-\d undrained, stands by$/m);
    expect(stdout).toMatch(/^\| pass \| the owner drained: hands over under 10,000 ms, the drained node stays up, reports drained and does not own until undrained \| /m);
    expect(stdout).toMatch(/^chaos: \d+\.\d s: nats server n2 restarted, cluster ready [\d,]+ ms after the kill$/m);
    expect(stdout).toMatch(/^failover \(SIGKILL of the owner to the first answer from the new owner\): [\d,]+ ms \(node-\d\), [\d,]+ ms \(node-\d\), [\d,]+ ms \(node-\d\)$/m);
    expect(stdout).toMatch(/^load: [\d,]+ ops in \d+\.\d s \([\d,]+ ops\/s through the chaos\)/m);
  }, CHAOS_TIMEOUT_MS + 10_000);
});
