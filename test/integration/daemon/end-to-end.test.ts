/**
 * The running daemon end to end, in process: POST /ingest -> intake stream -> evaluator -> alert
 * store -> notification jobs -> real SMTP (smtp-server + mailparser) and the Slack Web API fake,
 * driven by the real nodemailer and @slack/web-api clients. Each (alert, target) arrives once, says
 * what happened in the policy's time zone, and the alert listing shows it delivered.
 */
import { DateTime } from 'luxon';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  CARD_ITEM, CFO, FINANCE_CHANNEL, itemUsage, JO, POLICY_ZONE, postIngest, runCli, SAM, startInProcess, usageBatch, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const RULE = 'Company card used';
const POLICY_FILE = 'policies/finance.yaml';

describe('daemon end to end', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;
  let store: AlertStore;

  beforeAll(async () => {
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack()]);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token } });
    d = await startInProcess(cfg.configPath);
    store = new AlertStore(redis.client(), new Keys(hashTagged('vaultwatch')));
  });
  afterAll(async () => {
    await d?.stop();
    await Promise.all([smtp?.close(), slack?.close()]);
    await redis?.stop();
    await cfg?.remove();
  });
  beforeEach(() => {
    smtp.clear();
    slack.clear();
  });

  it('one matching event -> one email and one Slack message that name the item, person, action and time in the policy zone', async () => {
    const record = itemUsage({ user: SAM, action: 'secure-copy', timestamp: '2026-03-13T02:05:44.918Z' });
    const answer = await postIngest(d.url, record);
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ accepted: 1, duplicates: 0, rejected: [], skipped: 0 });

    const id = alertId(record.uuid as string, POLICY_FILE, RULE);
    const [mail] = await smtp.waitForMessages(1);
    const [post] = await slack.waitForMessages(1);

    // The time of use in America/Toronto (EDT on 12 March 2026), never UTC or the server's zone.
    const local = DateTime.fromISO('2026-03-13T02:05:44.918Z').setZone(POLICY_ZONE).setLocale('en-GB');
    const when = local.toFormat('ccc d LLL yyyy HH:mm'); // Thu 12 Mar 2026 22:05
    expect(when).toBe('Thu 12 Mar 2026 22:05');

    const p = mail!.parsed;
    expect(mail!.envelope.to).toEqual([CFO]);
    expect(p.to).toMatchObject({ value: [{ address: CFO }] });
    expect(p.subject).toContain('Company card');
    expect(p.subject).toContain('copied');
    expect(p.subject).toContain('Sam Okafor');
    expect(p.subject).toContain(`22:05 ${POLICY_ZONE}`);
    expect(p.headers.get('x-vaultwatch-alert-id')).toBe(id);
    expect(p.messageId).toMatch(new RegExp(`^<${id}\\.[A-Za-z0-9_-]+@vaultwatch\\.test>$`));
    for (const part of [p.text!, p.html as string]) {
      expect(part).toContain('Company card');
      expect(part).toContain('Sam Okafor');
      expect(part).toContain(SAM.email);
      expect(part).toContain('copied');
      expect(part).toContain(when);
      expect(part).toContain(POLICY_ZONE);
      expect(part).toContain('Finance');
      expect(part).toContain(RULE);
      expect(part).not.toContain('02:05'); // the UTC wall time appears nowhere
    }

    expect(post!.channel).toBe(FINANCE_CHANNEL);
    expect(post!.metadata).toEqual({ event_type: 'vaultwatch_alert', event_payload: expect.objectContaining({ alert_id: id, rule: RULE, severity: 'high', event_id: record.uuid }) });
    expect(Array.isArray(post!.blocks)).toBe(true);
    const blocks = JSON.stringify(post!.blocks);
    expect(blocks).toContain('Company card');
    expect(blocks).toContain('Sam Okafor');
    expect(blocks).toContain('copied');
    expect(blocks).toContain(when);
    expect(blocks).toContain(POLICY_ZONE);
    expect(post!.text).toContain('Company card');

    // The listing (what `vaultwatch alerts` prints) shows both deliveries done, with their ids.
    const rec = await waitFor(async () => {
      const r = await store.get(id);
      return r && r.deliveries.length === 2 && r.deliveries.every((x) => x.state === 'delivered') && r;
    }, { message: 'both deliveries recorded as delivered' });
    expect(rec.summary).toMatchObject({ rule: RULE, severity: 'high', item_id: CARD_ITEM });
    const byTarget = Object.fromEntries(rec.deliveries.map((x) => [x.target, x]));
    expect(byTarget[`email:${CFO}`]).toMatchObject({ state: 'delivered', attempts: 1, result: { id: p.messageId } });
    expect(byTarget[`slack:${FINANCE_CHANNEL}`]).toMatchObject({ state: 'delivered', attempts: 1, result: { id: post!.ts, channel: FINANCE_CHANNEL } });
    const listed = await store.list({ sinceMs: Date.now() - 3_600_000 });
    expect(listed.map((r) => r.id)).toContain(id);
    // And the command itself, as an operator runs it.
    const cli = await runCli(['alerts', '--config', cfg.configPath, '--json']);
    expect(cli.code).toBe(0);
    const fromCli = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; deliveries: { target: string; state: string }[] });
    expect(fromCli.find((r) => r.id === id)?.deliveries.map((x) => `${x.target} ${x.state}`).sort()).toEqual([`email:${CFO} delivered`, `slack:${FINANCE_CHANNEL} delivered`]);

    // Once each: a short, deliberate pause to show that no second copy follows.
    await new Promise((r) => setTimeout(r, 500));
    expect(smtp.messages).toHaveLength(1);
    expect(slack.messages).toHaveLength(1);
  });

  it('the same event posted 5 times in parallel -> one alert, one email, one Slack message', async () => {
    const record = itemUsage({ user: JO, action: 'reveal' });
    const answers = await Promise.all(Array.from({ length: 5 }, () => postIngest(d.url, record)));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    expect(answers.reduce((n, a) => n + a.body.accepted, 0)).toBe(1);
    expect(answers.reduce((n, a) => n + a.body.duplicates, 0)).toBe(4);

    const id = alertId(record.uuid as string, POLICY_FILE, RULE);
    await smtp.waitForMessages(1);
    await slack.waitForMessages(1);
    await waitFor(async () => (await store.get(id))?.deliveries.every((x) => x.state === 'delivered'), { message: 'deliveries recorded' });
    // Nothing more is coming: a short, deliberate pause to prove the absence of a second copy.
    await new Promise((r) => setTimeout(r, 500));
    expect(smtp.messages).toHaveLength(1);
    expect(smtp.messages[0]!.parsed.subject).toContain('revealed');
    expect(slack.messages).toHaveLength(1);
    expect((slack.messages[0]!.metadata!.event_payload as { alert_id: string }).alert_id).toBe(id);
    const alerts = (await store.list({ sinceMs: Date.now() - 3_600_000 })).filter((r) => r.summary.event_id === record.uuid);
    expect(alerts).toHaveLength(1);
  });

  it('a batch of 8 events (NDJSON) -> 8 emails and 8 Slack messages, each (alert, target) once', async () => {
    const records = usageBatch(8);
    const answer = await postIngest(d.url, records.map((r) => JSON.stringify(r)).join('\n'), { contentType: 'application/x-ndjson' });
    expect(answer.body).toMatchObject({ accepted: 8, duplicates: 0, rejected: [] });
    const ids = new Set(records.map((r) => alertId(r.uuid as string, POLICY_FILE, RULE)));
    await smtp.waitForMessages(8);
    // Slack paces itself to about one message per second per channel (daemon.md), so 8 take ~8 s.
    await slack.waitForMessages(8, 30_000);
    const mailIds = smtp.messages.map((m) => m.parsed.headers.get('x-vaultwatch-alert-id') as string);
    expect(new Set(mailIds)).toEqual(ids);
    expect(mailIds).toHaveLength(8);
    const postIds = slack.messages.map((m) => (m.metadata!.event_payload as { alert_id: string }).alert_id);
    expect(new Set(postIds)).toEqual(ids);
    expect(postIds).toHaveLength(8);
    // About one message per second per channel.
    // A job held back by pacing was never sent: it must not cost a channel-history read on return
    // (conversations.history is heavily rate limited for most apps).
    expect(slack.calls.filter((c) => c.method === 'conversations.history')).toHaveLength(0);
    const times = slack.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.time.getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(900);
  }, 45_000);
});
