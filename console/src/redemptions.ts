// What the Rewards screen and a member's screen share about redemptions: which can still be handed
// over or cancelled (docs/rules.md §14.2), the reward's name, and the two writes with their words.
// A cancellation asks first, saying how many points go back.
import { ElMessageBox } from 'element-plus';
import { api, fmt, session } from './session.js';
import { words } from './words.js';
import type { Redemption } from './api/types.js';

export function rewardName(id: string): string {
  return session.program?.rewards.find((r) => r.id === id)?.name ?? id;
}

export function canFulfil(r: Redemption): boolean {
  return r.state === 'reserved';
}

/** Goods until handed over; a coupon reward while its coupons are unused (the server checks that part). */
export function canCancel(r: Redemption): boolean {
  return r.state === 'reserved' || (r.kind === 'coupon' && r.state === 'fulfilled');
}

/** Hands the goods over; answers the redemption as it now stands and the words to show. */
export async function fulfil(r: Redemption): Promise<{ redemption: Redemption; message: string }> {
  const redemption = await api().fulfil(r.redemptionId);
  return { redemption, message: words.t('member.done.fulfilled') };
}

/** Cancels after the manager confirms; null when they did not. */
export async function cancel(r: Redemption): Promise<{ redemption: Redemption; message: string } | null> {
  const { t } = words;
  try {
    await ElMessageBox.confirm(t('member.redemptions.cancelConfirm', { points: fmt.value.number(r.redeemedPoints) }), t('rewards.lookup.cancel'), {
      confirmButtonText: t('rewards.lookup.cancel'), cancelButtonText: t('common.cancel'), type: 'warning',
    });
  } catch {
    return null;
  }
  const redemption = await api().cancelRedemption(r.redemptionId);
  return { redemption, message: t('member.done.cancelled', { points: fmt.value.number(redemption.restoredPoints ?? r.redeemedPoints) }) };
}
