// Lowers the CPU priority of the calling worker thread alone, for the threads that read or replay
// beside the writers (the reader thread, a backup's sealing thread, a what-if): while both cores are
// busy they yield to the shards' writers and the front end.

import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Sets this thread's nice value. Linux: /proc/thread-self names the thread, and setpriority on a
 * thread id changes that thread alone. Elsewhere, or where the system refuses, the thread keeps the
 * process's priority.
 */
export function lowerThreadPriority(nice: number): void {
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
