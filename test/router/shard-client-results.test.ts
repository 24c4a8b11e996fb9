// A shard batch's results come back as records when every op is answered alone (HTTP's), and as
// the stream's packed msgpack when some op is a stream batch's (engine/shard-protocol.ts
// PackedBatchReply): in one batch holding both, each op must get its own answer, an op alone as an
// object and a group's ops as bytes that decode to the same. Runs the built ShardClient (dist/),
// whose worker thread is the built worker.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/server-process.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { ShardClient as ShardClientType } from '../../engine/router/shard-client.js';
import type { OpResult, RegisterOp, WriteOp } from '../../engine/ops.js';

/** What a registration's answer says: whether it succeeded, for whom, and whether it replayed. */
const view = (r: OpResult): unknown[] => [r.ok, (r as Record<string, unknown>)['memberId'], (r as Record<string, unknown>)['replayed']];

const dir = mkdtempSync(join(tmpdir(), 'loyalty-results-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a shard batch\'s results, packed or not', () => {
  it('answers ops alone and a group\'s ops sent in one batch, each with its own result', async () => {
    const { ShardClient } = await import(pathToFileURL(join(ROOT, 'dist/engine/router/shard-client.js')).href) as { ShardClient: typeof ShardClientType };
    const client = new ShardClient(0, dir);
    const atMs = Date.parse('2026-03-01T00:00:00Z');
    await client.control({ c: 'setProgram', version: 1, program: demoProgram(), atMs, record: true });
    const register = (id: string): RegisterOp => ({ op: 'register', memberId: id, key: `member:${id}`, fp: 1, atMs, referralChain: [] });
    // Alone only: the reply carries records.
    const alone = await Promise.all(['a1', 'a2'].map((id) => client.submit(register(id))));
    expect(alone.map((r) => view(r).slice(0, 2))).toEqual([[true, 'a1'], [true, 'a2']]);
    // In one synchronous step, so one batch: an op alone, a group, another op alone (a replay of a1).
    const first = client.submit(register('b1'));
    const group = client.submitGroup([register('g1'), register('a1'), register('g2')], false, () => ({ ok: false, error: { code: 'internal', message: 'x' } }));
    const last = client.submit(register('a2'));
    const [r1, list, r2] = await Promise.all([first, group, last]);
    expect(view(r1)).toEqual([true, 'b1', false]);
    expect(view(r2)).toEqual([true, 'a2', true]);
    expect(list.length).toBe(3);
    expect(list.packedAt(0)).not.toBeNull();
    const results: OpResult[] = list.toArray();
    expect(results.map(view)).toEqual([[true, 'g1', false], [true, 'a1', true], [true, 'g2', false]]);
    // The group's bytes read as the stream's acks carry them: a fresh registration's answer as an object.
    const fresh = await client.submit(register('c1') as WriteOp);
    expect(Object.keys(results[0]!)).toEqual(Object.keys(fresh));
    await client.close();
  });
});
