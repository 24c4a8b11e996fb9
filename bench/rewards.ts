// The reward benchmark: redemptions of one reward with a shared stock over the POS stream (every
// terminal and shard taking units of the same counter), against plain purchases on the same server
// in the same run, in alternating turns (plain, rewards, rewards, plain, …) so that both see the same
// machine. The stock is exactly the units the reward turns redeem, so the last turn takes the last
// unit; afterwards no unit may be left, none oversold, the summary's redeemed points must match
// the redemptions acknowledged, and verify must be clean.
//
//   node dist/bench/rewards.js [--members N] [--ops N] [--turns N] [--shards N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerChild } from './server-child.js';
import { runWsLoad, type WsLoadResult } from './ws-client.js';
import { machineLine } from './machine.js';
import { alternatingTurns, turnSettings, TURN_STREAM, verifyRow } from './alternating-turns.js';

const { members, opsPerTurn, turns, shards } = turnSettings();
const { terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS } = TURN_STREAM;
const AMOUNT_CENTS = 12_345;
const POINTS_COST = 10;
/** Each member's opening points: far more than the redemptions the member can meet take. */
const OPENING_POINTS = 1_000_000;

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const memberIdOf = (i: number): string => `bm${String(i).padStart(7, '0')}`;

async function main(): Promise<number> {
  console.log(machineLine());
  const stock = opsPerTurn * turns;
  console.log(`rewards: ${shards} shards, ${fmt(members)} members, ${turns} turns of ${fmt(opsPerTurn)} ops each kind, ` +
    `stream ${TERMINALS} terminals × ${WINDOW_BATCHES} window × ${BATCH_OPS} ops, one reward with a stock of ${fmt(stock)}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-bench-rewards-'));
  const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: String(shards) } });
  const problems: string[] = [];
  try {
    await server.start();
    const program = (await server.get('/v1/program')).body as Record<string, unknown>;
    delete program['version'];
    program['rewards'] = [{ id: 'mug', name: 'Logo mug', pointsCost: POINTS_COST, stock }];
    const put = await server.request('PUT', '/v1/program', program);
    if (put.status !== 200) throw new Error(`program refused: ${JSON.stringify(put.body)}`);
    const authorization = `Bearer ${server.adminKey}`;

    // The members, with opening points, over the stream (an admin registration may set them).
    let registered = 0;
    const setup = await runWsLoad({
      url: server.streamUrl, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, totalOps: members,
      op: () => ({ op: 'register', memberId: memberIdOf(registered++), points: OPENING_POINTS }),
    });
    if (setup.failedOps > 0) throw new Error(`registrations failed: ${setup.problems.join(', ')}`);

    let seed = 12345;
    const random = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
    let orderSeq = 0;
    let requestSeq = 0;
    let redeemed = 0;
    const turn = async (withRewards: boolean): Promise<WsLoadResult> => {
      const r = await runWsLoad({
        url: server.streamUrl, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, totalOps: opsPerTurn,
        op: () => {
          const memberId = memberIdOf(Math.floor(random() * members));
          if (!withRewards) return { op: 'purchase', orderId: `o${++orderSeq}`, memberId, amountCents: AMOUNT_CENTS };
          return { op: 'reward_redeem', requestId: `r${++requestSeq}`, memberId, rewardId: 'mug' };
        },
      });
      if (withRewards) redeemed += r.ops;
      return r;
    };
    // An uncounted warm-up of plain purchases, past the JIT.
    await turn(false);
    await alternatingTurns(turns, turn, {
      turnLabels: ['plain      ', 'redemptions'], problemLabels: ['plain', 'redemption'],
      meanLabels: ['plain purchases/s', 'reward redemptions/s (one shared stock)'], ratioLabel: 'redemptions ÷ plain',
    }, problems);

    const listed = ((await server.get('/v1/rewards')).body as { rewards: Array<{ stockLeft: number; redeemedUnits: number }> }).rewards[0]!;
    if (redeemed !== requestSeq) problems.push(`${requestSeq - redeemed} redemptions were not acknowledged ok`);
    if (listed.redeemedUnits !== redeemed || listed.stockLeft !== stock - redeemed) problems.push(`the stock counts ${listed.redeemedUnits} redeemed and ${listed.stockLeft} left; ${redeemed} were acknowledged`);
    console.log(`| units redeemed of the stock | ${fmt(listed.redeemedUnits)} of ${fmt(stock)} (${fmt(listed.stockLeft)} left) |`);
    const summary = (await server.get('/v1/reports/summary')).body as { pointsRedeemed?: number };
    if (summary.pointsRedeemed !== redeemed * POINTS_COST) problems.push(`the summary counts ${summary.pointsRedeemed} points redeemed, ${redeemed * POINTS_COST} were acknowledged`);
    await verifyRow(server, problems);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
