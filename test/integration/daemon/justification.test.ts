/**
 * The justification loop and manager actions, end to end through the running daemon (in process):
 * real Redis, real SMTP (smtp-server + mailparser), the Slack Web API fake, and HTTP as a browser and
 * as Slack would speak it.
 *
 *   an alert whose rule asks why -> the accessor gets an email with a link and a Slack DM with buttons
 *   answering on the page -> a thread reply and a chat.update in Slack, a follow-up email in the
 *   managers' thread (In-Reply-To), the answer on the alert record; the link then answers 410
 *   expired link 410, forged link 403, cross-site or CSRF-less posts 403
 *   no answer within 2 s -> escalation email and Slack post, a thread reply to the managers
 *   Slack interactions: signed ones handled (manager buttons, the accessor's reason buttons),
 *   badly signed, stale or replayed ones 401; the email's alert page records a manager's call
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNTABILITY_QUEUE, escalateJobId } from '../../../src/queue/accountability-queue.ts';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  BANK_ITEM, BANK_RULE, buttonClick, CARD_RULE, CFO, CFO_SLACK, CISO, craftLink, FINANCE_CHANNEL, JO, linkIn, linkSecret, openForm,
  postSlackInteraction, SAM, SAM_SLACK, SECURITY_CHANNEL, submitForm, tokenOf, writeAccountabilityConfig,
} from '../../helpers/accountability.ts';
import { itemUsage, postIngest, runCli, startInProcess, type DaemonConfig, type InProcessDaemon } from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle, type SlackMessage } from '../../helpers/slack-server.ts';
import { startSmtp, type ReceivedMail, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const POLICY_FILE = 'policies/finance.yaml';

describe('justification loop and manager actions', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;
  let r: Redis;
  let store: AlertStore;

  beforeAll(async () => {
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack({ users: [SAM_SLACK] })]);
    cfg = await writeAccountabilityConfig({ redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token } });
    d = await startInProcess(cfg.configPath);
    r = redis.client();
    store = new AlertStore(r, new Keys(hashTagged('vaultwatch')));
  });
  afterAll(async () => {
    await d?.stop();
    await Promise.all([smtp?.close(), slack?.close()]);
    await redis?.stop();
    await cfg?.remove();
  });

  const mailTo = (address: string, pred: (m: ReceivedMail) => boolean = () => true) =>
    waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(address) && pred(m)), { timeoutMs: 20_000, message: () => `a mail to ${address}; have: ${smtp.messages.map((m) => `${m.envelope.to} ${m.parsed.subject}`).join(' | ')}` });
  const slackPost = (pred: (m: SlackMessage) => boolean, what: string) =>
    waitFor(() => slack.messages.find(pred), { timeoutMs: 20_000, message: () => `${what}; have: ${slack.messages.map((m) => `${m.channel} ${m.thread_ts ?? ''} ${m.text}`).join(' | ')}` });
  const blocksText = (m: SlackMessage) => JSON.stringify(m.blocks ?? []);
  /** A top-level message (the fake marks a parent with thread_ts = ts once it has replies). */
  const isTop = (m: SlackMessage) => !m.thread_ts || m.thread_ts === m.ts;

  /** Ingests one record and waits for the managers' email and Slack message of its alert. */
  async function alertFor(record: Record<string, unknown>, rule: string) {
    expect((await postIngest(d.url, record)).status).toBe(202);
    const id = alertId(record.uuid as string, POLICY_FILE, rule);
    const managerMail = await mailTo(CFO, (m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id && !m.parsed.inReplyTo);
    const managerPost = await slackPost((m) => m.channel === FINANCE_CHANNEL && isTop(m) && JSON.stringify(m.metadata ?? {}).includes(id), 'the alert in #finance-alerts');
    return { id, managerMail, managerPost };
  }

  let cardAlertId = '';
  let justifyLink = '';

  it('asks the accessor by email (link) and Slack DM (reason buttons); the managers\' messages carry the actions', async () => {
    const record = itemUsage({ user: SAM, action: 'reveal' });
    const { id, managerMail, managerPost } = await alertFor(record, CARD_RULE);
    cardAlertId = id;

    const ask = await mailTo(SAM.email, (m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id);
    expect(ask.parsed.subject).toMatch(/^Why did you use Company card\? \(answer by .+ America\/Toronto\)$/);
    justifyLink = linkIn(ask.parsed.text!, 'justify');
    expect(justifyLink.startsWith(`${d.url}/justify/`)).toBe(true);
    expect(ask.parsed.html).toContain(justifyLink);

    const dm = await slackPost((m) => m.channel === `D${SAM_SLACK.id.slice(1)}`, 'the DM to Sam');
    const buttons = (dm.blocks as { type: string; elements?: { action_id: string; value?: string; url?: string }[] }[]).find((b) => b.type === 'actions')!.elements!;
    expect(buttons.map((b) => b.action_id)).toEqual(['vw_justify_supplier', 'vw_justify_routine', 'vw_justify_testing', 'vw_justify_other']);
    expect(buttons[0]!.value).toBe(id);
    expect(buttons[3]!.url).toBe(justifyLink);

    // Managers: the email links to its own alert page; Slack has Expected / Investigating.
    expect(linkIn(managerMail.parsed.text!, 'alerts').startsWith(`${d.url}/alerts/`)).toBe(true);
    expect(blocksText(managerPost)).toContain('"action_id":"vw_ack_expected"');
    expect(blocksText(managerPost)).toContain(`"value":"${id}"`);

    // The deadline runs from the question: an escalation is waiting for it, 30 min out.
    const rec = await waitFor(async () => (await store.get(id))?.justification?.asked_via?.length === 2 && store.get(id));
    expect(rec!.justification).toMatchObject({ accessor: SAM.email, within_ms: 1_800_000 });
    expect(rec!.justification!.asked_via!.sort()).toEqual([`email:${SAM.email}`, `slack:@${SAM.email}`]);
    expect(Date.parse(rec!.justification!.deadline!) - Date.parse(rec!.justification!.asked_at!)).toBe(1_800_000);
    const q = new Queue(ACCOUNTABILITY_QUEUE, { connection: redis.client(), prefix: '{vaultwatch}' });
    await waitFor(async () => (await q.getJob(escalateJobId(id)))?.opts.delay);
    await q.close();
  });

  it('the page refuses posts without the anti-CSRF field, from another site, and with "Other" but no words', async () => {
    const page = await openForm(justifyLink);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.cookie).toMatch(/^vw_csrf=/);
    expect(page.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);
    for (const text of ['Company card', 'Finance', 'America/Toronto', 'revealed']) expect(page.html).toContain(text);

    expect((await submitForm(justifyLink, { reason: 'supplier' }, { cookie: page.cookie! })).status).toBe(403);
    expect((await submitForm(justifyLink, { reason: 'supplier', csrf: page.csrf! })).status).toBe(403); // no cookie
    expect((await submitForm(justifyLink, { reason: 'supplier', csrf: page.csrf! }, { cookie: page.cookie!, origin: 'https://evil.example' })).status).toBe(403);
    expect((await submitForm(justifyLink, { reason: 'supplier', csrf: page.csrf! }, { cookie: 'vw_csrf=aaaaaaaaaaaaaaaaaaaaaaaa' })).status).toBe(403);
    const noWords = await submitForm(justifyLink, { reason: 'other', text: ' ', csrf: page.csrf! }, { cookie: page.cookie! });
    expect(noWords.status).toBe(400);
    expect(noWords.html).toContain('required with');
    expect((await store.get(cardAlertId))?.justification?.answer).toBeUndefined();
  });

  it('answering on the page attaches the answer: Slack thread reply + chat.update, email follow-up with In-Reply-To; the link is then used up', async () => {
    const page = await openForm(justifyLink);
    const done = await submitForm(justifyLink, { reason: 'supplier', text: 'Invoice INV-2231 <b>', csrf: page.csrf! }, { cookie: page.cookie! });
    expect(done.status).toBe(200);
    expect(done.html).toContain('your answer was sent');
    expect(done.html).toContain('Invoice INV-2231 &lt;b&gt;');

    const rec = await waitFor(async () => (await store.get(cardAlertId))?.justification?.answer && store.get(cardAlertId));
    expect(rec!.justification!.answer).toMatchObject({ reason: 'supplier', reason_label: 'Paying a supplier / invoice', text: 'Invoice INV-2231 <b>', by: SAM.email, via: 'web' });

    const alertPost = slack.messages.find((m) => m.channel === FINANCE_CHANNEL && isTop(m) && JSON.stringify(m.metadata ?? {}).includes(cardAlertId))!;
    const reply = await slackPost((m) => m.thread_ts === alertPost.ts && m.ts !== alertPost.ts && (m.text ?? '').includes('Paying a supplier'), 'the answer in the alert\'s thread');
    expect(reply.channel).toBe(FINANCE_CHANNEL);
    expect(blocksText(reply)).toContain('Invoice INV-2231 &lt;b&gt;');
    await waitFor(() => slack.calls.some((c) => c.method === 'chat.update' && c.params.ts === alertPost.ts && JSON.stringify(c.params.blocks).includes('Answered by Sam Okafor')), { timeoutMs: 20_000, message: 'chat.update of the alert message with the answer' });
    expect(blocksText(alertPost)).toContain('Paying a supplier / invoice');
    expect(alertPost.edited).toBeDefined();

    const original = smtp.messages.find((m) => m.envelope.to.includes(CFO) && m.parsed.headers.get('x-vaultwatch-alert-id') === cardAlertId && !m.parsed.inReplyTo)!;
    const followUp = await mailTo(CFO, (m) => m.parsed.inReplyTo === original.parsed.messageId);
    expect(followUp.parsed.subject).toBe(`Re: ${original.parsed.subject}`);
    expect(followUp.parsed.references).toContain(original.parsed.messageId!);
    expect(followUp.parsed.text).toContain('Sam Okafor said why they revealed Company card: Paying a supplier / invoice');

    // The DM gives way to the answer.
    await waitFor(() => slack.messages.some((m) => m.channel === `D${SAM_SLACK.id.slice(1)}` && m.edited && blocksText(m).includes('Answer sent')), { message: 'the DM updated' });
    // The escalation was cancelled.
    const q = new Queue(ACCOUNTABILITY_QUEUE, { connection: redis.client(), prefix: '{vaultwatch}' });
    expect(await q.getJob(escalateJobId(cardAlertId))).toBeUndefined();
    await q.close();

    // Used: the page and the form both answer 410 and say so.
    const again = await openForm(justifyLink);
    expect(again.status).toBe(410);
    expect(again.html).toContain('Already answered');
    expect(again.html).toContain('Paying a supplier / invoice');
    expect((await submitForm(justifyLink, { reason: 'routine', csrf: page.csrf! }, { cookie: page.cookie! })).status).toBe(410);
    expect((await store.get(cardAlertId))?.justification?.answer?.reason).toBe('supplier');
  });

  it('an expired link answers 410, a forged one 403', async () => {
    const secret = await linkSecret(r);
    const expired = craftLink(d.url, secret, 'justify', cardAlertId, `email:${SAM.email}`, Date.now() - 1000);
    // Another alert's link (not used), expired:
    const unused = craftLink(d.url, secret, 'justify', 'neverusedalert000000000000', `email:${SAM.email}`, Date.now() - 1000);
    for (const link of [expired, unused]) {
      const page = await openForm(link);
      expect(page.status, link).toBe(expired === link ? 410 : 410);
    }
    const unusedPage = await openForm(unused);
    expect(unusedPage.html).toContain('This link has expired');

    const token = tokenOf(justifyLink);
    const forgedSig = `${d.url}/justify/${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    const otherSecret = craftLink(d.url, 'not-the-daemon-secret-000000000000', 'justify', cardAlertId, `email:${SAM.email}`, Date.now() + 3_600_000);
    for (const link of [forgedSig, otherSecret, `${d.url}/justify/garbage`, `${d.url}/justify/a/b.c`]) {
      const page = await openForm(link);
      expect(page.status, link).toBe(403);
      expect(page.html).toContain('This link is not valid');
      expect((await submitForm(link, { reason: 'supplier' })).status).toBe(403);
    }
    // An ack link does not open a justification page.
    const ack = craftLink(d.url, secret, 'ack', cardAlertId, `email:${CFO}`, Date.now() + 3_600_000).replace('/alerts/', '/justify/');
    expect((await openForm(ack)).status).toBe(403);
  });

  it('no answer within 2 s -> escalation email to escalate_to, a Slack post there, and a reply in the managers\' thread', async () => {
    const record = itemUsage({ user: JO, item: BANK_ITEM, action: 'reveal' });
    const { id, managerPost } = await alertFor(record, BANK_RULE);
    // Jo is not in the Slack directory: asked by email only.
    await mailTo(JO.email, (m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id);

    const escalation = await mailTo(CISO, (m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id);
    expect(escalation.parsed.subject).toContain('[ESCALATED] Jo Tremblay did not say why within 2 s');
    expect(escalation.parsed.text).toContain('Business bank account');
    expect(linkIn(escalation.parsed.text!, 'alerts').startsWith(`${d.url}/alerts/`)).toBe(true);

    const post = await slackPost((m) => m.channel === SECURITY_CHANNEL && isTop(m) && JSON.stringify(m.metadata ?? {}).includes(id), 'the escalation in #security');
    expect(blocksText(post)).toContain('Jo Tremblay did not say why within 2 s');
    expect(blocksText(post)).toContain('Business bank account');
    const reply = await slackPost((m) => m.thread_ts === managerPost.ts && m.ts !== managerPost.ts, 'the escalation in the alert thread');
    expect(reply.text).toContain('Jo Tremblay did not say why within 2 s');
    expect(reply.text).toContain(`email:${CISO}`);

    const rec = await waitFor(async () => (await store.get(id))?.justification?.escalated_at && store.get(id));
    expect(rec!.justification!.escalated_to).toEqual([`email:${CISO}`, `slack:${SECURITY_CHANNEL}`]);
    // The escalation went out once (a deterministic job, steps marked done).
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CISO) && m.parsed.headers.get('x-vaultwatch-alert-id') === id)).toHaveLength(1);
  });

  it('Slack interactions: a signed manager click is recorded, shown in Slack and in `vaultwatch alerts`; bad signatures, stale and replayed requests get 401', async () => {
    const alertPost = slack.messages.find((m) => m.channel === FINANCE_CHANNEL && isTop(m) && JSON.stringify(m.metadata ?? {}).includes(cardAlertId))!;
    const click = buttonClick('vw_ack_expected', cardAlertId, CFO_SLACK, { channel: alertPost.channel, ts: alertPost.ts });

    expect((await postSlackInteraction(d.url, click, { secret: 'not-the-signing-secret' })).status).toBe(401);
    expect((await postSlackInteraction(d.url, click, { atMs: Date.now() - 10 * 60_000 })).status).toBe(401);
    expect((await postSlackInteraction(d.url, click, { signature: 'v0=deadbeef' })).status).toBe(401);
    expect((await store.get(cardAlertId))?.actions).toBeUndefined();

    const ok = await postSlackInteraction(d.url, click);
    expect(ok.status).toBe(200);
    // The very same request again (a replay inside the window): refused, not recorded twice.
    const replay = await fetch(`${d.url}/slack/interactions`, { method: 'POST', headers: ok.headers, body: ok.body });
    expect(replay.status).toBe(401);

    const rec = await waitFor(async () => (await store.get(cardAlertId))?.actions?.length && store.get(cardAlertId));
    expect(rec!.actions).toEqual([expect.objectContaining({ action: 'expected', by: `slack:${CFO_SLACK.id}`, by_name: '@cfo', via: 'slack' })]);
    await waitFor(() => blocksText(alertPost).includes('Marked expected by @cfo at '), { timeoutMs: 20_000, message: () => `the alert message updated: ${blocksText(alertPost)}` });
    expect(blocksText(alertPost)).toContain('Answered by Sam Okafor');

    const cli = await runCli(['alerts', '--config', cfg.configPath]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('* Answered by Sam Okafor at');
    expect(cli.stdout).toContain('* Marked expected by @cfo at');
    expect(cli.stdout).toContain('America/Toronto');
  });

  it('the accessor\'s reason button in the DM answers like the page (only for the accessor); the emailed link is then used up', async () => {
    const record = itemUsage({ user: SAM, action: 'secure-copy' });
    const { id, managerPost } = await alertFor(record, CARD_RULE);
    const ask = await mailTo(SAM.email, (m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id);
    const link = linkIn(ask.parsed.text!, 'justify');
    await waitFor(async () => (await store.get(id))?.justification?.asked_via?.length === 2);

    // Someone else pressing Sam's button changes nothing.
    expect((await postSlackInteraction(d.url, buttonClick('vw_justify_routine', id, CFO_SLACK))).status).toBe(200);
    expect((await postSlackInteraction(d.url, buttonClick('vw_justify_routine', id, { id: SAM_SLACK.id, name: 'sam' }))).status).toBe(200);
    const rec = await waitFor(async () => (await store.get(id))?.justification?.answer && store.get(id));
    expect(rec!.justification!.answer).toMatchObject({ reason: 'routine', by: SAM.email, via: 'slack' });
    await slackPost((m) => m.thread_ts === managerPost.ts && (m.text ?? '').includes('Routine task'), 'the answer in the thread');

    const page = await openForm(link);
    expect(page.status).toBe(410);
    expect(page.html).toContain('Routine task');
  });

  it('the alert email\'s page records a manager\'s call (once), shown in Slack', async () => {
    const mail = smtp.messages.find((m) => m.envelope.to.includes(CFO) && m.parsed.headers.get('x-vaultwatch-alert-id') === cardAlertId && !m.parsed.inReplyTo)!;
    const link = linkIn(mail.parsed.text!, 'alerts');
    const page = await openForm(link);
    expect(page.status).toBe(200);
    expect(page.html).toContain('Answered by Sam Okafor');
    expect(page.html).toContain('Marked expected by @cfo');
    expect((await submitForm(link, { action: 'investigating' }, { cookie: page.cookie! })).status).toBe(403);
    const done = await submitForm(link, { action: 'investigating', comment: 'checking with AP', csrf: page.csrf! }, { cookie: page.cookie! });
    expect(done.status).toBe(200);
    expect(done.html).toContain('Marked investigating');

    const alertPost = slack.messages.find((m) => m.channel === FINANCE_CHANNEL && isTop(m) && JSON.stringify(m.metadata ?? {}).includes(cardAlertId))!;
    await waitFor(() => blocksText(alertPost).includes(`Marked investigating by ${CFO}`), { timeoutMs: 20_000, message: () => blocksText(alertPost) });
    const rec = await store.get(cardAlertId);
    expect(rec!.actions!.map((a) => `${a.action} ${a.by}`)).toEqual([`expected slack:${CFO_SLACK.id}`, `investigating email:${CFO}`]);
    expect(rec!.actions![1]!.comment).toBe('checking with AP');

    const again = await openForm(link);
    expect(again.status).toBe(410);
    expect(again.html).toContain('Already recorded');
  });
});
