// The chaos run's failover measure (bench/chaos-model.ts endsFailover): a failover ends at the first
// answer through another node to an attempt sent after the owner's kill. A run once printed a
// failover of 3 ms: a standby's answer to a request sent before the kill, which the killed owner
// had applied, arrived just after it; such an answer must not end the failover.
import { describe, expect, it } from 'vitest';
import { endsFailover } from '../../bench/chaos-model.js';

describe('the chaos run\'s failover measure', () => {
  const kill = { nodeIndex: 0, atMs: 10_000 };

  it('does not end on an answer, arriving after the kill, to an attempt sent before it', () => {
    expect(endsFailover(kill, 1, 9_990)).toBe(false);
    expect(endsFailover(kill, 2, 10_000)).toBe(false);
  });

  it('ends on the first answer through another node to an attempt sent after the kill', () => {
    expect(endsFailover(kill, 1, 10_001)).toBe(true);
    expect(endsFailover(kill, 3, 13_000)).toBe(true);
  });

  it('never ends on the killed node, nor without a kill pending', () => {
    expect(endsFailover(kill, 0, 13_000)).toBe(false);
    expect(endsFailover(null, 1, 13_000)).toBe(false);
  });
});
