// The body of the what-if thread the server starts for `POST /v1/admin/what-if`: one thread, at a
// lower CPU priority, that replays the recorded history under another program (what-if.ts) while
// the shards go on serving, and reports its progress through a shared counter the front end reads.
import { lowerThreadPriority } from '../shard/thread-priority.js';
import { runWhatIf } from './what-if.js';
import type { WhatIfReport, WhatIfTask } from '../rules/what-if-report.js';

let lowered = false;

export default async function handle(task: WhatIfTask): Promise<WhatIfReport> {
  if (!lowered) { lowerThreadPriority(task.nice); lowered = true; }
  const progress = new BigInt64Array(task.progress);
  return await runWhatIf({
    dataDir: task.dataDir,
    scratchParent: task.scratchParent,
    program: task.program,
    ...(task.fromMs === undefined ? {} : { fromMs: task.fromMs }),
    ...(task.toMs === undefined ? {} : { toMs: task.toMs }),
    pace: task.pace,
    // The front end's stop sets the third counter; the run then ends between two entries.
    cancelled: () => Atomics.load(progress, 2) !== 0n,
    onProgress: (p) => {
      Atomics.store(progress, 1, BigInt(p.totalBatches));
      Atomics.store(progress, 0, BigInt(p.batches));
    },
  });
}
