/**
 * The 1Password Events API poller against the local fake (test/helpers/onepassword-server.ts), with a
 * real redis-server, the real RedisIntake as the sink and the real Redis cursor store. Every request
 * the poller sends is checked against the vendor's spec after each test.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import { IntakeUnavailableError, type DeadLetterEntry, type IntakeResult } from '../../../src/pipeline/intake.ts';
import { RedisIntake } from '../../../src/queue/intake-stream.ts';
import { RedisCursorStore } from '../../../src/queue/poll-scheduler.ts';
import { Keys } from '../../../src/queue/redis.ts';
import { createOnePasswordPoller, cursorKey, startKey, type OnePasswordPollerOptions, type OnePasswordSourceDef } from '../../../src/sources/onepassword/poller.ts';
import type { CursorStore, PollContext } from '../../../src/sources/poller.ts';
import type { SourceSink } from '../../../src/sources/source.ts';
import { itemUsage } from '../../helpers/daemon.ts';
import { auditEvent, startOnePasswordFake, type OnePasswordFake, type RecordedRequest } from '../../helpers/onepassword-server.ts';
import { loadEventsSpec } from '../../helpers/onepassword-spec.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { recordingContext, type RecordingContext } from './helpers.ts';

const spec = loadEventsSpec();
const keys = new Keys('{optest}');
let redis: RedisHandle;
let r: Redis;
let fake: OnePasswordFake;

beforeAll(async () => {
  redis = await startRedis();
  r = redis.client();
});
afterAll(async () => {
  await redis.stop();
});
beforeEach(async () => {
  await r.flushall();
  fake = await startOnePasswordFake({ pageCap: 3 });
});
afterEach(async () => {
  // Whatever the test did, every request the poller sent is one the spec allows.
  for (const rec of fake.requests) expect(spec.requestProblems(rec), `${rec.method} ${rec.path} ${rec.rawBody}`).toEqual([]);
  await fake.close();
});

/** A sink that refuses (before storing: Redis down) or loses the answer (after storing) on demand. */
class FlakySink implements SourceSink {
  refuse = 0;
  loseReply = 0;
  constructor(private readonly inner: SourceSink) {}
  async accept(events: readonly UsageEvent[], source: string): Promise<IntakeResult> {
    if (this.refuse > 0) { this.refuse -= 1; throw new IntakeUnavailableError('Redis unavailable: test refuses'); }
    const out = await this.inner.accept(events, source);
    if (this.loseReply > 0) { this.loseReply -= 1; throw new IntakeUnavailableError('Redis unavailable: the reply was lost'); }
    return out;
  }
  deadLetter(entries: readonly DeadLetterEntry[]): Promise<void> { return this.inner.deadLetter(entries); }
}

interface Rig {
  poller: ReturnType<typeof createOnePasswordPoller>;
  ctx: PollContext & RecordingContext;
  sink: FlakySink;
  token: string;
  /** Stream length at each cursor save. */
  saves: { key: string; value: string; stored: number }[];
}

const FAST: OnePasswordPollerOptions = { backoff: { minMs: 20, maxMs: 200 } };

function rig(def: Partial<OnePasswordSourceDef> = {}, opts: OnePasswordPollerOptions = {}, o: { features?: string[]; now?: () => number } = {}): Rig {
  const token = def.token ?? fake.token(o.features ? { features: o.features } : {});
  // Records made just before the first round must not fall before a start of "now" rounded to the
  // second: tests start a minute back unless they are about start_from.
  const startFrom = 'start_from' in def ? def.start_from : '1m';
  const poller = createOnePasswordPoller({ type: 'onepassword', url: fake.url, ...def, start_from: startFrom, token }, { configDir: '/' }, { ...FAST, ...opts });
  const sink = new FlakySink(new RedisIntake(r, keys));
  const inner = new RedisCursorStore(r, keys);
  const saves: Rig['saves'] = [];
  const cursors: CursorStore = {
    get: (k) => inner.get(k),
    async set(k, v) { saves.push({ key: k, value: v, stored: await r.xlen(keys.intake) }); await inner.set(k, v); },
  };
  const ctx = { ...recordingContext(sink), cursors, signal: new AbortController().signal, ...(o.now ? { now: o.now } : {}) };
  return { poller, ctx, sink, token, saves };
}

/** The events in the intake stream, in order. */
async function intakeEvents(): Promise<UsageEvent[]> {
  const entries = await r.xrange(keys.intake, '-', '+');
  return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1]!) as UsageEvent);
}

const fresh = (n: number, o: Parameters<typeof itemUsage>[0] = {}) => Array.from({ length: n }, () => itemUsage({ timestamp: new Date().toISOString(), ...o }));
const pages = (stream = 'itemusages'): RecordedRequest[] => fake.pageRequests(stream as 'itemusages');
const bodies = (stream = 'itemusages') => pages(stream).map((p) => p.body);

describe('paging', () => {
  it('pages until has_more is false, through empty pages; the first request is a ResetCursor, later ones only {cursor}', async () => {
    const { poller, ctx } = rig();
    const records = [...fresh(6), itemUsage({ timestamp: new Date().toISOString(), action: 'server-fetch' })];
    fake.addItemUsages(...records);
    let once = false;
    fake.onServe = () => { if (!once) { once = true; fake.emptyPages(2); } };

    await poller.prepare!(ctx);
    await poller.pollOnce(ctx);

    const served = pages().map((p) => [p.bodyKind, p.served!.length, p.hasMore]);
    expect(served).toEqual([['reset', 3, true], ['cursor', 0, true], ['cursor', 0, true], ['cursor', 3, true], ['cursor', 1, false]]);
    const [first, ...rest] = bodies();
    expect(first).toEqual({ limit: 1000, start_time: expect.any(String) });
    for (const b of rest) expect(Object.keys(b as object)).toEqual(['cursor']);
    // Each cursor sent is the one the previous page answered.
    pages().slice(1).forEach((p, i) => expect((p.body as { cursor: string }).cursor).toBe(pages()[i]!.cursor));
    // Budget: one introspection, then exactly one request per page.
    expect(fake.requests.map((q) => q.path)).toEqual(['/api/v2/auth/introspect', ...Array(5).fill('/api/v2/itemusages')]);

    const stored = await intakeEvents();
    expect(stored.map((e) => e.id)).toEqual(records.map((x) => x.uuid));
    // The Connect client's server-fetch is stored like any other usage (policies decide about alerts).
    expect(stored[6]).toMatchObject({ action: 'fetch', vendor_action: 'server-fetch', source: 'onepassword' });
    expect(await r.get(keys.cursor(cursorKey('onepassword', 'itemusages')))).toBe(pages()[4]!.cursor);
    expect(poller.status()).toMatchObject({ name: 'onepassword', type: 'onepassword', state: 'running', events: 7, rejected: 0 });
    expect(ctx.seen).toHaveLength(7);
  });

  it('an idle round is one request; new records show up at the next round from the saved cursor', async () => {
    const { poller, ctx } = rig();
    await poller.pollOnce(ctx);
    await poller.pollOnce(ctx);
    expect(pages()).toHaveLength(2);
    const later = fresh(2);
    fake.addItemUsages(...later);
    await poller.pollOnce(ctx);
    expect(pages().map((p) => p.served!.length)).toEqual([0, 0, 2]);
    expect((await intakeEvents()).map((e) => e.id)).toEqual(later.map((x) => x.uuid));
  });

  it('events carry received_at = ctx.now() (the daemon observes lag from it)', async () => {
    const now = Date.now();
    const { poller, ctx } = rig({}, {}, { now: () => now });
    const rec = itemUsage({ timestamp: new Date(now + 1_000).toISOString() });
    fake.addItemUsages(rec);
    await poller.pollOnce(ctx);
    const [e] = await intakeEvents();
    expect(e!.received_at).toBe(new Date(now).toISOString());
    expect(e!.time_ms).toBe(now + 1_000);
  });

  it('a record that cannot be normalised is dead-lettered with its reason; the page still advances', async () => {
    const { poller, ctx } = rig();
    const good = fresh(1)[0]!;
    fake.addItemUsages({ ...good, uuid: 'BADTIME0000000000000000000', timestamp: new Date().toISOString(), item_uuid: 42 }, good);
    await poller.pollOnce(ctx);
    expect((await intakeEvents()).map((e) => e.id)).toEqual([good.uuid]);
    const dead = (await r.lrange(keys.deadEvents, 0, -1)).map((x) => JSON.parse(x) as DeadLetterEntry);
    expect(dead).toMatchObject([{ source: 'onepassword', reason: 'itemusages: item_uuid: not a string' }]);
    expect(ctx.rejectedReasons).toEqual(['invalid']);
    expect(poller.status()).toMatchObject({ state: 'running', events: 1, rejected: 1 });
  });
});

describe('start_from: the first request only', () => {
  it.each([
    ['now (default)', undefined, 0],
    ['a duration back', '24h', 24 * 3_600_000],
  ])('%s', async (_, startFrom, backMs) => {
    const now = Date.UTC(2026, 2, 13, 12, 0, 30, 500);
    const { poller, ctx } = rig({ start_from: startFrom }, {}, { now: () => now });
    const before = itemUsage({ timestamp: new Date(now - backMs - 3_600_000).toISOString() });
    const after = itemUsage({ timestamp: new Date(now - backMs + 60_000).toISOString() });
    fake.addItemUsages(before, after);
    await poller.pollOnce(ctx);
    expect(bodies()[0]).toEqual({ limit: 1000, start_time: new Date(Math.floor((now - backMs) / 1000) * 1000).toISOString().replace('.000Z', 'Z') });
    // Never months of history by surprise: what happened before the start is not read.
    expect((await intakeEvents()).map((e) => e.id)).toEqual([after.uuid]);
    await poller.pollOnce(ctx);
    expect(bodies()[1]).toEqual({ cursor: pages()[0]!.cursor });
  });

  it('an ISO instant (its offset honoured)', async () => {
    const { poller, ctx } = rig({ start_from: new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10) + 'T10:00:00+02:00' });
    await poller.pollOnce(ctx);
    const want = `${new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10)}T08:00:00Z`;
    expect(bodies()[0]).toEqual({ limit: 1000, start_time: want });
  });

  it('the start chosen is saved, so a first round that fails asks for the same window again', async () => {
    let now = Date.now();
    const { poller, ctx } = rig({}, {}, { now: () => now });
    fake.failNext(1, 401, { stream: 'itemusages' });
    await poller.pollOnce(ctx);
    expect(poller.status().state).toBe('failed');
    now += 90_000;
    await poller.pollOnce(ctx);
    expect(bodies()).toHaveLength(1);
    const sent = fake.requests.filter((q) => q.path === '/api/v2/itemusages').map((q) => q.body);
    expect(sent[1]).toEqual(sent[0]);
    expect(await r.get(keys.cursor(startKey('onepassword', 'itemusages')))).toBe((sent[0] as { start_time: string }).start_time);
  });
});

describe('the cursor is saved only after the page is stored', () => {
  it('every save happens with the page\'s events already in the intake', async () => {
    const { poller, ctx, saves } = rig();
    fake.addItemUsages(...fresh(8));
    await poller.pollOnce(ctx);
    const key = cursorKey('onepassword', 'itemusages');
    expect(saves.filter((s) => s.key === key).map((s) => s.stored)).toEqual([3, 6, 8]);
  });

  it('intake refuses a page once: the cursor does not move, the page is read again, nothing is lost or doubled', async () => {
    const { poller, ctx, sink } = rig();
    const records = fresh(7);
    fake.addItemUsages(...records);
    sink.refuse = 0;
    let served = 0;
    fake.onServe = () => { served += 1; if (served === 2) sink.refuse = 1; };
    await poller.pollOnce(ctx);
    const key = keys.cursor(cursorKey('onepassword', 'itemusages'));
    expect(poller.status()).toMatchObject({ state: 'degraded', last_error: expect.stringContaining('intake unavailable') });
    expect(await r.get(key)).toBe(pages()[0]!.cursor);
    expect(await intakeEvents()).toHaveLength(3);

    await poller.pollOnce(ctx);
    expect(poller.status().state).toBe('running');
    // The refused page (2nd) was asked for again with the same cursor.
    expect(bodies()[2]).toEqual(bodies()[1]);
    expect((await intakeEvents()).map((e) => e.id)).toEqual(records.map((x) => x.uuid));
  });

  it('a lost reply after the intake stored the page: read again, the intake drops the repeats', async () => {
    const { poller, ctx, sink } = rig();
    const records = fresh(5);
    fake.addItemUsages(...records);
    sink.loseReply = 1;
    await poller.pollOnce(ctx);
    expect(poller.status().state).toBe('degraded');
    expect(await r.get(keys.cursor(cursorKey('onepassword', 'itemusages')))).toBeNull();
    await poller.pollOnce(ctx);
    expect(bodies()[1]).toEqual(bodies()[0]);
    expect((await intakeEvents()).map((e) => e.id)).toEqual(records.map((x) => x.uuid));
    expect(ctx.seen.map((e) => e.id)).toEqual(records.map((x) => x.uuid));
  });

  it('a new poller (a restarted daemon) resumes from the saved cursor', async () => {
    const first = rig();
    const before = fresh(4);
    fake.addItemUsages(...before);
    await first.poller.pollOnce(first.ctx);
    const saved = pages()[pages().length - 1]!.cursor;
    const after = fresh(2);
    fake.addItemUsages(...after);

    const second = rig({ token: first.token });
    await second.poller.pollOnce(second.ctx);
    const resumed = pages().slice(2);
    expect(resumed[0]!.body).toEqual({ cursor: saved });
    expect(resumed.map((p) => p.served)).toEqual([after.map((x) => x.uuid)]);
    expect((await intakeEvents()).map((e) => e.id)).toEqual([...before, ...after].map((x) => x.uuid));
  });
});

describe('errors and backoff', () => {
  it('a 429 burst backs off exponentially (jittered) and then succeeds in the same round', async () => {
    const { poller, ctx } = rig({}, { backoff: { minMs: 40, maxMs: 400 } });
    fake.addItemUsages(...fresh(2));
    fake.failNext(4, 429, { stream: 'itemusages' });
    await poller.pollOnce(ctx);
    const tries = fake.requests.filter((q) => q.path === '/api/v2/itemusages');
    expect(tries.map((q) => q.status)).toEqual([429, 429, 429, 429, 200]);
    const gaps = tries.slice(1).map((q, i) => q.at - tries[i]!.at);
    // Delay i is drawn from [d/2, d] with d = 40 * 2^i.
    gaps.forEach((g, i) => expect(g).toBeGreaterThanOrEqual(40 * 2 ** i / 2 - 5));
    // ...and capped (maxMs 400): no wait runs away, whatever the attempt.
    expect(Math.max(...gaps)).toBeLessThan(1_000);
    expect(poller.status()).toMatchObject({ state: 'running', events: 2, last_error: expect.stringContaining('rate limited (429 Too Many Requests)') });
    // The same ResetCursor each time: a refused request changes nothing.
    expect(new Set(tries.map((q) => q.rawBody)).size).toBe(1);
  });

  it('honours a Retry-After when the server sends one', async () => {
    const { poller, ctx } = rig();
    fake.failNext(1, 429, { retryAfter: '1', stream: 'itemusages' });
    await poller.pollOnce(ctx);
    const tries = fake.requests.filter((q) => q.path === '/api/v2/itemusages');
    expect(tries.map((q) => q.status)).toEqual([429, 200]);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('keeps within its request budget while draining many pages', async () => {
    // Send times as the poller issues them (arrival at the fake, in this same busy process, jitters).
    const sent: number[] = [];
    const { poller, ctx } = rig({}, {
      budget: { requests: 4, windowMs: 400 },
      fetch: (input, init) => { sent.push(Date.now()); return fetch(input, init); },
    });
    fake.pageCap = 1;
    fake.addItemUsages(...fresh(10));
    await poller.pollOnce(ctx);
    expect(sent).toHaveLength(11);
    expect(fake.requests).toHaveLength(11);
    for (const t of sent) expect(sent.filter((u) => u > t - 400 + 5 && u <= t).length).toBeLessThanOrEqual(4);
    expect(sent[sent.length - 1]! - sent[0]!).toBeGreaterThanOrEqual(2 * 400 - 10);
    expect(await intakeEvents()).toHaveLength(10);
  });

  it('a 429 that outlasts the round ends it (degraded); the backoff carries into the next round, which resumes', async () => {
    const { poller, ctx } = rig({}, { backoff: { minMs: 300, maxMs: 300 }, roundBudgetMs: 100 });
    fake.addItemUsages(...fresh(2));
    fake.failNext(1, 429, { stream: 'itemusages' });
    await poller.pollOnce(ctx);
    expect(poller.status()).toMatchObject({ state: 'degraded', last_error: expect.stringContaining('429') });
    // Straight away: still backing off, so no request at all.
    const sent = fake.requests.length;
    await poller.pollOnce(ctx);
    expect(fake.requests.length).toBe(sent);
    // Rounds keep coming (as the scheduler would start them); the first after the backoff reads.
    await waitFor(async () => { await poller.pollOnce(ctx); return poller.status().state === 'running'; }, { message: 'a round after the backoff' });
    expect(fake.requests.filter((q) => q.path === '/api/v2/itemusages').map((q) => q.status)).toEqual([429, 200]);
    expect(await intakeEvents()).toHaveLength(2);
  });

  it('500s are retried', async () => {
    const { poller, ctx } = rig();
    fake.addItemUsages(...fresh(1));
    fake.failNext(2, 500, { stream: 'itemusages' });
    await poller.pollOnce(ctx);
    expect(fake.requests.filter((q) => q.path === '/api/v2/itemusages').map((q) => q.status)).toEqual([500, 500, 200]);
    expect(poller.status().state).toBe('running');
    expect(await intakeEvents()).toHaveLength(1);
  });

  it('401 (token revoked mid-run): failed with what to do, no retry in that round; each later round only re-checks the token', async () => {
    const { poller, ctx, token } = rig();
    await poller.prepare!(ctx);
    await poller.pollOnce(ctx);
    expect(poller.status().state).toBe('running');
    fake.revoke(token);
    fake.addItemUsages(...fresh(2));
    const before = fake.requests.length;
    await poller.pollOnce(ctx);
    expect(fake.requests.slice(before).map((q) => `${q.path} ${q.status}`)).toEqual(['/api/v2/itemusages 401']);
    expect(poller.status()).toMatchObject({ state: 'failed', last_error: expect.stringMatching(/token rejected \(401 Unauthorized\): create a new Events Reporting token/) });
    expect(ctx.logs.some((l) => l.level === 'error' && JSON.stringify(l).includes('token rejected'))).toBe(true);
    expect(JSON.stringify(ctx.logs)).not.toContain(token);

    const mid = fake.requests.length;
    await poller.pollOnce(ctx);
    expect(fake.requests.slice(mid).map((q) => `${q.path} ${q.status}`)).toEqual(['/api/v2/auth/introspect 401']);
    expect(poller.status().state).toBe('failed');

    fake.unrevoke(token);
    await poller.pollOnce(ctx);
    expect(poller.status().state).toBe('running');
    expect(await intakeEvents()).toHaveLength(2);
  });

  it('a token without the itemusages feature: a clear start-up error, and no reading', async () => {
    const { poller, ctx } = rig({}, {}, { features: ['signinattempts', 'auditevents'] });
    await expect(poller.prepare!(ctx)).rejects.toThrow(/lacks the itemusages feature \(it has: signinattempts, auditevents\)/);
    expect(poller.status()).toMatchObject({ state: 'failed', last_error: expect.stringContaining('create an Events Reporting token with item usage events') });
    await poller.pollOnce(ctx);
    expect(fake.requests.map((q) => q.path)).toEqual(['/api/v2/auth/introspect', '/api/v2/auth/introspect']);
  });

  it('a token the server rejects at start-up', async () => {
    const { poller, ctx, token } = rig();
    fake.revoke(token);
    await expect(poller.prepare!(ctx)).rejects.toThrow(/token rejected \(401/);
    expect(poller.status().state).toBe('failed');
  });
});

describe('base URL', () => {
  it('without `url`, requests go to https://<aud[0]> of the token', async () => {
    const urls: string[] = [];
    const token = fake.token();
    const poller = createOnePasswordPoller({ type: 'onepassword', token, start_from: '1m' }, { configDir: '/' }, {
      ...FAST,
      // Stands in for DNS + TLS: what would reach events.1password.com reaches the fake.
      fetch: (input, init) => { urls.push(input); return fetch(input.replace('https://events.1password.com', fake.url), init); },
    });
    expect(poller.baseUrl).toBe('https://events.1password.com');
    const { ctx } = rig();
    fake.addItemUsages(...fresh(1));
    await poller.prepare!(ctx);
    await poller.pollOnce(ctx);
    expect(urls).toEqual(['https://events.1password.com/api/v2/auth/introspect', 'https://events.1password.com/api/v2/itemusages']);
    expect(await intakeEvents()).toHaveLength(1);
  });

  it('an older token that names no host, without `url`: failed, saying to set url', async () => {
    const poller = createOnePasswordPoller({ type: 'onepassword', token: fake.token({ legacy: true }) }, { configDir: '/' });
    expect(poller.status()).toMatchObject({ state: 'failed', last_error: expect.stringContaining('set `url`') });
    const { ctx } = rig();
    await expect(poller.prepare!(ctx)).rejects.toThrow(/set `url`/);
    await poller.pollOnce(ctx);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('introspection', () => {
  it('falls back to the deprecated v1 call (capitalised keys) where v2 answers 404', async () => {
    const { poller, ctx } = rig({}, {
      // An older deployment: no v2 introspection (the fake answers 404 for an unknown path).
      fetch: (input, init) => fetch(input.replace('/api/v2/auth/introspect', '/api/v2/auth/introspect-missing'), init),
    });
    await poller.prepare!(ctx);
    expect(fake.requests.map((q) => `${q.path} ${q.status}`)).toEqual(['/api/v2/auth/introspect-missing 404', '/api/auth/introspect 200']);
    expect(poller.status().state).toBe('running');
    fake.requests.splice(0, 1); // the rewritten path is ours, not the poller's: keep the spec check honest
  });
});

describe('audit events (audit_events: true)', () => {
  it('grant/revoke on uva/gva become vault access events; other audit events are skipped; each stream has its own cursor', async () => {
    const { poller, ctx } = rig({ audit_events: true });
    const grant = auditEvent({ vaultName: 'Finance' });
    const revokeGroup = auditEvent({ action: 'revoke', objectType: 'gva', aux: { uuid: 'GROUPUUID00000000000000000A', name: 'Contractors' } });
    const others = [auditEvent({ action: 'create', objectType: 'vault' }), auditEvent({ action: 'grant', objectType: 'user' }), auditEvent({ action: 'enblmfa', objectType: 'user' })];
    fake.addAuditEvents(grant, others[0]!, revokeGroup, others[1]!, others[2]!);
    fake.addItemUsages(...fresh(1));
    await poller.prepare!(ctx);
    await poller.pollOnce(ctx);

    expect(bodies('auditevents')[0]).toEqual({ limit: 1000, start_time: expect.any(String) });
    const events = await intakeEvents();
    expect(events.map((e) => e.action)).toEqual(['copy', 'grant', 'revoke']);
    expect(events[1]).toMatchObject({
      id: grant.uuid, source: 'onepassword', action: 'grant', vendor_action: 'grant',
      vault: { id: grant.object_uuid, name: 'Finance' }, item: { id: grant.object_uuid, title: 'vault access' },
      user: { id: 'ADMINUUID00000000000000000A', email: 'avery.admin@example.com', name: 'Avery Admin' },
      subject: { id: 'NEWHIREUUID000000000000000A', email: 'nia.newhire@example.com', name: 'Nia Newhire', kind: 'user' },
      client: { ip: '203.0.113.45' },
    });
    expect(events[2]).toMatchObject({ action: 'revoke', subject: { id: 'GROUPUUID00000000000000000A', name: 'Contractors', kind: 'group' } });
    expect(await r.get(keys.cursor(cursorKey('onepassword', 'auditevents')))).toBe(pages('auditevents')[1]!.cursor);
    expect(await r.get(keys.cursor(cursorKey('onepassword', 'itemusages')))).toBe(pages('itemusages')[0]!.cursor);
    expect(poller.status()).toMatchObject({ state: 'running', events: 3, rejected: 0 });
  });

  it('a token without auditevents: item usages are still read; the status says why audit events are not', async () => {
    const { poller, ctx } = rig({ audit_events: true }, {}, { features: ['itemusages'] });
    fake.addItemUsages(...fresh(1));
    await poller.prepare!(ctx);
    await poller.pollOnce(ctx);
    expect(pages('auditevents')).toHaveLength(0);
    expect(await intakeEvents()).toHaveLength(1);
    expect(poller.status()).toMatchObject({ state: 'degraded', last_error: expect.stringContaining('lacks the auditevents feature') });
  });
});
