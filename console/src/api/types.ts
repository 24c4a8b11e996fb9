// The API's answers as the console reads them (docs/api.md). The program's shape is the engine's
// own type, so a change to the program document breaks the console's type check, not its users.
import type { Program } from '../../../engine/rules/program-types.js';

export type { Campaign, CardInclude, CouponRule, CouponTemplate, Product, Program, ReferralLevel, Reward, Tier } from '../../../engine/rules/program-types.js';
import type { Reward } from '../../../engine/rules/program-types.js';

export type Role = 'admin' | 'pos' | 'storefront' | 'reader';

export interface WhoAmI { keyId: string; role: Role }

export type VersionedProgram = Program & { version: number };

export interface Member {
  memberId: string;
  name: string | null;
  phone: string | null;
  email: string | null;
  birthday: string | null;
  gender: string | null;
  address: string | null;
  storeId: string | null;
  channel: 'online' | 'offline' | null;
  staffId: string | null;
  tierId: string;
  periodStart: string;
  periodEnd: string | null;
  periodMetric: number;
  points: number;
  growth: number;
  walletCents: number;
  lifetimeSpendCents: number;
  purchaseCount: number;
  firstPurchaseAt: string | null;
  lastPurchaseAt: string | null;
  referrerId: string | null;
  referralChain: string[];
  createdAt: string;
  pointsExpiring: Array<{ at: string; points: number }>;
  pendingPoints: number;
  pointsActivating: Array<{ at: string; points: number }>;
  coupons?: Array<{ code: string; templateId: string; expiresAt: string }>;
  /** Present once the member's personal data was erased (docs/api.md, "POST /v1/members/{id}/erase"). */
  erased?: boolean;
  erasedAt?: string;
}

export interface MemberPage { members: Member[]; nextCursor: string | null }

export interface LedgerEntry {
  seq: number;
  kind: string;
  at: string;
  cause: number | null;
  pointsDelta: number;
  growthDelta: number;
  walletDeltaCents: number;
  spendDeltaCents: number;
  memberId: string;
  ref: string;
  tierId: string | null;
  pendingDelta: number;
  /** A count card entry's change of uses (docs/rules.md §14.3), absent on other entries. */
  usesDelta?: number;
}

export interface LedgerPage { entries: LedgerEntry[]; nextCursor: number | null }

export interface Order {
  orderId: string;
  memberId: string;
  at: string;
  amountCents: number;
  discountCents: number;
  redeemPoints: number;
  redeemValueCents: number;
  walletCents: number;
  netCents: number;
  earnedPoints: number;
  storeId: string | null;
  channel: 'online' | 'offline' | null;
  returns: Array<{ returnId: string; amountCents: number; at: string }>;
  remainingCents: number;
}

/** What every write on a member answers besides its own fields. */
export interface MemberWrite { memberId: string; points: number; walletBalanceCents: number; tierId: string; replayed: boolean }

export interface PurchaseAnswer extends MemberWrite {
  orderId: string; netCents: number; earnedPoints: number; upgradedTo: string | null; pointsPendingUntil?: string;
}
export interface ReturnAnswer extends MemberWrite { returnId: string; orderId: string; clawedBackPoints: number; walletRefundCents: number; downgradedTo: string | null; cancelledPendingPoints?: number }
export interface TopupAnswer extends MemberWrite { amountCents: number; bonusCents: number }

export interface Coupon {
  code: string;
  templateId: string;
  memberId: string;
  state: 'active' | 'used' | 'expired' | 'revoked';
  issuedAt: string;
  validFrom: string;
  expiresAt: string;
  source: string;
  orderId: string | null;
  usedOrderId: string | null;
  discountCents: number;
}

/** Amounts past 2^53 − 1 come as strings of their exact digits. */
export type Exact = number | string;

export interface Summary {
  members: number;
  pointsOutstanding: Exact;
  walletOutstandingCents: Exact;
  purchases: number;
  returns: number;
  netSalesCents: Exact;
  pointsIssued: Exact;
  pointsRedeemed: Exact;
  pointsExpired: Exact;
  pointsClawedBack: Exact;
  topupsCents: Exact;
  pointsPending: Exact;
  couponsIssued: number;
  couponsUsed: number;
  couponsActive: number;
  couponDiscountCents: Exact;
  tiers: Array<{ tierId: string; members: number }>;
}

export interface DailyRow {
  date: string; newMembers: number; purchases: number; returns: number; netSalesCents: number;
  pointsIssued: number; pointsRedeemed: number; topups: number; topupsCents: number; pointsPending: number; pointsPendingCancelled: number;
}
export interface DailyReport { from: string; to: string; timeZone: string; days: DailyRow[]; totals: Omit<DailyRow, 'date'> }

export const RFM_SEGMENTS = ['champions', 'loyal', 'at_risk', 'hibernating', 'new', 'others'] as const;
export type RfmSegment = typeof RFM_SEGMENTS[number];
export interface RfmMember { memberId: string; recencyDays: number | null; frequency: number; monetaryCents: number; r: number; f: number; m: number }
export interface RfmReport { asOf: string; members: number; segments: Record<RfmSegment, { count: number; members?: RfmMember[] }> }

export interface ReferralReport { memberId: string; levels: Array<{ level: number; members: string[]; points: number }> }

export interface CouponReportRow { templateId: string; name: string | null; issued: number; used: number; restored: number; expired: number; revoked: number; activeNow: number; discountCents: Exact; issuedUsed: number; useRate: number | null }
export interface CouponReport { from: string; to: string; templates: CouponReportRow[]; totals: Omit<CouponReportRow, 'templateId' | 'name'> }

export interface CampaignReportRow { campaignId: string; name: string | null; orders: number; netSalesCents: Exact; returnedCents: Exact; extraPoints: Exact; extraPointsReturned: Exact; couponsIssued: number }
export interface CampaignReport { from: string; to: string; campaigns: CampaignReportRow[]; totals: Omit<CampaignReportRow, 'campaignId' | 'name'> }

/** A reward as GET /v1/rewards lists it: the program's reward with what is left of its stock (docs/rules.md §10.8). */
export type RewardListed = Reward & { stockLeft: number | null; redeemedUnits: number; restockedUnits: number };

export type RedemptionState = 'reserved' | 'fulfilled' | 'cancelled';
export interface Redemption {
  redemptionId: string; memberId: string; rewardId: string; kind: 'goods' | 'coupon'; quantity: number; redeemedPoints: number; cashCents: number;
  storeId: string | null; staffId: string | null; state: RedemptionState; redeemedAt: string; history: Array<{ state: RedemptionState; at: string }>;
  couponCodes: string[];
}
export type RedemptionAnswer = Redemption & MemberWrite & { couponsIssued?: Coupon[]; restoredPoints?: number };

export interface Card { serviceId: string; state: 'active' | 'expired'; usesLeft: number; expiresAt: string | null; since: string; renewedAt: string; usedTotal: number }
export type CardAnswer = Card & MemberWrite & { usesTaken?: number; usesDelta?: number };

export interface RewardReportRow {
  rewardId: string; name: string | null; stockLeft: number | null; redemptions: number; units: number; points: Exact; cashCents: Exact;
  reservedUnits: number; fulfilledUnits: number; cancelledUnits: number;
}
export interface RewardReport { from: string; to: string; rewards: RewardReportRow[]; totals: Omit<RewardReportRow, 'rewardId' | 'name' | 'stockLeft'> }

export interface StaffRow { staffId: string; registrations: number; purchases: number; netSalesCents: Exact; cardUses: number; commissionCents: Exact }
export interface StaffReport { from: string; to: string; commissionBps: number; staff: StaffRow[]; totals: StaffRow }

export interface ImportAnswer { imported: number; skipped: number; failed: number; errors: Array<{ row: number; code: string; message: string; field?: string }> }

export interface KeyInfo { id: string; role: Role; createdAt: string; revoked: boolean }

export interface WhatIfSide { pointsIssued: number; pointsRedeemed: number; pointsExpired: number; liabilityCents: number; membersPerTier: Record<string, number>; referralPoints: number }
export interface WhatIfResult {
  actual: WhatIfSide;
  whatIf: WhatIfSide;
  membersTierDiffers: number;
  topChanged: Array<{ memberId: string; actualPoints: number; whatIfPoints: number; actualTierId: string | null; whatIfTierId: string | null }>;
}
export interface WhatIfJob {
  id: string;
  state: 'running' | 'done' | 'failed';
  progress: { batches: number; totalBatches: number };
  result: WhatIfResult | null;
  error: { message: string } | null;
}

export interface EraseAnswer { memberId: string; erased: true; erasedAt: string; replayed: boolean }

/** A webhook subscription as the API lists it: never its secret. */
export interface Webhook { id: string; url: string; events: string[]; createdAt: string }
export interface WebhookCreated extends Webhook { secret: string }
export interface WebhookFailure { eventId: string; type: string; memberId: string; failedAt: string; lastError: string }
export interface WebhookDetail extends Webhook { failed: WebhookFailure[] }
export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed';
export interface DeliveryAttempt {
  eventId: string; type: string; memberId: string; statusCode: number | null; error: string | null; latencyMs: number; at: string; outcome: DeliveryOutcome;
}
export interface DeliveryPage { attempts: DeliveryAttempt[]; nextCursor: string | number | null }

/** One administrative action of the audit trail (docs/api.md, "Audit trail"). */
export interface AuditRecord { at: string; keyId: string; action: string; target: string | null; details: Record<string, unknown> }
export interface AuditPage { records: AuditRecord[]; nextCursor: string | null }
export interface AuditQuery { from?: string; to?: string; keyId?: string; action?: string; cursor?: string | null; limit?: number }
