// Runs the real server (dist/server/main.js) as a child process that can be killed and restarted
// on its data folder, optionally under a file size limit that stands in for a full disk, with a
// small JSON client for it. Used by the soak harness and the reliability tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The package root: this file runs as bench/server-child.ts (vitest) and as dist/bench/server-child.js. */
export const PACKAGE_ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/bench/') ? '../../' : '../', import.meta.url));
const SERVER_MAIN = join(PACKAGE_ROOT, 'dist/server/main.js');

/** A server that has not logged that it listens in this long is treated as broken (slow, loaded machines). */
const START_TIMEOUT_MS = 60_000;
/** Log lines kept to explain a failure. */
const LOG_LINES_MAX = 200;
/** `ulimit -f` counts 512-byte blocks in POSIX shells (dash, and bash when run as sh). */
const ULIMIT_BLOCK_BYTES = 512;

export interface ServerChildOptions {
  dataDir: string;
  /** Extra environment, e.g. LOYALTY_SHARDS. */
  env?: Record<string, string>;
  /**
   * RLIMIT_FSIZE for the process: a write past this many bytes in any one file fails with EFBIG,
   * as on a full disk (Node ignores SIGXFSZ, so the process lives on and sees the error).
   */
  fileBytesMax?: number;
}

export interface Reply { status: number; body: any; headers: Headers }

/** One JSON request with an optional bearer key; `body` as a string is sent as is, a JSON answer is parsed. */
export async function jsonRequest(url: string, method: string, body: unknown, key: string | null): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(url, { method, headers, body: payload });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* plain text */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

export class ServerChild {
  child: ChildProcess | null = null;
  port = 0;
  adminKey = '';
  readonly logs: string[] = [];
  /** Resolves with the exit of the current child. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });

  constructor(readonly options: ServerChildOptions) {}

  /**
   * The node's cluster lines and warnings (level 40 and above), across restarts, which the request
   * lines would push out of `logs` under load: what a slow failover is read from.
   */
  readonly clusterLogs: string[] = [];
  /** Occurrences of watched texts in the log lines, across restarts (countLines). */
  private readonly counted = new Map<string, number>();

  /** Counts, from now on and across restarts, the occurrences of `text` in the node's log; the answer reads the count. */
  countLines(text: string): () => number {
    if (!this.counted.has(text)) this.counted.set(text, 0);
    return () => this.counted.get(text) ?? 0;
  }

  private log(line: string): void {
    // A chunk of stderr can hold several lines: each occurrence counts.
    for (const [text, n] of this.counted) this.counted.set(text, n + line.split(text).length - 1);
    this.logs.push(line);
    if (this.logs.length > LOG_LINES_MAX) this.logs.shift();
    for (const one of line.split('\n')) {
      if (!/"msg":"cluster|"level":[4-6]0/.test(one)) continue;
      this.clusterLogs.push(one);
      if (this.clusterLogs.length > LOG_LINES_MAX) this.clusterLogs.shift();
    }
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const env = { ...process.env, PORT: '0', HOST: '127.0.0.1', LOYALTY_DATA: this.options.dataDir, LOG_LEVEL: 'info', ...this.options.env };
    const limit = this.options.fileBytesMax;
    const child = limit === undefined
      ? spawn(process.execPath, [SERVER_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('/bin/sh', ['-c', `ulimit -f ${Math.ceil(limit / ULIMIT_BLOCK_BYTES)} && exec "$0" "$1"`, process.execPath, SERVER_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stderr!.on('data', (d: Buffer) => this.log(d.toString()));
    const lines = createInterface({ input: child.stdout! });
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not start: ' + this.logs.join('\n'))), START_TIMEOUT_MS);
      void this.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`server exited (${code ?? signal}) before listening: ${this.logs.join('\n')}`)); });
      lines.on('line', (line) => {
        this.log(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'loyalty ledger listening' && rec.port !== undefined) { clearTimeout(timer); resolve(rec.port); }
        } catch { /* not a log line */ }
      });
    });
    // A cluster node that joined a deployment has no admin.key of its own: the deployment's is the
    // first node's, which the caller sets.
    const adminKeyPath = join(this.options.dataDir, 'admin.key');
    if (existsSync(adminKeyPath)) this.adminKey = readFileSync(adminKeyPath, 'utf8').trim();
  }

  /** Sends `signal` and waits for the exit; resolves at once if no child runs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    if (child === null) return { code: null, signal: null };
    if (this.running) child.kill(signal);
    const exit = await this.exited;
    this.child = null;
    return exit;
  }

  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.stop('SIGKILL');
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  get streamUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/stream`;
  }

  /** One JSON request; `body` as a string is sent as is. */
  request(method: string, path: string, body?: unknown, key: string | null = this.adminKey): Promise<Reply> {
    return jsonRequest(this.url(path), method, body, key);
  }

  get(path: string, key?: string | null): Promise<Reply> {
    return this.request('GET', path, undefined, key);
  }

  post(path: string, body: unknown, key?: string | null): Promise<Reply> {
    return this.request('POST', path, body, key);
  }
}

/**
 * Waits until a cluster node answers a read itself (`forwarded` false: the owner, or a node alone)
 * or through the owner (`forwarded` true: a standby), polling every 100 ms up to `timeoutMs`.
 */
export async function answeringAs(server: ServerChild, forwarded: boolean, timeoutMs: number): Promise<void> {
  const startedMs = Date.now();
  for (;;) {
    const reply = await server.request('GET', '/v1/program').catch(() => null);
    if (reply !== null && reply.status === 200 && (reply.headers.get('loyalty-forwarded-to') !== null) === forwarded) return;
    if (Date.now() - startedMs > timeoutMs) throw new Error(`the node did not answer as ${forwarded ? 'a standby' : 'the owner'} within ${timeoutMs} ms (last answer ${reply === null ? 'none' : reply.status})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
