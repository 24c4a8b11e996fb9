// The clients of the cluster chaos run: a POS terminal (PosStream) and a back-office client
// (LoyaltyClient) that may use any node of the cluster. The terminal's stream knows every node and
// moves to the next by itself (client/stream.ts); the back-office client sends an op to its
// current node and, when that node answers not_owner (a standby), is stopping, overloaded, or gives
// no answer in time (killed, cut off), sends the very same op (same operation key) to the next node
// in turn. Standbys forward to the owner, so the first node simply answers while it lives.
import WebSocket from 'ws';
import { PosStream, type OpResult, type StreamOp, type WebSocketConstructor } from '../client/stream.js';
import { ApiError, LoyaltyClient } from '../client/http.js';

/** Where a node listens and the deployment's admin key (the first node's admin.key). */
export interface ChaosNodeAddress { index: number; port: number; key: string }

/** Answers that say "this node cannot take it now": nothing was applied by this answer, so the op goes to the next node. */
export const RESEND_CODES: ReadonlySet<string> = new Set(['not_owner', 'shutting_down', 'overloaded', 'storage_failed', 'network']);
/** How long one attempt waits for its answer before the op goes to the next node (a stream leader's election takes up to ~8 s; resending earlier is harmless). */
export const ATTEMPT_TIMEOUT_MS = 6_000;
/** The pause before the next node, so that a cluster with no owner yet (the lease) is not asked in a tight loop. */
const NEXT_NODE_PAUSE_MS = 100;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The nodes a client may use, read at each attempt: a node added mid-run is used from then on. */
export type NodeList = () => readonly ChaosNodeAddress[];

/** Called with each final answer's node and time: the failover clock reads it. */
/**
 * Told of each final answer: the node the client sent to, when the answer came, and when the
 * attempt that got it was sent (a failover is measured on answers to attempts sent after the kill).
 */
export type OkListener = (nodeIndex: number, atMs: number, sentAtMs: number) => void;

/**
 * One terminal on the POS stream, one batch at a time, on a PosStream that knows every node: the
 * stream itself moves to the next node when its node dies, refuses or cannot take batches, and
 * resends there. The terminal sends a batch again only when an op of it was answered with a code
 * that applied nothing (a node stopping under queued ops), and makes a new stream when a node has
 * joined, so that the new node is in its list.
 */
export class ChaosStreamTerminal {
  /** Batches sent, counting the terminal's own resends. */
  attempts = 0;
  /** Batches the terminal sent again itself (an op answered with a code that applied nothing). */
  private ownResends = 0;
  private stream: PosStream | null = null;
  /** The nodes the stream knows, in its order, and the one that welcomed it last. */
  private streamNodes: readonly ChaosNodeAddress[] = [];
  private onNode: ChaosNodeAddress | null = null;
  /** Batches the streams closed so far had sent again on another node. */
  private resentBefore = 0;

  constructor(private readonly nodes: NodeList, private readonly first: number, private readonly onOk: OkListener) {}

  /** Batches sent again: on another node by the stream, and by the terminal itself. */
  get resends(): number {
    return this.resentBefore + (this.stream?.resentBatches ?? 0) + this.ownResends;
  }

  /** Sends `ops` as one batch until every op has a final result; answers the results in order. */
  async send(ops: readonly StreamOp[], deadlineMs: number): Promise<OpResult[]> {
    for (;;) {
      const stream = await this.current();
      this.attempts += 1;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), Math.max(0, deadlineMs - Date.now())); });
      const sentAtMs = Date.now();
      const results = await Promise.race([stream.sendBatch(ops), late]).finally(() => clearTimeout(timer));
      if (results === null) throw new Error(`a stream batch was not answered before the run's deadline (the stream was last on node ${this.onNode?.index ?? 'none'})`);
      if (results.every((r) => r.ok || !RESEND_CODES.has(r.error.code))) {
        this.onOk(this.onNode!.index, Date.now(), sentAtMs);
        return results;
      }
      if (Date.now() > deadlineMs) throw new Error(`a stream batch was answered with a code to resend until the run's deadline (node ${this.onNode?.index ?? 'none'})`);
      this.ownResends += 1;
      await pause(NEXT_NODE_PAUSE_MS);
    }
  }

  /** The terminal's stream, made again when the list of nodes has grown; it starts at the terminal's own node. */
  private async current(): Promise<PosStream> {
    const list = this.nodes();
    if (this.stream !== null && list.length === this.streamNodes.length) return this.stream;
    await this.drop();
    const order = list.map((_, i) => list[(this.first + i) % list.length]!);
    const key = order[0]!.key;
    this.streamNodes = order;
    this.stream = new PosStream({
      urls: order.map((n) => `ws://127.0.0.1:${n.port}/v1/stream`), key, WebSocket: WebSocket as unknown as WebSocketConstructor,
      encoding: 'json', batchOpsMax: 500, windowBatches: 4, lingerMs: 0, reconnectMinMs: 100, reconnectMaxMs: 500, retryDelayMs: 200, closeWaitMs: 200,
      connectTimeoutMs: ATTEMPT_TIMEOUT_MS, onNode: (url) => { this.onNode = order.find((n) => url.includes(`:${n.port}/`)) ?? null; },
    });
    return this.stream;
  }

  /** Closes the current stream; a batch in flight is not waited for (the terminal sends one at a time, and only between batches). */
  async drop(): Promise<void> {
    const stream = this.stream;
    this.stream = null;
    if (stream === null) return;
    this.resentBefore += stream.resentBatches;
    await stream.close(false).catch(() => undefined);
  }
}

/** A final answer over HTTP: the success body, or the refusal's code. */
export type HttpAnswer = { ok: true; body: Record<string, unknown> } | { ok: false; code: string };

/** A back-office client over HTTP: each op is sent to a node and resent to the next until a final answer. */
export class ChaosHttpClient {
  attempts = 0;
  resends = 0;
  private turn: number;
  private readonly clients = new Map<number, LoyaltyClient>();

  constructor(private readonly nodes: NodeList, first: number, private readonly onOk: OkListener) {
    this.turn = first;
  }

  private client(node: ChaosNodeAddress): LoyaltyClient {
    let client = this.clients.get(node.index);
    if (client === undefined || client.options.baseUrl !== `http://127.0.0.1:${node.port}`) {
      client = new LoyaltyClient({ baseUrl: `http://127.0.0.1:${node.port}`, key: node.key });
      this.clients.set(node.index, client);
    }
    return client;
  }

  /** POSTs `body` to `path` until a node answers it with success or a refusal that is not "try another node". */
  async post(path: string, body: Record<string, unknown>, deadlineMs: number): Promise<HttpAnswer> {
    for (;;) {
      const list = this.nodes();
      const node = list[this.turn % list.length]!;
      this.attempts += 1;
      let code: string;
      const sentAtMs = Date.now();
      try {
        // The route's table is typed per route; the harness sends several routes through one call.
        const answer = await this.client(node).call(`POST ${path}` as 'POST /v1/purchases', { body: body as never, signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
        this.onOk(node.index, Date.now(), sentAtMs);
        return { ok: true, body: answer as unknown as Record<string, unknown> };
      } catch (err) {
        code = err instanceof ApiError ? err.code : 'network';
      }
      if (!RESEND_CODES.has(code)) {
        this.onOk(node.index, Date.now(), sentAtMs);
        return { ok: false, code };
      }
      if (Date.now() > deadlineMs) throw new Error(`POST ${path} found no node to take it before the run's deadline (last answer ${code} from node ${node.index})`);
      this.resends += 1;
      this.turn += 1;
      await pause(NEXT_NODE_PAUSE_MS);
    }
  }
}
