// The backup commands of the `loyalty` command line: `backup DIR` asks the running server at
// LOYALTY_URL (with the admin key of LOYALTY_DATA) to copy its data into DIR, and `restore` makes a
// new data folder from a backup, carried forward to a point in time from a live folder's batch logs
// (engine/history/restore.ts), without a server.
import { auditByCli } from './audit.js';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../server/config.js';
import { FolderError } from '../engine/history/folder.js';
import { restoreBackup, type RestoreOptions } from '../engine/history/restore.js';

export const BACKUP_USAGE = `  backup DIR                ask the running server (LOYALTY_URL) to copy its data into DIR, a new or
                            empty folder, as one consistent point while it serves
  restore BACKUP --data DIR [--log-from LIVE_DATA] [--until ISO | --until-batch SHARD:N]
                            make the new data folder DIR from a backup; with --log-from, replay that
                            folder's batch logs after the backup, up to the point given`;

/** The server `backup` talks to when LOYALTY_URL is not set. */
const DEFAULT_URL = 'http://127.0.0.1:8080';

/** A refusal the user can act on: printed as `loyalty: message`, exit status 2. */
class BackupUsageError extends Error {}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new BackupUsageError(`${name} needs a value`);
  return value;
}

/** The arguments that are not flags or flag values. */
function positional(args: readonly string[], valued: readonly string[], known: readonly string[]): string[] {
  const out: string[] = [];
  args.forEach((arg, i) => {
    if (arg.startsWith('--')) {
      if (!known.includes(arg)) throw new BackupUsageError(`unknown flag ${arg} (flags: ${known.join(', ')})`);
      return;
    }
    if (!valued.includes(args[i - 1] ?? '')) out.push(arg);
  });
  return out;
}

async function backupCommand(config: Config, args: readonly string[]): Promise<number> {
  const [dir, ...extra] = positional(args, [], []);
  if (dir === undefined || extra.length > 0) throw new BackupUsageError('backup needs one folder: loyalty backup DIR');
  const url = (process.env['LOYALTY_URL'] ?? DEFAULT_URL).replace(/\/+$/, '');
  const keyPath = join(config.dataDir, 'admin.key');
  if (!existsSync(keyPath)) throw new BackupUsageError(`no admin key at ${keyPath}: set LOYALTY_DATA to the server's data folder`);
  const key = readFileSync(keyPath, 'utf8').trim();
  let res: Response;
  try {
    // The server writes the folder, so it is named in full: a relative name is this shell's.
    res = await fetch(`${url}/v1/admin/backup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dir: resolve(dir) }),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw new BackupUsageError(`no server answers at ${url} (${cause}); start one with \`loyalty start\` or set LOYALTY_URL`);
  }
  const text = await res.text();
  const body = parseJson(text) as { error?: { code: string; message: string } } | null;
  if (res.status === 404 && body?.error?.code === 'route_not_found') {
    throw new BackupUsageError(`the server at ${url} has no /v1/admin/backup endpoint: it predates backups; upgrade it`);
  }
  if (!res.ok) {
    process.stderr.write(`loyalty: backup failed with ${res.status} ${body?.error ? `${body.error.code}: ${body.error.message}` : text.slice(0, 200)}\n`);
    return 1;
  }
  process.stdout.write(JSON.stringify(body, null, 2) + '\n');
  return 0;
}

function parseJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return null; }
}

/** An instant with its offset or Z (a time without one would be read in this machine's zone). */
function parseInstant(text: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text) || Number.isNaN(Date.parse(text))) {
    throw new BackupUsageError(`--until needs an ISO 8601 instant with its offset, e.g. 2026-03-01T09:30:00Z; got ${text}`);
  }
  return Date.parse(text);
}

async function restoreCommand(args: readonly string[]): Promise<number> {
  const valued = ['--data', '--log-from', '--until', '--until-batch'];
  const [backupDir, ...extra] = positional(args, valued, valued);
  if (backupDir === undefined || extra.length > 0) throw new BackupUsageError('restore needs one backup folder: loyalty restore BACKUP --data DIR');
  const dataDir = flag(args, '--data');
  if (dataDir === undefined) throw new BackupUsageError('restore needs --data DIR, the new data folder to restore into');
  const options: RestoreOptions = { backupDir, dataDir };
  const logFrom = flag(args, '--log-from');
  if (logFrom !== undefined) options.logFrom = logFrom;
  const until = flag(args, '--until');
  if (until !== undefined) options.untilMs = parseInstant(until);
  const untilBatch = flag(args, '--until-batch');
  if (untilBatch !== undefined) {
    const m = /^(\d+):(\d+)$/.exec(untilBatch);
    if (m === null) throw new BackupUsageError(`--until-batch needs SHARD:N (e.g. 0:1500), got ${untilBatch}`);
    options.untilBatch = { shard: Number(m[1]), batch: Number(m[2]) };
  }
  const tty = process.stderr.isTTY === true;
  options.onProgress = (p) => {
    const line = `restore: shard ${p.shard + 1}/${p.shards}, entry ${p.seq.toLocaleString('en-US')}, ${p.batches.toLocaleString('en-US')} replayed`;
    process.stderr.write(tty ? `\r${line}\u001b[K` : `${line}\n`);
  };
  const report = await restoreBackup(options);
  // The restored folder's trail is the backup's, then this restore.
  auditByCli(dataDir, 'restore', backupDir, { ...(logFrom === undefined ? {} : { logFrom }), ...(until === undefined ? {} : { until }), ...(untilBatch === undefined ? {} : { untilBatch }) });
  if (tty) process.stderr.write('\n');
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  return 0;
}

/** Runs `backup` or `restore`; resolves with the exit status. Usage and folder problems exit 2. */
export async function runBackup(config: Config, command: 'backup' | 'restore', args: readonly string[]): Promise<number> {
  try {
    return command === 'backup' ? await backupCommand(config, args) : await restoreCommand(args);
  } catch (err) {
    if (err instanceof BackupUsageError || err instanceof FolderError) {
      process.stderr.write(`loyalty: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
