// Two kinds of stream turn on one server, alternated (A B, B A, A B, …) so that both see the same
// machine, with each turn's rate printed and the means and their ratio printed as table rows: the
// shape of the benchmarks that price one feature against plain purchases (bench/coupons.ts,
// bench/campaigns.ts).
import type { WsLoadResult } from './ws-client.js';

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
