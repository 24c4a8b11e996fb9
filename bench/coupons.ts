// The coupon benchmark: purchases over the POS stream that each use one coupon, against plain
// purchases on the same server in the same run, in alternating turns (plain, coupon, coupon, plain,
// …) so that both see the same machine. The coupons are issued first by bulk issues, and every one
// is used once; afterwards verify must be clean and every coupon used exactly as often as a coupon
// purchase was acknowledged.
//
//   node dist/bench/coupons.js [--members N] [--ops N] [--turns N] [--shards N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerChild } from './server-child.js';
import { runWsLoad, type WsLoadResult } from './ws-client.js';
import { machineLine } from './machine.js';
import { alternatingTurns, importMembers, turnSettings, TURN_STREAM, verifyRow } from './alternating-turns.js';

const { members, opsPerTurn, turns, shards } = turnSettings();
const { terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS } = TURN_STREAM;
/** Members' coupon lists read at once: below the shard's task queue bound. */
const READS_IN_FLIGHT = 16;
const AMOUNT_CENTS = 12_345;
const COUPON_CENTS = 500;

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const memberIdOf = (i: number): string => `bm${String(i).padStart(7, '0')}`;

async function main(): Promise<number> {
  console.log(machineLine());
  const couponsNeeded = opsPerTurn * turns;
  const rounds = Math.ceil(couponsNeeded / members);
  console.log(`coupons: ${shards} shards, ${fmt(members)} members, ${turns} turns of ${fmt(opsPerTurn)} purchases each kind, ` +
    `stream ${TERMINALS} terminals × ${WINDOW_BATCHES} window × ${BATCH_OPS} ops, ${fmt(rounds * members)} coupons issued in ${rounds} bulk issues`);
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-bench-coupons-'));
  const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: String(shards) } });
  const problems: string[] = [];
  try {
    await server.start();
    const program = (await server.get('/v1/program')).body as Record<string, unknown>;
    delete program['version'];
    program['coupons'] = [{
      id: 'five', name: 'HK$5 off', active: true, discount: { amountCents: COUPON_CENTS }, minSpendCents: 0, eligibleTiers: null,
      channels: ['online', 'offline'], validDays: 365, validFrom: null, validTo: null, perMemberMax: null, totalMax: null, restoreOnFullReturn: true,
    }];
    program['couponRules'] = [];
    const put = await server.request('PUT', '/v1/program', program);
    if (put.status !== 200) throw new Error(`program refused: ${JSON.stringify(put.body)}`);

    await importMembers(server, members, memberIdOf);

    const memberIds = Array.from({ length: members }, (_, i) => memberIdOf(i));
    const issueStarted = performance.now();
    for (let r = 0; r < rounds; r++) {
      const bulk = await server.post('/v1/coupons/bulk-issue', { requestId: `bulk-${r}`, templateId: 'five', memberIds });
      if (bulk.status !== 200 || bulk.body.issued !== members) throw new Error(`bulk issue ${r}: ${bulk.status} ${JSON.stringify(bulk.body).slice(0, 300)}`);
    }
    const issueS = (performance.now() - issueStarted) / 1000;
    console.log(`bulk issue: ${fmt(rounds * members)} coupons in ${issueS.toFixed(1)} s (${fmt(rounds * members / issueS)} coupons/s)`);

    // Every member's codes, read back through its coupon list.
    const codes: Array<[string, string]> = [];
    let next = 0;
    await Promise.all(Array.from({ length: READS_IN_FLIGHT }, async () => {
      while (next < members) {
        const memberId = memberIdOf(next++);
        const listed = await server.get(`/v1/members/${memberId}/coupons?state=active`);
        if (listed.status !== 200) throw new Error(`coupons of ${memberId}: ${listed.status} ${JSON.stringify(listed.body)}`);
        for (const c of listed.body.coupons as Array<{ code: string }>) codes.push([memberId, c.code]);
      }
    }));
    if (codes.length !== rounds * members) throw new Error(`read ${codes.length} codes of ${rounds * members}`);
    // Spread the members over the turns as plain purchases spread them (random order, fixed seed).
    let seed = 12345;
    const random = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
    for (let i = codes.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [codes[i], codes[j]] = [codes[j]!, codes[i]!]; }

    let used = 0;
    let orderSeq = 0;
    const authorization = `Bearer ${server.adminKey}`;
    const turn = async (withCoupon: boolean): Promise<WsLoadResult> => runWsLoad({
      url: server.streamUrl, authorization, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, totalOps: opsPerTurn,
      op: () => {
        const order = `o${++orderSeq}`;
        if (!withCoupon) return { op: 'purchase', orderId: order, memberId: memberIdOf(Math.floor(random() * members)), amountCents: AMOUNT_CENTS };
        const [memberId, code] = codes[used++]!;
        return { op: 'purchase', orderId: order, memberId, amountCents: AMOUNT_CENTS, couponCodes: [code] };
      },
    });
    // An uncounted warm-up of plain purchases, past the JIT.
    await turn(false);
    await alternatingTurns(turns, turn, {
      turnLabels: ['plain          ', 'one coupon each'], problemLabels: ['plain', 'coupon'],
      meanLabels: ['plain purchases/s', 'purchases with one coupon/s'], ratioLabel: 'coupon ÷ plain',
    }, problems);

    const summary = (await server.get('/v1/reports/summary')).body as { couponsUsed?: number; couponDiscountCents?: number };
    if (summary.couponsUsed !== used) problems.push(`the summary counts ${summary.couponsUsed} coupons used, ${used} were acknowledged`);
    if (summary.couponDiscountCents !== used * COUPON_CENTS) problems.push(`the summary counts ${summary.couponDiscountCents} cents of coupon discount`);
    await verifyRow(server, problems);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
