// The campaign benchmark: the same purchases over the POS stream under a program with three active
// campaigns that all apply to them (a dated double-points multiplier, a store's bonus, a tier's
// bonus with a smaller multiplier and a minimum net) against the same program without campaigns, on
// one server in the same run, in alternating turns (none, three, three, none, …) so that both see
// the same machine; the program is changed before each turn. Afterwards the summary's points issued,
// the campaign report and verify must agree exactly with the purchases acknowledged.
//
//   node dist/bench/campaigns.js [--members N] [--ops N] [--turns N] [--shards N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerChild } from './server-child.js';
import { runWsLoad, type WsLoadResult } from './ws-client.js';
import { machineLine } from './machine.js';
import { alternatingTurns, importMembers, turnSettings, TURN_STREAM, verifyRow } from './alternating-turns.js';

const { members, opsPerTurn, turns, shards } = turnSettings();
const { terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS } = TURN_STREAM;
const AMOUNT_CENTS = 12_345;
const DAY_MS = 86_400_000;
const HK_OFFSET_MS = 8 * 3_600_000;
/** One tier earning a point per HK$20: floor(12,345 ÷ 2,000) = 6 points a purchase, whatever a member's spend. */
const REGULAR_POINTS = 6;
/** Under the campaigns: floor(6 × 200 ÷ 100) + 10 + 5 = 27, of which 6 by the multiplier, 10 and 5 by the bonuses. */
const CAMPAIGN_POINTS = 27;
const CAMPAIGN_EXTRA_POINTS = [6, 10, 5];

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const memberIdOf = (i: number): string => `bc${String(i).padStart(7, '0')}`;
/** The local date in Hong Kong (the demo program's zone) `days` from now. */
const localDate = (days: number): string => new Date(Date.now() + days * DAY_MS + HK_OFFSET_MS).toISOString().slice(0, 10);

/** The three campaigns: each applies to every purchase of the benchmark, each by a different condition. */
function campaigns(): unknown[] {
  return [
    { id: 'double-days', name: 'Double points this year', from: localDate(-180), to: localDate(180), daysOfWeek: [1, 2, 3, 4, 5, 6, 7], pointsMultiplierPct: 200 },
    { id: 'store-bonus', name: 'Store bonus', channels: ['offline'], storeIds: ['st1', 'st2', 'st3'], bonusPoints: 10 },
    { id: 'member-more', name: 'Members earn more', tiers: ['member'], minNetCents: 10_000, pointsMultiplierPct: 150, bonusPoints: 5 },
  ];
}

async function main(): Promise<number> {
  console.log(machineLine());
  console.log(`campaigns: ${shards} shards, ${fmt(members)} members, ${turns} turns of ${fmt(opsPerTurn)} purchases each kind, ` +
    `stream ${TERMINALS} terminals × ${WINDOW_BATCHES} window × ${BATCH_OPS} ops, three active campaigns against none`);
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-bench-campaigns-'));
  const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: String(shards) } });
  const problems: string[] = [];
  try {
    await server.start();
    const base = (await server.get('/v1/program')).body as Record<string, unknown>;
    delete base['version'];
    base['tiers'] = [(base['tiers'] as unknown[])[0]];
    base['products'] = [];
    const setCampaigns = async (on: boolean): Promise<void> => {
      const put = await server.request('PUT', '/v1/program', { ...base, campaigns: on ? campaigns() : [] });
      if (put.status !== 200) throw new Error(`program refused: ${JSON.stringify(put.body)}`);
    };
    await setCampaigns(false);

    await importMembers(server, members, memberIdOf);

    let seed = 12345;
    const random = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
    let orderSeq = 0;
    const acked = { none: 0, three: 0 };
    const authorization = `Bearer ${server.adminKey}`;
    const turn = async (withCampaigns: boolean): Promise<WsLoadResult> => {
      await setCampaigns(withCampaigns);
      const r = await runWsLoad({
        url: server.streamUrl, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, totalOps: opsPerTurn,
        // The same purchases in both kinds of turn: in store, offline, at one of three stores.
        op: (i) => ({ op: 'purchase', orderId: `o${++orderSeq}`, memberId: memberIdOf(Math.floor(random() * members)), amountCents: AMOUNT_CENTS, channel: 'offline', storeId: `st${(i % 3) + 1}` }),
      });
      acked[withCampaigns ? 'three' : 'none'] += r.ops;
      return r;
    };
    // An uncounted warm-up of each kind, past the JIT.
    await turn(false);
    await turn(true);
    await alternatingTurns(turns, turn, {
      turnLabels: ['no campaign    ', 'three campaigns'], problemLabels: ['plain', 'campaign'],
      meanLabels: ['purchases/s without campaigns', 'purchases/s under three campaigns'], ratioLabel: 'three campaigns ÷ none',
    }, problems);

    const summary = (await server.get('/v1/reports/summary')).body as { pointsIssued?: number; purchases?: number };
    const wantPoints = acked.none * REGULAR_POINTS + acked.three * CAMPAIGN_POINTS;
    if (summary.pointsIssued !== wantPoints) problems.push(`the summary counts ${summary.pointsIssued} points issued, the purchases acknowledged earned ${wantPoints}`);
    const reportStarted = performance.now();
    const report = (await server.get(`/v1/reports/campaigns?from=${localDate(-1)}&to=${localDate(1)}`)).body as { campaigns: Array<{ campaignId: string; orders: number; extraPoints: number }> };
    const reportMs = performance.now() - reportStarted;
    console.log(`campaign report over ${fmt(orderSeq)} orders: ${reportMs.toFixed(0)} ms`);
    report.campaigns.forEach((c, k) => {
      if (c.orders !== acked.three || c.extraPoints !== acked.three * CAMPAIGN_EXTRA_POINTS[k]!) {
        problems.push(`the campaign report gives ${c.campaignId} ${c.orders} orders and ${c.extraPoints} points, for ${acked.three} purchases under it`);
      }
    });
    await verifyRow(server, problems);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
