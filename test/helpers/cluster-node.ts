// Waits, in the tests of cluster mode, until an engine node owns the deployment or stands by
// behind an owner: a standby forwards requests to the owner (server/cluster-forward.ts), and its
// answers carry the header Loyalty-Forwarded-To naming the owner; while no owner is known it
// answers 503 not_owner.
import type { ServerProcess } from './server-process.js';

const POLL_MS = 50;

/** Whether a reply is a standby's refusal while no owner is known. */
export function isNotOwner(reply: { status: number; body: unknown }): boolean {
  return reply.status === 503 && (reply.body as { error?: { code?: string } } | null)?.error?.code === 'not_owner';
}

/** The owner a standby forwarded a reply to (`node-1 (term 1) at http://…`), or null when the node answered itself. */
export function forwardedTo(reply: { headers: Headers }): string | null {
  return reply.headers.get('loyalty-forwarded-to');
}

/** Polls `server` until it answers a read as the owner, not forwarded; answers how long that took, in ms. */
export async function waitUntilOwner(server: ServerProcess, timeoutMs: number): Promise<number> {
  const startedMs = Date.now();
  for (;;) {
    const reply = await server.get('/v1/program').catch(() => null);
    if (reply !== null && reply.status === 200 && forwardedTo(reply) === null) return Date.now() - startedMs;
    const retryable = reply === null || reply.status === 200 || isNotOwner(reply) || reply.status === 503;
    if (!retryable) throw new Error(`${server.dataDir}: expected the owner's answer or a standby's, got ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
    if (Date.now() - startedMs > timeoutMs) throw new Error(`${server.dataDir} did not own the deployment within ${timeoutMs} ms: ${server.logs.join("").slice(-3_000)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Polls `server` until it answers a read forwarded to an owner; answers the owner as the reply's header names it. */
export async function waitUntilStandby(server: ServerProcess, timeoutMs: number): Promise<string> {
  const startedMs = Date.now();
  for (;;) {
    const reply = await server.get('/v1/program').catch(() => null);
    const owner = reply !== null && reply.status === 200 ? forwardedTo(reply) : null;
    if (owner !== null) return owner;
    if (Date.now() - startedMs > timeoutMs) throw new Error(`${server.dataDir} did not stand by within ${timeoutMs} ms: ${server.logs.join('').slice(-3_000)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

