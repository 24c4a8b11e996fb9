// The process logger: pino, JSON lines on stdout, level from the environment, written without
// blocking the main thread.
import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Lines go to stdout through an asynchronous SonicBoom (`sync: false`, no minimum length): a line
 * logged while no write is running leaves at once, by a write(2) on libuv's pool, and the lines
 * logged meanwhile leave together in the next one. Written synchronously, a write(2) per line on
 * the main thread, the request log (a line per write request) took 23% of that thread's busy time
 * under wrk -c64 purchases (`--cpu-prof`: fs.writeSync and pino's serialisation). pino writes what
 * is still pending when the process exits (its exit hook flushes the stream synchronously); a crash
 * can lose the lines of the one write that was running.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'loyalty-ledger' } }, pino.destination({ dest: 1, sync: false, minLength: 0 }));
}
