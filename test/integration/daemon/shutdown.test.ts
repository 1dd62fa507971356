/**
 * Graceful shutdown of the daemon process (daemon.md "Process"): on SIGTERM /readyz answers 503 at
 * once, intake stops (/ingest 503 + Retry-After), the sends in flight finish, connections close and
 * the process exits 0 within the grace period. Nothing is left active; the next start delivers the
 * rest, and nothing twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  CFO, FINANCE_VAULT, itemUsage, postIngest, startChild, usageBatch, writeDaemonConfig,
  type ChildDaemon, type DaemonConfig,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const GRACE_MS = 10_000; // the default grace period
const EVENTS = 30;
const POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: Europe/London
managers:
  - email: ${CFO}
rules:
  - name: Company card used
    match: { items: ["Company card*"], actions: [reveal, copy, fill] }
    severity: high
`;

describe('graceful shutdown (SIGTERM)', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let cfg: DaemonConfig;
  let child: ChildDaemon | undefined;

  beforeAll(async () => {
    [redis, smtp] = await Promise.all([startRedis({ appendonly: true, appendfsync: 'always' }), startSmtp()]);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, policies: { 'finance.yaml': POLICY } });
  });
  afterAll(async () => {
    await child?.kill('SIGKILL');
    await smtp?.close();
    await redis?.stop();
    await cfg?.remove();
  });

  it('503 at once, in-flight sends finish, exit 0 within the grace period; the next start delivers the rest once', async () => {
    const keys = new Keys(hashTagged('vaultwatch'));
    const r = redis.client();
    child = await startChild(cfg.configPath);
    const first = child;

    // Every send takes 800 ms at the server, so sends are in flight when the signal comes.
    smtp.setDelay(800);
    const records = usageBatch(EVENTS);
    const expected = new Set(records.map((x) => alertId(x.uuid as string, 'policies/finance.yaml', 'Company card used')));
    expect((await postIngest(first.url, records)).body).toMatchObject({ accepted: EVENTS });
    await smtp.waitForMessages(1, 15_000);

    // Poll /readyz every ~10 ms from just before the signal until the process is gone.
    const polls: { at: number; status: number }[] = [];
    let exited = false;
    const poller = (async () => {
      while (!exited) {
        const at = Date.now();
        let status = 0;
        try {
          status = (await fetch(`${first.url}/readyz`, { signal: AbortSignal.timeout(2_000) })).status;
        } catch {
          status = 0; // connection refused: the listener is closed
        }
        polls.push({ at, status });
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    await waitFor(() => polls.some((p) => p.status === 200), { message: 'ready before the signal' });

    const sigtermAt = Date.now();
    await first.kill('SIGTERM');
    // Intake stops while the daemon drains.
    await waitFor(() => polls.some((p) => p.at > sigtermAt && p.status === 503), { timeoutMs: 1_000, intervalMs: 5, message: '/readyz 503 after SIGTERM' });
    const refused = await postIngest(first.url, itemUsage());
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    const { code, signal } = await first.exited;
    const exitedAfterMs = Date.now() - sigtermAt;
    exited = true;
    await poller;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    console.info(`exited ${exitedAfterMs} ms after SIGTERM`);
    expect(exitedAfterMs).toBeLessThan(GRACE_MS);

    // /readyz: 503 from the first poll that started after the signal was handled, never 200 again;
    // answered (not refused) while the daemon drained.
    const after = polls.filter((p) => p.at >= sigtermAt + 50);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]!.status).toBe(503);
    expect(after.filter((p) => p.status === 200)).toEqual([]);
    expect(after.filter((p) => p.status === 503).length).toBeGreaterThan(1);

    // In flight at the signal, finished before the exit: nothing active, every send recorded.
    expect(await r.llen(`${keys.prefix}:notify-email:active`)).toBe(0);
    const sentBeforeExit = smtp.messages.length;
    expect(sentBeforeExit).toBeGreaterThan(1);
    expect(sentBeforeExit).toBeLessThan(EVENTS);
    const store = new AlertStore(r, keys);
    const delivered = (await store.list({ sinceMs: 0 })).filter((a) => a.deliveries.every((x) => x.state === 'delivered'));
    expect(delivered).toHaveLength(sentBeforeExit);
    expect(first.output()).toContain('"msg":"stopped"');

    // The next start delivers the rest, and nothing twice.
    smtp.setDelay(0);
    child = await startChild(cfg.configPath);
    await waitFor(() => new Set(smtp.messages.map((m) => m.parsed.messageId)).size === EVENTS, {
      timeoutMs: 20_000, message: () => `${EVENTS} distinct emails (have ${smtp.messages.length})`,
    });
    await waitFor(async () => (await store.list({ sinceMs: 0 })).every((a) => a.deliveries.every((x) => x.state === 'delivered')), { message: 'all recorded delivered' });
    await new Promise((res) => setTimeout(res, 300)); // deliberate: no second copy follows
    expect(smtp.messages).toHaveLength(EVENTS);
    expect(new Set(smtp.messages.map((m) => m.parsed.headers.get('x-vaultwatch-alert-id')))).toEqual(expected);
  }, 50_000);
});
