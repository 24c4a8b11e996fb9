// The process logger: pino, JSON lines on stdout, level from the environment.
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'loyalty-ledger' } });
}
