// The tests' side of the loopback NATS cluster (bench/nats-cluster.ts, shared with the benchmarks):
// whether a suite that needs nats-server runs or skips, and what its shard streams hold.
import { jetstreamManager } from '@nats-io/jetstream';
import { natsServerBin, type NatsCluster } from '../../bench/nats-cluster.js';
import { shardStream } from '../../engine/cluster/shard-stream.js';

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

/**
 * Each shard stream's last sequence for `deployment`, shard 0 first, read over a connection of
 * its own named `connectionName` (closed before answering) so that a test's other connections
 * are not held up by these reads.
 */
export async function streamEnds(cluster: NatsCluster, deployment: string, shards: number, connectionName: string): Promise<number[]> {
  const nc = await cluster.connect(connectionName);
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    return await Promise.all(Array.from({ length: shards }, async (_, shard) => (await jsm.streams.info(shardStream(deployment, shard).name)).state.last_seq));
  } finally {
    await nc.close();
  }
}
