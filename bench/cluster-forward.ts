// The cost of serving from any node (docs/cluster.md, "Serving from any node"): two engine nodes on
// three loopback nats-server processes, one owning the deployment and one standing by, which
// forwards every request and stream batch to the owner. The same purchases go to the owner and to
// the standby in alternating rounds of the same run: HTTP latency one request at a time (p50, p99)
// and the POS stream's purchases per second, each as a ratio of the standby to the owner.
//
//   node dist/bench/cluster-forward.js [--members N] [--ops N] [--turns N] [--shards N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answeringAs, ServerChild } from './server-child.js';
import { runWsLoad, type WsLoadResult } from './ws-client.js';
import { LatencySamples } from './http-client.js';
import { machineLine } from './machine.js';
import { NatsCluster, natsServerBin } from './nats-cluster.js';
import { alternatingTurns, importMembers, turnSettings, TURN_STREAM } from './alternating-turns.js';

const { quick, members, opsPerTurn, turns, shards } = turnSettings();
/** Purchases sent one at a time to each node in each latency round. */
const HTTP_PURCHASES = quick ? 300 : 2_000;
const HTTP_ROUNDS = 4;
const AMOUNT_CENTS = 1_250;
/** How long a node may take to own the deployment, or to stand by behind the owner, before the run gives up. */
const READY_WAIT_MS = 20_000;

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const memberIdOf = (i: number): string => `fm${String(i).padStart(7, '0')}`;

async function main(): Promise<number> {
  console.log(machineLine());
  const bin = natsServerBin();
  if (bin === null) throw new Error('this benchmark needs nats-server (Debian package nats-server)');
  console.log(`forwarding: ${shards} shards, ${fmt(members)} members; HTTP ${HTTP_ROUNDS} rounds of ${fmt(HTTP_PURCHASES)} purchases one at a time per node; ` +
    `stream ${turns} turns of ${fmt(opsPerTurn)} purchases per node, ${TURN_STREAM.terminals} terminals × ${TURN_STREAM.windowBatches} window × ${TURN_STREAM.batchOps} ops; three nats-server processes (${bin}) on loopback`);
  const dirs = [mkdtempSync(join(tmpdir(), 'loyalty-bench-owner-')), mkdtempSync(join(tmpdir(), 'loyalty-bench-standby-'))];
  const problems: string[] = [];
  let cluster: NatsCluster | null = null;
  const servers: ServerChild[] = [];
  try {
    cluster = await NatsCluster.start(3);
    const env = (nodeId: string) => ({ LOYALTY_SHARDS: String(shards), LOYALTY_NATS: cluster!.servers.join(','), LOYALTY_NODE_ID: nodeId, LOYALTY_SWEEP_INTERVAL_MS: '0' });
    const owner = new ServerChild({ dataDir: dirs[0]!, env: env('owner-1') });
    servers.push(owner);
    await owner.start();
    await answeringAs(owner, false, READY_WAIT_MS);
    const standby = new ServerChild({ dataDir: dirs[1]!, env: env('standby-2') });
    servers.push(standby);
    await standby.start();
    // Keys are the deployment's: the standby has no admin.key of its own and takes the first node's.
    standby.adminKey = owner.adminKey;
    await answeringAs(standby, true, READY_WAIT_MS);
    await importMembers(owner, members, memberIdOf);

    let orderSeq = 0;
    const samples = [new LatencySamples(), new LatencySamples()];
    for (let round = 0; round < HTTP_ROUNDS + 1; round++) {
      for (const viaStandby of round % 2 === 0 ? [false, true] : [true, false]) {
        const server = viaStandby ? standby : owner;
        for (let i = 0; i < HTTP_PURCHASES; i++) {
          const sentMs = performance.now();
          const reply = await server.post('/v1/purchases', { orderId: `h${++orderSeq}`, memberId: memberIdOf(orderSeq % members), amountCents: AMOUNT_CENTS });
          // The first round warms both paths up and is not counted.
          if (round > 0) samples[viaStandby ? 1 : 0]!.record(performance.now() - sentMs);
          if (reply.status !== 200) problems.push(`HTTP purchase through the ${viaStandby ? 'standby' : 'owner'}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`);
        }
      }
    }
    const [ownerP50, ownerP99] = samples[0]!.percentilesMs([0.5, 0.99]) as [number, number];
    const [standbyP50, standbyP99] = samples[1]!.percentilesMs([0.5, 0.99]) as [number, number];
    console.log(`| HTTP purchase latency, owner | p50 ${ownerP50.toFixed(2)} ms, p99 ${ownerP99.toFixed(2)} ms (${fmt(samples[0]!.count)} requests) |`);
    console.log(`| HTTP purchase latency, through the standby | p50 ${standbyP50.toFixed(2)} ms, p99 ${standbyP99.toFixed(2)} ms (${fmt(samples[1]!.count)} requests) |`);
    console.log(`| HTTP p50 standby ÷ owner | ${(standbyP50 / ownerP50).toFixed(3)} |`);

    const turn = async (viaStandby: boolean): Promise<WsLoadResult> => {
      const server = viaStandby ? standby : owner;
      return runWsLoad({
        url: server.streamUrl, authorization: `Bearer ${server.adminKey}`, terminals: TURN_STREAM.terminals, windowBatches: TURN_STREAM.windowBatches,
        batchOps: TURN_STREAM.batchOps, totalOps: opsPerTurn,
        op: () => ({ op: 'purchase', orderId: `s${++orderSeq}`, memberId: memberIdOf(orderSeq % members), amountCents: AMOUNT_CENTS }),
      });
    };
    await turn(false);
    await turn(true);
    await alternatingTurns(turns, turn, {
      turnLabels: ['owner       ', 'via standby '], problemLabels: ['owner', 'via standby'],
      meanLabels: ['stream purchases/s, owner', 'stream purchases/s, through the standby'], ratioLabel: 'stream standby ÷ owner',
    }, problems);
    const verify = (await owner.get('/v1/admin/verify')).body as { ok: boolean };
    console.log(`| verify, owner | ${verify.ok ? 'ok' : 'FAILED'} |`);
    if (!verify.ok) problems.push('verify on the owner failed');
  } finally {
    for (const server of servers.reverse()) await server.stop();
    await cluster?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
  for (const p of problems.slice(0, 20)) console.log(`PROBLEM: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
