// Runs the real server (dist/server/main.js) as a child process on a loopback port with its own
// data folder, and gives tests its typed client (client/http.ts), every answer checked against its
// route's answer schema, and a raw JSON request for what the typed client cannot send (a wrong body).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ValidateFunction } from 'ajv';
import { jsonRequest, type Reply } from '../../bench/server-child.js';
import { ApiError, LoyaltyClient, type AnswerOf, type CallArgs, type RouteName } from '../../client/http.js';
import { routeOf } from '../../server/routes.js';
import { ROUTE_DOCS } from '../../server/schema/catalogue.js';
import { ajv } from '../../server/schema/body-check.js';

export type { Reply };

export const ROOT = new URL('../..', import.meta.url).pathname;


const answerChecks = new Map<string, ValidateFunction | null>();

/**
 * Checks a success answer against its route's answer schema (server/schema/answers.ts): every
 * answer the tests receive through this helper keeps the OpenAPI document honest about answers.
 */
export function checkAnswer(method: string, path: string, reply: Pick<Reply, 'status' | 'body'>): void {
  if (reply.status < 200 || reply.status > 299 || typeof reply.body !== 'object' || reply.body === null) return;
  const key = `${method} ${routeOf(method, path.split('?')[0]!)}`;
  let check = answerChecks.get(key);
  if (check === undefined) {
    const schema = ROUTE_DOCS[key]?.answer;
    check = schema === undefined ? null : ajv.compile(schema);
    answerChecks.set(key, check);
  }
  if (check !== null && !check(reply.body)) {
    throw new Error(`${method} ${path} answered what its schema refuses: ${JSON.stringify(check.errors)} in ${JSON.stringify(reply.body).slice(0, 2000)}`);
  }
}

/** The global fetch, which checks every JSON success answer against its route's answer schema. */
const checkingFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if (res.ok && (res.headers.get('content-type') ?? '').includes('application/json')) {
    const url = new URL(input instanceof Request ? input.url : String(input));
    checkAnswer(init?.method ?? 'GET', decodeURIComponent(url.pathname), { status: res.status, body: await res.clone().json() as unknown });
  }
  return res;
};

/**
 * The refusal a call ended with, for a test to check its status and code:
 * `expect((await refusal(server.call(...))).code).toBe('not_found')`. Fails when the call succeeded.
 */
export async function refusal(answer: Promise<unknown>): Promise<ApiError> {
  try {
    const body = await answer;
    throw new Error(`expected a refusal, the server answered ${JSON.stringify(body).slice(0, 500)}`);
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
}

export class ServerProcess {
  child: ChildProcess | null = null;
  port = 0;
  adminKey = '';
  logs: string[] = [];

  constructor(readonly dataDir: string, readonly env: Record<string, string> = {}) {}

  static tempDataDir(): string {
    return mkdtempSync(join(tmpdir(), 'loyalty-test-'));
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [join(ROOT, 'dist/server/main.js')], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOYALTY_DATA: this.dataDir, LOYALTY_SHARDS: '2', LOG_LEVEL: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => this.logs.push(d.toString()));
    const lines = createInterface({ input: child.stdout! });
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not start: ' + this.logs.join(''))), 30_000);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${this.logs.join('')}`)); });
      lines.on('line', (line) => {
        this.logs.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'loyalty ledger listening' && rec.port !== undefined) { clearTimeout(timer); resolve(rec.port); }
        } catch { /* not a log line */ }
      });
    });
    // A cluster node that joined a deployment has no admin.key: the deployment's is on its first node.
    if (existsSync(join(this.dataDir, 'admin.key'))) this.adminKey = readFileSync(join(this.dataDir, 'admin.key'), 'utf8').trim();
  }

  /** SIGTERM and wait: the graceful path. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** SIGKILL and wait: the crash path. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    await exited;
    this.child = null;
  }

  async request(method: string, path: string, body?: unknown, key: string | null = this.adminKey): Promise<Reply> {
    const reply = await jsonRequest(`http://127.0.0.1:${this.port}${path}`, method, body, key);
    checkAnswer(method, path, reply);
    return reply;
  }

  /**
   * The typed client of this server (client/http.ts), with the admin key unless told: every JSON
   * success answer it receives is checked against its route's answer schema as well.
   */
  client(key: string | null = this.adminKey): LoyaltyClient {
    return new LoyaltyClient({ baseUrl: `http://127.0.0.1:${this.port}`, key, fetch: checkingFetch });
  }

  /**
   * One typed call with the admin key: `call('GET /v1/members/:id', { params: { id } })` answers the
   * member as its schema types it, so that a test reading a field the schema lacks does not compile.
   */
  call<K extends RouteName>(route: K, ...args: CallArgs<K>): Promise<AnswerOf<K>> {
    return this.client().call(route, ...args);
  }

  get = (path: string, key?: string | null) => this.request('GET', path, undefined, key);
  post = (path: string, body: unknown, key?: string | null) => this.request('POST', path, body, key);

  cleanup(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
