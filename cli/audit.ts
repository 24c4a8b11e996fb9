// Records an action of the `loyalty` command line in the data folder's audit trail
// (engine/router/audit-log.ts) under the key id `cli`: the command line presents no API key.
import { AuditLog, CLI_KEY_ID, type AuditAction } from '../engine/router/audit-log.js';

export function auditByCli(dataDir: string, action: AuditAction, target: string | null, details: Record<string, unknown>): void {
  const log = new AuditLog(dataDir);
  try {
    log.record(CLI_KEY_ID, action, target, details);
  } finally {
    log.close();
  }
}
