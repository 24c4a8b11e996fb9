// The batch-log commands of the `loyalty` command line: `replay --check` (replays every shard's log
// into a scratch folder and compares it with the live data, which it only reads, so it works on a
// running server's folder), `log status` and `log trim`. They work on the folder named by --data,
// else LOYALTY_DATA.
import type { Config } from '../server/config.js';
import { checkReplay, type ReplayCheckReport } from '../engine/history/replay-check.js';
import { trimLog, trimLogToBackup, type TrimResult } from '../engine/history/log-trim.js';
import { FolderError, folderShards, shardDir } from '../engine/history/folder.js';
import { openShardStore } from '../engine/shard/store.js';
import { logStatus, type LogStatus } from '../engine/shard/queries.js';

export const HISTORY_USAGE = `  replay --check [--data DIR] [--from-backup DIR] [--scratch DIR]
                            replay every shard's batch log into a scratch folder and compare it with
                            the live data (read only, safe on a running server); exit 0 when equal,
                            1 when a checksum or a database differs, 2 when it cannot run
  log status [--data DIR]   each shard's batch log: first and last entry, ops, bytes per op
  log trim (--before-batch SHARD:N | --before BACKUP_DIR) [--data DIR]
                            remove log entries before entry N of a shard, or those a backup holds`;

/** A refusal the user can act on: printed as `loyalty: message`, exit status 2. */
export class HistoryUsageError extends Error {}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new HistoryUsageError(`${name} needs a value`);
  return value;
}

/** Refuses flags the command does not know, so a typo is not silently ignored. */
function onlyFlags(args: readonly string[], known: readonly string[], valued: readonly string[]): void {
  args.forEach((arg, i) => {
    if (arg.startsWith('--') && !known.includes(arg)) throw new HistoryUsageError(`unknown flag ${arg} (flags: ${known.join(', ')})`);
    if (!arg.startsWith('--') && !valued.includes(args[i - 1] ?? '')) throw new HistoryUsageError(`unexpected argument ${arg}`);
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function replayCommand(config: Config, args: readonly string[]): Promise<number> {
  onlyFlags(args, ['--check', '--data', '--from-backup', '--scratch'], ['--data', '--from-backup', '--scratch']);
  if (!args.includes('--check')) throw new HistoryUsageError('replay needs --check (the replay check is what it does)');
  const fromBackup = flag(args, '--from-backup');
  const scratchParent = flag(args, '--scratch');
  const tty = process.stderr.isTTY === true;
  const report: ReplayCheckReport = await checkReplay({
    dataDir: flag(args, '--data') ?? config.dataDir,
    ...(fromBackup === undefined ? {} : { fromBackup }),
    ...(scratchParent === undefined ? {} : { scratchParent }),
    onProgress: (p) => {
      const line = `replay: shard ${p.shard + 1}/${p.shards}, entry ${fmt(p.seq)} of ${fmt(p.lastSeq)}, ${fmt(p.ops)} ops`;
      process.stderr.write(tty ? `\r${line}\u001b[K` : `${line}\n`);
    },
  });
  if (tty) process.stderr.write('\n');
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  return report.ok ? 0 : 1;
}

function logStatusCommand(config: Config, args: readonly string[]): number {
  onlyFlags(args, ['--data'], ['--data']);
  const dataDir = flag(args, '--data') ?? config.dataDir;
  const shards = folderShards(dataDir);
  const out: Array<{ shard: number } & LogStatus & { bytesPerOp: number | null }> = [];
  for (let shard = 0; shard < shards; shard++) {
    let store: ReturnType<typeof openShardStore>;
    try {
      store = openShardStore(shardDir(dataDir, shard), undefined, { readOnly: true });
    } catch (err) {
      throw new FolderError(err instanceof Error ? err.message : String(err));
    }
    try {
      const s = logStatus(store);
      out.push({ shard, ...s, bytesPerOp: s.ops > 0 ? Math.round((s.bytes / s.ops) * 10) / 10 : null });
    } finally {
      void store.root.close();
    }
  }
  process.stdout.write(JSON.stringify({ shards: out }, null, 2) + '\n');
  return 0;
}

async function logTrimCommand(config: Config, args: readonly string[]): Promise<number> {
  onlyFlags(args, ['--before-batch', '--before', '--data'], ['--before-batch', '--before', '--data']);
  const dataDir = flag(args, '--data') ?? config.dataDir;
  const beforeBatch = flag(args, '--before-batch');
  const before = flag(args, '--before');
  if ((beforeBatch === undefined) === (before === undefined)) throw new HistoryUsageError('log trim needs exactly one of --before-batch SHARD:N and --before BACKUP_DIR');
  let results: TrimResult[];
  if (beforeBatch !== undefined) {
    const m = /^(\d+):(\d+)$/.exec(beforeBatch);
    if (m === null) throw new HistoryUsageError(`--before-batch needs SHARD:N (e.g. 0:1500), got ${beforeBatch}`);
    results = [await trimLog(dataDir, Number(m[1]), Number(m[2]))];
  } else {
    results = await trimLogToBackup(dataDir, before!);
  }
  process.stdout.write(JSON.stringify({ shards: results }, null, 2) + '\n');
  return 0;
}

/** Runs a history command; resolves with the exit status. Usage and folder problems exit 2. */
export async function runHistory(config: Config, command: 'replay' | 'log', args: readonly string[]): Promise<number> {
  try {
    if (command === 'replay') return await replayCommand(config, args);
    const [sub, ...rest] = args;
    if (sub === 'status') return logStatusCommand(config, rest);
    if (sub === 'trim') return await logTrimCommand(config, rest);
    throw new HistoryUsageError(`log needs status or trim\n${HISTORY_USAGE}`);
  } catch (err) {
    if (err instanceof HistoryUsageError || err instanceof FolderError) {
      process.stderr.write(`loyalty: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
