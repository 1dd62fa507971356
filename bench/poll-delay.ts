/**
 * Poll-to-alert delay: how long from the 1Password Events API serving a page that holds an event to
 * the alert email arriving at an SMTP server. The daemon runs in this process with the 1Password
 * source polling a local fake of the Events API every second, a private redis-server (AOF everysec)
 * and an in-process SMTP capture. One event at a time, so each sample is the quiet-system path:
 * page -> normalise -> intake stream -> evaluate -> notification job -> SMTP.
 *
 * Also printed: from the event being added to the fake to the email (adds the wait for the next poll,
 * on average half the interval).
 */
import pino from 'pino';
import { Daemon } from '../src/app/daemon.ts';
import { alertId } from '../src/domain/alert.ts';
import { CARD_ITEM, daemonEnv, itemUsage, writeDaemonConfig } from '../test/helpers/daemon.ts';
import { addOnePasswordSource, startOnePasswordFake } from '../test/helpers/onepassword-server.ts';
import { startRedis } from '../test/helpers/redis-server.ts';
import { startSmtp } from '../test/helpers/smtp-server.ts';

const SAMPLES = Number(process.env.BENCH_POLL_SAMPLES ?? 10);
const POLICY_FILE = 'policies/finance.yaml';
const RULE = 'Company card used';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function until(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function benchPollDelay(): Promise<void> {
  const [redis, smtp, fake] = await Promise.all([startRedis({ appendonly: true, appendfsync: 'everysec' }), startSmtp(), startOnePasswordFake()]);
  const cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, logLevel: 'fatal' });
  let daemon: Daemon | undefined;
  try {
    await addOnePasswordSource(cfg.configPath, { url: fake.url, token: fake.token(), poll_interval: '1s' });
    const servedAt = new Map<string, number>();
    fake.onServe = (_stream, items, at) => { for (const i of items) servedAt.set(String(i['uuid']), at); };
    daemon = await Daemon.start({ configPath: cfg.configPath, env: daemonEnv(), listen: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
    // The first round fixes the start (start_from: now); events come after it.
    await until(() => fake.pageRequests().length > 0, 15_000, 'the first poll');

    const served: number[] = [];
    const added: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const rec = itemUsage({ item: CARD_ITEM, timestamp: new Date().toISOString() });
      const id = alertId(rec.uuid as string, POLICY_FILE, RULE);
      const t0 = Date.now();
      fake.addItemUsages(rec);
      await until(() => smtp.messages.some((m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id), 15_000, `the email for sample ${i}`);
      const mail = smtp.messages.find((m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id)!;
      served.push(mail.receivedAt.getTime() - servedAt.get(rec.uuid as string)!);
      added.push(mail.receivedAt.getTime() - t0);
    }
    served.sort((a, b) => a - b);
    added.sort((a, b) => a - b);
    console.log('1Password poll-to-alert (fake Events API -> daemon in-process -> SMTP capture; poll_interval 1s)');
    console.log(`  page served -> email received: p50 ${percentile(served, 50)} ms, p90 ${percentile(served, 90)} ms, max ${served[served.length - 1]} ms (${SAMPLES} events, one at a time)`);
    console.log(`  event added -> email received: p50 ${percentile(added, 50)} ms, p90 ${percentile(added, 90)} ms, max ${added[added.length - 1]} ms (adds the wait for the next poll: about a whole interval here, as each event is added just after a poll)`);
  } finally {
    await daemon?.stop();
    await Promise.all([smtp.close(), fake.close()]);
    await redis.stop();
    await cfg.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchPollDelay();
  process.exit(0);
}
