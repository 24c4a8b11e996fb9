// GET /metrics against a real server: the exposition passes a strict reading of the Prometheus text
// format (what `promtool check metrics` refuses, and more), names every figure with its type, and
// counts exactly what was done. When `promtool` is installed (PATH or LOYALTY_PROMTOOL), it checks
// the same text too.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess } from '../helpers/server-process.js';
import { parseExposition, type Exposition, type Family } from '../helpers/prometheus-text.js';

/** promtool from LOYALTY_PROMTOOL or the PATH, or null when neither has it. */
function findPromtool(): string | null {
  const named = process.env['LOYALTY_PROMTOOL'];
  if (named !== undefined && named !== '') return named;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, 'promtool'))) return join(dir, 'promtool');
  }
  return null;
}

const sum = (f: Family | undefined, name: string) => (f?.samples ?? []).filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

describe('the strict exposition reader', () => {
  it('refuses what the hand-written exposition did: a counter named _sum', () => {
    const text = [
      '# HELP loyalty_commit_seconds_sum Time summed.', '# TYPE loyalty_commit_seconds_sum counter',
      'loyalty_commit_seconds_sum{shard="0"} 0.5', '',
    ].join('\n');
    expect(parseExposition(text).problems).toEqual([
      'counter loyalty_commit_seconds_sum does not end in _total',
      'counter loyalty_commit_seconds_sum ends in a suffix reserved for histograms and summaries',
    ]);
  });

  it('refuses histograms whose buckets are not cumulative, lack +Inf, _sum or _count, and gauges named _total', () => {
    const text = [
      '# HELP lat_seconds A histogram.', '# TYPE lat_seconds histogram',
      'lat_seconds_bucket{le="1"} 5', 'lat_seconds_bucket{le="2"} 3', 'lat_seconds_count 3',
      '# HELP g_total A gauge.', '# TYPE g_total gauge', 'g_total 1',
      '# TYPE c_total counter', 'c_total 1', '',
    ].join('\n');
    expect(parseExposition(text).problems).toEqual([
      'lat_seconds{}: buckets not cumulative',
      'lat_seconds{}: no +Inf bucket last',
      'lat_seconds{}: no _sum',
      'gauge g_total ends in _total, which only counters may',
      'family c_total has no HELP',
    ]);
  });

  it('refuses a family split in two places, repeated series and abbreviated units', () => {
    const text = [
      '# HELP a_ms A.', '# TYPE a_ms gauge', 'a_ms 1', 'a_ms 2',
      '# HELP other_value B.', '# TYPE other_value gauge', 'other_value 1', 'a_ms{x="1"} 3', '',
    ].join('\n');
    expect(parseExposition(text).problems).toEqual([
      'repeated series a_ms{}',
      'sample a_ms outside its family\'s block',
      'a_ms abbreviates a unit (ms)',
    ]);
  });
});

describe('GET /metrics', () => {
  const server = new ServerProcess(ServerProcess.tempDataDir());
  let text = '';
  let contentType = '';
  let exposition: Exposition;

  beforeAll(async () => {
    await server.start();
    for (const id of ['mx-a', 'mx-b', 'mx-c']) expect((await server.post('/v1/members', { memberId: id, name: id })).status).toBe(201);
    expect((await server.post('/v1/purchases', { orderId: 'mx-o1', memberId: 'mx-a', amountCents: 4000 })).status).toBe(200);
    expect((await server.get('/v1/members/mx-a')).status).toBe(200);
    expect((await server.get('/v1/members/mx-b')).status).toBe(200);
    expect((await server.get('/v1/members/nobody')).status).toBe(404);
    expect((await server.get('/no/such/path/secret-123')).status).toBe(404);
    // Prometheus scrapes with a reader key.
    const reader = await server.post('/v1/admin/keys', { role: 'reader' });
    expect(reader.status).toBe(201);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`, { headers: { authorization: `Bearer ${reader.body.key as string}` } });
    expect(res.status).toBe(200);
    contentType = res.headers.get('content-type') ?? '';
    text = await res.text();
    exposition = parseExposition(text);
  });
  afterAll(async () => {
    await server.stop();
    server.cleanup();
  });

  it('is the Prometheus text format, with nothing a strict reader refuses', () => {
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(exposition.problems).toEqual([]);
  });

  it('names every figure with its type', () => {
    const types = Object.fromEntries([...exposition.families.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      loyalty_http_requests_total: 'counter',
      loyalty_internal_errors_total: 'counter',
      loyalty_ops_total: 'counter',
      loyalty_batches_total: 'counter',
      loyalty_queue_ops: 'gauge',
      loyalty_batch_ops: 'histogram',
      loyalty_commit_seconds: 'histogram',
      loyalty_stream_connections: 'gauge',
      loyalty_stream_batches_total: 'counter',
      loyalty_stream_ops_total: 'counter',
      loyalty_stream_parked_frames_total: 'counter',
      loyalty_stream_bad_frames_total: 'counter',
      loyalty_db_bytes: 'gauge',
      // prom-client's process metrics.
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      process_start_time_seconds: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
      nodejs_gc_duration_seconds: 'histogram',
      nodejs_active_handles: 'gauge',
    });
    // prom-client's gauges named _total are left out; their figures stay, by type.
    expect(types['nodejs_active_handles_total']).toBeUndefined();
  });

  it('counts requests by method, route pattern and status, never by raw path', () => {
    const requests = exposition.families.get('loyalty_http_requests_total')!.samples;
    const count = (method: string, route: string, status: string) =>
      requests.find((s) => s.labels['method'] === method && s.labels['route'] === route && s.labels['status'] === status)?.value;
    expect(count('POST', '/v1/members', '201')).toBe(3);
    expect(count('POST', '/v1/purchases', '200')).toBe(1);
    expect(count('GET', '/v1/members/:id', '200')).toBe(2);
    expect(count('GET', '/v1/members/:id', '404')).toBe(1);
    expect(count('GET', 'unmatched', '404')).toBe(1);
    expect(count('POST', '/v1/admin/keys', '201')).toBe(1);
    expect(text).not.toContain('secret-123');
    expect(text).not.toContain('mx-a');
  });

  it('counts every durable op and batch per shard, and the histograms agree with the counters', () => {
    const f = (name: string) => exposition.families.get(name);
    // Three registrations and a purchase, on two shards, and the claim of the purchase's key on
    // its home shard (order:mx-o1 hashes to shard 1, member mx-a lives on shard 0).
    expect(sum(f('loyalty_ops_total'), 'loyalty_ops_total')).toBe(5);
    expect(f('loyalty_ops_total')!.samples.map((s) => s.labels['shard']).sort()).toEqual(['0', '1']);
    const batches = sum(f('loyalty_batches_total'), 'loyalty_batches_total');
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(sum(f('loyalty_batch_ops'), 'loyalty_batch_ops_count')).toBe(batches);
    expect(sum(f('loyalty_batch_ops'), 'loyalty_batch_ops_sum')).toBe(5);
    expect(sum(f('loyalty_commit_seconds'), 'loyalty_commit_seconds_count')).toBe(batches);
    expect(sum(f('loyalty_commit_seconds'), 'loyalty_commit_seconds_sum')).toBeGreaterThan(0);
    expect(f('loyalty_queue_ops')!.samples.map((s) => s.value)).toEqual([0, 0]);
    expect(sum(f('loyalty_internal_errors_total'), 'loyalty_internal_errors_total')).toBe(0);
    const members = f('loyalty_db_bytes')!.samples.find((s) => s.labels['db'] === 'members');
    expect(members?.value).toBeGreaterThan(0);
  });

  const promtool = findPromtool();
  // Outside CI a machine without promtool skips this check; in CI (.ci/run installs promtool) it must run.
  it.skipIf(promtool === null && process.env['CI'] === undefined)('passes promtool check metrics', () => {
    expect(promtool, 'promtool is missing: .ci/run installs it from Debian\'s prometheus package').not.toBeNull();
    const run = spawnSync(promtool!, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ status: run.status, out: run.stdout + run.stderr }).toEqual({ status: 0, out: '' });
  });
});
