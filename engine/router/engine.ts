// The engine as the front end sees it: routes each member's ops to the shard that owns the member,
// keeps the program and the phone/email directory (directory.ts), runs ops whose lookups span
// shards (orchestrate.ts), and answers questions that span shards.
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { writeSync } from 'node:fs';
import { ShardClient } from './shard-client.js';
import { openDataFolder, type OpenDataFolder } from './data-folder.js';
import { hashId } from './member-hash.js';
import { Directory } from './directory.js';
import { Orchestrator, OpSequence, type EarlierFingerprint, type FailureMap, type Intent } from './orchestrate.js';
import { LoyaltyError } from '../errors.js';
import { demoProgram, withProgramDefaults } from '../rules/program.js';
import { directoryPhone } from '../rules/phone.js';
import { SHARDS_MAX, SWEEP_SLICE_MEMBERS } from '../limits.js';
import { couponsActive, sumTotals, type BookTotals } from '../rules/totals.js';
import type { Program, VersionedProgram } from '../rules/program-types.js';
import type { Control, CreditOp, EraseOp, OpResult, PatchOp, Profile, Query, RegisterOp, WriteOp } from '../ops.js';
import { creditOp, type OutboxMessage } from '../rules/member-state.js';
import { COMMIT_CLOCK_BYTES, type DirectoryPart } from '../shard-protocol.js';
import { daysBetween, localDaysWindowMs } from '../rules/local-day.js';
import { mergeCouponReport, type CouponFigures, type CouponReportRow } from '../rules/coupon-report.js';
import { mergeCampaignReport, type CampaignFigures, type CampaignReportPart, type CampaignReportRow } from '../rules/campaign-report.js';
import { AuditLog } from './audit-log.js';
import { mergeDaily, type DayFigures, type ExportedEntry, type RfmColumns } from '../rules/reports.js';
import { rfmReport, type RfmReport, type RfmSegment } from '../rules/rfm.js';
import { WhatIfJobs } from './what-if-jobs.js';
import { takeBackup, type BackupReport } from './backup.js';
import { CouponGate, shardOfCode } from './coupon-gate.js';
import { RewardGate } from './reward-gate.js';
import { mergeRewardReport, mergeStaffReport, rewardList, type RewardFigures, type RewardListing, type RewardReportRow, type StaffFigures, type StaffReportRow } from '../rules/reward-report.js';
import type { StaffScanPhase } from '../ops.js';
import type { CompactionReport } from '../shard-protocol.js';

export interface EngineOptions {
  dataDir: string;
  shards: number;
  /** Ops a shard may hold waiting before new work is refused (default SHARD_PENDING_OPS_MAX). */
  pendingOpsMax?: number;
  /** Fault injection for the crash test: write outbox messages but never deliver them. */
  holdOutbox?: boolean;
  /** Where delivery problems are reported. */
  warn?: (message: string, detail: Record<string, unknown>) => void;
  /** Where a backup asked for without an absolute folder goes (engine/router/backup.ts). */
  backupDir?: string;
  /** Fault injection for the backup kill test: a backup waits this long between its copies and its manifest. */
  backupStallMs?: number;
  /** LMDB map size per shard; tests use a small one to exercise a full disk. */
  mapBytes?: number;
  now?: () => number;
  /**
   * Opens the folder to read only (verify, export): no writer lock, nothing created, no program
   * catch-up, no outbox delivery; safe beside the running server that writes the folder.
   */
  readOnly?: boolean;
  /** For a writer: create the data folder when it does not exist (default true; the command line refuses instead). */
  createFolder?: boolean;
  /** Who writes, as the writer lock records it: "the server", "loyalty import". */
  holder?: string;
  /** The what-if thread's pause between its work slices (what-if-jobs.ts). */
  whatIfPauseMs?: number;
  /**
   * Cluster mode (docs/cluster.md): the shards start as standbys that follow their streams, and
   * the engine loads nothing it keeps in memory (program, directory, gates) until `takeOver`
   * makes this node the writer. Until then it takes no write and answers no question.
   */
  standby?: boolean;
}

export { CLAIMED_EMAIL, CLAIMED_PHONE } from './directory.js';

export class Engine {
  readonly shards: ShardClient[];
  private versioned!: VersionedProgram;
  /** Phone and email → memberId, for every member on every shard: the one authority on uniqueness. */
  readonly directory = new Directory((stored) => this.phoneKey(stored));
  /** Runs ops whose lookups span shards, knowing what is in flight. */
  private readonly orchestrator: Orchestrator;
  private idCounter = 0;
  private lastIdMs = 0;
  readonly now: () => number;
  /** What-ifs under another program, each on a thread of its own (what-if-jobs.ts). */
  readonly whatIf: WhatIfJobs;
  /** The audit trail of administrative actions (engine/router/audit-log.ts): routes record into it. */
  readonly audit: AuditLog;

  private folder: OpenDataFolder | null = null;

  private constructor(readonly options: EngineOptions) {
    this.now = options.now ?? Date.now;
    this.whatIf = new WhatIfJobs(options.dataDir, this.now, options.whatIfPauseMs);
    this.audit = new AuditLog(options.dataDir, this.now);
    // One commit clock for every shard, so that the batch logs' commit times order the shards' work.
    const commitClock = new SharedArrayBuffer(COMMIT_CLOCK_BYTES);
    this.shards = Array.from({ length: options.shards }, (_, i) => new ShardClient(i, options.dataDir, options.mapBytes, options.pendingOpsMax, commitClock, options.standby === true && options.readOnly !== true));
    for (const shard of this.shards) shard.onStale = (reason) => this.onStale(reason);
    this.orchestrator = new Orchestrator(this);
  }

  static async open(options: EngineOptions): Promise<Engine> {
    if (!Number.isInteger(options.shards) || options.shards < 1 || options.shards > SHARDS_MAX) {
      throw new LoyaltyError('invalid_request', `shards must be 1..${SHARDS_MAX}`);
    }
    const readOnly = options.readOnly === true;
    const folder = openDataFolder(options.dataDir, {
      shards: options.shards, access: readOnly ? 'read' : 'write', create: options.createFolder ?? true, holder: options.holder ?? 'a writer process',
      // Two writers would break the directory's uniqueness: a process that lost the folder stops at once, as on a broken invariant.
      onLost: (message) => {
        options.warn?.(message, { dataDir: options.dataDir });
        writeSync(2, `loyalty: ${message}\n`);
        process.exit(1);
      },
    });
    let engine: Engine;
    try {
      engine = new Engine(options);
    } catch (err) {
      folder.release();
      throw err;
    }
    engine.folder = folder;
    if (options.standby === true && !readOnly) {
      engine.standingBy = true;
      return engine;
    }
    try {
      await engine.loadWriter();
    } catch (err) {
      await engine.close();
      throw err;
    }
    return engine;
  }

  /** Whether this engine's shards follow their streams (cluster mode, before `takeOver`). */
  standingBy = false;

  /**
   * Cluster mode: how many log entries this node's copies lag their streams, the largest shard's
   * at its standby's last turn (shards level in parallel at a takeover, so the slowest sets its
   * time), or null while no shard has looked at its stream. The owner election reads it at each
   * turn (server/cluster-node.ts); it costs no request.
   */
  standbyLagEntries(): number | null {
    let largest: number | null = null;
    for (const shard of this.shards) {
      const entries = shard.standbyLagEntries;
      if (entries !== null && (largest === null || entries > largest)) largest = entries;
    }
    return largest;
  }

  /**
   * Cluster mode: called when a shard's stream refused an append (another node wrote it), once per
   * refused task: one owner writes the whole deployment, so the node steps down as a whole
   * (server/cluster-node.ts), with `stepDown({ stale: true })`.
   */
  onStale: (reason: string) => void = () => {};

  /**
   * Cluster mode: makes this node the writer of every shard in term `term` (its owner record's).
   * Each shard stops following, levels its copy with its stream and appends from there; then the
   * router reads what it keeps in memory from the shards' copies, as a start does.
   */
  async takeOver(term: number): Promise<void> {
    if (!this.standingBy) throw new Error('only a standby engine takes over');
    await Promise.all(this.shards.map((s) => s.control({ c: 'own', term })));
    this.standingBy = false;
    this.directory.clear();
    await this.loadWriter();
    for (const shard of this.shards) shard.resume();
  }

  /**
   * Cluster mode, a planned step-down (docs/cluster.md, "Draining a node"): the engine refuses new
   * writes (shutting_down, which clients resend), waits until every write already taken is answered
   * (so committed, and appended and acknowledged by its stream), and turns each shard back into a
   * standby following its stream from its copy's position. It answers once no shard of this node
   * can write: only then may the owner record be given up. What the router keeps in memory for a
   * writer (the gates, the directory, the outbox's delivery) is dropped, and read again from the
   * shards at the next takeover. Answers each shard's log position.
   *
   * `stale`, an unplanned step-down (another node owns the deployment, or a stream refused an
   * append): every write taken and not answered is answered at once with a retryable refusal
   * (ShardClient.abandon), none as done, and the shards append nothing more before standing by.
   */
  async stepDown(options: { stale?: boolean } = {}): Promise<Array<{ logSeq: number }>> {
    if (this.standingBy || this.options.standby !== true) throw new Error('only an engine that took over in cluster mode steps down');
    // Two step-downs at once would send a shard two standBy controls: the caller stops the process instead.
    if (this.steppingDown) throw new Error('a step-down of this engine is already under way');
    const stale = options.stale === true;
    this.steppingDown = true;
    try {
      if (stale) {
        // The outbox messages of batches answered late belong to no acknowledged write of this node.
        for (const shard of this.shards) { shard.onOutbox = () => {}; shard.abandon(); }
      }
      await Promise.all(this.shards.map((s) => s.stepDown()));
      const positions = await Promise.all(this.shards.map((s) => s.control(stale ? { c: 'standBy', stale } : { c: 'standBy' }))) as Array<{ logSeq: number }>;
      this.standingBy = true;
      for (const shard of this.shards) {
        shard.onOutbox = () => {};
        shard.couponGate = null;
        shard.rewardGate = null;
      }
      this.couponGate = null;
      this.rewardGate = null;
      this.directory.clear();
      return positions;
    } finally {
      this.steppingDown = false;
    }
  }

  /** Set during a step-down: outbox deliveries stop (the next owner delivers what is left). */
  private steppingDown = false;

  /**
   * Whether a write may have been refused because this node stepped down (or stands by): from the
   * start of a step-down until the next takeover. The stream answers a batch with such a refusal
   * as a whole batch to resend (server/stream/batches.ts), so that no op of it is lost.
   */
  get handingOver(): boolean {
    return this.steppingDown || this.standingBy;
  }

  /** What the router keeps in memory, read from the shards; for a writer, the gates and the outbox's delivery too. */
  private async loadWriter(): Promise<void> {
    await this.loadProgram();
    await this.loadDirectory();
    if (this.options.readOnly === true) return;
    await this.openCouponGate();
    await this.openRewardGate();
    for (const shard of this.shards) shard.onOutbox = (source, messages) => this.deliver(source, messages);
    // Messages written before a crash or stop and not yet delivered go out now.
    for (const shard of this.shards) {
      const pending = await shard.query({ q: 'outbox' }) as Array<[number, OutboxMessage]>;
      if (pending.length > 0) this.deliver(shard.shardId, pending);
    }
  }

  /** The newest program any shard holds; shards that missed a change (a crash mid-update) catch up. */
  private async loadProgram(): Promise<void> {
    const held = await Promise.all(this.shards.map((s) => s.query({ q: 'program' }))) as Array<VersionedProgram | null>;
    let newest: VersionedProgram | null = null;
    for (const p of held) if (p !== null && (newest === null || p.version > newest.version)) newest = p;
    if (newest === null) newest = { version: 1, program: demoProgram() };
    this.versioned = { version: newest.version, program: withProgramDefaults(newest.program) };
    // A reader leaves a shard that missed a change to the writer, which brings it up to date.
    if (this.options.readOnly === true) return;
    await Promise.all(this.shards.map((s, i) => (held[i]?.version === newest.version ? null
      : s.control({ c: 'setProgram', version: newest.version, program: newest.program, atMs: this.now(), record: i === 0 && held[0]?.version !== newest.version }))));
  }

  /**
   * The coupons every shard ever issued, summed per template before the first write, start the
   * router's totalMax counter (coupon-gate.ts); from here on every batch passes through it.
   */
  private async openCouponGate(): Promise<void> {
    const counts = (await Promise.all(this.shards.map((s) => s.query({ q: 'couponCounts' })))) as Array<Record<string, number>>;
    const gate = new CouponGate(this.shards.length, () => this.versioned.program, counts);
    this.couponGate = gate;
    for (const shard of this.shards) shard.couponGate = gate;
  }

  /** The router's coupon codes and totalMax units; null when the folder is open to read only. */
  couponGate: CouponGate | null = null;

  /**
   * The units every shard holds redeemed and restocked, summed per reward before the first write,
   * start the router's stock counter (reward-gate.ts); from here on every batch passes through it.
   */
  private async openRewardGate(): Promise<void> {
    const counts = (await Promise.all(this.shards.map((s) => s.query({ q: 'rewardCounts' })))) as Array<Record<string, { taken: number; added: number }>>;
    const gate = new RewardGate(() => this.versioned.program, counts);
    this.rewardGate = gate;
    for (const shard of this.shards) shard.rewardGate = gate;
  }

  /** The router's reward stock counter; null when the folder is open to read only. */
  rewardGate: RewardGate | null = null;

  /**
   * The program's rewards with the stock left of each (docs/rules.md §14.1): from the router's
   * counter while writing, else (a read-only engine) from the shards' counters summed now.
   */
  async rewards(): Promise<RewardListing[]> {
    const gate = this.rewardGate ?? new RewardGate(() => this.versioned.program,
      (await Promise.all(this.shards.map((s) => s.query({ q: 'rewardCounts' })))) as Array<Record<string, { taken: number; added: number }>>);
    return rewardList(this.versioned.program.rewards, (r) => gate.stockOf(r));
  }

  /** The member a redemption belongs to, or null: its id does not say which shard, so every shard is asked. */
  async redemption(redemptionId: string): Promise<Record<string, unknown> | null> {
    const found = await Promise.all(this.shards.map((s) => s.query({ q: 'redemption', redemptionId }))) as Array<Record<string, unknown> | null>;
    return found.find((r) => r !== null) ?? null;
  }

  /** The shard a coupon code lives on (coupon-gate.ts): a lookup by code asks it alone. */
  shardOfCode(code: string): ShardClient {
    return this.shards[shardOfCode(code, this.shards.length)]!;
  }

  private async loadDirectory(): Promise<void> {
    // The shards read their parts at once; each part is added as it arrives.
    await Promise.all(this.shards.map(async (shard) => {
      this.directory.load(await shard.query({ q: 'directory' }) as DirectoryPart);
    }));
  }

  /** The directory's key for a phone a profile holds: E.164 (engine/rules/phone.ts directoryPhone). */
  private phoneKey(stored: string): string {
    return directoryPhone(stored, this.versioned.program.defaultCountry);
  }

  get program(): VersionedProgram {
    return this.versioned;
  }

  /**
   * Accepts a validated program as the next version, recorded on the ledger of shard 0. Changes
   * run one at a time, in the order they arrive: each takes the version after the one before it,
   * so versions strictly increase and the program answered is the one applied, before and after
   * a restart (two changes at once used to take the same version: one was answered, the other
   * applied, and a restart brought back the first).
   */
  setProgram(program: Program, by?: string): Promise<VersionedProgram> {
    const change = this.programChanges.then(() => this.applyProgram(program, by));
    this.programChanges = change.catch(() => undefined);
    return change;
  }

  /** The program changes queued so far: settles when the last one has. */
  private programChanges: Promise<unknown> = Promise.resolve();

  private async applyProgram(program: Program, by: string | undefined): Promise<VersionedProgram> {
    const version = this.versioned.version + 1;
    const atMs = this.now();
    const answers = await Promise.allSettled(this.shards.map((s, i) => s.control({ c: 'setProgram', version, program, atMs, record: i === 0, ...(by === undefined ? {} : { by }) })));
    // A shard that took the change holds it on disk, and a restart loads the newest version any
    // shard holds (catching the others up): so does the engine from here on, whatever else failed.
    if (answers.some((a) => a.status === 'fulfilled')) this.versioned = { version, program };
    for (const a of answers) {
      if (a.status === 'rejected') throw a.reason;
      const held = (a.value as { version: number }).version;
      if (held !== version) throw new Error(`a shard holds program version ${held} where ${version} was written`);
    }
    return this.versioned;
  }

  shardOf(memberId: string): ShardClient {
    return this.shards[hashId(memberId) % this.shards.length]!;
  }

  /** Whether any shard would refuse new work: the stream stops reading until none would. */
  get anySaturated(): boolean {
    return this.shards.some((s) => s.saturated);
  }

  /** Whether the shard that owns this member would refuse new work right now. */
  saturatedFor(memberId: string): boolean {
    return this.shardOf(memberId).saturated;
  }

  /**
   * A new sortable member id (time, then a counter, then randomness) that lands on the same shard
   * as `key`, so that a registration retried under the same requestId meets its own stored key.
   */
  newMemberId(key?: string): string {
    const ms = this.now();
    if (ms !== this.lastIdMs) { this.lastIdMs = ms; this.idCounter = 0; }
    const target = key === undefined ? -1 : hashId(key) % this.shards.length;
    for (;;) {
      this.idCounter += 1;
      const id = 'm' + ms.toString(36).padStart(9, '0') + this.idCounter.toString(36).padStart(4, '0') + randomBytes(3).toString('hex');
      if (target === -1 || hashId(id) % this.shards.length === target) return id;
    }
  }

  submit(op: WriteOp, admitted = false): Promise<OpResult> {
    return this.shardOf(op.memberId).submit(op, admitted);
  }

  /** Holds the op's phone and email in the directory while it is in flight (Directory.claim). */
  claimUnique(op: RegisterOp | PatchOp): number {
    return this.directory.claim(op);
  }

  /** Releases the op's claims and records what the shard answered (Directory.settle). */
  settleUnique(op: RegisterOp | PatchOp, claimed: number, result: OpResult | null): void {
    this.directory.settle(op, claimed, result);
  }

  /** Registers or re-profiles a member, holding the phone and email in the directory meanwhile. */
  async registerOrPatch(op: RegisterOp | PatchOp, admitted = false): Promise<OpResult> {
    const claimed = this.claimUnique(op);
    let result: OpResult;
    try {
      result = await this.submit(op, admitted);
    } catch (err) {
      this.settleUnique(op, claimed, null);
      throw err;
    }
    this.settleUnique(op, claimed, result);
    return result;
  }

  /** A referee's referral chain: its referrer, then the referrer's own chain, as deep as the program pays. */
  referralChain(referrerId: string, referrerChain: readonly string[]): string[] {
    return [referrerId, ...referrerChain].slice(0, this.versioned.program.referral.levels.length);
  }

  /**
   * Erases a member's personal data (docs/rules.md §15): the profile's phone and email, read first,
   * are freed in the directory once the shard erased them. The answer never holds them.
   */
  async erase(op: EraseOp, failure: FailureMap): Promise<OpResult> {
    const before = await this.queryMember({ q: 'member', memberId: op.memberId }) as { phone: string | null; email: string | null } | null;
    const result = await this.run(op, failure);
    if (result.ok && before !== null) this.directory.releaseMember(op.memberId, before.phone, before.email);
    return result;
  }

  memberIdByPhone(phone: string): string | undefined {
    return this.directory.phoneOwner(phone);
  }

  /**
   * Runs one validated op: its lookups on other shards (orchestrate.ts), then its own shard.
   * Never rejects: an unexpected failure is answered by `failure`. `earlier`: the request's
   * fingerprint of before, asked for when the op conflicts with its key (orchestrate.ts).
   */
  run(op: Intent, failure: FailureMap, earlier?: EarlierFingerprint, admitted = false): Promise<OpResult> {
    return this.orchestrator.run(op, admitted, failure, earlier);
  }

  /** A sequence of batches (one stream connection's): each batch's ops are queued after the previous batch's. */
  newSequence(): OpSequence {
    return new OpSequence(this.orchestrator);
  }

  queryMember(query: Query & { memberId: string }): Promise<unknown> {
    return this.shardOf(query.memberId).query(query);
  }

  /** Members in id order across all shards, filtered, one page after `after`. */
  async listMembers(filter: { tierId?: string; prefix?: string; phonePrefixes?: string[]; after?: string; limit: number }): Promise<{ members: Array<Record<string, unknown>>; nextCursor: string | null }> {
    const pages = await Promise.all(this.shards.map((s) => s.query({ q: 'members', ...filter, limit: filter.limit + 1 }))) as Array<Array<Record<string, unknown>>>;
    const all = pages.flat().sort((a, b) => ((a['memberId'] as string) < (b['memberId'] as string) ? -1 : 1));
    const members = all.slice(0, filter.limit);
    const nextCursor = all.length > filter.limit ? (members[members.length - 1]!['memberId'] as string) : null;
    return { members, nextCursor };
  }

  /** An order lives on its member's shard; its id alone does not say which, so every shard is asked. */
  async order(orderId: string): Promise<Record<string, unknown> | null> {
    const found = await Promise.all(this.shards.map((s) => s.query({ q: 'order', orderId }))) as Array<Record<string, unknown> | null>;
    return found.find((o) => o !== null) ?? null;
  }

  async verify(): Promise<{ ok: boolean; members: number; entries: number; mismatches: Array<Record<string, unknown>> }> {
    const parts = await Promise.all(this.shards.map((s) => s.query({ q: 'verify' }))) as Array<{ members: number; entries: number; mismatches: Array<Record<string, unknown>> }>;
    const mismatches = parts.flatMap((p) => p.mismatches);
    return {
      ok: mismatches.length === 0,
      members: parts.reduce((s, p) => s + p.members, 0),
      entries: parts.reduce((s, p) => s + p.entries, 0),
      mismatches,
    };
  }

  /** The books at a glance (docs/rules.md §10), from each shard's running totals. */
  async summary(): Promise<BookTotals & { couponsActive: number; tiers: Array<{ tierId: string; members: number }> }> {
    const parts = await Promise.all(this.shards.map((s) => s.query({ q: 'totals' }))) as BookTotals[];
    const sum = sumTotals(parts);
    const tiers = this.versioned.program.tiers.map((t) => ({ tierId: t.id, members: sum.membersPerTier[t.id] ?? 0 }));
    return { ...sum, couponsActive: couponsActive(sum), tiers };
  }

  /** Bytes each database occupies, summed over the shards. */
  async storage(): Promise<Record<string, number>> {
    const parts = await Promise.all(this.shards.map((s) => s.query({ q: 'storage' }))) as Array<Record<string, number>>;
    const sum: Record<string, number> = {};
    for (const p of parts) for (const [k, v] of Object.entries(p)) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }

  private backupRunning = false;

  /**
   * Copies every shard, keys and metadata into `dir` as one consistent point, while writes go on
   * (engine/router/backup.ts). `dir` is a new or empty folder; a relative one, or none (a folder named
   * for the moment), is under the backup folder of the options. One backup at a time: another asked
   * for meanwhile is refused with `backup_running`.
   */
  async backup(dir?: string): Promise<BackupReport> {
    if (this.backupRunning) throw new LoyaltyError('backup_running');
    if (this.closing) throw new LoyaltyError('shutting_down');
    const parent = this.options.backupDir ?? join(dirname(resolve(this.options.dataDir)), 'backups');
    const target = resolve(parent, dir ?? `backup-${new Date(this.now()).toISOString().replace(/[:.]/g, '-')}`);
    this.backupRunning = true;
    try {
      return await takeBackup(this.shards, this.options.dataDir, target, this.versioned.version, this.options.backupStallMs ?? 0);
    } finally {
      this.backupRunning = false;
    }
  }

  /**
   * Compacts every shard's data file now (engine/shard/compaction.ts), one shard after another, so
   * that only one shard's writes wait at a time: what the shards do by themselves after erasures.
   */
  async compact(): Promise<{ shards: CompactionReport[] }> {
    if (this.closing) throw new LoyaltyError('shutting_down');
    const shards: CompactionReport[] = [];
    for (const shard of this.shards) shards.push(await shard.control({ c: 'compact' }) as CompactionReport);
    return { shards };
  }

  private closing = false;
  private readonly delivered = new Map<number, number[]>();
  private deliveredScheduled = false;

  /**
   * Applies outbox messages on their targets, each exactly once (the target keys it by message id),
   * then removes them from the source's outbox. A refused delivery is retried; what is still in an
   * outbox at a stop is delivered at the next start.
   */
  deliver(source: number, messages: Array<[number, OutboxMessage]>, attempt = 0): void {
    // A node that stands by or is stepping down delivers nothing: the next owner delivers what its outboxes hold.
    if (this.closing || this.standingBy || this.steppingDown || this.options.holdOutbox === true) return;
    for (const [outSeq, msg] of messages) {
      this.submit(creditOp(msg)).then((result) => {
        if (result.ok) { this.markDelivered(source, outSeq); return; }
        if (result.error.code === 'overloaded' || result.error.code === 'storage_failed') this.retry(source, [outSeq, msg], attempt);
        else this.options.warn?.('an outbox message cannot be applied; it stays in the outbox', { source, outSeq, msg, error: result.error });
      }, () => this.retry(source, [outSeq, msg], attempt));
    }
  }

  private retry(source: number, message: [number, OutboxMessage], attempt: number): void {
    if (this.closing || this.standingBy || this.steppingDown) return;
    setTimeout(() => this.deliver(source, [message], attempt + 1), Math.min(1000, 10 * 2 ** attempt)).unref();
  }

  private markDelivered(source: number, outSeq: number): void {
    let list = this.delivered.get(source);
    if (list === undefined) { list = []; this.delivered.set(source, list); }
    list.push(outSeq);
    if (this.deliveredScheduled) return;
    this.deliveredScheduled = true;
    setImmediate(() => {
      this.deliveredScheduled = false;
      for (const [shardId, outSeqs] of this.delivered) {
        this.delivered.delete(shardId);
        this.shards[shardId]!.control({ c: 'outboxDone', outSeqs }).catch(() => { /* removed at the next start's delivery */ });
      }
    });
  }

  /**
   * Brings every member up to `asOfMs` (docs/rules.md §6), shard by shard in bounded slices that
   * queue behind the batches, so the sweep never holds a shard for long. Returns members touched.
   */
  async sweep(asOfMs: number): Promise<{ asOf: string; members: number }> {
    const counts = await Promise.all(this.shards.map(async (shard) => {
      let total = 0;
      // A slice may give birthday coupons: the gate supplies their codes (coupon-gate.ts).
      const run = (control: Control) => shard.control(control) as Promise<{ members: number; more: boolean }>;
      for (;;) {
        const control = { c: 'sweep', asOfMs, limit: SWEEP_SLICE_MEMBERS } as const;
        const slice = this.couponGate === null ? await run(control) : await this.couponGate.sweepSlice(shard.shardId, control, run);
        total += slice.members;
        if (!slice.more) return total;
      }
    }));
    return { asOf: new Date(asOfMs).toISOString(), members: counts.reduce((a, b) => a + b, 0) };
  }

  /** The member an order belongs to: orders live on their member's shard, so every shard is asked. */
  async orderMember(orderId: string): Promise<string | null> {
    const found = await Promise.all(this.shards.map((s) => s.query({ q: 'orderMember', orderId }))) as Array<string | null>;
    return found.find((m) => m !== null) ?? null;
  }

  /** Who a member referred, per level, and the points those referrals earned them (docs/rules.md §10). */
  async referrals(memberId: string): Promise<{ memberId: string; levels: Array<{ level: number; members: string[]; points: number }> } | null> {
    if (await this.queryMember({ q: 'member', memberId }) === null) return null;
    // Each shard is read in slices of members that queue between its batches.
    const parts = (await Promise.all(this.shards.map(async (s) => {
      const slices: Array<{ members: string[][]; points: number[] }> = [];
      for (let after: string | null | undefined; after !== null;) {
        const slice = await s.query({ q: 'referrals', memberId, after: after ?? null }) as { members: string[][]; points: number[]; next: string | null };
        slices.push(slice);
        after = slice.next;
      }
      return slices;
    }))).flat();
    const levels = [1, 2, 3].map((level, i) => ({
      level,
      members: parts.flatMap((p) => p.members[i] ?? []).sort(),
      points: parts.reduce((sum, p) => sum + (p.points[i] ?? 0), 0),
    }));
    return { memberId, levels };
  }

  /** Figures per local day (program time zone) from `from` to `to` inclusive (docs/rules.md §10). */
  async daily(from: string, to: string): Promise<{ from: string; to: string; timeZone: string; days: Array<{ date: string } & DayFigures>; totals: DayFigures }> {
    const days = daysBetween(from, to);
    const timeZone = this.versioned.program.timezone;
    // Each shard is read in slices that queue between its batches, never in one long scan.
    const parts = (await Promise.all(this.shards.map(async (s) => {
      const slices: Array<Record<string, DayFigures>> = [];
      for (let fromBatch: number | null = 0; fromBatch !== null;) {
        const slice = await s.query({ q: 'daily', from, to, timeZone, fromBatch }) as { days: Record<string, DayFigures>; next: number | null };
        slices.push(slice.days);
        fromBatch = slice.next;
      }
      return slices;
    }))).flat();
    return { from, to, timeZone, ...mergeDaily(days, parts) };
  }

  /** Recency, frequency and monetary scores by quintile across every shard's members, and segments. */
  async rfm(asOfMs: number, segment?: RfmSegment): Promise<RfmReport> {
    // Each shard is read in slices of members that queue between its batches.
    const parts = (await Promise.all(this.shards.map(async (s) => {
      const slices: RfmColumns[] = [];
      for (let after: string | null | undefined; after !== null;) {
        const slice = await s.query({ q: 'rfm', after: after ?? null }) as { columns: RfmColumns; next: string | null };
        slices.push(slice.columns);
        after = slice.next;
      }
      return slices;
    }))).flat();
    return rfmReport(parts, asOfMs, segment);
  }

  /** One bounded page of shard `shard`'s ledger after `afterSeq`, for the export (engine/rules/reports.ts). */
  /** The seq of shard `shard`'s newest ledger entry, 0 when it has none (read on the reader thread). */
  async ledgerEnd(shard: number): Promise<number> {
    return await this.shards[shard]!.query({ q: 'ledgerEnd' }) as number;
  }

  async ledgerPage(shard: number, q: { afterSeq: number; limit: number; scanMax: number; from?: string; to?: string }): Promise<{ entries: ExportedEntry[]; nextSeq: number | null }> {
    return await this.shards[shard]!.query({ q: 'ledgerPage', ...q, timeZone: this.versioned.program.timezone }) as { entries: ExportedEntry[]; nextSeq: number | null };
  }

  /**
   * What each coupon template's coupons did on local days `from` to `to` inclusive (program time
   * zone), and how many are active now (docs/rules.md §10.6). Each shard folds its coupons on the
   * reader thread.
   */
  async couponReport(from: string, to: string): Promise<{ from: string; to: string; timeZone: string; templates: CouponReportRow[]; totals: CouponFigures & { useRate: number | null } }> {
    const timeZone = this.versioned.program.timezone;
    const { fromMs, toMs } = localDaysWindowMs(from, to, timeZone);
    const nowMs = this.now();
    const parts = await Promise.all(this.shards.map((s) => s.query({ q: 'couponReport', fromMs, toMs, nowMs }))) as Array<Record<string, CouponFigures>>;
    return { from, to, timeZone, ...mergeCouponReport(this.versioned.program.coupons, parts) };
  }

  /**
   * Per campaign, the orders it applied to whose purchase falls on local days `from` to `to`
   * inclusive (program time zone), their net sales and the points it added, with what returns took
   * back so far (docs/rules.md §10.7). Each shard's orders are read in slices on the reader thread.
   */
  async campaignReport(from: string, to: string): Promise<{ from: string; to: string; timeZone: string; campaigns: CampaignReportRow[]; totals: CampaignFigures }> {
    const timeZone = this.versioned.program.timezone;
    const { fromMs, toMs } = localDaysWindowMs(from, to, timeZone);
    const parts = (await Promise.all(this.shards.map(async (s) => {
      const slices: CampaignReportPart[] = [];
      for (let after: string | null | undefined; after !== null;) {
        const slice = await s.query({ q: 'campaignReport', fromMs, toMs, after: after ?? null }) as { part: CampaignReportPart; next: string | null };
        slices.push(slice.part);
        after = slice.next;
      }
      return slices;
    }))).flat();
    return { from, to, timeZone, ...mergeCampaignReport(this.versioned.program.campaigns, parts) };
  }

  /**
   * Per reward, the redemptions made on local days `from` to `to` inclusive (program time zone):
   * how many, units, points and cash, units by their state now, and the stock left now (docs/rules.md
   * §10.8). Each shard's redemptions are read in slices on the reader thread.
   */
  async rewardReport(from: string, to: string): Promise<{ from: string; to: string; timeZone: string; rewards: RewardReportRow[]; totals: RewardFigures }> {
    const timeZone = this.versioned.program.timezone;
    const { fromMs, toMs } = localDaysWindowMs(from, to, timeZone);
    const parts = (await Promise.all(this.shards.map(async (s) => {
      const slices: Array<Record<string, RewardFigures>> = [];
      for (let after: string | null | undefined; after !== null;) {
        const slice = await s.query({ q: 'rewardReport', fromMs, toMs, after: after ?? null }) as { part: Record<string, RewardFigures>; next: string | null };
        slices.push(slice.part);
        after = slice.next;
      }
      return slices;
    }))).flat();
    const listing = await this.rewards();
    return { from, to, timeZone, ...mergeRewardReport(listing, parts) };
  }

  /**
   * Per staff member, on local days `from` to `to` inclusive: members registered, purchases made
   * and their net after returns, card uses, and the commission on that net at the program's
   * `staffCommissionBps` (docs/rules.md §10.9). Each shard is read in slices on the reader thread.
   */
  async staffReport(from: string, to: string): Promise<{ from: string; to: string; timeZone: string; commissionBps: number; staff: StaffReportRow[]; totals: StaffReportRow }> {
    const { timezone: timeZone, staffCommissionBps } = this.versioned.program;
    const { fromMs, toMs } = localDaysWindowMs(from, to, timeZone);
    const phases: StaffScanPhase[] = ['members', 'orders', 'cardUses'];
    const parts = (await Promise.all(this.shards.map(async (s) => {
      const slices: Array<Record<string, StaffFigures>> = [];
      for (const phase of phases) {
        for (let after: string | null | undefined; after !== null;) {
          const slice = await s.query({ q: 'staffReport', fromMs, toMs, phase, after: after ?? null }) as { part: Record<string, StaffFigures>; next: string | null };
          slices.push(slice.part);
          after = slice.next;
        }
      }
      return slices;
    }))).flat();
    return { from, to, timeZone, commissionBps: staffCommissionBps, ...mergeStaffReport(parts, staffCommissionBps) };
  }

  /** One bounded page of shard `shard`'s coupons in code order after `after`, as the export's cells. */
  async couponsPage(shard: number, after: string | null, limit: number): Promise<{ rows: Array<Array<string | number | null>>; next: string | null }> {
    return await this.shards[shard]!.query({ q: 'couponsPage', after, limit }) as { rows: Array<Array<string | number | null>>; next: string | null };
  }

  /** One bounded page of shard `shard`'s members in id order after `after`, for the export. */
  async membersPage(shard: number, after: string | undefined, limit: number): Promise<Array<Record<string, unknown>>> {
    const q: Query = after === undefined ? { q: 'members', limit } : { q: 'members', after, limit };
    return await this.shards[shard]!.query(q) as Array<Record<string, unknown>>;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.whatIf.close();
    this.audit.close();
    try {
      await Promise.all(this.shards.map((s) => s.close()));
    } finally {
      // The next writer may open the folder only once every shard has closed its environment.
      this.folder?.release();
      this.folder = null;
    }
  }
}
