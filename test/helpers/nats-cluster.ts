// The tests' side of the loopback NATS cluster (bench/nats-cluster.ts, shared with the benchmarks):
// whether a suite that needs nats-server runs or skips.
import { natsServerBin } from '../../bench/nats-cluster.js';

export { NatsCluster, natsServerBin, type NatsNode } from '../../bench/nats-cluster.js';

/**
 * Whether the NATS suites skip: only when no server is installed and CI is unset. In CI
 * (.ci/run installs it) a missing server must fail the suite, never skip it.
 */
export function skipWithoutNats(): boolean {
  if (natsServerBin() !== null) return false;
  if (process.env['CI'] !== undefined && process.env['CI'] !== '') {
    throw new Error('nats-server is not installed, and CI is set: .ci/run installs it with apt (Debian package nats-server)');
  }
  return true;
}
