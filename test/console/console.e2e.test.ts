// The admin console in a real browser: Debian's Chromium, headless, driven by playwright-core
// against a real server. Enter the key, save an invalid program and see the field named, fix and
// save, search a member and read its ledger, see the tier chart. Screenshots go to test-artifacts/.
// Skipped only where Chromium is absent outside CI; in CI (CI set) it must run, and .ci/run installs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, ServerProcess } from '../helpers/server-process.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const UI_TIMEOUT_MS = 15_000;
const runnable = existsSync(CHROMIUM) || process.env['CI'] !== undefined;

describe.skipIf(!runnable)('admin console (Chromium)', () => {
  const server = new ServerProcess(ServerProcess.tempDataDir());
  const profile = mkdtempSync(join(tmpdir(), 'loyalty-chromium-'));
  let context: BrowserContext;
  let page: Page;
  let browser: Browser | null = null;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await server.start();
    const ok = async (path: string, body: unknown) => expect((await server.post(path, body)).status).toBeLessThan(300);
    await ok('/v1/members', { memberId: 'grace', name: 'Grace Hopper', phone: '+852 5555 0100' });
    await ok('/v1/members', { memberId: 'alan', name: 'Alan Turing' });
    await ok('/v1/purchases', { orderId: 'g-1', memberId: 'grace', amountCents: 120000 });
    await ok('/v1/wallet/topups', { requestId: 'g-t', memberId: 'grace', amountCents: 5000 });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
      viewport: { width: 1280, height: 1000 },
    });
    browser = context.browser();
    page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server.stop();
    server.cleanup();
    rmSync(profile, { recursive: true, force: true });
  });

  it('refuses a wrong key, then opens with the admin key', async () => {
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.fill('#key', 'll_admin_wrong');
    await page.click('#key-use');
    await expect.poll(() => page.textContent('#key-status')).toContain('not valid');
    expect(await page.isHidden('#panels')).toBe(true);
    await page.fill('#key', server.adminKey);
    await page.click('#key-use');
    await page.waitForSelector('#panels', { state: 'visible' });
    await expect.poll(() => page.inputValue('#program')).toContain('"timezone": "Asia/Hong_Kong"');
    expect(await page.evaluate("sessionStorage.getItem('loyalty.adminKey')")).toBe(server.adminKey);
    await page.screenshot({ path: join(ARTIFACTS, 'console-1-opened.png'), fullPage: true });
  });

  it('shows the field of an invalid program, then saves the fixed one', async () => {
    const original = await page.inputValue('#program');
    const doc = JSON.parse(original) as { tiers: Array<{ threshold: number }>; name: string };
    doc.tiers[2]!.threshold = -5;
    await page.fill('#program', JSON.stringify(doc, null, 2));
    await page.click('#program-save');
    await page.waitForSelector('#program-error', { state: 'visible' });
    expect(await page.getAttribute('#program-error', 'data-field')).toBe('tiers[2].threshold');
    expect(await page.textContent('#program-error')).toContain('tiers[2].threshold');
    await page.screenshot({ path: join(ARTIFACTS, 'console-2-program-error.png'), fullPage: true });
    expect((await server.get('/v1/program')).body.tiers[2].threshold).toBe(1_000_000);

    doc.tiers[2]!.threshold = 2_000_000;
    doc.name = 'Demo Store (edited)';
    await page.fill('#program', JSON.stringify(doc, null, 2));
    await page.click('#program-save');
    await expect.poll(() => page.textContent('#program-status')).toMatch(/Saved as version \d+/);
    expect(await page.isHidden('#program-error')).toBe(true);
    expect((await server.get('/v1/program')).body).toMatchObject({ name: 'Demo Store (edited)' });
  });

  it('finds a member by name prefix and shows its ledger', async () => {
    await page.fill('#member-q', 'Grace');
    await page.click('#member-search');
    await page.click('#member-results button[data-member-id="grace"]');
    await page.waitForSelector('#member-detail', { state: 'visible' });
    expect(await page.textContent('#member-title')).toBe('grace — Grace Hopper');
    await expect.poll(() => page.$$eval('#member-ledger tbody tr', (rows) => rows.map((r) => r.getAttribute('data-kind')))).toEqual(['topup', 'upgrade', 'purchase', 'register']);
    await page.screenshot({ path: join(ARTIFACTS, 'console-3-member.png'), fullPage: true });
  });

  it('draws members per tier and the points liability', async () => {
    await page.click('#summary-reload');
    await expect.poll(() => page.$$eval('#tier-chart .bar-row', (rows) => rows.map((r) => `${r.getAttribute('data-tier-id')}:${r.querySelector('.bar-value')!.textContent}`)))
      .toEqual(['member:1', 'silver:1', 'gold:0']);
    const widths = await page.$$eval('#tier-chart .bar', (bars) => bars.map((b) => b.getAttribute('style')));
    expect(widths).toEqual(['width: 100%;', 'width: 100%;', 'width: 0%;']);
    expect(await page.textContent('#liability')).toContain('points outstanding60');
    await expect.poll(() => page.textContent('#ops-rate'), { timeout: UI_TIMEOUT_MS }).toMatch(/^\d[\d,]*$/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-4-tiers.png'), fullPage: true });
  });
});
