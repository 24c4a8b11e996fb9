// The figures GET /metrics exposes, in the Prometheus text format, built with prom-client on a
// registry of this server's own: HTTP requests by route and status, write ops, batch sizes, commit
// latency and queue depth per shard, the POS stream's counters, bytes per database, and
// prom-client's process metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../engine/router/engine.js';
import { streamStats } from './stream.js';

/**
 * Batch sizes in ops. The group commit closes a batch at 2,000 ops (BATCH_OPS_MAX) and the importer
 * sends 5,000 rows at once (IMPORT_BATCH_ROWS); the small buckets show an idle shard's batches of one.
 */
const BATCH_OPS_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000];
/**
 * Seconds from sending a batch to its durable reply. A commit's fdatasync alone is ~0.1-1.4 ms on the
 * machine this was measured on and a loaded shard answers in tens of ms; past 5 s something is wrong.
 */
const COMMIT_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Garbage collection pauses in seconds, for prom-client's nodejs_gc_duration_seconds. */
const GC_SECONDS_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];
/** Resolution of prom-client's event loop delay monitor (monitorEventLoopDelay), in ms. */
const EVENT_LOOP_MONITORING_PRECISION_MS = 10;
/**
 * prom-client's default metrics that break the Prometheus naming rules: gauges whose names end in
 * `_total`, which `promtool check metrics` refuses ("non-counter metrics should not have _total
 * suffix"). The same figures stay exposed by type, as `nodejs_active_handles{type}` and so on,
 * whose sum they are.
 */
const DEFAULT_METRICS_MISNAMED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const MS_PER_S = 1000;
/** HTTP methods counted by name; any other (a client may send anything) is counted as `other`. */
const METHODS_COUNTED = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** The route label of a request that matched no route: its path is the client's, so it is not a label. */
export const ROUTE_UNMATCHED = 'unmatched';

/** What a shard's batch log holds (engine/shard/queries.ts logStatus): its last entry, the ops it holds and the bytes of its pages. */
export interface LogFigures { lastSeq: number; ops: number; bytes: number }

export class Metrics {
  private readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly internalErrors: Counter;

  constructor(engine: Engine) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'loyalty_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status.',
      labelNames: ['method', 'route', 'status'], registers,
    });
    this.internalErrors = new Counter({ name: 'loyalty_internal_errors_total', help: 'Requests that failed with an unexpected error.', registers });
    // Figures the shard clients keep themselves are read when scraped; a counter is rebuilt from
    // its source on each scrape, so it can never drift from it.
    const perShard = (counter: Counter<'shard'>, value: (shard: Engine['shards'][number]) => number) => {
      counter.reset();
      for (const s of engine.shards) counter.inc({ shard: String(s.shardId) }, value(s));
    };
    new Counter({
      name: 'loyalty_ops_total', help: 'Write ops applied durably (imported rows included), per shard.', labelNames: ['shard'], registers,
      collect() { perShard(this, (s) => s.stats.ops); },
    });
    new Counter({
      name: 'loyalty_batches_total', help: 'Batches committed, per shard.', labelNames: ['shard'], registers,
      collect() { perShard(this, (s) => s.stats.batches); },
    });
    new Gauge({
      name: 'loyalty_queue_ops', help: 'Ops waiting for a batch, per shard.', labelNames: ['shard'], registers,
      collect() { for (const s of engine.shards) this.set({ shard: String(s.shardId) }, s.pendingOps); },
    });
    const batchOps = new Histogram({
      name: 'loyalty_batch_ops', help: 'Ops per committed batch, per shard.', labelNames: ['shard'], buckets: BATCH_OPS_BUCKETS, registers,
    });
    const commitSeconds = new Histogram({
      name: 'loyalty_commit_seconds', help: 'Seconds from sending a batch to its shard to its durable reply, per shard.',
      labelNames: ['shard'], buckets: COMMIT_SECONDS_BUCKETS, registers,
    });
    for (const s of engine.shards) {
      const shard = { shard: String(s.shardId) };
      // Zeroed series from the start, so that a fresh server's rates are 0 rather than absent.
      batchOps.zero(shard);
      commitSeconds.zero(shard);
      const ops = batchOps.labels(shard);
      const seconds = commitSeconds.labels(shard);
      s.onBatch = (opCount, commitMs) => {
        ops.observe(opCount);
        seconds.observe(commitMs / MS_PER_S);
      };
    }
    new Gauge({
      name: 'loyalty_stream_connections', help: 'Open POS stream connections.', registers,
      collect() { this.set(streamStats.connections); },
    });
    const streamCounter = (name: string, help: string, value: () => number) => new Counter({
      name, help, registers, collect() { this.reset(); this.inc(value()); },
    });
    streamCounter('loyalty_stream_batches_total', 'Stream batches received.', () => streamStats.batches);
    streamCounter('loyalty_stream_ops_total', 'Ops in the stream batches received.', () => streamStats.ops);
    streamCounter('loyalty_stream_parked_frames_total', 'Stream frames held back because their connection had 64 unacked batches.', () => streamStats.parkedFrames);
    streamCounter('loyalty_stream_bad_frames_total', 'Stream frames refused as malformed.', () => streamStats.badFrames);
    new Gauge({
      name: 'loyalty_db_bytes', help: 'Bytes of LMDB pages each database occupies, over all shards.', labelNames: ['db'], registers,
      async collect() {
        const storage = await engine.storage();
        this.reset();
        for (const [db, bytes] of Object.entries(storage)) this.set({ db }, bytes);
      },
    });
    // What each shard's batch log holds (engine/shard/queries.ts, query `log`).
    const logFigures = async (): Promise<LogFigures[]> => await Promise.all(engine.shards.map((s) => s.query({ q: 'log' }) as Promise<LogFigures>));
    new Counter({
      name: 'loyalty_log_entries_total', help: 'Batch-log entries written (one per committed batch), per shard.', labelNames: ['shard'], registers,
      async collect() {
        const logs = await logFigures();
        this.reset();
        engine.shards.forEach((s, i) => this.inc({ shard: String(s.shardId) }, logs[i]!.lastSeq));
      },
    });
    new Gauge({
      name: 'loyalty_log_ops', help: 'Write ops the batch log holds (trimmed entries excluded), per shard.', labelNames: ['shard'], registers,
      async collect() {
        const logs = await logFigures();
        engine.shards.forEach((s, i) => this.set({ shard: String(s.shardId) }, logs[i]!.ops));
      },
    });
    new Gauge({
      name: 'loyalty_log_bytes_per_op', help: 'Bytes of batch-log pages on disk per op the log holds, per shard.', labelNames: ['shard'], registers,
      async collect() {
        const logs = await logFigures();
        engine.shards.forEach((s, i) => this.set({ shard: String(s.shardId) }, logs[i]!.ops > 0 ? Math.round((logs[i]!.bytes / logs[i]!.ops) * 10) / 10 : 0));
      },
    });
    collectDefaultMetrics({
      register: this.registry, prefix: '', labels: {},
      gcDurationBuckets: GC_SECONDS_BUCKETS, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS,
    });
    for (const name of DEFAULT_METRICS_MISNAMED) this.registry.removeSingleMetric(name);
  }

  /** Counts one answered request under its route pattern (never its raw path: labels stay few). */
  countRequest(method: string, route: string, status: number): void {
    this.requests.inc({ method: METHODS_COUNTED.has(method) ? method : 'other', route, status: String(status) });
  }

  countInternalError(): void {
    this.internalErrors.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition, every collector read now. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
