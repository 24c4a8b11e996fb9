// Serving from any node in a cluster (docs/cluster.md, "Serving from any node"): a node that does
// not own the deployment forwards each HTTP request and each POS stream batch to the owner over a
// NATS request subject named by the owner's node id and term, and relays the answer; the owner
// runs what it receives through the same handlers as its own requests and batches.
import { Packr } from 'msgpackr';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { LoyaltyError } from '../engine/errors.js';
import { CLUSTER_FORWARD_BYTES_DEFAULT_MAX, CLUSTER_FORWARD_CONN_IDLE_MS, CLUSTER_FORWARD_TIMEOUT_MS } from '../engine/limits.js';
import type { OwnerRecord } from '../engine/cluster/owner-lease.js';
import type { Role } from './auth.js';
import type { Lifecycle } from './http.js';
import { isLogged, replyCode } from './request-log.js';
import { errorReply, handle, routeOf, type Api, type ApiReply } from './routes.js';
import { runBatchFrame } from './stream/batches.js';
import { newConn, type Conn } from './stream/connection.js';
import { decodeFrame, encode, encodeAck, errorFrame } from './stream/frames.js';

/** An HTTP request as the forwarding node read it: its body whole, already checked as UTF-8 and bounded JSON. */
export interface ForwardedHttp {
  method: string;
  path: string;
  /** The query string as sent, without the `?`. */
  query: string;
  authorization: string;
  acceptEncoding: string;
  body: string;
}

interface HttpEnvelope extends ForwardedHttp { via: string }

/** The owner's answer to a forwarded request: the body as the bytes the owner would have written. */
interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  payload: Uint8Array;
  /** The route pattern and the key that answered, for the forwarding node's metrics and log. */
  route?: string;
  keyId?: string;
}

/** A POS stream batch frame as the forwarding node received it, with its connection's key checked there. */
interface BatchEnvelope { via: string; conn: string; keyId: string; role: Role; binary: boolean; frame: Uint8Array }

/** Plain maps and byte arrays: both ends of a forward run this same code. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

const subjectOf = (deployment: string, owner: { nodeId: string; term: number }, kind: 'http' | 'stream' | 'closed') =>
  `loyalty.${deployment}.node.${owner.nodeId}.${owner.term}.${kind}`;

/** The largest message the NATS servers carry, as they announced it. */
function payloadBytesMax(nc: NatsConnection): number {
  return nc.info?.max_payload ?? CLUSTER_FORWARD_BYTES_DEFAULT_MAX;
}

function whyNoAnswer(err: unknown): string {
  const text = err instanceof Error ? `${err.message} ${err.cause instanceof Error ? err.cause.message : ''}` : String(err);
  if (/no responders/i.test(text)) return 'no node listens for it (the owner stopped or lost the deployment)';
  if (/timeout/i.test(text)) return `no answer within ${CLUSTER_FORWARD_TIMEOUT_MS} ms`;
  return text.trim();
}

/** A promise rejected by hand when the owner changes (never resolved); observed, so that no rejection goes unhandled. */
function ownerChange(): { promise: Promise<never>; reject: (err: Error) => void } {
  let reject: (err: Error) => void = () => undefined;
  const promise = new Promise<never>((_resolve, rejectNow) => { reject = rejectNow; });
  promise.catch(() => undefined);
  return { promise, reject };
}

/** A forwarded stream batch that got no answer: the terminal resends it (overloaded is retryable). */
export class ForwardFailed extends Error {}

/**
 * The forwarding side, on a node that stands by: `owner` is the node it forwards to, null while
 * none is known (the record is vacant, or this node is taking the deployment over).
 */
export class Forwarder {
  private current: OwnerRecord | null = null;
  /** Settles when the owner changes: what is still on its way to the old one is answered then, not at its timeout. */
  private change = ownerChange();
  /** Connections are named by this process's id and a counter: a restarted node never reuses a name the owner may still hold. */
  private connections = 0;

  constructor(private readonly nc: NatsConnection, private readonly deployment: string, private readonly me: string) {}

  get owner(): OwnerRecord | null {
    return this.current;
  }

  /** The owner to forward to from now on, null while none is known (vacant, or this node taking over). */
  set owner(next: OwnerRecord | null) {
    const last = this.current;
    this.current = next;
    if (last === null || (next !== null && next.nodeId === last.nodeId && next.term === last.term)) return;
    // A paused owner would hold a request until its timeout; once the record names another, it never answers.
    this.change.reject(new Error(`the owner record no longer names node ${last.nodeId} (term ${last.term})`));
    this.change = ownerChange();
  }

  /** A request to the owner, answered early with an error when the owner changes meanwhile. */
  private ask(subject: string, payload: Uint8Array): Promise<Msg> {
    return Promise.race([this.nc.request(subject, payload, { timeout: CLUSTER_FORWARD_TIMEOUT_MS }), this.change.promise]);
  }

  /** The owner as the header of forwarded answers and the refusals name it. */
  describe(owner: OwnerRecord): string {
    return `${owner.nodeId} (term ${owner.term}) at ${owner.httpAddress}`;
  }

  newConnectionId(): string {
    this.connections += 1;
    return `${process.pid}-${this.connections}`;
  }

  private unanswered(owner: OwnerRecord, err: unknown): string {
    return `this node (${this.me}) forwards to node ${this.describe(owner)}, which did not answer: ${whyNoAnswer(err)}; it may be stopping or another node taking the deployment over; retry`;
  }

  /** Sends a request to the owner and answers its reply, or a refusal when the owner cannot be reached. */
  async http(owner: OwnerRecord, req: ForwardedHttp): Promise<ApiReply> {
    const envelope: HttpEnvelope = { ...req, via: this.me };
    // packr answers a view of its own buffer, which its next call overwrites: the message keeps a copy.
    const payload = new Uint8Array(packr.pack(envelope));
    const bytesMax = payloadBytesMax(this.nc);
    if (payload.byteLength > bytesMax) {
      return errorReply('payload_too_large', `this node (${this.me}) forwards requests to the owner through NATS, which carries at most ${bytesMax} bytes; send this request to the owner, node ${this.describe(owner)}`);
    }
    let answer: HttpAnswer;
    try {
      const msg = await this.ask(subjectOf(this.deployment, owner, 'http'), payload);
      answer = packr.unpack(msg.data) as HttpAnswer;
    } catch (err) {
      return errorReply('overloaded', this.unanswered(owner, err));
    }
    const headers: Record<string, string> = { ...answer.headers, 'Loyalty-Forwarded-To': this.describe(owner) };
    const reply: ApiReply = { status: answer.status, body: null, headers, bytes: answer.payload, forwardedTo: owner.nodeId };
    if (answer.route !== undefined) reply.route = answer.route;
    if (answer.keyId !== undefined) reply.keyId = answer.keyId;
    // A refusal's code goes to this node's request log as well; a success's body is relayed unread.
    if (answer.status >= 400 && headers['Content-Type'] === 'application/json') {
      try { reply.body = JSON.parse(Buffer.from(answer.payload).toString('utf8')); } catch { reply.body = null; }
    }
    return reply;
  }

  /** Sends one batch frame to the owner and answers the frame to send back (its ack or an error frame). */
  async batch(owner: OwnerRecord, conn: string, keyId: string, role: Role, binary: boolean, frame: Uint8Array): Promise<Uint8Array> {
    const payload = new Uint8Array(packr.pack({ via: this.me, conn, keyId, role, binary, frame } satisfies BatchEnvelope));
    if (payload.byteLength > payloadBytesMax(this.nc)) {
      throw new LoyaltyError('payload_too_large', `this node (${this.me}) forwards batches to the owner through NATS, which carries at most ${payloadBytesMax(this.nc)} bytes; send smaller batches or connect to the owner, node ${this.describe(owner)}`);
    }
    try {
      const msg = await this.ask(subjectOf(this.deployment, owner, 'stream'), payload);
      return msg.data;
    } catch (err) {
      throw new ForwardFailed(this.unanswered(owner, err));
    }
  }

  /** Tells the owner that a forwarded connection closed, so that it drops the connection's state. */
  closed(owner: OwnerRecord, conn: string): void {
    try { this.nc.publish(subjectOf(this.deployment, owner, 'closed'), new Uint8Array(packr.pack({ via: this.me, conn }))); } catch { /* the owner drops it once idle */ }
  }
}

/** The stream connection an owner runs a forwarding node's batches on, and when it last saw one. */
interface ForwardedConn { conn: Conn; lastMs: number }

/**
 * The owner's side: answers the requests and batches forwarded to this node in `term`, until
 * stopped. Each is run as a local one is (same authentication, same handlers, same request log,
 * where its line names the forwarding node).
 */
export function serveForwarded(nc: NatsConnection, deployment: string, me: OwnerRecord, api: Api, lifecycle: Lifecycle): { stop(): void } {
  const conns = new Map<string, ForwardedConn>();
  const subs: Subscription[] = [];

  const answerHttp = async (envelope: HttpEnvelope): Promise<HttpAnswer> => {
    const startedMs = performance.now();
    let reply: ApiReply;
    const isRead = envelope.method === 'GET' || envelope.method === 'HEAD';
    if (lifecycle.stopping) reply = errorReply('shutting_down');
    else if (lifecycle.notOwner != null) reply = errorReply('overloaded', lifecycle.notOwner);
    else if (lifecycle.storageFull !== null && !isRead) reply = errorReply('storage_failed', `writes are refused until there is room: ${lifecycle.storageFull}`);
    else {
      reply = await handle(api, {
        method: envelope.method, path: envelope.path, query: new URLSearchParams(envelope.query), authorization: envelope.authorization,
        body: envelope.body, acceptEncoding: envelope.acceptEncoding,
      }).catch(() => errorReply('internal'));
    }
    const route = reply.route ?? routeOf(envelope.method, envelope.path);
    api.metrics.countRequest(envelope.method, route, reply.status);
    if (api.requestLog !== undefined && isLogged(envelope.method, reply.status)) {
      const code = replyCode(reply.body);
      api.requestLog.record({
        keyId: reply.keyId ?? null, method: envelope.method, route, status: reply.status,
        latencyMs: Math.round((performance.now() - startedMs) * 100) / 100, via: envelope.via, ...(code === undefined ? {} : { code }),
      });
    }
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    let payload: Uint8Array;
    if (reply.chunks !== undefined) {
      // A streamed export is sent whole when it fits in one NATS message; a larger one is refused, naming this node.
      const parts: Buffer[] = [];
      let size = 0;
      const bytesMax = payloadBytesMax(nc) - 64 * 1024;
      try {
        for await (const chunk of reply.chunks) {
          const part = Buffer.from(chunk, 'utf8');
          size += part.byteLength;
          if (size > bytesMax) throw new LoyaltyError('payload_too_large', `the export is larger than the ${bytesMax} bytes a forwarded answer may carry; ask the owner, node ${me.nodeId} at ${me.httpAddress}, directly`);
          parts.push(part);
        }
        payload = Buffer.concat(parts, size);
      } catch (err) {
        const refusal = err instanceof LoyaltyError ? errorReply(err.code, err.message, err.field) : errorReply('internal');
        return { status: refusal.status, headers: { 'Content-Type': 'application/json' }, payload: Buffer.from(JSON.stringify(refusal.body)), route, ...(reply.keyId === undefined ? {} : { keyId: reply.keyId }) };
      }
    } else if (reply.bytes !== undefined) payload = reply.bytes;
    else if (reply.text !== undefined) payload = Buffer.from(reply.text, 'utf8');
    else {
      headers['Content-Type'] = 'application/json';
      payload = Buffer.from(JSON.stringify(reply.body), 'utf8');
    }
    if (payload.byteLength > payloadBytesMax(nc) - 64 * 1024) {
      const refusal = errorReply('payload_too_large', `the answer (${payload.byteLength} bytes) is larger than a forwarded answer may carry; ask the owner, node ${me.nodeId} at ${me.httpAddress}, directly`);
      return { status: refusal.status, headers: { 'Content-Type': 'application/json' }, payload: Buffer.from(JSON.stringify(refusal.body)), route };
    }
    return { status: reply.status, headers, payload, route, ...(reply.keyId === undefined ? {} : { keyId: reply.keyId }) };
  };

  /** Runs one forwarded batch on its connection's sequence and answers the frame to send back. */
  const answerBatch = async (envelope: BatchEnvelope): Promise<Uint8Array | string> => {
    const refuse = (value: Record<string, unknown>) => encode(value, envelope.binary);
    const { frame, refusal } = decodeFrame(envelope.frame, envelope.binary);
    if (frame === null) return refuse(refusal);
    if (frame['type'] !== 'batch') return refuse(errorFrame('invalid_request', 'only batch frames are forwarded', frame['id']));
    if (lifecycle.stopping) return refuse(errorFrame('shutting_down', 'the owner is stopping; resend this batch', frame['id']));
    if (lifecycle.notOwner != null) return refuse(errorFrame('overloaded', lifecycle.notOwner, frame['id']));
    if (lifecycle.storageFull !== null) return refuse(errorFrame('storage_failed', `batches are refused until there is room: ${lifecycle.storageFull}`, frame['id']));
    const name = `${envelope.via}/${envelope.conn}`;
    let held = conns.get(name);
    if (held === undefined) {
      held = { conn: newConn({ id: envelope.keyId, role: envelope.role }, api.engine.newSequence()), lastMs: performance.now() };
      conns.set(name, held);
    }
    held.lastMs = performance.now();
    let out: Uint8Array | string = refuse(errorFrame('internal', 'the batch was not answered', frame['id']));
    const startedMs = performance.now();
    await runBatchFrame(api.engine, held.conn, frame, (value) => { out = encode(value, envelope.binary); }, (id, results) => { out = encodeAck(id, results, envelope.binary); });
    const ops = Array.isArray(frame['ops']) ? frame['ops'].length : 0;
    api.requestLog?.record({ keyId: envelope.keyId, method: 'WS', route: '/v1/stream batch', status: 200, latencyMs: Math.round((performance.now() - startedMs) * 100) / 100, ops, via: envelope.via });
    return out;
  };

  subs.push(nc.subscribe(subjectOf(deployment, me, 'http'), {
    callback: (err, msg) => {
      if (err !== null) return;
      let envelope: HttpEnvelope;
      try { envelope = packr.unpack(msg.data) as HttpEnvelope; } catch { return; }
      // A reply that cannot be sent (the connection closing) is answered overloaded by the forwarding node's timeout.
      answerHttp(envelope).then((answer) => msg.respond(new Uint8Array(packr.pack(answer)))).catch(() => undefined);
    },
  }));
  subs.push(nc.subscribe(subjectOf(deployment, me, 'stream'), {
    callback: (err, msg) => {
      if (err !== null) return;
      let envelope: BatchEnvelope;
      try { envelope = packr.unpack(msg.data) as BatchEnvelope; } catch { return; }
      // A batch whose processing fails unexpectedly gets no answer: the forwarding node answers it overloaded and the terminal resends.
      answerBatch(envelope).then((out) => msg.respond(typeof out === 'string' ? Buffer.from(out, 'utf8') : out)).catch(() => undefined);
    },
  }));
  subs.push(nc.subscribe(subjectOf(deployment, me, 'closed'), {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const { via, conn } = packr.unpack(msg.data) as { via: string; conn: string };
        conns.delete(`${via}/${conn}`);
      } catch { /* a malformed notice changes nothing */ }
    },
  }));
  // A forwarding node that died never says its connections closed: their state goes once idle.
  const sweep = setInterval(() => {
    const nowMs = performance.now();
    for (const [name, held] of conns) if (held.conn.unacked === 0 && nowMs - held.lastMs > CLUSTER_FORWARD_CONN_IDLE_MS) conns.delete(name);
  }, CLUSTER_FORWARD_CONN_IDLE_MS / 2);
  sweep.unref();
  return {
    stop() {
      clearInterval(sweep);
      for (const sub of subs) sub.unsubscribe();
    },
  };
}
