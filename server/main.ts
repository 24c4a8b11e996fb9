// `npm start`: runs the server from the environment's settings until SIGINT or SIGTERM.
import { configFromEnv } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';
import { SHUTDOWN_TIMEOUT_MS } from '../engine/limits.js';

const config = configFromEnv();
const log = createLogger(config.logLevel);
const server = await startServer(config, log);
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
