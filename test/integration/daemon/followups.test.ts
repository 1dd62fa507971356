/**
 * Dedup follow-ups end to end (daemon in process, real Redis, real SMTP, the Slack Web API fake): a
 * repeat inside the dedup window is kept and counted AND attached to the first alert, as a Slack
 * reply in the first message's thread and an email in the first email's thread, each saying which
 * occurrence it is. The three events arrive in one batch, so the follow-ups find the first message
 * not posted yet and have to wait for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  CFO, FINANCE_CHANNEL, FINANCE_VAULT, itemUsage, metricsText, POLICY_ZONE, postIngest, runCli, SAM, startInProcess, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle, type SlackMessage } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const RULE = 'Company card used';
const PAYROLL_VAULT = 'vwpayrollvault00000000000aa';
const SECURITY = 'security@example.com';
/** A vault whose only manager is Sam: when Sam uses it, the alert must reach someone else too. */
const PAYROLL_POLICY = `
vault: { id: ${PAYROLL_VAULT}, name: Payroll }
timezone: ${POLICY_ZONE}
managers:
  - email: ${SAM.email}
rules:
  - name: Payroll vault used
    severity: high
`;
const POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: ${POLICY_ZONE}
managers:
  - email: ${CFO}
  - slack: "${FINANCE_CHANNEL}"
rules:
  - name: ${RULE}
    match: { items: ["Company card*"], actions: [reveal, copy, fill] }
    severity: high
    dedup: { key: "{user}:{item}", window: 1h }
`;

describe('dedup follow-ups: Slack thread replies and threaded emails', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;
  let store: AlertStore;

  beforeAll(async () => {
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack()]);
    cfg = await writeDaemonConfig({
      redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token },
      policies: { 'finance.yaml': POLICY, 'payroll.yaml': PAYROLL_POLICY }, fallback: [`email:${SECURITY}`],
    });
    d = await startInProcess(cfg.configPath);
    store = new AlertStore(redis.client(), new Keys(hashTagged('vaultwatch')));
  });
  afterAll(async () => {
    await d?.stop();
    await Promise.all([smtp?.close(), slack?.close()]);
    await redis?.stop();
    await cfg?.remove();
  });

  it('a repeat is a reply in the first message\'s thread and an email in its thread, "(2nd)", "(3rd)"; all counted', async () => {
    // Three reveals of the card by Sam within 20 minutes: one alert, then two repeats.
    const records = [0, 10, 20].map((min) => itemUsage({ user: SAM, action: 'reveal', timestamp: new Date(Date.parse('2026-03-13T02:05:00Z') + min * 60_000).toISOString() }));
    const [first, second, third] = records.map((r) => alertId(r.uuid as string, 'policies/finance.yaml', RULE));
    expect((await postIngest(d.url, records)).status).toBe(202);

    const hasAlert = (m: SlackMessage, id: string) => (m.metadata?.event_payload as { alert_id?: string } | undefined)?.alert_id === id;
    const parent = await waitFor(() => slack.messages.find((m) => hasAlert(m, first!)), { timeoutMs: 20_000, message: 'the first alert in Slack' });
    expect(parent.channel).toBe(FINANCE_CHANNEL);
    const replies = await waitFor(() => {
      const r = slack.messages.filter((m) => hasAlert(m, second!) || hasAlert(m, third!));
      return r.length === 2 && r;
    }, { timeoutMs: 20_000, message: () => `two follow-ups in Slack; have ${slack.messages.map((m) => `${m.channel} ${m.ts} ${m.thread_ts ?? '-'} ${m.text}`).join(' | ')}` });
    for (const r of replies) {
      expect(r.channel).toBe(FINANCE_CHANNEL);
      expect(r.thread_ts).toBe(parent.ts);
      expect(r.ts).not.toBe(parent.ts);
    }
    expect(replies.find((m) => hasAlert(m, second!))!.text).toMatch(/^Again: Sam Okafor copied|^Again: Sam Okafor revealed/);
    expect(replies.find((m) => hasAlert(m, second!))!.text).toContain('(2nd)');
    expect(replies.find((m) => hasAlert(m, third!))!.text).toContain('(3rd)');
    // Exactly one top-level message for the series.
    expect(slack.messages.filter((m) => m.channel === FINANCE_CHANNEL && (!m.thread_ts || m.thread_ts === m.ts))).toHaveLength(1);

    const mails = await waitFor(() => smtp.messages.length >= 3 && smtp.messages, { timeoutMs: 20_000, message: 'three emails' });
    expect(mails).toHaveLength(3);
    const byId = (id: string) => mails.find((m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id)!;
    const original = byId(first!);
    expect(original.parsed.inReplyTo).toBeUndefined();
    for (const [id, nth] of [[second!, '2nd'], [third!, '3rd']] as const) {
      const f = byId(id);
      expect(f.envelope.to).toEqual([CFO]);
      expect(f.parsed.inReplyTo).toBe(original.parsed.messageId);
      expect([f.parsed.references].flat()).toContain(original.parsed.messageId);
      // The first alert's subject, so mail clients thread it by subject too.
      expect(f.parsed.subject).toBe(`Re: ${original.parsed.subject}`);
      expect(f.parsed.text).toContain(`Again (${nth} time): Sam Okafor revealed Company card.`);
    }

    // Kept and counted: suppressed by dedup in the records and the metrics, delivered as follow-ups.
    for (const id of [second!, third!]) {
      const rec = await waitFor(async () => {
        const r = await store.get(id);
        return r && r.deliveries.length === 2 && r.deliveries.every((x) => x.state === 'delivered') && r;
      }, { message: `both follow-ups of ${id} delivered` });
      expect(rec.follows).toBe(first);
      expect(rec.summary.suppressed).toBe(true);
      expect(rec.deliveries.every((x) => x.followup === true)).toBe(true);
      expect(rec.deliveries.find((x) => x.target === `slack:${FINANCE_CHANNEL}`)!.result?.id).not.toBe(parent.ts);
    }
    const firstRec = await store.get(first!);
    expect(firstRec!.deliveries.every((x) => x.state === 'delivered' && !x.followup)).toBe(true);
    const metrics = await metricsText(d.url);
    expect(metrics).toMatch(/vaultwatch_alerts_suppressed_total\{why="dedup"\} 2\b/);

    // The operator's view: `vaultwatch alerts` shows them as follow-ups of the first.
    const cli = await runCli(['alerts', '--config', cfg.configPath, '--since', '1h']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`(suppressed by dedup: follow-up of ${first})`);
    expect(cli.stdout).toMatch(/slack:#finance-alerts\s+delivered \(follow-up\)/);
    expect(cli.stdout).toMatch(/email:cfo@example\.com\s+delivered \(follow-up\)/);
  });

  it('separation of duties: the vault\'s only manager uses it -> the alert also goes to delivery.fallback, saying why', async () => {
    smtp.clear();
    const record = itemUsage({ user: SAM, vault: PAYROLL_VAULT, item: 'vwpayrollitem000000000000a', action: 'reveal' });
    const id = alertId(record.uuid as string, 'policies/payroll.yaml', 'Payroll vault used');
    expect((await postIngest(d.url, record)).status).toBe(202);
    const mails = await waitFor(() => smtp.messages.length >= 2 && smtp.messages, { timeoutMs: 20_000, message: 'two emails' });
    expect(mails.map((m) => m.envelope.to[0]).sort()).toEqual([SAM.email, SECURITY]);
    for (const m of mails) {
      expect(m.parsed.headers.get('x-vaultwatch-alert-id')).toBe(id);
      expect(m.parsed.text).toContain('Sam Okafor would have been the only recipient of this alert about their own use and the vault has no other manager: it also goes to delivery.fallback (separation of duties)');
    }
    const rec = await store.get(id);
    expect(rec!.summary.recipients.sort()).toEqual([`email:${SAM.email}`, `email:${SECURITY}`]);
  });
});
