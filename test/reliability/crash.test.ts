// Crash safety end to end: the soak harness (bench/soak-harness.ts) at a small size. A real server
// on four shards takes purchases, returns, top-ups and cross-shard transfers from three terminals
// and is killed with SIGKILL three times mid-stream; terminals resend what was not acked. Money is
// conserved to the cent, points match the acked orders and returns, nothing applies twice, and
// verify is clean. `npm run soak` runs the same with 10 kills and more traffic. Every commit mode
// (LOYALTY_COMMIT): with pipelined and nometasync commits a kill lands between commits and their
// syncs too, and the page cache, which outlives the process, must still hold everything acked.
import { afterEach, describe, expect, it } from 'vitest';
import { runSoak, SOAK_DEFAULTS } from '../../bench/soak-harness.js';

const commitBefore = process.env['LOYALTY_COMMIT'];
afterEach(() => {
  if (commitBefore === undefined) delete process.env['LOYALTY_COMMIT'];
  else process.env['LOYALTY_COMMIT'] = commitBefore;
});

describe.each(['sync', 'pipelined', 'nometasync'])('SIGKILL mid-stream, restart, resend (LOYALTY_COMMIT=%s)', (commit) => {
  it('keeps the books exact across three kills', async () => {
    // The soak harness's server inherits this process's environment.
    process.env['LOYALTY_COMMIT'] = commit;
    const seed = Number(process.env['SOAK_SEED'] ?? Date.now() % 2 ** 31);
    const report = await runSoak({
      ...SOAK_DEFAULTS,
      shards: 4, terminals: 3, membersPerTerminal: 10, batchesPerTerminal: 50, batchOps: 20, windowBatches: 8,
      kills: 3, seed, settleTimeoutMs: 20_000, deadlineMs: 150_000,
    });
    // The seed is in the message so that a failure can be replayed with SOAK_SEED.
    expect(report.failures, `seed ${seed}`).toEqual([]);
    expect(report.kills).toBe(3);
    expect(report.purchases).toBeGreaterThan(0);
    expect(report.returns).toBeGreaterThan(0);
    expect(report.transfers).toBeGreaterThan(0);
    expect(report.walletCents).toBe(report.expectedWalletCents);
    expect(report.points).toBe(report.expectedPoints);
  }, 180_000);
});
