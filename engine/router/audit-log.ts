// The audit trail of administrative actions (program changes, keys, imports, manual sweeps,
// adjustments, erasures, webhook changes, backups, restores): who (the API key id, `cli` for the
// command line), what, when, on what, with details. An append-only JSON-lines file in the data
// folder, audit.jsonl (mode 0600), each record one write of one line followed by fdatasync, so a
// record acknowledged is on disk; the server and the command line append to the same file (O_APPEND
// keeps each line whole). Reads page forward by byte offset and never read more than
// AUDIT_SCAN_BYTES_MAX per page. Admin actions are rare: the sync write on the main thread costs
// ~0.1-1.5 ms each (DESIGN's fdatasync figures), never on the purchase path.
import { closeSync, existsSync, fdatasyncSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_RECORD_BYTES_MAX, AUDIT_SCAN_BYTES_MAX, DATA_FILE_MODE } from '../limits.js';

/** The file of the trail in the data folder (backed up with it: engine/router/backup.ts). */
export const AUDIT_FILE = 'audit.jsonl';

/** The key id recorded for actions of the `loyalty` command line, which presents no API key. */
export const CLI_KEY_ID = 'cli';

/** The actions recorded (docs/api.md, "Audit"). */
export const AUDIT_ACTIONS = [
  'program.change', 'key.create', 'key.revoke', 'import', 'sweep', 'points.adjust', 'card.adjust',
  'member.erase', 'webhook.create', 'webhook.delete', 'webhook.redeliver', 'backup', 'restore',
  'compact', 'cluster.drain', 'cluster.undrain',
] as const;
export type AuditAction = typeof AUDIT_ACTIONS[number];

export interface AuditRecord {
  at: string;
  keyId: string;
  action: AuditAction;
  /** What the action was on: a member id, a key id, a program version, a folder; null when nothing in particular. */
  target: string | null;
  details: Record<string, unknown>;
}

export interface AuditFilter {
  fromMs?: number;
  toMs?: number;
  keyId?: string;
  action?: string;
  /** The byte offset to go on from: a previous page's nextCursor. */
  cursor?: number;
  limit: number;
}

/** A page of records in the order they were recorded; nextCursor null once the trail is read to its end. */
export interface AuditPage { records: AuditRecord[]; nextCursor: string | null }

export class AuditLog {
  private fd: number | null = null;
  readonly path: string;

  constructor(dataDir: string, private readonly now: () => number = Date.now) {
    this.path = join(dataDir, AUDIT_FILE);
  }

  /**
   * Appends one record and syncs it. The small API the routes call, webhook changes included:
   * `record(keyId, action, target, details)`. Details larger than AUDIT_RECORD_BYTES_MAX are
   * replaced by a note saying so.
   */
  record(keyId: string, action: AuditAction, target: string | null, details: Record<string, unknown> = {}): AuditRecord {
    const rec: AuditRecord = { at: new Date(this.now()).toISOString(), keyId, action, target, details };
    let line = JSON.stringify(rec) + '\n';
    if (Buffer.byteLength(line) > AUDIT_RECORD_BYTES_MAX) {
      rec.details = { truncated: true, bytes: Buffer.byteLength(line) };
      line = JSON.stringify(rec) + '\n';
    }
    if (this.fd === null) this.fd = openSync(this.path, 'a', DATA_FILE_MODE);
    writeSync(this.fd, line);
    fdatasyncSync(this.fd);
    return rec;
  }

  /** The records matching `filter` from its cursor on, at most `limit`, reading at most AUDIT_SCAN_BYTES_MAX. */
  read(filter: AuditFilter): AuditPage {
    if (!existsSync(this.path)) return { records: [], nextCursor: null };
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      const records: AuditRecord[] = [];
      let offset = filter.cursor ?? 0;
      const end = Math.min(size, offset + AUDIT_SCAN_BYTES_MAX);
      const chunk = Buffer.allocUnsafe(64 * 1024);
      let carry = Buffer.alloc(0);
      let pos = offset;
      while (pos < end && records.length < filter.limit) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, end - pos), pos);
        if (n === 0) break;
        pos += n;
        let data = Buffer.concat([carry, chunk.subarray(0, n)]);
        let nl: number;
        while ((nl = data.indexOf(0x0a)) !== -1 && records.length < filter.limit) {
          const line = data.subarray(0, nl).toString('utf8');
          data = data.subarray(nl + 1);
          offset += nl + 1;
          const rec = JSON.parse(line) as AuditRecord;
          if (matches(rec, filter)) records.push(rec);
        }
        carry = Buffer.from(data);
      }
      // A line being written by another process (no newline yet) is read by the next page.
      return { records, nextCursor: offset >= size ? null : String(offset) };
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function matches(rec: AuditRecord, f: AuditFilter): boolean {
  if (f.keyId !== undefined && rec.keyId !== f.keyId) return false;
  if (f.action !== undefined && rec.action !== f.action) return false;
  if (f.fromMs === undefined && f.toMs === undefined) return true;
  const atMs = Date.parse(rec.at);
  return (f.fromMs === undefined || atMs >= f.fromMs) && (f.toMs === undefined || atMs < f.toMs);
}
