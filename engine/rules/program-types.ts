// The shape of a validated loyalty program (docs/program.md), shared by the validator, the
// shards and the core encoder. Money is integer cents, points and growth are integers.


export interface Tier {
  id: string;
  name: string;
  threshold: number;
  earn: { cents: number; points: number };
  redeem: { points: number; cents: number };
  discountBps: number;
  retainThreshold: number | null;
  expressUpgradeCents: number | null;
  upgradeBonusPoints: number;
  renewalBonusPoints: number;
}

export interface ReferralLevel {
  registerPoints: number;
  firstPurchasePoints: number;
  repeatPurchasePoints: number;
  purchaseSharePct: number;
}

export interface ProductIncludes {
  walletCents?: number;
  points?: number;
  tierId?: string;
  forceTierId?: string;
  extendDays?: number;
  /** A count card for a service (docs/rules.md §14.3): bought again, it renews the member's card. */
  card?: CardInclude;
}

/**
 * A prepaid count card a product gives (HiShop's 會員續次: ten haircuts): `uses` of service
 * `serviceId`, valid `validDays` local days from the purchase (null: never expires).
 */
export interface CardInclude {
  serviceId: string;
  /** The service's name as people read it ("Haircut"); absent, the id is shown. */
  serviceName?: string;
  uses: number;
  validDays: number | null;
}

/** Where an order is placed: the storefront or a POS at the counter. */
export type Channel = 'online' | 'offline';

export interface Product {
  id: string;
  name: string;
  priceCents: number;
  active: boolean;
  channels: Channel[];
  eligibleTiers: string[] | null;
  includes: ProductIncludes;
}

/**
 * What a coupon takes off an order: a fixed amount, or a share of the order's amount after its
 * discount (basis points, 1,000 = 10%) capped at `maxCents` (null: no cap).
 */
export type CouponDiscount = { amountCents: number } | { percentBps: number; maxCents: number | null };

/** A coupon template (docs/program.md, Coupons): what every coupon issued from it is worth and when it can be used. */
export interface CouponTemplate {
  id: string;
  name: string;
  /** Whether new coupons may be issued from it; coupons already issued stay usable. */
  active: boolean;
  discount: CouponDiscount;
  /** The least `amountCents − discountCents` of an order the coupon is used on. */
  minSpendCents: number;
  eligibleTiers: string[] | null;
  channels: Channel[];
  /** Days of validity from the issue (null with a fixed window). */
  validDays: number | null;
  /** The fixed window's first and last local dates `YYYY-MM-DD`, inclusive (null with `validDays`). */
  validFrom: string | null;
  validTo: string | null;
  /** Most coupons of this template ever issued to one member; null: no limit. */
  perMemberMax: number | null;
  /** Most coupons of this template ever issued in all, across every shard; null: no limit. */
  totalMax: number | null;
  restoreOnFullReturn: boolean;
}

/** What makes a coupon rule issue: a registration, a purchase, an upgrade or the birthday gift. */
export type CouponTrigger = 'register' | 'purchase' | 'upgrade' | 'birthday';

/** A rule that issues a coupon of `templateId` when its trigger happens to a member it applies to. */
export interface CouponRule {
  id: string;
  trigger: CouponTrigger;
  templateId: string;
  /** For a purchase rule: the least net the purchase must reach; 0 for every other trigger. */
  minNetCents: number;
  /** The member's tier (after the event) the rule applies to; null: every tier. */
  tiers: string[] | null;
  /** The channels of the event the rule applies to; null: any, and events without a channel too. */
  channels: Channel[] | null;
}

/** Points a campaign gives per unit of one SKU in a purchase's `items`. */
export interface ItemPoints {
  sku: string;
  points: number;
}

/**
 * A campaign (docs/program.md, Campaigns): when it applies to a purchase (a window of local dates,
 * days of the week, channels, stores, tiers, a minimum net) and what it adds (docs/rules.md §13).
 */
export interface Campaign {
  id: string;
  name: string;
  /** An inactive campaign applies to no purchase. */
  active: boolean;
  /** The window's first and last local dates `YYYY-MM-DD`, inclusive; null: open on that side. */
  from: string | null;
  to: string | null;
  /** ISO days of the week (1 = Monday … 7 = Sunday) in the program's zone, as listed; null: every day. */
  daysOfWeek: number[] | null;
  /** The purchase's channel; null: any, and purchases without a channel too. */
  channels: Channel[] | null;
  /** The purchase's store; null: any, and purchases without a store too. */
  storeIds: string[] | null;
  /** The tier the member holds before the purchase (the one it earns at); null: every tier. */
  tiers: string[] | null;
  /** The least net the purchase earns on (docs/rules.md §13.2). */
  minNetCents: number;
  /** Multiplies the purchase's points; 100: no multiplier. The largest of the applying ones and the birthday's wins. */
  pointsMultiplierPct: number;
  /** Fixed points once per purchase it applies to. */
  bonusPoints: number;
  /** Points per unit of each listed SKU in the purchase's `items`. */
  itemPoints: ItemPoints[];
  /** A coupon of this template per purchase it applies to; null: none. */
  couponTemplateId: string | null;
}

export interface Program {
  name: string;
  currency: string;
  timezone: string;
  qualifyBy: 'spend' | 'growth';
  membershipDays: number | null;
  carryForward: 'excess' | 'all' | 'none';
  downgrade: 'qualify' | 'one';
  tiers: Tier[];
  orderPoints: number;
  growth: { points: number; growth: number };
  signupPoints: number;
  birthday: { bonusPoints: number; multiplierPct: number };
  pointsExpiryDays: number | null;
  allowNegativePoints: boolean;
  referral: { enabled: boolean; refereePoints: number; levels: ReferralLevel[] };
  wallet: {
    minTopupCents: number;
    maxSpendCentsPerOrder: number | null;
    topupBonuses: Array<{ minCents: number; bonusCents: number }>;
  };
  products: Product[];
  /**
   * ISO 3166 alpha-2 country (`HK`) whose numbers may be written without a country code: they are
   * completed with its calling code. null: every phone must carry its country code.
   */
  defaultCountry: string | null;
  /**
   * How a CSV import reads `4/3/1990`: true, day first (4 March: Hong Kong, China, the UK);
   * false, month first (April 3: the US).
   */
  csvDayFirst: boolean;
  /** Coupon templates (docs/program.md, Coupons). */
  coupons: CouponTemplate[];
  /** Rules that issue coupons on registrations, purchases, upgrades and birthdays. */
  couponRules: CouponRule[];
  /** Campaigns (docs/program.md, Campaigns), in the order they are listed and reported. */
  campaigns: Campaign[];
  /** Days a purchase's points stay pending before they can be spent (docs/rules.md §13.5); 0: none. */
  pointsPendingDays: number;
  /** Rewards for points (docs/program.md, Rewards), in the order they are listed. */
  rewards: Reward[];
  /** Staff commission on net sales after returns, in basis points (docs/rules.md §14.4); 0: none. */
  staffCommissionBps: number;
  /** Days before a points grant (or a coupon) expires that its `points_expiring` (`coupon_expiring`) notice is written (docs/rules.md §6, §12.8); 0: no notices. */
  notifyExpiringDays: number;
}

/** What a reward is: goods picked up at the counter, or a coupon issued at once. */
export type RewardKind = 'goods' | 'coupon';

/**
 * A reward members exchange points for (docs/program.md, Rewards; docs/rules.md §14): its price in
 * points (and cash paid beside them), who may redeem it and when, and its stock, one number for the
 * whole deployment.
 */
export interface Reward {
  id: string;
  name: string;
  /** An inactive reward cannot be redeemed; redemptions made stay as they are. */
  active: boolean;
  /** Points per unit. */
  pointsCost: number;
  /** Cash per unit the member pays beside the points, recorded on the redemption (not spend, earns nothing). */
  cashCents: number;
  kind: RewardKind;
  /** For a coupon reward: the template each unit issues; null for goods. */
  couponTemplateId: string | null;
  /** The member's tier at the redemption; null: every tier. */
  eligibleTiers: string[] | null;
  /** Units ever redeemable, not counting cancelled ones, before restocks; null: unlimited. */
  stock: number | null;
  /** Most units one member may hold redeemed (cancelled ones excepted); null: no limit. */
  perMemberMax: number | null;
  /** The window's first and last local dates, inclusive; null: open on that side. */
  from: string | null;
  to: string | null;
}

/** A program as stored and served: the document plus the version the engine gave it. */
export interface VersionedProgram { version: number; program: Program }
