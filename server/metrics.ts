// Counters for GET /metrics in the Prometheus text format: requests by status, ops, batch sizes,
// commit latency and queue depth per shard.
import type { Engine } from '../engine/router/engine.js';
import { BATCH_SIZE_BUCKETS } from '../engine/router/shard-client.js';
import { streamStats } from './stream.js';

/** What a shard's batch log holds (engine/shard/queries.ts logStatus): ops logged and the bytes of its pages. */
export interface LogFigures { lastSeq: number; ops: number; bytes: number }

export class Metrics {
  readonly requestsByStatus = new Map<number, number>();
  internalErrors = 0;

  countRequest(status: number): void {
    this.requestsByStatus.set(status, (this.requestsByStatus.get(status) ?? 0) + 1);
  }

  render(engine: Engine, storageBytes: Record<string, number>, logs: LogFigures[] = []): string {
    const lines: string[] = [];
    lines.push('# HELP loyalty_db_bytes Bytes of LMDB pages each database occupies, over all shards.', '# TYPE loyalty_db_bytes gauge');
    for (const [db, bytes] of Object.entries(storageBytes)) lines.push(`loyalty_db_bytes{db="${db}"} ${bytes}`);
    lines.push('# HELP loyalty_http_requests_total HTTP requests answered, by status.', '# TYPE loyalty_http_requests_total counter');
    for (const [status, n] of [...this.requestsByStatus].sort((a, b) => a[0] - b[0])) lines.push(`loyalty_http_requests_total{status="${status}"} ${n}`);
    lines.push('# HELP loyalty_internal_errors_total Requests that failed with an unexpected error.', '# TYPE loyalty_internal_errors_total counter', `loyalty_internal_errors_total ${this.internalErrors}`);
    lines.push('# HELP loyalty_stream_connections Open POS stream connections.', '# TYPE loyalty_stream_connections gauge', `loyalty_stream_connections ${streamStats.connections}`);
    lines.push('# HELP loyalty_stream_batches_total Stream batches received.', '# TYPE loyalty_stream_batches_total counter', `loyalty_stream_batches_total ${streamStats.batches}`);
    lines.push('# HELP loyalty_stream_parked_frames_total Stream frames held back because their connection had 64 unacked batches.', '# TYPE loyalty_stream_parked_frames_total counter', `loyalty_stream_parked_frames_total ${streamStats.parkedFrames}`);
    lines.push('# HELP loyalty_stream_bad_frames_total Stream frames refused as malformed.', '# TYPE loyalty_stream_bad_frames_total counter', `loyalty_stream_bad_frames_total ${streamStats.badFrames}`);
    const metric = (name: string, help: string, type: string, value: (i: number) => number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      engine.shards.forEach((s, i) => lines.push(`${name}{shard="${s.shardId}"} ${value(i)}`));
    };
    const stats = engine.shards.map((s) => s.stats);
    metric('loyalty_ops_total', 'Write ops applied durably.', 'counter', (i) => stats[i]!.ops);
    metric('loyalty_batches_total', 'Batches committed.', 'counter', (i) => stats[i]!.batches);
    metric('loyalty_commit_seconds_sum', 'Time from sending a batch to its durable reply, summed.', 'counter', (i) => stats[i]!.commitMsSum / 1000);
    metric('loyalty_queue_ops', 'Ops waiting for a batch.', 'gauge', (i) => engine.shards[i]!.pendingOps);
    if (logs.length === engine.shards.length) {
      metric('loyalty_log_entries', 'Last batch-log entry written (one per committed batch).', 'counter', (i) => logs[i]!.lastSeq);
      metric('loyalty_log_ops', 'Write ops the batch log holds (trimmed entries excluded).', 'gauge', (i) => logs[i]!.ops);
      metric('loyalty_log_bytes_per_op', 'Bytes of batch-log pages on disk per op the log holds.', 'gauge', (i) => (logs[i]!.ops > 0 ? Math.round((logs[i]!.bytes / logs[i]!.ops) * 10) / 10 : 0));
    }
    lines.push('# HELP loyalty_batch_ops Batch sizes.', '# TYPE loyalty_batch_ops histogram');
    engine.shards.forEach((s) => {
      let cumulative = 0;
      BATCH_SIZE_BUCKETS.forEach((b, j) => {
        cumulative += s.stats.batchSizeBuckets[j]!;
        lines.push(`loyalty_batch_ops_bucket{shard="${s.shardId}",le="${b}"} ${cumulative}`);
      });
      lines.push(`loyalty_batch_ops_bucket{shard="${s.shardId}",le="+Inf"} ${s.stats.batches}`);
      lines.push(`loyalty_batch_ops_sum{shard="${s.shardId}"} ${s.stats.batchOpsSum}`, `loyalty_batch_ops_count{shard="${s.shardId}"} ${s.stats.batches}`);
    });
    return lines.join('\n') + '\n';
  }
}
