// Two kinds of stream turn on one server, alternated (A B, B A, A B, …) so that both see the same
// machine, with each turn's rate printed and the means and their ratio printed as table rows: the
// shape of the benchmarks that price one feature against plain purchases (bench/coupons.ts,
// bench/campaigns.ts, bench/rewards.ts), with the settings, stream shape, member import and closing verify they share.
import type { WsLoadResult } from './ws-client.js';
import type { ServerChild } from './server-child.js';
import { flag } from './flags.js';

export interface TurnKinds {
  /** Labels of the two kinds as printed per turn, padded to one width, e.g. 'plain          '. */
  turnLabels: [string, string];
  /** The table rows' labels of the two means, and of their ratio (second ÷ first). */
  meanLabels: [string, string];
  ratioLabel: string;
  /** Names of the kinds in a failure's description. */
  problemLabels: [string, string];
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Runs `turns` turns of each kind (`run(false)` the first kind, `run(true)` the second), prints each
 * and the summary rows, adds a problem for every turn with failed ops, and answers the ratio.
 */
export async function alternatingTurns(turns: number, run: (second: boolean) => Promise<WsLoadResult>, kinds: TurnKinds, problems: string[]): Promise<number> {
  const rates: [number[], number[]] = [[], []];
  for (let t = 0; t < turns; t++) {
    const order = t % 2 === 0 ? [false, true] : [true, false];
    for (const second of order) {
      const k = second ? 1 : 0;
      const r = await run(second);
      if (r.failedOps > 0) problems.push(`${kinds.problemLabels[k]} turn ${t}: ${r.failedOps} failed (${r.problems.join(', ')})`);
      rates[k].push(r.opsPerS);
      console.log(`turn ${t + 1} ${kinds.turnLabels[k]}: ${fmt(r.opsPerS)} purchases/s, batch p50 ${r.batchP50Ms.toFixed(1)} ms, p99 ${r.batchP99Ms.toFixed(1)} ms`);
    }
  }
  const ratio = mean(rates[1]) / mean(rates[0]);
  console.log(`| ${kinds.meanLabels[0]} (mean of ${turns}) | ${fmt(mean(rates[0]))} |`);
  console.log(`| ${kinds.meanLabels[1]} (mean of ${turns}) | ${fmt(mean(rates[1]))} |`);
  console.log(`| ${kinds.ratioLabel} | ${ratio.toFixed(3)} |`);
  return ratio;
}

/** The command-line settings both benchmarks take, with their defaults (smaller with `--quick`). */
export interface TurnSettings { quick: boolean; members: number; opsPerTurn: number; turns: number; shards: number }

export function turnSettings(): TurnSettings {
  const quick = process.argv.includes('--quick');
  return {
    quick,
    members: Number(flag('--members') ?? (quick ? 1_000 : 20_000)),
    /** Purchases in each turn. */
    opsPerTurn: Number(flag('--ops') ?? (quick ? 2_000 : 60_000)),
    /** Turns of each kind (pairs of one turn of each kind, the first of the pair alternating). */
    turns: Number(flag('--turns') ?? (quick ? 1 : 3)),
    shards: Number(flag('--shards') ?? 2),
  };
}

/** The stream's shape in every turn: the load benchmark's terminals, window and batch size. */
export const TURN_STREAM = { terminals: 4, windowBatches: 16, batchOps: 500 } as const;

/** Registers members `memberIdOf(0 … count − 1)` through the CSV import route; throws unless all are imported. */
export async function importMembers(server: ServerChild, count: number, memberIdOf: (i: number) => string): Promise<void> {
  let csv = 'memberId\n';
  for (let i = 0; i < count; i++) csv += memberIdOf(i) + '\n';
  const res = await fetch(server.url('/v1/import/members'), { method: 'POST', headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'text/csv' }, body: csv });
  const body = await res.json() as { imported?: number };
  if (body.imported !== count) throw new Error(`imported ${JSON.stringify(body)}`);
}

/** The books' check every alternating-turns benchmark ends with: its table row, and a problem unless verify is clean. */
export async function verifyRow(server: ServerChild, problems: string[]): Promise<void> {
  const verify = (await server.get('/v1/admin/verify')).body as { ok: boolean; mismatches: unknown[] };
  console.log(`| verify | ${verify.ok ? 'ok' : 'FAILED'} |`);
  if (!verify.ok) problems.push(`verify: ${JSON.stringify(verify.mismatches).slice(0, 500)}`);
}
