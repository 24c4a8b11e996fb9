// The forwarding side of serving from any node (server/cluster-forward.ts), against a stand-in
// NATS connection: a request larger than the servers' max_payload is refused with 413 naming the
// owner, an owner that does not answer gets 503 overloaded with Retry-After, and a request on its
// way to an owner the record no longer names is answered at once, not at the timeout.
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { Forwarder, ForwardFailed } from '../../server/cluster-forward.js';

const OWNER = { nodeId: 'node-1', term: 3, httpAddress: 'http://10.0.0.5:8080' };
const request = { method: 'POST', path: '/v1/purchases', query: '', authorization: 'Bearer k', acceptEncoding: '', body: '{"orderId":"o1"}' };

/** A connection whose requests never get an answer (a paused owner), or fail as `failWith` says. */
function fakeNats(maxPayload: number, failWith?: Error): { nc: NatsConnection; subjects: string[] } {
  const subjects: string[] = [];
  const nc = {
    info: { max_payload: maxPayload },
    request: (subject: string) => {
      subjects.push(subject);
      return failWith === undefined ? new Promise(() => undefined) : Promise.reject(failWith);
    },
  } as unknown as NatsConnection;
  return { nc, subjects };
}

describe('Forwarder', () => {
  it('refuses a request larger than NATS carries with 413, naming the owner, without sending it', async () => {
    const { nc, subjects } = fakeNats(200);
    const forwarder = new Forwarder(nc, 'main', 'node-2');
    const reply = await forwarder.http(OWNER, { ...request, body: 'x'.repeat(300) });
    expect(reply.status).toBe(413);
    expect(reply.body).toMatchObject({ error: { code: 'payload_too_large', message: expect.stringContaining('node-1 (term 3) at http://10.0.0.5:8080') } });
    expect(subjects).toEqual([]);
  });

  it('answers 503 overloaded with Retry-After when no node listens on the owner\'s subject', async () => {
    const { nc, subjects } = fakeNats(1 << 20, new Error('503', { cause: new Error('no responders') }));
    const reply = await new Forwarder(nc, 'main', 'node-2').http(OWNER, request);
    expect(subjects).toEqual(['loyalty.main.node.node-1.3.http']);
    expect(reply.status).toBe(503);
    expect(reply.headers?.['Retry-After']).toBe('1');
    expect(reply.body).toMatchObject({ error: { code: 'overloaded', message: expect.stringContaining('no node listens for it') } });
  });

  it('answers a request and a batch on their way to an owner at once when the record names another', async () => {
    const { nc } = fakeNats(1 << 20);
    const forwarder = new Forwarder(nc, 'main', 'node-2');
    forwarder.owner = OWNER;
    const pending = forwarder.http(OWNER, request);
    const batch = forwarder.batch(OWNER, 'c1', 'key-1', 'pos', false, new TextEncoder().encode('{}'));
    const startedMs = performance.now();
    forwarder.owner = { ...OWNER, nodeId: 'node-3', term: 4 };
    const reply = await pending;
    expect(performance.now() - startedMs).toBeLessThan(100);
    expect(reply).toMatchObject({ status: 503, body: { error: { code: 'overloaded', message: expect.stringContaining('no longer names node node-1 (term 3)') } } });
    await expect(batch).rejects.toBeInstanceOf(ForwardFailed);
  });
});
