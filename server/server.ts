// Starts and stops a whole server: the engine over its shards, the key store, and the uWS app
// listening in one place. Used by `npm start`, the CLI and the integration tests alike.
import uWS from 'uWebSockets.js';
import { createRequire } from 'node:module';
import { statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { DISK_FREE_BYTES_MIN, KEYS_RELOAD_INTERVAL_MS, STORAGE_CHECK_INTERVAL_MS } from '../engine/limits.js';
import { Engine } from '../engine/router/engine.js';
import { looseModes } from '../engine/router/data-folder.js';
import { KeyStore } from './auth.js';
import { attachHttp, type Lifecycle } from './http.js';
import type { Api } from './routes.js';
import { advertisedAddress, joinCluster } from './cluster-node.js';
import { joinDeploymentKeys } from './cluster-keys.js';
import { attachStream } from './stream.js';
import { Metrics } from './metrics.js';
import { RequestLog } from './request-log.js';
import { DeliveryThread } from './webhooks/delivery-thread.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';

export interface RunningServer { port: number; engine: Engine; keys: KeyStore; close(): Promise<void> }

/** Whether the native uWS build loaded, or the package fell back to its slow Node.js version. */
export function uwsIsNative(): boolean {
  const require = createRequire(import.meta.url);
  return Object.keys(require.cache).some((p) => /uws_.*\.node$/.test(p));
}

/**
 * Why there is no room to write, or null: a shard's data file at LOYALTY_MAP_BYTES, or the disk below
 * its reserve. Writes are refused before LMDB itself fails, because lmdb-js grows its map without
 * bound and its failed-write path corrupts the heap (engine/limits.ts DISK_FREE_BYTES_MIN).
 */
export function storageProblem(config: Config): string | null {
  if (config.mapBytes !== undefined) {
    for (let i = 0; i < config.shards; i++) {
      let bytes = 0;
      try { bytes = statSync(join(config.dataDir, `shard-${i}`, 'data.mdb')).size; } catch { /* not created yet */ }
      if (bytes >= config.mapBytes) return `shard ${i} holds ${bytes} bytes; LOYALTY_MAP_BYTES allows ${config.mapBytes}`;
    }
  }
  const disk = statfsSync(config.dataDir);
  const freeBytes = disk.bavail * disk.bsize;
  if (freeBytes < DISK_FREE_BYTES_MIN) return `the disk of ${config.dataDir} has ${freeBytes} bytes free, under the ${DISK_FREE_BYTES_MIN} kept in reserve`;
  return null;
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const engine = await Engine.open({
    dataDir: config.dataDir, shards: config.shards, holdOutbox: config.holdOutbox, pendingOpsMax: config.queueOpsMax, holder: 'the server',
    whatIfPauseMs: config.whatIfPauseMs,
    backupDir: config.backupDir, backupStallMs: config.backupStallMs,
    ...(config.mapBytes === undefined ? {} : { mapBytes: config.mapBytes }),
    warn: (message, detail) => log.warn(detail, message),
    // Cluster mode: the shards follow their streams until this node owns the deployment (cluster-node.ts).
    standby: config.cluster !== null,
  });
  if (config.holdOutbox) log.warn('LOYALTY_TEST_HOLD_OUTBOX is set: cross-shard credits are not delivered (fault injection)');
  if (config.backupStallMs > 0) log.warn({ stallMs: config.backupStallMs }, 'LOYALTY_TEST_BACKUP_STALL_MS is set: backups wait before their manifest (fault injection)');
  const keys = new KeyStore(config.dataDir);
  // Cluster mode: the deployment's keys, from its keys stream, before anything is answered (cluster-keys.ts).
  const deploymentKeys = config.cluster === null ? null : await joinDeploymentKeys(config.cluster, config.dataDir, keys, log).catch(async (err: unknown) => {
    await engine.close();
    throw err;
  });
  if (deploymentKeys === null) {
    const admin = keys.ensureAdminKey();
    if (admin.created) log.info({ path: admin.path }, 'created the admin API key; it is in this file (mode 0600)');
    else log.info({ path: admin.path }, 'admin API key file');
  }
  // Wider modes are reported, not changed: an operator may have opened a path on purpose (README, "Data at rest").
  for (const loose of looseModes(config.dataDir)) {
    log.warn(loose, `${loose.path} has mode ${loose.mode}, open to other users; the data folder holds personal data and key hashes: chmod it to ${loose.expected}`);
  }
  // Keys created or revoked beside the running server (`loyalty keys`) take effect at the next look.
  if (deploymentKeys === null) keys.watch(KEYS_RELOAD_INTERVAL_MS, {
    changed: (change) => log.info(change, 'keys.json changed: keys created or revoked take effect now'),
    failed: (err) => log.warn({ err, path: join(config.dataDir, 'keys.json') }, 'keys.json could not be read; the keys read before stay in force'),
  });
  const metrics = new Metrics(engine);
  const app = uWS.App();
  // Deliveries run on their own thread and read the ledger from read-only views, after the engine
  // opened every shard; in cluster mode only the owner delivers, from its takeover on.
  const startWebhooks = () => new DeliveryThread(config.dataDir, engine.shards.length, config.webhooks, {
    warn: (detail, message) => log.warn(detail, message),
    error: (detail, message) => log.error(detail, message),
  });
  const api: Api = { engine, keys, metrics, requestLog: new RequestLog(log) };
  if (config.cluster === null) api.webhooks = startWebhooks();
  const lifecycle: Lifecycle = {
    stopping: false, storageFull: storageProblem(config),
    notOwner: config.cluster === null ? null : `this node (${config.cluster.nodeId}) has not read the deployment's owner record yet`,
  };
  if (lifecycle.storageFull !== null) log.warn({ problem: lifecycle.storageFull }, 'no room to write: writes are refused with storage_failed');
  const storageTimer = setInterval(() => {
    const problem = storageProblem(config);
    if (problem !== null && lifecycle.storageFull === null) log.warn({ problem }, 'no room to write: writes are refused with storage_failed');
    if (problem === null && lifecycle.storageFull !== null) log.info('room to write again: writes are accepted');
    lifecycle.storageFull = problem;
  }, STORAGE_CHECK_INTERVAL_MS);
  // The stream's route is registered first: the HTTP catch-all would otherwise take its upgrade.
  const stream = attachStream(app, api, lifecycle);
  attachHttp(app, api, lifecycle);
  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => (socket ? resolve(socket) : reject(new Error(`cannot listen on ${config.host}:${config.port}`))));
  });
  const port = uWS.us_socket_local_port(listenSocket);
  log.info({ port, host: config.host, shards: config.shards, dataDir: config.dataDir, uws: uwsIsNative() ? 'native' : 'fallback (slow)', ...(engine.standingBy ? { cluster: config.cluster?.nodeId } : { programVersion: engine.program.version }) }, 'loyalty ledger listening');
  // The automatic sweep: one at a time, never overlapping, stopped with the server; in cluster mode only the owner sweeps.
  let sweeping = false;
  const sweepTimer = config.sweepIntervalMs === 0 ? null : setInterval(() => {
    if (sweeping || engine.standingBy) return;
    sweeping = true;
    engine.sweep(engine.now()).then(
      (r) => { if (r.members > 0) log.info(r, 'sweep'); },
      (err: unknown) => log.error({ err }, 'sweep failed'),
    ).finally(() => { sweeping = false; });
  }, config.sweepIntervalMs);
  const node = config.cluster === null ? null : await joinCluster(config.cluster, advertisedAddress(config.httpAddress, config.host, port), api, lifecycle, log, () => {
    if (!lifecycle.stopping) api.webhooks = startWebhooks();
  }, async () => {
    // A drained node delivers no webhooks: the next owner's deliveries read the ledger it writes.
    const webhooks = api.webhooks;
    delete api.webhooks;
    await webhooks?.close();
  }).catch(async (err: unknown) => {
    uWS.us_listen_socket_close(listenSocket);
    await engine.close();
    await deploymentKeys?.close();
    throw err;
  });
  if (node !== null) api.cluster = node;
  let closed = false;
  return {
    port, engine, keys,
    async close() {
      if (closed) return;
      closed = true;
      if (sweepTimer !== null) clearInterval(sweepTimer);
      clearInterval(storageTimer);
      keys.close();
      // New requests and batches are refused with shutting_down from here on; those already taken
      // finish inside engine.close(), and their replies and acks are written before it resolves.
      lifecycle.stopping = true;
      node?.stop();
      uWS.us_listen_socket_close(listenSocket);
      // Deliveries stop before the engine: a lane must not read a closing shard. Cut requests resend at the next start.
      await api.webhooks?.close();
      await engine.close();
      // Once the shards are closed, a standby may take over at once rather than after the lease.
      await node?.release();
      await deploymentKeys?.close();
      // Open streams would only be cut by the exit: a close frame tells terminals to reconnect.
      stream.closeAll(1001, 'server stopping');
    },
  };
}
