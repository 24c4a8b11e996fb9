// A cluster node's API keys (docs/cluster.md, "API keys"): the deployment's keys stream is their
// source, so that a terminal's key works on whichever node owns the deployment. The first node of a
// deployment publishes its keys (its admin key first); every node adopts the deployment's keys into
// its keys.json, follows the stream every CLUSTER_KEYS_POLL_MS, and publishes a key it creates or
// revokes before answering. admin.key stays on the node that created the deployment's admin key; a
// joining node's own admin.key, which is no key of the deployment, is removed.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ClusterConfig } from '../engine/cluster/config.js';
import { KeysStream } from '../engine/cluster/keys-stream.js';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_KEYS_POLL_MS, DATA_FILE_MODE } from '../engine/limits.js';
import { CLUSTER_KEYS_FILE, keyHashHex, type KeyStore, type SharedKey } from './auth.js';
import type { Logger } from './log.js';

export interface DeploymentKeys {
  /** The keys stream's name. */
  readonly stream: string;
  /** The stream sequence this node has read up to. */
  readonly readSeq: number;
  /** Stops following the stream and closes its connection. */
  close(): Promise<void>;
}

/** The admin key in the data folder's admin.key, or null when there is none. */
function adminKeyIn(dataDir: string): string | null {
  try {
    return readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Joins the deployment's keys before the server listens: bootstraps them from this node's keys when
 * no node has yet, adopts them otherwise, then follows them. `keys` changes only through the stream
 * from then on (KeyStore.createShared, revokeShared).
 */
export async function joinDeploymentKeys(cluster: ClusterConfig, dataDir: string, keys: KeyStore, log: Logger): Promise<DeploymentKeys> {
  const nc: NatsConnection = await connect({
    servers: cluster.servers, name: `loyalty-${cluster.nodeId}-keys`, reconnect: true,
    maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: CLUSTER_APPEND_ATTEMPT_MS, noRandomize: false,
  });
  try {
    const stream = await KeysStream.open(nc, cluster.deployment);
    // From here on `loyalty keys create` and `revoke` refuse this folder: its keys are the deployment's.
    writeFileSync(join(dataDir, CLUSTER_KEYS_FILE), JSON.stringify({ deployment: cluster.deployment, stream: stream.name }) + '\n', { mode: DATA_FILE_MODE });
    if (await stream.isEmpty()) {
      const admin = keys.ensureAdminKey();
      const adminHash = keyHashHex(adminKeyIn(dataDir)!);
      // The admin key goes first: it is the record the bootstrap is fenced on.
      const mine = keys.shared().sort((a, b) => Number(b.hash === adminHash) - Number(a.hash === adminHash));
      if (await stream.bootstrap(mine)) {
        log.info({ path: admin.path, stream: stream.name, keys: mine.length }, 'cluster: this node\'s keys are the deployment\'s keys now; its admin key is in this file (mode 0600)');
      } else {
        log.info({ stream: stream.name }, 'cluster: another node bootstrapped the deployment\'s keys first; this node adopts them');
      }
    }
    const first = await stream.readAfter(0);
    const dropped = keys.adopt(first.records as SharedKey[]);
    if (dropped.length > 0) log.warn({ dropped, stream: stream.name }, 'cluster: keys of this data folder that the deployment does not have are dropped');
    const ownAdmin = adminKeyIn(dataDir);
    if (ownAdmin !== null && !keys.isLiveKey(ownAdmin)) {
      // A secret that opens nothing only misleads: the deployment's admin key is on the node that created it.
      rmSync(join(dataDir, 'admin.key'), { force: true });
      log.warn({ path: join(dataDir, 'admin.key'), stream: stream.name }, 'cluster: this node\'s admin key is no key of the deployment: its file is removed; use the deployment\'s admin key (in admin.key on the node that created it) or a key created with POST /v1/admin/keys');
    } else if (ownAdmin !== null) {
      log.info({ path: join(dataDir, 'admin.key') }, 'admin API key file (a key of the deployment)');
    }
    log.info({ stream: stream.name, keys: first.records.length, readSeq: first.lastSeq }, 'cluster: this node follows the deployment\'s keys');
    keys.shareThrough(async (record) => { await stream.publish(record); });
    return follow(nc, stream, keys, first.lastSeq, log);
  } catch (err) {
    await nc.close().catch(() => { /* the start fails with the first error */ });
    throw err;
  }
}

/** Reads the stream's changes every CLUSTER_KEYS_POLL_MS into `keys`, one read at a time. */
function follow(nc: NatsConnection, stream: KeysStream, keys: KeyStore, fromSeq: number, log: Logger): DeploymentKeys {
  let readSeq = fromSeq;
  let reading: Promise<void> | null = null;
  let lastTrouble = '';
  const timer = setInterval(() => {
    if (reading !== null) return;
    reading = stream.readAfter(readSeq).then((read) => {
      if (read.records.length > 0) {
        const change = keys.merge(read.records as SharedKey[]);
        if (change.created.length > 0 || change.revoked.length > 0) log.info({ ...change, stream: stream.name }, 'cluster: the deployment\'s keys changed: keys created or revoked take effect now');
      }
      readSeq = read.lastSeq;
      if (lastTrouble !== '') log.info({ stream: stream.name }, 'cluster: the deployment\'s keys are read again');
      lastTrouble = '';
    }, (err: unknown) => {
      // The keys read before stay in force meanwhile; the warning is written once per distinct error.
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastTrouble) log.warn({ err, stream: stream.name }, 'cluster: the deployment\'s keys could not be read; the keys read before stay in force');
      lastTrouble = message;
    }).finally(() => { reading = null; });
  }, CLUSTER_KEYS_POLL_MS);
  timer.unref();
  return {
    stream: stream.name,
    get readSeq() { return readSeq; },
    async close() {
      clearInterval(timer);
      await reading;
      await nc.close();
    },
  };
}
