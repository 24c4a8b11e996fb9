// The request log: one pino line per write request (any method but GET and HEAD, and every POS
// stream batch) and per refused login (401 and 403 on any route, a refused stream upgrade or
// hello), with the key id, the route pattern, the status, the error code and the latency. Never a
// body, a query string or a raw path: the route pattern (`/v1/members/:id`) stands for the path,
// so names, phones and emails, which only bodies and queries carry, never reach the log.
import type { Logger } from './log.js';

export interface RequestRecord {
  /** The id of the key presented, null when none authenticated. */
  keyId: string | null;
  method: string;
  route: string;
  status: number;
  latencyMs: number;
  /** The error code of a refusal (engine/errors.ts): a catalogued word, never a message. */
  code?: string;
  /** The ops of a stream batch. */
  ops?: number;
  /** Cluster mode, on the owner: the node that forwarded the request or batch (server/cluster-forward.ts). */
  via?: string;
  /** Cluster mode, on the forwarding node: the owner that answered. */
  forwardedTo?: string;
}

/** Whether a request is logged: a write, or a refused login. */
export const isLogged = (method: string, status: number): boolean =>
  (method !== 'GET' && method !== 'HEAD') || status === 401 || status === 403;

export class RequestLog {
  constructor(private readonly log: Logger) {}

  record(r: RequestRecord): void {
    if (r.status === 401 || r.status === 403) this.log.warn(r, 'request refused');
    else this.log.info(r, 'request');
  }
}

/** The error code of a reply's JSON body `{ error: { code } }`, or undefined. */
export function replyCode(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const error = (body as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
