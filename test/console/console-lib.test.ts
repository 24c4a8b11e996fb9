// The console's pure parts, as a manager meets them: amounts typed and written exactly in the
// program's currency, the validator's refusals in words (a money bound as money), the ledger in
// sentences, the live rates from /metrics, and what each role may do.
import { describe, expect, it } from 'vitest';
import { centsToDecimal, parseAmount, parseWhole, percentToBps, bpsToPercent } from '../../console/src/lib/money.js';
import { Formatter } from '../../console/src/lib/format.js';
import { fieldMessage } from '../../console/src/lib/field-messages.js';
import { errorText } from '../../console/src/lib/errors.js';
import { ledgerWords, ordersNamed, type LedgerContext } from '../../console/src/lib/ledger-words.js';
import { parseMetrics, ratesBetween } from '../../console/src/lib/metrics.js';
import { capabilitiesOf } from '../../console/src/lib/capabilities.js';
import type { Words } from '../../console/src/lib/words.js';
import type { LedgerEntry, Order } from '../../console/src/api/types.js';
import en from '../../console/src/i18n/en.js';
import zhHK from '../../console/src/i18n/zh-HK.js';

function wordsOf(messages: object): Words {
  const get = (key: string): unknown => key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], messages);
  return {
    t: (key, params = {}) => String(get(key) ?? key).replace(/\{(\w+)\}/g, (_m, p: string) => String(params[p])),
    has: (key) => typeof get(key) === 'string',
  };
}

describe('amounts', () => {
  it('reads what a manager types into exact minor units, and writes them back', () => {
    expect(parseAmount('1,234.5', 2)).toBe(123450);
    expect(parseAmount('HK$1,234.56', 2)).toBe(123456);
    expect(parseAmount('0.07', 2)).toBe(7);
    expect(parseAmount('1.005', 2)).toBeNull();
    expect(parseAmount('-5', 2)).toBeNull();
    expect(parseAmount('-5', 2, true)).toBe(-500);
    expect(parseAmount('abc', 2)).toBeNull();
    expect(parseAmount('1200', 0)).toBe(1200);
    expect(parseAmount('9,999,999,999,999.99', 2)).toBe(999_999_999_999_999);
    expect(centsToDecimal(123450, 2)).toBe('1234.50');
    expect(centsToDecimal(-5, 2)).toBe('-0.05');
    expect(centsToDecimal('9008000000001510', 2)).toBe('90080000000015.10');
    expect(parseWhole('1,200')).toBe(1200);
    expect(parseWhole('12.5')).toBeNull();
    expect(percentToBps('12.5')).toBe(1250);
    expect(bpsToPercent(500)).toBe('5');
    expect(bpsToPercent(1250)).toBe('12.5');
  });

  it('writes money in the currency, times in the program zone, past 2^53 without losing a cent', () => {
    const f = new Formatter({ locale: 'en', currency: 'HKD', timeZone: 'Asia/Hong_Kong' });
    expect(f.money(123400)).toBe('HK$1,234.00');
    expect(f.money('9008000000001510')).toBe('HK$90,080,000,000,015.10');
    expect(f.signedMoney(-1000)).toBe('−HK$10.00');
    expect(f.localDayOf(Date.parse('2026-11-21T16:30:00Z'))).toBe('2026-11-22');
    expect(f.localDate('2026-11-22')).toBe('Nov 22, 2026');
    expect(new Formatter({ locale: 'zh-CN', currency: 'CNY', timeZone: 'Asia/Shanghai' }).money(123400)).toBe('¥1,234.00');
    expect(new Formatter({ locale: 'zh-HK', currency: 'HKD', timeZone: 'Asia/Hong_Kong' }).money(123400)).toBe('HK$1,234.00');
  });
});

describe('refusals in words', () => {
  const words = wordsOf(en);
  it('translates the validator, writing a money bound as money', () => {
    expect(fieldMessage(words, 'thresholds must be strictly ascending', 'tiers[2].threshold')).toBe(en.validator.ascending);
    expect(fieldMessage(words, 'must be between 0 and 1000000000000', 'wallet.minTopupCents', (n) => new Formatter({ locale: 'en', currency: 'HKD', timeZone: 'UTC' }).money(n)))
      .toBe('Must be between HK$0.00 and HK$10,000,000,000.00.');
    expect(fieldMessage(words, 'email: must be an email address', 'email')).toBe(en.validator.email);
    expect(fieldMessage(words, 'duplicate tier id', 'tiers[1].id')).toBe(en.validator.duplicate.tier);
    expect(fieldMessage(words, 'is not a date the calendar has (1990-02-30)', 'birthday')).toBe('There is no such day (1990-02-30).');
    expect(fieldMessage(wordsOf(zhHK), 'something new', 'x')).toBe('不接受：something new');
  });

  it('gives a coupon refusal its reason', () => {
    expect(errorText(words, { code: 'coupon_not_usable', message: 'min_spend', field: 'couponCodes[0]' })).toBe('The coupon cannot be used on this order: the order is below its minimum spend.');
    expect(errorText(words, { code: 'insufficient_points', message: 'the member does not have enough points' })).toBe(en.errors.insufficient_points);
    expect(errorText(words, { code: 'reward_unavailable', message: 'not_started', field: 'rewardId' })).toBe('The reward cannot be redeemed now by this member: its first day has not come.');
    expect(errorText(words, { code: 'redemption_closed', message: 'fulfilled', field: 'redemptionId' })).toBe('The redemption is already handed over or cancelled: it was handed over already.');
    expect(errorText(words, { code: 'card_exhausted', message: '4 uses left', field: 'uses' })).toBe('The count card holds only 4 uses.');
    expect(errorText(words, { code: 'reward_limit', message: 'at most 2 per member', field: 'quantity' })).toBe('The member may hold at most 2 of this reward.');
    expect(fieldMessage(words, 'required for a coupon reward', 'rewards[0].couponTemplateId')).toBe(en.validator.templateRequired);
    expect(fieldMessage(words, 'duplicate reward id', 'rewards[1].id')).toBe(en.validator.duplicate.reward);
    expect(errorText(words, { code: 'some_future_code', message: 'x' })).toBe('The server refused the request (some_future_code).');
  });
});

describe('the ledger in words', () => {
  const entry = (e: Partial<LedgerEntry>): LedgerEntry => ({
    seq: 1, kind: 'purchase', at: '2026-09-01T03:00:00.000Z', cause: null, pointsDelta: 0, growthDelta: 0, walletDeltaCents: 0,
    spendDeltaCents: 0, memberId: 'alice', ref: 'o-1', tierId: null, pendingDelta: 0, ...e,
  });
  const purchase = entry({ seq: 4194304, pointsDelta: 61, growthDelta: 61, spendDeltaCents: 123400 });
  const ret = entry({ seq: 5242880, kind: 'return', ref: 'r-1', cause: 4194304, pointsDelta: -20, spendDeltaCents: -40000 });
  const order = { orderId: 'o-1', amountCents: 123400, storeId: 'central' } as Order;
  const ctx = (messages: object): LedgerContext => ({
    words: wordsOf(messages), fmt: new Formatter({ locale: 'en', currency: 'HKD', timeZone: 'Asia/Hong_Kong' }), tierName: (id) => id.toUpperCase(),
    order: (id) => (id === 'o-1' ? order : undefined), entry: (seq) => [purchase, ret].find((e) => e.seq === seq), showGrowth: false,
  });

  it('says what happened and what moved, naming no internal reference', () => {
    expect(ordersNamed([purchase, ret])).toEqual(['o-1']);
    expect(ledgerWords(purchase, ctx(en))).toBe('Purchase of HK$1,234.00 at store central, order o-1, +61 points');
    expect(ledgerWords(ret, ctx(en))).toBe('Return of HK$400.00 from order o-1, −20 points');
    expect(ledgerWords(ret, ctx(zhHK))).toBe('訂單 o-1 退貨 HK$400.00，−20 分');
    const topup = entry({ kind: 'topup', ref: 'req:t-1', walletDeltaCents: 110000 });
    expect(ledgerWords(topup, ctx(en))).toBe('Wallet top-up, wallet +HK$1,100.00');
    const pending = entry({ seq: 9, pointsDelta: 0, pendingDelta: 61, spendDeltaCents: 50000, ref: 'o-2' });
    expect(ledgerWords(pending, ctx(en))).toBe('Purchase of HK$500.00, order o-2, 61 points pending');
    const down = entry({ kind: 'downgrade', ref: 'downgrade:1790000000000', tierId: 'member' });
    expect(ledgerWords(down, ctx(en))).toBe('Moved to MEMBER at the end of the tier period');
    expect(ledgerWords(entry({ kind: 'card_use', ref: 'wash', usesDelta: -1 }), ctx(en))).toBe('Count card “wash” used, −1 use');
    expect(ledgerWords(entry({ kind: 'card_add', ref: 'wash', usesDelta: 10 }), ctx(en))).toBe('Count card “wash” given or renewed, +10 uses');
    expect(ledgerWords(entry({ kind: 'card_use', ref: 'wash', usesDelta: -2 }), ctx(zhHK))).toBe('「wash」次卡已使用，−2 次');
    // A reward entry's ref is the redemption's key: the sentence names the reward when the redemption is known, else says what happened.
    const redeem = entry({ kind: 'reward_redeem', ref: 'console-redeem-x7', pointsDelta: -1000 });
    const withRedemptions = { ...ctx(en), redemption: (id: string) => (id === 'console-redeem-x7' ? { rewardName: 'Logo mug', quantity: 2 } : undefined) };
    expect(ledgerWords(redeem, withRedemptions)).toBe('Redeemed 2 × Logo mug, −1,000 points');
    expect(ledgerWords(redeem, ctx(en))).toBe('Reward redeemed, −1,000 points');
    expect(ledgerWords(entry({ kind: 'reward_cancel', ref: 'console-redeem-x7', pointsDelta: 1000 }), withRedemptions)).toBe('Redemption of Logo mug cancelled, +1,000 points');
    // A kind the console has no sentence for reads as a change, never as its internal name.
    expect(ledgerWords(entry({ kind: 'made_up' as never, ref: 'x' }), ctx(en))).toBe('Other change');
  });
});

describe('live figures from /metrics', () => {
  const text = (ops: number, queue: number) => [
    '# HELP loyalty_ops_total write ops', '# TYPE loyalty_ops_total counter',
    `loyalty_ops_total{shard="0"} ${ops}`, `loyalty_ops_total{shard="1"} ${ops * 2}`,
    `loyalty_queue_ops{shard="0"} ${queue}`, 'loyalty_queue_ops{shard="1"} 0',
    'loyalty_commit_seconds_sum{shard="0"} 0.5', 'loyalty_commit_seconds_count{shard="0"} 100',
    'loyalty_http_requests_total{method="GET",route="/metrics",status="200"} 7',
  ].join('\n');

  it('sums ops over shards and gives rates between two samples', () => {
    const a = parseMetrics(text(100, 3));
    const b = parseMetrics(text(400, 5));
    expect(a.opsTotal).toBe(300);
    expect([...b.queueOps]).toEqual([['0', 5], ['1', 0]]);
    expect(ratesBetween(a, b, 2000).opsPerSecond).toBe(450);
    expect(ratesBetween(a, b, 2000).commitMs).toBeNull();
  });
});

describe('what each role may do', () => {
  it('follows the API roles', () => {
    expect(capabilitiesOf('reader')).toEqual({ writeMembers: false, adminMembers: false, editProgram: false, restockRewards: false, adjustCards: false, importMembers: false, exportData: true, manageKeys: false });
    expect(capabilitiesOf('pos')).toEqual({ writeMembers: true, adminMembers: false, editProgram: false, restockRewards: false, adjustCards: false, importMembers: false, exportData: false, manageKeys: false });
    expect(Object.values(capabilitiesOf('admin')).every(Boolean)).toBe(true);
  });
});
