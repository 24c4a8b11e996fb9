// A reader thread let go before it finished loading: Piscina terminates it, and a thread terminated
// while Node was still instantiating its module graph aborted the whole process with V8's fatal
// "IsGraphAsync must be used on an instantiated module" (a CI run of the disk-full test: a server
// stopped a few hundred milliseconds after its start, with the webhook delivery thread's reader
// never asked anything). ReaderClient.release now runs a last task on the thread first, which runs
// only once the thread has loaded. The child process acquires and releases readers at delays that
// sweep the load time; before the fix it aborted in about one run of three of 40 cycles.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/server-process.js';

const CYCLES = 100;
/** The delays between a reader's start and its release sweep 0..119 ms, around its module's load time. */
const script = `
const { ReaderClient } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/engine/router/reader-client.js')).href)});
for (let i = 0; i < ${CYCLES}; i++) {
  const reader = ReaderClient.acquire(process.argv[1] + '/folder-' + i);
  await new Promise((resolve) => setTimeout(resolve, (i * 7) % 120));
  await reader.release();
}
console.log('released ${CYCLES}');
`;

describe('releasing a reader thread', () => {
  it('never terminates a thread still loading its module', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loyalty-reader-release-'));
    try {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, dir], { encoding: 'utf8', timeout: 120_000 });
      expect({ status: child.status, signal: child.signal, stdout: child.stdout.trim(), fatal: /FATAL ERROR.*/.exec(child.stderr)?.[0] ?? null })
        .toEqual({ status: 0, signal: null, stdout: `released ${CYCLES}`, fatal: null });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
