/**
 * The justification page in a real browser (headless Chromium through playwright-core; nothing is
 * downloaded: Debian's /usr/bin/chromium is driven). The accessor opens the link from the email the
 * SMTP helper captured, picks a reason, types, submits (a plain form post: no JavaScript on the page,
 * the anti-CSRF cookie and field as a browser really sends them), sees the confirmation, and the
 * answer reaches the managers' Slack thread. The link then answers 410, and so does an expired one.
 *
 * Screenshots of the page, the confirmation and a rendered alert email go to test/artifacts/ (not
 * committed; docs/screenshots/ holds reviewed copies for the README).
 *
 * Skipped, saying why, when /usr/bin/chromium is missing (CI installs it: see .ci/run).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { CARD_RULE, CFO, craftLink, FINANCE_CHANNEL, linkIn, linkSecret, SAM, SAM_SLACK, writeAccountabilityConfig } from '../../helpers/accountability.ts';
import { itemUsage, postIngest, startInProcess, type DaemonConfig, type InProcessDaemon } from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../artifacts');

if (!HAVE_CHROMIUM) {
  console.warn(`browser test skipped: ${CHROMIUM} not found (install it with: apt-get install -y chromium)`);
}

describe.skipIf(!HAVE_CHROMIUM)(`justification page in headless Chromium${HAVE_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} not found; apt-get install -y chromium)`}`, () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;
  let browser: Browser;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack({ users: [SAM_SLACK] })]);
    cfg = await writeAccountabilityConfig({ redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token } });
    d = await startInProcess(cfg.configPath);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    await mkdir(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await d?.stop();
    await Promise.all([smtp?.close(), slack?.close()]);
    await redis?.stop();
    await cfg?.remove();
  });

  it('open the emailed link, choose a reason, type, submit: confirmed, attached in Slack; the link is then refused, as is an expired one', async () => {
    // A use four minutes ago, as a live source would report it (the screenshots show realistic times).
    const record = itemUsage({ user: SAM, action: 'reveal', timestamp: new Date(Date.now() - 4 * 60_000).toISOString() });
    expect((await postIngest(d.url, record)).status).toBe(202);
    const id = alertId(record.uuid as string, 'policies/finance.yaml', CARD_RULE);
    const ask = await waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(SAM.email)), { timeoutMs: 20_000, message: 'the question to Sam' });
    const link = linkIn(ask.parsed.text!, 'justify');
    const alertPost = await waitFor(() => slack.messages.find((m) => m.channel === FINANCE_CHANNEL && JSON.stringify(m.metadata ?? {}).includes(id)), { timeoutMs: 20_000, message: 'the alert in Slack' });

    // No JavaScript: the page must work without it. A short viewport: full-page shots end with the content.
    const context = await browser.newContext({ viewport: { width: 760, height: 400 }, javaScriptEnabled: false });
    const page = await context.newPage();
    const opened = await page.goto(link);
    expect(opened?.status()).toBe(200);
    expect(await page.locator('h1').innerText()).toBe('Why did you reveal Company card?');
    expect(await page.locator('dl').innerText()).toContain('America/Toronto');
    await page.screenshot({ path: join(ARTIFACTS, 'justify-page.png'), fullPage: true });

    await page.getByLabel('Paying a supplier / invoice').check();
    await page.locator('textarea[name="text"]').fill('Invoice INV-2231 from Acme Ltd');
    await page.getByRole('button', { name: 'Send answer' }).click();
    await page.getByText('your answer was sent').waitFor();
    expect(await page.locator('blockquote').innerText()).toBe('Paying a supplier / invoice — “Invoice INV-2231 from Acme Ltd”');
    await page.screenshot({ path: join(ARTIFACTS, 'justify-done.png'), fullPage: true });

    // Attached to the managers' alert: a reply in its Slack thread and the message updated.
    await waitFor(() => slack.messages.some((m) => m.thread_ts === alertPost.ts && m.ts !== alertPost.ts && (m.text ?? '').includes('Invoice INV-2231 from Acme Ltd')), { timeoutMs: 20_000, message: 'the thread reply' });
    await waitFor(() => alertPost.edited && JSON.stringify(alertPost.blocks).includes('Answered by Sam Okafor'), { timeoutMs: 20_000, message: 'the chat.update' });

    // Opened again: refused, saying it was answered.
    const again = await page.goto(link);
    expect(again?.status()).toBe(410);
    expect(await page.locator('h1').innerText()).toBe('Already answered');

    // An expired link (another alert's, never used): refused, saying it expired.
    const expired = craftLink(d.url, await linkSecret(redis.client()), 'justify', 'otheralert0000000000000000', `email:${SAM.email}`, Date.now() - 60_000);
    const gone = await page.goto(expired);
    expect(gone?.status()).toBe(410);
    expect(await page.locator('h1').innerText()).toBe('This link has expired');
    await context.close();
  });

  it('renders the managers\' alert email (HTML part) legibly; its link opens the alert page with the answer', async () => {
    const mail = await waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(CFO) && !m.parsed.inReplyTo), { timeoutMs: 20_000, message: 'the alert email' });
    const page = await browser.newPage({ viewport: { width: 700, height: 400 } });
    await page.setContent(mail.parsed.html as string);
    expect(await page.locator('h1').innerText()).toContain('Sam Okafor revealed Company card');
    expect(await page.getByText('Open the alert').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'alert-email.png'), fullPage: true });

    // The manager's page: the alert, what the accessor answered, and the two calls.
    const opened = await page.goto(linkIn(mail.parsed.text!, 'alerts'));
    expect(opened?.status()).toBe(200);
    expect(await page.locator('ul.status').last().innerText()).toContain('Answered by Sam Okafor');
    await page.screenshot({ path: join(ARTIFACTS, 'alert-page.png'), fullPage: true });
    await page.getByRole('button', { name: 'Expected' }).click();
    await page.getByText('Marked expected by cfo@example.com').first().waitFor();
    await page.close();
  });
});
