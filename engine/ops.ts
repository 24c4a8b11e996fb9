// The operations a shard executes and the answers it gives: the contract between the front end
// (which validates and routes) and the shard worker (which applies them to its ledger).
import type { OpError } from './errors.js';

/** Fields every mutating op carries: the idempotency key and the fingerprint of the request body. */
export interface Keyed {
  key: string; fp: number; atMs: number;
  /**
   * Set by the router when this shard is the key's home (engine/router/key-claims.ts) and the
   * member is too: the key is refused if an op of another shard's member has claimed it here.
   */
  keyHome?: true;
  /**
   * Set by the router when it asks again under a request's fingerprint of before (the raw body's):
   * the op may only replay a stored answer; with none stored it is a conflict, never applied.
   */
  replayOnly?: true;
  /**
   * The id of the API key that sent the op (server/auth.ts Principal), or SYSTEM_KEY_ID for the
   * engine's own ops (outbox credits): every entry the op writes records it (docs/rules.md §8.1).
   * Set after the fingerprint, so a retry under another key still replays. Absent on ops logged
   * before key ids were recorded: their entries carry none.
   */
  by?: string;
}

/** The key id of what the engine does by itself: the sweep, outbox deliveries, a program change's settling. */
export const SYSTEM_KEY_ID = 'system';

/** The key of a claim on key K, held on K's home shard: `c:` + K. */
export const CLAIM_KEY_PREFIX = 'c:';

/**
 * Claims idempotency keys on their home shard for ops of members on other shards, as columns:
 * `keys[j]` is CLAIM_KEY_PREFIX + an op's key, `fps[j]` binds that op's member and fingerprint,
 * `memberIds[j]` is the member. Or releases claims whose ops were refused. Answers
 * `{ ok: true, outcomes }`, one per key: CLAIM_HELD (new), CLAIM_REPLAYED (held already for the
 * same member and body) or CLAIM_CONFLICT (held for another member or body, or used here).
 */
export interface ClaimOp {
  op: 'claim'; keys: string[]; fps: number[]; memberIds: string[]; release: boolean; atMs: number;
  /** Claims are sent to the home shard directly; they belong to no member. */
  memberId: '';
  /** Claims write no entries; the field is here so that every write op may be asked for it. */
  by?: string;
}

export const CLAIM_HELD = 0;
export const CLAIM_REPLAYED = 1;
export const CLAIM_CONFLICT = 2;

export interface Profile {
  name?: string; phone?: string; email?: string; birthday?: string; gender?: string;
  address?: string; storeId?: string; channel?: 'online' | 'offline'; staffId?: string;
}

/** The fields of a Profile, in the order they are stored and shown. */
export const PROFILE_FIELDS = ['name', 'phone', 'email', 'birthday', 'gender', 'address', 'storeId', 'channel', 'staffId'] as const;

export interface RegisterOp extends Keyed, Profile, CouponSupply {
  op: 'register';
  memberId: string;
  referrerId?: string;
  referralChain: string[];
  tierId?: string; points?: number; walletCents?: number;
  /** Set by the front end when its directory already gives the phone or email to another member. */
  taken?: 'phone_taken' | 'email_taken';
  /** A bulk import's row: the answer (and the stored replay) is only the id and the unique fields. */
  lean?: boolean;
}

export interface PatchOp extends Keyed, Profile {
  op: 'patch'; memberId: string; taken?: 'phone_taken' | 'email_taken';
}

export interface PurchaseOp extends Keyed, CouponSupply {
  op: 'purchase'; memberId: string; orderId: string; amountCents: number; discountCents: number;
  redeemPoints: number; walletCents: number; storeId?: string; channel?: string;
  items?: Array<{ sku: string; qty: number; amountCents: number }>;
  /** Coupons the order uses (docs/rules.md §12): normalized codes, distinct, at most COUPONS_PER_ORDER_MAX. */
  couponCodes?: string[];
  /** The staff member who made the sale (docs/rules.md §14.4), kept on the order for the staff report. */
  staffId?: string;
}

/**
 * What the router adds to an op that may issue coupons (engine/router/coupon-gate.ts), logged with
 * it so that a replay issues the same: fresh codes that land on the member's shard, used in order
 * (a code already on the shard is skipped), and one template id per unit of a `totalMax` the
 * router reserved for this op. A capped template without a unit here is refused `total_limit`.
 */
export interface CouponSupply { newCodes?: string[]; couponAllow?: string[] }

/**
 * The checkout quote: reads only. `channel`, `storeId` and `items` are those of the purchase it
 * prices, for the campaigns it would get (docs/rules.md §13.4).
 */
export interface QuoteOp {
  op: 'quote'; memberId: string; amountCents: number; atMs: number; couponCodes?: string[]; by?: string;
  channel?: string; storeId?: string; items?: Array<{ sku: string; qty: number; amountCents: number }>;
}
export interface RedeemOp extends Keyed { op: 'redeem'; memberId: string; points: number }
export interface AdjustOp extends Keyed { op: 'adjust'; memberId: string; points: number; reason: string }
export interface TopupOp extends Keyed { op: 'topup'; memberId: string; amountCents: number }
export interface WithdrawOp extends Keyed { op: 'withdraw'; memberId: string; amountCents: number }

export interface ReturnOp extends Keyed { op: 'return'; memberId: string; returnId: string; orderId: string; amountCents: number }
export interface TransferOp extends Keyed { op: 'transfer'; memberId: string; toMemberId: string; amountCents: number }
/** Applies one outbox message on its target shard; `key` is `msg:<id>`, so it applies once. */
export interface CreditOp extends Keyed {
  op: 'credit'; memberId: string; kind: 'referral_reward' | 'referral_reversal' | 'transfer_in' | 'transfer_return';
  points: number; walletCents: number; ref: string; fromMemberId: string; level: number;
  /** A referral purchase reward pending until then (docs/rules.md §13.5). */
  pendingUntilMs?: number;
  /** A reversal's order: its pending reward is cancelled first. */
  orderId?: string;
}

export interface ProductOp extends Keyed { op: 'product'; memberId: string; orderId: string; productId: string; channel?: 'online' | 'offline' }

/** Issues one coupon of `templateId` to the member by hand (admin, or one member of a bulk issue). */
export interface CouponIssueOp extends Keyed, CouponSupply { op: 'coupon_issue'; memberId: string; templateId: string; source: 'admin' | 'bulk' }
/** Revokes an active coupon of the member. */
export interface CouponRevokeOp extends Keyed { op: 'coupon_revoke'; memberId: string; code: string }

/**
 * What the router adds to an op that takes reward stock (engine/router/reward-gate.ts), logged with
 * it so that a replay takes the same: the units it reserved against the deployment's stock of the
 * op's reward. A redemption of a reward with a stock, or a restock that lowers it, without them is
 * refused `out_of_stock`.
 */
export interface RewardSupply { stockAllow?: number }

/**
 * Redeems `quantity` units of a reward for points (docs/rules.md §14.1). `redemptionId` is the
 * request's requestId: the redemption is found by it for its fulfilment or cancellation.
 */
export interface RewardRedeemOp extends Keyed, CouponSupply, RewardSupply {
  op: 'reward_redeem'; memberId: string; rewardId: string; quantity: number; redemptionId: string; storeId?: string; staffId?: string;
}
/** Marks a reserved redemption picked up. */
export interface RewardFulfilOp extends Keyed { op: 'reward_fulfil'; memberId: string; redemptionId: string; storeId?: string; staffId?: string }
/** Cancels a redemption: points back to their grants, stock back, a coupon reward's coupons revoked. */
export interface RewardCancelOp extends Keyed { op: 'reward_cancel'; memberId: string; redemptionId: string }
/**
 * Adds `delta` units (or takes them, when negative) to a reward's stock, recorded on the shard of
 * member id '' (the restock belongs to no member; engine/router/reward-gate.ts counts it).
 */
export interface RewardStockOp extends Keyed, RewardSupply { op: 'reward_stock'; memberId: ''; rewardId: string; delta: number }
/** Takes `uses` from the member's count card for a service (docs/rules.md §14.3). */
export interface CardUseOp extends Keyed { op: 'card_use'; memberId: string; serviceId: string; uses: number; storeId?: string; staffId?: string }
/** Adds to or takes from the member's count card by hand (admin), with a reason. */
export interface CardAdjustOp extends Keyed { op: 'card_adjust'; memberId: string; serviceId: string; uses: number; reason: string }

/**
 * Erases the member's personal data (docs/rules.md §15): name, phone, email, birthday, gender and
 * address leave the profile, the member is marked erased, and later writes naming it are refused
 * `member_erased` except returns of its earlier orders and outbox credits.
 */
export interface EraseOp extends Keyed { op: 'erase'; memberId: string }

export type WriteOp = EraseOp | RewardRedeemOp | RewardFulfilOp | RewardCancelOp | RewardStockOp | CardUseOp | CardAdjustOp | CouponIssueOp | CouponRevokeOp | ProductOp | RegisterOp | PatchOp | PurchaseOp | QuoteOp | RedeemOp | AdjustOp | TopupOp | WithdrawOp
  | ReturnOp | TransferOp | CreditOp | ClaimOp;

export type OpResult = ({ ok: true } & Record<string, unknown>) | { ok: false; error: OpError };

/** Read-only questions a shard answers outside the write batches. */
export type Query =
  | { q: 'member'; memberId: string }
  | { q: 'members'; tierId?: string; prefix?: string; phonePrefixes?: string[]; after?: string; limit: number }
  | { q: 'ledger'; memberId: string; beforeSeq?: number; limit: number }
  | { q: 'balance'; memberId: string; atMs: number }
  | { q: 'order'; orderId: string }
  | { q: 'verify' }
  | { q: 'directory' }
  | { q: 'program' }
  | { q: 'totals' }
  | { q: 'storage' }
  | { q: 'outbox' }
  /** The batch log's position, size and ops (engine/shard/batch-log.ts), for /metrics and `loyalty log status`. */
  | { q: 'log' }
  /** Raw log entries after `afterSeq` committed at or before `untilMs`, at most `limit`: what a backup's copy lacks (engine/shard/shard-backup.ts). */
  | { q: 'logEntries'; afterSeq: number; untilMs: number; limit: number }
  | { q: 'orderMember'; orderId: string }
  | { q: 'referrals'; memberId: string; after: string | null }
  /** Back-office reports and exports (engine/rules/reports.ts): daily figures, RFM columns, ledger pages. */
  | { q: 'daily'; from: string; to: string; timeZone: string; fromBatch: number }
  | { q: 'rfm'; after: string | null }
  /** One slice of the campaign report's orders after `after` (engine/shard/report-scans.ts campaignPart). */
  | { q: 'campaignReport'; fromMs: number; toMs: number; after: string | null }
  /** The seq of the shard's newest ledger entry (0 when it has none): where a new webhook subscription starts. */
  | { q: 'ledgerEnd' }
  | { q: 'ledgerPage'; afterSeq: number; limit: number; scanMax: number; from?: string; to?: string; timeZone: string }
  /** One coupon by code, on the shard its code lands on (engine/router/coupon-gate.ts): its state now, or at `atMs`. */
  | { q: 'coupon'; code: string; atMs?: number }
  /** A member's coupons, newest first, optionally of one state. */
  | { q: 'memberCoupons'; memberId: string; state?: 'active' | 'used' | 'expired' | 'revoked' }
  /** How many coupons of each template this shard ever issued: the router's totalMax counter at start. */
  | { q: 'couponCounts' }
  /** Per-template figures of coupons whose events fall in [fromMs, toMs) (GET /v1/reports/coupons). */
  | { q: 'couponReport'; fromMs: number; toMs: number; nowMs: number }
  /** A page of coupons in code order after `after` (CSV export). */
  | { q: 'couponsPage'; after: string | null; limit: number }
  /** Units of each reward this shard holds redeemed (cancellations taken off) and restocked: the router's stock counter at start. */
  | { q: 'rewardCounts' }
  /** One redemption by id, or null when this shard has none of that id. */
  | { q: 'redemption'; redemptionId: string }
  /** A member's redemptions, newest first. */
  | { q: 'memberRedemptions'; memberId: string }
  /** A member's count cards, by service. */
  | { q: 'memberCards'; memberId: string }
  /** Per-reward figures of redemptions made in [fromMs, toMs) (GET /v1/reports/rewards), one slice after `after`. */
  | { q: 'rewardReport'; fromMs: number; toMs: number; after: string | null }
  /** One slice of the staff report's figures for [fromMs, toMs) (engine/shard/reward-queries.ts staffPart). */
  | { q: 'staffReport'; fromMs: number; toMs: number; phase: StaffScanPhase; after: string | null };

/** The staff report reads a shard's registrations, orders and card uses in that order, each in slices. */
export type StaffScanPhase = 'members' | 'orders' | 'cardUses';

/** Control tasks that change shard-wide state. */
export type Control =
  | { c: 'setProgram'; version: number; program: unknown; atMs: number; record: boolean; by?: string }
  | { c: 'outboxDone'; outSeqs: number[] }
  | ({ c: 'sweep'; asOfMs: number; limit: number } & CouponSupply)
  /**
   * Copies the shard into `dir` with LMDB's hot copy while later tasks go on (engine/shard/shard-backup.ts);
   * changes nothing. The copy is compacted unless `compact` is false (the plain copy, for the benchmark's comparison).
   */
  | { c: 'backup'; dir: string; compact?: boolean }
  /**
   * Compacts the shard's data file now (engine/shard/compaction.ts), its other tasks waiting
   * meanwhile; answers a CompactionReport.
   */
  | { c: 'compact' }
  /**
   * Closes the shard's store (and its cluster connection) once every task begun before it is
   * answered, and refuses every task after it: the last task before the thread is let go, so
   * that no LMDB environment or transaction is open when the thread ends.
   */
  | { c: 'close' }
  /**
   * Cluster mode: this node owns the shard from now on, in term `term` (docs/cluster.md). The
   * shard stops following its stream, levels its copy with it, and appends every later commit,
   * fenced; answers the term and the copy's log position.
   */
  | { c: 'own'; term: number }
  /**
   * Cluster mode, a planned step-down (docs/cluster.md, "Draining a node"): once every task begun
   * before it is answered, every entry the shard committed is appended and acknowledged by the
   * stream, and the shard follows its stream again as a standby from its copy's position; answers
   * that position. The router sends it only after it stopped sending the shard writes.
   *
   * `stale`: an unplanned step-down (another node owns the deployment, or the stream refused an
   * append): nothing more is appended, since this node no longer owns the stream; entries the copy
   * committed and the stream does not hold stay until the standby finds another owner's entries at
   * their place and rebuilds the copy from the stream (engine/shard/standby.ts).
   */
  | { c: 'standBy'; stale?: boolean };

export const LEDGER_KINDS = [
  'register', 'purchase', 'return', 'redeem', 'adjust', 'topup', 'withdraw', 'transfer_out',
  'transfer_in', 'referral_reward', 'referral_reversal', 'upgrade', 'renew', 'downgrade', 'expire',
  'birthday', 'product', 'program',
  // A transfer its target's wallet could not take, back on the sender (README, "Returns, referrals and transfers").
  'transfer_return',
  // Coupons (docs/rules.md §12): `ref` is the coupon's code; no balance moves.
  'coupon_issue', 'coupon_use', 'coupon_restore', 'coupon_expire', 'coupon_revoke',
  // Pending points (docs/rules.md §13.5): they become spendable, or a return cancels them.
  'points_activate', 'points_cancel',
  // Rewards (docs/rules.md §14.1): `ref` is the redemption's id; a restock has no member and `ref` the reward's id.
  'reward_redeem', 'reward_fulfil', 'reward_cancel', 'reward_stock',
  // Count cards (docs/rules.md §14.3): `ref` is the card's service id, `usesDelta` what changed.
  'card_add', 'card_use', 'card_adjust', 'card_expire',
  // Erasure (docs/rules.md §15): the member's personal data removed; no balance moves; `ref` is the request's key.
  'member_erase',
  // Notices with no balance moves (docs/api.md, "Webhooks"): points of a grant expire in the
  // program's notifyExpiringDays (`ref` the grant's id), and a profile changed by a patch.
  'points_expiring', 'member_update',
  // A notice that a coupon expires in the program's notifyExpiringDays (docs/rules.md §12): no
  // balance moves, `ref` the code, `expiresAtMs` its expiry; written by the sweep, once per coupon.
  'coupon_expiring',
] as const;
export type LedgerKind = typeof LEDGER_KINDS[number];

/** One immutable ledger entry (docs/rules.md §8). */
export interface LedgerEntry {
  seq: number; at: number; kind: LedgerKind; memberId: string; pointsDelta: number;
  growthDelta: number; walletDeltaCents: number; spendDeltaCents: number; tierId: string | null;
  ref: string; cause: number | null;
  /** The change of the member's pending points (docs/rules.md §13.5), 0 on most entries. */
  pendingDelta: number;
  /** A count card entry's change of uses (card_*), absent on every other kind (engine/shard/entry-extras.ts). */
  usesDelta?: number;
  /** A restock's change of its reward's stock (reward_stock), absent on every other kind. */
  stockDelta?: number;
  /**
   * The API key id that caused the entry (SYSTEM_KEY_ID for the sweep, deliveries and settling);
   * absent on entries written before key ids were recorded. Stored as an index into the shard's
   * table of key ids (engine/shard/key-ids.ts).
   */
  keyId?: string;
  /** An adjustment's reason (adjust, card_adjust) as the admin wrote it. */
  reason?: string;
  /** A notice of points about to expire (points_expiring, docs/rules.md §6): how many, absent on every other kind. */
  expiringPoints?: number;
  /** The moment those points expire (points_expiring), or the coupon (coupon_expiring); absent on every other kind. */
  expiresAtMs?: number;
}

/**
 * An entry as stored: keyed by its seq (so the ledger is a pure append), with `prev`, the seq of
 * the member's previous entry (0 for the first), so a member's history is a chain read backwards.
 */
export interface StoredEntry extends Omit<LedgerEntry, 'seq' | 'keyId'> {
  prev: number;
  /** The entry's key id as its index in the shard's table (engine/shard/key-ids.ts); absent when it has none. */
  keyIndex?: number;
}
