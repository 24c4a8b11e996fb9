// The last unit of a reward's stock is never refused while it may yet come back: the built engine
// on two shards, a reward with one unit, member A (who cannot pay) and member B (who can) on
// different shards redeeming at once. A's batch holds the unit; B's op waits (with B's later op,
// kept in order) instead of being refused out_of_stock, and takes the unit once A's refusal gives it
// back. Runs the built Engine (dist/), whose shard threads are the built workers.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/server-process.js';
import { demoProgram } from '../../engine/rules/program.js';
import { hashId } from '../../engine/router/member-hash.js';
import type { Engine as EngineType } from '../../engine/router/engine.js';
import type { OpResult, RewardRedeemOp, WriteOp } from '../../engine/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-reward-wait-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first id of the form `<prefix><n>` that lands on shard `shard` of 2. */
const onShard = (prefix: string, shard: number): string => {
  for (let n = 0; ; n++) if (hashId(`${prefix}${n}`) % 2 === shard) return `${prefix}${n}`;
};

describe('the last unit of a reward', () => {
  it('waits for units held in flight, then takes them: never out_of_stock while they may come back', async () => {
    const { Engine } = await import(pathToFileURL(join(ROOT, 'dist/engine/router/engine.js')).href) as { Engine: typeof EngineType };
    const engine = await Engine.open({ dataDir: dir, shards: 2 });
    try {
      await engine.setProgram({ ...demoProgram(), rewards: [{ id: 'mug', name: 'mug', active: true, pointsCost: 100, cashCents: 0, kind: 'goods', couponTemplateId: null, eligibleTiers: null, stock: 1, perMemberMax: null, from: null, to: null }] });
      const atMs = Date.now();
      const a = onShard('poor-', 0);
      const b = onShard('rich-', 1);
      for (const [memberId, points] of [[a, 0], [b, 500]] as const) {
        const r = await engine.registerOrPatch({ op: 'register', memberId, referralChain: [], key: `reg:m:${memberId}`, fp: 1, atMs, points });
        expect(r.ok).toBe(true);
      }
      const redeem = (memberId: string, id: string): RewardRedeemOp => ({ op: 'reward_redeem', memberId, rewardId: 'mug', quantity: 1, redemptionId: id, key: `req:${id}`, fp: 2, atMs });
      const adjust: WriteOp = { op: 'adjust', memberId: b, points: 1, reason: 'after', key: 'req:adj', fp: 3, atMs };
      // Submitted in one step: A's batch (shard 0) is formed first and holds the one unit.
      const [ra, rb, rc] = await Promise.all([engine.submit(redeem(a, 'ra')), engine.submit(redeem(b, 'rb')), engine.submit(adjust)]) as OpResult[];
      expect(ra).toMatchObject({ ok: false, error: { code: 'insufficient_points' } });
      expect(rb).toMatchObject({ ok: true, redemptionId: 'rb', points: 400 });
      // B's later op waited with it, and ran after it.
      expect(rc).toMatchObject({ ok: true, points: 401 });
      const listed = await engine.rewards();
      expect(listed[0]).toMatchObject({ stockLeft: 0, redeemedUnits: 1 });
      // Now the stock is used up for good: a refusal at once.
      expect(await engine.submit(redeem(a, 'rd'))).toMatchObject({ ok: false, error: { code: 'out_of_stock' } });
    } finally {
      await engine.close();
    }
  });
});
