// This node's part in a cluster deployment (docs/cluster.md): it watches the owner record and,
// once it holds it, turns its standby engine into the writer and answers what other nodes forward
// to it; until then it forwards requests and stream batches to the owner (server/cluster-forward.ts),
// and refuses them with not_owner while no owner is known. An owner that finds another node's
// record where its own was stops the process at once: its copy may hold a commit the stream will
// never hold, and the next start, as a standby, rebuilds it from the stream.
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ClusterConfig } from '../engine/cluster/config.js';
import { OwnerElection } from '../engine/cluster/owner-election.js';
import { OwnerLease, type OwnerRecord } from '../engine/cluster/owner-lease.js';
import { CLUSTER_APPEND_ATTEMPT_MS } from '../engine/limits.js';
import { Forwarder, serveForwarded } from './cluster-forward.js';
import type { Api } from './routes.js';
import type { Lifecycle } from './http.js';
import type { Logger } from './log.js';

export interface ClusterNode {
  /** Whether this node owns the deployment and its engine writes. */
  readonly owning: boolean;
  /** Stops watching and renewing; after the engine closed, gives the record up so that a standby takes over at once. */
  stop(): void;
  release(): Promise<void>;
}

/** The address written in the owner record: LOYALTY_HTTP_ADDRESS, else this machine's name and the port listened on. */
export function advertisedAddress(configured: string | null, host: string, port: number): string {
  if (configured !== null) return configured;
  const named = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `http://${named.includes(':') ? `[${named}]` : named}:${port}`;
}

function standbyMessage(me: string, record: OwnerRecord): string {
  if (record.nodeId === '') return `this node (${me}) stands by: no node owns the deployment yet; one takes it over within seconds`;
  return `this node (${me}) stands by: node ${record.nodeId} owns the deployment (term ${record.term}) at ${record.httpAddress}; send requests there`;
}

/**
 * Joins the deployment: connects to NATS, opens the owner record and starts the election.
 * `becameOwner` runs once the engine took the shards over (the sweep and webhook deliveries start there).
 */
export async function joinCluster(cluster: ClusterConfig, httpAddress: string, api: Api, lifecycle: Lifecycle, log: Logger, becameOwner: () => void): Promise<ClusterNode> {
  const engine = api.engine;
  const nc: NatsConnection = await connect({
    servers: cluster.servers, name: `loyalty-${cluster.nodeId}-owner-record`, reconnect: true,
    maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: CLUSTER_APPEND_ATTEMPT_MS, noRandomize: false,
  });
  const stopNow = (msg: string, detail: Record<string, unknown>): never => {
    log.fatal(detail, msg);
    writeSync(2, `loyalty: ${msg}\n`);
    // At once, as a shard that lost its fence does: no batch in flight may be answered after this.
    process.kill(process.pid, 'SIGKILL');
    throw new Error(msg);
  };
  let owning = false;
  let lastTrouble = '';
  const forwarder = new Forwarder(nc, cluster.deployment, cluster.nodeId);
  lifecycle.forwarder = forwarder;
  let serving: { stop(): void } | null = null;
  const lease = await OwnerLease.open(nc, cluster.deployment);
  const election = new OwnerElection(lease, { nodeId: cluster.nodeId, httpAddress }, {
    standby: (record) => {
      lifecycle.notOwner = standbyMessage(cluster.nodeId, record);
      forwarder.owner = record.nodeId === '' || record.nodeId === cluster.nodeId ? null : record;
      log.info({ nodeId: cluster.nodeId, owner: record.nodeId, term: record.term, ownerAddress: record.httpAddress }, 'cluster: this node stands by');
    },
    won: (term) => {
      const startedMs = performance.now();
      lifecycle.notOwner = `this node (${cluster.nodeId}) is taking the deployment over (term ${term}); retry shortly`;
      forwarder.owner = null;
      log.info({ nodeId: cluster.nodeId, term }, 'cluster: this node holds the owner record; taking the shards over');
      engine.takeOver(term).then(() => {
        owning = true;
        // Other nodes forward to this node's id and term from the record's next read on; a node
        // that owned an earlier term listens on that term's subjects, which no one sends to any more.
        serving = serveForwarded(nc, cluster.deployment, { nodeId: cluster.nodeId, term, httpAddress }, api, lifecycle);
        lifecycle.notOwner = null;
        becameOwner();
        log.info({ nodeId: cluster.nodeId, term, takeOverMs: Math.round(performance.now() - startedMs) }, 'cluster: this node owns the deployment');
      }, (err: unknown) => stopNow('cluster: the takeover failed: stopping the process (restarted, it stands by again)', { err, term }));
    },
    lost: (record) => stopNow(
      `cluster: node ${record.nodeId} owns the deployment now (term ${record.term}): this node stops at once; restarted, it stands by and rebuilds its copy from the streams if it holds a commit they do not`,
      { nodeId: cluster.nodeId, owner: record.nodeId, term: record.term },
    ),
    trouble: (err) => {
      const message = err instanceof Error ? err.message : String(err);
      if (message === lastTrouble) return;
      lastTrouble = message;
      log.warn({ err }, 'cluster: the owner record could not be read or renewed; trying again');
    },
  });
  election.start();
  return {
    get owning() { return owning; },
    stop: () => election.stop(),
    async release() {
      serving?.stop();
      await election.release().catch((err: unknown) => log.warn({ err }, 'cluster: the owner record could not be given up; it expires by itself'));
      await nc.close();
    },
  };
}
