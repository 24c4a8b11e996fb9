// Smoke test of the benchmarks: the quick versions of bench/micro, bench/load, bench/sweep,
// bench/log and bench/backup run to the end, exit 0, and print only positive figures (and a clean verify and
// replay), so that the harness cannot rot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
/** Either benchmark in --quick mode takes a few seconds; this leaves room for a slow, busy machine. */
const BENCH_TIMEOUT_MS = 40_000;
const BENCH_OUTPUT_BYTES_MAX = 1024 * 1024;

async function runQuick(script: string): Promise<string> {
  // execFile rejects on a non-zero exit, with the output attached: the failure shows what was printed.
  const { stdout } = await run(process.execPath, [join(ROOT, 'dist/bench', script), '--quick'], {
    cwd: ROOT, timeout: BENCH_TIMEOUT_MS, maxBuffer: BENCH_OUTPUT_BYTES_MAX, killSignal: 'SIGTERM',
  });
  return stdout;
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

  it('bench/load drives a real server and prints positive figures with a clean verify', async () => {
    const out = await runQuick('load.js');
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    expect(out).toMatch(/^verify: ok, /m);
    expect(out).toMatch(/^replay: ok, /m);
    expect(out).toMatch(/^load: ok$/m);
    const rows = tableRows(out);
    const figures = new Map(rows.map(([name, value, unit]) => [name ?? '', { value: figure(value), unit }]));
    for (const name of [
      'raw lmdb puts (1,000 per txn, flushed)', 'WS batch latency p99', 'HTTP open-loop latency p99',
      'ledger database bytes per entry', 'WS purchases/s ÷ raw lmdb puts/s', 'HTTP req/s ÷ bare uWS req/s',
      'batch log bytes on disk per op (registrations and purchases)', 'replay check, batches', 'replay check, ops',
      'WS purchases/s with the log ÷ without', 'HTTP req/s with the log ÷ without',
    ]) expect(figures.has(name), name).toBe(true);
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const [name, { value, unit }] of figures) {
      // The RSS spread may be exactly zero when memory did not move; every other figure is a positive amount.
      if (unit === '%') expect(value, name).toBeGreaterThanOrEqual(0);
      else expect(value, name).toBeGreaterThan(0);
    }
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

  it('bench/backup takes backups idle and under load, restores one, and recovers through the load exactly', async () => {
    const out = await runQuick('backup.js');
    expect(out.split('\n')[0]).toMatch(/^machine: /);
    expect(out).toMatch(/^verify: ok, /m);
    expect(out).toMatch(/^recovery: ([\d,]+) ops replayed for \1 purchases acked after the backup$/m);
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
