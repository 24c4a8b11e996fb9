// Runs the real server (dist/server/main.js) as a child process on a loopback port with its own
// data folder, and gives tests a small JSON client for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { jsonRequest, type Reply } from '../../bench/server-child.js';

export type { Reply };

export const ROOT = new URL('../..', import.meta.url).pathname;


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
    this.adminKey = readFileSync(join(this.dataDir, 'admin.key'), 'utf8').trim();
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

  request(method: string, path: string, body?: unknown, key: string | null = this.adminKey): Promise<Reply> {
    return jsonRequest(`http://127.0.0.1:${this.port}${path}`, method, body, key);
  }

  get = (path: string, key?: string | null) => this.request('GET', path, undefined, key);
  post = (path: string, body: unknown, key?: string | null) => this.request('POST', path, body, key);

  cleanup(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
