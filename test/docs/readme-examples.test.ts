// The documentation's examples, replayed: the README's quick start (its curl commands through bash,
// in order, from a fresh start) and every example in docs/ (each file on its own fresh server, in
// order), each answer compared with what the document shows. Also: every link between the
// documents lands on a file and heading that exist, nothing points outside the repository, and
// docs/api.md lists every error code with its status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { ERRORS } from '../../engine/errors.js';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import {
  anchorsOf, differences, docSteps, parseExpected, readmeSteps, relativeLinks, type Step,
} from './doc-examples.js';

const run = promisify(execFile);
const DOCS = join(ROOT, 'docs');
const README = join(ROOT, 'README.md');
const docFiles = readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort().map((f) => join(DOCS, f));
const read = (file: string) => readFileSync(file, 'utf8');

/** A fresh server whose data folder is `data/` inside a scratch folder, as the README's commands expect. */
class Fresh {
  readonly home = mkdtempSync(join(tmpdir(), 'loyalty-docs-'));
  readonly server = new ServerProcess(join(this.home, 'data'), { LOYALTY_SWEEP_INTERVAL_MS: '0' });
  /** Keys per role for examples that name one ($POS_KEY, $STOREFRONT_KEY, $READER_KEY); $KEY is the admin's. */
  private readonly keys = new Map<string, string>();

  async start(): Promise<void> { await this.server.start(); }
  async stop(): Promise<void> {
    await this.server.stop();
    rmSync(this.home, { recursive: true, force: true });
  }

  /** Replaces `$KEY`, `$POS_KEY`, … with real keys, creating a role's key the first time it is named. */
  async withKeys(text: string): Promise<string> {
    for (const m of text.matchAll(/\$([A-Z]+_)?KEY\b/g)) {
      const role = m[1] === undefined ? 'admin' : m[1].slice(0, -1).toLowerCase();
      if (role !== 'admin' && !this.keys.has(role)) {
        const created = await this.server.post('/v1/admin/keys', { role });
        expect(created.status).toBe(201);
        this.keys.set(role, created.body.key as string);
      }
    }
    return text.replace(/\$([A-Z]+_)?KEY\b/g, (_, prefix: string | undefined) => (prefix === undefined ? this.server.adminKey : this.keys.get(prefix.slice(0, -1).toLowerCase())!));
  }
}

/** How long a GET example may take to show credits that travel between shards after the answer that caused them. */
const GET_SETTLE_MS = 3_000;

/** Whether a reply is the one the document shows. */
function answers(status: number, expected: string, reply: { status: number; body: unknown }): boolean {
  if (reply.status !== status) return false;
  if (expected.startsWith('{') || expected.startsWith('[')) return differences(parseExpected(expected), reply.body).length === 0;
  return textMatches(expected, String(reply.body).replace(/\r\n/g, '\n').trim());
}

/**
 * Whether a text answer (CSV) is the one shown, where `...` stands for any text within its line
 * (a key id, which is random: `POST /v1/admin/keys`).
 */
function textMatches(expected: string, actual: string): boolean {
  if (!expected.includes('...')) return actual === expected;
  const pattern = expected.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^\n]*?');
  return new RegExp(`^${pattern}$`).test(actual);
}

/** Compares an answer with the document: JSON (with `...`) or, for CSV and other text, line by line. */
function expectAnswer(expected: string, actual: unknown, where: string): void {
  if (expected.startsWith('{') || expected.startsWith('[')) {
    expect(differences(parseExpected(expected), actual), `${where}: ${JSON.stringify(actual)}`).toEqual([]);
  } else {
    const text = String(actual).replace(/\r\n/g, '\n').trim();
    if (expected.includes('...')) expect(textMatches(expected, text), `${where}: ${text}`).toBe(true);
    else expect(text, where).toBe(expected);
  }
}

/** Runs one step of a document against its fresh server; `setup` collects the shell lines that commands depend on. */
async function runStep(fresh: Fresh, step: Step, where: string, setup: string[]): Promise<void> {
  const port = fresh.server.port;
  switch (step.kind) {
    case 'shell-setup':
      setup.push(step.command);
      return;
    case 'shell': {
      const script = [...setup, step.command].join('\n').replace(/(localhost|127\.0\.0\.1):8080/g, `127.0.0.1:${port}`);
      const { stdout } = await run('bash', ['-c', script], { cwd: fresh.home, timeout: 20_000 });
      const answer = JSON.parse(stdout) as Record<string, unknown>;
      if (step.expected === null) expect(answer, `${where}: an example without a shown answer must succeed`).not.toHaveProperty('error');
      else expectAnswer(step.expected, answer, where);
      return;
    }
    case 'http': {
      const auth = step.headers['authorization'];
      const key = auth === undefined ? fresh.server.adminKey : (await fresh.withKeys(auth)).replace(/^Bearer /, '');
      const body = step.body === null ? undefined : await fresh.withKeys(step.body);
      const expected = await fresh.withKeys(step.expected);
      let reply = await fresh.server.request(step.method, step.path, body, key);
      // A GET changes nothing: it is asked again while credits from other shards are on their way.
      for (const deadline = Date.now() + GET_SETTLE_MS; step.method === 'GET' && Date.now() < deadline && !answers(step.status, expected, reply);) {
        await new Promise((r) => setTimeout(r, 50));
        reply = await fresh.server.request(step.method, step.path, body, key);
      }
      expect(reply.status, `${where}: ${JSON.stringify(reply.body)}`).toBe(step.status);
      expectAnswer(expected, reply.body, where);
      return;
    }
    case 'stream': {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
      const received: unknown[] = [];
      let wake = (): void => undefined;
      ws.on('message', (data: Buffer) => { received.push(JSON.parse(data.toString('utf8'))); wake(); });
      await new Promise<void>((ok, fail) => { ws.once('open', () => ok()); ws.once('error', fail); });
      try {
        for (const frame of step.frames) {
          const text = await fresh.withKeys(frame.text);
          if (frame.send) { ws.send(text); continue; }
          const deadline = Date.now() + 10_000;
          while (received.length === 0 && Date.now() < deadline) await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
          expect(received.length, `${where}: no frame came back for ${text}`).toBeGreaterThan(0);
          expectAnswer(text, received.shift(), where);
        }
      } finally {
        ws.close();
      }
      return;
    }
    case 'program': {
      const program = JSON.parse(step.json) as Record<string, unknown>;
      if (step.demo) {
        const reply = await fresh.server.get('/v1/program');
        expect(differences({ version: 1, ...program }, reply.body), where).toEqual([]);
        return;
      }
      const reply = await fresh.server.request('PUT', '/v1/program', program);
      expect(reply.status, `${where}: ${JSON.stringify(reply.body)}`).toBe(200);
      const { version: _version, ...accepted } = reply.body as Record<string, unknown>;
      expect(differences(program, accepted), `${where}: the program is stored as written`).toEqual([]);
      return;
    }
  }
}

/** One describe per document: a fresh server, then every example in document order. */
function replay(file: string, steps: Step[]): void {
  const name = relative(ROOT, file);
  describe(`${name} examples, in order, from a fresh start`, () => {
    const fresh = new Fresh();
    const setup: string[] = [];
    beforeAll(async () => { await fresh.start(); });
    afterAll(async () => { await fresh.stop(); });
    it.each(steps.map((step) => [`${name}:${step.line}`, step] as const))('%s', async (where, step) => {
      await runStep(fresh, step, where, setup);
    });
  });
}

const readme = readmeSteps(read(README));
replay(README, readme);
for (const file of docFiles) {
  const steps = docSteps(read(file));
  if (steps.length > 0) replay(file, steps);
}

describe('the documents themselves', () => {
  it('the README shows a quick start of curl commands with at least one answer', () => {
    expect(readme.filter((s) => s.kind === 'shell').length).toBeGreaterThanOrEqual(2);
    expect(readme.some((s) => s.kind === 'shell' && s.expected !== null)).toBe(true);
  });

  it('docs/api.md shows the main flow as checked examples', () => {
    const shown = docSteps(read(join(DOCS, 'api.md'))).flatMap((s) => (s.kind === 'http' ? [`${s.method} ${s.path.split('?')[0]}`] : []));
    for (const route of ['POST /v1/members', 'POST /v1/purchases', 'POST /v1/checkout/quote', 'POST /v1/returns', 'POST /v1/wallet/topups', 'GET /v1/members/alice', 'GET /v1/members/alice/ledger']) {
      expect(shown, route).toContain(route);
    }
  });

  it.each([README, ...docFiles].map((f) => [relative(ROOT, f), f]))('%s points only inside the repository', (_name, file) => {
    const text = read(file);
    expect(text).not.toMatch(/\.\.\/shared|SPEC\.md|DESIGN\.md|\bSPEC\b/);
  });

  it.each([README, ...docFiles].map((f) => [relative(ROOT, f), f]))('%s links to files and headings that exist', (_name, file) => {
    const broken: string[] = [];
    for (const link of relativeLinks(read(file))) {
      const target = link.file === '' ? file : resolve(dirname(file), link.file);
      if (!existsSync(target)) { broken.push(`line ${link.line}: ${link.file} does not exist`); continue; }
      if (link.anchor !== null && target.endsWith('.md') && !anchorsOf(read(target)).has(link.anchor)) {
        broken.push(`line ${link.line}: ${relative(ROOT, target)} has no heading #${link.anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('docs/api.md lists every route of server/routes.ts with its roles, and no other', () => {
    const words: Record<string, string> = { "'public'": 'none', ALL: 'any', '[...ALL]': 'any', WRITERS: 'writers', ADMIN: 'admin', "['admin', 'reader']": 'admin, reader' };
    const shape = (path: string) => path.replace(/:\w+|\{\w+\}/g, '{}');
    const source = read(join(ROOT, 'server/routes.ts'));
    const inCode = [...source.matchAll(/^route\('([A-Z]+)', '([^']+)', (\[[^\]]*\]|[^,]+),/gm)]
      .map((m) => `${m[1]} ${shape(m[2]!)} → ${words[m[3]!] ?? m[3]}`).sort();
    expect(inCode.length).toBeGreaterThan(20);
    const api = read(join(DOCS, 'api.md'));
    const table = api.slice(api.indexOf('## Endpoints'), api.indexOf('### Program'));
    const inDocs = [...table.matchAll(/^\| (`[A-Z]+ [^|]+) \| ([^|]+) \|$/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z]+) ([^`]+)`/g)]
      .map((r) => `${r[1]} ${shape(r[2]!)} → ${m[2]!.trim()}`)).filter((r) => !r.startsWith('GET /v1/stream ')).sort();
    expect(inDocs).toEqual(inCode);
  });

  it.each(Object.entries(ERRORS))('docs/api.md lists %s with its status', (code, info) => {
    expect(read(join(DOCS, 'api.md'))).toContain(`| \`${code}\` | ${info.status} |`);
  });
});

describe('the example checker', () => {
  it('takes `...` as fields or elements not shown, and nothing else', () => {
    expect(differences(parseExpected('{"a":1,...,"c":[1,...]}'), { a: 1, b: 2, c: [1, 2] })).toEqual([]);
    expect(differences(parseExpected('{"a":"...x"}'), { a: '...x' })).toEqual([]);
    expect(differences(parseExpected('{"a":...,"b":[...]}'), { a: 'any', b: [] })).toEqual([]);
    expect(differences(parseExpected('{"a":...}'), {})).toEqual(['$.a: missing']);
  });

  it('finds a wrong value, a missing field, a field not shown and a wrong length', () => {
    expect(differences(parseExpected('{"a":1,"b":2}'), { a: 1, b: 3 })).toEqual(['$.b: expected 2, got 3']);
    expect(differences(parseExpected('{"a":1,...}'), { b: 1 })).toEqual(['$.a: missing']);
    expect(differences(parseExpected('{"a":1}'), { a: 1, b: 1 })).toEqual(['$.b: not shown in the example (1)']);
    expect(differences(parseExpected('[1]'), [1, 2])).toHaveLength(1);
  });

  it('reads request and answer pairs, headers and shell answers', () => {
    const steps = docSteps('```http-example\nPOST /v1/x {"a":1}\nAuthorization: Bearer $POS_KEY\n200 {"b":2,\n  "c":3}\nGET /v1/y\n404 {...}\n```\n');
    expect(steps).toMatchObject([
      { kind: 'http', method: 'POST', path: '/v1/x', body: '{"a":1}', status: 200, expected: '{"b":2,\n  "c":3}' },
      { kind: 'http', method: 'GET', path: '/v1/y', body: null, status: 404, expected: '{...}' },
    ]);
    expect(readmeSteps('```sh\nK=1\ncurl -s x \\\n  -d \'{}\'\n# {"a":1}\n```\n')).toMatchObject([
      { kind: 'shell-setup', command: 'K=1' }, { kind: 'shell', command: "curl -s x -d '{}'", expected: '{"a":1}' },
    ]);
  });
});
