/**
 * Hot reload in the running daemon: a policy file saved with an error leaves its last good version in
 * force (events still alert by the old rule), shows as `vaultwatch_config_file_ok{file} 0`, and the
 * vault's managers get one "Policy file did not load" notice per broken content; once fixed, the new
 * rules are in force.
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CFO, DEFAULT_POLICY, FINANCE_CHANNEL, itemUsage, metricsText, POLICY_ZONE, postIngest, startInProcess, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle, type SlackMessage } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle, type ReceivedMail } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';

const FILE = 'policies/finance.yaml';
const NOTICE_RULE = 'Policy file did not load';
// The edit renames the rule and makes it critical, with a typo in the severity: the file is broken.
const BROKEN = DEFAULT_POLICY.replace('- name: Company card used', '- name: Card touched').replace('severity: high', 'severity: extreme');
const FIXED = DEFAULT_POLICY.replace('- name: Company card used', '- name: Card touched').replace('severity: high', 'severity: critical');
const keys = new Keys(hashTagged('vaultwatch'));
const ruleOfMail = (m: ReceivedMail) => m.parsed.headers.get('x-vaultwatch-rule') as string;
const ruleOfPost = (m: SlackMessage) => (m.metadata!.event_payload as { rule: string }).rule;

describe('hot reload of a policy file', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;

  const fileOk = async () => /vaultwatch_config_file_ok\{file="policies\/finance\.yaml"\} (\d)/.exec(await metricsText(d.url))?.[1];

  beforeAll(async () => {
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack()]);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token } });
    d = await startInProcess(cfg.configPath);
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

  it('a broken edit keeps the last good version in force, shows in metrics, and tells the managers once', async () => {
    expect(BROKEN).not.toBe(DEFAULT_POLICY);
    await writeFile(cfg.policyPath('finance.yaml'), BROKEN);
    await waitFor(async () => (await fileOk()) === '0', { message: `vaultwatch_config_file_ok{file="${FILE}"} 0` });

    // One notice per manager target: the CFO's email and #finance-alerts.
    const [notice] = await smtp.waitForMessages(1);
    expect(notice!.envelope.to).toEqual([CFO]);
    expect(ruleOfMail(notice!)).toBe(NOTICE_RULE);
    expect(notice!.parsed.text).toContain(FILE);
    expect(notice!.parsed.text).toContain('last good version stays in force');
    expect(notice!.parsed.text).toMatch(/finance\.yaml:\d+:\d+: "extreme" is not one of/); // the error, with its place
    const [post] = await slack.waitForMessages(1);
    expect(post!.channel).toBe(FINANCE_CHANNEL);
    expect(ruleOfPost(post!)).toBe(NOTICE_RULE);
    // Recorded like any alert: listed with both deliveries done, and its records expire.
    const noticeId = notice!.parsed.headers.get('x-vaultwatch-alert-id') as string;
    const store = new AlertStore(redis.client(), keys);
    const rec = await waitFor(async () => {
      const r = await store.get(noticeId);
      return r && r.deliveries.length === 2 && r.deliveries.every((x) => x.state === 'delivered') && r;
    }, { message: 'the notice recorded with both deliveries delivered' });
    expect(rec.summary.rule).toBe(NOTICE_RULE);
    expect(await redis.client().pttl(keys.deliveries(noticeId))).toBeGreaterThan(0);

    // Saving the same broken content again does not tell them again.
    await writeFile(cfg.policyPath('finance.yaml'), `${BROKEN}\n`);
    await writeFile(cfg.policyPath('finance.yaml'), BROKEN);

    // The old rule is still in force.
    const record = itemUsage();
    expect((await postIngest(d.url, record)).body).toMatchObject({ accepted: 1 });
    const mails = await smtp.waitForMessages(2);
    expect(ruleOfMail(mails[1]!)).toBe('Company card used');
    expect(mails[1]!.parsed.headers.get('x-vaultwatch-severity')).toBe('high');
    await slack.waitForMessages(2, 10_000);
    expect(ruleOfPost(slack.messages[1]!)).toBe('Company card used');

    // A short, deliberate pause (longer than the reload debounce) to show that no second notice follows.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(smtp.messages.filter((m) => ruleOfMail(m) === NOTICE_RULE)).toHaveLength(1);
    expect(slack.messages.filter((m) => ruleOfPost(m) === NOTICE_RULE)).toHaveLength(1);
    expect(await fileOk()).toBe('0');
  }, 30_000);

  it('fixing the file puts the new rules in force', async () => {
    await writeFile(cfg.policyPath('finance.yaml'), FIXED);
    await waitFor(async () => (await fileOk()) === '1', { message: `vaultwatch_config_file_ok{file="${FILE}"} 1` });
    expect(await metricsText(d.url)).toMatch(/vaultwatch_config_last_reload_successful 1/);

    const record = itemUsage();
    expect((await postIngest(d.url, record)).body).toMatchObject({ accepted: 1 });
    const [mail] = await smtp.waitForMessages(1);
    expect(ruleOfMail(mail!)).toBe('Card touched');
    expect(mail!.parsed.headers.get('x-vaultwatch-severity')).toBe('critical');
    expect(mail!.parsed.text).toContain(POLICY_ZONE);
    const [post] = await slack.waitForMessages(1, 10_000);
    expect(ruleOfPost(post!)).toBe('Card touched');
  }, 30_000);
});
