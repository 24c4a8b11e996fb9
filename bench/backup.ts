// The backup benchmark: how fast a running server's data is copied (members/s, MB/s), how many log
// entries carried the copies forward to the backup's point, and what HTTP writes saw while backups
// ran under load, against the same load without them (a backup holds no shard's writes; what
// writes see is the copy competing for the disk); then how fast a restore checks and copies a
// backup and carries it forward through the load's batches (point-in-time recovery).
//
// A data folder of N imported members (each with a ledger entry and opening points) is made in
// this process, then served by a real server (dist/server/main.js). Backups are taken over HTTP,
// first with the server idle, then while 8 HTTP connections post purchases in a closed loop;
// every write's start and end are recorded, and those whose flight overlapped a backup are
// compared with the others.
//
//   node dist/bench/backup.js [--members N] [--shards N] [--backups N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../engine/router/engine.js';
import { hashId } from '../engine/router/member-hash.js';
import { importMembers } from '../server/import-members.js';
import { restoreBackup } from '../engine/history/restore.js';
import { ServerChild } from './server-child.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';

const quick = process.argv.includes('--quick');
const members = Number(flag('--members') ?? (quick ? 4_000 : 200_000));
const shards = Number(flag('--shards') ?? 2);
const backups = Number(flag('--backups') ?? (quick ? 2 : 5));
/** HTTP connections posting purchases in a closed loop. */
const CONNECTIONS = 8;
/** Load without backups before and after them, for the comparison. */
const BASELINE_MS = quick ? 1_000 : 5_000;
const WARMUP_MS = quick ? 300 : 2_000;
/** Between two backups under load: writes outside any backup in between. */
const GAP_MS = quick ? 200 : 1_000;
const CHUNK_ROWS = 1_000;
const MS_PER_S = 1000;
const BYTES_PER_MB = 1e6;

const root = mkdtempSync(join(tmpdir(), 'loyalty-bench-backup-'));
const dataDir = join(root, 'data');
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function* rowsCsv(count: number): AsyncGenerator<string> {
  yield 'memberId,name,phone,email,points\n';
  for (let start = 0; start < count; start += CHUNK_ROWS) {
    let chunk = '';
    for (let i = start; i < Math.min(count, start + CHUNK_ROWS); i++) chunk += `m${i},"Member ${i}",+852 ${String(10_000_000 + i)},m${i}@example.com,${1 + (i % 500)}\n`;
    yield chunk;
  }
}

interface Write { startMs: number; endMs: number }
interface BackupFigures { ms: number; bytes: number; members: number; replayed: number; lockMs: number[]; startMs: number; endMs: number }

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function backup(server: ServerChild, dir: string): Promise<BackupFigures> {
  const startMs = performance.now();
  const r = await server.post('/v1/admin/backup', { dir });
  const endMs = performance.now();
  if (r.status !== 200) throw new Error(`backup failed: ${r.status} ${JSON.stringify(r.body)}`);
  const perShard = r.body.perShard as Array<{ replayed: number; lockMs: number | null }>;
  const replayed = perShard.reduce((s, p) => s + p.replayed, 0);
  return { ms: r.body.ms, bytes: r.body.bytes, members: r.body.members, replayed, lockMs: perShard.map((p) => p.lockMs ?? Number.POSITIVE_INFINITY), startMs, endMs };
}

console.log(machineLine());
console.log(`backup: ${fmt(members)} members on ${shards} shards, ${backups} backups idle and ${backups} under ${CONNECTIONS} HTTP connections posting purchases${quick ? ' (--quick)' : ''}`);
const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: String(shards), LOYALTY_SWEEP_INTERVAL_MS: '0' } });
let failed = false;
try {
  const engine = await Engine.open({ dataDir, shards });
  const imported = await importMembers(engine, rowsCsv(members));
  await engine.close();
  if (imported.imported !== members) throw new Error(`imported ${imported.imported} of ${members}`);
  await server.start();

  // Idle: the copy alone.
  const idle: BackupFigures[] = [];
  for (let i = 0; i < backups; i++) {
    idle.push(await backup(server, join(root, `idle-${i}`)));
    // The last one stays: the restore below starts from it.
    if (i < backups - 1) rmSync(join(root, `idle-${i}`), { recursive: true, force: true });
  }

  // Under load: closed-loop purchases on CONNECTIONS connections, backups in the middle.
  const writes: Write[] = [];
  let stopping = false;
  let orderNo = 0;
  let ackedTotal = 0;
  // A purchase whose orderId's home shard is not its member's also writes a claim of the key there (engine/shard/batch-claims.ts).
  let ackedClaims = 0;
  const writer = async (): Promise<void> => {
    while (!stopping) {
      const n = orderNo++;
      const startMs = performance.now();
      const r = await fetch(server.url('/v1/purchases'), {
        method: 'POST', headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ orderId: `b-${n}`, memberId: `m${(n * 7_919) % members}`, amountCents: 1_000 + (n % 50_000) }),
      });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`purchase answered ${r.status}`);
      ackedTotal += 1;
      if (hashId(`order:b-${n}`) % shards !== hashId(`m${(n * 7_919) % members}`) % shards) ackedClaims += 1;
      writes.push({ startMs, endMs: performance.now() });
    }
  };
  const writers = Array.from({ length: CONNECTIONS }, writer);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  writes.length = 0;
  const loadStartMs = performance.now();
  await new Promise((r) => setTimeout(r, BASELINE_MS / 2));
  const loaded: BackupFigures[] = [];
  for (let i = 0; i < backups; i++) {
    loaded.push(await backup(server, join(root, `loaded-${i}`)));
    rmSync(join(root, `loaded-${i}`), { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
  await new Promise((r) => setTimeout(r, BASELINE_MS / 2));
  stopping = true;
  await Promise.all(writers);
  const loadMs = performance.now() - loadStartMs;
  const overlaps = (w: Write) => loaded.some((b) => w.startMs < b.endMs && w.endMs > b.startMs);
  const during = writes.filter(overlaps).map((w) => w.endMs - w.startMs).sort((a, b) => a - b);
  const outside = writes.filter((w) => !overlaps(w)).map((w) => w.endMs - w.startMs).sort((a, b) => a - b);
  const verify = (await server.get('/v1/admin/verify')).body;
  await server.stop();

  // Restore: the last idle backup, checked and copied, then carried forward through the load.
  const plain = await restoreBackup({ backupDir: join(root, `idle-${backups - 1}`), dataDir: join(root, 'restored') });
  const pitr = await restoreBackup({ backupDir: join(root, `idle-${backups - 1}`), dataDir: join(root, 'recovered'), logFrom: dataDir });
  const replayed = pitr.shards.reduce((s, x) => ({ batches: s.batches + x.batches, ops: s.ops + x.ops }), { batches: 0, ops: 0 });
  const restoreCopyMs = plain.ms;
  const pitrReplayMs = pitr.ms - plain.ms;

  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const idleS = sum(idle.map((b) => b.ms)) / MS_PER_S;
  const bytes = idle[idle.length - 1]!.bytes;
  console.log('');
  console.log('| figure | value | unit |');
  console.log('|---|---:|---|');
  console.log(`| members backed up | ${fmt(idle[0]!.members)} | members |`);
  console.log(`| backup size | ${fmt(bytes / BYTES_PER_MB, 1)} | MB |`);
  console.log(`| backup time, idle (mean of ${backups}) | ${fmt(idleS * MS_PER_S / backups)} | ms |`);
  console.log(`| backup rate, idle | ${fmt(sum(idle.map((b) => b.members)) / idleS)} | members/s |`);
  console.log(`| backup rate, idle | ${fmt(sum(idle.map((b) => b.bytes)) / BYTES_PER_MB / idleS, 1)} | MB/s |`);
  console.log(`| backup time under load (mean of ${backups}) | ${fmt(sum(loaded.map((b) => b.ms)) / backups)} | ms |`);
  for (const [name, list] of [['idle', idle], ['under load', loaded]] as const) {
    const locks = list.flatMap((b) => b.lockMs).sort((a, b) => a - b);
    console.log(`| LMDB's writer lock held to start a copy, ${name}: p50 | ${fmt(percentile(locks, 0.5), 2)} | ms |`);
    console.log(`| LMDB's writer lock held to start a copy, ${name}: max | ${fmt(locks[locks.length - 1]!, 2)} | ms |`);
  }
  console.log(`| log entries replayed to the point, idle (mean per backup) | ${fmt(sum(idle.map((b) => b.replayed)) / backups, 1)} | entries |`);
  console.log(`| log entries replayed to the point, under load (mean per backup) | ${fmt(sum(loaded.map((b) => b.replayed)) / backups, 1)} | entries |`);
  console.log(`| HTTP purchases under load | ${fmt(writes.length / (loadMs / MS_PER_S))} | req/s |`);
  console.log(`| write latency p50, outside backups | ${fmt(percentile(outside, 0.5), 2)} | ms |`);
  console.log(`| write latency p50, overlapping a backup | ${fmt(percentile(during, 0.5), 2)} | ms |`);
  console.log(`| write latency p99, outside backups | ${fmt(percentile(outside, 0.99), 2)} | ms |`);
  console.log(`| write latency p99, overlapping a backup | ${fmt(percentile(during, 0.99), 2)} | ms |`);
  console.log(`| write latency max, outside backups | ${fmt(outside[outside.length - 1] ?? Number.NaN, 2)} | ms |`);
  console.log(`| write latency max, overlapping a backup | ${fmt(during[during.length - 1] ?? Number.NaN, 2)} | ms |`);
  console.log(`| writes overlapping a backup | ${fmt(during.length)} | writes |`);
  console.log(`| restore (check and copy) | ${fmt(bytes / BYTES_PER_MB / (restoreCopyMs / MS_PER_S), 1)} | MB/s |`);
  console.log(`| point-in-time replay after the copy | ${fmt(replayed.batches / (pitrReplayMs / MS_PER_S))} | batches/s |`);
  console.log(`| point-in-time replay after the copy | ${fmt(replayed.ops / (pitrReplayMs / MS_PER_S))} | ops/s |`);
  console.log('');
  // Every purchase of the load (warm-up included) came after the last idle backup: the recovery
  // replays each once, and each claim of a purchase's key on another shard once.
  if (verify.ok !== true || replayed.ops !== ackedTotal + ackedClaims) failed = true;
  console.log(`verify: ${verify.ok === true ? 'ok' : 'MISMATCH'}, ${fmt(verify.members)} members`);
  console.log(`recovery: ${fmt(replayed.ops)} ops replayed for ${fmt(ackedTotal)} purchases acked after the backup and ${fmt(ackedClaims)} claims of their keys`);
  console.log(`backup: ${failed ? 'FAILED' : 'ok'}`);
} catch (err) {
  failed = true;
  console.error(err);
  console.error(server.logs.slice(-20).join('\n'));
} finally {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
