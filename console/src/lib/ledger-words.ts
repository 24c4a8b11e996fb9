// A member's ledger entry as a sentence a manager reads: "Purchase of HK$1,234.00 at store
// central, +61 points". The entry's kind says what happened; its order (when the console has it)
// adds the amount and the store; its deltas say what moved. Internal references (`req:` keys,
// sequence numbers, epoch moments) never appear. Pure: no DOM, no Vue.
import type { Formatter } from './format.js';
import { couponCodeText } from './ids.js';
import type { Words } from './words.js';
import type { LedgerEntry, Order } from '../api/types.js';

export interface LedgerContext {
  words: Words;
  fmt: Formatter;
  tierName(id: string): string;
  /** The order an entry names, when the console has read it. */
  order(orderId: string): Order | undefined;
  /** Another entry of the same member by its seq, when it is on the page read. */
  entry(seq: number): LedgerEntry | undefined;
  /** Growth is a figure worth a word only when tiers are reached by growth. */
  showGrowth: boolean;
  /**
   * The reward and quantity of a redemption by its id (a reward entry's ref), when the console has
   * read the member's redemptions: the sentence names the reward instead of the redemption's key.
   */
  redemption?(redemptionId: string): { rewardName: string; quantity: number } | undefined;
  /** A count card's service as the program names it, or its id. */
  serviceName?(serviceId: string): string;
}

const COUPON_KINDS = new Set(['coupon_issue', 'coupon_use', 'coupon_restore', 'coupon_expire', 'coupon_revoke', 'coupon_expiring']);
const REWARD_KINDS = new Set(['reward_redeem', 'reward_fulfil', 'reward_cancel']);
/** A count card entry's ref is the card's service id: the sentence names the service as the program does. */
const CARD_KINDS = new Set(['card_add', 'card_use', 'card_adjust', 'card_expire']);

/** The orders whose figures would make a page of entries read better: purchases' refs, and the purchases returns follow. */
export function ordersNamed(entries: LedgerEntry[]): string[] {
  const ids = new Set<string>();
  const bySeq = new Map(entries.map((e) => [e.seq, e]));
  for (const e of entries) {
    if (e.kind === 'purchase') ids.add(e.ref);
    if (e.kind === 'return' && e.cause !== null) {
      const cause = bySeq.get(e.cause);
      if (cause?.kind === 'purchase') ids.add(cause.ref);
    }
  }
  return [...ids];
}

function what(e: LedgerEntry, c: LedgerContext): string {
  const { t } = c.words;
  const tier = e.tierId === null ? '' : c.tierName(e.tierId);
  switch (e.kind) {
    case 'register': return t('ledger.register', { tier });
    case 'purchase': {
      const order = c.order(e.ref);
      const amount = c.fmt.money(order?.amountCents ?? e.spendDeltaCents);
      const store = order?.storeId ?? null;
      return store === null ? t('ledger.purchase', { amount, order: e.ref }) : t('ledger.purchaseAt', { amount, store, order: e.ref });
    }
    case 'return': {
      const cause = e.cause === null ? undefined : c.entry(e.cause);
      const amount = c.fmt.money(-e.spendDeltaCents);
      return cause?.kind === 'purchase' ? t('ledger.returnOf', { amount, order: cause.ref }) : t('ledger.return', { amount });
    }
    case 'upgrade': return t('ledger.upgrade', { tier });
    case 'downgrade': {
      const why = e.ref.startsWith('program:') ? 'program' : e.ref.startsWith('downgrade:') ? 'period' : 'return';
      return t(`ledger.downgrade.${why}`, { tier });
    }
    case 'renew': return t('ledger.renew', { tier });
    case 'product': return tier === '' ? t('ledger.product') : t('ledger.productTier', { tier });
    case 'points_activate': return t('ledger.pointsActivate', { order: e.ref });
    case 'points_cancel': return t('ledger.pointsCancel');
    default:
      if (REWARD_KINDS.has(e.kind)) {
        const r = c.redemption?.(e.ref);
        return r === undefined ? t(`ledger.${e.kind}`) : t(`ledger.rewardNamed.${e.kind}`, { reward: r.rewardName, n: c.fmt.number(r.quantity) });
      }
      if (CARD_KINDS.has(e.kind)) return t(`ledger.cardNamed.${e.kind}`, { service: c.serviceName?.(e.ref) ?? e.ref });
      if (COUPON_KINDS.has(e.kind)) return t(`ledger.${e.kind}`, { code: couponCodeText(e.ref) });
      return c.words.has(`ledger.${e.kind}`) ? t(`ledger.${e.kind}`) : t('ledger.other');
  }
}

/** What moved, in words: points, pending points, wallet, and growth where tiers go by it. */
function moved(e: LedgerEntry, c: LedgerContext): string[] {
  const { t } = c.words;
  const out: string[] = [];
  if (e.pointsDelta !== 0) out.push(t('ledger.points', { n: c.fmt.signedNumber(e.pointsDelta) }));
  if (e.pendingDelta > 0) out.push(t('ledger.pendingAdded', { n: c.fmt.number(e.pendingDelta) }));
  if (e.pendingDelta < 0 && e.kind !== 'points_activate') out.push(t('ledger.pendingRemoved', { n: c.fmt.number(-e.pendingDelta) }));
  if (e.walletDeltaCents !== 0) out.push(t('ledger.wallet', { amount: c.fmt.signedMoney(e.walletDeltaCents) }));
  if (e.usesDelta !== undefined && e.usesDelta !== 0) out.push(t(Math.abs(e.usesDelta) === 1 ? 'ledger.use' : 'ledger.uses', { n: c.fmt.signedNumber(e.usesDelta) }));
  if (c.showGrowth && e.growthDelta !== 0) out.push(t('ledger.growth', { n: c.fmt.signedNumber(e.growthDelta) }));
  return out;
}

export function ledgerWords(e: LedgerEntry, c: LedgerContext): string {
  return [what(e, c), ...moved(e, c)].join(c.words.t('ledger.separator'));
}
