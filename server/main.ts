// `npm start`: runs the server from the environment's settings until SIGINT or SIGTERM.
import { configFromEnv } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';

const config = configFromEnv();
const log = createLogger(config.logLevel);
const server = await startServer(config, log);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight batches');
    server.close().then(() => { log.info('stopped'); process.exit(0); }, (err: unknown) => { log.error({ err }, 'stop failed'); process.exit(1); });
  });
}
