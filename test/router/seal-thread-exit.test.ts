// The backup's seal thread answers every question or settles it: a thread that ends without
// answering (here a worker that exits on its first message) rejects the question and lets close()
// finish, where both used to wait forever (a backup hung, and the server's stop with it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { SealThread as SealThreadType } from '../../engine/router/backup.js';
import { ROOT } from '../helpers/server-process.js';

// From the build: the seal thread's default script is the compiled file beside it.
const { SealThread } = await import(pathToFileURL(join(ROOT, 'dist/engine/router/backup.js')).href) as { SealThread: typeof SealThreadType };

const dir = mkdtempSync(join(tmpdir(), 'loyalty-seal-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): URL {
  const path = join(dir, name);
  writeFileSync(path, body);
  return pathToFileURL(path);
}

describe('the seal thread', () => {
  it('rejects a question the thread ends without answering, and closes', async () => {
    const seal = new SealThread(script('exits.mjs', "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n"));
    await expect(seal.ask({ kind: 'positions', dirs: [] })).rejects.toThrow(/exit code 3/);
    await seal.close();
  }, 10_000);

  it('answers as before when the thread answers', async () => {
    const seal = new SealThread();
    await expect(seal.ask({ kind: 'positions', dirs: [] })).resolves.toEqual([]);
    await seal.close();
  }, 10_000);
});
