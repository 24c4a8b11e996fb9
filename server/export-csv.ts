// The CSV exports (docs/rules.md §10) as async iterables of text chunks: each shard is paged through
// with bounded queries (at most EXPORT_PAGE_ROWS rows per page), so a consumer that awaits each
// chunk before asking for the next (a socket honouring backpressure, a file stream) holds one page.
// Both start with a UTF-8 byte-order mark and neutralise formula-like text (server/member-csv.ts).
import type { Engine } from '../engine/router/engine.js';
import { EXPORT_PAGE_ROWS, EXPORT_SCAN_ENTRIES_MAX } from '../engine/limits.js';
import { CSV_BOM, csvLine, EXPORT_COLUMNS, memberRow } from './member-csv.js';

export const LEDGER_COLUMNS = [
  'shard', 'seq', 'at', 'kind', 'memberId', 'pointsDelta', 'growthDelta', 'walletDeltaCents', 'spendDeltaCents', 'tierId', 'ref', 'cause',
  // Added later, at the end, so that readers of the columns before them are unaffected: a change of
  // pending points (docs/rules.md §13.5); a count card entry's change of uses and a restock's change
  // of stock (§14), empty on every other entry.
  'pendingDelta', 'usesDelta', 'stockDelta',
  // The API key id that caused the entry (`system` for the sweep, deliveries and settling; empty
  // on entries written before key ids were recorded) and an adjustment's reason.
  'keyId', 'reason',
] as const;

/** Every member, shard by shard and in id order within a shard, in the import's columns plus a few. */
export async function* membersCsv(engine: Engine): AsyncGenerator<string> {
  yield CSV_BOM + csvLine(EXPORT_COLUMNS);
  for (let shard = 0; shard < engine.shards.length; shard++) {
    let after: string | undefined;
    for (;;) {
      const page = await engine.membersPage(shard, after, EXPORT_PAGE_ROWS);
      if (page.length === 0) break;
      yield page.map(memberRow).join('');
      if (page.length < EXPORT_PAGE_ROWS) break;
      after = page[page.length - 1]!['memberId'] as string;
    }
  }
}

/** Every ledger entry (on local days `from`..`to` of the program's zone when given), shard by shard, in seq order. */
export async function* ledgerCsv(engine: Engine, range?: { from: string; to: string }): AsyncGenerator<string> {
  yield CSV_BOM + csvLine(LEDGER_COLUMNS);
  for (let shard = 0; shard < engine.shards.length; shard++) {
    for (let afterSeq: number | null = 0; afterSeq !== null;) {
      const page = await engine.ledgerPage(shard, { afterSeq, limit: EXPORT_PAGE_ROWS, scanMax: EXPORT_SCAN_ENTRIES_MAX, ...range });
      if (page.entries.length > 0) {
        yield page.entries.map((e) => csvLine([
          shard, e.seq, new Date(e.at).toISOString(), e.kind, e.memberId, e.pointsDelta, e.growthDelta,
          e.walletDeltaCents, e.spendDeltaCents, e.tierId, e.ref, e.cause, e.pendingDelta, e.usesDelta ?? null, e.stockDelta ?? null,
          e.keyId, e.reason ?? null,
        ])).join('');
      }
      afterSeq = page.nextSeq;
    }
  }
}

