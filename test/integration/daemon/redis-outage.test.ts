/**
 * Redis killed (SIGKILL) and restarted from its AOF (appendonly yes, appendfsync always) while events
 * flow into the daemon: nothing acknowledged is lost, nothing is doubled, /readyz turns non-200 within
 * 2 s of the kill and back to 200 by itself, and /ingest answers 503 + Retry-After meanwhile
 * (daemon.md "Ingest" and "Process").
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../../src/app/daemon.ts';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  CFO, daemonEnv, FINANCE_VAULT, itemUsage, postIngest, readyStatus, startInProcess, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

// Email only: Slack's one-message-per-second pacing would make hundreds of alerts take minutes.
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

interface ProducerStats {
  /** Event ids the daemon acknowledged (202): in a body it accepted, as new or as a duplicate. */
  acknowledged: Set<string>;
  sent: number;
  status503: number;
  retryAfter: Set<string>;
  otherErrors: string[];
}

/**
 * Posts a batch of 3 new events every few ms; on 503 it waits Retry-After and posts the same batch
 * again until it is accepted (as a well-behaved client does). Stops when `stop()` is called and its
 * last batch is through.
 */
function startProducer(url: string): { stats: ProducerStats; stop: () => Promise<void> } {
  const stats: ProducerStats = { acknowledged: new Set(), sent: 0, status503: 0, retryAfter: new Set(), otherErrors: [] };
  let running = true;
  const loop = (async () => {
    while (running) {
      const batch = [itemUsage(), itemUsage(), itemUsage()];
      for (;;) {
        let answer;
        try {
          answer = await postIngest(url, batch);
        } catch (err) {
          stats.otherErrors.push(String(err));
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        if (answer.status === 202) {
          for (const r of batch) stats.acknowledged.add(r.uuid as string);
          stats.sent += batch.length;
          break;
        }
        if (answer.status === 503) {
          stats.status503++;
          const ra = answer.headers.get('retry-after');
          stats.retryAfter.add(String(ra));
          await new Promise((r) => setTimeout(r, Number(ra) * 1000));
          continue;
        }
        stats.otherErrors.push(`HTTP ${answer.status}: ${JSON.stringify(answer.body)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return { stats, stop: async () => { running = false; await loop; } };
}

describe('Redis killed and restarted while events flow', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon;

  beforeAll(async () => {
    [redis, smtp] = await Promise.all([startRedis({ appendonly: true, appendfsync: 'always' }), startSmtp()]);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, policies: { 'finance.yaml': POLICY } });
    d = await startInProcess(cfg.configPath);
  });
  afterAll(async () => {
    await d?.stop();
    await smtp?.close();
    await redis?.stop();
    await cfg?.remove();
  });

  it('loses nothing, doubles nothing, and readiness follows Redis both ways', async () => {
    // Three producers, so the outage meets requests in flight and not just one client's backoff.
    const producers = [startProducer(d.url), startProducer(d.url), startProducer(d.url)];
    const producer = {
      stats: {
        get acknowledged() { return new Set(producers.flatMap((p) => [...p.stats.acknowledged])); },
        get status503() { return producers.reduce((n, p) => n + p.stats.status503, 0); },
        get retryAfter() { return new Set(producers.flatMap((p) => [...p.stats.retryAfter])); },
        get otherErrors() { return producers.flatMap((p) => p.stats.otherErrors); },
      },
      stop: () => Promise.all(producers.map((p) => p.stop())),
    };
    await smtp.waitForMessages(10, 15_000); // events flow end to end

    await redis.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => (await readyStatus(d.url)) !== 200, { timeoutMs: 2_000, intervalMs: 50, message: '/readyz non-200 within 2 s of the Redis kill' });
    const notReadyAfterMs = Date.now() - killedAt;

    // While Redis is down, /ingest stores nothing and says so.
    const refused = await postIngest(d.url, itemUsage());
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = await (await fetch(`${d.url}/readyz`)).json() as { ready: boolean; checks: { redis: { ok: boolean } } };
    expect(body).toMatchObject({ ready: false, checks: { redis: { ok: false } } });
    expect((await fetch(`${d.url}/healthz`)).status).toBe(200); // the process itself is fine
    // The producer hits the outage too (a request in flight at the kill may also have been refused).
    await waitFor(() => producer.stats.status503 > 0, { timeoutMs: 5_000, message: 'the producer saw a 503' });
    const acknowledgedDuringOutage = producer.stats.acknowledged.size;
    // The outage lasts about 3 s (a scenario parameter, not a wait for something): long enough for
    // ioredis to back off several times and for work in hand to hit it.
    await new Promise((r) => setTimeout(r, Math.max(0, killedAt + 3_000 - Date.now())));
    expect(producer.stats.acknowledged.size).toBe(acknowledgedDuringOutage); // nothing acknowledged while down

    await redis.restart(); // same port, same dir: the AOF is replayed
    await waitFor(async () => (await readyStatus(d.url)) === 200, { timeoutMs: 20_000, intervalMs: 100, message: '/readyz 200 again after the restart' });
    const readyAgainAfterMs = Date.now() - killedAt;

    // Events keep flowing after the restart, then the producer stops.
    await waitFor(() => producer.stats.acknowledged.size >= acknowledgedDuringOutage + 30, { timeoutMs: 20_000, message: 'ingest accepts again' });
    await producer.stop();
    const ids = [...producer.stats.acknowledged];
    expect(producer.stats.otherErrors).toEqual([]);
    expect([...producer.stats.retryAfter].every((v) => Number(v) > 0)).toBe(true);

    // Every acknowledged event -> exactly one email (counted by the stable Message-ID).
    const expected = new Set(ids.map((id) => alertId(id, 'policies/finance.yaml', 'Company card used')));
    // Most arrive at once; a job whose hand-over to the worker was cut by the crash (Redis applied
    // it, the reply was lost) sits "active" until its lock expires and the stalled check returns it
    // to the queue: up to ~25 s after the kill with the workers' 15 s lock and 5 s check.
    await waitFor(() => new Set(smtp.messages.map((m) => m.parsed.headers.get('x-vaultwatch-alert-id'))).size >= expected.size, {
      timeoutMs: 40_000,
      message: () => `${expected.size} distinct emails (have ${new Set(smtp.messages.map((m) => m.parsed.messageId)).size})`,
    });
    const got = smtp.messages.map((m) => m.parsed.headers.get('x-vaultwatch-alert-id') as string);
    expect(new Set(got)).toEqual(expected); // 0 lost, nothing unexpected
    const perMessageId = new Map<string, number>();
    for (const m of smtp.messages) perMessageId.set(m.parsed.messageId!, (perMessageId.get(m.parsed.messageId!) ?? 0) + 1);
    expect([...perMessageId].filter(([, n]) => n > 1)).toEqual([]); // 0 doubled
    expect(smtp.messages).toHaveLength(expected.size);

    // And the records agree: one alert per event, each delivered.
    const store = new AlertStore(redis.client(), new Keys(hashTagged('vaultwatch')));
    await waitFor(async () => {
      const list = await store.list({ sinceMs: 0, limit: 100_000 });
      return list.length === expected.size && list.every((r) => r.deliveries.every((x) => x.state === 'delivered'));
    }, { timeoutMs: 10_000, message: 'every alert recorded as delivered' });
    console.info(`redis outage: ${ids.length} events, ${producer.stats.status503} answers 503; not ready ${notReadyAfterMs} ms after the kill, ready again ${readyAgainAfterMs} ms after it`);
  }, 58_000);

  it('started while Redis is down: HTTP answers at once (/healthz 200, /readyz and /ingest 503), then ready by itself once Redis is up', async () => {
    const other = await startRedis();
    const otherCfg = await writeDaemonConfig({ redisUrl: other.url, smtpUrl: smtp.url, policies: { 'finance.yaml': POLICY } });
    await other.kill('SIGKILL');
    let late: Daemon | undefined;
    try {
      // Daemon.start resolves (HTTP listens) although Redis is unreachable.
      late = await Daemon.start({ configPath: otherCfg.configPath, env: daemonEnv(), listen: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
      const url = late.address!;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(await readyStatus(url)).toBe(503);
      const refused = await postIngest(url, itemUsage());
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBeTruthy();

      await other.restart();
      await waitFor(async () => (await readyStatus(url)) === 200, { timeoutMs: 15_000, intervalMs: 100, message: '/readyz 200 once Redis is up' });
      smtp.clear();
      const record = itemUsage();
      expect((await postIngest(url, record)).body).toMatchObject({ accepted: 1 });
      const [mail] = await smtp.waitForMessages(1);
      expect(mail!.parsed.headers.get('x-vaultwatch-alert-id')).toBe(alertId(record.uuid as string, 'policies/finance.yaml', 'Company card used'));
    } finally {
      await late?.stop();
      await other.stop();
      await otherCfg.remove();
    }
  }, 40_000);
});
