// Waits, in the tests of cluster mode, until an engine node owns the deployment: until then it
// answers every request but the health check with 503 not_owner (server/cluster-node.ts).
import type { ServerProcess } from './server-process.js';

const POLL_MS = 50;

/** Whether a reply is a standby's refusal. */
export function isNotOwner(reply: { status: number; body: unknown }): boolean {
  return reply.status === 503 && (reply.body as { error?: { code?: string } } | null)?.error?.code === 'not_owner';
}

/** Polls `server` until it answers a read as the owner; answers how long that took, in ms. */
export async function waitUntilOwner(server: ServerProcess, timeoutMs: number): Promise<number> {
  const startedMs = Date.now();
  for (;;) {
    const reply = await server.get('/v1/program').catch(() => null);
    if (reply !== null && reply.status === 200) return Date.now() - startedMs;
    if (reply !== null && !isNotOwner(reply)) throw new Error(`${server.dataDir}: expected the owner's answer or not_owner, got ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
    if (Date.now() - startedMs > timeoutMs) throw new Error(`${server.dataDir} did not own the deployment within ${timeoutMs} ms: ${server.logs.join("").slice(-3_000)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Polls `server` until it refuses as a standby that names an owner; answers the refusal's message. */
export async function waitUntilStandby(server: ServerProcess, timeoutMs: number): Promise<string> {
  const startedMs = Date.now();
  for (;;) {
    const reply = await server.get('/v1/program').catch(() => null);
    const message = reply !== null && isNotOwner(reply) ? (reply.body as { error: { message: string } }).error.message : '';
    if (/ owns the deployment /.test(message)) return message;
    if (Date.now() - startedMs > timeoutMs) throw new Error(`${server.dataDir} did not stand by within ${timeoutMs} ms: ${server.logs.join('').slice(-3_000)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
