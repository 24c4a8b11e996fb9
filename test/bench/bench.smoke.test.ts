// Smoke test of the benchmarks: the quick versions of bench/micro, load, search, sweep, log, what-if
// and backup run to the end, exit 0, and print only positive figures (and a clean verify and
// replay), so that the harness cannot rot. The load benchmark's PostgreSQL peer and wrk client run
// whenever they are installed, and in CI (CI set) they must be: there a missing one fails the test.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { findPostgres } from '../../bench/pg-peer.js';
import { findWrk } from '../../bench/wrk.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
/** Each benchmark in --quick mode takes a few seconds; this leaves room for a slow, busy machine. */
const BENCH_TIMEOUT_MS = 40_000;
/**
 * bench/load --quick runs two servers (the log's cost is measured against one without it) and a
 * PostgreSQL cluster (initdb, two pgbench runs): about 25 s alone.
 */
const LOAD_BENCH_TIMEOUT_MS = 120_000;
const BENCH_OUTPUT_BYTES_MAX = 1024 * 1024;

async function runQuick(script: string, timeoutMs = BENCH_TIMEOUT_MS): Promise<string> {
  // execFile rejects on a non-zero exit, with the output attached: the failure shows what was printed.
  try {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench', script), '--quick'], {
      cwd: ROOT, timeout: timeoutMs, maxBuffer: BENCH_OUTPUT_BYTES_MAX, killSignal: 'SIGTERM',
    });
    return stdout;
  } catch (err) {
    // The benchmark's own lines say why it failed (its last line names the problem); show them.
    const out = (err as { stdout?: string }).stdout ?? '';
    throw new Error(`${(err as Error).message}\n${out.split('\n').slice(-15).join('\n')}`);
  }
}

/** The body rows of the markdown tables in `output`, as arrays of trimmed cells. */
function tableRows(output: string): string[][] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('|---'))
    .map((line) => line.slice(1, -1).split('|').map((cell) => cell.trim()))
    .filter((cells) => !['scenario', 'figure'].includes(cells[0] ?? ''));
}

/** A printed figure: thousands separators and a leading ± are formatting, anything else is not a number. */
function figure(text: string | undefined): number {
  return Number((text ?? '').replace(/,/g, '').replace(/^±/, ''));
}

describe('benchmarks (quick)', () => {
  it('bench/micro prints positive rates and latencies for every scenario and the WASM/reference ratio', async () => {
    const out = await runQuick('micro.js');
    expect(out.split('\n')[0]).toMatch(/^machine: .+, \d+ cores, [\d.]+ GiB RAM, node v\d+/);
    const rows = tableRows(out);
    expect(rows.map((r) => r[0])).toEqual([
      expect.stringContaining('core: WASM'),
      expect.stringContaining('core: TypeScript reference'),
      expect.stringContaining('msgpackr'),
      expect.stringContaining('lmdb'),
    ]);
    for (const [scenario, rate, unit, meanMs, p99Ms, samples] of rows) {
      expect(unit, scenario).toMatch(/^(ops|puts)\/s$/);
      for (const value of [rate, meanMs, p99Ms, samples]) expect(figure(value), `${scenario}: ${value}`).toBeGreaterThan(0);
    }
    const ratio = /core ratio WASM\/reference: ([\d.]+)x/.exec(out);
    expect(ratio).not.toBeNull();
    expect(figure(ratio![1])).toBeGreaterThan(0);
  });

  it('bench/load drives a real server and the PostgreSQL peer and prints positive figures with a clean verify', async () => {
    const pgInstalled = findPostgres() !== undefined;
    const wrkInstalled = findWrk() !== undefined;
    if (process.env['CI']) {
      expect(pgInstalled, 'CI must install PostgreSQL (.ci/run): the load benchmark measures its peer').toBe(true);
      expect(wrkInstalled, 'CI must install wrk (.ci/run): the load benchmark\'s HTTP client').toBe(true);
    }
    const out = await runQuick('load.js', LOAD_BENCH_TIMEOUT_MS);
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    expect(out).toMatch(/^verify: ok, /m);
    expect(out).toMatch(/^replay: ok, /m);
    expect(out).toMatch(/^load: ok$/m);
    expect(out).toMatch(wrkInstalled ? /^http client: wrk (?!not installed)/m : /^http client: wrk not installed, /m);
    if (pgInstalled) expect(out).toMatch(/^postgres peer ledger check: ok, [\d,]+ orders$/m);
    const rows = tableRows(out);
    const figures = new Map(rows.map(([name, value, unit]) => [name ?? '', { text: value ?? '', value: figure(value), unit }]));
    const client = wrkInstalled ? 'wrk' : 'Node client';
    const peer = [
      'PostgreSQL peer, 1 purchase per transaction, 64 connections (pgbench)', 'PostgreSQL peer, per-purchase transaction latency p99',
      'PostgreSQL peer, 100 purchases per transaction, 16 connections (pgbench)', 'PostgreSQL peer, 100-purchase transaction latency p99',
      'WS purchases/s ÷ PostgreSQL per-purchase purchases/s', 'WS purchases/s ÷ PostgreSQL batched purchases/s',
      'HTTP req/s ÷ PostgreSQL per-purchase purchases/s', 'HTTP req/s ÷ PostgreSQL batched purchases/s',
    ];
    for (const name of [
      'raw lmdb puts (1,000 per txn, flushed)', `bare uWS, 8 connections, ${client}`, `HTTP purchases, closed loop, 8 connections, ${client}`,
      'WS batch latency p99', 'HTTP open-loop latency p99',
      'ledger database bytes per entry', 'WS purchases/s ÷ raw lmdb puts/s', 'HTTP req/s ÷ bare uWS req/s',
      'batch log bytes on disk per op (registrations and purchases)', 'replay check, batches', 'replay check, ops',
      'WS purchases/s with the log ÷ without', 'HTTP req/s with the log ÷ without', ...peer,
    ]) expect(figures.has(name), name).toBe(true);
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const [name, { text, value, unit }] of figures) {
      // Without PostgreSQL (outside CI only) the peer's figures say so instead of a number.
      if (!pgInstalled && name.includes('PostgreSQL')) expect(text, name).toBe('not measured (PostgreSQL not installed)');
      // The RSS spread may be exactly zero when memory did not move; every other figure is a positive amount.
      else if (unit === '%') expect(value, name).toBeGreaterThanOrEqual(0);
      else expect(value, name).toBeGreaterThan(0);
    }
  }, LOAD_BENCH_TIMEOUT_MS + 10_000);

  it('bench/search finds members by every kind of prefix and times purchases beside searching readers', async () => {
    const out = await runQuick('search.js');
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    expect(out).toMatch(/^search: ok$/m);
    const rows = tableRows(out).filter((r) => !r[0]!.startsWith('search (limit') && !r[0]!.startsWith('POS purchases'));
    expect(rows).toHaveLength(9);
    const searches = rows.slice(0, 6);
    // Found: at most a page of what matches.
    expect(searches.map((r) => figure(r[3]))).toEqual(searches.map((r) => Math.min(50, figure(r[2]))));
    expect(searches.map((r) => figure(r[2]))).toEqual([0, 1, 1, 1, 4, 328]);
    for (const [kind, , , , p50, p99] of searches) for (const v of [p50, p99]) expect(figure(v), kind).toBeGreaterThan(0);
    for (const [phase, purchases, p50, p99] of rows.slice(6)) for (const v of [purchases, p50, p99]) expect(figure(v), phase).toBeGreaterThan(0);
  });

  it('bench/sweep brings every member with an ended period up to date', async () => {
    const out = await runQuick('sweep.js');
    const m = /^sweep: ([\d,]+) members in ([\d.]+) s on one thread = ([\d,]+) members\/s$/m.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![1]!.replace(/,/g, ''))).toBe(4000);
    expect(Number(m![3]!.replace(/,/g, ''))).toBeGreaterThan(0);
  });

  it('bench/log measures the log\'s cost per purchase, its bytes and the replay rate, and the replay is equal', async () => {
    const out = await runQuick('log.js');
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    expect(out).toMatch(/^log: ok, \d+ entries replayed equal$/m);
    const figures = new Map(tableRows(out).map(([name, value, unit]) => [`${name} (${unit})`, figure(value)]));
    expect([...figures.keys()]).toEqual([
      'commit, batch log on (µs/purchase)', 'commit, batch log off (µs/purchase)', 'commit time with the log ÷ without (ratio)',
      'batch log on disk (registrations and purchases) (B/op)', 'replay (batches/s)', 'replay (ops/s)', 'replay ÷ live commit (log on) (ratio)',
      'bytes per purchase op in its log entry (B/op)', 'comparison of every database (entries/s)',
    ]);
    for (const [name, value] of figures) expect(value, name).toBeGreaterThan(0);
    expect(figures.get('bytes per purchase op in its log entry (B/op)')).toBeLessThanOrEqual(80);
  });

  it('bench/shard-cpu prints the CPU per purchase and its split, which adds up, and the books verify', async () => {
    const out = await runQuick('shard-cpu.js');
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    expect(out).toMatch(/^verify: ok, 2 shards at 20,000 members$/m);
    expect(out).toMatch(/^shard-cpu: ok$/m);
    const rows = tableRows(out).filter(([name]) => !['part', 'function (self time)'].includes(name ?? ''));
    const figures = new Map(rows.map(([name, value, unit]) => [name ?? '', { value: figure(value), unit }]));
    expect(figures.get('this build: CPU per purchase')!.value).toBeGreaterThan(0);
    expect(figures.get('this build: CPU per purchase')!.unit).toBe('µs/purchase');
    const parts = ['reads', 'puts', 'commit', 'msgpack', 'codecs', 'log', 'executor', 'gc', 'other'].map((p) => figures.get(p)!);
    const shares = parts.reduce((sum, p) => sum + figure((p.unit ?? '').replace('%', '')), 0);
    expect(shares).toBeGreaterThan(99.5);
    expect(shares).toBeLessThan(100.5);
    expect(figures.get('reads')!.value + figures.get('puts')!.value).toBeGreaterThan(0);
  });

  it('bench/what-if replays a recorded history under doubled earn rates and measures POS latency beside it', async () => {
    const out = await runQuick('what-if.js');
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    const rows = tableRows(out);
    expect(rows.map((r) => r[0]!.replace(/\d[\d,]*/g, 'N'))).toEqual([
      'log entries replayed (both copies each)', 'what-if alone', 'what-if under N purchases/s (the history and the first load\'s purchases)',
      'HTTP purchases at N/s, no what-if: pN / pN / pN.N ms', 'the same during a what-if: pN / pN / pN.N ms', 'pN during / without',
    ]);
    // Each value opens with a positive figure: seconds, milliseconds, entries or a ratio (`0.93x`).
    for (const [name, value] of rows) expect(figure(value!.split(/[\s(x]/)[0]), name).toBeGreaterThan(0);
    expect(out).toMatch(/^what-if: pointsIssued [\d,]+ -> [\d,]+, credits [\d,]+ substituted$/m);
  });

  it('bench/backup takes backups idle and under load, restores one, and recovers through the load exactly', async () => {
    const out = await runQuick('backup.js');
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    expect(out).toMatch(/^verify: ok, /m);
    const recovery = /^recovery: ([\d,]+) ops replayed for ([\d,]+) purchases acked after the backup and ([\d,]+) claims of their keys$/m.exec(out);
    expect(recovery).not.toBeNull();
    const count = (i: number) => Number(recovery![i]!.replace(/,/g, ''));
    expect(count(1)).toBe(count(2) + count(3));
    expect(out).toMatch(/^backup: ok$/m);
    const figures = new Map(tableRows(out).map(([name, value, unit]) => [`${name} (${unit})`, figure(value)]));
    expect([...figures.keys()]).toEqual([
      'members backed up (members)', 'backup size (MB)', 'backup time, idle (mean of 2) (ms)', 'backup rate, idle (members/s)',
      'backup rate, idle (MB/s)', 'backup time under load (mean of 2) (ms)',
      'LMDB\'s writer lock held to start a copy, idle: p50 (ms)', 'LMDB\'s writer lock held to start a copy, idle: max (ms)',
      'LMDB\'s writer lock held to start a copy, under load: p50 (ms)', 'LMDB\'s writer lock held to start a copy, under load: max (ms)',
      'log entries replayed to the point, idle (mean per backup) (entries)', 'log entries replayed to the point, under load (mean per backup) (entries)',
      'HTTP purchases under load (req/s)', 'write latency p50, outside backups (ms)', 'write latency p50, overlapping a backup (ms)',
      'write latency p99, outside backups (ms)', 'write latency p99, overlapping a backup (ms)', 'write latency max, outside backups (ms)',
      'write latency max, overlapping a backup (ms)', 'writes overlapping a backup (writes)', 'restore (check and copy) (MB/s)',
      'point-in-time replay after the copy (batches/s)', 'point-in-time replay after the copy (ops/s)',
    ]);
    expect(figures.get('members backed up (members)')).toBe(4000);
    // Idle, nothing is committed while the shards are copied: nothing to replay. LMDB's lock for a
    // copy's start may be held for less than the 0.01 ms printed.
    expect(figures.get('log entries replayed to the point, idle (mean per backup) (entries)')).toBe(0);
    for (const [name, value] of figures) {
      if (name.startsWith('LMDB')) expect(value, name).toBeGreaterThanOrEqual(0);
      else if (!name.includes(', idle (mean per backup)')) expect(value, name).toBeGreaterThan(0);
    }
  });
});
