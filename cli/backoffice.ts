// The back-office commands of the `loyalty` command line: `import FILE` and `export members|ledger|coupons`
// open the engine on LOYALTY_DATA directly (import as the folder's one writer, so not beside a
// running server; export read-only, like `verify`) and show their progress on stderr; `sweep` asks
// the running server at LOYALTY_URL, which holds the program.
import { auditByCli } from './audit.js';
import { createReadStream, createWriteStream, existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { Engine } from '../engine/router/engine.js';
import { DataFolderError } from '../engine/router/data-folder.js';
import { LoyaltyError } from '../engine/errors.js';
import { FieldError } from '../engine/rules/validate.js';
import type { Config } from '../server/config.js';
import { importMembers, type ImportProgress } from '../server/import-members.js';
import { ledgerCsv, membersCsv } from '../server/export-csv.js';
import { ledgerRange } from '../server/backoffice.js';
import { couponsCsv } from '../server/coupon-reports.js';

export const BACKOFFICE_USAGE = `  import FILE               import members from a CSV file (refused while a server holds the folder); prints { imported, skipped, failed, errors }
  export members|ledger|coupons [--out FILE] [--from YYYY-MM-DD --to YYYY-MM-DD]
                            write a CSV export to FILE or stdout (safe beside a running server)
  sweep [--as-of ISO]       ask the running server (LOYALTY_URL) to run the sweep`;

/** How often the progress line is refreshed on a terminal, and written at all when stderr is a file or pipe. */
const PROGRESS_TTY_MS = 1_000;
const PROGRESS_PIPE_MS = 10_000;
const MS_PER_S = 1000;
/** The server `sweep` talks to when LOYALTY_URL is not set. */
const DEFAULT_URL = 'http://127.0.0.1:8080';

/** A refusal the user can act on: printed as `loyalty: message`, exit status 2. */
export class UsageError extends Error {}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return value;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A progress line on stderr: rewritten in place on a terminal, an occasional line otherwise. */
function progressReporter(describe: (elapsedS: number) => string): { stop(): void } {
  const started = performance.now();
  const tty = process.stderr.isTTY === true;
  const line = () => describe((performance.now() - started) / MS_PER_S);
  const timer = setInterval(() => process.stderr.write(tty ? `\r${line()}\u001b[K` : `${line()}\n`), tty ? PROGRESS_TTY_MS : PROGRESS_PIPE_MS);
  return {
    stop() {
      clearInterval(timer);
      process.stderr.write(`${tty ? '\r' : ''}${line()}${tty ? '\u001b[K' : ''}\n`);
    },
  };
}

/**
 * Runs `work` on the engine opened on the data folder: `import` as its one writer (refused while a
 * server or another import holds the folder), `export` read-only (safe beside a running server).
 */
async function withEngine<T>(config: Config, access: 'import' | 'read', work: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open({ dataDir: config.dataDir, shards: config.shards, ...(access === 'read' ? { readOnly: true } : { holder: 'loyalty import', createFolder: false }) });
  try {
    return await work(engine);
  } finally {
    await engine.close();
  }
}

async function importCommand(config: Config, args: string[]): Promise<number> {
  const file = args[0];
  if (file === undefined || file.startsWith('--')) throw new UsageError('import needs a CSV file: loyalty import FILE');
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`no such file: ${file}`);
  const totalBytes = statSync(file).size;
  const progress: ImportProgress = { rows: 0, bytes: 0 };
  const result = await withEngine(config, 'import', async (engine) => {
    const reporter = progressReporter((s) => `import: ${fmt(progress.rows)} rows, ${totalBytes === 0 ? 100 : Math.floor((100 * progress.bytes) / totalBytes)}% of ${file}, ${fmt(progress.rows / Math.max(s, 0.001))} rows/s`);
    try {
      const imported = await importMembers(engine, createReadStream(file), progress);
      auditByCli(config.dataDir, 'import', file, { rows: imported.imported + imported.skipped + imported.failed, accepted: imported.imported, skipped: imported.skipped, refused: imported.failed });
      return imported;
    } finally {
      reporter.stop();
    }
  });
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  return result.failed === 0 ? 0 : 1;
}

async function exportCommand(config: Config, args: string[]): Promise<number> {
  const what = args[0];
  if (what !== 'members' && what !== 'ledger' && what !== 'coupons') throw new UsageError('export needs members, ledger or coupons: loyalty export members|ledger|coupons [--out FILE]');
  const out = flag(args, '--out');
  const range = what === 'ledger' ? ledgerRange(new URLSearchParams({ from: flag(args, '--from') ?? '', to: flag(args, '--to') ?? '' })) : undefined;
  // Written beside the target and renamed at the end, so a failed export never looks like a whole one.
  const partial = out === undefined ? undefined : `${out}.partial`;
  const sink = partial === undefined ? process.stdout : createWriteStream(partial);
  let rows = -1; // the header is not a row
  await withEngine(config, 'read', async (engine) => {
    const total = what === 'members' ? (await engine.summary()).members : undefined;
    const reporter = progressReporter((s) => `export ${what}: ${fmt(Math.max(rows, 0))}${total === undefined ? '' : ` / ${fmt(total)}`} rows, ${fmt(Math.max(rows, 0) / Math.max(s, 0.001))} rows/s`);
    try {
      const chunks = what === 'members' ? membersCsv(engine) : what === 'coupons' ? couponsCsv(engine) : ledgerCsv(engine, range);
      for await (const chunk of chunks) {
        rows += countRows(chunk);
        // Backpressure: the next page is fetched only once the sink has taken this one.
        if (!sink.write(chunk)) await once(sink, 'drain');
      }
    } catch (err) {
      if (partial !== undefined) rmSync(partial, { force: true });
      throw err;
    } finally {
      reporter.stop();
    }
  });
  if (partial !== undefined && out !== undefined) {
    (sink as ReturnType<typeof createWriteStream>).end();
    await once(sink, 'finish');
    renameSync(partial, out);
  }
  return 0;
}

/** Rows in a chunk of whole CSV lines: its line ends outside quotes (a quoted field may hold one). */
function countRows(chunk: string): number {
  let rows = 0;
  let quoted = false;
  for (let i = chunk.indexOf('\n'), from = 0; i !== -1; from = i + 1, i = chunk.indexOf('\n', from)) {
    for (let j = chunk.indexOf('"', from); j !== -1 && j < i; j = chunk.indexOf('"', j + 1)) quoted = !quoted;
    if (!quoted) rows += 1;
  }
  return rows;
}

async function sweepCommand(config: Config, args: string[]): Promise<number> {
  const asOf = flag(args, '--as-of');
  const url = (process.env['LOYALTY_URL'] ?? DEFAULT_URL).replace(/\/+$/, '');
  const keyPath = join(config.dataDir, 'admin.key');
  if (!existsSync(keyPath)) throw new UsageError(`no admin key at ${keyPath}: set LOYALTY_DATA to the server's data folder`);
  const key = readFileSync(keyPath, 'utf8').trim();
  let res: Response;
  try {
    res = await fetch(`${url}/v1/admin/sweep`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(asOf === undefined ? {} : { asOf }),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw new UsageError(`no server answers at ${url} (${cause}); start one with \`loyalty start\` or set LOYALTY_URL`);
  }
  const text = await res.text();
  const body = parseJson(text) as { error?: { code: string; message: string } } | null;
  if (res.status === 404 && body?.error?.code === 'route_not_found') {
    throw new UsageError(`the server at ${url} has no /v1/admin/sweep endpoint: it predates the sweep; upgrade it`);
  }
  if (!res.ok) {
    process.stderr.write(`loyalty: sweep failed with ${res.status} ${body?.error ? `${body.error.code}: ${body.error.message}` : text.slice(0, 200)}\n`);
    return 1;
  }
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return 0;
}

function parseJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return null; }
}

/** Runs a back-office command; returns its exit status, or null if `command` is not one of them. */
export async function runBackoffice(config: Config, command: string | undefined, args: string[]): Promise<number | null> {
  const run = command === 'import' ? importCommand : command === 'export' ? exportCommand : command === 'sweep' ? sweepCommand : null;
  if (run === null) return null;
  try {
    return await run(config, args);
  } catch (err) {
    if (err instanceof UsageError) { process.stderr.write(`loyalty: ${err.message}\n`); return 2; }
    if (err instanceof FieldError) { process.stderr.write(`loyalty: ${err.field}: ${err.message}\n`); return 2; }
    if (err instanceof LoyaltyError) { process.stderr.write(`loyalty: ${err.code}: ${err.message}\n`); return 1; }
    if (err instanceof DataFolderError) { process.stderr.write(`loyalty: ${err.message}\n`); return 1; }
    throw err;
  }
}
