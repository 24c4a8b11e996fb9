// A short-lived thread that digests a backup's files (file-digest.ts) so that hashing gigabytes
// never holds the main thread, where every request and stream is served. Started by the backup
// (engine/router/backup.ts) with the paths as its workerData; posts one digest per path, in order.
import { parentPort, workerData } from 'node:worker_threads';
import { digestFileSync } from './file-digest.js';

const paths = workerData as string[];
parentPort!.postMessage(paths.map((path) => digestFileSync(path)));
