// Every bound of the system in one place, each with the reason for its value. Queues, batches,
// frames and bodies are all bounded; a request past a bound is refused, never truncated.

/** Largest integer JSON may carry (docs/rules.md §0). */
export const SAFE_INTEGER_MAX = Number.MAX_SAFE_INTEGER;

/** Largest money amount of one operation: $10 billion keeps `amount * rate part` below 2^63 in the core. */
export const AMOUNT_CENTS_MAX = 1_000_000_000_000;
/** Largest points of one operation, for the same reason as AMOUNT_CENTS_MAX. */
export const POINTS_OP_MAX = 1_000_000_000_000;
/** Largest numerator or denominator of a program rate, so that amount * part stays below 2^63. */
export const RATE_PART_MAX = 1_000_000;
/** Largest tier threshold or metric a program may name; tiers beyond this are never reachable. */
export const THRESHOLD_MAX = 1_000_000_000_000_000;
/** Longest membership period or points life: 100 years is beyond any merchant's program. */
export const DAYS_MAX = 36_500;
/** Most products in one program: the program travels to every shard on each change. */
export const PRODUCTS_MAX = 1_000;
/** Most coupon templates in one program, for the same reason as PRODUCTS_MAX. */
export const COUPON_TEMPLATES_MAX = 1_000;
/** Most coupon rules in one program: each event checks every rule of its trigger. */
export const COUPON_RULES_MAX = 100;
/** Most coupons one order may use (docs/rules.md §12): a checkout screen lists them one per line. */
export const COUPONS_PER_ORDER_MAX = 5;
/** Most members one bulk issue names or selects: it runs as one request, answered when all are issued. */
export const COUPON_BULK_MEMBERS_MAX = 100_000;
/**
 * Coupon issues of one bulk issue in flight at once: enough to fill every shard's batches (a batch
 * closes at BATCH_OPS_MAX), few enough that live requests keep their place in the shards' queues.
 */
export const COUPON_BULK_CONCURRENCY = 1_000;
/** Members a bulk issue's answer lists by name among `failures`: the counts say how many in all. */
export const COUPON_BULK_FAILURES_LISTED_MAX = 100;
/** A coupon code as typed: 12 characters with a hyphen or space between any two fit with room to spare. */
export const COUPON_CODE_TEXT_LENGTH_MAX = 32;
/** Most coupons `GET /v1/members/{id}/coupons` lists: a member rarely holds more than a handful. */
export const MEMBER_COUPONS_LIST_MAX = 1_000;
/**
 * Largest points multiplier, in percent, of the birthday month or a campaign (docs/rules.md §13):
 * 100× the points is past any promotion, and it keeps the multiplier far below the core's exact
 * multiply-divide bound (2^31 − 1, assembly/index.ts MUL_DIV_PART_MAX).
 */
export const MULTIPLIER_PCT_MAX = 10_000;
/** Most campaigns in one program: every purchase and quote checks each active one. */
export const CAMPAIGNS_MAX = 100;
/** Most SKUs one campaign gives points for: a promotion's product list, looked up per item line. */
export const CAMPAIGN_ITEM_POINTS_MAX = 1_000;
/** Most stores one campaign names: a chain's stores of a region; a campaign for every store names none. */
export const CAMPAIGN_STORES_MAX = 1_000;
/**
 * Most points a purchase's campaigns may add on top of its multiplied earnings (bonuses and item
 * points together): the bound of any other points of one op, for the same reason as POINTS_OP_MAX.
 * A purchase whose campaigns would add more is refused with balance_limit, never truncated.
 */
export const CAMPAIGN_EXTRA_POINTS_MAX = POINTS_OP_MAX;
/**
 * Longest time purchase points stay pending (`pointsPendingDays`, docs/rules.md §13): the return
 * window a merchant grants, which even holiday return policies keep to a few months; a year of
 * unspendable points is no longer a return window, and the bound keeps a member's pending lots few.
 */
export const POINTS_PENDING_DAYS_MAX = 365;
/** Most rewards in one program (docs/rules.md §14), for the same reason as PRODUCTS_MAX. */
export const REWARDS_MAX = 1_000;
/**
 * Most units of one reward in one redemption: a counter exchanges a few mugs for points, never a
 * pallet; the bound also keeps `pointsCost × quantity` within POINTS_OP_MAX-sized arithmetic.
 */
export const REWARD_QUANTITY_MAX = 100;
/**
 * Largest stock a reward may name, and largest change one restock makes: a warehouse's count of
 * one article, far below 2^53 however many restocks add up (each is checked against the sum).
 */
export const REWARD_STOCK_MAX = 1_000_000_000;
/**
 * Most uses one count card include gives, one card use takes, and one admin adjustment moves: a
 * prepaid card of a thousand haircuts is past any merchant's offer.
 */
export const CARD_USES_OP_MAX = 1_000;
/**
 * Most uses one card may hold: renewals add up, and a card is a service promise, not a balance to
 * hoard; a renewal or adjustment past it is refused with balance_limit, never truncated.
 */
export const CARD_USES_MAX = 1_000_000;
/** Most cards `GET /v1/members/{id}/cards` and most redemptions `GET /v1/members/{id}/redemptions` list. */
export const MEMBER_CARDS_LIST_MAX = 1_000;
/** Most referral levels (docs/rules.md §1). */
export const REFERRAL_LEVELS_MAX = 3;

/** Ids: 1-64 characters of [A-Za-z0-9._:-] (docs/rules.md §0). */
export const ID_LENGTH_MAX = 64;
/** Free-text profile fields (name, address, reason): long enough for a postal address. */
export const TEXT_LENGTH_MAX = 256;
/**
 * A phone number as typed: the longest E.164 number (15 digits) with a country code, spaces,
 * dashes and parentheses fits with room to spare; anything longer is not a phone number.
 */
export const PHONE_TEXT_LENGTH_MAX = 32;
/** Items per purchase: an order with more lines than this is not a retail basket. */
export const ITEMS_MAX = 1_000;
/** `at` may run ahead of the server clock by at most this (docs/rules.md §0). */
export const FUTURE_SKEW_MS_MAX = 5 * 60 * 1000;
/**
 * The earliest `at` an op may carry: 2000-01-01T00:00:00Z. Nothing of a loyalty program this
 * engine runs happened before it, and every time the engine derives from an op (period ends, grant
 * expiries, birthdays, the sweep's index keys) must be a positive count of ms: a time before 1970
 * reached the core as a negative number and failed the op's whole batch.
 */
export const AT_MIN_MS = Date.UTC(2000, 0, 1);
/**
 * The latest moment a member's period may end (9999-12-31T23:59:59.999Z): every time is answered
 * as ISO-8601 with a four-digit year, and a product's `extendDays`, bought again and again, would
 * otherwise move a period end past what a Date can print (the answer and every view would throw).
 */
export const TIME_MS_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** HTTP request body: 1 MiB holds any single request; CSV import streams past it separately. */
export const BODY_BYTES_MAX = 1024 * 1024;
/**
 * Cores per shard when a new data folder's shard count is not given (LOYALTY_SHARDS): each shard is
 * a thread that runs at a core's full speed under load, and the front end (HTTP, the POS stream, the
 * router) needs the other. Measured on 2 cores (wrk -c64 purchases; the stream's 4 × 16 × 500): one
 * shard answered 15.0-21.3 k req/s against 9.7-10.4 k with two (two shards add a second commit for
 * the half of the purchases whose key is homed on the other shard, and halve every batch), and the
 * stream 53.7 k purchases/s against 38.1-54.4 k. Beyond 2 cores this is the same rule, not a measurement.
 */
export const CORES_PER_SHARD = 2;
/** A shard batch closes at this many ops: large enough to amortise the ~0.4 ms commit. */
export const BATCH_OPS_MAX = 2_000;
/** Batches a shard may have queued behind the running one before the front end answers 503. */
export const SHARD_QUEUE_BATCHES_MAX = 64;
/** Ops waiting for one shard (queued batches included) before new work is refused with 503. */
export const SHARD_PENDING_OPS_MAX = 200_000;
/** Seconds a refused client is asked to wait before retrying. */
export const RETRY_AFTER_SECONDS = 1;
/** Page size of list endpoints when the client names none, and the most it may ask for. */
export const PAGE_LIMIT_DEFAULT = 50;
export const PAGE_LIMIT_MAX = 1_000;
/** Shards per data folder: fixed at first start, because member ids hash onto them. */
export const SHARDS_MAX = 64;
/** LMDB map size per shard: address space only, the file grows as it is used. */
export const SHARD_MAP_BYTES = 64 * 1024 * 1024 * 1024;
/**
 * Free bytes the data folder's disk keeps in reserve: below this, writes are refused with 503
 * storage_failed before LMDB meets a full disk. lmdb-js 3.5.6 must never get there: its failed-write
 * path formats an error into a 100-byte malloc that the message outgrows (mdb.c, "Attempting to
 * write page at position …"), the heap is corrupted and the process aborts.
 */
export const DISK_FREE_BYTES_MIN = 64 * 1024 * 1024;
/** How often the front end measures the shards' data files and the disk's free space. */
export const STORAGE_CHECK_INTERVAL_MS = 250;
/**
 * How often a running server looks at keys.json (one stat; the file is read only when it changed),
 * so that a key created or revoked by `loyalty keys` takes effect within a second.
 */
export const KEYS_RELOAD_INTERVAL_MS = 250;
/** The smallest LOYALTY_MAP_BYTES accepted: below this LMDB cannot hold an empty shard's databases. */
export const SHARD_MAP_BYTES_MIN = 1024 * 1024;
/**
 * How a shard's commits reach the disk (LOYALTY_COMMIT; README, "Reliability", durability):
 * `sync`, each LMDB commit includes its fdatasync and the flush of its meta page; `pipelined`,
 * commits skip both and a group sync runs beside the next batches (engine/shard/group-sync.ts);
 * `nometasync`, each commit fdatasyncs its pages but not the meta page that makes it current
 * (LMDB's MDB_NOMETASYNC), and a batch is answered once the next commit's own fdatasync or a group
 * sync has carried that meta page to disk.
 */
export type CommitMode = 'sync' | 'pipelined' | 'nometasync';
const COMMIT_MODES: readonly CommitMode[] = ['sync', 'pipelined', 'nometasync'];
/**
 * Synchronous commits unless told otherwise: pipelined commits measured about 1.1× the HTTP rate of
 * the whole server on this shared machine (1.3-3.0× on the commit path alone), but a power cut
 * while a commit waits for its sync can leave LMDB's file silently reduced to a fraction of its
 * entries (measured: 30 of 20,000), acked batches included. A ledger does not take that risk by
 * default (README, "Durability: commits and fdatasync"). `nometasync` keeps sync's safety with one
 * flush per commit instead of two; it stays opt-in until more alternating runs than this shared
 * machine has given so far confirm its gain.
 */
export const COMMIT_MODE_DEFAULT: CommitMode = 'sync';
/**
 * LOYALTY_COMMIT as set in `env`. Read by the server's config, which refuses a bad value at start,
 * and by the shard clients and shard threads, which run in the server's process and environment.
 */
export function commitModeFromEnv(env: NodeJS.ProcessEnv): CommitMode {
  const raw = env['LOYALTY_COMMIT'];
  if (raw === undefined || raw === '') return COMMIT_MODE_DEFAULT;
  if ((COMMIT_MODES as readonly string[]).includes(raw)) return raw as CommitMode;
  throw new Error(`LOYALTY_COMMIT must be sync, pipelined or nometasync, got ${JSON.stringify(raw)}`);
}
/**
 * Whether a shard in this mode answers a task only after a group sync that started after its commit
 * (engine/shard/group-sync.ts): every mode whose commit leaves its meta page unflushed.
 */
export function commitWaitsForGroupSync(mode: CommitMode): boolean {
  return mode !== 'sync';
}
/** LMDB readers per environment: every worker thread and the main thread may read. */
export const LMDB_READERS_MAX = 126;

/**
 * Who may read the data folder: its owner only. It holds members' names, phones and emails and the
 * API key hashes, so folders are created 0700 and files 0600 (LMDB's own files included).
 */
export const DATA_FOLDER_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;
/** How long a process waiting for a lock file (keys.json's) sleeps between looks: a holder keeps it for about a millisecond. */
export const LOCK_RETRY_MS = 5;
/** Looks at one lock file before giving up: bounds the loop when locks keep changing hands. */
export const LOCK_ATTEMPTS_MAX = 1_000;
/**
 * Authenticated keys remembered by the front end (server/auth.ts), so that a request costs no
 * SHA-256: a deployment has a few keys (one per till or integration); past this the memory starts again.
 */
export const AUTH_CACHE_KEYS_MAX = 1_024;
/** How long a change of keys.json waits for another process's change to finish before failing. */
export const KEYS_LOCK_WAIT_MS = 2_000;
/**
 * Age past which a lock's `.break` file (a process breaking a stale lock holds it for well under a
 * millisecond) is taken to be left by a process that died doing so, and removed.
 */
export const LOCK_BREAK_STALE_MS = 5_000;
/** How often a held lock file's mtime is refreshed, so that a process that cannot check its holder's pid can see it is alive. */
export const LOCK_REFRESH_MS = 5_000;
/**
 * Age of the mtime past which a lock whose holder cannot be checked by pid (another host, another
 * container's pid namespace, another boot) is taken over: six missed refreshes.
 */
export const LOCK_STALE_MS = 30_000;

/**
 * Nesting of arrays and objects in a body or frame. The deepest valid request (a program's
 * tiers[i].earn) nests 3 levels; recursive steps such as the idempotency fingerprint would
 * overflow the stack on the ~500,000 levels a 1 MiB body can hold, so deeper input is refused.
 */
export const JSON_DEPTH_MAX = 32;
/**
 * Seconds uWS gives an HTTP connection to deliver a whole request (headers and body) and to stay
 * idle between keep-alive requests. It is compiled into uWS (HTTP_IDLE_TIMEOUT_S), not an option;
 * the value is named here so that the README and the tests refer to one place.
 */
export const HTTP_IDLE_TIMEOUT_S = 10;
/** A stop (SIGTERM) that has not finished its in-flight batches in this long exits with status 1. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

/** A stream frame's payload: the same 1 MiB as an HTTP body. */
export const FRAME_BYTES_MAX = 1024 * 1024;
/** Frames above this are cut off by uWS with the connection; between the two, an error frame answers. */
export const FRAME_BYTES_HARD_MAX = 16 * 1024 * 1024;
/** Ops in one stream batch (docs/api.md, the POS stream). */
export const STREAM_OPS_MAX = 10_000;
/** Unacked batches per stream connection (docs/api.md). */
export const STREAM_UNACKED_BATCHES_MAX = 64;
/** Bytes of frames parked past the window before a connection is closed for ignoring it. */
export const STREAM_PARKED_BYTES_MAX = 16 * 1024 * 1024;
/** Seconds without traffic before a stream is closed; pings keep a healthy one open. */
export const STREAM_IDLE_TIMEOUT_S = 120;
/**
 * Ack bytes buffered for one slow reader before its connection is closed (it resends its unacked
 * batches, which replay): a few of the largest acks (10,000 purchases answer about 3.5 MB of JSON).
 */
export const STREAM_BACKPRESSURE_BYTES_MAX = 16 * 1024 * 1024;
/**
 * Ack bytes buffered for every stream reader together: past it, the connections holding the most
 * are closed until the sum fits, so no number of slow readers can take the server's memory (24
 * streams that never read held 1.7 GiB at 70 MiB each, and /healthz took 11 s).
 */
export const STREAM_BACKPRESSURE_TOTAL_BYTES_MAX = 256 * 1024 * 1024;

/** CSV import body: 256 MiB holds about 2.5 million member rows; it is parsed as it streams in. */
export const IMPORT_BYTES_MAX = 256 * 1024 * 1024;
/** Import rows gathered into one shard batch: one task, one transaction, one fsync (the core holds 10,000). */
export const IMPORT_BATCH_ROWS = 5_000;
/**
 * Bytes of one CSV import row (a record, with the line breaks inside its quoted fields; its line
 * ending excluded). The longest valid row, an export's with every text field at 256 characters of
 * 3 UTF-8 bytes each, is about 3 kB; a longer row fails alone, and the import reads on past it.
 */
export const IMPORT_ROW_BYTES_MAX = 8 * 1024;
/** Import batches per shard sent and not yet answered: one running, one waiting behind it. */
export const IMPORT_BATCHES_IN_FLIGHT_PER_SHARD = 2;
/** Bytes of CSV parsed before the importer looks at its window again. */
export const IMPORT_CHUNK_BYTES = 64 * 1024;
/** Import rows naming a referrer (registered one by one, through the group commit) not yet answered. */
export const IMPORT_IN_FLIGHT_MAX = 8_000;
/**
 * Referrers an import looks up on their shards at once (those it did not register itself). A shard
 * queues at most SHARD_QUEUE_BATCHES_MAX tasks: 8,000 questions at once overflowed it (measured).
 */
export const IMPORT_QUESTIONS_IN_FLIGHT_MAX = 32;
/** Failed import rows listed one by one in the answer; past this they are only counted. */
export const IMPORT_ERRORS_LISTED_MAX = 1_000;
/** Import rows whose referrer appears later in the file, held back for a second pass. */
export const IMPORT_DEFERRED_ROWS_MAX = 100_000;
/** Days one daily report may cover: ten years of rows is still a small answer. */
export const REPORT_DAYS_MAX = 3_660;
/** Members the RFM report lists by name in one answer; past this, ask for one segment at a time. */
export const RFM_MEMBERS_LISTED_MAX = 100_000;
/** Rows one export page asks a shard for: one structured-clone reply of a few hundred kB. */
export const EXPORT_PAGE_ROWS = 2_000;
/** Ledger entries one export page may scan: a narrow date range never stalls the shard's batches. */
export const EXPORT_SCAN_ENTRIES_MAX = 100_000;
/** Ledger entries one slice of the daily report reads: a few ms, so the shard's batches keep going. */
export const REPORT_SCAN_ENTRIES_MAX = 100_000;
/** Members one slice of the RFM report reads, for the same reason. */
export const REPORT_SCAN_MEMBERS_MAX = 50_000;
/** Orders one slice of the campaign report reads (decoding only those campaigns applied to), for the same reason. */
export const REPORT_SCAN_ORDERS_MAX = 50_000;
/**
 * Characters of a name, email or phone the search index keeps per member: enough to tell members
 * apart, and a bound on the index key (64 UTF-16 units are at most 192 bytes of UTF-8, far below
 * LMDB's key limit). A longer prefix is looked up by its first 64 characters and every candidate
 * is then checked against the whole prefix.
 */
export const SEARCH_INDEX_CHARS_MAX = 64;
/**
 * Index entries one search reads before it stops using the index and walks the members in id
 * order instead. Past this many the prefix is common, so the walk meets a page of matches soon
 * (a shard of 150,000 members with 5,000 matches has one in 30), while reading every entry and
 * sorting their ids costs 1-2 µs each (measured: 18,000 entries, 12-40 ms on a busy two-core
 * machine). A rare prefix, which the walk would have to read to the end for, stays on the index.
 */
export const SEARCH_INDEX_CANDIDATES_MAX = 5_000;
/** Members indexed per transaction when a data folder's search index is built at start. */
export const SEARCH_INDEX_BUILD_SLICE_MEMBERS = 50_000;
/**
 * Threads that answer the scanning reads (member search and listing, reports, exports, verify)
 * from read-only views of every shard. One: on a two-core machine a second would only take the
 * other core from the shards' writers.
 */
export const READER_THREADS = 1;
/** Reads waiting for the reader thread before new ones are refused with 503 overloaded. */
export const READER_QUEUE_TASKS_MAX = 256;
/**
 * The nice value of the reader thread (Linux): a scan then yields the CPU to the shards' writers
 * and the front end, so that searching never slows a purchase; with nothing else to run it takes
 * a whole core. 10 gives it about a tenth of a contended core (the kernel's weight table).
 */
export const READER_THREAD_NICE = 10;
/**
 * The console's files are read once and kept in memory; none of them is larger than this. The
 * largest today is ECharts' chunk (its core with four charts), about 590 kB, then Element Plus's
 * stylesheet, about 370 kB: screens are split into chunks of their own, so a build past this means
 * something unplanned came into the bundle.
 */
export const CONSOLE_FILE_BYTES_MAX = 1024 * 1024;
/** The console build's assets, kept in memory together: a bound on that memory with the one above. */
export const CONSOLE_FILES_MAX = 200;

/** Members one sweep slice brings up to date: small enough that batches wait at most a few ms. */
export const SWEEP_SLICE_MEMBERS = 1_000;
/**
 * Members one transaction of a program change's settling rewrites (members whose tier the program
 * dropped): one entry each, far below a batch's 2^20 ledger entries, a few hundred ms of writing.
 */
export const SETTLE_SLICE_MEMBERS = 50_000;

/** Differences between a live shard and its replay listed by the replay check; past this they are only counted. */
export const REPLAY_DIFFERENCES_LISTED_MAX = 20;
/** Log entries one transaction of `loyalty log trim` removes: short enough that a running server's batches interleave. */
export const LOG_TRIM_ENTRIES_PER_TXN = 10_000;

/** The members a what-if lists as most changed: a page a merchant reads, not an export. */
export const WHAT_IF_TOP_CHANGED = 20;
/** Ops whose outcome differs under the other program listed one by one by a what-if; past this they are only counted. */
export const WHAT_IF_DIVERGENCES_LISTED_MAX = 20;
/**
 * Log entries a what-if reads from a live shard in one short read transaction: a few hundred kB,
 * and no read snapshot held for long, so LMDB can reuse the live shard's freed pages meanwhile.
 */
export const WHAT_IF_LOG_READ_ENTRIES = 256;
/** Finished what-ifs whose answers the server keeps for `GET /v1/admin/what-if/{id}`; the oldest go first. */
export const WHAT_IF_JOBS_KEPT = 16;
/**
 * Log entries one query of a backup reads from a shard to carry its copy forward (the entries
 * committed while the other shards were copied): a few ms of reading between the shard's batches.
 */
export const BACKUP_LOG_ENTRIES_PER_QUERY = 2_000;
/**
 * The nice value of a backup's own thread (Linux), which replays the copies forward and hashes
 * every file: while both cores are busy it yields to the shards' writers and the front end.
 */
export const BACKUP_THREAD_NICE = 10;
/** LMDB's page size on the platforms this runs on (the OS page): a data file's two meta pages are its first 8 KiB. */
export const LMDB_PAGE_BYTES = 4096;
/** How long a backup watches a copy start before it stops measuring (the copy goes on regardless). */
export const BACKUP_WATCH_MS = 2_000;
/** How often it looks: a few hundredths of a ms, so the measure is that fine. */
export const BACKUP_WATCH_POLL_MS = 0.02;
/** Bytes read at a time when a backup's files are hashed: small, so the main thread's other work interleaves. */
export const BACKUP_HASH_CHUNK_BYTES = 1024 * 1024;
/** A backup folder's path as an admin sends it: Linux's PATH_MAX. */
export const BACKUP_DIR_LENGTH_MAX = 4096;

/**
 * The audit trail (engine/router/audit-log.ts): bytes of audit.jsonl one page reads at most, so
 * that a filter matching nothing in a long trail answers an empty page with a cursor instead of
 * reading the whole file; a record's details at most, so that one action cannot bloat the trail;
 * changed paths a program change lists at most (the rest are counted).
 */
export const AUDIT_SCAN_BYTES_MAX = 4 * 1024 * 1024;
export const AUDIT_RECORD_BYTES_MAX = 16 * 1024;
export const AUDIT_PATHS_MAX = 200;
// Webhooks (docs/api.md, "Webhooks"; README, "Webhooks").
/** A delivery answered 2xx within this long succeeded; a receiver that takes longer is retried like one that is down. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** The first retry's delay after a failed delivery; each later one doubles it. */
export const WEBHOOK_RETRY_FIRST_MS = 1_000;
/** The longest delay between two attempts: a receiver back after a long outage hears from us within the hour. */
export const WEBHOOK_RETRY_DELAY_MAX_MS = 3_600_000;
/** How long an event is retried from its first attempt before it is marked failed and the subscription moves on. */
export const WEBHOOK_RETRY_WINDOW_MS = 72 * 3_600_000;
/** Subscriptions a deployment may hold: each has one delivery in flight per shard, so this bounds the sockets and reads webhooks cost. */
export const WEBHOOK_SUBSCRIPTIONS_MAX = 32;
/** A subscription's URL, as browsers and proxies accept one. */
export const WEBHOOK_URL_LENGTH_MAX = 2_048;
/** Ledger entries a subscription reads from a shard at a time (on the reader thread): a few ms of reading. */
export const WEBHOOK_PAGE_ENTRIES = 256;
/** Entries one such read may examine when few of them map to the subscription's events. */
export const WEBHOOK_SCAN_ENTRIES_MAX = 4_096;
/** How often a caught-up subscription looks for new entries when no commit was seen (sweeps and imports included). */
export const WEBHOOK_IDLE_POLL_MS = 1_000;
/** How soon after a commit a caught-up subscription reads it: commits close together are read together. */
export const WEBHOOK_COMMIT_POLL_MS = 50;
/** Delivery attempts kept per subscription for `GET …/deliveries` (newest first); older ones are dropped. */
export const WEBHOOK_ATTEMPTS_KEPT = 1_000;
/** Events marked failed kept per subscription (for the listing and a redeliver); older ones are dropped. */
export const WEBHOOK_FAILED_KEPT = 1_000;
/** What of a receiver's error reply or network error an attempt keeps. */
export const WEBHOOK_ERROR_CHARS_MAX = 200;
/** Days before a grant's expiry its points.expiring notice is written when the program does not say (notifyExpiringDays). */
export const NOTIFY_EXPIRING_DAYS_DEFAULT = 7;
/** The most notifyExpiringDays may be: a year, past which a notice says nothing timely. */
export const NOTIFY_EXPIRING_DAYS_MAX = 366;
/** Deliveries in flight at once across every subscription and shard: the sockets a slow receiver can hold. */
export const WEBHOOK_IN_FLIGHT_MAX = 64;
/**
 * The least time between two durable writes of one subscription's cursors: the cursor on disk lags
 * the acknowledged events by at most this (plus a write), so a crash resends at most that much.
 */
export const WEBHOOK_STATE_WRITE_INTERVAL_MS = 100;

/**
 * How long after an erasure a shard compacts its data file (engine/shard/compaction.ts), which
 * frees the erased values' bytes that LMDB leaves in freed pages. Erasures come in bursts (a
 * merchant's batch of requests); every erasure within this delay is covered by one compaction,
 * whose stall of the shard's writes (README, "Who did what, and erasure") is paid once per burst,
 * and the bytes leave the file within a minute of the request.
 */
export const ERASURE_COMPACT_DELAY_MS = 30_000;

/**
 * How long a client or proxy may keep GET /openapi.json: the document changes only with a new
 * release, which restarts the server; an hour bounds how long a cached copy outlives an upgrade.
 */
export const OPENAPI_MAX_AGE_S = 3_600;

/**
 * The nice value of the webhook delivery thread (Linux), as the reader's: its reads, signatures and
 * posts yield the CPU to the shards' writers and the front end while both cores are busy.
 */
export const WEBHOOK_THREAD_NICE = 10;
/** How long after the delivery thread stopped unexpectedly it is started again (from the cursors on disk). */
export const WEBHOOK_THREAD_RESTART_DELAY_MS = 1_000;
/** How long one read of a shard's ledger end serves the delivery lanes that poll it (under WEBHOOK_COMMIT_POLL_MS, so each poll still sees a newer end). */
export const WEBHOOK_END_READ_SHARED_MS = 20;

// Cluster mode (docs/cluster.md): each shard's batch log on a NATS JetStream stream.

/** Copies of each shard's stream: a quorum of two still acknowledges with any one NATS server lost. */
export const CLUSTER_STREAM_REPLICAS = 3;
/**
 * The largest record `loyalty cluster trim` writes to a deployment's bases stream (a shard's
 * position and a backup folder's name as headers, repeated as JSON): far more than a folder's name
 * needs, and small enough that the stream refuses anything that is not such a record.
 */
export const BASE_RECORD_BYTES_MAX = 4_096;
/**
 * How many times a stream's mapping is read again when its first message was purged between the
 * read of the stream's state and the read of that message (a trim running meanwhile): a trim purges
 * once per shard, so a second read finds the new first message; more are slack.
 */
export const MAPPING_READ_ATTEMPTS = 3;
/**
 * How long one append waits for its acknowledgement before it is sent again (same message id, same
 * fence): a healthy three-server append takes ~0.34 ms at the median on loopback.
 */
export const CLUSTER_APPEND_ATTEMPT_MS = 2_000;
/**
 * How long an append keeps trying before the owner gives up and steps down: killing a stream's
 * leader stopped appends for 4.5–7 s (NATS 2.9.10's election), and up to 8.2 s while this 2-core
 * machine ran other tests; an owner that gave up during an election would stop for nothing. It is
 * not the failover time (a dead owner appends nothing): that is the lease's.
 */
export const CLUSTER_APPEND_DEADLINE_MS = 15_000;
/**
 * Appends one shard keeps in flight to its stream at once, each fenced on the one before it. One
 * append's round trip (~0.34 ms at the median on loopback, more across machines) would otherwise
 * bound a shard's batches per second; a few in flight cover it, since a shard commits a batch in
 * about that time. The bound keeps what a stalled stream (a leader's election) holds in memory and
 * resends every CLUSTER_APPEND_RETRY_MS small: at most this many log values, each at most
 * CLUSTER_LOG_VALUE_BYTES_MAX, per shard.
 */
export const CLUSTER_APPENDS_IN_FLIGHT_MAX = 16;
/**
 * How many times a new owner appends its `term` entry at a takeover (engine/shard/replicator.ts):
 * each refusal means a stale owner's batch landed between the levelling and the append, and the
 * copy applies it and tries again. A stale owner has at most CLUSTER_APPENDS_IN_FLIGHT_MAX appends
 * on their way at once and stops at its next refused append or renewal, so a few attempts cover it;
 * more refusals than this mean something else writes the stream, and the takeover fails.
 */
export const CLUSTER_TERM_APPEND_ATTEMPTS_MAX = 8;
/** The pause between two attempts of an append that found no stream leader. */
export const CLUSTER_APPEND_RETRY_MS = 100;
/**
 * The window in which a stream recognises a repeated message id: only an owner's own retry of one
 * append relies on it (NATS's default); idempotency of client writes stays in the shard's books.
 */
export const CLUSTER_DUPLICATE_WINDOW_MS = 120_000;
/** Log entries a follower fetches from the stream at once, and applies before it fetches more. */
export const CLUSTER_FOLLOW_FETCH_ENTRIES_MAX = 256;
/** How long a follower's fetch waits for entries that the stream's last sequence says exist. */
export const CLUSTER_FOLLOW_FETCH_WAIT_MS = 2_000;
/**
 * The largest log value a stream takes (its max_msg_size): a batch of BATCH_OPS_MAX purchases with
 * items fits, and NATS warns of payloads above 8 MiB. The servers' `max_payload` must be raised to it.
 */
export const CLUSTER_LOG_VALUE_BYTES_MAX = 8 * 1024 * 1024;
/** NATS servers LOYALTY_NATS may list: a cluster of three or five, with room for a migration between two. */
export const CLUSTER_SERVERS_MAX = 16;
/**
 * How long a follower keeps asking a stream that does not answer (its leader and the JetStream
 * meta leader may both be electing after a server died: consumer creation timed out for over 2 s
 * right after killing a leader) before it reports the stream unavailable.
 */
export const CLUSTER_FOLLOW_DEADLINE_MS = 15_000;
/**
 * How long an owner's lease lasts without a renewal before a standby may claim the deployment
 * (docs/cluster.md, "Ownership"): three renewals may be lost in a row (a NATS server's restart, a
 * GC pause) before a standby takes over. Failover time is this plus up to two polls plus the
 * takeover itself, and stays under 10 s with NATS's own election (4.5–7 s) overlapping it.
 */
export const CLUSTER_LEASE_MS = 3_000;
/** How often the owner renews its lease: a third of the lease, so that one lost renewal costs nothing. */
export const CLUSTER_LEASE_RENEW_MS = 1_000;
/**
 * How long one renewal of the owner's lease waits for its acknowledgement (a healthy one takes
 * about a millisecond): short, so that an attempt lost with a NATS server that died leaves time for
 * two more within the lease, each started CLUSTER_LEASE_RENEW_MS after the one before.
 */
export const CLUSTER_LEASE_RENEW_ATTEMPT_MS = 500;
/** How often a standby reads the owner record: a lease that stopped changing is noticed within this of its expiry. */
export const CLUSTER_LEASE_POLL_MS = 500;
/**
 * How many log entries a standby's copy of a shard may lag its stream, at the start of its last
 * follow turn, and still claim the owner record as soon as any standby may (docs/cluster.md,
 * "Ownership"). Counted per shard and the largest taken, not summed: at a takeover every shard
 * levels its copy in its own thread at once, so the slowest shard sets the takeover's time. A level
 * standby lags by what its owner appended during one CLUSTER_FOLLOW_POLL_MS and its last turn, a
 * few entries in the chaos run; 128 entries took 0.5-2.4 s to replay under that run's load on a
 * shared 2-core machine (256 took 1.1-4.8 s), which keeps a failover by a standby within the bound
 * under 10 s. A copy that has just been rebuilt, or a node that has just joined, lags by hundreds.
 */
export const CLUSTER_CLAIM_LAG_ENTRIES_MAX = 128;
/**
 * How much longer than a level standby a standby whose copies lag more than
 * CLUSTER_CLAIM_LAG_ENTRIES_MAX waits before it claims an expired or vacant owner record: a whole
 * lease, six of a level standby's reads, so that any level standby that can read the record claims
 * it first. It still claims after this (the deployment must get an owner when no level standby is
 * there), at the cost of its replay.
 */
export const CLUSTER_CLAIM_LAG_WAIT_MS = CLUSTER_LEASE_MS;
/**
 * How long a node waits for the other nodes' answers to a roll call (`GET /v1/admin/cluster`, and a
 * drain, which needs a standby to hand over to): a node on loopback or one network answers within
 * milliseconds; a node that has not answered within this is taken as absent.
 */
export const CLUSTER_NODES_ANSWER_MS = 300;
/**
 * Owner records the owners stream keeps (the oldest is discarded past it): only the last one
 * counts; a few more show the last hand-overs to an operator reading the stream.
 */
export const CLUSTER_LEASE_RECORDS_MAX = 64;
/** How often a standby shard asks its stream for entries it has not applied: a standby lags the owner by about this. */
export const CLUSTER_FOLLOW_POLL_MS = 200;
/**
 * How often every node asks the deployment's keys stream for changes (server/cluster-keys.ts): a
 * revocation made on the owner is refused by every node within about this plus one read of the
 * stream, which keeps the single-node promise (refused within a second) with room for a slow read.
 */
export const CLUSTER_KEYS_POLL_MS = 250;
/**
 * Key records the keys stream holds, one per key ever created (a revocation replaces its key's
 * record): a deployment has a few keys per till or integration. Past this the stream refuses a new
 * key rather than dropping an old record, which could bring a revoked key back on a node that
 * starts from the stream.
 */
export const CLUSTER_KEY_RECORDS_MAX = 10_000;
/** The largest key record the keys stream takes (its max_msg_size): a record is about 200 bytes of JSON. */
export const CLUSTER_KEY_RECORD_BYTES_MAX = 4_096;
/**
 * How long a node that does not own the deployment waits for the owner's answer to a request or a
 * POS stream batch it forwarded (docs/cluster.md, "Serving from any node"): longer than a batch
 * waits for its replicated append in normal running (milliseconds; a NATS leader election takes
 * 4.5–7 s, and the append is retried through it), shorter than a terminal's patience. Past it the
 * request is answered overloaded with Retry-After and the terminal resends; operation keys make a
 * resend of what the owner did apply a replay.
 */
export const CLUSTER_FORWARD_TIMEOUT_MS = 10_000;
/**
 * The largest forwarded message (a request with its body, a batch frame, an answer) when the NATS
 * servers do not say theirs: NATS's default max_payload. A larger one is refused with
 * payload_too_large naming the owner's address, where it can be sent directly.
 */
export const CLUSTER_FORWARD_BYTES_DEFAULT_MAX = 1024 * 1024;
/**
 * How long an owner keeps the state of a POS stream connection that another node forwards once
 * no batch of it arrived (the forwarding node says when the connection closes; this bounds the
 * state when that message is lost): twice a stream's idle timeout.
 */
export const CLUSTER_FORWARD_CONN_IDLE_MS = 2 * STREAM_IDLE_TIMEOUT_S * 1_000;
