// The clients of the cluster chaos run: a POS terminal (PosStream) and a back-office client
// (LoyaltyClient) that may use any node of the cluster. Each sends an op to its current node and,
// when that node answers not_owner (a standby), is stopping, overloaded, or gives no answer in time
// (killed, cut off), sends the very same op (same operation key) to the next node in turn. Once
// standbys forward to the owner, the first node simply answers; until then the owner answers.
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
export type OkListener = (nodeIndex: number, atMs: number) => void;

/** One terminal on the POS stream: one batch at a time, resent to the next node until it is answered. */
export class ChaosStreamTerminal {
  attempts = 0;
  resends = 0;
  private turn: number;
  private stream: PosStream | null = null;
  private streamNode = -1;

  constructor(private readonly nodes: NodeList, first: number, private readonly onOk: OkListener) {
    this.turn = first;
  }

  /** Sends `ops` as one batch until a node answers every op with a final result; answers the results in order. */
  async send(ops: readonly StreamOp[], deadlineMs: number): Promise<OpResult[]> {
    for (;;) {
      const list = this.nodes();
      const node = list[this.turn % list.length]!;
      this.attempts += 1;
      const results = await this.attempt(node, ops);
      if (results !== null && results.every((r) => r.ok || !RESEND_CODES.has(r.error.code))) {
        this.onOk(node.index, Date.now());
        return results;
      }
      // A batch refused as a whole (the error frame) or not answered in time: the same batch goes to the next node.
      await this.drop();
      if (Date.now() > deadlineMs) throw new Error(`a stream batch found no node to take it before the run's deadline (last tried node ${node.index})`);
      this.resends += 1;
      this.turn += 1;
      await pause(NEXT_NODE_PAUSE_MS);
    }
  }

  private async attempt(node: ChaosNodeAddress, ops: readonly StreamOp[]): Promise<OpResult[] | null> {
    if (this.stream === null || this.streamNode !== node.index) {
      await this.drop();
      this.stream = new PosStream({
        url: `ws://127.0.0.1:${node.port}/v1/stream`, key: node.key, WebSocket: WebSocket as unknown as WebSocketConstructor,
        encoding: 'json', batchOpsMax: 500, windowBatches: 4, lingerMs: 0, reconnectMinMs: 100, reconnectMaxMs: 500, retryDelayMs: 200, closeWaitMs: 200,
      });
      this.streamNode = node.index;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), ATTEMPT_TIMEOUT_MS); });
    try {
      return await Promise.race([this.stream.sendBatch(ops).catch(() => null), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the current stream without waiting for its answers: they are resent elsewhere. */
  async drop(): Promise<void> {
    const stream = this.stream;
    this.stream = null;
    this.streamNode = -1;
    if (stream !== null) await stream.close(false).catch(() => undefined);
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
      try {
        // The route's table is typed per route; the harness sends several routes through one call.
        const answer = await this.client(node).call(`POST ${path}` as 'POST /v1/purchases', { body: body as never, signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
        this.onOk(node.index, Date.now());
        return { ok: true, body: answer as unknown as Record<string, unknown> };
      } catch (err) {
        code = err instanceof ApiError ? err.code : 'network';
      }
      if (!RESEND_CODES.has(code)) {
        this.onOk(node.index, Date.now());
        return { ok: false, code };
      }
      if (Date.now() > deadlineMs) throw new Error(`POST ${path} found no node to take it before the run's deadline (last answer ${code} from node ${node.index})`);
      this.resends += 1;
      this.turn += 1;
      await pause(NEXT_NODE_PAUSE_MS);
    }
  }
}
