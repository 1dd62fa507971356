/**
 * The dispatcher (src/queue/dispatch.ts) against a real Redis: records and jobs for routed alerts
 * (follow-ups, deferred, digests, covered alerts), idempotent on a re-run, and what the notification
 * workers get before a send (the thread, the occurrence, the first alert, a wait, a digest's content)
 * and after it (a digest's outcome on each alert in it).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Alert, PlannedDelivery } from '../../../src/domain/alert.ts';
import type { Target } from '../../../src/domain/target.ts';
import { digestId } from '../../../src/pipeline/route.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { Dispatcher, FOLLOWUP_WAIT_MS, type EmailFollowups } from '../../../src/queue/dispatch.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import { cardAlert } from '../../unit/notifiers/alert-fixture.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';

const NOW = Date.parse('2026-11-20T18:00:00Z');
const MONDAY = '2026-11-23T09:00:00.000Z';
const CFO: Target = { kind: 'email', address: 'cfo@example.com' };
const DESK: Target = { kind: 'slack', channel: '#cfo-desk' };
const TEAM: Target = { kind: 'slack', channel: '#finance-alerts' };
const SIEM: Target = { kind: 'webhook', name: 'siem' };
const AT = new Date(NOW).toISOString();

function plan(mode: 'defer' | 'digest', target: string, at = MONDAY): PlannedDelivery {
  return { mode, at, schedule: 'office-hours', zone: 'Europe/London', reason: `outside office-hours; ${mode}`, ...(mode === 'digest' ? { digest: digestId(target, Date.parse(at)) } : {}) };
}

describe('dispatcher', () => {
  let redis: RedisHandle;
  let r: Redis;
  let keys: Keys;
  let store: AlertStore;
  let followups: EmailFollowups;
  let dispatcher: Dispatcher;

  beforeAll(async () => {
    redis = await startRedis();
    r = redis.client();
    keys = new Keys(hashTagged('vaultwatch'));
    store = new AlertStore(r, keys, 3_600_000, () => NOW);
  });
  beforeEach(async () => {
    await r.flushall();
    followups = 'each';
    dispatcher = new Dispatcher({ redis: r, keys, store, retentionMs: 3_600_000, retryForMs: 60_000, now: () => NOW, emailFollowups: () => followups });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('a plain alert: one pending record and one job per target', async () => {
    const a = cardAlert({ targets: [CFO, TEAM] });
    const { records, jobs } = await dispatcher.dispatch([a], AT);
    expect(records).toEqual([{ alert: a, deliveries: [
      { target: 'email:cfo@example.com', attempts: 0, updated_at: AT, state: 'pending' },
      { target: 'slack:#finance-alerts', attempts: 0, updated_at: AT, state: 'pending' },
    ] }]);
    expect(jobs.map((j) => [j.purpose, j.target, j.delay_ms])).toEqual([['alert', CFO, undefined], ['alert', TEAM, undefined]]);
  });

  it('a dedup repeat: follow-up jobs for email and Slack, none for a webhook; email follow-ups can be turned off', async () => {
    const repeat = cardAlert({ id: 'repeat000000000000000000001', targets: [CFO, TEAM, SIEM], suppressed: true, follows: 'first00000000000000000001', occurrence: 3, dedup_key: 'jo:card' });
    let { records, jobs } = await dispatcher.dispatch([repeat], AT);
    expect(jobs.map((j) => [j.purpose, j.target.kind])).toEqual([['followup', 'email'], ['followup', 'slack']]);
    expect(records[0]!.deliveries.map((d) => [d.target, d.state, d.followup])).toEqual([
      ['email:cfo@example.com', 'pending', true], ['slack:#finance-alerts', 'pending', true], ['webhook:siem', 'suppressed', undefined],
    ]);
    expect(records[0]!.deliveries[0]!.reason).toBe('dedup: repeat of alert first00000000000000000001 (key jo:card); a follow-up in its thread');

    followups = 'none';
    ({ records, jobs } = await dispatcher.dispatch([repeat], AT));
    expect(jobs.map((j) => j.target.kind)).toEqual(['slack']);
    expect(records[0]!.deliveries[0]).toMatchObject({ state: 'suppressed', reason: 'dedup: repeat of alert first00000000000000000001 (key jo:card); email follow-ups are off (accountability.email_followups: none)' });
  });

  it('declarations and silences never notify, repeats included', async () => {
    const covered = cardAlert({ targets: [CFO], suppressed: true, follows: 'x', suppression: { kind: 'silence', id: 's1', author: 'a', reason: 'maintenance' } });
    const { records, jobs } = await dispatcher.dispatch([covered], AT);
    expect(jobs).toEqual([]);
    expect(records[0]!.deliveries).toEqual([{ target: 'email:cfo@example.com', attempts: 0, updated_at: AT, state: 'suppressed', reason: 'maintenance' }]);
  });

  it('defer: a delayed job due at the window, recorded deferred; a plan already due goes now', async () => {
    const a = cardAlert({ targets: [CFO, TEAM], delivery_plan: { 'email:cfo@example.com': plan('defer', 'email:cfo@example.com') } });
    const { records, jobs } = await dispatcher.dispatch([a], AT);
    expect(jobs[0]!.delay_ms).toBe(Date.parse(MONDAY) - NOW);
    expect(jobs[0]!.alert.reasons.at(-1)).toBe('held for your hours: outside office-hours; defer');
    expect(jobs[1]!.delay_ms).toBeUndefined();
    expect(records[0]!.deliveries[0]).toMatchObject({ state: 'deferred', planned_at: MONDAY, reason: 'outside office-hours; defer' });

    const late = cardAlert({ targets: [CFO], delivery_plan: { 'email:cfo@example.com': plan('defer', 'email:cfo@example.com', '2026-11-20T17:00:00.000Z') } });
    const again = await dispatcher.dispatch([late], AT);
    expect(again.jobs[0]!.delay_ms).toBeUndefined();
    expect(again.records[0]!.deliveries[0]!.state).toBe('pending');
  });

  it('digest: entries appended, ONE digest job and record per (recipient, window); a re-run changes nothing', async () => {
    const p = plan('digest', 'email:cfo@example.com');
    const a1 = cardAlert({ id: 'alert1', targets: [CFO, TEAM], delivery_plan: { 'email:cfo@example.com': p } });
    const a2 = cardAlert({ id: 'alert2', targets: [CFO], delivery_plan: { 'email:cfo@example.com': p } }, { time: '2026-11-20T17:00:00Z' });
    const run = () => dispatcher.dispatch([a1, a2], AT);
    const { records, jobs } = await run();
    const digestJobs = jobs.filter((j) => j.purpose === 'digest');
    expect(digestJobs).toHaveLength(1);
    expect(digestJobs[0]).toMatchObject({ target: CFO, delay_ms: Date.parse(MONDAY) - NOW, digest: { id: p.digest, recipient: 'email:cfo@example.com', at: MONDAY, schedule: 'office-hours', window_text: 'Mon 23 Nov 2026 09:00 Europe/London' } });
    expect(digestJobs[0]!.alert).toMatchObject({ id: p.digest, notice: { headline: 'Digest for email:cfo@example.com: alerts held until Mon 23 Nov 2026 09:00 Europe/London' } });
    expect(jobs.filter((j) => j.purpose === 'alert').map((j) => j.target)).toEqual([TEAM]);
    expect(records.map((x) => x.alert.id)).toEqual([p.digest, 'alert1', 'alert2']);
    expect(records[1]!.deliveries[0]).toMatchObject({ state: 'deferred', digest: p.digest, planned_at: MONDAY });

    // A re-run (crash before the ack) gives the same records and jobs; the digest holds each alert once.
    const again = await run();
    expect(again.jobs.map((j) => `${j.purpose} ${j.alert.id} ${j.target.kind}`)).toEqual(jobs.map((j) => `${j.purpose} ${j.alert.id} ${j.target.kind}`));
    const content = await dispatcher.digests.seal(digestJobs[0]!.digest!);
    expect(content.entries.map((e) => e.alert_id)).toEqual(['alert2', 'alert1']);

    // Sealed (being sent): an alert routed that late goes on its own, now, and says so.
    const a3 = cardAlert({ id: 'alert3', targets: [CFO], delivery_plan: { 'email:cfo@example.com': p } });
    const late = await dispatcher.dispatch([a3], AT);
    expect(late.jobs.map((j) => j.purpose)).toEqual(['alert']);
    expect(late.records[0]!.deliveries[0]).toMatchObject({ state: 'pending', reason: 'outside office-hours; digest; that digest was already sent, so this goes on its own' });
    // ...but one already in it stays in it.
    expect((await dispatcher.dispatch([a1], AT)).jobs.filter((j) => j.purpose === 'alert').map((j) => j.target)).toEqual([TEAM]);
  });

  describe('before a send (prepare)', () => {
    const repeat = (targets: Target[]): Alert => cardAlert({ id: 'repeat2', targets, suppressed: true, follows: 'first', occurrence: 2 });
    const firstRecord = async (deliveries: Parameters<AlertStore['record']>[0][number]['deliveries'], withDecision = true) => {
      const first = cardAlert({ id: 'first', targets: [CFO, TEAM] });
      await store.record([{ alert: first, deliveries }]);
      if (withDecision) await r.set(keys.decision(first.event.id), JSON.stringify([first]));
      return first;
    };

    it('a follow-up waits while the first message is pending, until after its planned time when deferred', async () => {
      await firstRecord([
        { target: 'slack:#finance-alerts', state: 'pending', attempts: 0, updated_at: AT },
        { target: 'email:cfo@example.com', state: 'deferred', attempts: 0, updated_at: AT, planned_at: new Date(NOW + 3_600_000).toISOString() },
      ]);
      const data = (t: Target) => ({ alert: repeat([t]), target: t, purpose: 'followup' as const, received_at: AT });
      expect(await dispatcher.prepare('slack', data(TEAM), Date.now())).toEqual({ waitMs: FOLLOWUP_WAIT_MS });
      const email = await dispatcher.prepare('email', data(CFO), Date.now());
      expect(email && 'waitMs' in email && email.waitMs).toBeGreaterThanOrEqual(3_600_000);
      // After retry_for (60 s here) it stops waiting and posts on its own (no thread).
      expect(await dispatcher.prepare('slack', data(TEAM), Date.now() - 61_000)).toEqual({ context: { occurrence: 2 } });
    });

    it('Slack: the first message\'s ts as the thread; top-level when the first failed for good; email: the first alert for the subject', async () => {
      const first = await firstRecord([
        { target: 'slack:#finance-alerts', state: 'delivered', attempts: 1, updated_at: AT, result: { id: '1700000000.000100', channel: 'C0FINANCE' } },
        { target: 'email:cfo@example.com', state: 'delivered', attempts: 1, updated_at: AT, result: { id: '<x@y>' } },
        { target: 'slack:#cfo-desk', state: 'failed', attempts: 3, updated_at: AT, reason: 'channel_not_found' },
      ]);
      const data = (t: Target) => ({ alert: repeat([t]), target: t, purpose: 'followup' as const, received_at: AT });
      expect(await dispatcher.prepare('slack', data(TEAM), Date.now())).toEqual({ context: { occurrence: 2 }, threadTs: '1700000000.000100' });
      expect(await dispatcher.prepare('slack', data(DESK), Date.now())).toEqual({ context: { occurrence: 2 } });
      expect(await dispatcher.prepare('email', data(CFO), Date.now())).toEqual({ context: { occurrence: 2, firstAlert: first } });
      // An alert that is not a follow-up needs nothing.
      expect(await dispatcher.prepare('slack', { alert: first, target: TEAM, purpose: 'alert', received_at: AT }, Date.now())).toBeUndefined();
    });

    it('a digest job gets the sealed content (no links); once delivered, every alert in it says so', async () => {
      const p = plan('digest', 'email:cfo@example.com');
      const a = cardAlert({ id: 'held1', targets: [CFO], delivery_plan: { 'email:cfo@example.com': p } });
      const d = await dispatcher.dispatch([a], AT);
      await store.record(d.records);
      const job = d.jobs.find((j) => j.purpose === 'digest')!;
      const prep = await dispatcher.prepare('email', job, Date.now());
      expect(prep && 'digest' in prep && prep.links).toBe(false);
      expect(prep && 'digest' in prep && prep.digest!.entries.map((e) => e.alert_id)).toEqual(['held1']);

      const m = r.multi();
      await dispatcher.settle(m, job, { target: 'email:cfo@example.com', state: 'delivered', attempts: 1, updated_at: AT, result: { id: '<digest@x>' }, digest: p.digest! });
      await m.exec();
      const held = await store.getDelivery('held1', 'email:cfo@example.com');
      expect(held).toEqual({ target: 'email:cfo@example.com', state: 'delivered', attempts: 1, updated_at: AT, digest: p.digest, reason: `sent in digest ${p.digest}` });
    });
  });
});
