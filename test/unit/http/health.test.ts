import { describe, expect, it } from 'vitest';
import { buildTestApp, readyReport, sample } from './helpers.ts';

describe('GET /healthz', () => {
  it('200 while the process is live, 503 once it is not; never cached', async () => {
    const { app, health } = buildTestApp();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(res.headers['cache-control']).toBe('no-store');
    health.live = false;
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503);
  });

  it('does not depend on readiness (Redis down is not a liveness failure)', async () => {
    const { app, health } = buildTestApp();
    health.report = readyReport(false);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('GET /readyz', () => {
  it('200 with the report while ready', async () => {
    const { app } = buildTestApp();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual(readyReport(true));
  });

  it('503 with the report while not ready, and 200 again once it is, asked afresh each time', async () => {
    const { app, health } = buildTestApp();
    health.report = readyReport(false);
    const down = await app.inject({ method: 'GET', url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ ready: false, checks: { redis: { ok: false, error: 'connect ECONNREFUSED 127.0.0.1:6379' } } });
    health.report = readyReport(true);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('lists each source with its state and last error; a failing source does not make it unready', async () => {
    const { app, health } = buildTestApp();
    health.report = readyReport(true, {
      sources: [
        { name: 'webhook', type: 'webhook', state: 'running', last_success: '2026-03-13T02:09:58.000Z', events: 12, rejected: 1 },
        {
          name: 'onepassword', type: 'onepassword', state: 'failed', events: 0, rejected: 0,
          last_error: '401 Unauthorized: the Events API token was rejected; create a new token',
        },
        { name: 'bitwarden', type: 'bitwarden', state: 'degraded', last_error: 'Redis unavailable', events: 3, rejected: 0 },
      ],
    });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json().sources.map((s: Record<string, unknown>) => [s['name'], s['state'], s['last_error']])).toEqual([
      ['webhook', 'running', undefined],
      ['onepassword', 'failed', '401 Unauthorized: the Events API token was rejected; create a new token'],
      ['bitwarden', 'degraded', 'Redis unavailable'],
    ]);
  });

  it('hides credentials in error texts', async () => {
    const { app, health } = buildTestApp();
    health.report = readyReport(false, {
      checks: {
        redis: { ok: false, error: 'connect ETIMEDOUT redis://default:hunter2-redis@10.0.0.5:6379' },
        config: { ok: true },
        workers: { ok: false, error: 'stopped' },
      },
      sources: [{ name: 'custom', type: 'redis-stream', state: 'degraded', events: 0, rejected: 0, last_error: 'GET https://api.example.com/v1?token=abc123secret failed' }],
    });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.body).not.toContain('hunter2-redis');
    expect(res.body).not.toContain('abc123secret');
    expect(res.json().checks.redis.error).toBe('connect ETIMEDOUT redis://default:***@10.0.0.5:6379');
  });

  it('503 when the probe throws or does not answer in time', async () => {
    const { app, health } = buildTestApp();
    health.report = () => Promise.reject(new Error('boom'));
    const failed = await app.inject({ method: 'GET', url: '/readyz' });
    expect(failed.statusCode).toBe(503);
    expect(failed.json()).toEqual({ ready: false, error: 'readiness check failed: boom' });

    health.report = () => new Promise(() => {});
    const hung = await app.inject({ method: 'GET', url: '/readyz' });
    expect(hung.statusCode).toBe(503);
    expect(hung.json().error).toMatch(/did not answer within 1500 ms/);
  });
});

describe('GET /metrics', () => {
  it('Prometheus text with the daemon\'s metrics, and the collect callbacks run first', async () => {
    const { app, metrics } = buildTestApp();
    metrics.onCollect(async (m) => {
      m.queueJobs.set({ queue: 'events', state: 'waiting' }, 3);
      m.redisUp.set(1);
    });
    metrics.sourceUp.set({ source: 'onepassword' }, 0);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('# TYPE vaultwatch_events_received_total counter');
    expect(res.body).toContain('# TYPE vaultwatch_source_lag_seconds histogram');
    expect(sample(res.body, 'vaultwatch_queue_jobs{queue="events",state="waiting"}')).toBe(3);
    expect(sample(res.body, 'vaultwatch_redis_up')).toBe(1);
    expect(sample(res.body, 'vaultwatch_source_up{source="onepassword"}')).toBe(0);
  });
});

describe('errors', () => {
  it('404 JSON for unknown routes, without echoing the query string', async () => {
    const { app } = buildTestApp();
    const res = await app.inject({ method: 'GET', url: '/admin?token=abc123secret' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ statusCode: 404, error: 'Not Found', message: 'no route for GET /admin' });
  });

  it('a route that throws answers 500 without stack or message; the log has it, redacted', async () => {
    const { app, logs } = buildTestApp();
    app.get('/boom', async () => {
      throw new Error('failed to reach smtp://alerts:pa55word-x@mail.example.com:587');
    });
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
    const log = logs.join('');
    expect(log).toContain('smtp://alerts:***@mail.example.com:587');
    expect(log).not.toContain('pa55word-x');
  });
});
