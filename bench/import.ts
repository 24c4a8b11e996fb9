// The CSV import benchmark: N generated member rows (id, name, phone, email, birthday, opening
// points) parsed and registered end to end through the engine on a fresh data folder, as
// `loyalty import` and POST /v1/import/members do. Prints rows/s, then checks the ledger with verify.
// The baseline, measured in the same run after the import: csv-parse alone reading the same rows.
//
//   node dist/bench/import.js [--rows N] [--shards N] [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import { Engine } from '../engine/router/engine.js';
import { importMembers, type ImportProgress } from '../server/import-members.js';
import { machineLine } from './machine.js';
import { flag } from './flags.js';

const ROWS_DEFAULT = 1_000_000;
/** The smoke test's run: a few seconds even on a busy two-core machine. */
const ROWS_QUICK = 5_000;
/** Rows per generated chunk: about 80 kB of CSV, like a file read's chunk. */
const CHUNK_ROWS = 1_000;
const SHARDS_DEFAULT = 2;
const PROGRESS_INTERVAL_MS = 5_000;
const MS_PER_S = 1000;


function positiveInt(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

/** The CSV, generated as it is read: a header, then `rows` distinct members. */
async function* generate(rows: number): AsyncGenerator<string> {
  yield 'memberId,name,phone,email,birthday,points\n';
  for (let start = 0; start < rows; start += CHUNK_ROWS) {
    let chunk = '';
    for (let i = start; i < Math.min(rows, start + CHUNK_ROWS); i++) {
      const month = String(1 + (i % 12)).padStart(2, '0');
      chunk += `imp-${i},"Member ${i}",+852 ${String(10_000_000 + i)},m${i}@example.com,1990-${month}-15,${i % 500}\n`;
    }
    yield chunk;
  }
}

const quick = process.argv.includes('--quick');
const rows = positiveInt(flag('--rows'), quick ? ROWS_QUICK : ROWS_DEFAULT, '--rows');
const shards = positiveInt(flag('--shards'), SHARDS_DEFAULT, '--shards');
const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-bench-import-'));

console.log(machineLine());
console.log(`import: ${rows.toLocaleString('en-US')} rows, ${shards} shards, data in ${dataDir}`);
/** Seconds csv-parse alone takes over the same rows, with the import's options. */
async function parseOnly(): Promise<number> {
  const started = performance.now();
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: false });
  let records = 0;
  parser.on('data', () => { records += 1; });
  const closed = new Promise((r) => parser.once('end', r));
  for await (const chunk of generate(rows)) if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
  parser.end();
  await closed;
  if (records !== rows + 1) throw new Error(`csv-parse read ${records} records, expected ${rows + 1}`);
  return (performance.now() - started) / MS_PER_S;
}
const engine = await Engine.open({ dataDir, shards });
try {
  const progress: ImportProgress = { rows: 0, bytes: 0 };
  const started = performance.now();
  const timer = setInterval(() => {
    const s = (performance.now() - started) / MS_PER_S;
    console.log(`  … ${progress.rows.toLocaleString('en-US')} rows in ${s.toFixed(1)} s (${Math.round(progress.rows / s).toLocaleString('en-US')} rows/s)`);
  }, PROGRESS_INTERVAL_MS);
  const result = await importMembers(engine, generate(rows), progress);
  clearInterval(timer);
  const seconds = (performance.now() - started) / MS_PER_S;
  const report = await engine.verify();
  // After the import, not before: a parse run first left the import 1.5-2 s slower (measured).
  const baselineSeconds = await parseOnly();
  console.log('');
  console.log('| figure | value |');
  console.log('|---|---|');
  console.log(`| rows | ${rows.toLocaleString('en-US')} |`);
  console.log(`| imported | ${result.imported.toLocaleString('en-US')} |`);
  console.log(`| failed | ${result.failed.toLocaleString('en-US')} |`);
  console.log(`| seconds | ${seconds.toFixed(2)} |`);
  console.log(`| rows/s | ${Math.round(rows / seconds).toLocaleString('en-US')} |`);
  console.log(`| baseline: csv-parse alone, rows/s | ${Math.round(rows / baselineSeconds).toLocaleString('en-US')} |`);
  console.log(`| import ÷ csv-parse alone | ${(baselineSeconds / seconds).toFixed(3)} |`);
  console.log(`| CSV MB/s | ${(progress.bytes / 1e6 / seconds).toFixed(1)} |`);
  const batches = engine.shards.reduce((sum, s) => sum + s.stats.batches, 0);
  console.log(`| mean ops per shard batch | ${Math.round(engine.shards.reduce((sum, s) => sum + s.stats.ops, 0) / Math.max(1, batches))} |`);
  console.log(`| verify | ${report.ok ? 'ok' : 'MISMATCH'} (${report.members.toLocaleString('en-US')} members) |`);
  if (!report.ok || result.imported !== rows) process.exitCode = 1;
} finally {
  await engine.close();
  rmSync(dataDir, { recursive: true, force: true });
}
