// The settings that switch cluster mode on, read from the environment: the NATS servers that hold
// the shards' streams, this node's id, and the deployment's name. Without LOYALTY_NATS the engine
// runs on one machine, as it always did.
import { CLUSTER_SERVERS_MAX } from '../limits.js';

export interface ClusterConfig {
  /** LOYALTY_NATS: the NATS servers' client URLs, comma-separated (`nats://10.0.0.1:4222,…`). */
  servers: string[];
  /** LOYALTY_NODE_ID: this engine node's id, unique in the deployment; it names every message it appends. */
  nodeId: string;
  /** LOYALTY_DEPLOYMENT: the deployment's name in stream names and subjects (default `main`), so that deployments can share NATS servers. */
  deployment: string;
}

const NATS_URL = /^(nats|tls):\/\/[A-Za-z0-9.\-[\]:]+:\d{1,5}$/;
const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Cluster mode's settings, or null for a single machine; a setting that is wrong stops the start with its name. */
export function clusterFromEnv(env: NodeJS.ProcessEnv): ClusterConfig | null {
  const raw = env['LOYALTY_NATS'] ?? '';
  if (raw === '') {
    if ((env['LOYALTY_NODE_ID'] ?? '') !== '') throw new Error('LOYALTY_NODE_ID is set but LOYALTY_NATS is not: cluster mode needs both');
    return null;
  }
  const servers = raw.split(',').map((s) => s.trim());
  if (servers.length > CLUSTER_SERVERS_MAX) throw new Error(`LOYALTY_NATS lists ${servers.length} servers, at most ${CLUSTER_SERVERS_MAX}`);
  for (const s of servers) if (!NATS_URL.test(s)) throw new Error(`LOYALTY_NATS must list nats://host:port URLs separated by commas, got ${JSON.stringify(s)}`);
  const nodeId = env['LOYALTY_NODE_ID'] ?? '';
  if (!NODE_ID.test(nodeId)) throw new Error(`LOYALTY_NODE_ID must be 1 to 64 letters, digits, _ or - in cluster mode, got ${JSON.stringify(nodeId)}`);
  const deployment = env['LOYALTY_DEPLOYMENT'] ?? 'main';
  if (!NAME.test(deployment)) throw new Error(`LOYALTY_DEPLOYMENT must be 1 to 32 letters, digits, _ or -, got ${JSON.stringify(deployment)}`);
  return { servers, nodeId, deployment };
}
