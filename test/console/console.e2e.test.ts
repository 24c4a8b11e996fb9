// The admin console in a real browser: Debian's Chromium, headless, driven by playwright-core
// against one real server. A manager's day in each language (English, 繁體中文, 简体中文): sign in,
// change a tier threshold with a deliberate error first (the field's refusal beside it), preview and
// save; register a member, record a purchase and a partial return, adjust points, issue a coupon;
// read the daily chart and an RFM segment; at the counter, redeem a reward and hand it over, use a
// count card and read the staff report; import a small file with one bad row; export. Before them,
// the Rewards tab of the program (a reward refused beside its field, then saved with a staff
// commission); after them, the Rewards screen (restock, the redemptions report, a redemption found by
// number and cancelled). Then the administrator's screens of the engine's events and records: a
// webhook subscribed against a real receiver on loopback (a wrong address refused first, the secret
// shown once), its deliveries listed and one redelivered; a member erased after typing its number;
// the audit trail listing those actions with the key id, read in English and checked translated in
// 繁體中文 and 简体中文. Then a reader key, which sees no write control, and the member screen on a
// 400-px phone. No page breaks the Content-Security-Policy. Screenshots go to test-artifacts/.
// Skipped only where Chromium is absent outside CI; in CI (CI set) it must run, and .ci/run installs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT, ServerProcess } from '../helpers/server-process.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import en from '../../console/src/i18n/en.js';
import zhHK from '../../console/src/i18n/zh-HK.js';
import zhCN from '../../console/src/i18n/zh-CN.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const UI_TIMEOUT_MS = 15_000;
const runnable = existsSync(CHROMIUM) || process.env['CI'] !== undefined;
const LOCALES = [
  { code: 'en', words: en, silverHkd: 2000 },
  { code: 'zh-HK', words: zhHK, silverHkd: 3000 },
  { code: 'zh-CN', words: zhCN, silverHkd: 4000 },
] as const;

/** Records every CSP violation of the page, from its first script on. */
const CSP_PROBE = "window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));";

describe.skipIf(!runnable)('admin console (Chromium)', () => {
  const server = new ServerProcess(ServerProcess.tempDataDir());
  const downloads = mkdtempSync(join(tmpdir(), 'loyalty-downloads-'));
  let browser: Browser;
  let readerKey = '';
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Hong_Kong', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await server.start();
    const ok = async (path: string, body: unknown) => expect((await server.post(path, body)).status).toBeLessThan(300);
    // One coupon template, so that a coupon can be issued by hand; a mug for 50 points (20 in stock)
    // and a ten-wash count card, so that the counter has something to hand over and to use.
    const { version: _v, ...program } = (await server.get('/v1/program')).body;
    program.coupons = [{ id: 'welcome10', name: 'HK$10 off', discount: { amountCents: 1000 }, validDays: 30 }];
    program.rewards = [{ id: 'mug', name: 'Logo mug', pointsCost: 50, stock: 20 }];
    program.products = [{ id: 'wash-10', name: 'Ten washes', priceCents: 30000, includes: { card: { serviceId: 'wash', uses: 10, validDays: 365 } } }];
    expect((await server.request('PUT', '/v1/program', program)).status).toBe(200);
    await ok('/v1/members', { memberId: 'grace', name: 'Grace Hopper', phone: '+852 5555 0100' });
    await ok('/v1/purchases', { orderId: 'g-1', memberId: 'grace', amountCents: 120000, storeId: 'central' });
    await ok('/v1/points/adjustments', { requestId: 'g-adj', memberId: 'grace', points: 200, reason: 'Opening balance' });
    await ok('/v1/product-purchases', { orderId: 'g-wash', memberId: 'grace', productId: 'wash-10' });
    await ok('/v1/rewards/redemptions', { requestId: 'rd-grace', memberId: 'grace', rewardId: 'mug' });
    readerKey = (await server.post('/v1/admin/keys', { role: 'reader' })).body.key;
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server.stop();
    server.cleanup();
    rmSync(downloads, { recursive: true, force: true });
  });

  async function openPage(width = 1280, height = 800): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    await page.addInitScript(CSP_PROBE);
    return page;
  }

  async function signIn(page: Page, locale: string, key: string): Promise<void> {
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.click(`[data-locale="${locale}"]`);
    await page.fill('#sign-in-key', key);
    await page.click('[data-sign-in]');
    await page.waitForSelector('.shell');
    expect(await page.getAttribute('html', 'lang')).toBe(locale);
  }

  /** The text input a `data-*` attribute names: Element Plus puts it on the input, our AmountInput around it. */
  const input = (sel: string) => {
    const cut = sel.lastIndexOf(' ') + 1;
    return `:is(${sel} input, ${sel.slice(0, cut)}input${sel.slice(cut)})`;
  };

  async function go(page: Page, hash: string): Promise<void> {
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  }

  async function submitDialog(page: Page, dialog: string): Promise<string> {
    await page.click(`${dialog} [data-submit]`);
    await page.waitForSelector(dialog, { state: 'detached' });
    const toast = page.locator('.el-message--success').last();
    const text = (await toast.textContent()) ?? '';
    return text.trim();
  }

  const cspViolations = (page: Page) => page.evaluate('window.__csp') as Promise<string[]>;

  it('sets up a reward and the staff commission in the Rewards tab of the program', async () => {
    const page = await openPage();
    await signIn(page, 'en', server.adminKey);
    const before = (await server.get('/v1/program')).body;
    await go(page, '#/program/rewards');
    await page.click('[data-add-reward]');
    await page.fill(input('[data-reward-form="1"] [data-reward-input="name"]'), 'Tote bag');
    await page.fill(input('[data-reward-form="1"] [data-reward-input="id"]'), 'tote');
    await page.fill(input('[data-reward-form="1"] [data-reward-input="pointsCost"]'), '300');
    await page.fill(input('[data-reward-form="1"] [data-reward-input="perMemberMax"]'), '0');
    await page.fill(input('[data-input="commission"]'), '5');
    // At least one per member: refused beside the field, nothing saved.
    await page.click('[data-preview]');
    const refusal = page.locator('[data-field="rewards[1].perMemberMax"]');
    await refusal.waitFor();
    expect(await refusal.textContent()).toBe(en.validator.between.replace('{min}', '1').replace('{max}', String(Number.MAX_SAFE_INTEGER)));
    expect(await page.textContent('[data-program-banner]')).toContain(en.validator.between.slice(0, 15));
    expect((await server.get('/v1/program')).body.version).toBe(before.version);
    await page.fill(input('[data-reward-form="1"] [data-reward-input="perMemberMax"]'), '2');
    await page.click('[data-preview]');
    await page.waitForSelector('[data-what-if-result]');
    await page.click('[data-save-program]');
    await page.waitForSelector('[data-what-if]', { state: 'detached' });
    const saved = (await server.get('/v1/program')).body;
    expect(saved.version).toBe(before.version + 1);
    expect(saved.rewards[1]).toMatchObject({ id: 'tote', name: 'Tote bag', pointsCost: 300, perMemberMax: 2, kind: 'goods', stock: null });
    expect(saved.staffCommissionBps).toBe(500);
    // The product's count card, in the Products tab.
    await go(page, '#/program/products');
    expect(await page.inputValue(input('[data-card-input="serviceId"]'))).toBe('wash');
    await page.screenshot({ path: join(ARTIFACTS, 'console-en-0-program-rewards.png'), fullPage: true });
    expect(await cspViolations(page)).toEqual([]);
    await page.context().close();
  });

  for (const { code, words, silverHkd } of LOCALES) {
    it(`walks a manager's day in ${code}`, async () => {
      const page = await openPage();
      const money = (cents: number) => new Intl.NumberFormat(code, { style: 'currency', currency: 'HKD' }).format(cents / 100);
      await signIn(page, code, server.adminKey);
      expect(await page.textContent('[data-nav="members"]')).toBe(words.nav.members);
      // The language is remembered for the next visit.
      expect(await page.evaluate("localStorage.getItem('loyalty.locale')")).toBe(code);

      // Program: a Silver threshold above Gold's is refused beside Gold's threshold, nothing saved.
      const before = (await server.get('/v1/program')).body;
      await go(page, '#/program/tiers');
      await page.fill(input('[data-threshold="1"]'), '20,000');
      await page.click('[data-preview]');
      const refusal = page.locator('[data-field="tiers[2].threshold"]');
      await refusal.waitFor();
      expect(await refusal.textContent()).toBe(words.validator.ascending);
      expect(await page.textContent('[data-program-banner]')).toContain(words.validator.ascending);
      await page.screenshot({ path: join(ARTIFACTS, `console-${code}-1-program-refused.png`), fullPage: true });
      expect((await server.get('/v1/program')).body.version).toBe(before.version);

      // Fixed, previewed (what-if) and saved.
      await page.fill(input('[data-threshold="1"]'), String(silverHkd));
      await page.click('[data-preview]');
      await page.waitForSelector('[data-what-if-result]');
      await page.click('[data-save-program]');
      await page.waitForSelector('[data-what-if]', { state: 'detached' });
      const saved = (await server.get('/v1/program')).body;
      expect(saved.version).toBe(before.version + 1);
      expect(saved.tiers[1].threshold).toBe(silverHkd * 100);

      // Register a member.
      const memberId = `m-${code}`;
      await go(page, '#/members');
      await page.click('[data-register]');
      await page.fill(input('[data-profile-dialog] [data-field-input="memberId"]'), memberId);
      await page.fill(input('[data-profile-dialog] [data-field-input="name"]'), `Mei ${code}`);
      await page.click('[data-profile-dialog] [data-submit]');
      await page.waitForSelector('[data-member-title]');
      expect(await page.textContent('[data-member-title]')).toBe(`Mei ${code}`);

      // A purchase of HK$1,234.00 at the central store: 61 points at HK$20 a point.
      await page.click('[data-action="purchase"]');
      await page.fill(input('[data-action-dialog="purchase"] [data-input="amount"]'), '1,234.00');
      await page.fill(input('[data-action-dialog="purchase"] [data-input="store"]'), 'central');
      await page.fill(input('[data-action-dialog="purchase"] [data-input="staff"]'), 'amy');
      await submitDialog(page, '[data-action-dialog="purchase"]');
      const purchaseRow = page.locator('[data-ledger] li[data-kind="purchase"]');
      await purchaseRow.waitFor();
      const purchaseText = (await purchaseRow.textContent())!;
      expect(purchaseText).toContain(money(123400));
      expect(purchaseText).toContain('central');
      expect(purchaseText).toContain('+61');
      expect(purchaseText).not.toMatch(/req:|seq|\b1[0-9]{12}\b/);

      // A partial return of HK$400.00: what remains (HK$834.00) earns 41, so 20 points go back.
      await page.click('[data-ledger] li[data-kind="purchase"] [data-return-order]');
      await page.fill(input('[data-action-dialog="return"] [data-input="amount"]'), '400');
      await submitDialog(page, '[data-action-dialog="return"]');
      const returnRow = page.locator('[data-ledger] li[data-kind="return"]');
      await returnRow.waitFor();
      expect(await returnRow.textContent()).toContain(money(40000));
      expect(await returnRow.textContent()).toContain('−20');

      // Adjust points with a reason: 41 + 15 = 56.
      await page.click('[data-action="adjust"]');
      await page.fill(input('[data-action-dialog="adjust"] [data-input="points"]'), '15');
      await page.fill(input('[data-action-dialog="adjust"] [data-input="reason"]'), 'Goodwill');
      await submitDialog(page, '[data-action-dialog="adjust"]');
      await expect.poll(() => page.textContent('[data-stat="points"] .stat-value')).toBe('56');
      expect((await server.get(`/v1/members/${memberId}`)).body.points).toBe(56);

      // Issue a coupon.
      await page.click('[data-action="coupon"]');
      const issued = await submitDialog(page, '[data-action-dialog="coupon"]');
      expect(issued).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
      const coupons = (await server.get(`/v1/members/${memberId}/coupons`)).body.coupons;
      expect(coupons).toHaveLength(1);
      await page.screenshot({ path: join(ARTIFACTS, `console-${code}-2-member.png`), fullPage: true });

      // The daily chart and its table: today's net sales as the server counts them, in the currency.
      const daily = (await server.get(`/v1/reports/daily?from=${today}&to=${today}`)).body;
      await go(page, '#/reports/daily');
      await page.waitForSelector('[data-daily-chart] canvas');
      await expect.poll(() => page.textContent(`[data-net-sales="${today}"]`)).toBe(money(daily.days[0].netSalesCents));

      // An RFM segment: the member registered today with one purchase is new.
      await go(page, '#/reports/rfm');
      await page.click('[data-segment="new"]');
      await page.waitForSelector(`[data-rfm-member="${memberId}"]`);

      // At the counter: 50 of the member's 56 points for a mug, handed over at once.
      expect((await server.post('/v1/product-purchases', { orderId: `wash-${code}`, memberId, productId: 'wash-10' })).status).toBe(200);
      await go(page, `#/members/${memberId}`);
      await page.waitForSelector('[data-ledger] li');
      await page.click('[data-action="redeem"]');
      // Two mugs cost 100 points: refused beside the reward, nothing taken; one is fine.
      await page.fill(input('[data-action-dialog="redeem"] [data-input="quantity"]'), '2');
      await page.click('[data-action-dialog="redeem"] [data-submit]');
      await expect.poll(() => page.textContent('[data-action-dialog="redeem"] [data-field="rewardId"]')).toBe(words.errors.insufficient_points);
      await page.fill(input('[data-action-dialog="redeem"] [data-input="quantity"]'), '1');
      const redeemed = await submitDialog(page, '[data-action-dialog="redeem"]');
      expect(redeemed).toContain('Logo mug');
      await expect.poll(() => page.textContent('[data-stat="points"] .stat-value')).toBe('6');
      const redeemRow = page.locator('[data-ledger] li[data-kind="reward_redeem"]');
      await redeemRow.waitFor();
      expect(await redeemRow.textContent()).toContain(`${words.ledger.rewardNamed.reward_redeem.replace('{n}', '1').replace('{reward}', 'Logo mug')}${words.ledger.separator}${words.ledger.points.replace('{n}', '−50')}`);
      const [redemption] = (await server.get(`/v1/members/${memberId}/redemptions`)).body.redemptions;
      await page.click('#tab-rewards');
      await page.click(`[data-fulfil="${redemption.redemptionId}"]`);
      await expect.poll(() => page.textContent(`[data-redemption-state="${redemption.redemptionId}"]`)).toBe(words.redemptionState.fulfilled);

      // One wash by Amy at the central store: nine left, and the ledger says so in words.
      await page.click('#tab-cards');
      await page.click('[data-use-card="wash"]');
      await page.fill(input('[data-action-dialog="useCard"] [data-input="store"]'), 'central');
      await page.fill(input('[data-action-dialog="useCard"] [data-input="staff"]'), 'amy');
      await submitDialog(page, '[data-action-dialog="useCard"]');
      await expect.poll(() => page.textContent('[data-uses-left="wash"]')).toBe('9');
      if (code === 'en') {
        // An admin adds two uses with a reason: eleven left.
        await page.click('[data-adjust-card="wash"]');
        await page.fill(input('[data-action-dialog="adjustCard"] [data-input="uses"]'), '2');
        await page.fill(input('[data-action-dialog="adjustCard"] [data-input="reason"]'), 'Missed wash');
        await submitDialog(page, '[data-action-dialog="adjustCard"]');
        await expect.poll(() => page.textContent('[data-uses-left="wash"]')).toBe('11');
      }
      await page.click('#tab-ledger');
      const useRow = page.locator('[data-ledger] li[data-kind="card_use"]');
      await useRow.waitFor();
      expect(await useRow.textContent()).toContain(`${words.ledger.cardNamed.card_use.replace('{service}', 'wash')}${words.ledger.separator}${words.ledger.use.replace('{n}', '−1')}`);
      await page.screenshot({ path: join(ARTIFACTS, `console-${code}-2b-member-counter.png`), fullPage: true });

      // The staff report: Amy's net sales after the return, her card uses and commission, as the server counts them.
      const staff = (await server.get(`/v1/reports/staff?from=${today}&to=${today}`)).body;
      const amy = staff.staff.find((x: { staffId: string }) => x.staffId === 'amy');
      expect(amy.cardUses).toBeGreaterThanOrEqual(1);
      await go(page, '#/reports/staff');
      await page.waitForSelector('[data-staff-chart] canvas');
      await expect.poll(() => page.textContent('[data-staff-net="amy"]')).toBe(money(amy.netSalesCents));
      expect(await page.textContent('[data-staff-uses="amy"]')).toBe(String(amy.cardUses));
      expect(await page.textContent('[data-staff-commission="amy"]')).toBe(money(amy.commissionCents));

      // Import a small file with one bad row: two imported, one refused with its line and reason.
      await go(page, '#/data');
      const csv = `memberId,name,email\nimp-${code}-1,Ivy,ivy-${code}@example.com\nimp-${code}-2,Bad,not-an-email\nimp-${code}-3,Joe,\n`;
      await page.setInputFiles('[data-import-file]', { name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
      await page.click('[data-import]');
      await page.waitForSelector('[data-import-errors]');
      const errorCells = await page.$$eval('[data-import-errors] tbody tr td', (tds) => tds.map((td) => td.textContent!.trim()));
      expect(errorCells).toEqual(['3', words.columns.email, words.validator.email]);
      expect((await server.get(`/v1/members/imp-${code}-3`)).status).toBe(200);

      // Export the members: the file holds the member registered above.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-export="members"]')]);
      const file = join(downloads, `${code}.csv`);
      await download.saveAs(file);
      expect(readFileSync(file, 'utf8')).toContain(`${memberId},Mei ${code}`);
      await page.screenshot({ path: join(ARTIFACTS, `console-${code}-3-data.png`), fullPage: true });

      expect(await cspViolations(page)).toEqual([]);
      await page.context().close();
    });
  }

  it('restocks a reward, reads the redemptions report and cancels a redemption found by its number', async () => {
    const page = await openPage();
    await signIn(page, 'zh-HK', server.adminKey);
    expect((await server.post('/v1/rewards/redemptions', { requestId: 'rd-lookup', memberId: 'grace', rewardId: 'mug' })).status).toBe(201);
    const left = (await server.get('/v1/rewards')).body.rewards[0].stockLeft;
    await go(page, '#/rewards/list');
    await expect.poll(() => page.textContent('[data-stock-left="mug"]')).toBe(String(left));
    await page.click('[data-restock="mug"]');
    await page.fill(input('[data-restock-dialog] [data-input="delta"]'), '5');
    await submitDialog(page, '[data-restock-dialog]');
    await expect.poll(() => page.textContent('[data-stock-left="mug"]')).toBe(String(left + 5));

    const report = (await server.get(`/v1/reports/rewards?from=${today}&to=${today}`)).body;
    await go(page, '#/rewards/report');
    await page.waitForSelector('[data-reward-chart] canvas');
    await expect.poll(() => page.textContent('[data-redemptions="mug"]')).toBe(String(report.rewards[0].redemptions));

    const points = (await server.get('/v1/members/grace')).body.points;
    await go(page, '#/rewards/lookup');
    await page.fill(input('[data-redemption-id]'), 'rd-lookup');
    await page.click('[data-find-redemption]');
    await page.waitForSelector('[data-redemption]');
    expect(await page.textContent('[data-redemption-state]')).toBe(zhHK.redemptionState.reserved);
    await page.click('[data-cancel-redemption]');
    await page.click('.el-message-box__btns .el-button--primary');
    await expect.poll(() => page.textContent('[data-redemption-state]')).toBe(zhHK.redemptionState.cancelled);
    expect((await server.get('/v1/members/grace')).body.points).toBe(points + 50);
    await page.screenshot({ path: join(ARTIFACTS, 'console-zh-HK-4-rewards.png'), fullPage: true });
    expect(await cspViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('subscribes a webhook, redelivers an event, erases a member and reads it all in the audit trail', async () => {
    const receiver = new WebhookReceiver();
    await receiver.start();
    try {
      const adminKeyId = (await server.get('/v1/whoami')).body.keyId as string;
      const page = await openPage();
      await signIn(page, 'en', server.adminKey);
      await go(page, '#/webhooks');
      await page.click('[data-add-webhook]');
      // A wrong address is refused beside its field before anything is sent; no event chosen, too.
      await page.fill(input('[data-webhook-input="url"]'), 'crm.example.com');
      await page.click('[data-webhook-dialog] [data-submit]');
      await expect.poll(() => page.textContent('[data-webhook-dialog] [data-field="url"]')).toBe(en.webhooks.urlInvalid);
      expect(await page.textContent('[data-webhook-dialog] [data-field="events"]')).toBe(en.webhooks.chooseEvents);
      expect((await server.get('/v1/admin/webhooks')).body.webhooks).toEqual([]);
      await page.fill(input('[data-webhook-input="url"]'), receiver.url);
      await page.click('[data-webhook-event="member.registered"]');
      await page.click('[data-webhook-event="purchase.recorded"]');
      await page.click('[data-webhook-dialog] [data-submit]');
      // The secret, once, with its warning; the receiver checks signatures with it.
      await page.waitForSelector('[data-secret-dialog] [data-webhook-secret]');
      receiver.secret = await page.inputValue(input('[data-webhook-secret]'));
      expect(receiver.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
      expect(await page.textContent('[data-secret-warning]')).toContain(en.webhooks.secretWarning);
      await page.click('[data-secret-done]');
      const [hook] = (await server.get('/v1/admin/webhooks')).body.webhooks;
      expect(hook).toMatchObject({ url: receiver.url, events: ['member.registered', 'purchase.recorded'] });
      expect(await page.textContent(`[data-webhook-url="${hook.id}"]`)).toBe(receiver.url);
      await expect.poll(() => page.textContent(`[data-webhook-status="${hook.id}"]`)).toBe(en.webhooks.idle);

      // A member registers and buys: two signed deliveries, listed with their outcome and answer.
      expect((await server.post('/v1/members', { memberId: 'wendy', name: 'Wendy Wu', phone: '+852 5555 0199', email: 'wendy@example.com' })).status).toBe(201);
      expect((await server.post('/v1/purchases', { orderId: 'w-1', memberId: 'wendy', amountCents: 50000 })).status).toBeLessThan(300);
      await receiver.waitFor(() => receiver.received.length >= 2);
      expect(receiver.received.map((r) => [r.type, r.verified])).toEqual([['member.registered', true], ['purchase.recorded', true]]);
      const registered = receiver.received[0]!.id;
      await page.click(`[data-webhook-deliveries="${hook.id}"]`);
      await page.waitForSelector('[data-deliveries]');
      await expect.poll(() => page.textContent(`[data-delivery-outcome="${registered}"]`)).toBe(en.webhooks.outcomes.delivered);
      expect(await page.textContent(`[data-delivery-answer="${registered}"]`)).toBe('HTTP 200');
      const table = (await page.textContent('[data-delivery-table]'))!;
      expect(table).toContain(en.webhooks.eventNames.member_registered);
      expect(table).toContain(en.webhooks.eventNames.purchase_recorded);
      expect(table).toContain('wendy');

      // Sent again from the registration on: both events arrive a second time, with the same ids.
      await page.click(`[data-redeliver="${registered}"]`);
      await page.click('.el-message-box__btns .el-button--primary');
      await receiver.waitFor(() => receiver.received.length >= 4);
      expect(receiver.unique().map((r) => r.id)).toEqual(receiver.received.slice(0, 2).map((r) => r.id));
      await page.click('[data-refresh-deliveries]');
      await expect.poll(async () => (await page.$$(`[data-delivery-outcome="${registered}"]`)).length).toBe(2);
      await page.screenshot({ path: join(ARTIFACTS, 'console-en-5-webhooks.png'), fullPage: true });

      // Erase Wendy: the button works only once her number is typed back.
      await go(page, '#/members/wendy');
      await page.waitForSelector('[data-ledger] li');
      await page.click('[data-action="erase"]');
      await page.fill(input('[data-erase-confirm]'), 'wend');
      expect(await page.isDisabled('[data-erase-dialog] [data-submit]')).toBe(true);
      await page.fill(input('[data-erase-confirm]'), 'wendy');
      await submitDialog(page, '[data-erase-dialog]');
      await page.waitForSelector('[data-member-erased]');
      expect(await page.textContent('[data-member-erased]')).toBe(en.erasure.tag);
      expect(await page.textContent('[data-member-title]')).toBe(en.erasure.anonymous.replace('{id}', 'wendy'));
      const member = (await server.get('/v1/members/wendy')).body;
      expect(member).toMatchObject({ name: null, phone: null, email: null, erased: true });
      // Only the return of an earlier order stays open to her.
      for (const a of ['purchase', 'topup', 'withdraw', 'adjust', 'coupon', 'redeem', 'edit']) expect(await page.isDisabled(`[data-action="${a}"]`)).toBe(true);
      expect(await page.isDisabled('[data-action="return"]')).toBe(false);
      expect(await page.$('[data-action="erase"]')).toBeNull();
      const eraseRow = page.locator('[data-ledger] li[data-kind="member_erase"]');
      await eraseRow.waitFor();
      expect(await eraseRow.textContent()).toContain(en.ledger.member_erase);
      await page.click('#tab-profile');
      for (const f of ['name', 'phone', 'email', 'birthday', 'gender', 'address']) expect(await page.textContent(`[data-personal="${f}"]`)).toBe(en.erasure.field);
      expect(await page.content()).not.toMatch(/Wendy Wu|wendy@example\.com|55550199/);
      await page.screenshot({ path: join(ARTIFACTS, 'console-en-6-erased.png'), fullPage: true });
      // In the list: the erased tag, no personal data.
      await go(page, '#/members');
      await page.fill(input('[data-member-search]'), 'wendy');
      await page.click('[data-member-search-go]');
      await page.waitForSelector('[data-member-erased="wendy"]');
      expect(await page.textContent('[data-members]')).not.toContain('Wendy Wu');

      // The subscription deleted after a confirmation.
      await go(page, '#/webhooks');
      await expect.poll(() => page.textContent(`[data-webhook-status="${hook.id}"]`)).toBe(en.webhooks.healthy);
      await page.click(`[data-delete-webhook="${hook.id}"]`);
      await page.click('.el-message-box__btns .el-button--primary');
      await expect.poll(async () => (await server.get('/v1/admin/webhooks')).body.webhooks.length).toBe(0);

      // The audit trail: the walk's actions in order, each with the admin key's id, in words.
      await go(page, '#/audit');
      await page.waitForSelector('[data-audit-text="webhook.delete"]');
      const trail = await page.$$eval('[data-audit] li', (lis) => lis.map((li) => ['[datetime]', '[data-audit-key-id]', '[data-audit-row-action]', '[data-audit-text]'].map((sel) => li.querySelector(sel)!.textContent!.trim())));
      const walk = trail.filter((r) => [en.audit.actions.webhook_create, en.audit.actions.webhook_redeliver, en.audit.actions.member_erase, en.audit.actions.webhook_delete].includes(r[2]!));
      expect(walk.map((r) => [r[1], r[2]])).toEqual([
        [adminKeyId, en.audit.actions.webhook_create], [adminKeyId, en.audit.actions.webhook_redeliver],
        [adminKeyId, en.audit.actions.member_erase], [adminKeyId, en.audit.actions.webhook_delete],
      ]);
      expect(walk[0]![3]).toBe(`Webhook ${hook.id} added, sending to ${receiver.url}: Member registered, Purchase recorded`);
      expect(walk[1]![3]).toBe(`Webhook ${hook.id}: events sent again from event ${registered}`);
      expect(walk[2]![3]).toBe('Personal data of member wendy erased');
      expect(trail.some((r) => r[2] === en.audit.actions.program_change && r[3]!.includes('tiers[1].threshold'))).toBe(true);
      expect(trail.some((r) => r[2] === en.audit.actions.points_adjust && r[3]!.includes('Goodwill'))).toBe(true);
      expect(trail.some((r) => r[2] === en.audit.actions.import)).toBe(true);
      // Filtered by action: only the erasure.
      await page.click('[data-audit-action]');
      await page.click('[data-audit-action-option="member.erase"]');
      await page.click('[data-audit-apply]');
      await expect.poll(async () => (await page.$$('[data-audit] li')).length).toBe(1);
      expect(await page.textContent('[data-audit] li')).toContain('wendy');
      expect(await page.textContent('[data-audit] li')).toContain(en.roles.admin);
      await page.screenshot({ path: join(ARTIFACTS, 'console-en-7-audit.png'), fullPage: true });
      expect(await cspViolations(page)).toEqual([]);
      await page.context().close();

      // The same screens in both Chinese variants: titles, actions and the erased member in their words.
      for (const { code, words } of LOCALES.filter((l) => l.code !== 'en')) {
        const zh = await openPage();
        await signIn(zh, code, server.adminKey);
        expect(await zh.textContent('[data-nav="webhooks"]')).toBe(words.webhooks.nav);
        expect(await zh.textContent('[data-nav="audit"]')).toBe(words.audit.nav);
        await go(zh, '#/audit');
        await zh.waitForSelector('[data-audit-text="member.erase"]');
        expect(await zh.textContent('main h1')).toBe(words.audit.title);
        expect(await zh.textContent('[data-audit-row-action="member.erase"]')).toBe(words.audit.actions.member_erase);
        expect(await zh.textContent('[data-audit-text="member.erase"]')).toBe(words.audit.text.memberErase.replace('{member}', 'wendy'));
        await go(zh, '#/webhooks');
        await zh.waitForSelector('[data-webhooks]');
        expect(await zh.textContent('main h1')).toBe(words.webhooks.title);
        await zh.click('[data-add-webhook]');
        expect(await zh.textContent('[data-webhook-event="member.erased"]')).toContain(words.webhooks.eventNames.member_erased);
        await zh.keyboard.press('Escape');
        await go(zh, '#/members/wendy');
        await zh.waitForSelector('[data-member-erased]');
        expect(await zh.textContent('[data-member-erased]')).toBe(words.erasure.tag);
        expect(await zh.textContent('[data-ledger] li[data-kind="member_erase"]')).toContain(words.ledger.member_erase);
        await zh.screenshot({ path: join(ARTIFACTS, `console-${code}-6-erased.png`), fullPage: true });
        expect(await cspViolations(zh)).toEqual([]);
        await zh.context().close();
      }
    } finally {
      await receiver.stop();
    }
  });

  it('shows a reader key no write control', async () => {
    const page = await openPage();
    await signIn(page, 'en', readerKey);
    expect(await page.textContent('[data-role-tag]')).toBe(en.roles.reader);
    expect(await page.$('[data-nav="keys"]')).toBeNull();
    expect(await page.$('[data-nav="webhooks"]')).toBeNull();
    expect(await page.$('[data-nav="audit"]')).toBeNull();
    // Typed by hand, the admin screens' addresses land on the overview instead.
    await go(page, '#/webhooks');
    await page.waitForSelector('[data-nav="overview"][aria-current="page"]');
    expect(await page.$$('[data-add-webhook], [data-webhooks], [data-audit]')).toHaveLength(0);

    await go(page, '#/program/tiers');
    await page.waitForSelector('[data-threshold="1"] input');
    expect(await page.$('[data-preview]')).toBeNull();
    expect(await page.$('[data-add-tier]')).toBeNull();
    expect(await page.$('[data-add-reward]')).toBeNull();
    const editable = await page.evaluate("[...document.querySelectorAll('.program-view input')].filter((i) => !i.disabled && !i.readOnly).length");
    expect(editable).toBe(0);

    await go(page, '#/members');
    await page.waitForSelector('[data-member-link="grace"]');
    expect(await page.$('[data-register]')).toBeNull();
    await page.click('[data-member-link="grace"]');
    await page.waitForSelector('[data-ledger] li');
    // Grace holds a live wash card and a mug waiting to be picked up: a reader may neither use, adjust, hand over nor cancel.
    await page.waitForSelector('[data-uses-left="wash"]', { state: 'attached' });
    await page.waitForSelector('[data-redemption-state="rd-grace"]', { state: 'attached' });
    expect(await page.$$('[data-action], [data-return-order], [data-use-card], [data-adjust-card], [data-fulfil], [data-cancel]')).toHaveLength(0);
    // The member erased earlier: shown erased, without a write control either.
    await go(page, '#/members/wendy');
    await page.waitForSelector('[data-member-erased]');
    expect(await page.$$('[data-action], [data-return-order]')).toHaveLength(0);

    await go(page, '#/rewards/list');
    await page.waitForSelector('[data-stock-left="mug"]');
    expect(await page.$('[data-restock]')).toBeNull();
    await go(page, '#/rewards/lookup/rd-grace');
    await page.waitForSelector('[data-redemption]');
    expect(await page.$$('[data-fulfil], [data-cancel-redemption]')).toHaveLength(0);

    await go(page, '#/data');
    await page.waitForSelector('[data-export="members"]');
    expect(await page.$('[data-import]')).toBeNull();
    await page.screenshot({ path: join(ARTIFACTS, 'console-reader.png'), fullPage: true });
    expect(await cspViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('fits a 400-px phone: the menu folds away and nothing scrolls sideways', async () => {
    const page = await openPage(400, 800);
    await signIn(page, 'zh-HK', server.adminKey);
    await go(page, '#/members/grace');
    await page.waitForSelector('[data-ledger] li');
    expect(await page.isVisible('.sidebar')).toBe(false);
    expect(await page.isVisible('.menu-button')).toBe(true);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(400);
    await page.screenshot({ path: join(ARTIFACTS, 'console-phone.png'), fullPage: true });
    for (const [hash, ready] of [['#/webhooks', '[data-webhooks]'], ['#/audit', '[data-audit] li']] as const) {
      await go(page, hash);
      await page.waitForSelector(ready);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(400);
      await page.screenshot({ path: join(ARTIFACTS, `console-phone-${hash.slice(2)}.png`), fullPage: true });
    }
    await page.context().close();
  });
});
