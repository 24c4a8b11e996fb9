// The cluster-mode benchmark: the same POS stream load (purchases of random members, the load
// benchmark's terminals, window and batch size) against one engine node on its own and one in
// cluster mode, whose every batch is appended to its shard's three-replica stream before it is
// answered, on three nats-server processes started on loopback for the run. Turns alternate
// (single, cluster, cluster, single, …) so that both see the same machine; each turn's rate, the
// means and their ratio are printed. Then the append alone: one in flight after another (its
// latency) against CLUSTER_APPENDS_IN_FLIGHT_MAX in flight, with log values of the size the run
// wrote. Afterwards verify must be clean on both nodes and the streams must hold every entry of
// the cluster node's logs.
//
//   node dist/bench/cluster.js [--members N] [--ops N] [--turns N] [--shards N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { AppendPipeline } from '../engine/cluster/append-pipeline.js';
import { ReplicatedLog } from '../engine/cluster/fenced-append.js';
import { shardStream } from '../engine/cluster/shard-stream.js';
import { CLUSTER_APPENDS_IN_FLIGHT_MAX } from '../engine/limits.js';
import { logPosition } from '../engine/shard/batch-log.js';
import { openShardStore } from '../engine/shard/store.js';
import { answeringAs, ServerChild } from './server-child.js';
import { runWsLoad, type WsLoadResult } from './ws-client.js';
import { LatencySamples } from './http-client.js';
import { machineLine } from './machine.js';
import { NatsCluster, natsServerBin } from './nats-cluster.js';
import { alternatingTurns, importMembers, turnSettings, TURN_STREAM } from './alternating-turns.js';

const { quick, members, opsPerTurn, turns, shards } = turnSettings();
const { terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS } = TURN_STREAM;
/** Appends timed one after another, and appends sent through the pipeline, in the append measurement. */
const APPENDS = quick ? 200 : 2_000;
const AMOUNT_CENTS_MIN = 100;
const AMOUNT_CENTS_MAX = 50_000;
/** The engine node's id in cluster mode, and the deployment name the append measurement writes under (apart from the node's). */
const NODE_ID = 'bench-1';
const APPEND_DEPLOYMENT = 'benchappend';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const memberIdOf = (i: number): string => `bm${String(i).padStart(7, '0')}`;

/** Fixed-seed randomness, so that both kinds of turn buy for the same members in the same order. */
let seed = 12345;
const random = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };


/** How long a new cluster node may take to own the deployment before the run gives up. */
const OWNER_WAIT_MS = 20_000;

async function verified(name: string, server: ServerChild, problems: string[]): Promise<void> {
  const verify = (await server.get('/v1/admin/verify')).body as { ok: boolean; mismatches: unknown[] };
  console.log(`| verify, ${name} | ${verify.ok ? 'ok' : 'FAILED'} |`);
  if (!verify.ok) problems.push(`verify on the ${name}: ${JSON.stringify(verify.mismatches).slice(0, 500)}`);
}

/** Rounds of each kind in the append measurement, alternated (one, pipelined, pipelined, one) so that neither always goes first. */
const APPEND_ROUNDS = 2;

/**
 * The append alone, from this process on streams of its own: `APPENDS` appends one after another
 * (each waits for the one before it, as every shard did before pipelining), against as many through
 * the pipeline with its bound in flight, in alternating rounds.
 */
async function appendFigures(cluster: NatsCluster, valueBytes: number): Promise<void> {
  const nc = await cluster.connect('bench-append');
  try {
    const log = await ReplicatedLog.open(nc, APPEND_DEPLOYMENT, [0, 1], { nodeId: NODE_ID, term: 1 });
    const value = Buffer.alloc(valueBytes, 0x5a);
    const samples = new LatencySamples();
    const elapsedMs: [number, number] = [0, 0];
    let serialSeq = 0;
    let pipelinedSeq = 0;
    let peak = 0;
    for (let round = 0; round < APPEND_ROUNDS; round++) {
      for (const pipelined of round % 2 === 0 ? [false, true] : [true, false]) {
        const started = performance.now();
        if (pipelined) {
          const pipeline = new AppendPipeline(log, 1, pipelinedSeq, (fromSeq, toSeq) => Array.from({ length: toSeq - fromSeq + 1 }, () => value));
          await pipeline.through((pipelinedSeq += APPENDS));
          peak = Math.max(peak, pipeline.peakInFlight);
        } else {
          for (let i = 0; i < APPENDS; i++) {
            const sent = performance.now();
            await log.appendFenced(0, value, serialSeq++);
            samples.record(performance.now() - sent);
          }
        }
        elapsedMs[pipelined ? 1 : 0] += performance.now() - started;
      }
    }
    const [serialPerS, pipelinedPerS] = elapsedMs.map((ms) => (APPENDS * APPEND_ROUNDS) / (ms / 1000)) as [number, number];
    const [p50, p99] = samples.percentilesMs([0.5, 0.99]);
    console.log(`append of a ${fmt(valueBytes)}-byte log value, one in flight: p50 ${p50!.toFixed(2)} ms, p99 ${p99!.toFixed(2)} ms (${fmt(samples.count)} appends)`);
    console.log(`| appends/s, one in flight | ${fmt(serialPerS)} |`);
    console.log(`| appends/s, ${CLUSTER_APPENDS_IN_FLIGHT_MAX} in flight (peak ${peak}) | ${fmt(pipelinedPerS)} |`);
    console.log(`| ${CLUSTER_APPENDS_IN_FLIGHT_MAX} in flight ÷ one | ${(pipelinedPerS / serialPerS).toFixed(3)} |`);
  } finally {
    await nc.close();
  }
}

async function main(): Promise<number> {
  console.log(machineLine());
  const bin = natsServerBin();
  if (bin === null) throw new Error('bench:cluster needs nats-server (Debian package nats-server)');
  console.log(`cluster: ${shards} shards, ${fmt(members)} members, ${turns} turns of ${fmt(opsPerTurn)} purchases each kind, ` +
    `stream ${TERMINALS} terminals × ${WINDOW_BATCHES} window × ${BATCH_OPS} ops; three nats-server processes (${bin}) on loopback, streams of three replicas`);
  const problems: string[] = [];
  const dirs = [mkdtempSync(join(tmpdir(), 'loyalty-bench-single-')), mkdtempSync(join(tmpdir(), 'loyalty-bench-cluster-'))];
  let cluster: NatsCluster | null = null;
  const servers: ServerChild[] = [];
  try {
    cluster = await NatsCluster.start(3);
    const env = { LOYALTY_SHARDS: String(shards) };
    const single = new ServerChild({ dataDir: dirs[0]!, env });
    const clustered = new ServerChild({ dataDir: dirs[1]!, env: { ...env, LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: NODE_ID } });
    servers.push(single, clustered);
    for (const server of servers) {
      await server.start();
      // A cluster node answers not_owner until it holds the deployment's owner record (at once when the record is vacant).
      await answeringAs(server, false, OWNER_WAIT_MS);
      await importMembers(server, members, memberIdOf);
    }
    let orderSeq = 0;
    const turn = async (inCluster: boolean): Promise<WsLoadResult> => {
      const server = inCluster ? clustered : single;
      return runWsLoad({
        url: server.streamUrl, authorization: `Bearer ${server.adminKey}`, terminals: TERMINALS, windowBatches: WINDOW_BATCHES, batchOps: BATCH_OPS, totalOps: opsPerTurn,
        op: () => ({
          op: 'purchase', orderId: `o${++orderSeq}`, memberId: memberIdOf(Math.floor(random() * members)),
          amountCents: AMOUNT_CENTS_MIN + Math.floor(random() * (AMOUNT_CENTS_MAX - AMOUNT_CENTS_MIN)),
        }),
      });
    };
    // An uncounted warm-up of each, past the JIT.
    await turn(false);
    await turn(true);
    await alternatingTurns(turns, turn, {
      turnLabels: ['single node ', 'cluster mode'], problemLabels: ['single node', 'cluster mode'],
      meanLabels: ['single node purchases/s', 'cluster mode purchases/s'], ratioLabel: 'cluster ÷ single',
    }, problems);
    for (const [name, server] of [['single node', single], ['cluster node', clustered]] as const) await verified(name, server, problems);

    // Every entry of the cluster node's logs is in its shard's stream: the node answered nothing unreplicated.
    for (const server of servers) await server.stop();
    const [singleEntries, logEntries] = [await logEntriesOf(dirs[0]!), await logEntriesOf(dirs[1]!)];
    // Both took the same ops: a node whose replies wait longer gathers more of them into each batch.
    const opsTaken = members + (turns + 1) * opsPerTurn;
    console.log(`batches committed (log entries): single node ${fmt(singleEntries)} (${fmt(opsTaken / singleEntries)} ops each), cluster node ${fmt(logEntries)} (${fmt(opsTaken / logEntries)} ops each)`);
    const nc = await cluster.connect('bench-inspect');
    let messages = 0;
    let bytes = 0;
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      for (let shard = 0; shard < shards; shard++) {
        const state = (await jsm.streams.info(shardStream('main', shard).name)).state;
        messages += state.messages;
        bytes += state.bytes;
      }
    } finally {
      await nc.close();
    }
    console.log(`streams: ${fmt(messages)} messages, ${fmt(bytes)} bytes (${fmt(bytes / Math.max(messages, 1))} per message); the cluster node's logs: ${fmt(logEntries)} entries`);
    if (messages !== logEntries) problems.push(`the streams hold ${messages} messages, the cluster node's logs ${logEntries} entries`);
    await appendFigures(cluster, Math.round(bytes / Math.max(messages, 1)));
  } finally {
    for (const server of servers) await server.stop();
    await cluster?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

/** The log entries of every shard of a stopped node's data folder. */
async function logEntriesOf(dataDir: string): Promise<number> {
  let entries = 0;
  for (let shard = 0; shard < shards; shard++) {
    const store = openShardStore(join(dataDir, `shard-${shard}`), { readOnly: true });
    try {
      entries += logPosition(store).seq;
    } finally {
      await store.root.close();
    }
  }
  return entries;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
