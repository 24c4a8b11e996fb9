// A stop during a what-if: the what-if thread is asked to end between two entries and closes its
// scratch stores itself before the thread is let go, instead of being terminated in the middle of
// a transaction (lmdb-js then deadlocked now and then in its cleanup of stray transactions, and the
// stopping server hung in process.exit). Runs the built WhatIfJobs (dist/), whose thread is the
// built worker, over a folder the built Engine wrote.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/server-process.js';
import { demoProgram } from '../../engine/rules/program.js';
import type { Engine as EngineType } from '../../engine/router/engine.js';
import type { WhatIfJobs as WhatIfJobsType } from '../../engine/router/what-if-jobs.js';

const dir = mkdtempSync(join(tmpdir(), 'loyalty-what-if-stop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Long enough that the replay is still in its first pause when the stop comes. */
const PAUSE_MS = 2_000;

describe('a stop during a what-if', () => {
  it('ends the run between entries with its stores closed, and removes its scratch copies', async () => {
    const { Engine } = await import(pathToFileURL(join(ROOT, 'dist/engine/router/engine.js')).href) as { Engine: typeof EngineType };
    const { WhatIfJobs } = await import(pathToFileURL(join(ROOT, 'dist/engine/router/what-if-jobs.js')).href) as { WhatIfJobs: typeof WhatIfJobsType };
    const engine = await Engine.open({ dataDir: dir, shards: 1 });
    try {
      const atMs = Date.now();
      for (let i = 0; i < 20; i++) {
        expect((await engine.registerOrPatch({ op: 'register', memberId: `ws-${i}`, referralChain: [], key: `reg:m:ws-${i}`, fp: 1, atMs })).ok).toBe(true);
      }
    } finally {
      await engine.close();
    }
    const jobs = new WhatIfJobs(dir, Date.now, PAUSE_MS);
    const started = jobs.start({ program: demoProgram() });
    let view = jobs.get(started.id)!;
    while (view.state === 'running' && view.progress.totalBatches === 0) {
      await new Promise((r) => setTimeout(r, 5));
      view = jobs.get(started.id)!;
    }
    expect(view).toMatchObject({ state: 'running', progress: { batches: 0 } });
    const scratch = (jobs as unknown as { running: { scratchParent: string } }).running.scratchParent;
    expect(existsSync(scratch)).toBe(true);
    const stopStartedMs = performance.now();
    await jobs.close();
    // Cancelled by the run itself (not "Terminating worker thread"), within its pause, not after the 10 s bound.
    expect(jobs.get(started.id)).toMatchObject({ state: 'failed', error: { message: 'the what-if was cancelled: the server stopped' } });
    expect(performance.now() - stopStartedMs).toBeLessThan(PAUSE_MS + 1_500);
    expect(existsSync(scratch)).toBe(false);
  }, 60_000);
});
