// The loyalty product op family (docs/rules.md §7): checks the product, the channel and the tier,
// then applies every include at once (wallet, points, a tier up or forced, a longer period). A
// product purchase earns no points and is not spend.
import { tierIndexOf } from '../rules/member-state.js';
import type { OpResult, ProductOp } from '../ops.js';
import { TIME_MS_MAX } from '../limits.js';
import { fits } from '../rules/safe-range.js';
import { DAY_MS, entry, fail, type BatchMember, type BatchScope } from './batch-scope.js';
import { cardGiftProblem, giveCard } from './batch-cards.js';

export function finishProduct(b: BatchScope, op: ProductOp, m: BatchMember): OpResult {
  const { ctx, totals } = b;
  const p = ctx.program;
  const product = p.products.find((x) => x.id === op.productId);
  if (product === undefined) return fail('product_not_found', undefined, 'productId');
  if (!product.active) return fail('product_inactive', undefined, 'productId');
  if (op.channel !== undefined && !product.channels.includes(op.channel)) return fail('channel_not_allowed', undefined, 'channel');
  const r = m.running;
  if (product.eligibleTiers !== null && !product.eligibleTiers.includes(r.tierId)) return fail('tier_not_eligible');
  const inc = product.includes;
  const current = tierIndexOf(ctx, r.tierId);
  let target: number | null = null;
  if (inc.forceTierId !== undefined) target = tierIndexOf(ctx, inc.forceTierId);
  else if (inc.tierId !== undefined && tierIndexOf(ctx, inc.tierId) > current) target = tierIndexOf(ctx, inc.tierId);
  const points = inc.points ?? 0;
  const walletCents = inc.walletCents ?? 0;
  const tierId = target === null ? null : p.tiers[target]!.id;
  const upgrade = target !== null && inc.forceTierId === undefined;
  const bonus = upgrade ? p.tiers[target!]!.upgradeBonusPoints : 0;
  // Every include is a credit without the core: the balances after it, and the period's end, are
  // checked before anything of the purchase is written.
  const periodEnd = target === null ? r.periodEnd
    : target === 0 || p.membershipDays === null ? null : op.atMs + p.membershipDays * DAY_MS;
  const extendedEnd = inc.extendDays !== undefined && periodEnd !== null ? periodEnd + inc.extendDays * DAY_MS : periodEnd;
  if (!fits(r.points + points) || !fits(r.points + points + bonus)) return fail('balance_limit', 'the product\'s points would take the balance past 2^53 - 1', 'productId');
  if (!fits(r.walletCents + walletCents)) return fail('balance_limit', 'the product\'s wallet credit would take the balance past 2^53 - 1', 'productId');
  if (extendedEnd !== null && extendedEnd > TIME_MS_MAX) return fail('balance_limit', 'the period would end after 9999-12-31', 'productId');
  const cardProblem = inc.card === undefined ? null : cardGiftProblem(b, m, inc.card, op.atMs);
  if (cardProblem !== null) return cardProblem;
  const seq = b.append(m, entry(op.atMs, 'product', op.memberId, op.orderId, { pointsDelta: points, walletDeltaCents: walletCents, ...(tierId === null ? {} : { tierId }) }));
  b.addPoints(m, points, op.atMs, seq);
  totals.pointsIssued.add(points);
  r.walletCents += walletCents;
  if (target !== null) {
    // A granted tier starts a new period; an upgrade carries the metric forward and pays its bonus.
    r.periodMetric = !upgrade || p.carryForward === 'none' ? 0 : p.carryForward === 'all' ? r.periodMetric : Math.max(0, r.periodMetric - p.tiers[target]!.threshold);
    r.tierId = tierId!; r.periodStartTierId = tierId!; r.periodStart = op.atMs;
    if (bonus > 0) {
      const upgradeSeq = b.append(m, entry(op.atMs, 'upgrade', op.memberId, op.orderId, { pointsDelta: bonus, tierId: tierId! }, seq));
      b.addPoints(m, bonus, op.atMs, upgradeSeq);
      totals.pointsIssued.add(bonus);
    }
  }
  r.periodEnd = extendedEnd;
  // A count card (docs/rules.md §14.3) is given or renewed with the purchase, caused by its entry.
  const card = inc.card === undefined ? null : giveCard(b, m, inc.card, op.atMs, seq);
  b.toSlot(m);
  return {
    ok: true, orderId: op.orderId, memberId: op.memberId, productId: product.id, priceCents: product.priceCents,
    walletCreditCents: walletCents, pointsAdded: points, tierChangedTo: tierId,
    periodEnd: r.periodEnd === null ? null : new Date(r.periodEnd).toISOString(),
    points: r.points, walletBalanceCents: r.walletCents, tierId: r.tierId, ...(card === null ? {} : { card }), replayed: false,
  };
}
