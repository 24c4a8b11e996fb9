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
import { AUDIT_ACTION_NAMES, actorText, auditWords } from '../../console/src/lib/audit-words.js';
import { eventName, webhookUrlProblem, WEBHOOK_URL_LENGTH_MAX } from '../../console/src/lib/webhooks.js';
import { AUDIT_ACTIONS } from '../../engine/router/audit-log.js';
import { WEBHOOK_URL_LENGTH_MAX as ENGINE_URL_LENGTH_MAX } from '../../engine/limits.js';
import type { Words } from '../../console/src/lib/words.js';
import type { AuditRecord, LedgerEntry, Order } from '../../console/src/api/types.js';
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
    const named = { ...ctx(en), serviceName: (id: string) => (id === 'wash' ? 'Car wash' : id) };
    expect(ledgerWords(entry({ kind: 'card_use', ref: 'wash', usesDelta: -1 }), named)).toBe('Count card “Car wash” used, −1 use');
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
    const none = { eraseMembers: false, manageWebhooks: false, readAudit: false };
    expect(capabilitiesOf('reader')).toEqual({ writeMembers: false, adminMembers: false, editProgram: false, restockRewards: false, adjustCards: false, importMembers: false, exportData: true, manageKeys: false, ...none });
    expect(capabilitiesOf('pos')).toEqual({ writeMembers: true, adminMembers: false, editProgram: false, restockRewards: false, adjustCards: false, importMembers: false, exportData: false, manageKeys: false, ...none });
    expect(capabilitiesOf('storefront')).toMatchObject(none);
    expect(Object.values(capabilitiesOf('admin')).every(Boolean)).toBe(true);
  });
});

describe('webhooks', () => {
  const words = wordsOf(en);

  it('checks an address as the server does, in words', () => {
    expect(WEBHOOK_URL_LENGTH_MAX).toBe(ENGINE_URL_LENGTH_MAX);
    expect(webhookUrlProblem(words, 'https://crm.example.com/loyalty')).toBeNull();
    expect(webhookUrlProblem(words, ' http://127.0.0.1:8080/hook ')).toBeNull();
    expect(webhookUrlProblem(words, '')).toBe(en.webhooks.urlRequired);
    expect(webhookUrlProblem(words, 'crm.example.com')).toBe(en.webhooks.urlInvalid);
    expect(webhookUrlProblem(words, 'ftp://crm.example.com/')).toBe(en.webhooks.urlInvalid);
    expect(webhookUrlProblem(words, 'https://user:pw@crm.example.com/')).toBe(en.webhooks.urlCredentials);
    expect(webhookUrlProblem(words, 'https://crm.example.com/#x')).toBe(en.webhooks.urlFragment);
    expect(webhookUrlProblem(words, `https://crm.example.com/${'a'.repeat(2_048)}`)).toBe('At most 2048 characters.');
  });

  it('names event types in words, and one it does not know as sent', () => {
    expect(eventName(words, 'member.tier_changed')).toBe('Tier changed');
    expect(eventName(wordsOf(zhHK), 'purchase.recorded')).toBe('記錄消費');
    expect(eventName(words, 'member.teleported')).toBe('member.teleported');
  });
});

describe('the audit trail in words', () => {
  const en_ = { words: wordsOf(en), fmt: new Formatter({ locale: 'en', currency: 'HKD', timeZone: 'Asia/Hong_Kong' }) };
  const hk = { words: wordsOf(zhHK), fmt: new Formatter({ locale: 'zh-HK', currency: 'HKD', timeZone: 'Asia/Hong_Kong' }) };
  const rec = (action: string, target: string | null, details: Record<string, unknown> = {}): AuditRecord => ({ at: '2026-09-03T02:00:00.000Z', keyId: 'k_0123456789ab', action, target, details });

  it('offers exactly the actions the engine records', () => {
    expect([...AUDIT_ACTION_NAMES]).toEqual([...AUDIT_ACTIONS]);
  });

  it('writes every action as a sentence, with its target and details', () => {
    expect(auditWords(rec('program.change', '7', { paths: ['tiers[1].threshold', 'name'] }), en_)).toBe('Program saved as version 7; changed: tiers[1].threshold, name');
    expect(auditWords(rec('program.change', '8', { paths: ['a'], more: 1200 }), en_)).toBe('Program saved as version 8; changed: a and 1,200 more');
    expect(auditWords(rec('key.create', 'k_1', { role: 'reader' }), en_)).toBe('A Read only key k_1 was created');
    expect(auditWords(rec('key.revoke', 'k_1', { role: 'pos' }), hk)).toBe('撤銷了收銀機金鑰 k_1');
    expect(auditWords(rec('import', null, { rows: 3, accepted: 2, skipped: 0, refused: 1 }), en_)).toBe('Members imported: 3 rows, 2 accepted, 0 skipped, 1 refused');
    expect(auditWords(rec('import', 'members.csv', { rows: 3, accepted: 2, skipped: 0, refused: 1 }), en_)).toBe('Members imported from members.csv: 3 rows, 2 accepted, 0 skipped, 1 refused');
    expect(auditWords(rec('sweep', null, { asOf: '2026-09-30T00:00:00.000Z', members: 12 }), en_)).toBe(`Periods and expiries brought forward to ${en_.fmt.dateTime('2026-09-30T00:00:00.000Z')}: 12 members`);
    expect(en_.fmt.dateTime('2026-09-30T00:00:00.000Z')).toContain('8:00');
    expect(auditWords(rec('points.adjust', 'alice', { points: -15, reason: 'Goodwill' }), en_)).toBe('−15 points for member alice, reason: Goodwill');
    expect(auditWords(rec('card.adjust', 'alice', { serviceId: 'wash', uses: 2, reason: 'Missed wash' }), en_)).toBe('Count card wash of member alice: +2 uses, reason: Missed wash');
    expect(auditWords(rec('member.erase', 'erin'), hk)).toBe('已刪除會員 erin 的個人資料');
    expect(auditWords(rec('webhook.create', 'wh_1', { url: 'http://127.0.0.1/hook', events: ['member.registered', 'purchase.recorded'] }), en_)).toBe('Webhook wh_1 added, sending to http://127.0.0.1/hook: Member registered, Purchase recorded');
    expect(auditWords(rec('webhook.delete', 'wh_1'), en_)).toBe('Webhook wh_1 deleted');
    expect(auditWords(rec('webhook.redeliver', 'wh_1', { fromEventId: '1:5242880' }), en_)).toBe('Webhook wh_1: events sent again from event 1:5242880');
    expect(auditWords(rec('backup', '/srv/backups/b1'), en_)).toBe('Backup taken into /srv/backups/b1');
    expect(auditWords(rec('restore', '/srv/backups/b1', { until: '2026-09-03T02:00:00.000Z' }), en_)).toBe(`Restored from the backup in /srv/backups/b1, up to ${en_.fmt.dateTime('2026-09-03T02:00:00.000Z')}`);
    expect(auditWords(rec('program.change', '9', { truncated: true, bytes: 70000 }), en_)).toBe('Program changed (details too long to keep)');
    expect(auditWords(rec('something.new', null), en_)).toBe('something.new');
    for (const action of AUDIT_ACTIONS) expect(auditWords(rec(action, 'x'), hk)).not.toMatch(/[{}]|undefined/);
  });

  it('names the command line and the engine instead of their key ids', () => {
    expect(actorText(en_.words, 'cli')).toBe('Command line');
    expect(actorText(hk.words, 'system')).toBe('系統本身');
    expect(actorText(en_.words, 'k_0123456789ab')).toBe('k_0123456789ab');
  });
});
