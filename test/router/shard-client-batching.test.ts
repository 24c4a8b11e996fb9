// How ops become batches while a shard is busy: with synchronous commits a shard runs one batch at
// a time, so ops that arrive one by one while a batch runs must wait together for the next batch,
// sent when the running one answers, instead of a first few going ahead to wait inside the shard
// (and every later one waiting for a third commit). A stream frame's hundreds of ops still go
// beside a running batch. Runs the built ShardClient (dist/), whose worker thread is the built worker.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/server-process.js';
import { demoProgram } from '../../engine/rules/program.js';
import { SECOND_BATCH_OPS_MIN } from '../../engine/limits.js';
import type { ShardClient as ShardClientType } from '../../engine/router/shard-client.js';
import type { RegisterOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-batching-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One turn of the event loop: what the shard client scheduled for it (a batch) has gone. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('batches formed while a shard is busy', () => {
  it('sends ops that arrive during a running batch as one batch when it answers, and a large group beside it', async () => {
    const { ShardClient } = await import(pathToFileURL(join(ROOT, 'dist/engine/router/shard-client.js')).href) as { ShardClient: typeof ShardClientType };
    const client = new ShardClient(0, dir);
    const atMs = Date.parse('2026-03-01T00:00:00Z');
    await client.control({ c: 'setProgram', version: 1, program: demoProgram(), atMs, record: true });
    const register = (id: string): RegisterOp => ({ op: 'register', memberId: id, key: `member:${id}`, fp: 1, atMs, referralChain: [] });

    // One op goes at once; ten more arrive over ten turns while its batch commits (an fdatasync,
    // far longer than ten turns of an idle event loop): they are answered by one second batch.
    const first = client.submit(register('a0'));
    await nextTurn();
    const later = [];
    for (let i = 1; i <= 10; i++) {
      later.push(client.submit(register(`a${i}`)));
      await nextTurn();
    }
    const answers = await Promise.all([first, ...later]);
    expect(answers.every((r) => r.ok)).toBe(true);
    expect(client.stats.batches).toBe(2);
    expect(client.stats.batchOpsSum).toBe(11);

    // A group as large as SECOND_BATCH_OPS_MIN arriving during a batch goes beside it: the shard
    // has it queued when the running batch commits.
    const running = client.submit(register('b0'));
    await nextTurn();
    expect(inFlightOf(client)).toBe(1);
    const group = client.submitGroup(Array.from({ length: SECOND_BATCH_OPS_MIN }, (_, i) => register(`g${i}`)), false, () => ({ ok: false, error: { code: 'internal', message: 'x' } }));
    await nextTurn();
    expect(inFlightOf(client)).toBe(2);
    const [alone, list] = await Promise.all([running, group]);
    expect(alone.ok).toBe(true);
    expect(list.toArray().every((r) => r.ok)).toBe(true);
    expect(client.stats.batches).toBe(4);
    await client.close();
  });
});

/** The batches a shard client has sent and not had answered. */
function inFlightOf(client: ShardClientType): number {
  return (client as unknown as { inFlight: number }).inFlight;
}
