// The commit clock the shards of a server share (engine/shard/commit-clock.ts): its readings are
// strictly increasing across threads, whatever the wall clock does, and start past a shard's last
// logged commit, so that commit times order causally related entries across shards.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { CommitClock } from '../../engine/shard/commit-clock.js';
import { COMMIT_CLOCK_BYTES } from '../../engine/shard-protocol.js';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/server-process.js';

const T = Date.parse('2026-03-01T09:00:00Z');

describe('the commit clock', () => {
  it('follows the wall clock to the microsecond, and steps a microsecond when it stands still or goes back', () => {
    const clock = new CommitClock();
    expect(clock.next(T)).toBe(T);
    expect(clock.next(T)).toBe(T + 0.001);
    expect(clock.next(T - 5_000)).toBe(T + 0.002);
    expect(clock.next(T + 0.5)).toBe(T + 0.5);
    expect(clock.next(T + 10)).toBe(T + 10);
  });

  it('is raised to a shard\'s last logged commit and never lowered', () => {
    const clock = new CommitClock();
    clock.raise(T + 1_000.25);
    clock.raise(T);
    expect(clock.next(T)).toBe(T + 1_000.251);
  });

  it('gives every thread sharing it distinct, increasing times', async () => {
    const buffer = new SharedArrayBuffer(COMMIT_CLOCK_BYTES);
    const perThread = 20_000;
    // Each thread runs the built clock (dist/) with a frozen wall clock, the worst case for ties.
    const module = pathToFileURL(join(ROOT, 'dist/engine/shard/commit-clock.js')).href;
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.module).then(({ CommitClock }) => {
        const clock = new CommitClock(workerData.buffer);
        const out = new Float64Array(workerData.n);
        for (let i = 0; i < workerData.n; i++) out[i] = clock.next(workerData.t);
        parentPort.postMessage(out);
      });`;
    const threads = [0, 1].map(() => new Promise<Float64Array>((resolve, reject) => {
      const w = new Worker(source, { eval: true, workerData: { buffer, n: perThread, t: T, module } });
      w.once('message', resolve);
      w.once('error', reject);
    }));
    const clock = new CommitClock(buffer);
    const mine = Array.from({ length: perThread }, () => clock.next(T));
    const all = [...mine, ...(await Promise.all(threads)).flatMap((a) => [...a])];
    expect(new Set(all).size).toBe(3 * perThread);
    for (let i = 1; i < mine.length; i++) expect(mine[i]!).toBeGreaterThan(mine[i - 1]!);
  });
});
