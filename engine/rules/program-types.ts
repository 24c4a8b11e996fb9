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
}

export interface Product {
  id: string;
  name: string;
  priceCents: number;
  active: boolean;
  channels: Array<'online' | 'offline'>;
  eligibleTiers: string[] | null;
  includes: ProductIncludes;
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
}

/** A program as stored and served: the document plus the version the engine gave it. */
export interface VersionedProgram { version: number; program: Program }
