// The bounds on acks buffered for stream readers: one connection past its own bound is closed;
// past the total bound, the connections holding the most are closed until the sum fits.
import { describe, expect, it } from 'vitest';
import { SendBudget } from '../../server/stream/send-budget.js';

describe('SendBudget', () => {
  it('closes a connection past its own bound, and only it', () => {
    const b = new SendBudget<string>(100, 1000);
    expect(b.update('a', 60)).toEqual([]);
    expect(b.update('b', 100)).toEqual([]);
    expect(b.update('a', 101)).toEqual(['a']);
    expect(b.totalBytes).toBe(100);
  });

  it('follows a connection as it drains and when it closes', () => {
    const b = new SendBudget<string>(100, 1000);
    b.update('a', 90);
    b.update('a', 10);
    expect(b.totalBytes).toBe(10);
    b.remove('a');
    b.remove('a');
    expect(b.totalBytes).toBe(0);
  });

  it('closes the largest holders while the total is past its bound', () => {
    const b = new SendBudget<string>(100, 250);
    expect(b.update('a', 90)).toEqual([]);
    expect(b.update('b', 60)).toEqual([]);
    expect(b.update('c', 95)).toEqual([]);
    // 90 + 60 + 95 + 40 = 285 > 250: the largest, c, goes; 190 fits.
    expect(b.update('d', 40)).toEqual(['c']);
    expect(b.totalBytes).toBe(190);
    // Past its own bound: closed, and the rest fits.
    expect(b.update('e', 200)).toEqual(['e']);
    expect(b.totalBytes).toBe(190);
    // The largest holder need not be the one that sent last.
    expect(b.update('f', 80)).toEqual(['a']);
    expect(b.totalBytes).toBe(180);
  });
});
