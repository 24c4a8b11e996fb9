// The figures the console's live panel reads from /metrics (Prometheus text): write ops applied so
// far, ops waiting per shard, commits and their total time, requests answered. Pure.

export interface MetricsSample {
  /** loyalty_ops_total over every shard. */
  opsTotal: number;
  /** loyalty_queue_ops by shard: ops waiting for a batch. */
  queueOps: Map<string, number>;
  commitSecondsSum: number;
  commitCount: number;
  requestsTotal: number;
  streamConnections: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/;

function label(labels: string | undefined, name: string): string | null {
  if (labels === undefined) return null;
  const m = new RegExp(`(?:^|,)${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels);
  return m === null ? null : m[1]!;
}

export function parseMetrics(text: string): MetricsSample {
  const sample: MetricsSample = { opsTotal: 0, queueOps: new Map(), commitSecondsSum: 0, commitCount: 0, requestsTotal: 0, streamConnections: 0 };
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    switch (m[1]) {
      case 'loyalty_ops_total': sample.opsTotal += value; break;
      case 'loyalty_queue_ops': sample.queueOps.set(label(m[2], 'shard') ?? '?', value); break;
      case 'loyalty_commit_seconds_sum': sample.commitSecondsSum += value; break;
      case 'loyalty_commit_seconds_count': sample.commitCount += value; break;
      case 'loyalty_http_requests_total': sample.requestsTotal += value; break;
      case 'loyalty_stream_connections': sample.streamConnections += value; break;
      default: break;
    }
  }
  return sample;
}

/** Rates between two samples `elapsedMs` apart: ops/s, requests/s and the mean commit time in ms (null without commits). */
export function ratesBetween(before: MetricsSample, after: MetricsSample, elapsedMs: number): { opsPerSecond: number; requestsPerSecond: number; commitMs: number | null } {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const commits = after.commitCount - before.commitCount;
  return {
    opsPerSecond: Math.max(0, after.opsTotal - before.opsTotal) / seconds,
    requestsPerSecond: Math.max(0, after.requestsTotal - before.requestsTotal) / seconds,
    commitMs: commits > 0 ? ((after.commitSecondsSum - before.commitSecondsSum) / commits) * 1000 : null,
  };
}
