// The cluster commands of the `loyalty` command line: `cluster status|drain|undrain` ask one node of
// a cluster deployment, at --url (else LOYALTY_URL), what it is, to be drained or to be undrained,
// with --key (else the admin key of LOYALTY_DATA). Each acts on the node asked, never on the owner
// through it (docs/cluster.md, "Draining a node"). `cluster import` publishes a single-node data
// folder's logs to a deployment's new streams, for a folder whose log was trimmed
// (docs/cluster.md, "Upgrading a single-node data folder"). `cluster trim` purges the streams of the
// entries a backup holds (docs/cluster.md, "Trimming the streams").
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../server/config.js';
import { clusterFromEnv } from '../engine/cluster/config.js';
import { importFolder, ImportRefused } from './cluster-import.js';
import { StreamTrimRefused, trimStreams } from './cluster-trim.js';
import { DataFolderError } from '../engine/router/data-folder.js';
import { FolderError } from '../engine/history/folder.js';

export const CLUSTER_USAGE = `  cluster status|drain|undrain [--url URL] [--key KEY]
                            ask a cluster node (--url, else LOYALTY_URL) for its role and the owner,
                            to hand the deployment over and take nothing over (drain), or to take
                            part again (undrain); the key is --key, else LOYALTY_DATA's admin.key
  cluster import [--data DIR] [--backup BACKUP] [--nats URLS] [--deployment NAME]
                            publish a stopped single-node folder's logs to the deployment's empty
                            streams (LOYALTY_NATS, LOYALTY_DEPLOYMENT unless given); a trimmed log
                            needs the backup it was trimmed to, which the other nodes restore
  cluster trim --before BACKUP [--nats URLS] [--deployment NAME]
                            purge every shard's stream up to the backup's position (the backup must
                            be older than every node's copy); a node behind it restores the backup`;

/** The node asked when neither --url nor LOYALTY_URL names one. */
const DEFAULT_URL = 'http://127.0.0.1:8080';

/** A refusal the user can act on: printed as `loyalty: message`, exit status 2. */
class ClusterUsageError extends Error {}

const FLAGS = ['--url', '--key'] as const;

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new ClusterUsageError(`${name} needs a value`);
  return value;
}

const IMPORT_FLAGS = ['--data', '--backup', '--nats', '--deployment'] as const;
const TRIM_FLAGS = ['--before', '--nats', '--deployment'] as const;

/** The flags of `cluster import` or `cluster trim`, checked: only `known`, each with its value. */
function checkFlags(args: readonly string[], known: readonly string[]): void {
  args.forEach((arg, i) => {
    if (arg.startsWith('--') && !known.includes(arg)) throw new ClusterUsageError(`unknown flag ${arg} (flags: ${known.join(', ')})`);
    if (!arg.startsWith('--') && !known.includes(args[i - 1] ?? '')) throw new ClusterUsageError(`unexpected argument ${arg}`);
  });
}

/** The NATS servers and deployment, from --nats and --deployment, else as a node reads them (LOYALTY_NATS, LOYALTY_DEPLOYMENT). */
function natsSettings(args: readonly string[], command: string): { servers: string[]; deployment: string } {
  // The same settings a node reads, checked the same way; the command writes under a node id of its own.
  const env: NodeJS.ProcessEnv = { ...process.env, LOYALTY_NODE_ID: command };
  const nats = flag(args, '--nats');
  const deployment = flag(args, '--deployment');
  if (nats !== undefined) env['LOYALTY_NATS'] = nats;
  if (deployment !== undefined) env['LOYALTY_DEPLOYMENT'] = deployment;
  if ((env['LOYALTY_NATS'] ?? '') === '') throw new ClusterUsageError(`cluster ${command} needs the NATS servers: --nats URLS or LOYALTY_NATS`);
  let cluster;
  try {
    cluster = clusterFromEnv(env);
  } catch (err) {
    throw new ClusterUsageError((err as Error).message);
  }
  if (cluster === null) throw new ClusterUsageError(`cluster ${command} needs the NATS servers: --nats URLS or LOYALTY_NATS`);
  return { servers: cluster.servers, deployment: cluster.deployment };
}

/** `cluster trim`: every shard's stream to the backup's position, with a line per shard saying what was done. */
async function trimCommand(args: readonly string[]): Promise<number> {
  checkFlags(args, TRIM_FLAGS);
  const backupDir = flag(args, '--before');
  if (backupDir === undefined) throw new ClusterUsageError('cluster trim needs the backup to trim to: --before BACKUP');
  const cluster = natsSettings(args, 'trim');
  try {
    const results = await trimStreams({ servers: cluster.servers, deployment: cluster.deployment, backupDir });
    for (const r of results) {
      const done = r.purged === 0 ? `already trimmed, starts after entry ${r.startsAfter}` : `${r.purged} purged, starts after entry ${r.startsAfter} (was ${r.startedAfter})`;
      process.stdout.write(`shard ${r.shard}: backup at entry ${r.backupSeq}; ${done}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof StreamTrimRefused || err instanceof FolderError) {
      process.stderr.write(`loyalty: cluster trim refused: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** `cluster import`: every shard's log to its stream, with a line per shard saying what was done. */
async function importCommand(config: Config, args: readonly string[]): Promise<number> {
  checkFlags(args, IMPORT_FLAGS);
  const cluster = natsSettings(args, 'import');
  const backupDir = flag(args, '--backup');
  const dataDir = flag(args, '--data') ?? config.dataDir;
  try {
    const results = await importFolder({ dataDir, servers: cluster.servers, deployment: cluster.deployment, ...(backupDir === undefined ? {} : { backupDir }) });
    for (const r of results) {
      const base = r.base === null ? 'no base (log from entry 1)' : `base after entry ${r.base.afterLogSeq}, backup ${r.base.backup}`;
      const done = r.appended === 0 && r.alreadyHeld > 0 ? 'already imported' : `${r.appended} appended`;
      process.stdout.write(`shard ${r.shard}: log ${r.firstSeq ?? r.lastSeq + 1}..${r.lastSeq}, ${base}; ${r.alreadyHeld} already in the stream, ${done}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ImportRefused || err instanceof DataFolderError || err instanceof FolderError) {
      process.stderr.write(`loyalty: cluster import refused: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function clusterCommand(config: Config, args: readonly string[]): Promise<number> {
  if (args[0] === 'import') return importCommand(config, args.slice(1));
  if (args[0] === 'trim') return trimCommand(args.slice(1));
  const words = args.filter((arg, i) => !arg.startsWith('--') && !FLAGS.includes(args[i - 1] as typeof FLAGS[number]));
  for (const arg of args) if (arg.startsWith('--') && !FLAGS.includes(arg as typeof FLAGS[number])) throw new ClusterUsageError(`unknown flag ${arg} (flags: ${FLAGS.join(', ')})`);
  const [action, ...extra] = words;
  if ((action !== 'status' && action !== 'drain' && action !== 'undrain') || extra.length > 0) throw new ClusterUsageError('cluster needs status, drain, undrain, import or trim: loyalty cluster status|drain|undrain [--url URL] [--key KEY], loyalty cluster import [--data DIR] [--backup BACKUP], loyalty cluster trim --before BACKUP');
  const url = (flag(args, '--url') ?? process.env['LOYALTY_URL'] ?? DEFAULT_URL).replace(/\/+$/, '');
  let key = flag(args, '--key');
  if (key === undefined) {
    const keyPath = join(config.dataDir, 'admin.key');
    if (!existsSync(keyPath)) throw new ClusterUsageError(`no --key and no admin key at ${keyPath}: pass the deployment's admin key with --key`);
    key = readFileSync(keyPath, 'utf8').trim();
  }
  const path = action === 'status' ? '/v1/admin/cluster' : `/v1/admin/cluster/${action}`;
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, { method: action === 'status' ? 'GET' : 'POST', headers: { authorization: `Bearer ${key}` } });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw new ClusterUsageError(`no server answers at ${url} (${cause}); pass the node's address with --url or LOYALTY_URL`);
  }
  const text = await res.text();
  const body = parseJson(text) as { error?: { code: string; message: string } } | null;
  if (!res.ok) {
    process.stderr.write(`loyalty: cluster ${action} failed with ${res.status} ${body?.error ? `${body.error.code}: ${body.error.message}` : text.slice(0, 200)}\n`);
    return 1;
  }
  process.stdout.write((body === null ? text : JSON.stringify(body, null, 2)) + '\n');
  return 0;
}

/** The answer as JSON, or null when it is not JSON (shown as text). */
function parseJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return null; }
}

/** Runs `cluster …`; answers the exit status: 0 done, 1 refused by the node (or the import refused), 2 wrong usage or no node. */
export async function runCluster(config: Config, args: readonly string[]): Promise<number> {
  try {
    return await clusterCommand(config, args);
  } catch (err) {
    if (err instanceof ClusterUsageError) {
      process.stderr.write(`loyalty: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
