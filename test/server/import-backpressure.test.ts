// The importer treats a shard that answers `overloaded` (its task queue full, e.g. under live
// traffic) as back-pressure: the batch is sent again after a pause, never failed. Against a fake
// engine whose shard refuses the first batches it is sent.
import { describe, expect, it } from 'vitest';
import { LoyaltyError } from '../../engine/errors.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { OpResult, RegisterOp } from '../../engine/ops.js';
import type { Engine } from '../../engine/router/engine.js';
import { importMembers } from '../../server/import-members.js';

function overloadedShard(refusals: number) {
  const shard = {
    shardId: 0,
    sent: 0,
    refused: 0,
    async runImport(ops: RegisterOp[]): Promise<OpResult[]> {
      shard.sent += 1;
      if (shard.refused < refusals) { shard.refused += 1; throw new LoyaltyError('overloaded', 'the shard\'s task queue is full'); }
      return ops.map(() => ({ ok: true, asSent: true, replayed: false }));
    },
  };
  return shard;
}

function fakeEngine(shard: ReturnType<typeof overloadedShard>): Engine {
  let id = 0;
  return {
    shards: [shard],
    program: { version: 1, program: demoProgram() },
    now: () => Date.parse('2026-03-01T00:00:00Z'),
    newMemberId: () => `gen-${id++}`,
    shardOf: () => shard,
    claimUnique: () => 0,
    settleUnique: () => {},
  } as unknown as Engine;
}

describe('an import batch refused as overloaded', () => {
  it('is sent again until the shard takes it: every row is imported, none fails', async () => {
    const shard = overloadedShard(3);
    const csv = ['memberId,name', ...Array.from({ length: 12_000 }, (_, i) => `b-${i},Member ${i}`)].join('\n') + '\n';
    const result = await importMembers(fakeEngine(shard), csv);
    expect(result).toEqual({ imported: 12_000, skipped: 0, failed: 0, errors: [] });
    expect(shard.refused).toBe(3);
    // 12,000 rows are three batches of at most 5,000, each sent once more for every refusal it met.
    expect(shard.sent).toBe(3 + 3);
  });
});
