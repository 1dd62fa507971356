/**
 * Timers that must outlive the process (child daemons, SIGKILL, restart):
 *
 *   a deferred notification (`deliver: defer`, the recipient outside their hours) is a BullMQ delayed
 *   job in Redis: the daemon is killed while it waits, restarted, and the email still goes out when
 *   the recipient's window opens, once. The child's clock is shifted (test/helpers/clock-daemon.ts)
 *   so the window opens seconds after the test starts; both runs share the shift.
 *
 *   a pending justification escalation (`justification: {ask: true, within: 3s, escalate_to}`): the
 *   daemon is killed right after asking, before the deadline, restarted, and the escalation still
 *   reaches `escalate_to`, no earlier than the deadline, once.
 */
import { appendFile } from 'node:fs/promises';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNTABILITY_QUEUE, escalateJobId } from '../../../src/queue/accountability-queue.ts';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { notifyJobId } from '../../../src/queue/notify.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  BANK_ITEM, CARD_ITEM, CFO, FINANCE_VAULT, itemUsage, JO, POLICY_ZONE, postIngest, SAM, startChild, writeDaemonConfig,
  type ChildDaemon, type DaemonConfig,
} from '../../helpers/daemon.ts';
import { CARD_RULE, HOURS_POLICY, HOURS_SCHEDULE } from '../../helpers/hours.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const POLICY_FILE = 'policies/finance.yaml';
const CISO = 'ciso@example.com';
const JUSTIFY_RULE = 'Bank account used';
const JUSTIFY_POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: ${POLICY_ZONE}
managers:
  - email: ${CFO}
rules:
  - name: ${JUSTIFY_RULE}
    match: { items: ["Business bank*"] }
    severity: critical
    justification: { ask: true, within: 3s, escalate_to: ["email:${CISO}"] }
`;

describe('timers survive a SIGKILL and a restart', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let cfg: DaemonConfig | undefined;
  let children: ChildDaemon[] = [];
  let store: AlertStore;

  beforeAll(async () => {
    // appendfsync always: what the killed daemon wrote is in Redis, as in production with AOF.
    [redis, smtp] = await Promise.all([startRedis({ appendonly: true, appendfsync: 'always' }), startSmtp()]);
    store = new AlertStore(redis.client(), new Keys(hashTagged('vaultwatch')));
  });
  afterEach(async () => {
    for (const c of children) await c.kill('SIGKILL');
    children = [];
    await cfg?.remove();
    cfg = undefined;
    await redis.client().flushall();
    smtp.clear();
  });
  afterAll(async () => {
    await smtp?.close();
    await redis?.stop();
  });

  async function start(opts: { clockOffsetMs?: number } = {}): Promise<ChildDaemon> {
    const c = await startChild(cfg!.configPath, opts);
    children.push(c);
    return c;
  }

  it('a deferred notification is held across the kill and delivered when the window opens, once', async () => {
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, policies: { 'finance.yaml': HOURS_POLICY }, logLevel: 'warn' });
    await appendFile(cfg.configPath, HOURS_SCHEDULE);
    // Both runs believe it is shortly before Monday 16 March 2026 09:00 Toronto (13:00Z), which comes
    // (in real time) at `realOpen`: long enough from now to start, ingest, kill and start again.
    const realOpen = Date.now() + 20_000;
    const clockOffsetMs = Date.parse('2026-03-16T13:00:00Z') - realOpen;

    const first = await start({ clockOffsetMs });
    const record = itemUsage({ user: SAM, item: CARD_ITEM, action: 'reveal' });
    const id = alertId(record.uuid as string, POLICY_FILE, CARD_RULE);
    expect((await postIngest(first.url, record)).status).toBe(202);
    const held = await waitFor(async () => (await store.get(id))?.deliveries.find((x) => x.target === `email:${CFO}` && x.state === 'deferred'), { message: 'the CFO email deferred' });
    expect(held.planned_at).toBe('2026-03-16T13:00:00.000Z');
    const q = new Queue('notify-email', { connection: redis.client(), prefix: '{vaultwatch}' });
    await waitFor(async () => (await q.getJob(notifyJobId(id, { kind: 'email', address: CFO })))?.getState().then((s) => s === 'delayed'), { message: 'a delayed email job' });

    await first.kill('SIGKILL');
    expect(first.proc.signalCode).toBe('SIGKILL');
    const second = await start({ clockOffsetMs });
    // The restart happened while the job was still waiting: what follows shows it fires on time.
    expect(Date.now()).toBeLessThan(realOpen);
    expect(smtp.messages).toHaveLength(0);

    const mail = await waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(CFO)), { timeoutMs: 40_000, message: () => `the deferred email; child output:\n${second.output().slice(-3000)}` });
    expect(mail.receivedAt.getTime()).toBeGreaterThanOrEqual(realOpen - 50);
    expect(mail.receivedAt.getTime()).toBeLessThan(realOpen + 10_000);
    expect(mail.parsed.headers.get('x-vaultwatch-alert-id')).toBe(id);
    expect(mail.parsed.text).toContain('held until Mon 16 Mar 2026 09:00 America/Toronto');
    const rec = await waitFor(async () => (await store.get(id))?.deliveries.find((x) => x.target === `email:${CFO}` && x.state === 'delivered'), { message: 'recorded delivered' });
    expect(rec.result?.id).toBe(mail.parsed.messageId);
    // Once: give the queue a moment to prove there is no second copy (the job is completed).
    await waitFor(async () => (await q.getJob(notifyJobId(id, { kind: 'email', address: CFO })))?.getState().then((s) => s === 'completed'), { message: 'the job completed' });
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CFO))).toHaveLength(1);
    await q.close();
  }, 70_000);

  it('a pending justification escalation fires after a kill and restart, not before its deadline, once', async () => {
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, policies: { 'finance.yaml': JUSTIFY_POLICY }, logLevel: 'warn' });
    const first = await start();
    const record = itemUsage({ user: JO, item: BANK_ITEM, action: 'reveal' });
    const id = alertId(record.uuid as string, POLICY_FILE, JUSTIFY_RULE);
    expect((await postIngest(first.url, record)).status).toBe(202);

    // Asked (by email: no Slack configured), and the escalation waits in Redis for the deadline.
    await waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(JO.email)), { timeoutMs: 15_000, message: 'the question to Jo' });
    const q = new Queue(ACCOUNTABILITY_QUEUE, { connection: redis.client(), prefix: '{vaultwatch}' });
    await waitFor(async () => (await q.getJob(escalateJobId(id)))?.getState().then((s) => s === 'delayed'), { message: 'the escalation job, delayed' });
    await first.kill('SIGKILL');
    const asked = (await store.get(id))!.justification!;
    const deadline = Date.parse(asked.deadline!);
    expect(deadline - Date.parse(asked.asked_at!)).toBe(3_000);
    expect(Date.now()).toBeLessThan(deadline + 1_000);
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CISO))).toHaveLength(0);

    const second = await start();
    const escalation = await waitFor(() => smtp.messages.find((m) => m.envelope.to.includes(CISO)), { timeoutMs: 30_000, message: () => `the escalation to the CISO; child output:\n${second.output().slice(-3000)}` });
    expect(escalation.receivedAt.getTime()).toBeGreaterThanOrEqual(deadline);
    expect(escalation.parsed.subject).toContain('did not say why within 3 s');
    expect(escalation.parsed.headers.get('x-vaultwatch-alert-id')).toBe(id);
    const rec = await waitFor(async () => (await store.get(id))?.justification?.escalated_at && store.get(id), { message: 'escalation recorded' });
    expect(rec!.justification!.escalated_to).toEqual([`email:${CISO}`]);
    await waitFor(async () => (await q.getJob(escalateJobId(id)))?.getState().then((s) => s === 'completed'), { message: 'the escalation job completed' });
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CISO))).toHaveLength(1);
    await q.close();
  }, 70_000);
});
