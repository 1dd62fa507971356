/**
 * The Bitwarden event-log poller against a local server that behaves like Bitwarden
 * (test/helpers/bitwarden-server.ts), with a real redis-server, the real RedisIntake as sink and the
 * real Redis cursor store. Time-sensitive cases (window edges, late arrivals, token expiry) share one
 * fake clock between the poller and the server; nothing sleeps to wait.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../../src/domain/clock.ts';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import { IntakeUnavailableError, type DeadLetterEntry, type IntakeResult } from '../../../src/pipeline/intake.ts';
import { RedisIntake } from '../../../src/queue/intake-stream.ts';
import { RedisCursorStore } from '../../../src/queue/poll-scheduler.ts';
import { Keys } from '../../../src/queue/redis.ts';
import { BitwardenPoller, MAX_RANGE_MS, type BitwardenPollerOptions } from '../../../src/sources/bitwarden/poller.ts';
import type { PollContext } from '../../../src/sources/poller.ts';
import { createPollers, sourceKind } from '../../../src/sources/registry.ts';
import type { SourceSink } from '../../../src/sources/source.ts';
import { cleanTrees, runtimeOf } from '../../helpers/config-kit.ts';
import { bwDate, startBitwarden, type BitwardenFake, type BitwardenFakeOptions } from '../../helpers/bitwarden-server.ts';
import { freePort } from '../../helpers/free-port.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { recordingContext, type RecordingContext } from './helpers.ts';

const keys = new Keys('{bwtest}');
const DAY = 86_400_000;
const T0 = Date.parse('2026-03-12T12:00:00.000Z');
const COLLECTION = 'c0ffee00-1111-4222-8333-444455556666';
const SAM = { userId: 'a1b2c3d4-0000-4111-8222-333344445555', email: 'sam.okafor@example.com', name: 'Sam Okafor' };
const JO = { userId: 'b2c3d4e5-0000-4111-8222-333344445555', email: 'jo.tremblay@example.com', name: 'Jo Tremblay' };

let redis: RedisHandle;
let admin: Redis;
let intake: RedisIntake;
let cursors: RedisCursorStore;
let fake: BitwardenFake | undefined;

beforeAll(async () => {
  redis = await startRedis();
  admin = redis.client();
  intake = new RedisIntake(redis.client(), keys);
  cursors = new RedisCursorStore(admin, keys);
});
afterAll(async () => {
  cleanTrees();
  await redis.stop();
});
beforeEach(async () => {
  await admin.flushall();
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function server(o: BitwardenFakeOptions = {}): Promise<BitwardenFake> {
  fake = await startBitwarden(o);
  return fake;
}

function poller(f: BitwardenFake, o: Partial<BitwardenPollerOptions> = {}): BitwardenPoller {
  return new BitwardenPoller({
    clientId: f.clientId, clientSecret: f.clientSecret, apiUrl: f.apiUrl, identityUrl: f.identityUrl,
    startFrom: '1h', http: { backoffMinMs: 10, backoffMaxMs: 50 }, ...o,
  });
}

interface Ctx extends PollContext, RecordingContext {}

function context(now: () => number = Date.now, sink: SourceSink = intake): Ctx {
  return { ...recordingContext(sink), now, cursors, signal: new AbortController().signal };
}

/** What the intake stream holds, in order. */
async function stored(): Promise<UsageEvent[]> {
  const entries = await admin.xrange(keys.intake, '-', '+');
  return entries.map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]!) as UsageEvent);
}

async function cursor(name = 'bitwarden'): Promise<{ end: string; floor?: string } | undefined> {
  const text = await admin.get(keys.cursor(name));
  return text === null ? undefined : JSON.parse(text) as { end: string; floor?: string };
}

const msOf = (q: { start?: string; end?: string }, k: 'start' | 'end'): number => Date.parse(q[k]!.replace(/(\.\d{3})\d+/, '$1'));

describe('paging', () => {
  it.each([
    ['null', null, false],
    ['"" (and empty pages with a token in between)', '', true],
  ] as const)('reads every page until the token is %s', async (_label, lastPageToken, emptyPages) => {
    const f = await server({ pageSize: 3, lastPageToken, emptyPages });
    f.addMember(SAM);
    const now = Date.now();
    const added = Array.from({ length: 10 }, (_, i) => f.add({ collectionId: COLLECTION, actingUserId: SAM.userId, date: bwDate(now - 120_000 - i * 1000) }));
    const p = poller(f);
    const ctx = context();
    await p.prepare(ctx);
    await p.pollOnce(ctx);

    const events = await stored();
    expect(events.map((e) => e.time).sort()).toEqual(added.map((a) => a.date).sort());
    expect(new Set(events.map((e) => e.id)).size).toBe(10);
    expect(events[0]).toMatchObject({ source: 'bitwarden', action: 'copy', field: 'card_code', vendor_action: '1113', vault: { id: COLLECTION }, user: { id: SAM.userId, email: SAM.email, name: SAM.name } });
    const reqs = f.eventRequests();
    expect(reqs.filter((r) => r.query['continuationToken'] === undefined)).toHaveLength(1);
    expect(reqs.filter((r) => r.status === 200)).toHaveLength(emptyPages ? 7 : 4); // 4 pages of 3 (+3 empty ones)
    // One window: the same start/end on every page; end is 30 s behind the clock.
    expect(new Set(reqs.map((r) => `${r.query['start']} ${r.query['end']}`)).size).toBe(1);
    expect(Math.abs(msOf(reqs[0]!.query, 'end') - (now - 30_000))).toBeLessThan(5_000);
    expect(p.status()).toMatchObject({ state: 'running', events: 10, rejected: 0, last_success: expect.any(String) });
    expect(await cursor()).toEqual({ end: reqs[0]!.query['end'] });
  });

  it('dead-letters an unreadable item event once, skips sign-ins quietly, and keeps going', async () => {
    const f = await server();
    const now = Date.now();
    f.add({ type: 1000, itemId: null, date: bwDate(now - 90_000) }); // a login: not about an item
    f.add({ actingUserId: null, date: bwDate(now - 80_000) }); // an item event without its actor
    f.add({ collectionId: COLLECTION, date: bwDate(now - 70_000) });
    const p = poller(f);
    const ctx = context();
    await p.pollOnce(ctx);
    await p.pollOnce(ctx); // the overlap reads all three again
    expect(await stored()).toHaveLength(1);
    const dead = (await admin.lrange(keys.deadEvents, 0, -1)).map((s) => JSON.parse(s) as DeadLetterEntry);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ source: 'bitwarden', reason: 'actingUserId: missing' });
    expect(ctx.rejectedReasons).toEqual(['invalid']);
    expect(p.status()).toMatchObject({ state: 'running', events: 1, rejected: 1 });
  });
});

describe('the 367-day rule', () => {
  it('splits a start_from of 400 days into windows under 367 days that cover it without gaps', async () => {
    const f = await server();
    const now = Date.now();
    const dates = [now - 399 * DAY, now - 366 * DAY, now - 200 * DAY, now - 31 * DAY, now - 10 * DAY, now - 60_000];
    for (const d of dates) f.add({ collectionId: COLLECTION, date: bwDate(d) });
    const p = poller(f, { startFrom: '400d' });
    await p.pollOnce(context());

    expect((await stored()).map((e) => e.time_ms).sort()).toEqual(dates.sort());
    const reqs = f.eventRequests();
    expect(reqs.every((r) => r.status === 200)).toBe(true);
    expect(reqs.length).toBeGreaterThan(1);
    let previousEnd: number | undefined;
    for (const r of reqs) {
      const start = msOf(r.query, 'start');
      const end = msOf(r.query, 'end');
      expect(end - start).toBeLessThanOrEqual(30 * DAY); // the default window, far under 367 days
      if (previousEnd === undefined) expect(Math.abs(start - (now - 400 * DAY))).toBeLessThan(5_000);
      else expect(start).toBeLessThanOrEqual(previousEnd); // overlapping: no gap
      previousEnd = end;
    }
    expect(Math.abs(previousEnd! - (now - 30_000))).toBeLessThan(5_000);
    expect(await cursor()).toEqual({ end: new Date(previousEnd!).toISOString() }); // floor dropped once past it
  });

  it('with the widest window allowed, 400 days are two requests, each accepted by a server that refuses 367 days', async () => {
    const f = await server();
    const now = Date.now();
    f.add({ collectionId: COLLECTION, date: bwDate(now - 390 * DAY) });
    f.add({ collectionId: COLLECTION, date: bwDate(now - DAY) });
    const p = poller(f, { startFrom: '400d', maxWindowMs: 400 * DAY }); // clamped to 366 days
    await p.pollOnce(context());
    const reqs = f.eventRequests();
    expect(reqs.map((r) => r.status)).toEqual([200, 200]);
    expect(msOf(reqs[0]!.query, 'end') - msOf(reqs[0]!.query, 'start')).toBe(MAX_RANGE_MS);
    expect(await stored()).toHaveLength(2);

    // The fake does enforce the rule: one 400-day request is refused with Bitwarden's message.
    const token = (await (await fetch(`${f.identityUrl}/connect/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api.organization', client_id: f.clientId, client_secret: f.clientSecret }),
    })).json() as { access_token: string }).access_token;
    const res = await fetch(`${f.apiUrl}/public/events?start=${new Date(now - 400 * DAY).toISOString()}&end=${new Date(now).toISOString()}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ message: 'Date range must be < 367 days.' });
  });
});

describe('window edges and eventual consistency (fake clock)', () => {
  it('an event exactly on a window edge is neither lost nor doubled; one 100 ns later comes next round', async () => {
    const clock = fixedClock(T0);
    const f = await server({ now: clock.now });
    const end1 = T0 - 30_000;
    const onEnd = f.add({ collectionId: COLLECTION, date: bwDate(end1) });
    const justAfter = f.add({ collectionId: COLLECTION, date: bwDate(end1, 1) });
    const justBefore = f.add({ collectionId: COLLECTION, date: bwDate(end1 - 1, 9999) });
    const onStart = f.add({ collectionId: COLLECTION, date: bwDate(T0 - 2 * 60_000) }); // exactly start_from
    f.add({ collectionId: COLLECTION, date: bwDate(T0 - 2 * 60_000 - 1) }); // before start_from: never read

    const ctx = context(clock.now);
    const p = poller(f, { startFrom: '2m' });
    await p.pollOnce(ctx);
    const first = f.eventRequests()[0]!.query;
    expect(first['start']).toBe(new Date(T0 - 2 * 60_000).toISOString());
    expect(first['end']).toBe(new Date(end1).toISOString());
    expect((await stored()).map((e) => e.time).sort()).toEqual([onStart, justBefore, onEnd].map((e) => e.date).sort());

    // Next rounds: the same poller (which skips what it handed over), then a fresh one (which the
    // intake deduplicates for), both reading the edge again through the overlap.
    clock.advance(60_000);
    await p.pollOnce(ctx);
    clock.advance(60_000);
    const restarted = poller(f, { startFrom: '2m' });
    await restarted.pollOnce(ctx);
    const reqs = f.eventRequests();
    expect(reqs).toHaveLength(3);
    // The overlap (5 min) would reach before start_from: clamped there.
    expect(msOf(reqs[1]!.query, 'start')).toBe(T0 - 2 * 60_000);
    expect(msOf(reqs[2]!.query, 'start')).toBe(T0 - 2 * 60_000);
    expect(msOf(reqs[2]!.query, 'end')).toBe(T0 + 90_000);
    const events = await stored();
    expect(events).toHaveLength(4);
    expect(new Set(events.map((e) => e.id)).size).toBe(4);
    expect(events.map((e) => e.time)).toContain(justAfter.date);
    expect(restarted.status().state).toBe('running');
  });

  it('without overlap the next start is the last end itself: the edge event is read twice and stored once', async () => {
    const clock = fixedClock(T0);
    const f = await server({ now: clock.now });
    const end1 = T0 - 30_000;
    f.add({ collectionId: COLLECTION, date: bwDate(end1) });
    const ctx = context(clock.now);
    await poller(f, { overlapMs: 0 }).pollOnce(ctx);
    clock.advance(20_000);
    await poller(f, { overlapMs: 0 }).pollOnce(ctx); // a fresh poller: only the intake can drop it
    const [r1, r2] = f.eventRequests();
    expect(r2!.query['start']).toBe(r1!.query['end']);
    expect(await stored()).toHaveLength(1);
    expect(await admin.xlen(keys.intake)).toBe(1);
  });

  it('an event that becomes visible late is still read: inside the 30 s lag, and later, within the overlap', async () => {
    const clock = fixedClock(T0);
    const f = await server({ now: clock.now });
    const ctx = context(clock.now);
    const p = poller(f, { startFrom: '10m' });
    // Dated T0-10s, visible 25 s later (a client that uploads its events in batches).
    const inLag = f.add({ collectionId: COLLECTION, date: bwDate(T0 - 10_000) }, { visibleAt: T0 + 15_000 });
    // Dated T0-60s (inside the first window), visible only 3 minutes later.
    const late = f.add({ collectionId: COLLECTION, date: bwDate(T0 - 60_000) }, { visibleAt: T0 + 120_000 });

    await p.pollOnce(ctx); // T0: window ends T0-30s; neither is visible
    expect(await stored()).toHaveLength(0);
    clock.set(T0 + 20_000);
    await p.pollOnce(ctx); // window end T0-10s reaches inLag, now visible
    expect((await stored()).map((e) => e.time)).toEqual([inLag.date]);
    clock.set(T0 + 60_000);
    await p.pollOnce(ctx); // late is still invisible
    clock.set(T0 + 150_000);
    await p.pollOnce(ctx); // window starts at T0+30s-30s-5m: the overlap reaches back to it
    const times = (await stored()).map((e) => e.time);
    expect(times).toEqual([inLag.date, late.date]);
    clock.set(T0 + 400_000);
    await p.pollOnce(ctx);
    expect(await stored()).toHaveLength(2); // read again by the overlap, handed over once
  });

  it('documents the limit: an event visible later than lag + overlap after its date is not read', async () => {
    const clock = fixedClock(T0);
    const f = await server({ now: clock.now });
    const ctx = context(clock.now);
    const p = poller(f, { startFrom: '10m' });
    f.add({ collectionId: COLLECTION, date: bwDate(T0 - 60_000) }, { visibleAt: T0 + 10 * 60_000 });
    for (let t = T0; t <= T0 + 12 * 60_000; t += 60_000) {
      clock.set(t);
      await p.pollOnce(ctx);
    }
    expect(await stored()).toHaveLength(0);
  });
});

describe('tokens', () => {
  it('renews the token shortly before it expires, without a 401', async () => {
    const clock = fixedClock(T0);
    const f = await server({ now: clock.now, tokenTtlS: 120 });
    const ctx = context(clock.now);
    const p = poller(f);
    await p.pollOnce(ctx);
    expect(f.tokensIssued).toBe(1);
    clock.advance(60_000);
    await p.pollOnce(ctx);
    expect(f.tokensIssued).toBe(1); // still valid: cached
    clock.advance(50_000); // 110 s: inside the last tenth of its life
    f.add({ collectionId: COLLECTION, date: bwDate(clock.now() - 45_000) });
    await p.pollOnce(ctx);
    expect(f.tokensIssued).toBe(2);
    expect(f.requests.filter((r) => r.status === 401)).toHaveLength(0);
    expect(await stored()).toHaveLength(1);
  });

  it('fetches a new token once on a 401 and carries on', async () => {
    const f = await server();
    const p = poller(f);
    const ctx = context();
    await p.pollOnce(ctx);
    f.expireTokens(); // revoked server-side: the client still thinks it valid
    f.add({ collectionId: COLLECTION, date: bwDate(Date.now() - 60_000) });
    await p.pollOnce(ctx);
    expect(f.tokensIssued).toBe(2);
    expect(f.eventRequests().map((r) => r.status)).toEqual([200, 401, 200]);
    expect(await stored()).toHaveLength(1);
    expect(p.status().state).toBe('running');
  });

  it('a 401 with a freshly issued token fails the source with a clear reason', async () => {
    const f = await server({ tokenTtlS: 0 }); // every token is dead on arrival
    const p = poller(f);
    const ctx = context();
    await p.pollOnce(ctx);
    expect(f.eventRequests().map((r) => r.status)).toEqual([401, 401]);
    expect(p.status()).toMatchObject({ state: 'failed', last_error: expect.stringContaining('401 to GET /public/events with a freshly issued token') });
  });
});

describe('failures', () => {
  it('invalid_client -> failed with a message that says what to check, no secret anywhere, no hammering', async () => {
    const f = await server();
    const p = poller(f, { clientSecret: 'wrong-secret-value' });
    const ctx = context();
    await p.prepare(ctx);
    expect(p.status()).toMatchObject({
      state: 'failed',
      last_error: 'Bitwarden rejected the organization API key (invalid_client): check client_id/client_secret',
    });
    expect(ctx.logs.filter((l) => l.level === 'error')).toHaveLength(1);
    const before = f.requests.length;
    await p.pollOnce(ctx);
    await p.pollOnce(ctx);
    expect(f.requests.length).toBe(before); // waits failedRetryMs before trying again
    const everything = JSON.stringify([ctx.logs, p.status()]);
    expect(everything).not.toContain('wrong-secret-value');
    expect(everything).not.toContain(f.clientSecret);
  });

  it('a personal API key is refused before any request', async () => {
    const f = await server();
    const p = poller(f, { clientId: 'user.0d2e3f40-1111-4222-8333-444455556666' });
    await p.prepare(context());
    expect(p.status()).toMatchObject({ state: 'failed', last_error: expect.stringContaining('organization.<id>') });
    expect(f.requests).toHaveLength(0);
  });

  it('another 4xx fails the source with the reason; a wrong api_url says so', async () => {
    const f = await server();
    const p = poller(f);
    f.failNext(1, 403);
    await p.pollOnce(context());
    expect(p.status()).toMatchObject({ state: 'failed', last_error: 'Bitwarden answered 403 to GET /public/events: The server had a problem (fake).' });

    const q = poller(f, { apiUrl: f.url }); // missing /api, as a self-hosted install needs
    await q.pollOnce(context());
    expect(q.status()).toMatchObject({ state: 'failed', last_error: expect.stringContaining('check api_url') });
  });

  it('5xx are retried with backoff; when they last, the source is degraded and the checkpoint stays', async () => {
    const f = await server();
    f.add({ collectionId: COLLECTION, date: bwDate(Date.now() - 60_000) });
    const p = poller(f, { http: { backoffMinMs: 10, backoffMaxMs: 50, attempts: 3 } });
    const ctx = context();
    f.failNext(2, 503);
    await p.pollOnce(ctx);
    expect(f.eventRequests().map((r) => r.status)).toEqual([503, 503, 200]);
    expect(p.status().state).toBe('running');
    const saved = await cursor();

    f.add({ collectionId: COLLECTION, date: bwDate(Date.now() - 45_000) });
    f.failNext(3, 500);
    await p.pollOnce(ctx);
    expect(p.status()).toMatchObject({ state: 'degraded', last_error: 'Bitwarden answered 500 to GET /public/events' });
    expect(await cursor()).toEqual(saved);
    await p.pollOnce(ctx);
    expect(p.status().state).toBe('running');
    expect(await stored()).toHaveLength(2);
  });
});

describe('outages and shutdown', () => {
  it('an unreachable Bitwarden: prepare gives up quickly, rounds retry, the source is degraded and says why', async () => {
    const port = await freePort(); // nothing listens there
    const p = new BitwardenPoller({
      clientId: 'organization.0d2e3f40-1111-4222-8333-444455556666', clientSecret: 's',
      apiUrl: `http://127.0.0.1:${port}/api`, identityUrl: `http://127.0.0.1:${port}/identity`,
      http: { backoffMinMs: 10, backoffMaxMs: 20, attempts: 2 },
    });
    const ctx = context();
    const started = Date.now();
    await p.prepare(ctx);
    await p.pollOnce(ctx);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(p.status()).toMatchObject({ state: 'degraded', last_error: 'Bitwarden did not answer POST /connect/token: ECONNREFUSED' });
    expect(ctx.logs.filter((l) => l.level === 'warn')).toHaveLength(1); // one line per kind of trouble
  });

  it('shutdown during a rate-limit wait ends the round at once, with no checkpoint and no error', async () => {
    const f = await server();
    const p = poller(f);
    const ac = new AbortController();
    const ctx = { ...context(), signal: ac.signal };
    await p.pollOnce(ctx); // a first round: checkpoint saved
    const saved = await cursor();
    f.rateLimitNext(1, { retryAfterS: 20 });
    const round = p.pollOnce(ctx);
    await waitFor(() => f.requests.some((r) => r.status === 429), { message: 'the round is waiting out a 429' });
    const abortedAt = Date.now();
    ac.abort();
    await round;
    expect(Date.now() - abortedAt).toBeLessThan(500);
    expect(await cursor()).toEqual(saved);
    expect(p.status().state).toBe('running');
    expect(p.status().last_error).toBeUndefined();
  });
});

describe('rate limits (429)', () => {
  it('waits Retry-After', async () => {
    const f = await server();
    f.add({ collectionId: COLLECTION, date: bwDate(Date.now() - 60_000) });
    const p = poller(f);
    f.rateLimitNext(2, { retryAfterS: 1 });
    const started = Date.now();
    await p.pollOnce(context());
    const reqs = f.eventRequests();
    expect(reqs.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(1_000);
    expect(reqs[2]!.at - reqs[1]!.at).toBeGreaterThanOrEqual(1_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await stored()).toHaveLength(1);
    expect(p.status().state).toBe('running');
  });

  it('waits until X-Rate-Limit-Reset when there is no Retry-After', async () => {
    const f = await server();
    const p = poller(f);
    f.rateLimitNext(1, { resetInMs: 700 });
    await p.pollOnce(context());
    const reqs = f.eventRequests();
    expect(reqs.map((r) => r.status)).toEqual([429, 200]);
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(650);
  });

  it('backs off exponentially with jitter when the 429 says nothing', async () => {
    const f = await server();
    const p = poller(f, { http: { backoffMinMs: 40, backoffMaxMs: 1_000 } });
    f.rateLimitNext(3, {});
    await p.pollOnce(context());
    const reqs = f.eventRequests();
    expect(reqs.map((r) => r.status)).toEqual([429, 429, 429, 200]);
    const gaps = reqs.slice(1).map((r, i) => r.at - reqs[i]!.at);
    // Drawn from [d/2, d] with d = 40, 80, 160 ms.
    expect(gaps[0]).toBeGreaterThanOrEqual(20);
    expect(gaps[2]).toBeGreaterThanOrEqual(80);
  });

  it('never hits the limit when X-Rate-Limit-Remaining says 0: waits for the reset', async () => {
    const f = await server({ pageSize: 1 });
    for (let i = 0; i < 5; i++) f.add({ collectionId: COLLECTION, date: bwDate(Date.now() - 60_000 - i) });
    f.quota({ permits: 2, periodMs: 400 });
    const p = poller(f);
    await p.pollOnce(context());
    expect(f.requests.filter((r) => r.status === 429)).toHaveLength(0);
    expect(f.eventRequests()).toHaveLength(5);
    expect(await stored()).toHaveLength(5);
  });

  it('a wait longer than the round is not slept: degraded, and no request before the time the server gave', async () => {
    const f = await server();
    const p = poller(f, { roundBudgetMs: 1_000 });
    const ctx = context();
    f.rateLimitNext(1, { retryAfterS: 30 });
    const started = Date.now();
    await p.pollOnce(ctx);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(p.status()).toMatchObject({ state: 'degraded', last_error: expect.stringContaining('rate limited by Bitwarden') });
    const n = f.requests.length;
    await p.pollOnce(ctx);
    expect(f.requests.length).toBe(n);
  });
});

describe('members', () => {
  it('puts emails and names on events, so policies on users match people', async () => {
    const f = await server();
    f.addMember(SAM);
    f.addMember({ userId: 'ffffffff-0000-4111-8222-333344445555', email: 'invited@example.com' });
    const now = Date.now();
    f.add({ collectionId: COLLECTION, actingUserId: SAM.userId, date: bwDate(now - 60_000) });
    f.add({ collectionId: COLLECTION, actingUserId: JO.userId, date: bwDate(now - 59_000) }); // not a member
    const p = poller(f);
    await p.pollOnce(context());
    const events = await stored();
    const sam = events.find((e) => e.user.id === SAM.userId)!;
    const jo = events.find((e) => e.user.id === JO.userId)!;
    expect(sam.user).toEqual({ id: SAM.userId, email: SAM.email, name: SAM.name });
    expect(jo.user).toEqual({ id: JO.userId });

    const rt = runtimeOf({
      'vaultwatch.yaml': 'defaults:\n  timezone: UTC\n',
      'policies/p.yaml': `vault: { id: ${COLLECTION}, name: Finance }\nmanagers:\n  - email: cfo@example.com\nrules:\n  - name: Card code copied by staff\n    match: { users: ["*@example.com"], fields: [card_code] }\n`,
    });
    expect(rt.policies.match(sam).map((r) => r.name)).toEqual(['Card code copied by staff']);
    expect(rt.policies.match(jo)).toEqual([]);
  });

  it('looks a new member up once when an event names them, not on every page', async () => {
    const f = await server({ pageSize: 1 });
    f.addMember(SAM);
    const p = poller(f, { members: { missCooldownMs: 0 } });
    const ctx = context();
    await p.prepare(ctx);
    const memberCalls = () => f.requests.filter((r) => r.path === '/api/public/members').length;
    expect(memberCalls()).toBe(1);
    f.addMember(JO); // joined after the directory was read
    const now = Date.now();
    for (let i = 0; i < 3; i++) f.add({ collectionId: COLLECTION, actingUserId: JO.userId, date: bwDate(now - 60_000 - i) });
    const stranger = 'deadbeef-0000-4111-8222-333344445555';
    for (let i = 0; i < 3; i++) f.add({ collectionId: COLLECTION, actingUserId: stranger, date: bwDate(now - 70_000 - i) });
    await p.pollOnce(ctx);
    // One refresh for Jo (found), one for the stranger (still unknown): not one per page.
    expect(memberCalls()).toBe(3);
    const events = await stored();
    expect(events.filter((e) => e.user.email === JO.email)).toHaveLength(3);
    expect(events.filter((e) => e.user.id === stranger && e.user.email === undefined)).toHaveLength(3);
  });

  it('a failing member directory never blocks events: they go out with ids, names come back later', async () => {
    const clock = fixedClock(T0);
    const f = await server({ now: clock.now });
    f.addMember(SAM);
    f.failMembers(500);
    const ctx = context(clock.now);
    const p = poller(f, { startFrom: '10m' });
    f.add({ collectionId: COLLECTION, actingUserId: SAM.userId, date: bwDate(T0 - 60_000) });
    await p.pollOnce(ctx);
    expect((await stored()).map((e) => e.user)).toEqual([{ id: SAM.userId }]);
    expect(p.status().state).toBe('running');
    expect(ctx.logs.filter((l) => l.level === 'warn' && l.msg?.includes('member directory'))).toHaveLength(1);

    f.failMembers(undefined);
    clock.advance(90_000); // past the failure cooldown
    f.add({ collectionId: COLLECTION, actingUserId: SAM.userId, date: bwDate(T0 + 30_000) });
    await p.pollOnce(ctx);
    expect((await stored()).map((e) => e.user.email)).toEqual([undefined, SAM.email]);
  });
});

/** The real intake, refusing one chosen call as if Redis went away. */
class FlakyIntake implements SourceSink {
  calls = 0;
  constructor(private readonly failOnCall: number) {}
  async accept(events: readonly UsageEvent[], source: string): Promise<IntakeResult> {
    this.calls += 1;
    if (this.calls === this.failOnCall) throw new IntakeUnavailableError('Redis unavailable: simulated');
    return intake.accept(events, source);
  }
  deadLetter(entries: readonly DeadLetterEntry[]): Promise<void> {
    return intake.deadLetter(entries);
  }
}

describe('restart', () => {
  it('a poller stopped between windows resumes from the checkpoint: nothing lost, nothing stored twice', async () => {
    const f = await server({ pageSize: 2 });
    const now = Date.now();
    // Four 30-day windows over 100 days, three events in each (two pages).
    const dates = [95, 94, 93, 65, 64, 63, 35, 34, 33, 5, 4, 3].map((d) => now - d * DAY);
    for (const d of dates) f.add({ collectionId: COLLECTION, date: bwDate(d) });
    const flaky = new FlakyIntake(6); // windows 1 and 2 take two calls each; fail window 3's second page
    const first = poller(f, { startFrom: '100d' });
    await first.pollOnce(context(Date.now, flaky));
    expect(first.status()).toMatchObject({ state: 'degraded', last_error: 'Redis unavailable: simulated' });
    const saved = await cursor();
    const windowOneStart = msOf(f.eventRequests()[0]!.query, 'start');
    expect(Date.parse(saved!.end)).toBe(windowOneStart + 2 * 30 * DAY - 5 * 60_000); // the end of window 2
    expect(await admin.xlen(keys.intake)).toBe(8); // windows 1-2, and the first page of window 3

    const windowsBefore = f.eventRequests().length;
    const second = poller(f, { startFrom: '100d' });
    const ctx = context();
    await second.pollOnce(ctx);
    const resumed = f.eventRequests()[windowsBefore]!.query;
    expect(msOf(resumed, 'start')).toBe(Date.parse(saved!.end) - 5 * 60_000);
    const events = await stored();
    expect(events.map((e) => e.time_ms).sort()).toEqual([...dates].sort());
    expect(new Set(events.map((e) => e.id)).size).toBe(12);
    expect(second.status().state).toBe('running');
  });
});

describe('registry and scheduling', () => {
  it('the registry builds the poller from the config entry', () => {
    expect(sourceKind('bitwarden')).toBe('poller');
    const [p] = createPollers([{ type: 'bitwarden', name: 'bw-eu', client_id: 'organization.abc', client_secret: 's', poll_interval: '2m', api_url: 'https://api.bitwarden.eu' }],
      { redis: () => admin, configDir: '/tmp' });
    expect(p).toBeInstanceOf(BitwardenPoller);
    expect(p).toMatchObject({ name: 'bw-eu', type: 'bitwarden', intervalMs: 120_000, organizationId: 'abc' });
    expect(p!.status()).toMatchObject({ name: 'bw-eu', state: 'starting' });
  });

  it('a second round of the same poller while one runs does nothing', async () => {
    const f = await server();
    const p = poller(f);
    f.rateLimitNext(1, { retryAfterS: 1 });
    const ctx = context();
    const a = p.pollOnce(ctx);
    await waitFor(() => f.requests.some((r) => r.status === 429), { message: 'the first round is waiting out a 429' });
    await p.pollOnce(ctx); // returns at once
    await a;
    expect(f.eventRequests().map((r) => r.status)).toEqual([429, 200]);
  });
});
