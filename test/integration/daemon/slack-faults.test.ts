/**
 * Slack trouble seen from the running daemon (daemon.md "Delivery"): a 429 with Retry-After holds
 * that channel (and only that channel) for at least Retry-After and every message still arrives once;
 * `channel_not_found` is permanent (dead letter + fallback) while email still delivers once; a Slack
 * outage longer than `delivery.retry_for` ends in the dead letter and the fallback.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  CFO, FINANCE_CHANNEL, FINANCE_VAULT, itemUsage, POLICY_ZONE, postIngest, startInProcess, usageBatch, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const SECURITY = '#security';
const FALLBACK = 'security-team@example.com';
const RETRY_FOR_MS = 4_000;
const POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: ${POLICY_ZONE}
managers:
  - email: ${CFO}
  - slack: "${FINANCE_CHANNEL}"
rules:
  - name: Company card used
    match: { items: ["Company card*"], actions: [reveal, copy, fill] }
    severity: high
    notify: [managers, "slack:${SECURITY}"]
`;
const idOf = (r: Record<string, unknown>) => alertId(r.uuid as string, 'policies/finance.yaml', 'Company card used');
const alertOf = (m: { metadata?: { event_payload?: unknown } }) => (m.metadata!.event_payload as { alert_id: string }).alert_id;

describe('Slack faults', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;
  let store: AlertStore;
  let keys: Keys;

  beforeAll(async () => {
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack()]);
    cfg = await writeDaemonConfig({
      redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token },
      policies: { 'finance.yaml': POLICY }, fallback: [`email:${FALLBACK}`], retryFor: `${RETRY_FOR_MS / 1000}s`,
    });
    d = await startInProcess(cfg.configPath);
    keys = new Keys(hashTagged('vaultwatch'));
    store = new AlertStore(redis.client(), keys);
  });
  afterAll(async () => {
    await d?.stop();
    await Promise.all([smtp?.close(), slack?.close()]);
    await redis?.stop();
    await cfg?.remove();
  });
  beforeEach(async () => {
    await slack.up();
    smtp.clear();
    slack.clear();
    // Each test starts with no channel held back by an earlier test's pacing.
    const r = redis.client();
    const paced = await r.keys(`${keys.prefix}:pace:*`);
    if (paced.length) await r.del(...paced);
  });

  it('429 + Retry-After: that channel waits at least Retry-After, another channel is not held up, every message arrives once', async () => {
    slack.rateLimit('chat.postMessage', 1, 2, { channel: FINANCE_CHANNEL });
    const records = usageBatch(3);
    expect((await postIngest(d.url, records)).body).toMatchObject({ accepted: 3 });
    const ids = records.map(idOf).sort();

    await slack.waitForMessages(6, 20_000);
    await smtp.waitForMessages(3);
    const posts = slack.calls.filter((c) => c.method === 'chat.postMessage');
    const limited = posts.find((c) => c.status === 429)!;
    expect(limited.params.channel).toBe(FINANCE_CHANNEL);
    const t429 = limited.time.getTime();
    const nextSame = posts.find((c) => c.params.channel === FINANCE_CHANNEL && c.time.getTime() > t429)!;
    expect(nextSame.time.getTime() - t429).toBeGreaterThanOrEqual(2_000);
    // #security kept posting while #finance-alerts waited out its Retry-After.
    const otherDuring = posts.filter((c) => c.params.channel === SECURITY && c.status === 200 && c.time.getTime() > t429 && c.time.getTime() < t429 + 2_000);
    expect(otherDuring.length).toBeGreaterThanOrEqual(1);

    await waitFor(async () => {
      for (const id of ids) for (const t of [`slack:${FINANCE_CHANNEL}`, `slack:${SECURITY}`, `email:${CFO}`]) if ((await store.getDelivery(id, t))?.state !== 'delivered') return false;
      return true;
    }, { message: 'all nine deliveries recorded' });
    await new Promise((r) => setTimeout(r, 500)); // deliberate: no second copy follows
    const byChannel = (c: string) => slack.messages.filter((m) => m.channel === c).map(alertOf).sort();
    expect(byChannel(FINANCE_CHANNEL)).toEqual(ids);
    expect(byChannel(SECURITY)).toEqual(ids);
    expect(smtp.messages.map((m) => m.parsed.headers.get('x-vaultwatch-alert-id')).sort()).toEqual(ids);
    // The rate limit did not spend an attempt, and nothing was dead-lettered.
    const limitedLog = (await Promise.all(ids.map((id) => store.attempts(id)))).flat().filter((a) => a.outcome === 'rate_limited');
    expect(limitedLog).toHaveLength(1);
    expect(limitedLog[0]!.target).toBe(`slack:${FINANCE_CHANNEL}`);
    for (const id of ids) expect((await store.getDelivery(id, `slack:${FINANCE_CHANNEL}`))!.attempts).toBe(1);
    expect(await redis.client().llen(keys.deadDeliveries)).toBe(0);
  }, 30_000);

  it('channel_not_found is permanent: dead letter + fallback; the other channel and email still deliver once', async () => {
    slack.errorNext('chat.postMessage', 1, 'channel_not_found');
    const record = itemUsage();
    await postIngest(d.url, record);
    const id = idOf(record);

    const refused = (await slack.waitForCalls('chat.postMessage', 1)).find((c) => c.error === 'channel_not_found')!;
    const bad = String(refused.params.channel);
    const good = bad === FINANCE_CHANNEL ? SECURITY : FINANCE_CHANNEL;

    const failed = await waitFor(async () => {
      const x = await store.getDelivery(id, `slack:${bad}`);
      return x?.state === 'failed' && x;
    }, { message: `slack:${bad} recorded as failed` });
    expect(failed.attempts).toBe(1);
    expect(failed.reason).toContain('channel_not_found');
    const dead = (await redis.client().lrange(keys.deadDeliveries, 0, -1)).map((s) => JSON.parse(s) as Record<string, string>);
    expect(dead.filter((x) => x.alert_id === id)).toEqual([expect.objectContaining({ target: `slack:${bad}`, reason: expect.stringContaining('channel_not_found') })]);

    // Two emails: the CFO's, and the fallback's (which says why it came to them).
    const mails = await smtp.waitForMessages(2);
    const to = (addr: string) => mails.filter((m) => m.envelope.to.includes(addr));
    expect(to(CFO)).toHaveLength(1);
    expect(to(FALLBACK)).toHaveLength(1);
    expect(to(FALLBACK)[0]!.parsed.text).toContain(`could not be delivered to slack:${bad}`);
    const [post] = await slack.waitForMessages(1);
    expect(post!.channel).toBe(good);
    expect(alertOf(post!)).toBe(id);
    await new Promise((r) => setTimeout(r, 300)); // deliberate: nothing else follows
    expect(slack.messages).toHaveLength(1);
    expect(smtp.messages).toHaveLength(2);
    // Never retried: one refused call to that channel.
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && c.params.channel === bad)).toHaveLength(1);
  });

  it('Slack unreachable for longer than delivery.retry_for: both channels dead-lettered, the fallback gets the alert once, email unaffected', async () => {
    await slack.down();
    const record = itemUsage();
    await postIngest(d.url, record);
    const id = idOf(record);
    const [cfoMail] = await smtp.waitForMessages(1); // email is not held up by Slack
    expect(cfoMail!.envelope.to).toEqual([CFO]);

    const failed = await waitFor(async () => {
      const a = await store.getDelivery(id, `slack:${FINANCE_CHANNEL}`);
      const b = await store.getDelivery(id, `slack:${SECURITY}`);
      return a?.state === 'failed' && b?.state === 'failed' && [a, b];
    }, { timeoutMs: RETRY_FOR_MS + 15_000, message: 'both Slack deliveries failed for good' });
    for (const f of failed) {
      expect(f.reason).toMatch(/^gave up after \d+ attempts/);
      expect(f.attempts).toBeGreaterThan(1);
    }
    const dead = (await redis.client().lrange(keys.deadDeliveries, 0, -1)).map((s) => JSON.parse(s) as Record<string, string>);
    expect(dead.filter((x) => x.alert_id === id).map((x) => x.target).sort()).toEqual([`slack:${FINANCE_CHANNEL}`, `slack:${SECURITY}`].sort());
    // The fallback target is a target like any other: it gets the alert once (one notification per
    // (alert, target)), naming the delivery that failed first.
    const mails = await smtp.waitForMessages(2);
    const fallback = mails.filter((m) => m.envelope.to.includes(FALLBACK));
    expect(fallback).toHaveLength(1);
    expect(fallback[0]!.parsed.headers.get('x-vaultwatch-alert-id')).toBe(id);
    expect(fallback[0]!.parsed.text).toMatch(/could not be delivered to slack:#(finance-alerts|security)/);
    await slack.up();
    await new Promise((r) => setTimeout(r, 500)); // deliberate: a dead-lettered job is not sent after all
    expect(slack.messages).toHaveLength(0);
    expect(smtp.messages).toHaveLength(2);
  }, 30_000);
});
