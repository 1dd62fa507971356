/**
 * Recipients' hours end to end (daemon in process with an injected clock, real Redis, SMTP, the Slack
 * fake). The clock runs at real speed but "as if" it were a few seconds before Monday 09:00 in
 * Toronto, the start of the CFO's hours (`cfo-hours`), so a window opens a few seconds after ingest
 * without waiting for a real one.
 *
 *   deliver: defer   the CFO's email and the CFO's desk channel are held (BullMQ delayed jobs, records
 *                    `deferred` with the planned time) and go out when the window opens; the team
 *                    channel, which has no hours, gets the alert at once.
 *   deliver: digest  three alerts held for the CFO become ONE digest email and ONE digest Slack message
 *                    at the window start, listing all three; the team channel gets each at once.
 */
import { appendFile } from 'node:fs/promises';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { notifyJobId } from '../../../src/queue/notify.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  BANK_ITEM, CARD_ITEM, CFO, FINANCE_CHANNEL, itemUsage, JO, postIngest, SAM, startInProcess, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle, type SlackMessage } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { BANK_RULE, CARD_RULE, CFO_DESK, HOURS_POLICY, HOURS_SCHEDULE } from '../../helpers/hours.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const LEAD_MS = 4_000;
const POLICY_FILE = 'policies/finance.yaml';

describe('recipients\' hours: deferred and digest delivery', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;
  let store: AlertStore;
  let offset = 0;

  beforeAll(async () => {
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack()]);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token }, policies: { 'finance.yaml': HOURS_POLICY } });
    await appendFile(cfg.configPath, HOURS_SCHEDULE);
    d = await startInProcess(cfg.configPath, { clock: { now: () => Date.now() + offset } });
    store = new AlertStore(redis.client(), new Keys(hashTagged('vaultwatch')));
  });
  afterAll(async () => {
    await d?.stop();
    await Promise.all([smtp?.close(), slack?.close()]);
    await redis?.stop();
    await cfg?.remove();
  });

  /** From now on the daemon believes it is LEAD_MS before `windowIso`; returns when that is in real time. */
  function windowOpensSoon(windowIso: string): number {
    const realOpen = Date.now() + LEAD_MS;
    offset = Date.parse(windowIso) - realOpen;
    return realOpen;
  }
  const hasAlert = (m: SlackMessage, id: string) => (m.metadata?.event_payload as { alert_id?: string } | undefined)?.alert_id === id;

  it('defer: held for the CFO until the window opens (the clock, not the event time); the team channel at once', async () => {
    // Monday 16 March 2026 09:00 in Toronto (EDT) = 13:00Z.
    const realOpen = windowOpensSoon('2026-03-16T13:00:00Z');
    // Used on a weekday afternoon (inside the hours by the event's own time): what counts is the clock.
    const record = itemUsage({ user: SAM, item: CARD_ITEM, action: 'reveal', timestamp: '2026-03-13T15:00:00Z' });
    const id = alertId(record.uuid as string, POLICY_FILE, CARD_RULE);
    expect((await postIngest(d.url, record)).status).toBe(202);

    const held = await waitFor(async () => {
      const r = await store.get(id);
      return r && r.deliveries.filter((x) => x.state === 'deferred').length === 2 && r;
    }, { message: 'two deliveries deferred' });
    for (const target of [`email:${CFO}`, `slack:${CFO_DESK}`]) {
      const del = held.deliveries.find((x) => x.target === target)!;
      expect(del.planned_at).toBe('2026-03-16T13:00:00.000Z');
      expect(del.reason).toBe('outside cfo-hours (Mon-Fri 09:00-17:00) when it was routed; held until Mon 16 Mar 2026 09:00 America/Toronto');
    }
    // A BullMQ delayed job (it survives restarts), due at the window start.
    const q = new Queue('notify-email', { connection: redis.client(), prefix: '{vaultwatch}' });
    const job = await q.getJob(notifyJobId(id, { kind: 'email', address: CFO }));
    expect(await job!.getState()).toBe('delayed');
    expect(Math.abs(job!.timestamp + job!.opts.delay! - realOpen)).toBeLessThan(1_500);
    await q.close();

    // The team channel has no hours: at once, before the window.
    const team = await waitFor(() => slack.messages.find((m) => m.channel === FINANCE_CHANNEL && hasAlert(m, id)), { message: 'the alert in the team channel' });
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CFO))).toHaveLength(0);

    const mail = await waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(CFO)), { timeoutMs: 15_000, message: 'the CFO\'s email at the window start' });
    expect(mail.receivedAt.getTime()).toBeGreaterThanOrEqual(realOpen - 50);
    expect(mail.receivedAt.getTime()).toBeLessThan(realOpen + 8_000);
    expect(mail.parsed.headers.get('x-vaultwatch-alert-id')).toBe(id);
    expect(mail.parsed.text).toContain('held for your hours: outside cfo-hours (Mon-Fri 09:00-17:00) when it was routed; held until Mon 16 Mar 2026 09:00 America/Toronto');
    const desk = await waitFor(() => slack.messages.find((m) => m.channel === CFO_DESK && hasAlert(m, id)), { timeoutMs: 15_000, message: 'the CFO desk message' });
    expect(slack.calls.find((c) => c.method === 'chat.postMessage' && c.params.channel === CFO_DESK)!.time.getTime()).toBeGreaterThanOrEqual(realOpen - 50);
    expect(JSON.stringify(desk.blocks)).toContain('held for your hours');
    const done = await waitFor(async () => {
      const r = await store.get(id);
      return r && r.deliveries.every((x) => x.state === 'delivered') && r;
    }, { message: 'all delivered' });
    expect(done.deliveries).toHaveLength(3);
  });

  it('digest: three alerts held for the CFO make ONE email and ONE Slack message at the window start', async () => {
    smtp.clear();
    slack.clear();
    // The next Monday: a new window, a new digest.
    const realOpen = windowOpensSoon('2026-03-23T13:00:00Z');
    const records = [SAM, JO, SAM].map((user, i) => itemUsage({ user, item: BANK_ITEM, action: i === 1 ? 'secure-copy' : 'reveal', timestamp: `2026-03-21T0${i + 1}:30:00Z` }));
    const ids = records.map((r) => alertId(r.uuid as string, POLICY_FILE, BANK_RULE));
    expect((await postIngest(d.url, records)).status).toBe(202);

    const held = await waitFor(async () => {
      const rs = await Promise.all(ids.map((id) => store.get(id)));
      return rs.every((r) => r && r.deliveries.filter((x) => x.state === 'deferred').length === 2) && rs;
    }, { message: 'every alert held for the digest' });
    const digestIds = new Set(held.map((r) => r!.deliveries.find((x) => x.target === `email:${CFO}`)!.digest));
    expect(digestIds.size).toBe(1);
    const [digestId] = [...digestIds];
    expect(digestId).toMatch(/^dg[0-9a-f]{24}$/);
    // The digest itself is recorded, due at the window start.
    const digestRec = await store.get(digestId!);
    expect(digestRec!.deliveries).toEqual([expect.objectContaining({ target: `email:${CFO}`, state: 'deferred', planned_at: '2026-03-23T13:00:00.000Z' })]);

    // The team channel gets each alert at once.
    await waitFor(() => ids.every((id) => slack.messages.some((m) => m.channel === FINANCE_CHANNEL && hasAlert(m, id))), { timeoutMs: 15_000, message: 'three alerts in the team channel' });

    const mail = await waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(CFO)), { timeoutMs: 15_000, message: 'the digest email' });
    expect(mail.receivedAt.getTime()).toBeGreaterThanOrEqual(realOpen - 50);
    expect(mail.parsed.subject).toBe('[MEDIUM] Digest: 3 alerts held for your hours (cfo-hours)');
    expect(mail.parsed.headers.get('x-vaultwatch-alert-count')).toBe('3');
    expect(mail.parsed.text).toContain('your hours began Mon 23 Mar 2026 09:00 America/Toronto');
    for (const id of ids) expect(mail.parsed.text).toContain(`alert ${id}`);
    for (const s of ['Fri 20 Mar 2026 2', 'EDT (America/Toronto)', 'Bank account used', 'Business bank account', 'Sam Okafor (sam.okafor@example.com)', 'Jo Tremblay', 'copied', 'revealed', 'MEDIUM']) {
      expect(mail.parsed.text).toContain(s);
      expect(mail.parsed.html).toContain(s);
    }
    const desk = await waitFor(() => slack.messages.find((m) => m.channel === CFO_DESK), { timeoutMs: 15_000, message: 'the digest in the CFO desk channel' });
    expect(desk.text).toBe('[MEDIUM] Digest: 3 alerts held for your hours (cfo-hours)');
    expect((JSON.stringify(desk.blocks).match(/• /g) ?? []).length).toBe(3);

    // Exactly one of each, whatever happens next; every alert records the digest that carried it.
    const all = await waitFor(async () => {
      const rs = await Promise.all(ids.map((id) => store.get(id)));
      return rs.every((r) => r!.deliveries.every((x) => x.state === 'delivered')) && rs;
    }, { message: 'every alert delivered (in the digest)' });
    for (const r of all) {
      const viaDigest = r!.deliveries.filter((x) => x.digest);
      expect(viaDigest.map((x) => x.target).sort()).toEqual([`email:${CFO}`, `slack:${CFO_DESK}`]);
      expect(viaDigest.every((x) => x.reason?.startsWith('sent in digest dg') && x.result === undefined)).toBe(true);
    }
    expect((await store.get(digestId!))!.deliveries[0]!.state).toBe('delivered');
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CFO))).toHaveLength(1);
    expect(slack.messages.filter((m) => m.channel === CFO_DESK)).toHaveLength(1);
  });
});
