// The server's settings, read once from the environment with their defaults.
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { clusterFromEnv, type ClusterConfig } from '../engine/cluster/config.js';
import { folderShardCount } from '../engine/router/data-folder.js';
import { commitModeFromEnv, CORES_PER_SHARD, SHARDS_MAX, SHARD_MAP_BYTES_MIN, SHARD_PENDING_OPS_MAX, WEBHOOK_RETRY_FIRST_MS, WEBHOOK_RETRY_WINDOW_MS, WEBHOOK_TIMEOUT_MS, type CommitMode } from '../engine/limits.js';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  shards: number;
  logLevel: string;
  /** The automatic sweep's interval (LOYALTY_SWEEP_INTERVAL_MS, default one minute); 0 turns it off. */
  sweepIntervalMs: number;
  /** Fault injection for the crash test (LOYALTY_TEST_HOLD_OUTBOX=1): cross-shard credits are written but not delivered. */
  holdOutbox: boolean;
  /**
   * LOYALTY_MAP_BYTES: the most each shard's data file may hold; past it, writes are refused with
   * 503 storage_failed (server.ts measures every STORAGE_CHECK_INTERVAL_MS, so a burst may pass it
   * by a little). It is also the LMDB map each shard opens with, but lmdb-js grows a full map by
   * itself, so the map alone bounds nothing. Unset: only the disk's reserve applies.
   */
  mapBytes: number | undefined;
  /** LOYALTY_QUEUE_OPS_MAX: ops a shard may hold waiting before requests get 503 (default SHARD_PENDING_OPS_MAX). */
  queueOpsMax: number;
  /** LOYALTY_WHAT_IF_PAUSE_MS: the what-if thread's pause after each 20 ms of replay (default 20; 0 = none). */
  whatIfPauseMs: number;
  /**
   * LOYALTY_BACKUP_DIR: where `POST /v1/admin/backup` puts a backup asked for without a folder, or
   * with a relative one (default: `backups` beside the data folder).
   */
  backupDir: string;
  /**
   * Fault injection for the backup kill test (LOYALTY_TEST_BACKUP_STALL_MS): a backup waits this
   * long after its copies, before its manifest, so that a SIGKILL can land in between.
   */
  backupStallMs: number;
  /**
   * LOYALTY_COMMIT: how a shard's commits reach the disk, `sync` (default), `pipelined` or
   * `nometasync`
   * (engine/limits.ts). The shard clients and threads read the variable from the environment they
   * share with this process; it is read here too so that a bad value stops the server at start.
   */
  commit: CommitMode;
  /**
   * Webhook delivery timing: LOYALTY_WEBHOOK_TIMEOUT_MS (default 10 s), LOYALTY_WEBHOOK_RETRY_FIRST_MS
   * (the first retry's delay, default 1 s) and LOYALTY_WEBHOOK_RETRY_WINDOW_MS (how long an event is
   * retried before it is marked failed, default 72 h). Shorter values serve tests and staging.
   */
  webhooks: { timeoutMs: number; retryFirstMs: number; retryWindowMs: number };
  /**
   * Cluster mode (LOYALTY_NATS, LOYALTY_NODE_ID, LOYALTY_DEPLOYMENT; docs/cluster.md), null on a
   * single machine. The shard threads read the variables from the environment they share with this
   * process; they are read here too so that a bad value stops the server at start.
   */
  cluster: ClusterConfig | null;
  /**
   * LOYALTY_HTTP_ADDRESS: where other nodes' clients reach this node's HTTP front end
   * (`http://10.0.0.5:8080`), written in the owner record so that a standby's not_owner refusal
   * names it. Unset: this machine's host name and the listening port.
   */
  httpAddress: string | null;
}

const HTTP_ADDRESS = /^https?:\/\/[A-Za-z0-9.\-[\]:]+(:\d{1,5})?$/;

function httpAddressFromEnv(env: NodeJS.ProcessEnv): string | null {
  const raw = env['LOYALTY_HTTP_ADDRESS'] ?? '';
  if (raw === '') return null;
  if (!HTTP_ADDRESS.test(raw)) throw new Error(`LOYALTY_HTTP_ADDRESS must be an http(s)://host:port address, got ${JSON.stringify(raw)}`);
  return raw;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** A new data folder's shard count on a machine with `cores` cores: one per CORES_PER_SHARD, at least one. */
export function defaultShardCount(cores: number): number {
  return Math.max(1, Math.floor(cores / CORES_PER_SHARD));
}

/**
 * LOYALTY_SHARDS when set (a folder created with another count refuses to open); otherwise the
 * count the data folder was created with, or for a new folder defaultShardCount of this machine.
 */
function shardsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): number {
  if ((env['LOYALTY_SHARDS'] ?? '') !== '') return intEnv(env, 'LOYALTY_SHARDS', 1, 1, SHARDS_MAX);
  return folderShardCount(dataDir) ?? Math.min(SHARDS_MAX, defaultShardCount(availableParallelism()));
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: intEnv(env, 'PORT', 8080, 0, 65535),
    host: env['HOST'] ?? '0.0.0.0',
    dataDir: env['LOYALTY_DATA'] ?? './data',
    shards: shardsFromEnv(env, env['LOYALTY_DATA'] ?? './data'),
    logLevel: env['LOG_LEVEL'] ?? 'info',
    sweepIntervalMs: intEnv(env, 'LOYALTY_SWEEP_INTERVAL_MS', 60_000, 0, 86_400_000),
    holdOutbox: env['LOYALTY_TEST_HOLD_OUTBOX'] === '1',
    queueOpsMax: intEnv(env, 'LOYALTY_QUEUE_OPS_MAX', SHARD_PENDING_OPS_MAX, 1, 10_000_000),
    whatIfPauseMs: intEnv(env, 'LOYALTY_WHAT_IF_PAUSE_MS', 20, 0, 1_000),
    backupDir: resolve(env['LOYALTY_BACKUP_DIR'] ?? join(dirname(resolve(env['LOYALTY_DATA'] ?? './data')), 'backups')),
    backupStallMs: intEnv(env, 'LOYALTY_TEST_BACKUP_STALL_MS', 0, 0, 600_000),
    commit: commitModeFromEnv(env),
    cluster: clusterFromEnv(env),
    httpAddress: httpAddressFromEnv(env),
    webhooks: {
      timeoutMs: intEnv(env, 'LOYALTY_WEBHOOK_TIMEOUT_MS', WEBHOOK_TIMEOUT_MS, 100, 600_000),
      retryFirstMs: intEnv(env, 'LOYALTY_WEBHOOK_RETRY_FIRST_MS', WEBHOOK_RETRY_FIRST_MS, 10, 3_600_000),
      retryWindowMs: intEnv(env, 'LOYALTY_WEBHOOK_RETRY_WINDOW_MS', WEBHOOK_RETRY_WINDOW_MS, 100, 30 * 86_400_000),
    },
    mapBytes: (env['LOYALTY_MAP_BYTES'] ?? '') === '' ? undefined : intEnv(env, 'LOYALTY_MAP_BYTES', 0, SHARD_MAP_BYTES_MIN, Number.MAX_SAFE_INTEGER),
  };
}
