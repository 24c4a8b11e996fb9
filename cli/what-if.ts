// `loyalty what-if --program FILE [--from ISO] [--to ISO] [--json]`: replays the data folder's
// recorded history under another program in a scratch folder (engine/history/what-if.ts) and
// prints the books it would have given beside the actual ones. It only reads the data folder, so
// it works on a running server's; it lowers its own CPU priority so the server keeps the cores.
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Config } from '../server/config.js';
import { runWhatIf, WhatIfUnavailable } from '../engine/history/what-if.js';
import { LogReplayError } from '../engine/shard/replay.js';
import { FolderError } from '../engine/history/folder.js';
import { FieldError } from '../engine/rules/validate.js';
import { readWhatIfRequest, type WhatIfFigures, type WhatIfReport } from '../engine/rules/what-if-report.js';

export const WHAT_IF_USAGE = `  what-if --program FILE [--from ISO] [--to ISO] [--json] [--data DIR] [--scratch DIR]
                            replay the recorded history under the program in FILE (JSON, as
                            GET /v1/program shows it) in a scratch folder and compare its books
                            with the actual ones; read only, safe on a running server; progress
                            on stderr; exit 2 when it cannot run`;

/** The nice value the command runs at: the server's what-if thread's, so a live server keeps the cores. */
const WHAT_IF_CLI_NICE = 10;
const FLAGS = ['--program', '--from', '--to', '--json', '--data', '--scratch'];
const VALUED = ['--program', '--from', '--to', '--data', '--scratch'];

class UsageError extends Error {}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return value;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const signed = (n: number) => (n > 0 ? '+' : '') + fmt(n);

/** The report as a person reads it: figures side by side, tiers, the members most changed. */
export function whatIfText(r: WhatIfReport): string {
  const rows: Array<[string, number, number]> = (['pointsIssued', 'pointsRedeemed', 'pointsExpired', 'liabilityCents', 'referralPoints'] as Array<keyof WhatIfFigures>)
    .map((k) => [k, r.actual[k] as number, r.whatIf[k] as number]);
  const tiers = [...new Set([...Object.keys(r.actual.membersPerTier), ...Object.keys(r.whatIf.membersPerTier)])];
  for (const t of tiers) rows.push([`members in ${t}`, r.actual.membersPerTier[t] ?? 0, r.whatIf.membersPerTier[t] ?? 0]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const out = [`${''.padEnd(width)}  ${'actual'.padStart(14)}  ${'what-if'.padStart(14)}  ${'difference'.padStart(14)}`];
  for (const [k, a, w] of rows) out.push(`${k.padEnd(width)}  ${fmt(a).padStart(14)}  ${fmt(w).padStart(14)}  ${signed(w - a).padStart(14)}`);
  out.push('', `members whose tier differs: ${fmt(r.membersTierDiffers)}`);
  out.push(`ops accepted as recorded but refused under the program: ${fmt(r.divergences.acceptedThenRefused)}; refused as recorded but accepted: ${fmt(r.divergences.refusedThenAccepted)}`);
  out.push(`cross-shard credits: ${fmt(r.credits.substituted)} delivered as recorded with the program's figures, ${fmt(r.credits.added)} only under the program, ${fmt(r.credits.dropped)} only as recorded`);
  if (r.topChanged.length > 0) {
    out.push('', 'members most changed (points actual → what-if, tier actual → what-if):');
    for (const m of r.topChanged) {
      out.push(`  ${m.memberId}  ${fmt(m.actualPoints)} → ${fmt(m.whatIfPoints)} (${signed(m.whatIfPoints - m.actualPoints)})  ${m.actualTierId ?? '-'} → ${m.whatIfTierId ?? '-'}`);
    }
  }
  const p = r.replay;
  out.push('', `replayed ${fmt(p.batches)} log entries (${fmt(p.ops)} ops) on ${p.shards} shards twice in ${fmt(p.ms)} ms (${fmt(p.batchesPerS)} entries/s); from ${p.from ?? 'the first entry'} to ${p.to ?? 'the last'}; both sides swept as of ${p.sweptAsOf ?? '-'}`);
  return out.join('\n') + '\n';
}

export async function runWhatIfCommand(config: Config, args: readonly string[]): Promise<number> {
  try {
    args.forEach((arg, i) => {
      if (arg.startsWith('--') && !FLAGS.includes(arg)) throw new UsageError(`unknown flag ${arg} (flags: ${FLAGS.join(', ')})`);
      if (!arg.startsWith('--') && !VALUED.includes(args[i - 1] ?? '')) throw new UsageError(`unexpected argument ${arg}`);
    });
    const file = flag(args, '--program');
    if (file === undefined) throw new UsageError(`what-if needs --program FILE\n${WHAT_IF_USAGE}`);
    let program: unknown;
    try {
      program = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`${file} cannot be read as JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    const from = flag(args, '--from');
    const to = flag(args, '--to');
    const request = readWhatIfRequest({ program, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) }, Date.now());
    try {
      setPriority(WHAT_IF_CLI_NICE);
    } catch {
      // A system that refuses leaves the priority as it is; the what-if runs all the same.
    }
    const scratchParent = flag(args, '--scratch');
    const tty = process.stderr.isTTY === true;
    const report = await runWhatIf({
      ...request,
      dataDir: flag(args, '--data') ?? config.dataDir,
      ...(scratchParent === undefined ? {} : { scratchParent }),
      onProgress: (p) => {
        const line = `what-if: ${fmt(p.batches)} of ${fmt(p.totalBatches)} log entries`;
        process.stderr.write(tty ? `\r${line}\u001b[K` : `${line}\n`);
      },
    });
    if (tty) process.stderr.write('\n');
    process.stdout.write(args.includes('--json') ? JSON.stringify(report, null, 2) + '\n' : whatIfText(report));
    return 0;
  } catch (err) {
    if (err instanceof FieldError) {
      process.stderr.write(`loyalty: ${err.field === 'from' || err.field === 'to' ? '--' : ''}${err.field}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError || err instanceof FolderError || err instanceof WhatIfUnavailable) {
      process.stderr.write(`loyalty: ${err.message}\n`);
      return 2;
    }
    if (err instanceof LogReplayError) {
      process.stderr.write(`loyalty: the recorded history does not replay (${err.message}); run loyalty replay --check\n`);
      return 1;
    }
    throw err;
  }
}
