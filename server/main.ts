// `npm start`: runs the server from the environment's settings until SIGINT or SIGTERM.
import { configFromEnv } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';
import { SHUTDOWN_TIMEOUT_MS } from '../engine/limits.js';
import { DataFolderError } from '../engine/router/data-folder.js';

const config = configFromEnv();
const log = createLogger(config.logLevel);
let server: Awaited<ReturnType<typeof startServer>>;
try {
  server = await startServer(config, log);
} catch (err) {
  // A folder in use by another writer (or not usable) is the operator's to sort out: say why, exit 1.
  if (!(err instanceof DataFolderError)) throw err;
  log.fatal({ dataDir: config.dataDir, reason: err.reason, holder: err.holder }, err.message);
  process.stderr.write(`loyalty: ${err.message}\n`);
  process.exit(1);
}
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight batches');
    // A stop that cannot finish (a shard that never answers) must still end the process.
    setTimeout(() => { log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'stop timed out'); process.exit(1); }, SHUTDOWN_TIMEOUT_MS).unref();
    server.close().then(() => { log.info('stopped'); process.exit(0); }, (err: unknown) => { log.error({ err }, 'stop failed'); process.exit(1); });
  });
}
