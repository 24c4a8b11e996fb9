// The simulator's handle on the real server: one process on loopback (bench/server-child.ts) that can
// be SIGKILLed and restarted on its data folder, HTTP requests under the admin, pos and storefront
// keys, and two POS stream connections (msgpack and JSON) whose batches are sent and acked by id.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerChild, type Reply } from '../../bench/server-child.js';
import { StreamTerminal } from '../../bench/stream-terminal.js';
import type { Role } from './model.js';

/** A stream batch the simulator waits for: an ack a healthy loopback server gives within milliseconds. */
const ACK_TIMEOUT_MS = 30_000;

/** One op's answer as the simulator reads it, whichever way it travelled. */
export interface Answer { ok: boolean; status: number; body: Record<string, any> }

export class SimServer {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'loyalty-sim-'));
  readonly child: ServerChild;
  private readonly keys: Partial<Record<Role, string>> = {};
  private streams: { binary: StreamTerminal; json: StreamTerminal } | null = null;
  private nextBatchId = 1;
  starts = 0;

  constructor(readonly shards: number) {
    // The automatic sweep would run at the real clock; the simulator's timeline sweeps on its own.
    // (The log stays at info: the harness learns the port from the "listening" line.)
    this.child = new ServerChild({ dataDir: this.dataDir, env: { LOYALTY_SHARDS: String(shards), LOYALTY_SWEEP_INTERVAL_MS: '0' } });
  }

  async start(): Promise<void> {
    await this.child.start();
    this.starts += 1;
    this.keys.admin = this.child.adminKey;
    for (const role of ['pos', 'storefront'] as const) {
      if (this.keys[role] !== undefined) continue;
      const created = await this.child.post('/v1/admin/keys', { role });
      if (created.status !== 201) throw new Error(`creating a ${role} key: ${created.status} ${JSON.stringify(created.body)}`);
      this.keys[role] = created.body.key as string;
    }
    const [binary, json] = await Promise.all([
      StreamTerminal.open(this.child.streamUrl, this.keys.admin, true),
      StreamTerminal.open(this.child.streamUrl, this.keys.admin, false),
    ]);
    this.streams = { binary, json };
  }

  /** SIGKILL: the process dies wherever it is; the streams see their connections drop. */
  async kill(): Promise<void> {
    await this.child.kill();
    this.closeStreams();
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.closeStreams();
    return this.child.stop('SIGTERM');
  }

  private closeStreams(): void {
    if (this.streams === null) return;
    this.streams.binary.ws.terminate();
    this.streams.json.ws.terminate();
    this.streams = null;
  }

  get running(): boolean {
    return this.child.running;
  }

  get logs(): string {
    return this.child.logs.slice(-20).join('\n');
  }

  cleanup(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  request(method: string, path: string, body?: unknown, role: Role = 'admin'): Promise<Reply> {
    return this.child.request(method, path, body, this.keys[role]!);
  }

  async get(path: string): Promise<any> {
    const reply = await this.request('GET', path);
    if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  }

  /** One op over HTTP, as the answer the simulator compares. */
  async op(method: string, path: string, body: unknown, role: Role): Promise<Answer> {
    const reply = await this.request(method, path, body, role);
    const ok = reply.status === 200 || reply.status === 201;
    return { ok, status: reply.status, body: reply.body as Record<string, any> };
  }

  /** Sends a stream batch and returns the promise of its results (rejected if the connection drops first). */
  sendBatch(ops: Array<Record<string, unknown>>, binary: boolean): Promise<Answer[]> {
    if (this.streams === null) return Promise.reject(new Error('no stream: the server is down'));
    const terminal = binary ? this.streams.binary : this.streams.json;
    const id = this.nextBatchId++;
    terminal.send({ type: 'batch', id, ops });
    return terminal.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id, ACK_TIMEOUT_MS).then((frame) => {
      if (frame.type === 'error') throw new Error(`batch ${id} refused with an error frame: ${JSON.stringify(frame.error)}`);
      return (frame.results as Array<Record<string, any>>).map((r) => ({ ok: r['ok'] === true, status: 0, body: r }));
    });
  }
}
