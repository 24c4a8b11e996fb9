// The `term` log entry a new owner appends at its takeover (engine/shard/replicator.ts,
// docs/cluster.md "Ownership"), against a real three-server NATS cluster: after a takeover the
// shard's stream holds the new owner's term entry right after the old owner's last entry, and the
// old owner's next append is refused; when a stale owner's batch lands between the new owner's
// levelling and its term append, the new owner applies that batch and appends its term entry
// after it, without stopping, its copy the stream's entry for entry; and a stream that another
// writer keeps writing makes the takeover give up after CLUSTER_TERM_APPEND_ATTEMPTS_MAX attempts.
// Then through real engine nodes (the shard threads' takeover, engine/shard/worker.ts): two nodes
// hand the deployment over twice, and each term's first message in every shard's stream is its
// own term entry, right after the previous owner's last message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { ServerProcess } from '../helpers/server-process.js';
import { waitUntilOwner, waitUntilStandby } from '../helpers/cluster-node.js';
import { expectReplayEqualsLive, loyaltyCli } from '../helpers/replay-check.js';
import type { ClusterConfig } from '../../engine/cluster/config.js';
import { ReplicatedLog } from '../../engine/cluster/fenced-append.js';
import { shardStream } from '../../engine/cluster/shard-stream.js';
import { ShardReplicator } from '../../engine/shard/replicator.js';
import { ShardFollower } from '../../engine/shard/stream-follower.js';
import { openShardStore, getState, type ShardStore } from '../../engine/shard/store.js';
import { ShardMachine } from '../../engine/shard/machine.js';
import { decodeLogValue, logPosition, logValues, type LoggedTask } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { ensureSearchIndex } from '../../engine/shard/search-index.js';
import { verify } from '../../engine/shard/queries.js';
import { checkReplay } from '../../engine/history/replay-check.js';
import { loadCore } from '../../engine/core/wasm.js';
import { demoProgram } from '../../engine/rules/program.js';
import { CLUSTER_TERM_APPEND_ATTEMPTS_MAX } from '../../engine/limits.js';
import { purchaseOp, registerOp } from '../../server/requests.js';

const skip = skipWithoutNats();
const T0 = Date.parse('2026-03-10T02:00:00Z');
const admin = (atMs: number) => ({ role: 'admin' as const, nowMs: atMs, defaultCountry: 'HK' });
const at = (ms: number) => ({ at: new Date(ms).toISOString() });

describe.skipIf(skip)('the term entry a new owner appends at its takeover', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loyalty-term-'));
  const stores: ShardStore[] = [];
  const nodes: ServerProcess[] = [];
  const closed = new Set<ShardStore>();
  const replicators: ShardReplicator[] = [];
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let clockMs = T0;
  const tick = (): number => (clockMs += 1_000);

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
    nc = await cluster.connect('term-test');
  });

  afterAll(async () => {
    for (const node of nodes) { await node.kill(); node.cleanup(); }
    for (const r of replicators) await r.close();
    await nc?.close();
    await cluster?.stop();
    for (const s of stores) if (!closed.has(s)) await s.root.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (path: string): ShardStore => {
    const store = openShardStore(path, 256 * 1024 * 1024, { noSync: true });
    ensureSearchIndex(store);
    stores.push(store);
    return store;
  };
  const config = (deployment: string, nodeId: string): ClusterConfig => ({ servers: cluster.servers, nodeId, deployment });

  /** A node's shard 0 as the owner in `term`: its replicator, and a machine made after the takeover (as the shard thread does). */
  async function own(deployment: string, nodeId: string, store: ShardStore, term: number, hooks?: Parameters<typeof ShardReplicator.open>[5]) {
    const replicator = await ShardReplicator.open(config(deployment, nodeId), 0, store, term, tick, hooks);
    replicators.push(replicator);
    return { store, replicator, machine: new ShardMachine(store, loadCore(), 0, { log: true }) };
  }
  type Owner = Awaited<ReturnType<typeof own>>;

  /** Commits a task on an owner and waits for its append, as a batch's reply does. */
  async function commit(owner: Owner, task: LoggedTask): Promise<number> {
    owner.machine.run(task, tick());
    await owner.replicator.replicate();
    return logPosition(owner.store).seq;
  }
  const register = (memberId: string): LoggedTask => ({ kind: 'batch', ops: [registerOp({ memberId, ...at(clockMs) }, admin(clockMs), () => 'x')] });
  const purchase = (orderId: string, memberId: string, amountCents: number): LoggedTask =>
    ({ kind: 'batch', ops: [purchaseOp({ orderId, memberId, amountCents, ...at(clockMs) }, admin(clockMs))] });

  /** Node-a owns term 1 with a program and two members; node-b's copy followed the first `followed` entries. */
  async function history(deployment: string, followed: number): Promise<{ a: Owner; standby: ShardStore; folder: string }> {
    const a = await own(deployment, 'node-a', open(join(dir, deployment, 'a')), 1);
    await commit(a, { kind: 'program', version: 1, program: demoProgram(), atMs: T0, record: true });
    for (const m of ['m1', 'm2']) await commit(a, register(m));
    await commit(a, purchase('o1', 'm1', 12_000));
    // Node-b's copy lives in a data folder of one shard, for `loyalty replay --check` at the end.
    const folder = join(dir, deployment, 'b');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'engine.json'), JSON.stringify({ shards: 1, createdAt: new Date(T0).toISOString() }));
    const standby = open(join(folder, 'shard-0'));
    await (await ShardFollower.open(nc, shardStream(deployment, 0), standby)).catchUp(followed);
    expect(logPosition(standby).seq).toBe(followed);
    return { a, standby, folder };
  }

  /** The stream's messages, as [log sequence, hex]. */
  async function streamed(deployment: string): Promise<Array<[number, string]>> {
    const log = await ReplicatedLog.open(nc, deployment, [0], { nodeId: 'reader', term: 0 });
    const out: Array<[number, string]> = [];
    for (let seq = 1; seq <= await log.lastSeq(0); seq++) out.push([seq, Buffer.from((await log.valueAt(0, seq))!).toString('hex')]);
    return out;
  }
  const logHex = (store: ShardStore): Array<[number, string]> => [...logValues(store)].map(([seq, v]) => [seq, Buffer.from(v).toString('hex')]);
  const termOf = (hex: string) => decodeLogValue(0, Buffer.from(hex, 'hex')).task;

  /** The copy is the stream entry for entry, a node joining now replays the stream to it, and its own log replays to it. */
  async function expectCopyIsStream(deployment: string, copy: ShardStore, folder: string): Promise<void> {
    expect(logHex(copy)).toEqual(await streamed(deployment));
    const joined = open(join(dir, deployment, 'joined'));
    await (await ShardFollower.open(nc, shardStream(deployment, 0), joined)).catchUp();
    expect(diffStores(copy, joined, { listedMax: 5 }).differences).toEqual([]);
    expect(verify(copy).mismatches).toEqual([]);
    await copy.root.close();
    closed.add(copy);
    const check = await checkReplay({ dataDir: folder });
    expect(check).toMatchObject({ ok: true, differences: [], error: null });
    expect(check.perShard[0]).toMatchObject({ lastSeq: logPosition(joined).seq, differenceCount: 0 });
  }

  it('holds the new owner\'s term entry right after the old owner\'s last entry, and refuses the old owner\'s next append', async () => {
    const { a, standby, folder } = await history('handover', 3);
    const lastOfA = logPosition(a.store).seq;
    // The first owner's own takeover is the stream's first entry.
    expect(termOf((await streamed('handover'))[0]![1])).toEqual({ kind: 'term', term: 1, nodeId: 'node-a' });

    // Node-b takes over in term 2: it applies the entries its copy lacks, then appends its term entry.
    const b = await own('handover', 'node-b', standby, 2);
    const stream = await streamed('handover');
    expect(stream.length).toBe(lastOfA + 1);
    expect(stream.slice(0, lastOfA)).toEqual(logHex(a.store));
    const entry = decodeLogValue(lastOfA + 1, Buffer.from(stream[lastOfA]![1], 'hex'));
    expect(entry).toMatchObject({ kind: 'term', ops: 0, programVersion: 1, task: { kind: 'term', term: 2, nodeId: 'node-b' } });

    // The old owner's next batch is refused by the fence; the new owner's lands after its term entry.
    a.machine.run(purchase('stale', 'm2', 5_000), tick());
    await expect(a.replicator.replicate()).rejects.toMatchObject({ code: 'fence_refused', expectedLastSeq: lastOfA });
    expect(await commit(b, purchase('o2', 'm2', 7_000))).toBe(lastOfA + 2);
    expect(getState(b.store, 'm2')?.purchaseCount).toBe(1);
    await expectCopyIsStream('handover', b.store, folder);
  }, 60_000);

  it('applies a stale owner\'s batch that landed between its levelling and its term append, and appends its term entry after it', async () => {
    const { a, standby, folder } = await history('race', 2);
    const attempts: number[] = [];
    let staleSeq = 0;
    // The old owner's batch lands once node-b's copy is level with the stream and before its term entry.
    const b = await own('race', 'node-b', standby, 2, {
      beforeTermAppend: async (attempt) => {
        attempts.push(attempt);
        if (attempt === 1) staleSeq = await commit(a, purchase('late', 'm2', 9_000));
      },
    });
    expect(attempts).toEqual([1, 2]);
    const stream = await streamed('race');
    expect(stream.length).toBe(staleSeq + 1);
    // The stale owner's batch is in the stream as it committed it, and node-b's term entry right after.
    expect(stream[staleSeq - 1]).toEqual(logHex(a.store)[staleSeq - 1]);
    expect(termOf(stream[staleSeq]![1])).toEqual({ kind: 'term', term: 2, nodeId: 'node-b' });
    // Node-b's copy applied that batch: its purchase is in node-b's books, answered once.
    expect(getState(b.store, 'm2')?.purchaseCount).toBe(1);
    expect(getState(b.store, 'm2')).toEqual(getState(a.store, 'm2'));

    // The old owner's next append is refused; node-b owns and appends.
    a.machine.run(purchase('stale', 'm1', 5_000), tick());
    await expect(a.replicator.replicate()).rejects.toMatchObject({ code: 'fence_refused', expectedLastSeq: staleSeq });
    expect(await commit(b, purchase('o3', 'm1', 4_000))).toBe(staleSeq + 2);
    await expectCopyIsStream('race', b.store, folder);
  }, 60_000);

  it(`gives the takeover up after ${CLUSTER_TERM_APPEND_ATTEMPTS_MAX} refused term appends, its copy holding only the stream's entries`, async () => {
    const { a, standby } = await history('busy', 1);
    const attempts: number[] = [];
    const refused = await ShardReplicator.open(config('busy', 'node-b'), 0, standby, 2, tick, {
      beforeTermAppend: async (attempt) => {
        attempts.push(attempt);
        await commit(a, purchase(`busy-${attempt}`, 'm1', 1_000));
      },
    }).then(() => null, (err: unknown) => err);
    expect(refused).toMatchObject({ code: 'fence_refused' });
    expect(attempts).toEqual(Array.from({ length: CLUSTER_TERM_APPEND_ATTEMPTS_MAX }, (_, i) => i + 1));
    // Each refusal was followed by a levelling: the copy holds every entry but the last batch, and no term entry of node-b.
    expect(logHex(standby)).toEqual(logHex(a.store).slice(0, logPosition(a.store).seq - 1));
    expect(logHex(a.store)).toEqual(await streamed('busy'));
  }, 60_000);

  it('appends each new owner\'s term entry right after the previous owner\'s last message, through two hand-overs of engine nodes', async () => {
    const SHARDS = 2;
    const env = (nodeId: string) => ({ LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: nodeId, LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0', LOYALTY_DEPLOYMENT: 'nodes' });
    const first = new ServerProcess(ServerProcess.tempDataDir(), env('node-1'));
    const second = new ServerProcess(ServerProcess.tempDataDir(), env('node-2'));
    nodes.push(first, second);
    await first.start();
    await waitUntilOwner(first, 15_000);
    await second.start();
    second.adminKey = first.adminKey;
    await waitUntilStandby(second, 10_000);
    const purchases = new Map<string, number>();
    const buy = async (node: ServerProcess, orderId: string, memberId: string): Promise<void> => {
      expect((await node.post('/v1/purchases', { orderId, memberId, amountCents: 1_000 })).status).toBe(200);
      purchases.set(memberId, (purchases.get(memberId) ?? 0) + 1);
    };
    for (let i = 0; i < 6; i++) {
      expect((await first.post('/v1/members', { memberId: `tn-${i}`, name: `Member ${i}` })).status).toBe(201);
      await buy(first, `t1-${i}`, `tn-${i}`);
    }
    // A backup in term 1, which the next terms' entries (their term entries among them) carry forward at a restore.
    const backupDir = join(dir, 'nodes-backup');
    const backup = await first.post('/v1/admin/backup', { dir: backupDir });
    expect(backup.status, JSON.stringify(backup.body)).toBe(200);
    // A stop gives the owner record up: node-2 owns in term 2, and writes.
    await first.stop();
    await waitUntilOwner(second, 10_000);
    for (let i = 0; i < 6; i++) await buy(second, `t2-${i}`, `tn-${i}`);
    // Node-1 comes back as a standby; node-2 stops, and node-1 owns in term 3.
    await first.start();
    await waitUntilStandby(first, 10_000);
    await second.stop();
    await waitUntilOwner(first, 10_000);
    for (let i = 0; i < 3; i++) await buy(first, `t3-${i}`, `tn-${i}`);
    const { version: _version, ...program } = (await first.get('/v1/program')).body as Record<string, unknown>;
    for (let i = 0; i < 6; i++) {
      const member = (await first.get(`/v1/members/tn-${i}`)).body as { purchaseCount: number };
      expect(member.purchaseCount).toBe(purchases.get(`tn-${i}`));
    }
    await first.stop();
    // The takeovers' durations as the nodes logged them (levelling, term entries, settling, the router's load), for docs/cluster.md.
    const takeovers = [...first.logs, ...second.logs].flatMap((line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; term?: number; takeOverMs?: number };
        return rec.msg === 'cluster: this node owns the deployment' ? [`term ${rec.term}: ${rec.takeOverMs} ms`] : [];
      } catch { return []; }
    });
    console.log(`term entries: takeovers ${takeovers.sort().join(', ')}`);
    expect(takeovers.length).toBe(3);

    const inspect = await cluster.connect('term-inspect');
    /** Where shard 0's term-3 entry is: a restore is stopped exactly there. */
    let lastTermSeq = 0;
    try {
      const jsm = await jetstreamManager(inspect, { timeout: 5_000 });
      for (let shard = 0; shard < SHARDS; shard++) {
        const name = shardStream('nodes', shard).name;
        const last = (await jsm.streams.info(name)).state.last_seq;
        // Each message's id is `<node id>.<term>.<log seq>`: who appended it, in which term.
        const messages: Array<{ writer: string; term: number; value: Uint8Array }> = [];
        for (let seq = 1; seq <= last; seq++) {
          const m = (await jsm.streams.getMessage(name, { seq }))!;
          const [writer, term] = m.header.get('Nats-Msg-Id').split('.');
          messages.push({ writer: writer!, term: Number(term), value: m.data });
        }
        const firsts = messages.flatMap((m, i) => (i === 0 || messages[i - 1]!.term !== m.term ? [{ at: i + 1, ...m }] : []));
        // Three terms in order, each beginning with its own term entry: the old owner's messages end right before it.
        expect(firsts.map((f) => [f.writer, f.term])).toEqual([['node-1', 1], ['node-2', 2], ['node-1', 3]]);
        for (const f of firsts) expect(decodeLogValue(f.at, f.value).task).toEqual({ kind: 'term', term: f.term, nodeId: f.writer });
        expect(messages.filter((m) => decodeLogValue(0, m.value).kind === 'term').length).toBe(3);
        if (shard === 0) lastTermSeq = firsts[2]!.at;
      }
    } finally {
      await inspect.close();
    }
    // The last owner's folder: `loyalty verify` is clean and `loyalty replay --check` replays every entry, term entries included.
    const verified = loyaltyCli(first.dataDir, 'verify');
    expect(verified.status, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, members: 6 });
    expectReplayEqualsLive(first.dataDir);

    // A restore from the term-1 backup, carried forward by node-1's logs up to shard 0's term-3 entry, stops on it and verifies clean.
    const restored = join(dir, 'nodes-restored');
    const restore = loyaltyCli(restored, 'restore', backupDir, '--data', restored, '--log-from', first.dataDir, '--until-batch', `0:${lastTermSeq}`);
    expect(restore.status, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout).shards[0]).toMatchObject({ toBatch: lastTermSeq, stoppedBy: 'untilBatch' });
    const restoredVerify = loyaltyCli(restored, 'verify');
    expect(restoredVerify.status, restoredVerify.stderr).toBe(0);
    expect(JSON.parse(restoredVerify.stdout)).toMatchObject({ ok: true, members: 6 });

    // What-if under the live program skips the term entries and finds no difference.
    const programFile = join(dir, 'nodes-program.json');
    writeFileSync(programFile, JSON.stringify(program));
    const whatIf = loyaltyCli(first.dataDir, 'what-if', '--program', programFile, '--json', '--data', first.dataDir);
    expect(whatIf.status, whatIf.stderr).toBe(0);
    const report = JSON.parse(whatIf.stdout) as { actual: unknown; whatIf: unknown; membersTierDiffers: number; divergences: unknown };
    expect(report.whatIf).toEqual(report.actual);
    expect(report.membersTierDiffers).toBe(0);
    expect(report.divergences).toEqual({ acceptedThenRefused: 0, refusedThenAccepted: 0, listed: [] });
  }, 180_000);
});
