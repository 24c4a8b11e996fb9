// The compaction benchmark (engine/shard/compaction.ts): on one shard of N imported members with
// some of them erased, how long a compaction takes (the compacting copy, then the swap) and how long
// writes sent meanwhile waited, against the same writes without it; and what a compacting backup
// copy costs against the plain one, alternated in the same run.
//
//   node dist/bench/compaction.js [--members N] [--erasures N] [--rounds N] [--quick]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../engine/router/engine.js';
import { importMembers } from '../server/import-members.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';
import type { CompactionReport, ShardCopyReply } from '../engine/shard-protocol.js';
import type { OpResult } from '../engine/ops.js';

const quick = process.argv.includes('--quick');
const members = Number(flag('--members') ?? (quick ? 4_000 : 100_000));
const erasures = Number(flag('--erasures') ?? (quick ? 10 : 100));
const rounds = Number(flag('--rounds') ?? (quick ? 1 : 3));
const CHUNK_ROWS = 1_000;
/** Purchases in flight at once while a compaction runs, and in the baseline. */
const WRITERS = 4;
const BASELINE_MS = quick ? 300 : 2_000;

const root = mkdtempSync(join(tmpdir(), 'loyalty-bench-compaction-'));
const dataDir = join(root, 'data');
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const failure = (err: unknown): OpResult => ({ ok: false, error: { code: 'internal', message: String(err) } as never });

async function* rowsCsv(count: number): AsyncGenerator<string> {
  yield 'memberId,name,phone,email,address,points\n';
  for (let start = 0; start < count; start += CHUNK_ROWS) {
    let chunk = '';
    for (let i = start; i < Math.min(count, start + CHUNK_ROWS); i++) chunk += `m${i},"Member ${i}",+852 ${String(50_000_000 + i)},m${i}@example.com,"${i} Some Street",${1 + (i % 500)}\n`;
    yield chunk;
  }
}

let order = 0;
/** Closed-loop purchases by WRITERS writers until `stop()` says so; answers each one's latency in ms. */
async function purchases(engine: Engine, stop: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: WRITERS }, async () => {
    while (!stop()) {
      const orderId = `o${order++}`;
      const started = performance.now();
      const r = await engine.run({ op: 'purchase', orderId, memberId: `m${erasures + (order % (members - erasures))}`, key: `order:${orderId}`, fp: 0, atMs: Date.now(), amountCents: 1_000, discountCents: 0, redeemPoints: 0, walletCents: 0 }, failure);
      if (!r.ok) throw new Error(`purchase failed: ${JSON.stringify(r)}`);
      latencies.push(performance.now() - started);
    }
  }));
  return latencies.sort((a, b) => a - b);
}

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;

console.log(machineLine());
console.log(`compaction benchmark: ${fmt(members)} members on one shard, ${erasures} erased`);
try {
  const engine = await Engine.open({ dataDir, shards: 1 });
  const imported = await importMembers(engine, rowsCsv(members));
  if (imported.imported !== members) throw new Error(`imported ${imported.imported} of ${members}`);
  for (let i = 0; i < erasures; i++) {
    const r = await engine.erase({ op: 'erase', memberId: `m${i}`, key: `req:erase-${i}`, fp: 0, atMs: Date.now() }, failure);
    if (!r.ok) throw new Error(`erase failed: ${JSON.stringify(r)}`);
  }
  const shard = engine.shards[0]!;
  for (let round = 1; round <= rounds; round++) {
    // Backups: the plain copy and the compacting one, alternated.
    for (const compact of [false, true]) {
      const dir = join(root, `copy-${round}-${compact}`);
      mkdirSync(dir, { mode: 0o700 });
      const c = await shard.control({ c: 'backup', dir, compact }) as ShardCopyReply;
      console.log(`round ${round}: backup copy ${compact ? 'compacting' : 'plain     '}: ${fmt(c.copyMs, 1)} ms, ${fmt(c.bytes / 1e6, 1)} MB`);
      rmSync(dir, { recursive: true, force: true });
    }
    // Writes without a compaction, then the same writes across one.
    let until = performance.now() + BASELINE_MS;
    const base = await purchases(engine, () => performance.now() > until);
    let compacting = true;
    const during = purchases(engine, () => !compacting);
    const started = performance.now();
    const report = (await engine.compact()).shards[0] as CompactionReport;
    const wallMs = performance.now() - started;
    compacting = false;
    const across = await during;
    until = 0;
    console.log(`round ${round}: compaction ${fmt(wallMs, 1)} ms (copy ${fmt(report.copyMs, 1)} ms, swap ${fmt(report.swapMs, 1)} ms), data file ${fmt(report.bytesBefore / 1e6, 1)} → ${fmt(report.bytesAfter / 1e6, 1)} MB`);
    console.log(`round ${round}: purchases without: ${fmt(base.length)}, p50 ${fmt(pct(base, 0.5), 2)} ms, max ${fmt(pct(base, 1), 1)} ms; across the compaction: ${fmt(across.length)}, max wait ${fmt(pct(across, 1), 1)} ms (${fmt(pct(across, 1) / wallMs, 2)}× the compaction's wall time)`);
  }
  await engine.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
