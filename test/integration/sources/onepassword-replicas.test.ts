/**
 * Two daemon processes on one Redis, both configured with the same 1Password source polling every
 * second: the fake sees about one round per second in all (the job scheduler produces one job per
 * interval, whichever replica takes it), never two rounds at once, and not twice the rounds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, writeDaemonConfig, type ChildDaemon, type DaemonConfig } from '../../helpers/daemon.ts';
import { addOnePasswordSource, startOnePasswordFake, type OnePasswordFake } from '../../helpers/onepassword-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const WINDOW_MS = 5_000;
const INTERVAL_MS = 1_000;

let redis: RedisHandle;
let fake: OnePasswordFake;
let cfg: DaemonConfig;
const children: ChildDaemon[] = [];

beforeAll(async () => {
  [redis, fake] = await Promise.all([startRedis(), startOnePasswordFake()]);
  // Each answer takes a while, so two rounds at once would overlap visibly.
  fake.responseDelayMs = 150;
  cfg = await writeDaemonConfig({ redisUrl: redis.url, logLevel: 'warn' });
  await addOnePasswordSource(cfg.configPath, { url: fake.url, token: fake.token(), poll_interval: '1s' });
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await fake?.close();
  await redis?.stop();
  await cfg?.remove();
});

describe('two replicas, one source', () => {
  it('about one round per interval in all, never two at once', async () => {
    children.push(...(await Promise.all([startChild(cfg.configPath), startChild(cfg.configPath)])));
    // Both replicas introspected their token at start-up: both really run the source.
    await fake.waitForRequests(2, (q) => q.path === '/api/v2/auth/introspect' && q.status === 200);

    const t0 = Date.now();
    await waitFor(() => fake.requests.some((q) => q.at >= t0 + WINDOW_MS), { timeoutMs: WINDOW_MS + 5_000, message: 'a request after the window' });
    const rounds = fake.requests.filter((q) => q.path === '/api/v2/itemusages' && q.at >= t0 && q.at < t0 + WINDOW_MS);
    // Idle rounds are one request each: rounds = requests.
    const perSecond = Array.from({ length: WINDOW_MS / 1000 }, (_, i) => rounds.filter((q) => q.at >= t0 + i * 1000 && q.at < t0 + (i + 1) * 1000).length);
    const expected = WINDOW_MS / INTERVAL_MS;
    expect(rounds.length, `rounds per second: ${perSecond.join(' ')}`).toBeGreaterThanOrEqual(expected - 1);
    expect(rounds.length, `rounds per second: ${perSecond.join(' ')}`).toBeLessThanOrEqual(expected + 1);
    for (const n of perSecond) expect(n).toBeLessThanOrEqual(2);
    // Never two rounds at once: each request was answered before the next one arrived.
    const all = fake.requests.filter((q) => q.path === '/api/v2/itemusages' && q.answeredAt !== undefined).sort((a, b) => a.at - b.at);
    for (let i = 1; i < all.length; i++) expect(all[i]!.at, `request ${i} overlaps the previous one`).toBeGreaterThanOrEqual(all[i - 1]!.answeredAt!);
    // Every round after the very first continues from the saved cursor.
    expect(all.slice(1).every((q) => Object.keys(q.body as object).join() === 'cursor')).toBe(true);
  });
});
