// A shard runs its tasks in the order the router hands them over, however many are waiting, so that
// a batch never runs before one sent ahead of it. Ten import batches handed to one shard in one step
// must commit, and be logged, in that order. Runs the built
// ShardClient (dist/), whose worker thread is the built worker.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/server-process.js';
import { demoProgram } from '../../engine/rules/program.js';
import { openShardStore } from '../../engine/shard/store.js';
import { decodeLogValue, logValues } from '../../engine/shard/batch-log.js';
import type { ShardClient as ShardClientType } from '../../engine/router/shard-client.js';
import type { RegisterOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-order-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BATCHES = 10;
const ROWS = 50;

describe('the order of a shard\'s tasks', () => {
  it('commits ten import batches handed over at once in the order they were handed over', async () => {
    const { ShardClient } = await import(pathToFileURL(join(ROOT, 'dist/engine/router/shard-client.js')).href) as { ShardClient: typeof ShardClientType };
    const client = new ShardClient(0, dir);
    const atMs = Date.parse('2026-03-01T00:00:00Z');
    await client.control({ c: 'setProgram', version: 1, program: demoProgram(), atMs, record: true });
    const row = (b: number, i: number): RegisterOp => ({ op: 'register', memberId: `b${b}-m${i}`, key: `member:b${b}-m${i}`, fp: 0, atMs, referralChain: [], lean: true });
    // All handed over in one synchronous step: four reach the worker at once, six wait in Piscina's queue.
    const answers = await Promise.all(Array.from({ length: BATCHES }, (_, b) => client.runImport(Array.from({ length: ROWS }, (_, i) => row(b, i)))));
    expect(answers.every((a) => a.every((r) => r.ok))).toBe(true);
    await client.close();
    const store = openShardStore(join(dir, 'shard-0'), undefined, { readOnly: true });
    const order: number[] = [];
    for (const [seq, value] of logValues(store)) {
      const record = decodeLogValue(seq, value);
      if (record.task.kind !== 'import') continue;
      const first = record.task.rows.memberId[0]!;
      order.push(Number(/^b(\d+)-/.exec(first)![1]));
    }
    await store.root.close();
    expect(order).toEqual(Array.from({ length: BATCHES }, (_, b) => b));
  });
});
