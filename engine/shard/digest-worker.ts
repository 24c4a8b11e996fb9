// A short-lived thread that makes a backup's files durable (fsync) and digests them (file-digest.ts),
// so that neither waiting for the disk nor hashing gigabytes ever holds the main thread, where every
// request and stream is served, or a shard's thread. Started by the backup (engine/router/backup.ts)
// with the paths as its workerData; posts one digest per path, in order.
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { digestFileSync } from './file-digest.js';

const paths = workerData as string[];
parentPort!.postMessage(paths.map((path) => {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return digestFileSync(path);
}));
