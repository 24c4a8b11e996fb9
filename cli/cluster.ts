// The cluster commands of the `loyalty` command line: `cluster status|drain|undrain` ask one node of
// a cluster deployment, at --url (else LOYALTY_URL), what it is, to be drained or to be undrained,
// with --key (else the admin key of LOYALTY_DATA). Each acts on the node asked, never on the owner
// through it (docs/cluster.md, "Draining a node").
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../server/config.js';

export const CLUSTER_USAGE = `  cluster status|drain|undrain [--url URL] [--key KEY]
                            ask a cluster node (--url, else LOYALTY_URL) for its role and the owner,
                            to hand the deployment over and take nothing over (drain), or to take
                            part again (undrain); the key is --key, else LOYALTY_DATA's admin.key`;

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

async function clusterCommand(config: Config, args: readonly string[]): Promise<number> {
  const words = args.filter((arg, i) => !arg.startsWith('--') && !FLAGS.includes(args[i - 1] as typeof FLAGS[number]));
  for (const arg of args) if (arg.startsWith('--') && !FLAGS.includes(arg as typeof FLAGS[number])) throw new ClusterUsageError(`unknown flag ${arg} (flags: ${FLAGS.join(', ')})`);
  const [action, ...extra] = words;
  if ((action !== 'status' && action !== 'drain' && action !== 'undrain') || extra.length > 0) throw new ClusterUsageError('cluster needs status, drain or undrain: loyalty cluster status|drain|undrain [--url URL] [--key KEY]');
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

/** Runs `cluster …`; answers the exit status: 0 done, 1 refused by the node, 2 wrong usage or no node. */
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
