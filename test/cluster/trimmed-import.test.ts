// A single-node data folder whose log was trimmed to a backup becomes a cluster through `loyalty
// cluster import`: each shard's stream starts with a base message naming the backup, then holds
// the folder's entries; the first node starts on the folder itself, another from a restore of the
// backup, and a node with an empty folder is refused, naming the backup (docs/cluster.md,
// "Upgrading a single-node data folder").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsCluster, skipWithoutNats } from '../helpers/nats-cluster.js';
import { copyEnds, verifyFolder } from '../helpers/node-folder.js';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { waitUntilOwner, waitUntilStandby } from '../helpers/cluster-node.js';
import { BASE_AFTER_HEADER, BASE_BACKUP_HEADER, LOG_SEQ_HEADER, shardStream } from '../../engine/cluster/shard-stream.js';
import { openShardStore } from '../../engine/shard/store.js';
import { firstLogSeq, logPosition } from '../../engine/shard/batch-log.js';
import { diffStores } from '../../engine/shard/store-diff.js';
import { readBackupManifest } from '../../engine/history/folder.js';

const skip = skipWithoutNats();
const SHARDS = 2;
const DEPLOYMENT = 'trimmed';
const MEMBERS = 8;

interface Run { status: number | null; stdout: string; stderr: string }

/** The command line, blocking: for commands that need no server of this process to answer. */
function cli(env: Record<string, string>, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The command line without blocking: `backup` asks the server this process runs. */
function cliAsync(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null, stdout, stderr });
    });
  });
}

function copyFirsts(dataDir: string): Array<number | null> {
  return Array.from({ length: SHARDS }, (_, shard) => {
    const store = openShardStore(join(dataDir, `shard-${shard}`), 256 * 1024 * 1024);
    try { return firstLogSeq(store); } finally { void store.root.close(); }
  });
}

describe.skipIf(skip)('a single-node folder whose log was trimmed, imported into a cluster', () => {
  let cluster: NatsCluster | null = null;
  const root = mkdtempSync(join(tmpdir(), 'loyalty-trimmed-import-'));
  const dataDir = join(root, 'first');
  const backupDir = join(root, 'nightly-1');
  const restoredDir = join(root, 'second');
  const emptyDir = join(root, 'third');
  const nodes: ServerProcess[] = [];
  /** Each member's points and wallet as the single node answered them. */
  const figures: Array<{ points: number; walletCents: number }> = [];
  /** Each shard's log position in the backup: where the trim cut, and where the streams' bases stand. */
  let bases: number[] = [];

  beforeAll(async () => {
    const single = new ServerProcess(dataDir, { LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
    nodes.push(single);
    await single.start();
    for (let i = 0; i < MEMBERS; i++) {
      expect((await single.post('/v1/members', { memberId: `tr-${i}`, name: `Member ${i}` })).status).toBe(201);
      expect((await single.post('/v1/purchases', { orderId: `tr-o-${i}`, memberId: `tr-${i}`, amountCents: 10_000 + i * 100 })).status).toBe(200);
    }
    const backup = await cliAsync({ LOYALTY_DATA: dataDir, LOYALTY_URL: `http://127.0.0.1:${single.port}` }, 'backup', backupDir);
    expect(backup.status, backup.stderr).toBe(0);
    bases = readBackupManifest(backupDir).shards.map((s) => s.batch);
    const trim = cli({}, 'log', 'trim', '--before', backupDir, '--data', dataDir);
    expect(trim.status, trim.stderr).toBe(0);
    // After the trim: more purchases and top-ups, which only the trimmed log holds.
    for (let i = 0; i < MEMBERS; i++) {
      expect((await single.post('/v1/purchases', { orderId: `tr-p-${i}`, memberId: `tr-${i}`, amountCents: 2_000 })).status).toBe(200);
      expect((await single.post('/v1/wallet/topups', { requestId: `tr-t-${i}`, memberId: `tr-${i}`, amountCents: 5_000 })).status).toBe(200);
    }
    for (let i = 0; i < MEMBERS; i++) {
      const m = (await single.get(`/v1/members/tr-${i}`)).body as { points: number; walletCents: number };
      figures.push({ points: m.points, walletCents: m.walletCents });
    }
    await single.stop();
    // Every shard's log now starts after the backup's position.
    expect(copyFirsts(dataDir)).toEqual(bases.map((b) => b + 1));
    for (const b of bases) expect(b).toBeGreaterThan(1);
  }, 120_000);

  afterAll(async () => {
    for (const node of nodes) await node.kill();
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('imports the trimmed logs behind a base message, starts the first node on the folder and a second from the backup, and refuses an empty folder', async () => {
    cluster = await NatsCluster.start(3);
    const natsEnv = { LOYALTY_NATS: cluster.servers.join(','), LOYALTY_DEPLOYMENT: DEPLOYMENT };
    const ends = copyEnds(dataDir, SHARDS);

    // A trimmed folder without the backup it was trimmed to is refused before anything is published.
    const noBackup = cli({ ...natsEnv, LOYALTY_DATA: dataDir }, 'cluster', 'import');
    expect(noBackup.status, noBackup.stdout).toBe(1);
    expect(noBackup.stderr).toContain('shard 0\'s log was trimmed');
    expect(noBackup.stderr).toContain('--backup');

    const importStartMs = Date.now();
    const imported = cli({ ...natsEnv }, 'cluster', 'import', '--data', dataDir, '--backup', backupDir);
    // The whole command, process start and NATS connection included: printed for docs/cluster.md, not asserted.
    console.log(`cluster import: ${Date.now() - importStartMs} ms for shards at ${JSON.stringify(ends)} after bases ${JSON.stringify(bases)}`);
    expect(imported.status, imported.stderr).toBe(0);
    expect(imported.stdout.trim().split('\n')).toEqual(bases.map((b, shard) =>
      `shard ${shard}: log ${b + 1}..${ends[shard]}, base after entry ${b}, backup ${basename(backupDir)}; 0 already in the stream, ${ends[shard]! - b} appended`));

    // Each stream: the base message, then log entry k at stream message k - f + 2 (f = base + 1).
    const nc = await cluster.connect('trimmed-import-inspect');
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      for (let shard = 0; shard < SHARDS; shard++) {
        const name = shardStream(DEPLOYMENT, shard).name;
        expect((await jsm.streams.info(name)).state.last_seq).toBe(ends[shard]! - bases[shard]! + 1);
        const base = (await jsm.streams.getMessage(name, { seq: 1 }))!;
        expect(base.header.get(BASE_AFTER_HEADER)).toBe(String(bases[shard]));
        expect(base.header.get(BASE_BACKUP_HEADER)).toBe(basename(backupDir));
        expect(base.header.get(LOG_SEQ_HEADER)).toBe('');
        const first = (await jsm.streams.getMessage(name, { seq: 2 }))!;
        expect(first.header.get(LOG_SEQ_HEADER)).toBe(String(bases[shard]! + 1));
      }
    } finally {
      await nc.close();
    }

    // A re-run holds everything already: it checks each message against the folder and appends nothing.
    const again = cli({ ...natsEnv }, 'cluster', 'import', '--data', dataDir, '--backup', backupDir);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toEqual(bases.map((b, shard) =>
      `shard ${shard}: log ${b + 1}..${ends[shard]}, base after entry ${b}, backup ${basename(backupDir)}; ${ends[shard]! - b} already in the stream, already imported`));

    // The first node starts on the imported folder itself and owns, its books unchanged.
    const env = (nodeId: string) => ({ ...natsEnv, LOYALTY_NODE_ID: nodeId, LOYALTY_SHARDS: String(SHARDS), LOYALTY_SWEEP_INTERVAL_MS: '0' });
    const first = new ServerProcess(dataDir, env('node-1'));
    nodes.push(first);
    await first.start();
    await waitUntilOwner(first, 20_000);
    for (let i = 0; i < MEMBERS; i++) {
      const m = (await first.get(`/v1/members/tr-${i}`)).body as { points: number; walletCents: number };
      expect({ points: m.points, walletCents: m.walletCents }).toEqual(figures[i]);
      expect(m.walletCents).toBe(5_000);
    }

    // A second node starts from a restore of the backup the base message names, and follows.
    const restore = cli({}, 'restore', backupDir, '--data', restoredDir);
    expect(restore.status, restore.stderr).toBe(0);
    expect(copyEnds(restoredDir, SHARDS)).toEqual(bases);
    const second = new ServerProcess(restoredDir, env('node-2'));
    nodes.push(second);
    await second.start();
    expect(await waitUntilStandby(second, 20_000)).toContain('node-1');

    // A third node with an empty folder is behind every stream's base: refused, naming the backup.
    const third = new ServerProcess(emptyDir, env('node-3'));
    nodes.push(third);
    const exited = await (async () => {
      try {
        await third.start();
      } catch {
        return true;
      }
      // It may listen before its standby's first look at the stream: then it stops right after.
      const child = third.child!;
      const deadline = Date.now() + 20_000;
      while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return child.exitCode !== null || child.signalCode !== null;
    })();
    expect(exited).toBe(true);
    const thirdLogs = third.logs.join('');
    expect(thirdLogs).toContain('copy_behind_stream_base');
    expect(thirdLogs).toContain(`this node's copy is at log entry 0, but the shard's stream starts after entry`);
    expect(thirdLogs).toContain(`restore the backup \\"${basename(backupDir)}\\"`);

    // A purchase after the upgrade replicates to the second node.
    expect((await first.post('/v1/purchases', { orderId: 'tr-after', memberId: 'tr-0', amountCents: 2_500 })).status).toBe(200);
    const after = (await second.get('/v1/members/tr-0')).body as { points: number };
    expect(after.points).toBeGreaterThan(figures[0]!.points);
    const target = copyEnds(dataDir, SHARDS);
    const deadlineMs = Date.now() + 20_000;
    while (JSON.stringify(copyEnds(restoredDir, SHARDS)) !== JSON.stringify(target)) {
      if (Date.now() > deadlineMs) throw new Error(`the second node's copy stays at ${JSON.stringify(copyEnds(restoredDir, SHARDS))}, the first's is at ${JSON.stringify(target)}: ${second.logs.join('').slice(-3_000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await second.stop();
    await first.stop();

    // The two copies are the same books, database by database (the log from the trimmed folder's first entry on).
    const firsts = copyFirsts(dataDir);
    for (let shard = 0; shard < SHARDS; shard++) {
      const a = openShardStore(join(dataDir, `shard-${shard}`), 256 * 1024 * 1024);
      const b = openShardStore(join(restoredDir, `shard-${shard}`), 256 * 1024 * 1024);
      try {
        expect(logPosition(b).seq).toBe(logPosition(a).seq);
        expect(diffStores(a, b, { listedMax: 5, logFromSeq: firsts[shard]! }).differences).toEqual([]);
      } finally {
        await a.root.close();
        await b.root.close();
      }
    }
    expect(verifyFolder(dataDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });
    expect(verifyFolder(restoredDir, SHARDS)).toMatchObject({ ok: true, members: MEMBERS });

    // The import run again after the nodes wrote: the folder holds what the stream holds, so nothing to do.
    const rerun = cli({ ...natsEnv }, 'cluster', 'import', '--data', dataDir, '--backup', backupDir);
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain('already imported');
    // The restored folder's log starts at entry 1, not after the streams' bases: importing it is refused as another folder's log.
    const other = cli({ ...natsEnv }, 'cluster', 'import', '--data', restoredDir);
    expect(other.status, other.stdout).toBe(1);
    expect(other.stderr).toContain('do not start where shard 0\'s log does');
  }, 240_000);
});
