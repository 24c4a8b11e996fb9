// Screenshots of every screen of the admin console in both Chinese variants (繁體中文 and 简体中文),
// for the README and for reviewing the translations: `npm run console:shots [FOLDER]` (default
// console-shots/). It runs a server of its own on a scratch data folder, fills it with a small
// shop (members, purchases by three staff members, a return, top-ups, coupons, a campaign,
// referrals, rewards redeemed, a count card and its uses, two webhook subscriptions — one to a
// receiver of its own on loopback, one to a closed port, so both outcomes show — and a member
// erased) and drives Debian's
// Chromium (headless, playwright-core) at 1280×800. A CJK font must be installed for the Chinese
// to show (Debian: fonts-noto-cjk or fonts-wqy-microhei).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { chromium, type Page } from 'playwright-core';
import { PACKAGE_ROOT, ServerChild } from './server-child.js';

const CHROMIUM = '/usr/bin/chromium';
const VIEWPORT = { width: 1280, height: 800 };
/** Time for a screen's requests and charts to settle before its picture is taken. */
const SETTLE_MS = 900;
const LOCALES = ['zh-HK', 'zh-CN'] as const;
/** The shop's staff, named on its sales and card uses for the staff report. */
const STAFF = ['amy', 'ben', 'carol'];

/** A webhook receiver on loopback that takes every delivery (200), for the deliveries screen. */
async function startReceiver(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200).end('ok')); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/loyalty` };
}

/** A loopback port nothing listens on: deliveries to it are refused and retried. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function seed(server: ServerChild, receiverUrl: string): Promise<{ webhookId: string }> {
  const must = async (method: string, path: string, body?: unknown) => {
    const r = await server.request(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  // Subscribed first: a subscription hears of the entries written after it.
  const hook = await must('POST', '/v1/admin/webhooks', { url: receiverUrl, events: ['member.registered', 'member.tier_changed', 'purchase.recorded', 'return.recorded', 'member.erased'] });
  await must('POST', '/v1/admin/webhooks', { url: `http://127.0.0.1:${await closedPort()}/warehouse`, events: ['purchase.recorded'] });
  const { version: _version, ...program } = await must('GET', '/v1/program');
  program.name = '茶舍 Tea House';
  program.coupons = [
    { id: 'welcome10', name: '新會員 HK$10 優惠', discount: { amountCents: 1000 }, validDays: 30 },
    { id: 'autumn', name: '秋季九折', discount: { percentBps: 1000, maxCents: 5000 }, minSpendCents: 20000, validDays: 14, perMemberMax: 1 },
  ];
  program.couponRules = [{ id: 'welcome', trigger: 'register', templateId: 'welcome10' }];
  program.campaigns = [{ id: 'double-weekend', name: '週末雙倍積分', daysOfWeek: [6, 7], pointsMultiplierPct: 200, itemPoints: [{ sku: 'TEA-01', points: 50 }] }];
  program.rewards = [
    { id: 'mug', name: '品牌馬克杯', pointsCost: 200, stock: 30 },
    { id: 'tea-coupon', name: 'HK$10 茶飲券', pointsCost: 100, cashCents: 500, kind: 'coupon', couponTemplateId: 'welcome10', perMemberMax: 2 },
  ];
  program.products = [{ id: 'class-10', name: '茶藝課十堂', priceCents: 80000, includes: { card: { serviceId: 'tea-class', uses: 10, validDays: 365 } } }];
  program.staffCommissionBps = 300;
  program.referral = { enabled: true, refereePoints: 50, levels: [
    { registerPoints: 100, firstPurchasePoints: 300, repeatPurchasePoints: 30, purchaseSharePct: 10 },
    { registerPoints: 50, firstPurchasePoints: 100, repeatPurchasePoints: 10, purchaseSharePct: 5 },
  ] };
  await must('PUT', '/v1/program', program);
  const now = Date.now();
  const day = 86_400_000;
  const people: Array<[string, string, string | null]> = [
    ['chan', '陳大文', null], ['wong', '黃小美', 'chan'], ['lee', '李嘉欣', 'chan'], ['ho', '何志明', 'wong'],
    ['cheung', '張家輝', null], ['lam', '林淑儀', 'lee'], ['ng', '吳國強', null], ['tsang', '曾詠詩', null],
  ];
  for (const [i, [id, name, referrerId]] of people.entries()) {
    await must('POST', '/v1/members', { memberId: id, name, phone: `+852 9${String(1000000 + i * 1111).slice(0, 7)}`, staffId: STAFF[i % STAFF.length], ...(referrerId === null ? {} : { referrerId }), at: new Date(now - (40 - i) * day).toISOString() });
  }
  let n = 0;
  for (const [i, [id]] of people.entries()) {
    for (let k = 0; k <= i % 4; k++) {
      const at = new Date(now - ((i * 3 + k * 5) % 25) * day - 3_600_000).toISOString();
      await must('POST', '/v1/purchases', { orderId: `S${++n}`, memberId: id, amountCents: 18000 + ((i * 7919 + k * 104729) % 200000), storeId: k % 2 === 0 ? 'central' : 'tst', channel: 'offline', staffId: STAFF[n % STAFF.length], at });
    }
  }
  await must('POST', '/v1/returns', { returnId: 'R1', orderId: 'S1', amountCents: 5000 });
  await must('POST', '/v1/wallet/topups', { requestId: 'T1', memberId: 'chan', amountCents: 100000 });
  await must('POST', '/v1/coupons/issue', { requestId: 'C1', templateId: 'autumn', memberId: 'chan' });
  // The counter: points for a mug and a tea coupon, a mug handed over, a ten-class card and two classes.
  await must('POST', '/v1/points/adjustments', { requestId: 'A1', memberId: 'chan', points: 1000, reason: '開幕獎賞' });
  await must('POST', '/v1/points/adjustments', { requestId: 'A2', memberId: 'wong', points: 500, reason: '開幕獎賞' });
  await must('POST', '/v1/rewards/redemptions', { requestId: 'RD-0001', memberId: 'chan', rewardId: 'mug', storeId: 'central', staffId: 'amy' });
  await must('POST', '/v1/rewards/redemptions', { requestId: 'RD-0002', memberId: 'chan', rewardId: 'tea-coupon', quantity: 2 });
  await must('POST', '/v1/rewards/redemptions', { requestId: 'RD-0003', memberId: 'wong', rewardId: 'mug', storeId: 'tst' });
  await must('POST', '/v1/rewards/redemptions/RD-0003/fulfil', { storeId: 'tst', staffId: 'ben' });
  await must('POST', '/v1/product-purchases', { orderId: 'P1', memberId: 'chan', productId: 'class-10' });
  await must('POST', '/v1/cards/uses', { requestId: 'U1', memberId: 'chan', serviceId: 'tea-class', storeId: 'central', staffId: 'amy' });
  await must('POST', '/v1/cards/uses', { requestId: 'U2', memberId: 'chan', serviceId: 'tea-class', storeId: 'central', staffId: 'carol' });
  await must('POST', '/v1/admin/keys', { role: 'pos' });
  await must('POST', '/v1/admin/keys', { role: 'reader' });
  // A member who asked to be forgotten: the figures stay, the personal data goes.
  await must('POST', '/v1/members/tsang/erase', { requestId: 'erase-tsang' });
  await must('POST', '/v1/admin/sweep', {});
  return { webhookId: hook.id as string };
}

async function shoot(page: Page, folder: string, name: string, hash: string, before?: (page: Page) => Promise<void>): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  await page.waitForTimeout(SETTLE_MS);
  if (before !== undefined) { await before(page); await page.waitForTimeout(SETTLE_MS); }
  await page.screenshot({ path: join(folder, `${name}.png`) });
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package`);
  const folder = resolve(process.argv[2] ?? join(PACKAGE_ROOT, 'console-shots'));
  mkdirSync(folder, { recursive: true });
  let cjk = '';
  try { cjk = execFileSync('fc-list', [':lang=zh', 'family'], { encoding: 'utf8' }); } catch { /* no fontconfig */ }
  if (cjk.trim() === '') process.stderr.write('warning: no Chinese font found (fc-list :lang=zh); install fonts-noto-cjk or fonts-wqy-microhei\n');
  const dataDir = mkdtempSync(join(tmpdir(), 'loyalty-shots-'));
  const server = new ServerChild({ dataDir, env: { LOYALTY_SHARDS: '2' } });
  const receiver = await startReceiver();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    await server.start();
    const { webhookId } = await seed(server, receiver.url);
    for (const locale of LOCALES) {
      const context = await browser.newContext({ viewport: VIEWPORT, locale });
      const page = await context.newPage();
      await page.goto(server.url('/'));
      await page.click(`[data-locale="${locale}"]`);
      await page.screenshot({ path: join(folder, `${locale}-00-sign-in.png`) });
      await page.fill('#sign-in-key', server.adminKey);
      await page.click('[data-sign-in]');
      await page.waitForSelector('.shell');
      await page.waitForTimeout(4_500);
      await page.screenshot({ path: join(folder, `${locale}-01-overview.png`) });
      const tabs = ['tiers', 'points', 'wallet', 'referral', 'products', 'coupons', 'campaigns', 'rewards', 'general'];
      for (const [i, tab] of tabs.entries()) await shoot(page, folder, `${locale}-02-program-${i + 1}-${tab}`, `#/program/${tab}`);
      await shoot(page, folder, `${locale}-02-program-8-rewards-open`, '#/program/rewards', async (p) => { await p.click('[data-reward-form="1"] .el-collapse-item__header'); });
      await shoot(page, folder, `${locale}-02-program-9-preview`, '#/program/tiers', async (p) => {
        await p.fill(':is([data-threshold="1"] input)', '1,500');
        await p.click('[data-preview]');
        await p.waitForSelector('[data-what-if-result]');
      });
      await page.keyboard.press('Escape');
      await shoot(page, folder, `${locale}-03-members`, '#/members');
      await shoot(page, folder, `${locale}-04-member`, '#/members/chan');
      await shoot(page, folder, `${locale}-04-member-purchase`, '#/members/chan', async (p) => { await p.click('[data-action="purchase"]'); });
      await page.keyboard.press('Escape');
      await shoot(page, folder, `${locale}-04-member-rewards`, '#/members/chan', async (p) => { await p.click('#tab-rewards'); });
      await shoot(page, folder, `${locale}-04-member-cards`, '#/members/chan', async (p) => { await p.click('#tab-cards'); });
      await shoot(page, folder, `${locale}-04-member-redeem`, '#/members/chan', async (p) => { await p.click('[data-action="redeem"]'); });
      await page.keyboard.press('Escape');
      await shoot(page, folder, `${locale}-04-member-use-card`, '#/members/chan', async (p) => { await p.click('[data-action="useCard"]'); });
      await page.keyboard.press('Escape');
      await shoot(page, folder, `${locale}-08-rewards-list`, '#/rewards/list');
      await shoot(page, folder, `${locale}-08-rewards-report`, '#/rewards/report');
      await shoot(page, folder, `${locale}-08-rewards-lookup`, '#/rewards/lookup/RD-0001');
      await shoot(page, folder, `${locale}-05-report-daily`, '#/reports/daily');
      await shoot(page, folder, `${locale}-05-report-tiers`, '#/reports/tiers');
      await shoot(page, folder, `${locale}-05-report-rfm`, '#/reports/rfm', async (p) => { await p.click('[data-segment="hibernating"]'); });
      await shoot(page, folder, `${locale}-05-report-referrals`, '#/reports/referrals', async (p) => {
        await p.fill('input[data-referral-member]', 'chan');
        await p.keyboard.press('Enter');
      });
      await shoot(page, folder, `${locale}-05-report-coupons`, '#/reports/coupons');
      await shoot(page, folder, `${locale}-05-report-campaigns`, '#/reports/campaigns');
      await shoot(page, folder, `${locale}-05-report-staff`, '#/reports/staff');
      await shoot(page, folder, `${locale}-06-data`, '#/data', async (p) => {
        const csv = 'memberId,name,phone,birthday\nfung,馮小玲,9123 4567,4/3/1990\nyip,葉子健,12,1988-12-01\n';
        await p.setInputFiles('[data-import-file]', { name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
        await p.click('[data-import]');
        await p.waitForSelector('[data-import-result]');
      });
      await shoot(page, folder, `${locale}-04-member-erased`, '#/members/tsang', async (p) => { await p.click('#tab-profile'); });
      await shoot(page, folder, `${locale}-04-member-erase`, '#/members/cheung', async (p) => {
        await p.click('[data-action="erase"]');
        await p.fill(':is([data-erase-confirm] input, input[data-erase-confirm])', 'cheung');
      });
      await page.keyboard.press('Escape');
      await shoot(page, folder, `${locale}-07-keys`, '#/keys');
      await shoot(page, folder, `${locale}-09-webhooks`, `#/webhooks/${webhookId}`);
      await shoot(page, folder, `${locale}-09-webhooks-retrying`, '#/webhooks', async (p) => { await p.locator('[data-webhook-deliveries]').last().click(); });
      await shoot(page, folder, `${locale}-09-webhooks-new`, '#/webhooks', async (p) => {
        await p.click('[data-add-webhook]');
        await p.fill(':is([data-webhook-input="url"] input, input[data-webhook-input="url"])', 'https://crm.example.com/loyalty');
        await p.click('[data-webhook-event="member.tier_changed"]');
        await p.click('[data-webhook-event="points.expiring"]');
      });
      await page.keyboard.press('Escape');
      await shoot(page, folder, `${locale}-10-audit`, '#/audit');
      await context.close();
    }
    process.stdout.write(`screenshots of every screen in ${LOCALES.join(' and ')} written to ${folder}\n`);
  } finally {
    await browser.close();
    await server.stop();
    await new Promise<void>((resolve) => receiver.server.close(() => resolve()));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
