// The cluster chaos run: three nats-server processes and three engine nodes on loopback, POS
// terminals and back-office clients sending registrations, purchases, returns, top-ups,
// withdrawals, transfers between members of different shards and point adjustments at any node,
// while the owner of the deployment is killed with SIGKILL three times (and restarted as a
// standby), one NATS server is killed and restarted, a fourth engine node joins, and the owner is
// drained once (a planned hand-over without a stop) and undrained later. Afterwards it
// proves, printing each check: every op has a final answer, nothing acknowledged is lost, nothing
// applied twice, money conserved to the cent, points equal to their ledger, verify clean on every
// node, and every replica's books identical database by database. It prints the failover times
// (kill to the first answer from the new owner), the drain's answer and hand-over times and the
// ops per second, and exits 1 on any failure.
//
//   node dist/bench/cluster-chaos.js [--quick] [--seed N]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { OwnerLease, ownersStream } from '../engine/cluster/owner-lease.js';
import { shardStream } from '../engine/cluster/shard-stream.js';
import { SKIPPED_ENTRIES_READ_FROM_LEADER } from '../engine/shard/standby.js';
import { CLAIM_DEFERRED } from '../engine/cluster/owner-election.js';
import { hashId } from '../engine/router/member-hash.js';
import { logPosition } from '../engine/shard/batch-log.js';
import { diffStores } from '../engine/shard/store-diff.js';
import { openShardStore } from '../engine/shard/store.js';
import { ChaosHttpClient, ChaosStreamTerminal, type ChaosNodeAddress } from './chaos-terminal.js';
import { endsFailover, expectedBooks, httpRequestOf, streamOpOf, type ChaosKind, type ChaosOp, type MemberFigures, type PendingKill } from './chaos-model.js';
import { freePort } from './free-port.js';
import { machineLine } from './machine.js';
import { NatsCluster, natsServerBin } from './nats-cluster.js';
import { prng } from './prng.js';
import { PACKAGE_ROOT, ServerChild } from './server-child.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const seedArg = args.indexOf('--seed');
const SEED = seedArg === -1 ? 21 : Number(args[seedArg + 1]);
const SHARDS = quick ? 2 : 4;
const MEMBERS = quick ? 48 : 240;
const STREAM_TERMINALS = quick ? 2 : 4;
const HTTP_CLIENTS = quick ? 2 : 4;
const BATCH_OPS = quick ? 10 : 25;
/** The most ops the run sends; the load stops earlier once the chaos script is over. */
const OPS_MAX = quick ? 20_000 : 200_000;
/** How long a killed node stays down before it is started again (a machine that reboots). */
const DOWN_MS = quick ? 2_000 : 4_000;
/** How long the load runs between two chaos events, so that each new owner takes writes. */
const CALM_MS = quick ? 1_500 : 6_000;
/** The whole run's bound: past it the load gives up and the run fails. */
const RUN_DEADLINE_MS = quick ? 150_000 : 600_000;
/** The failover the issue asks for, NATS's own election included. */
const FAILOVER_MAX_MS = 10_000;
/** What a shard logs when its copy is moved aside and rebuilt from the stream (engine/shard/worker.ts rebuildCopy). */
const COPY_REBUILT = 'it was moved aside and is rebuilt from the stream';
/** A failover or drain slower than this prints every node's cluster lines and warnings since the kill or drain, to say why. */
const SLOW_FAILOVER_MS = 6_000;
const SLOW_FAILOVER_LINES_MAX = 60;
const SLOW_FAILOVER_LINE_CHARS = 400;
/** How long a node may take to own, stand by, or catch up with the streams. */
const NODE_WAIT_MS = 30_000;
/** How long transfers' credits to other shards may take to land after the load stops. */
const SETTLE_MS = 15_000;
const DEPLOYMENT = 'chaos';
const KILLS = 3;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const memberIdOf = (i: number): string => `cm${String(i).padStart(4, '0')}`;

/** One engine node: its id, folder, fixed port (a restart listens where its clients look) and process. */
interface ChaosNode {
  index: number; nodeId: string; dataDir: string; port: number; server: ServerChild; restarts: number;
  /** Set while the harness itself stops or kills the node: any other exit is the node stopping on its own. */
  planned: boolean;
  /** How many times a standby shard of this node read entries its consumer skipped from the stream's leader. */
  skippedReads: () => number;
  /** How many times a shard copy of this node was moved aside and rebuilt from its stream's first entry (a killed owner's copy held an entry the stream did not). */
  rebuilds: () => number;
  /** How many times this node, its copies lagging, left an expired or vacant owner record to a level standby for a while. */
  deferredClaims: () => number;
}

const checks: Array<{ name: string; ok: boolean; detail: string }> = [];
function check(name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail });
  console.log(`| ${ok ? 'pass' : 'FAIL'} | ${name} | ${detail} |`);
}

/**
 * Starts a node's process and watches it as a supervisor would: a node that stops on its own (an
 * owner whose step-down in place failed, a failed takeover) is logged and started again after
 * DOWN_MS, as its supervisor would; it then stands by. An owner that steps down in place stays up
 * and is only counted (its log's step-down lines, at the end of the run).
 */
async function launch(run: Run, node: ChaosNode): Promise<void> {
  node.planned = false;
  await node.server.start();
  const child = node.server.child;
  void node.server.exited.then(({ code, signal }) => {
    if (node.planned || run.finishing || node.server.child !== child) return;
    const fatal = node.server.logs.filter((l) => l.includes('"level":60')).map(fatalText).slice(-1)[0] ?? '(no fatal line)';
    run.selfStops.push(`${node.nodeId} at ${((Date.now() - run.startedMs) / 1000).toFixed(1)} s (${code ?? signal}): ${fatal.slice(0, 300)}`);
    console.log(`chaos: ${elapsedS(run)} s: ${node.nodeId} stopped on its own (${code ?? signal}): ${fatal.slice(0, 300)}; restarted in ${fmt(DOWN_MS)} ms`);
    node.server.child = null;
    setTimeout(() => { if (!run.finishing) launch(run, node).catch((err: unknown) => run.selfStops.push(`${node.nodeId} failed to restart: ${String(err).slice(0, 300)}`)); }, DOWN_MS);
  });
}

/** A fatal log line's message and its error's message. */
function fatalText(line: string): string {
  try {
    const rec = JSON.parse(line) as { msg?: string; err?: { message?: string } };
    return `${rec.msg ?? ''}${rec.err?.message === undefined ? '' : ` (${rec.err.message})`}`;
  } catch {
    return line;
  }
}

async function startNode(cluster: NatsCluster, run: Run, root: string): Promise<ChaosNode> {
  const nodes = run.nodes;
  const index = nodes.length;
  const dataDir = join(root, `node-${index + 1}`);
  const port = await freePort();
  const server = new ServerChild({
    dataDir, env: {
      PORT: String(port), LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: `node-${index + 1}`, LOYALTY_DEPLOYMENT: DEPLOYMENT,
      LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_HTTP_ADDRESS: `http://127.0.0.1:${port}`,
    },
  });
  const node: ChaosNode = { index, nodeId: `node-${index + 1}`, dataDir, port, server, restarts: 0, planned: false, skippedReads: server.countLines(SKIPPED_ENTRIES_READ_FROM_LEADER),
    rebuilds: server.countLines(COPY_REBUILT), deferredClaims: server.countLines(CLAIM_DEFERRED) };
  nodes.push(node);
  await launch(run, node);
  // Keys are the deployment's: a node that joined has no admin.key, and takes the first node's.
  if (node.server.adminKey === '') node.server.adminKey = nodes[0]!.server.adminKey;
  return node;
}

/** The node the owner record names, polled until one is named and answers as the owner. */
async function ownerOf(lease: OwnerLease, nodes: readonly ChaosNode[], notNodeId: string | null, timeoutMs: number): Promise<ChaosNode> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const record = await lease.read().then((view) => view.record, () => null);
    const node = nodes.find((n) => n.nodeId === record?.nodeId && n.nodeId !== notNodeId && n.server.running);
    if (node !== undefined) {
      const reply = await node.server.get('/v1/program').catch(() => null);
      if (reply !== null && reply.status === 200) return node;
    }
    if (Date.now() > deadlineMs) {
      throw new Error(`no node owned the deployment within ${timeoutMs} ms (record ${JSON.stringify(record)}); last lines of the running nodes: ` +
        nodes.map((n) => `${n.nodeId} (running ${n.server.running}): ${n.server.logs.slice(-5).join(' ').slice(-1_500)}`).join(' | '));
    }
    await pause(50);
  }
}

/** Waits until `node` stands by: running, not named by the owner record, answering its health check. */
async function standingBy(lease: OwnerLease, node: ChaosNode, timeoutMs: number): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const record = await lease.read().then((view) => view.record, () => null);
    const health = await node.server.get('/healthz').catch(() => null);
    if (record !== null && record.nodeId !== node.nodeId && health?.status === 200) return;
    if (Date.now() > deadlineMs) throw new Error(`${node.nodeId} did not stand by within ${timeoutMs} ms: ${node.server.logs.join('\n').slice(-2_000)}`);
    await pause(100);
  }
}

/**
 * Waits until every stream of the deployment has a leader and counts each of its replicas current:
 * a NATS server that came back has caught up. The next owner kill waits for it, so that a failover
 * is measured on a healed NATS cluster (a kill during the catch-up is a harsher case, see docs/cluster.md).
 */
async function natsHealed(jsm: JetStreamManager, timeoutMs: number): Promise<number> {
  const startedMs = Date.now();
  const names = [...Array.from({ length: SHARDS }, (_, shard) => shardStream(DEPLOYMENT, shard).name), ownersStream(DEPLOYMENT).name];
  for (;;) {
    const healed = await Promise.all(names.map(async (name) => {
      const info = await jsm.streams.info(name).catch(() => null);
      const replicas = info?.cluster?.replicas ?? [];
      return info !== null && (info.cluster?.leader ?? '') !== '' && replicas.length === 2 && replicas.every((r) => r.current && !r.offline);
    }));
    if (healed.every(Boolean)) return Date.now() - startedMs;
    if (Date.now() - startedMs > timeoutMs) throw new Error(`the deployment's streams did not heal within ${timeoutMs} ms`);
    await pause(200);
  }
}

/** Each shard stream's last sequence. */
async function streamEnds(jsm: JetStreamManager): Promise<number[]> {
  return Promise.all(Array.from({ length: SHARDS }, async (_, shard) => (await jsm.streams.info(shardStream(DEPLOYMENT, shard).name)).state.last_seq));
}

/** Each shard's log position in a node's copy, read beside the running node. */
function copyEnds(node: ChaosNode): number[] {
  return Array.from({ length: SHARDS }, (_, shard) => {
    const store = openShardStore(join(node.dataDir, `shard-${shard}`), { readOnly: true });
    try { return logPosition(store).seq; } finally { void store.root.close(); }
  });
}

/** Waits until every node's copy holds exactly what the streams hold. */
async function caughtUp(jsm: JetStreamManager, nodes: readonly ChaosNode[], timeoutMs: number): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const ends = JSON.stringify(await streamEnds(jsm));
    const behind = nodes.filter((n) => JSON.stringify(copyEnds(n)) !== ends);
    if (behind.length === 0) return;
    if (Date.now() > deadlineMs) throw new Error(`copies behind the streams ${ends}: ${behind.map((n) => `${n.nodeId} ${JSON.stringify(copyEnds(n))}`).join(', ')}`);
    await pause(200);
  }
}

/** A worker's own members and what it knows of them, to choose ops that mostly succeed. */
class OpSource {
  private n = 0;
  private readonly walletCents = new Map<string, number>();
  private readonly returnable: ChaosOp[] = [];
  constructor(private readonly name: string, readonly memberIds: readonly string[], private readonly all: readonly string[], private readonly random: () => number) {}

  private pick<T>(list: readonly T[]): T { return list[Math.floor(this.random() * list.length)]!; }
  private cents(min: number, max: number): number { return min + Math.floor(this.random() * (max - min)); }

  next(via: ChaosOp['via']): ChaosOp {
    const key = `${this.name}-${++this.n}`;
    const memberId = this.pick(this.memberIds);
    const wallet = this.walletCents.get(memberId) ?? 0;
    const roll = this.random();
    const base = { memberId, points: 0, answer: null, via } as const;
    if (roll < 0.1 && this.returnable.length > 0) {
      const order = this.returnable.splice(Math.floor(this.random() * this.returnable.length), 1)[0]!;
      return { ...base, kind: 'return', key: `r${key}`, memberId: order.memberId, orderId: order.key, amountCents: Math.max(1, Math.floor(order.amountCents / 2)) };
    }
    if (roll < 0.4) return { ...base, kind: 'purchase', key: `o${key}`, amountCents: this.cents(100, 30_000) };
    if (roll < 0.6 || wallet < 200) return { ...base, kind: 'topup', key: `t${key}`, amountCents: this.cents(500, 20_000) };
    if (roll < 0.7) return { ...base, kind: 'withdraw', key: `w${key}`, amountCents: this.cents(1, Math.min(wallet, 5_000)) };
    if (roll < 0.88) {
      // Transfers go to a member of another shard, so that every one crosses shards.
      const shard = hashId(memberId) % SHARDS;
      const others = this.all.filter((id) => hashId(id) % SHARDS !== shard);
      return { ...base, kind: 'transfer', key: `x${key}`, toMemberId: this.pick(others), amountCents: this.cents(1, Math.min(wallet, 3_000)) };
    }
    return { ...base, kind: 'adjust', key: `a${key}`, amountCents: 0, points: this.random() < 0.8 ? this.cents(1, 500) : -this.cents(1, 20) };
  }

  /** Learns from a final answer what the next ops may spend or return. */
  learn(op: ChaosOp): void {
    if (op.answer === null || !op.answer.ok) return;
    const wallet = op.answer.body['walletBalanceCents'] ?? op.answer.body['walletCents'];
    if (op.kind !== 'purchase' && op.kind !== 'return' && typeof wallet === 'number') this.walletCents.set(op.memberId, wallet);
    if (op.kind === 'purchase') this.returnable.push(op);
  }
}

interface Run {
  ops: ChaosOp[];
  nodes: ChaosNode[];
  addresses: () => ChaosNodeAddress[];
  stop: boolean;
  /** Set once the run stops its nodes itself: no more restarts. */
  finishing: boolean;
  startedMs: number;
  deadlineMs: number;
  /** Nodes that stopped on their own, with their last fatal log line. */
  selfStops: string[];
  /** The last kill whose failover is not measured yet. */
  kill: PendingKill | null;
  failoversMs: number[];
  /** The last final answer's time, and the longest time without any (when it ended, in s from the start). */
  lastAnswerMs: number;
  longestGap: { ms: number; endedAtS: number };
  /** The node that answered first after each kill. */
  failoverNodes: number[];
  /** The planned drain of the owner: its figures once measured, and its state when checked. */
  drain: PlannedDrain | null;
}

/** What the run saw of its planned drain of the owner. */
interface PlannedDrain {
  nodeId: string;
  /** The drain request's answer time, and the drain's start to the first answer from the new owner. */
  answerMs: number; handOverMs: number; newOwnerId: string;
  /** Seconds from the load's start when the drain was asked for and when the node was undrained. */
  atS: number; undrainedAtS: number | null;
  /** Why the drained node was seen not drained, or owning, between its drain and its undrain ('' while it held). */
  fault: string;
}

/** Seconds since the load started, for the chaos events' lines. */
const elapsedS = (run: Run): string => ((Date.now() - run.startedMs) / 1000).toFixed(1);

function onAnswer(run: Run, nodeIndex: number, atMs: number, sentAtMs: number): void {
  if (run.lastAnswerMs > 0 && atMs - run.lastAnswerMs > run.longestGap.ms) run.longestGap = { ms: atMs - run.lastAnswerMs, endedAtS: (atMs - run.startedMs) / 1000 };
  run.lastAnswerMs = Math.max(run.lastAnswerMs, atMs);
  if (run.kill !== null && endsFailover(run.kill, nodeIndex, sentAtMs)) {
    run.failoversMs.push(atMs - run.kill.atMs);
    run.failoverNodes.push(nodeIndex);
    run.kill = null;
  }
}

async function streamWorker(run: Run, source: OpSource, terminal: ChaosStreamTerminal): Promise<void> {
  // Registrations first, a batch at a time: every later op needs its member.
  const registrations = source.memberIds.map((memberId): ChaosOp => ({ kind: 'register', key: memberId, memberId, amountCents: 0, points: 0, answer: null, via: 'stream' }));
  for (let i = 0; i < registrations.length; i += BATCH_OPS) await sendStream(run, terminal, registrations.slice(i, i + BATCH_OPS), source);
  while (!run.stop && run.ops.length < OPS_MAX) {
    await sendStream(run, terminal, Array.from({ length: BATCH_OPS }, () => source.next('stream')), source);
  }
}

async function sendStream(run: Run, terminal: ChaosStreamTerminal, batch: ChaosOp[], source: OpSource): Promise<void> {
  run.ops.push(...batch);
  const results = await terminal.send(batch.map(streamOpOf), run.deadlineMs);
  batch.forEach((op, i) => {
    const r = results[i]!;
    op.answer = r.ok ? { ok: true, body: r as Record<string, unknown> } : { ok: false, code: r.error.code };
    source.learn(op);
  });
}

async function httpWorker(run: Run, source: OpSource, client: ChaosHttpClient): Promise<void> {
  const send = async (op: ChaosOp): Promise<void> => {
    run.ops.push(op);
    const { path, body } = httpRequestOf(op);
    op.answer = await client.post(path, body, run.deadlineMs);
    source.learn(op);
  };
  for (const memberId of source.memberIds) await send({ kind: 'register', key: memberId, memberId, amountCents: 0, points: 0, answer: null, via: 'http' });
  while (!run.stop && run.ops.length < OPS_MAX) await send(source.next('http'));
}

/** Every node's cluster lines and warnings since `sinceMs`, time-ordered: what a slow failover is read from. */
function printClusterLines(run: Run, sinceMs: number): void {
  const lines: Array<{ atMs: number; text: string }> = [];
  for (const node of run.nodes) {
    for (const line of node.server.clusterLogs) {
      let atMs = 0;
      try { atMs = (JSON.parse(line) as { time?: number }).time ?? 0; } catch { continue; }
      if (atMs >= sinceMs) lines.push({ atMs, text: `${node.nodeId} +${fmt(atMs - sinceMs)} ms: ${line.slice(0, SLOW_FAILOVER_LINE_CHARS)}` });
    }
  }
  lines.sort((a, b) => a.atMs - b.atMs);
  for (const { text } of lines.slice(0, SLOW_FAILOVER_LINES_MAX)) console.log(`  ${text}`);
}

/**
 * The new owner's takeover since `sinceMs` as its log tells it: its whole takeover, and each
 * shard's standby stop and levelling with the stream (engine/shard/worker.ts), the slowest first.
 */
function takeoverOf(node: ChaosNode, sinceMs: number): string {
  let wholeMs: number | null = null;
  const shards: Array<{ shard: number; standbyStopMs: number; levelMs: number }> = [];
  for (const line of node.server.clusterLogs) {
    for (const one of line.split('\n')) {
      let rec: { time?: number; msg?: string; takeOverMs?: number; shard?: number; standbyStopMs?: number; levelMs?: number };
      try { rec = JSON.parse(one) as typeof rec; } catch { continue; }
      if ((rec.time ?? 0) < sinceMs) continue;
      if (rec.msg === 'cluster: this node owns the deployment' && rec.takeOverMs !== undefined) wholeMs = rec.takeOverMs;
      if (rec.msg === 'cluster: shard taken over') shards.push({ shard: rec.shard ?? -1, standbyStopMs: rec.standbyStopMs ?? 0, levelMs: rec.levelMs ?? 0 });
    }
  }
  shards.sort((a, b) => (b.standbyStopMs + b.levelMs) - (a.standbyStopMs + a.levelMs));
  return `takeover ${wholeMs === null ? '?' : fmt(wholeMs)} ms; by shard (standby stop + levelling): ${shards.map((s) => `${s.shard}: ${fmt(s.standbyStopMs)} + ${fmt(s.levelMs)} ms`).join(', ')}`;
}

/** What a node's `GET /v1/admin/cluster` says of it and of the owner, or why it could not be read. */
async function clusterStatus(node: ChaosNode): Promise<{ role: string; ownerId: string | null } | string> {
  const reply = await node.server.get('/v1/admin/cluster').catch((err: unknown) => String(err));
  if (typeof reply === 'string') return `${node.nodeId}'s status: ${reply}`;
  if (reply.status !== 200) return `${node.nodeId}'s status: ${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`;
  return { role: reply.body.role, ownerId: reply.body.owner?.nodeId ?? null };
}

/**
 * The planned drain of the owner (`POST /v1/admin/cluster/drain` on the owning node, the admin
 * key): the drain's answer time, and the hand-over from the drain's start to the first answer from
 * the new owner (the node the record names answering a read itself, as a failover is measured).
 * The drained node stays up and keeps its clients, which it now forwards.
 */
async function drainOwner(run: Run, lease: OwnerLease): Promise<ChaosNode> {
  const owner = await ownerOf(lease, run.nodes, null, NODE_WAIT_MS);
  const atS = (Date.now() - run.startedMs) / 1000;
  const startedMs = Date.now();
  const reply = await owner.server.request('POST', '/v1/admin/cluster/drain');
  const answerMs = Date.now() - startedMs;
  if (reply.status !== 200 || reply.body.role !== 'drained') throw new Error(`the drain of ${owner.nodeId} was answered ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
  const next = await ownerOf(lease, run.nodes, owner.nodeId, FAILOVER_MAX_MS * 2);
  const handOverMs = Date.now() - startedMs;
  run.drain = { nodeId: owner.nodeId, answerMs, handOverMs, newOwnerId: next.nodeId, atS, undrainedAtS: null, fault: '' };
  console.log(`chaos: ${elapsedS(run)} s: drain: ${owner.nodeId} drained (answered in ${fmt(answerMs)} ms), ${next.nodeId} owns ${fmt(handOverMs)} ms after the drain was asked for`);
  console.log(`  ${next.nodeId}'s ${takeoverOf(next, startedMs)}`);
  if (handOverMs > SLOW_FAILOVER_MS) printClusterLines(run, startedMs);
  await drainHolds(run, lease, owner);
  return owner;
}

/** Notes in the run's drain a moment the drained node was not drained or owned the deployment. */
async function drainHolds(run: Run, lease: OwnerLease, node: ChaosNode): Promise<void> {
  if (run.drain === null || run.drain.fault !== '') return;
  const status = await clusterStatus(node);
  const record = await lease.read().then((view) => view.record, () => null);
  if (typeof status === 'string') run.drain.fault = status;
  else if (status.role !== 'drained') run.drain.fault = `${node.nodeId} reports role ${status.role} at ${elapsedS(run)} s`;
  else if (record?.nodeId === node.nodeId) run.drain.fault = `the owner record names ${node.nodeId} at ${elapsedS(run)} s`;
}

/** Undrains the drained node, after checking it is still drained and not the owner; it stands by again, so it may own later. */
async function undrain(run: Run, lease: OwnerLease, node: ChaosNode): Promise<void> {
  await drainHolds(run, lease, node);
  const reply = await node.server.request('POST', '/v1/admin/cluster/undrain');
  if (reply.status !== 200 || reply.body.role !== 'standby') throw new Error(`the undrain of ${node.nodeId} was answered ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
  await standingBy(lease, node, NODE_WAIT_MS);
  if (run.drain !== null) run.drain.undrainedAtS = (Date.now() - run.startedMs) / 1000;
  console.log(`chaos: ${elapsedS(run)} s: drain: ${node.nodeId} undrained, stands by`);
}

/** The chaos script: three owner kills, one NATS server killed, a fourth node added, the owner drained and later undrained, each between calm spells of load. */
async function chaos(run: Run, cluster: NatsCluster, jsm: JetStreamManager, lease: OwnerLease, root: string): Promise<void> {
  const killOwner = async (k: number): Promise<void> => {
    const owner = await ownerOf(lease, run.nodes, null, NODE_WAIT_MS);
    const atMs = Date.now();
    run.kill = { nodeIndex: owner.index, atMs };
    owner.planned = true;
    await owner.server.kill();
    const next = await ownerOf(lease, run.nodes, owner.nodeId, FAILOVER_MAX_MS * 2);
    const ownedMs = Date.now() - atMs;
    console.log(`chaos: ${elapsedS(run)} s: owner kill ${k}: ${owner.nodeId} killed with SIGKILL, ${next.nodeId} owns ${fmt(ownedMs)} ms later`);
    console.log(`  ${next.nodeId}'s ${takeoverOf(next, atMs)}`);
    if (ownedMs > SLOW_FAILOVER_MS) printClusterLines(run, atMs);
    await pause(Math.max(0, DOWN_MS - (Date.now() - atMs)));
    owner.restarts += 1;
    await launch(run, owner);
    await standingBy(lease, owner, NODE_WAIT_MS);
    console.log(`chaos: ${elapsedS(run)} s: ${owner.nodeId} restarted, stands by`);
  };
  await pause(CALM_MS);
  await killOwner(1);
  await pause(CALM_MS);
  const added = await startNode(cluster, run, root);
  await standingBy(lease, added, NODE_WAIT_MS);
  console.log(`chaos: ${elapsedS(run)} s: ${added.nodeId} added, stands by`);
  await pause(CALM_MS);
  const drained = await drainOwner(run, lease);
  await pause(CALM_MS);
  const natsIndex = 1;
  const natsKilledAtMs = Date.now();
  await cluster.kill(natsIndex);
  console.log(`chaos: ${elapsedS(run)} s: nats server ${cluster.nodes[natsIndex]!.name} killed with SIGKILL`);
  await pause(DOWN_MS);
  cluster.startNode(natsIndex);
  await cluster.waitReady();
  console.log(`chaos: ${elapsedS(run)} s: nats server ${cluster.nodes[natsIndex]!.name} restarted, cluster ready ${fmt(Date.now() - natsKilledAtMs)} ms after the kill`);
  const healMs = await natsHealed(jsm, NODE_WAIT_MS);
  console.log(`chaos: ${elapsedS(run)} s: every stream's replicas current again ${fmt(healMs)} ms later`);
  await undrain(run, lease, drained);
  await pause(CALM_MS);
  await killOwner(2);
  await pause(CALM_MS);
  await killOwner(3);
  await pause(CALM_MS);
}

/** Reads every page of a member's ledger from a node. */
async function ledgerOf(node: ChaosNode, memberId: string): Promise<Array<{ kind: string; ref: string; pointsDelta: number; walletDeltaCents: number }>> {
  const entries: Array<{ kind: string; ref: string; pointsDelta: number; walletDeltaCents: number }> = [];
  let cursor: string | null = null;
  do {
    const reply = await node.server.get(`/v1/members/${memberId}/ledger?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    if (reply.status !== 200) throw new Error(`ledger of ${memberId}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
    entries.push(...reply.body.entries);
    cursor = reply.body.nextCursor;
  } while (cursor !== null);
  return entries;
}

async function figuresOf(node: ChaosNode, memberIds: readonly string[]): Promise<Map<string, MemberFigures>> {
  const figures = new Map<string, MemberFigures>();
  for (const id of memberIds) {
    const reply = await node.server.get(`/v1/members/${id}`);
    if (reply.status !== 200) throw new Error(`member ${id}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
    figures.set(id, { points: reply.body.points, walletCents: reply.body.walletCents, purchaseCount: reply.body.purchaseCount });
  }
  return figures;
}

/** The proofs read from the owner while it runs: answers, books, figures and totals. */
async function proveBooks(run: Run, owner: ChaosNode, memberIds: readonly string[]): Promise<void> {
  const unanswered = run.ops.filter((op) => op.answer === null);
  check('every op has a final answer', unanswered.length === 0, `${fmt(run.ops.length)} ops, ${unanswered.length} without an answer`);
  const refused = run.ops.filter((op) => op.answer !== null && !op.answer.ok);
  const refusedCodes = new Map<string, number>();
  for (const op of refused) { const code = (op.answer as { code: string }).code; refusedCodes.set(code, (refusedCodes.get(code) ?? 0) + 1); }
  const unexpected = refused.filter((op) => ['internal', 'unauthorized', 'invalid', 'not_found'].includes((op.answer as { code: string }).code));
  check('no op refused for a reason other than a business rule', unexpected.length === 0,
    `refusals by code: ${JSON.stringify(Object.fromEntries(refusedCodes))}${unexpected.length > 0 ? `; first: ${unexpected[0]!.kind} ${unexpected[0]!.key}` : ''}`);

  // Expected figures, compared until transfers' credits to other shards have landed.
  const expected = expectedBooks(memberIds, run.ops);
  let actual = await figuresOf(owner, memberIds);
  const differing = (): string[] => memberIds.filter((id) => JSON.stringify(actual.get(id)) !== JSON.stringify(expected.members.get(id)));
  const settleDeadlineMs = Date.now() + SETTLE_MS;
  while (differing().length > 0 && Date.now() < settleDeadlineMs) { await pause(250); actual = await figuresOf(owner, memberIds); }
  const off = differing();
  check('nothing applied twice, nothing lost: every member\'s points, wallet and purchase count equal the answers\' effects', off.length === 0,
    off.length === 0 ? `${memberIds.length} members` : `${off.length} differ; first ${off[0]}: engine ${JSON.stringify(actual.get(off[0]!))}, expected ${JSON.stringify(expected.members.get(off[0]!))}`);

  // Every acknowledged op is in the books under its key, once; no refused op is.
  const refs = new Map<string, number>();
  let ledgerPoints = 0;
  let ledgerWallet = 0;
  let pointsMismatch = '';
  for (const id of memberIds) {
    const entries = await ledgerOf(owner, id);
    const points = entries.reduce((s, e) => s + e.pointsDelta, 0);
    const wallet = entries.reduce((s, e) => s + e.walletDeltaCents, 0);
    ledgerPoints += points;
    ledgerWallet += wallet;
    const member = actual.get(id)!;
    if (pointsMismatch === '' && (points !== member.points || wallet !== member.walletCents)) pointsMismatch = `${id}: ledger ${points} points ${wallet} cents, member ${member.points} points ${member.walletCents} cents`;
    for (const e of entries) refs.set(`${id}|${e.kind}|${e.ref}`, (refs.get(`${id}|${e.kind}|${e.ref}`) ?? 0) + 1);
  }
  const twice = [...refs].filter(([, n]) => n > 1);
  check('no ledger entry twice under one key', twice.length === 0, twice.length === 0 ? `${fmt(refs.size)} distinct (member, kind, key) entries` : `${twice.length} twice; first ${twice[0]![0]} ×${twice[0]![1]}`);
  // Ops with a requestId leave ledger entries whose ref is `req:<requestId>`; a transfer leaves one on each side.
  const entriesOf = (op: ChaosOp): string[] => {
    const ref = `req:${op.key}`;
    if (op.kind === 'transfer') return [`${op.memberId}|transfer_out|${ref}`, `${op.toMemberId}|transfer_in|${ref}`];
    return [`${op.memberId}|${op.kind}|${ref}`];
  };
  const keyed = (op: ChaosOp): boolean => op.kind === 'topup' || op.kind === 'withdraw' || op.kind === 'adjust' || op.kind === 'transfer';
  const lost = run.ops.filter((op) => op.answer?.ok === true && keyed(op) && entriesOf(op).some((k) => refs.get(k) !== 1));
  const refsInBooks = new Set([...refs.keys()].map((k) => k.split('|')[2]));
  const ghost = run.ops.filter((op) => op.answer?.ok === false && keyed(op) && refsInBooks.has(`req:${op.key}`));
  let ordersLost = 0;
  let returnsLost = 0;
  for (const op of run.ops) {
    if (op.answer?.ok !== true || (op.kind !== 'purchase' && op.kind !== 'return')) continue;
    const reply = await owner.server.get(`/v1/orders/${op.kind === 'purchase' ? op.key : op.orderId}`);
    if (reply.status !== 200 || reply.body.memberId !== op.memberId) { if (op.kind === 'purchase') ordersLost += 1; else returnsLost += 1; continue; }
    if (op.kind === 'purchase' && reply.body.amountCents !== op.amountCents) ordersLost += 1;
    if (op.kind === 'return' && !reply.body.returns.some((r: { returnId: string }) => r.returnId === op.key)) returnsLost += 1;
  }
  const acked = run.ops.filter((op) => op.answer?.ok === true).length;
  check('nothing acknowledged lost: every op answered ok is in the books under its key', lost.length + ordersLost + returnsLost === 0,
    `${fmt(acked)} acknowledged; missing: ${lost.length} ledger keys${lost.length > 0 ? ` (first ${lost[0]!.kind} ${lost[0]!.key})` : ''}, ${ordersLost} orders, ${returnsLost} returns`);
  check('no refused op in the books', ghost.length === 0, ghost.length === 0 ? `${refused.length} refused` : `${ghost.length}; first ${ghost[0]!.kind} ${ghost[0]!.key}`);

  const walletSum = [...actual.values()].reduce((s, m) => s + m.walletCents, 0);
  const moneyIn = expected.totals.topupCents + expected.totals.refundedCents - expected.totals.withdrawnCents;
  check('money conserved to the cent: wallets = top-ups - withdrawals (transfers net zero)', walletSum === moneyIn && ledgerWallet === walletSum,
    `wallets ${fmt(walletSum)} cents, ledger ${fmt(ledgerWallet)}, top-ups ${fmt(expected.totals.topupCents)} - withdrawals ${fmt(expected.totals.withdrawnCents)} + refunds ${fmt(expected.totals.refundedCents)} = ${fmt(moneyIn)}; transferred ${fmt(expected.totals.transferredCents)}`);
  const pointsSum = [...actual.values()].reduce((s, m) => s + m.points, 0);
  check('points = sum of the ledger, member by member', pointsMismatch === '' && pointsSum === ledgerPoints, pointsMismatch === '' ? `${fmt(pointsSum)} points` : pointsMismatch);
}

function verifyFolder(node: ChaosNode): void {
  const result = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'dist/cli/loyalty.js'), 'verify'], {
    env: { PATH: process.env['PATH'] ?? '', LOYALTY_DATA: node.dataDir, LOYALTY_SHARDS: String(SHARDS) }, encoding: 'utf8', timeout: 120_000,
  });
  let report: { ok?: boolean; members?: number; mismatches?: unknown[] } = {};
  try { report = JSON.parse(result.stdout) as typeof report; } catch { /* reported below */ }
  check(`verify clean on ${node.nodeId}`, result.status === 0 && report.ok === true, `exit ${result.status}, ${report.members ?? '?'} members, ${report.mismatches?.length ?? '?'} mismatches${result.status === 0 ? '' : ` ${result.stderr.slice(0, 300)}`}`);
}

function compareReplicas(nodes: readonly ChaosNode[]): void {
  const [first, ...others] = nodes;
  for (const other of others) {
    const differences: string[] = [];
    let entries = 0;
    for (let shard = 0; shard < SHARDS; shard++) {
      const a = openShardStore(join(first!.dataDir, `shard-${shard}`), { readOnly: true });
      const b = openShardStore(join(other.dataDir, `shard-${shard}`), { readOnly: true });
      try {
        const diff = diffStores(a, b, { listedMax: 3 });
        entries += Object.values(diff.entries).reduce((s, n) => s + n, 0);
        if (diff.differenceCount > 0) differences.push(`shard ${shard}: ${diff.differenceCount} (${JSON.stringify(diff.differences).slice(0, 300)})`);
      } finally {
        void a.root.close();
        void b.root.close();
      }
    }
    check(`replica books identical: ${other.nodeId} = ${first!.nodeId}`, differences.length === 0, differences.length === 0 ? `${SHARDS} shards, ${fmt(entries)} entries` : differences.join('; '));
  }
}

async function main(): Promise<number> {
  console.log(machineLine());
  const bin = natsServerBin();
  if (bin === null) throw new Error('cluster:chaos needs nats-server (Debian package nats-server)');
  console.log(`cluster chaos${quick ? ' (quick)' : ''}: seed ${SEED}, ${SHARDS} shards, ${MEMBERS} members, ${STREAM_TERMINALS} POS terminals (batches of ${BATCH_OPS}) and ${HTTP_CLIENTS} HTTP clients at any node; ` +
    `three nats-server processes (${bin}), three engine nodes, a fourth added; ${KILLS} owner kills, one NATS server kill, one drain of the owner`);
  const root = mkdtempSync(join(tmpdir(), 'loyalty-chaos-'));
  let cluster: NatsCluster | null = null;
  let nc: NatsConnection | null = null;
  const run: Run = {
    ops: [], nodes: [], stop: false, finishing: false, startedMs: Date.now(), deadlineMs: Date.now() + RUN_DEADLINE_MS, kill: null, failoversMs: [], failoverNodes: [], drain: null, selfStops: [], lastAnswerMs: 0, longestGap: { ms: 0, endedAtS: 0 },
    // A node is offered to the clients once it has started once (its admin key is read then).
    addresses: () => run.nodes.filter((n) => n.server.adminKey !== '').map((n) => ({ index: n.index, port: n.port, key: n.server.adminKey })),
  };
  try {
    cluster = await NatsCluster.start(3);
    nc = await cluster.connect('chaos-inspect');
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    for (let i = 0; i < 3; i++) {
      await startNode(cluster, run, root);
      // The first node owns at once (a vacant record); the others stand by.
      if (i === 0) await ownerOf(await OwnerLease.open(nc, DEPLOYMENT), run.nodes, null, NODE_WAIT_MS);
    }
    const lease = await OwnerLease.open(nc, DEPLOYMENT);
    for (const node of run.nodes.slice(1)) await standingBy(lease, node, NODE_WAIT_MS);

    const memberIds = Array.from({ length: MEMBERS }, (_, i) => memberIdOf(i));
    const random = prng(SEED);
    const workers = STREAM_TERMINALS + HTTP_CLIENTS;
    const sources = Array.from({ length: workers }, (_, w) => new OpSource(`w${w}`, memberIds.filter((_, i) => i % workers === w), memberIds, prng(Math.floor(random() * 2 ** 31))));
    const terminals = Array.from({ length: STREAM_TERMINALS }, (_, w) => new ChaosStreamTerminal(run.addresses, w, (n, at, sent) => onAnswer(run, n, at, sent)));
    const clients = Array.from({ length: HTTP_CLIENTS }, (_, w) => new ChaosHttpClient(run.addresses, w + 1, (n, at, sent) => onAnswer(run, n, at, sent)));
    const startedMs = Date.now();
    run.startedMs = startedMs;
    const load = Promise.all([
      ...terminals.map((t, w) => streamWorker(run, sources[w]!, t)),
      ...clients.map((c, w) => httpWorker(run, sources[STREAM_TERMINALS + w]!, c)),
    ]);
    // A load that fails stops the chaos script at its next step; the chaos script's failure stops the load.
    let loadError: unknown = null;
    void load.catch((err: unknown) => { loadError = err; run.stop = true; });
    try {
      await chaos(run, cluster, jsm, lease, root);
      if (loadError !== null) throw loadError;
    } finally {
      run.stop = true;
    }
    await load;
    const loadMs = Date.now() - startedMs;
    for (const t of terminals) await t.drop();
    const byKind = new Map<ChaosKind, number>();
    for (const op of run.ops) byKind.set(op.kind, (byKind.get(op.kind) ?? 0) + 1);
    console.log(`load: ${fmt(run.ops.length)} ops in ${(loadMs / 1000).toFixed(1)} s (${fmt(run.ops.length / (loadMs / 1000))} ops/s through the chaos), ${JSON.stringify(Object.fromEntries(byKind))}`);
    console.log(`resends to the next node: stream batches ${fmt(terminals.reduce((s, t) => s + t.resends, 0))}, HTTP requests ${fmt(clients.reduce((s, c) => s + c.resends, 0))}`);
    console.log(`failover (SIGKILL of the owner to the first answer from the new owner): ${run.failoversMs.map((ms, i) => `${fmt(ms)} ms (node-${run.failoverNodes[i]! + 1})`).join(', ')}`);
    const drain = run.drain;
    console.log(`drain (the owner, planned): ${drain === null ? 'not done' : `${drain.nodeId} at ${drain.atS.toFixed(1)} s, answered in ${fmt(drain.answerMs)} ms, hand-over to ${drain.newOwnerId} in ${fmt(drain.handOverMs)} ms, undrained at ${drain.undrainedAtS?.toFixed(1) ?? '(never)'} s`}`);
    console.log(`longest time without any answer: ${fmt(run.longestGap.ms)} ms, ended at ${run.longestGap.endedAtS.toFixed(1)} s`);
    const skippedReads = run.nodes.filter((n) => n.skippedReads() > 0).map((n) => `${n.nodeId} ${n.skippedReads()}`);
    console.log(`standby catch-ups that read entries their consumer skipped from the stream's leader: ${skippedReads.length === 0 ? 'none' : skippedReads.join(', ')}`);
    const rebuilds = run.nodes.filter((n) => n.rebuilds() > 0).map((n) => `${n.nodeId} ${n.rebuilds()}`);
    console.log(`shard copies moved aside and rebuilt from the stream: ${rebuilds.length === 0 ? 'none' : rebuilds.join(', ')}`);
    const deferred = run.nodes.filter((n) => n.deferredClaims() > 0).map((n) => `${n.nodeId} ${n.deferredClaims()}`);
    console.log(`claims left to a level standby by a node whose copies lagged: ${deferred.length === 0 ? 'none' : deferred.join(', ')}`);
    console.log(`nodes that stopped on their own, each restarted as a standby: ${run.selfStops.length === 0 ? 'none' : run.selfStops.join('; ')}`);
    const inPlace = run.nodes.map((n) => ({ nodeId: n.nodeId, count: n.server.logs.join('\n').split('\n').filter((l) => l.includes('this node steps down at once')).length })).filter((n) => n.count > 0);
    console.log(`owners that stepped down in place (a refused renewal or append), staying up: ${inPlace.length === 0 ? 'none' : inPlace.map((n) => `${n.nodeId} ${n.count}×`).join(', ')}`);
    check(`the owner drained: hands over under ${fmt(FAILOVER_MAX_MS)} ms, the drained node stays up, reports drained and does not own until undrained`,
      drain !== null && drain.handOverMs < FAILOVER_MAX_MS && drain.undrainedAtS !== null && drain.fault === '',
      drain === null ? 'no drain' : `${drain.nodeId}: drain answered in ${fmt(drain.answerMs)} ms, ${drain.newOwnerId} owned ${fmt(drain.handOverMs)} ms after it; ${drain.fault === '' ? 'drained and not owning when checked after the hand-over and before the undrain' : drain.fault}`);
    check(`${KILLS} failovers measured, each under ${fmt(FAILOVER_MAX_MS)} ms`, run.failoversMs.length === KILLS && run.failoversMs.every((ms) => ms < FAILOVER_MAX_MS), run.failoversMs.map((ms) => `${fmt(ms)} ms`).join(', '));

    const owner = await ownerOf(lease, run.nodes, null, NODE_WAIT_MS);
    await proveBooks(run, owner, memberIds);

    // Every node's copy holds what the streams hold; then every node stops cleanly, the owner last,
    // and the stopped folders are verified and compared database by database.
    await caughtUp(jsm, run.nodes, NODE_WAIT_MS);
    run.finishing = true;
    for (const node of run.nodes.filter((n) => n !== owner)) await node.server.stop();
    await owner.server.stop();
    for (const node of run.nodes) verifyFolder(node);
    compareReplicas([owner, ...run.nodes.filter((n) => n !== owner)]);
  } catch (err) {
    check('the run completed', false, String((err as Error).stack ?? err).slice(0, 1_500));
  } finally {
    run.stop = true;
    run.finishing = true;
    for (const node of run.nodes) await node.server.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const failed = checks.filter((c) => !c.ok);
  console.log(failed.length === 0 ? `chaos: all ${checks.length} checks passed` : `chaos: ${failed.length} of ${checks.length} checks FAILED`);
  return failed.length === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { console.error(err); process.exitCode = 1; });
