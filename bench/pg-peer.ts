// The PostgreSQL peer of the load benchmark: the conventional design measured on the same machine
// in the same run. It starts a throw-away PostgreSQL cluster in a temporary folder (loopback only,
// with the durable settings stated), creates members, orders and a ledger, and a PL/pgSQL function
// `purchase` that does what the engine does for a plain purchase under the demo program, then
// drives it with pgbench (a C client, cheap on two cores, as wrk is for HTTP): one purchase per
// transaction over 64 connections, and 100 purchases per transaction over 16 connections. The
// cluster runs as `postgres` when this process is root (runuser), as the current user otherwise,
// and is stopped (`pg_ctl stop -m immediate`) and deleted on every path: after the run, on a
// failure, from the caller's SIGINT cleanup, and from an exit handler as the last resort.
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/** Where Debian puts each PostgreSQL major version's programs; the newest with every tool is used. */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
/** The programs the peer needs. */
const PG_TOOLS = ['initdb', 'pg_ctl', 'pgbench', 'psql', 'postgres'] as const;
/** The operating-system user a cluster runs as when this process is root (postgres refuses to run as root). */
const PG_OS_USER = 'postgres';
/** The cluster's superuser: its own name, so that nothing depends on who runs the benchmark. */
const PG_ROLE = 'loyalty_bench';
const PG_DATABASE = 'postgres';
const HOST = '127.0.0.1';
/** pg_ctl waits this long for the server to start or stop. */
const PG_CTL_TIMEOUT_S = 60;
/** Setup statements (seeding a million members among them) finish within this. */
const PSQL_TIMEOUT_MS = 600_000;
/** A pgbench run ends on its own after its duration; this bounds a stuck one. */
const PGBENCH_SLACK_MS = 120_000;
/** Purchases per transaction in the batched script: the issue's shape. */
export const PG_BATCH_PURCHASES = 100;
/** Connections of each script: 64 like the HTTP phase, 16 for batches like a few POS front ends. */
export const PG_SINGLE_CONNECTIONS = 64;
export const PG_BATCH_CONNECTIONS = 16;
/** Connections allowed beyond the load's: psql's setup and checks, and PostgreSQL's own reserve. */
const PG_CONNECTIONS_SPARE = 16;
/** The purchase amounts of the load phases. */
const AMOUNT_CENTS_MIN = 100;
const AMOUNT_CENTS_MAX = 100_000;
/** Order ids are base + client × this + the client's counter: unique while a client sends fewer. */
const ORDER_IDS_PER_CLIENT = 1_000_000_000;
const MS_PER_S = 1000;
const US_PER_MS = 1000;
const OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

/** The directory of PostgreSQL's programs (LOYALTY_PG_BIN, else Debian's newest), or undefined when not installed. */
export function findPostgres(): string | undefined {
  const hasTools = (dir: string): boolean => PG_TOOLS.every((tool) => existsSync(join(dir, tool)));
  const forced = process.env['LOYALTY_PG_BIN'];
  if (forced !== undefined && forced !== '') return hasTools(forced) ? forced : undefined;
  if (!existsSync(DEBIAN_PG_ROOT)) return undefined;
  const versions = readdirSync(DEBIAN_PG_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const dir = join(DEBIAN_PG_ROOT, version, 'bin');
    if (hasTools(dir)) return dir;
  }
  return undefined;
}

/**
 * The schema and the purchase function, for the demo program (docs/program.md): Member and Silver
 * earn 1 point per 2,000 cents, Gold 1 per 1,000; growth 1 per point; Silver from 100,000 cents of
 * period spend, Gold from 1,000,000 or one purchase of 500,000 (express); the excess carries
 * forward; periods of 365 days; no fixed order points and a birthday multiplier of 100%, so neither
 * appears. The program sits in the function as constants, as the engine holds it in memory. A
 * member's entries are chained through `prev` and the member's `last_seq`, as the engine chains
 * them, so no second ledger index is kept. Periods that end are not settled here: none ends during
 * a run (the first tier never expires, an upgraded period lasts a year). The same order id again
 * answers the first answer (`replayed`); with another member or amount it is refused.
 */
export const SCHEMA_SQL = `
CREATE TABLE members (
  id text PRIMARY KEY,
  tier_id text NOT NULL,
  period_start timestamptz NOT NULL,
  period_end timestamptz,
  period_metric bigint NOT NULL,
  points bigint NOT NULL,
  growth bigint NOT NULL,
  wallet_cents bigint NOT NULL,
  lifetime_spend_cents bigint NOT NULL,
  purchase_count integer NOT NULL,
  first_purchase_at timestamptz,
  last_purchase_at timestamptz,
  last_seq bigint NOT NULL,
  created_at timestamptz NOT NULL
) WITH (fillfactor = 80); -- room in each page for HOT updates: a purchase updates no indexed column

CREATE TABLE orders (
  order_id text PRIMARY KEY,
  member_id text NOT NULL,
  at timestamptz NOT NULL,
  seq bigint NOT NULL,
  amount_cents bigint NOT NULL,
  net_cents bigint NOT NULL,
  earned_points bigint NOT NULL,
  growth bigint NOT NULL,
  tier_id_before text NOT NULL,
  upgraded_to text,
  points_after bigint NOT NULL,
  growth_after bigint NOT NULL,
  tier_id_after text NOT NULL
);

CREATE TABLE ledger (
  seq bigserial PRIMARY KEY,
  at timestamptz NOT NULL,
  kind text NOT NULL,
  member_id text NOT NULL,
  points_delta bigint NOT NULL,
  growth_delta bigint NOT NULL,
  wallet_delta_cents bigint NOT NULL,
  spend_delta_cents bigint NOT NULL,
  tier_id text,
  ref text NOT NULL,
  cause bigint,
  prev bigint NOT NULL
);

CREATE FUNCTION purchase(p_order_id text, p_member_id text, p_amount_cents bigint,
  OUT earned_points bigint, OUT points bigint, OUT growth bigint, OUT tier_id text, OUT upgraded_to text, OUT replayed boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
  tier_ids constant text[] := ARRAY['member', 'silver', 'gold'];
  thresholds constant bigint[] := ARRAY[0, 100000, 1000000];
  earn_cents constant bigint[] := ARRAY[2000, 2000, 1000];
  earn_points constant bigint[] := ARRAY[1, 1, 1];
  express_cents constant bigint[] := ARRAY[NULL, NULL, 500000]::bigint[];
  growth_points constant bigint := 1;
  growth_growth constant bigint := 1;
  membership constant interval := interval '365 days';
  at_now constant timestamptz := now();
  m members%ROWTYPE;
  o orders%ROWTYPE;
  held integer;
  target integer;
  growth_gained bigint;
  metric bigint;
  purchase_seq bigint;
  last bigint;
BEGIN
  IF p_amount_cents IS NULL OR p_amount_cents < 1 THEN
    RAISE EXCEPTION 'invalid_request: amountCents must be at least 1' USING ERRCODE = '22023';
  END IF;
  -- The member's row lock orders every purchase of one member, as the member's shard does.
  SELECT * INTO m FROM members WHERE id = p_member_id FOR UPDATE;
  IF NOT FOUND THEN
    SELECT * INTO o FROM orders WHERE order_id = p_order_id;
    IF FOUND THEN RAISE EXCEPTION 'idempotency_conflict' USING ERRCODE = '23505'; END IF;
    RAISE EXCEPTION 'member_not_found' USING ERRCODE = 'P0002';
  END IF;
  held := array_position(tier_ids, m.tier_id);
  earned_points := (p_amount_cents * earn_points[held]) / earn_cents[held];
  growth_gained := (earned_points * growth_growth) / growth_points;
  metric := m.period_metric + p_amount_cents;
  target := held;
  FOR t IN held + 1 .. array_length(tier_ids, 1) LOOP
    IF thresholds[t] <= metric OR express_cents[t] <= p_amount_cents THEN target := t; END IF;
  END LOOP;
  points := m.points + earned_points;
  growth := m.growth + growth_gained;
  tier_id := tier_ids[target];
  upgraded_to := CASE WHEN target > held THEN tier_ids[target] END;
  replayed := false;
  purchase_seq := nextval('ledger_seq_seq');
  -- The order id is the key: the unique index answers whether it was used, and waits for a
  -- concurrent purchase with the same id to commit first.
  INSERT INTO orders VALUES (p_order_id, p_member_id, at_now, purchase_seq, p_amount_cents, p_amount_cents,
    earned_points, growth_gained, m.tier_id, upgraded_to, points, growth, tier_id)
  ON CONFLICT (order_id) DO NOTHING;
  IF NOT FOUND THEN
    SELECT * INTO o FROM orders WHERE order_id = p_order_id;
    IF o.member_id <> p_member_id OR o.amount_cents <> p_amount_cents THEN
      RAISE EXCEPTION 'idempotency_conflict' USING ERRCODE = '23505';
    END IF;
    earned_points := o.earned_points; points := o.points_after; growth := o.growth_after;
    tier_id := o.tier_id_after; upgraded_to := o.upgraded_to; replayed := true;
    RETURN;
  END IF;
  INSERT INTO ledger VALUES (purchase_seq, at_now, 'purchase', p_member_id, earned_points, growth_gained, 0,
    p_amount_cents, NULL, p_order_id, NULL, m.last_seq);
  last := purchase_seq;
  IF target > held THEN
    last := nextval('ledger_seq_seq');
    INSERT INTO ledger VALUES (last, at_now, 'upgrade', p_member_id, 0, 0, 0, 0, tier_id, p_order_id, purchase_seq, purchase_seq);
    metric := greatest(0, metric - thresholds[target]);
  END IF;
  UPDATE members SET
    tier_id = tier_ids[target],
    period_start = CASE WHEN target > held THEN at_now ELSE period_start END,
    period_end = CASE WHEN target > held THEN at_now + membership ELSE period_end END,
    period_metric = metric,
    points = purchase.points,
    growth = purchase.growth,
    lifetime_spend_cents = lifetime_spend_cents + p_amount_cents,
    purchase_count = purchase_count + 1,
    first_purchase_at = coalesce(first_purchase_at, at_now),
    last_purchase_at = at_now,
    last_seq = last
  WHERE id = p_member_id;
END
$fn$;
`;

/** The members, registered as the engine registers them: the first tier, nothing earned, a period that never ends. */
export const seedSql = (members: number): string => `
INSERT INTO members
  SELECT 'm' || g, 'member', now(), NULL, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, now()
  FROM generate_series(0, ${members - 1}) AS g;
VACUUM ANALYZE members;
CHECKPOINT;
`;

/**
 * The function's own check, run before the load: a purchase that reaches Silver earns at Member's
 * rate (150,000 cents: 75 points) and upgrades; the same order again answers the first answer; the
 * same order id for another member is refused (psql stops with an error if it is not).
 */
const SELF_CHECK_SQL = `
SELECT earned_points, points, growth, tier_id, upgraded_to, replayed FROM purchase('peer-check', 'm0', 150000)
UNION ALL
SELECT earned_points, points, growth, tier_id, upgraded_to, replayed FROM purchase('peer-check', 'm0', 150000);
DO $check$ BEGIN
  PERFORM purchase('peer-check', 'm1', 150000);
  RAISE EXCEPTION 'the order id of another member''s purchase was not refused';
EXCEPTION WHEN unique_violation THEN NULL;
END $check$;
`;
const SELF_CHECK_EXPECTED = '75|75|75|silver|silver|f\n75|75|75|silver|silver|t';

/** After the load: every balance is the sum of its entries, and every order has its purchase entry. */
const VERIFY_SQL = `
SELECT (SELECT coalesce(sum(points), 0) FROM members) = (SELECT coalesce(sum(points_delta), 0) FROM ledger)
   AND (SELECT coalesce(sum(purchase_count), 0) FROM members) = (SELECT count(*) FROM orders)
   AND (SELECT count(*) FROM orders) = (SELECT count(*) FROM ledger WHERE kind = 'purchase'),
  (SELECT count(*) FROM orders);
`;

/**
 * A pgbench script of `purchases` purchases, in one transaction when more than one. A member is
 * drawn at random; in a batch, purchase k draws from the k-th slice of the members, so every
 * transaction locks its members in one global order and two batches never deadlock (a batching
 * client sorts its batch; the engine's shard runs one batch at a time). Order ids come from the
 * run's base, the client and the client's counter `n`, which pgbench keeps between transactions.
 */
export function pgbenchScript(members: number, purchases: number): string {
  const lines: string[] = [];
  const slice = Math.floor(members / purchases);
  if (purchases > 1) lines.push('BEGIN;');
  for (let k = 0; k < purchases; k++) {
    lines.push('\\set n :n + 1');
    lines.push(`\\set o :base + :client_id * ${ORDER_IDS_PER_CLIENT} + :n`);
    lines.push(purchases > 1 ? `\\set m ${k * slice} + random(0, ${slice - 1})` : `\\set m random(0, ${members - 1})`);
    lines.push(`\\set a random(${AMOUNT_CENTS_MIN}, ${AMOUNT_CENTS_MAX})`);
    lines.push("SELECT purchase(CAST(:o AS text), 'm' || CAST(:m AS text), CAST(:a AS bigint));");
  }
  if (purchases > 1) lines.push('COMMIT;');
  return `${lines.join('\n')}\n`;
}

export interface PgbenchResult {
  /** Purchases per second: transactions per second × purchases per transaction. */
  purchasesPerS: number;
  transactionsPerS: number;
  transactions: number;
  failedTransactions: number;
  /** Transaction latency percentiles from pgbench's per-transaction log. */
  p50Ms: number;
  p99Ms: number;
  latencyAverageMs: number;
  connections: number;
  purchasesPerTransaction: number;
}

export interface PgPeerResult {
  version: string;
  /** The settings the server ran with, as it reports them (fsync, synchronous_commit, …). */
  settings: string;
  single: PgbenchResult;
  batched: PgbenchResult;
  orders: number;
  verifyOk: boolean;
  /** Seconds to create and start the cluster (initdb, pg_ctl start), and to seed its members (insert, VACUUM ANALYZE, CHECKPOINT). */
  startS: number;
  seedS: number;
}

export interface PgPeerOptions {
  members: number;
  durationS: number;
  /** Each script first runs this long uncounted (0: no warm-up). */
  warmupS: number;
}

const run = (file: string, args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<{ stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: options.timeoutMs, maxBuffer: OUTPUT_BYTES_MAX, env: options.env ?? process.env, cwd: options.cwd, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`.trim()));
      else resolve({ stdout, stderr });
    });
  });

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
}

/** A throw-away cluster: stopped (immediately) and deleted by `stop`, also from an exit handler. */
export class PgCluster {
  private stopped = false;
  private scripts = 0;
  private readonly onExit = (): void => this.stop();

  private constructor(
    readonly binDir: string,
    readonly dir: string,
    readonly port: number,
    private readonly asServerUser: boolean,
  ) {
    process.once('exit', this.onExit);
  }

  private get dataDir(): string { return join(this.dir, 'data'); }

  /** The command that runs a server program as the cluster's owner: runuser when this process is root. */
  private owned(tool: string, args: readonly string[]): [string, string[]] {
    const path = join(this.binDir, tool);
    return this.asServerUser ? ['runuser', ['-u', PG_OS_USER, '--', path, ...args]] : [path, [...args]];
  }

  /** initdb, the settings, pg_ctl start; the folder is deleted again if any step fails. */
  static async start(binDir: string): Promise<PgCluster> {
    const asServerUser = userInfo().uid === 0;
    const dir = mkdtempSync(join(tmpdir(), 'loyalty-pg-'));
    const cluster = new PgCluster(binDir, dir, await freePort(HOST), asServerUser);
    try {
      if (asServerUser) {
        const uid = execFileSync('id', ['-u', PG_OS_USER], { encoding: 'utf8' }).trim();
        const gid = execFileSync('id', ['-g', PG_OS_USER], { encoding: 'utf8' }).trim();
        chownSync(dir, Number(uid), Number(gid));
      }
      // --no-sync skips only initdb's own final sync of the files it wrote: the cluster is thrown
      // away, and the server's durability below is what is measured. C collation: byte order, as
      // LMDB compares keys.
      await run(...cluster.owned('initdb', ['-D', cluster.dataDir, '--auth=trust', `--username=${PG_ROLE}`, '--encoding=UTF8', '--locale=C', '--no-sync']), { timeoutMs: PSQL_TIMEOUT_MS, cwd: dir });
      appendFileSync(join(cluster.dataDir, 'postgresql.conf'), [
        '',
        '# The load benchmark\'s peer: loopback only, its socket in its own folder, and the durable',
        '# settings (PostgreSQL\'s defaults) stated explicitly.',
        `listen_addresses = '${HOST}'`,
        `port = ${cluster.port}`,
        `unix_socket_directories = '${dir}'`,
        'fsync = on',
        'synchronous_commit = on',
        'full_page_writes = on',
        `max_connections = ${PG_SINGLE_CONNECTIONS + PG_CONNECTIONS_SPARE}`,
        '',
      ].join('\n'));
      await run(...cluster.owned('pg_ctl', ['-D', cluster.dataDir, '-l', join(dir, 'postgres.log'), '-w', '-t', String(PG_CTL_TIMEOUT_S), 'start']), { timeoutMs: (PG_CTL_TIMEOUT_S + 5) * MS_PER_S, cwd: dir });
      return cluster;
    } catch (err) {
      const log = existsSync(join(dir, 'postgres.log')) ? readFileSync(join(dir, 'postgres.log'), 'utf8').slice(-2000) : '';
      cluster.stop();
      throw new Error(`${(err as Error).message}${log ? `\npostgres.log:\n${log}` : ''}`);
    }
  }

  private connectArgs(): string[] {
    return ['-h', HOST, '-p', String(this.port), '-U', PG_ROLE, '-d', PG_DATABASE];
  }

  /**
   * Runs SQL through psql from a file, each statement on its own (so VACUUM may be one), stopping
   * at the first error; answers the output, unaligned and without headers.
   */
  async psql(sql: string): Promise<string> {
    const file = join(this.dir, `psql-${++this.scripts}.sql`);
    writeFileSync(file, sql);
    const { stdout } = await run(join(this.binDir, 'psql'), [...this.connectArgs(), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-f', file], { timeoutMs: PSQL_TIMEOUT_MS });
    return stdout.trim();
  }

  /** One pgbench run of `purchases` per transaction; `base` keeps its order ids apart from every other run's. */
  async pgbench(opts: { members: number; purchases: number; connections: number; durationS: number; base: number; name: string }): Promise<PgbenchResult> {
    const script = join(this.dir, `${opts.name}.sql`);
    writeFileSync(script, pgbenchScript(opts.members, opts.purchases));
    const logPrefix = join(this.dir, `${opts.name}-log`);
    const { stdout, stderr } = await run(join(this.binDir, 'pgbench'), [
      ...this.connectArgs().slice(0, 6), '-n', '-M', 'prepared', '-c', String(opts.connections), '-j', '1',
      '-T', String(opts.durationS), '-D', `base=${opts.base}`, '-D', 'n=0', '-f', script, '-l', `--log-prefix=${logPrefix}`, PG_DATABASE,
    ], { timeoutMs: opts.durationS * MS_PER_S + PGBENCH_SLACK_MS, cwd: this.dir });
    const grab = (re: RegExp): number => {
      const m = re.exec(stdout);
      if (m === null) throw new Error(`pgbench: no ${re.source} in its output:\n${stdout}\n${stderr}`);
      return Number(m[1]);
    };
    if (/aborted/.test(stdout + stderr)) throw new Error(`pgbench: a client aborted:\n${stdout}\n${stderr.slice(0, 2000)}`);
    const transactionsPerS = grab(/^tps = ([\d.]+) \(without initial connection time\)$/m);
    const transactions = grab(/^number of transactions actually processed: (\d+)/m);
    const failedMatch = /^number of failed transactions: (\d+)/m.exec(stdout);
    const latencyAverageMs = grab(/^latency average = ([\d.]+) ms$/m);
    // The log has one line per transaction: client, transaction number, latency in µs, script, epoch s, µs.
    const latencies: number[] = [];
    for (const file of readdirSync(this.dir).filter((f) => f.startsWith(`${opts.name}-log.`))) {
      for (const line of readFileSync(join(this.dir, file), 'utf8').split('\n')) {
        const fields = line.split(' ');
        if (fields.length >= 6) latencies.push(Number(fields[2]) / US_PER_MS);
      }
    }
    const sorted = Float64Array.from(latencies).sort();
    return {
      purchasesPerS: transactionsPerS * opts.purchases,
      transactionsPerS,
      transactions,
      failedTransactions: failedMatch === null ? 0 : Number(failedMatch[1]),
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      latencyAverageMs,
      connections: opts.connections,
      purchasesPerTransaction: opts.purchases,
    };
  }

  /** pg_ctl stop -m immediate, then the folder deleted. Synchronous, so an exit handler can call it; safe to call twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener('exit', this.onExit);
    if (existsSync(join(this.dataDir, 'postmaster.pid'))) {
      try {
        const [file, args] = this.owned('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', String(PG_CTL_TIMEOUT_S), 'stop']);
        execFileSync(file, args, { stdio: 'ignore', timeout: (PG_CTL_TIMEOUT_S + 5) * MS_PER_S });
      } catch {
        // A server that is already gone has nothing to stop; the folder goes either way.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Measures the peer: a fresh cluster with `members` members, the function's self-check, then the
 * per-purchase script and the batched one (each after an uncounted warm-up), then the ledger check.
 * `track` receives the cluster as soon as it exists, so that the caller's cleanup can stop it on
 * SIGINT; the cluster is stopped and deleted here on every path.
 */
export async function measurePgPeer(binDir: string, options: PgPeerOptions, track: (cluster: PgCluster | undefined) => void): Promise<PgPeerResult> {
  if (options.members < PG_BATCH_PURCHASES) throw new RangeError(`pg peer: needs at least ${PG_BATCH_PURCHASES} members, got ${options.members}`);
  const versionText = execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  const startedMs = performance.now();
  const cluster = await PgCluster.start(binDir);
  track(cluster);
  try {
    const startS = (performance.now() - startedMs) / MS_PER_S;
    const seedStartedMs = performance.now();
    await cluster.psql(SCHEMA_SQL);
    await cluster.psql(seedSql(options.members));
    const seedS = (performance.now() - seedStartedMs) / MS_PER_S;
    const check = await cluster.psql(SELF_CHECK_SQL);
    if (check !== SELF_CHECK_EXPECTED) throw new Error(`pg peer: the purchase function's self-check answered\n${check}\ninstead of\n${SELF_CHECK_EXPECTED}`);
    const settings = (await cluster.psql(
      "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers', 'max_wal_size')",
    ));
    const scripts = [
      { name: 'single', purchases: 1, connections: PG_SINGLE_CONNECTIONS },
      { name: 'batched', purchases: PG_BATCH_PURCHASES, connections: PG_BATCH_CONNECTIONS },
    ];
    const results: PgbenchResult[] = [];
    let base = 0;
    for (const script of scripts) {
      const common = { members: options.members, purchases: script.purchases, connections: script.connections };
      if (options.warmupS > 0) {
        base += 1_000 * ORDER_IDS_PER_CLIENT;
        await cluster.pgbench({ ...common, durationS: options.warmupS, base, name: `${script.name}-warmup` });
      }
      base += 1_000 * ORDER_IDS_PER_CLIENT;
      results.push(await cluster.pgbench({ ...common, durationS: options.durationS, base, name: script.name }));
    }
    const [verifyOk, orders] = (await cluster.psql(VERIFY_SQL)).split('|');
    return { version: versionText, settings, single: results[0]!, batched: results[1]!, orders: Number(orders), verifyOk: verifyOk === 't', startS, seedS };
  } finally {
    cluster.stop();
    track(undefined);
  }
}
