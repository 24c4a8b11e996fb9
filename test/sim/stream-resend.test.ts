// How the simulator models an op a kill step resends on the stream (asStreamSent): the server runs
// it under the admin's key with the channel the first key implied, so a product purchase first sent
// under a POS key without `channel`, applied before the kill, replays. Modelled under the admin's
// key with the body as drawn, the model called it a conflict the server never answers (seen as a
// seed failing on a retried product purchase after a kill).
import { describe, expect, it } from 'vitest';
import { Model } from './model.js';
import type { Planned } from './plan.js';
import { generateProgram } from './program.js';
import { Random } from './prng.js';
import { asStreamSent } from './simulator.js';

describe('a kill step\'s stream resend in the model', () => {
  it('replays a product purchase first sent under a POS or storefront key without a channel', () => {
    const drawn = generateProgram(new Random(1), { keepTiers: new Set(), dropTier: null, timezone: 'Asia/Hong_Kong', coupons: null, clockMs: Date.parse('2026-01-01T00:00:00Z') });
    const program = {
      ...drawn,
      products: [{ id: 'p0', name: 'P0', priceCents: 1_000, active: true, channels: ['online', 'offline'] as Array<'online' | 'offline'>, eligibleTiers: null, includes: { points: 10 } }],
    };
    for (const role of ['pos', 'storefront'] as const) {
      const model = new Model(program, 1, { shards: 2, globalRequestKeys: false, refuseAncientAt: true, patchBirthdayFully: true });
      const nowMs = Date.parse('2026-01-02T00:00:00Z');
      expect(model.apply('register', { memberId: 'm1', at: '2026-01-01T00:00:00Z' }, { role: 'admin', nowMs }).ok).toBe(true);
      const p: Planned = { name: 'product_purchase', role, body: { orderId: 'q1', memberId: 'm1', productId: 'p0', at: '2026-01-02T00:00:00Z' } };
      const first = model.apply(p.name, p.body, { role, nowMs });
      expect(first.ok && first.replayed).toBe(false);
      const resent = asStreamSent(p);
      expect([resent.role, resent.body['channel']]).toEqual(['admin', role === 'pos' ? 'offline' : 'online']);
      const again = model.apply(resent.name, resent.body, { role: resent.role, nowMs });
      expect(again.ok && again.replayed).toBe(true);
    }
  });
});
