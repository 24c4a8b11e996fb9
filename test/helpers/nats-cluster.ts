// The tests' side of the loopback NATS cluster (bench/nats-cluster.ts, shared with the benchmarks):
// whether a suite that needs nats-server runs or skips, a suite's three servers and connection, and
// what its shard streams hold.
import { afterAll, beforeAll } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsCluster, natsServerBin } from '../../bench/nats-cluster.js';
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

/** What `useNatsCluster` gives a suite: read them inside its tests and hooks, once the cluster has started. */
export interface SuiteNats {
  readonly cluster: NatsCluster;
  readonly nc: NatsConnection;
}

/**
 * Starts three NATS servers and one connection named `connectionName` before the suite's tests
 * (vitest's beforeAll, so call it inside the describe), and closes the connection and stops the
 * servers after them. A suite's own hooks registered after this call run after the start and, as
 * vitest runs after-hooks in reverse, before the stop.
 */
export function useNatsCluster(connectionName: string): SuiteNats {
  let cluster: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    nc = await cluster.connect(connectionName);
  });
  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });
  return {
    get cluster() { if (cluster === undefined) throw new Error('the NATS cluster is read before it started'); return cluster; },
    get nc() { if (nc === undefined) throw new Error('the NATS connection is read before it opened'); return nc; },
  };
}
