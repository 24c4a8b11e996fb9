// The body of the what-if thread the server starts for `POST /v1/admin/what-if`: one thread, at a
// lower CPU priority, that replays the recorded history under another program (what-if.ts) while
// the shards go on serving, and reports its progress through a shared counter the front end reads.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { runWhatIf } from './what-if.js';
import type { WhatIfReport, WhatIfTask } from '../rules/what-if-report.js';

/**
 * Lowers this thread's CPU priority (Linux: /proc/thread-self names the thread, and setpriority on
 * a thread id changes that thread alone), so that while both cores are busy the replay yields to
 * the shards' writers and the front end. Elsewhere the thread keeps the process's priority.
 */
function lowerPriority(nice: number): void {
  let threadId: number;
  try {
    threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return;
  }
  if (!Number.isSafeInteger(threadId) || threadId <= 0) return;
  try {
    setPriority(threadId, nice);
  } catch {
    // A system that refuses (none that lets a thread lower its own priority should) leaves it as is.
  }
}

let lowered = false;

export default async function handle(task: WhatIfTask): Promise<WhatIfReport> {
  if (!lowered) { lowerPriority(task.nice); lowered = true; }
  const progress = new BigInt64Array(task.progress);
  return await runWhatIf({
    dataDir: task.dataDir,
    scratchParent: task.scratchParent,
    program: task.program,
    ...(task.fromMs === undefined ? {} : { fromMs: task.fromMs }),
    ...(task.toMs === undefined ? {} : { toMs: task.toMs }),
    pace: task.pace,
    onProgress: (p) => {
      Atomics.store(progress, 1, BigInt(p.totalBatches));
      Atomics.store(progress, 0, BigInt(p.batches));
    },
  });
}
