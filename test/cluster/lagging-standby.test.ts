// Three engine nodes on three NATS servers (docs/cluster.md, "Ownership"): an owner, a standby whose
// copies are level with the streams, and a node that joined with an empty copy and is held there
// (LOYALTY_TEST_FOLLOW_HOLD), hundreds of entries behind, as a node that has just joined or a copy
// being rebuilt is. When the owner is killed, the level standby owns the deployment and the lagging
// one stands by behind it: a takeover by the lagging node would wait for its replay (the chaos run
// measured a failover of 11.7 s so). When the level standby is killed in turn, the lagging node
// still claims the record, one CLUSTER_CLAIM_LAG_WAIT_MS after a level one would, and its takeover
// levels its copies with the streams: the deployment always gets an owner.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { waitUntilOwner, waitUntilStandby } from '../helpers/cluster-node.js';
import { shardStream } from '../../engine/cluster/shard-stream.js';
import { openShardStore } from '../../engine/shard/store.js';
import { logPosition } from '../../engine/shard/batch-log.js';
import { FOLLOW_HELD } from '../../engine/shard/standby.js';
import { CLUSTER_CLAIM_LAG_ENTRIES_MAX, CLUSTER_CLAIM_LAG_WAIT_MS } from '../../engine/limits.js';

const skip = skipWithoutNats();
const SHARDS = 2;
/** Members registered one at a time, one log entry each: enough that both shards hold more than CLUSTER_CLAIM_LAG_ENTRIES_MAX. */
const MEMBERS = 2 * CLUSTER_CLAIM_LAG_ENTRIES_MAX + 120;
/** The failover the deployment promises when a level standby is there. */
const FAILOVER_MAX_MS = 10_000;
/** A generous bound on a lagging node's claim and takeover on a loaded machine: the lease, the extra wait and the replay. */
const LAGGING_TAKEOVER_MAX_MS = 45_000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('a standby far behind the streams leaves the owner record to a level one', () => {
  let cluster: NatsCluster;
  const nodes: ServerProcess[] = [];
  const holdFile = join(ServerProcess.tempDataDir(), 'hold');
  const env = (nodeId: string, extra: Record<string, string> = {}) => ({
    LOYALTY_NATS: cluster.servers.join(','), LOYALTY_NODE_ID: nodeId, LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0', ...extra,
  });

  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  });

  afterAll(async () => {
    for (const node of nodes) { await node.kill(); node.cleanup(); }
    await cluster?.stop();
    rmSync(holdFile, { force: true });
  });

  async function streamEnds(): Promise<number[]> {
    const nc = await cluster.connect('lagging-inspect');
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      return await Promise.all(Array.from({ length: SHARDS }, async (_, shard) => (await jsm.streams.info(shardStream('main', shard).name)).state.last_seq));
    } finally {
      await nc.close();
    }
  }

  function copyEnds(node: ServerProcess): number[] {
    return Array.from({ length: SHARDS }, (_, shard) => {
      const store = openShardStore(join(node.dataDir, `shard-${shard}`), 256 * 1024 * 1024);
      try { return logPosition(store).seq; } finally { void store.root.close(); }
    });
  }

  /** The JSON log lines of a node whose message contains `text`. */
  function logLines(node: ServerProcess, text: string): Array<Record<string, unknown>> {
    return node.logs.join('\n').split('\n').filter((l) => l.includes(text)).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('the level standby owns after the owner is killed; the lagging one claims only when no level one is left', async () => {
    const first = new ServerProcess(ServerProcess.tempDataDir(), env('node-1'));
    nodes.push(first);
    await first.start();
    await waitUntilOwner(first, 15_000);
    const level = new ServerProcess(ServerProcess.tempDataDir(), env('node-2'));
    nodes.push(level);
    await level.start();
    level.adminKey = first.adminKey;
    expect(await waitUntilStandby(level, 10_000)).toBe(`node-1 (term 1) at http://127.0.0.1:${first.port}`);

    // One member at a time: each registration is a batch of its own, a log entry of its shard.
    for (let i = 0; i < MEMBERS; i++) expect((await first.post('/v1/members', { memberId: `lm-${i}`, name: `Member ${i}` })).status).toBe(201);
    const ends = await streamEnds();
    expect(Math.min(...ends)).toBeGreaterThan(CLUSTER_CLAIM_LAG_ENTRIES_MAX);
    const deadlineMs = Date.now() + 30_000;
    while (JSON.stringify(copyEnds(level)) !== JSON.stringify(ends)) {
      if (Date.now() > deadlineMs) throw new Error(`the level standby's copy stays at ${JSON.stringify(copyEnds(level))}, the streams end at ${JSON.stringify(ends)}`);
      await pause(100);
    }

    // The third node joins with an empty copy and applies nothing while the hold file exists.
    writeFileSync(holdFile, '');
    const behind = new ServerProcess(ServerProcess.tempDataDir(), env('node-3', { LOYALTY_TEST_FOLLOW_HOLD: holdFile }));
    nodes.push(behind);
    await behind.start();
    behind.adminKey = first.adminKey;
    expect(await waitUntilStandby(behind, 10_000)).toBe(`node-1 (term 1) at http://127.0.0.1:${first.port}`);
    const heldDeadlineMs = Date.now() + 15_000;
    while (logLines(behind, FOLLOW_HELD).length < SHARDS) {
      if (Date.now() > heldDeadlineMs) throw new Error(`the joined node's shards did not report their lag: ${behind.logs.join('').slice(-3_000)}`);
      await pause(50);
    }
    expect(logLines(behind, FOLLOW_HELD).map((l) => l['err']).sort()).toEqual(
      ends.map((end) => `the copy is at log entry 0, the stream at ${end}: ${end} entries behind`).sort());
    expect(copyEnds(behind)).toEqual([0, 0]);
    console.log(`lagging standby: the joined node's copies are ${ends.join(' and ')} entries behind the streams`);

    // The owner dies: the level standby owns within the failover bound, the lagging node stands by behind it.
    const killedAtMs = Date.now();
    await first.kill();
    const failoverMs = (Date.now() - killedAtMs) + await waitUntilOwner(level, FAILOVER_MAX_MS);
    console.log(`lagging standby: the level standby owned ${failoverMs} ms after the owner's SIGKILL`);
    expect(await waitUntilStandby(behind, FAILOVER_MAX_MS)).toBe(`node-2 (term 2) at http://127.0.0.1:${level.port}`);
    // The streams now end with node-2's term entries, which the held copy lacks as well.
    const termEnds = await streamEnds();
    // Past the lagging node's longer wait too, the level node still owns term 2, and the lagging one has not claimed.
    await pause(CLUSTER_CLAIM_LAG_WAIT_MS + 1_000);
    expect((await behind.get('/v1/admin/cluster')).body).toMatchObject({ nodeId: 'node-3', role: 'standby', owner: { nodeId: 'node-2', term: 2 } });
    expect(logLines(behind, 'this node holds the owner record')).toEqual([]);
    expect(copyEnds(behind)).toEqual([0, 0]);

    // The level node dies too: the lagging node is the only one left, and claims after its longer wait.
    const secondKillAtMs = Date.now();
    await level.kill();
    const laggingMs = (Date.now() - secondKillAtMs) + await waitUntilOwner(behind, LAGGING_TAKEOVER_MAX_MS);
    const deferred = logLines(behind, 'it leaves the owner record to a level standby');
    console.log(`lagging standby: alone, it owned ${laggingMs} ms after the level standby's SIGKILL (it deferred: ${JSON.stringify(deferred.map((l) => ({ lagEntries: l['lagEntries'], waitMs: l['waitMs'] })))})`);
    expect(deferred.length).toBeGreaterThanOrEqual(1);
    expect(deferred.at(-1)).toMatchObject({ nodeId: 'node-3', lagEntries: Math.max(...termEnds), lagEntriesMax: CLUSTER_CLAIM_LAG_ENTRIES_MAX });
    expect(laggingMs).toBeGreaterThan(CLUSTER_CLAIM_LAG_WAIT_MS);
    expect((await behind.get('/v1/admin/cluster')).body).toMatchObject({ nodeId: 'node-3', role: 'owner', owner: { nodeId: 'node-3', term: 3 } });
    // Its takeover levelled its copies: every member is there, and the books verify.
    for (const i of [0, MEMBERS - 1]) expect((await behind.get(`/v1/members/lm-${i}`)).status).toBe(200);
    expect(copyEnds(behind)).toEqual(await streamEnds());
    await behind.stop();
    const run = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), 'verify'], {
      env: { PATH: process.env['PATH'] ?? '', LOYALTY_DATA: behind.dataDir, LOYALTY_SHARDS: String(SHARDS) }, encoding: 'utf8', timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, members: MEMBERS });
  }, 240_000);
});
