/**
 * The 1Password source inside the real daemon:
 * - `node bin/vaultwatch.js start` polling the fake every second is SIGKILLed between two pages of a
 *   round (page 1 stored and its cursor saved, page 2 held by the fake); after a restart every event
 *   alerts exactly once (emails counted by Message-ID) and polling resumes from the saved cursor.
 * - A rejected token shows in /readyz and /metrics as a failed source with what to do, while the
 *   webhook keeps alerting; a good token again brings the source back by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { notifyJobId } from '../../../src/queue/notify.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import { cursorKey } from '../../../src/sources/onepassword/poller.ts';
import {
  CARD_ITEM, CFO, itemUsage, metricsText, postIngest, startChild, startInProcess, writeDaemonConfig,
  type ChildDaemon, type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { addOnePasswordSource, startOnePasswordFake, type OnePasswordFake } from '../../helpers/onepassword-server.ts';
import { loadEventsSpec } from '../../helpers/onepassword-spec.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const keys = new Keys(hashTagged('vaultwatch'));
const POLICY_FILE = 'policies/finance.yaml';
const RULE = 'Company card used';
const emailJob = (eventId: string) => notifyJobId(alertId(eventId, POLICY_FILE, RULE), { kind: 'email', address: CFO });

let redis: RedisHandle;
let smtp: SmtpHandle;
let fake: OnePasswordFake;

beforeAll(async () => {
  [redis, smtp, fake] = await Promise.all([startRedis(), startSmtp(), startOnePasswordFake({ pageCap: 3 })]);
});
afterAll(async () => {
  await Promise.all([smtp?.close(), fake?.close()]);
  await redis?.stop();
});

describe('daemon killed between two pages of a round', () => {
  let cfg: DaemonConfig;
  let child: ChildDaemon | undefined;
  afterAll(async () => {
    await child?.kill('SIGKILL');
    await cfg?.remove();
  });

  it('restarts from the saved cursor; every event alerts exactly once', async () => {
    const r = redis.client();
    await r.flushall();
    const token = fake.token();
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, logLevel: 'warn' });
    await addOnePasswordSource(cfg.configPath, { url: fake.url, token, poll_interval: '1s' });
    child = await startChild(cfg.configPath);
    // The first round fixes the start (start_from: now); events come after it.
    await fake.waitForRequests(1, (q) => q.path === '/api/v2/itemusages' && q.status === 200, 15_000);

    const gate = fake.holdAfter(1);
    const records = Array.from({ length: 6 }, () => itemUsage({ item: CARD_ITEM, timestamp: new Date().toISOString() }));
    fake.addItemUsages(...records);
    const page1 = (await fake.waitForRequests(1, (q) => (q.served?.length ?? 0) > 0, 10_000))[0]!;
    expect(page1.served).toEqual(records.slice(0, 3).map((x) => x.uuid));
    // Page 1 alerted and its sends are recorded; the poller has saved its cursor and asks for page 2.
    await smtp.waitForMessages(3, 15_000);
    await waitFor(async () => (await r.exists(...records.slice(0, 3).map((x) => keys.sent(emailJob(x.uuid as string))))) === 3, { message: 'sent markers of page 1' });
    await waitFor(() => fake.held() === 1, { message: 'page 2 requested and held' });
    expect(await r.get(keys.cursor(cursorKey('onepassword', 'itemusages')))).toBe(page1.cursor);

    await child.kill('SIGKILL');
    // The killed round's poll lock would block this source until it expires (at most 60 s: see the
    // report); fast-forward that expiry rather than wait a minute.
    const lock = keys.lock('poll:onepassword');
    const ttl = await r.pttl(lock);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await r.pexpire(lock, 1);
    gate.release();

    const afterKill = fake.requests.length;
    child = await startChild(cfg.configPath);
    const resumed = (await fake.waitForRequests(1, (q) => fake.requests.indexOf(q) >= afterKill && q.path === '/api/v2/itemusages' && q.status === 200, 20_000))[0]!;
    expect(resumed.body).toEqual({ cursor: page1.cursor });
    expect(resumed.served).toEqual(records.slice(3).map((x) => x.uuid));

    await smtp.waitForMessages(6, 20_000);
    // Settled: every send recorded and two more idle rounds gone by, and still exactly six emails.
    await waitFor(async () => (await r.exists(...records.map((x) => keys.sent(emailJob(x.uuid as string))))) === 6, { message: 'all sent markers' });
    const settled = fake.requests.length;
    await fake.waitForRequests(2, (q) => fake.requests.indexOf(q) >= settled && q.path === '/api/v2/itemusages', 10_000);
    const ids = smtp.messages.map((m) => m.parsed.messageId);
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(6);
    // One email per event: the alert ids they carry are exactly the six events' alerts.
    const alertIds = smtp.messages.map((m) => m.parsed.headers.get('x-vaultwatch-alert-id')).sort();
    expect(alertIds).toEqual(records.map((x) => alertId(x.uuid as string, POLICY_FILE, RULE)).sort());

    const spec = loadEventsSpec();
    for (const q of fake.requests) expect(spec.requestProblems(q)).toEqual([]);
    smtp.clear();
  });
});

describe('a rejected token', () => {
  let cfg: DaemonConfig;
  let d: InProcessDaemon | undefined;
  afterAll(async () => {
    await d?.stop();
    await cfg?.remove();
  });

  it('is a failed source in /readyz and /metrics with what to do; the webhook keeps alerting; a good token recovers by itself', async () => {
    await redis.client().flushall();
    smtp.clear();
    const token = fake.token();
    fake.revoke(token);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, logLevel: 'fatal' });
    await addOnePasswordSource(cfg.configPath, { url: fake.url, token, poll_interval: '1s', name: 'op-events' });
    d = await startInProcess(cfg.configPath);

    const ready = await fetch(`${d.url}/readyz`);
    expect(ready.status).toBe(200);
    const report = await ready.json() as { sources: { name: string; state: string; last_error?: string }[] };
    expect(report.sources.find((s) => s.name === 'op-events')).toMatchObject({
      state: 'failed', last_error: expect.stringMatching(/token rejected \(401 Unauthorized\): create a new Events Reporting token/),
    });
    expect(JSON.stringify(report)).not.toContain(token);
    expect(await metricsText(d.url)).toMatch(/vaultwatch_source_up\{source="op-events"\} 0/);

    // Other sources go on.
    const answer = await postIngest(d.url, itemUsage({ item: CARD_ITEM }));
    expect(answer.status).toBe(202);
    await smtp.waitForMessages(1);

    // Rounds keep checking the token (one introspection each), and pick up once it is good again.
    await fake.waitForRequests(2, (q) => q.path === '/api/v2/auth/introspect' && q.status === 401);
    fake.unrevoke(token);
    fake.addItemUsages(itemUsage({ item: CARD_ITEM, timestamp: new Date(Date.now() + 5_000).toISOString() }));
    await waitFor(async () => {
      const s = ((await (await fetch(`${d!.url}/readyz`)).json()) as typeof report).sources.find((x) => x.name === 'op-events');
      return s?.state === 'running';
    }, { timeoutMs: 15_000, message: 'op-events running again' });
    await smtp.waitForMessages(2);
    const metrics = await metricsText(d.url);
    expect(metrics).toMatch(/vaultwatch_source_up\{source="op-events"\} 1/);
    // Lag (event time vs received_at) is observed for the poller's events.
    expect(metrics).toMatch(/vaultwatch_source_lag_seconds_count\{source="op-events"\} 1/);
  });
});
