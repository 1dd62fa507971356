/**
 * The 1Password Events API fake (test/helpers/onepassword-server.ts) behaves like the real API where
 * the poller's tests depend on it: auth, request validation, cursor paging, scripted faults. Its
 * answers validate against the vendor's spec, and it refuses what the spec (plus the exclusivity the
 * spec cannot express) refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvent, startOnePasswordFake, type OnePasswordFake } from '../../helpers/onepassword-server.ts';
import { loadEventsSpec, type EventsSpec } from '../../helpers/onepassword-spec.ts';
import { itemUsage } from '../../helpers/daemon.ts';

let fake: OnePasswordFake;
let spec: EventsSpec;
let token: string;

beforeAll(async () => {
  fake = await startOnePasswordFake();
  spec = loadEventsSpec();
  token = fake.token();
});
afterAll(async () => {
  await fake.close();
});

const now = () => new Date().toISOString();

async function post(path: string, body: unknown, o: { token?: string | null; contentType?: string | null; raw?: string } = {}) {
  const headers: Record<string, string> = {};
  const t = o.token === undefined ? token : o.token;
  if (t !== null) headers.authorization = `Bearer ${t}`;
  if (o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
  const res = await fetch(`${fake.url}${path}`, { method: 'POST', headers, body: o.raw ?? JSON.stringify(body) });
  return { status: res.status, body: await res.json() as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function get(path: string, t: string | null = token) {
  const res = await fetch(`${fake.url}${path}`, { headers: t === null ? {} : { authorization: `Bearer ${t}` } });
  return { status: res.status, body: await res.json() as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const last = () => fake.requests[fake.requests.length - 1]!;

describe('the spec itself', () => {
  it('has Cursor {cursor} and ResetCursor {limit, start_time, end_time}, neither with required keys (so oneOf cannot tell them apart)', () => {
    expect(spec.cursorProps).toEqual(['cursor']);
    expect([...spec.resetProps].sort()).toEqual(['end_time', 'limit', 'start_time']);
    expect(spec.cursorRequired).toBeUndefined();
    expect(spec.resetRequired).toBeUndefined();
  });
});

describe('authentication', () => {
  const UNAUTHORIZED = { Error: { Message: 'Unauthorized' } };
  it('401 without a token, with a token it never issued, a revoked or expired one, or one for another events host', async () => {
    expect(await post('/api/v2/itemusages', {}, { token: null })).toEqual({ status: 401, body: UNAUTHORIZED });
    expect(await post('/api/v2/itemusages', {}, { token: 'not-a-jwt' })).toEqual({ status: 401, body: UNAUTHORIZED });
    const forged = `${token.split('.').slice(0, 2).join('.')}.AAAA`;
    expect((await post('/api/v2/itemusages', {}, { token: forged })).status).toBe(401);
    const revoked = fake.token();
    fake.revoke(revoked);
    expect((await post('/api/v2/itemusages', {}, { token: revoked })).status).toBe(401);
    expect((await get('/api/v2/auth/introspect', revoked)).status).toBe(401);
    const expired = fake.token({ exp: Math.floor(Date.now() / 1000) - 10 });
    expect((await post('/api/v2/itemusages', {}, { token: expired })).status).toBe(401);
    const eu = fake.token({ host: 'events.1password.eu' });
    expect((await post('/api/v2/itemusages', {}, { token: eu })).status).toBe(401);
    expect(last().error).toMatch(/events\.1password\.eu/);
  });

  it('a token without the endpoint\'s feature is refused there, and introspection says what it has', async () => {
    const signIns = fake.token({ features: ['signinattempts'] });
    expect((await post('/api/v2/itemusages', {}, { token: signIns })).status).toBe(401);
    expect((await post('/api/v1/auditevents', {}, { token: signIns })).status).toBe(401);
    const v2 = await get('/api/v2/auth/introspect', signIns);
    expect(v2.status).toBe(200);
    expect(v2.body.features).toEqual(['signinattempts']);
    expect(spec.responseProblems(last())).toEqual([]);
    const v1 = await get('/api/auth/introspect', signIns);
    expect(v1.body).toMatchObject({ Features: ['signinattempts'] });
    expect(v1.body).toHaveProperty('UUID');
    expect(v1.body).toHaveProperty('IssuedAt');
    expect(spec.responseProblems(last())).toEqual([]);
  });

  it('tokens are well-formed JWTs: ES256 header, aud [host], features in 1password.com/fts', () => {
    const [h, p, sig] = token.split('.');
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toMatchObject({ alg: 'ES256', typ: 'JWT' });
    expect(JSON.parse(Buffer.from(p!, 'base64url').toString())).toMatchObject({ aud: ['events.1password.com'], '1password.com/fts': ['auditevents', 'itemusages', 'signinattempts'] });
    expect(sig!.length).toBeGreaterThan(40);
  });
});

describe('request validation (what the real API refuses)', () => {
  const BAD = { status: 400, body: { Error: { Message: 'Bad Request' } } };
  it.each([
    ['both kinds of keys', { cursor: 'x', limit: 10 }],
    ['an unknown key', { limit: 10, since: now() }],
    ['limit 0', { limit: 0 }],
    ['limit 1001', { limit: 1001 }],
    ['a fractional limit', { limit: 1.5 }],
    ['limit as text', { limit: '10' }],
    ['start_time that is not RFC 3339', { start_time: '2026-03-13 10:00' }],
    ['an impossible date', { start_time: '2026-02-30T10:00:00Z' }],
    ['start after end', { start_time: '2026-03-13T10:00:00Z', end_time: '2026-03-12T10:00:00Z' }],
    ['an unknown cursor', { cursor: 'bm9wZQ' }],
    ['an empty cursor', { cursor: '' }],
    ['an array', [{ limit: 1 }]],
  ])('400 for %s', async (_, body) => {
    expect(await post('/api/v2/itemusages', body)).toEqual(BAD);
  });

  it('400 without Content-Type: application/json, or for a body that is not JSON; 405 for GET; 404 elsewhere', async () => {
    expect(await post('/api/v2/itemusages', {}, { contentType: null })).toEqual(BAD);
    expect(await post('/api/v2/itemusages', {}, { contentType: 'text/plain' })).toEqual(BAD);
    expect(await post('/api/v2/itemusages', undefined, { raw: '{"limit":' })).toEqual(BAD);
    expect(await post('/api/v2/itemusages', undefined, { raw: '' })).toEqual(BAD);
    expect((await get('/api/v2/itemusages')).status).toBe(405);
    expect((await post('/api/v2/signinattempt', {})).status).toBe(404);
  });

  it('accepts {}, a ResetCursor and a Cursor, and each of those is what the spec allows', async () => {
    const ok = [
      await post('/api/v2/itemusages', {}),
      await post('/api/v1/itemusages', { limit: 1000, start_time: '2026-03-13T10:00:00-03:00', end_time: now() }),
    ];
    ok.push(await post('/api/v2/itemusages', { cursor: ok[1]!.body.cursor }));
    for (const r of ok) expect(r.status).toBe(200);
    for (const rec of fake.requests.slice(-3)) {
      expect(spec.requestProblems(rec)).toEqual([]);
      expect(spec.responseProblems(rec)).toEqual([]);
    }
  });

  it('the spec check catches the bodies the real API refuses', () => {
    const rec = (body: unknown) => ({ method: 'POST', path: '/api/v2/itemusages', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, rawBody: JSON.stringify(body), status: 0, at: 0 });
    expect(spec.requestProblems(rec({ cursor: 'c' }))).toEqual([]);
    expect(spec.requestProblems(rec({ limit: 5, start_time: '2026-03-13T10:00:00Z' }))).toEqual([]);
    expect(spec.requestProblems(rec({ cursor: 'c', limit: 5 })).join()).toMatch(/exactly Cursor/);
    expect(spec.requestProblems(rec({ limit: 5000 })).join()).toMatch(/ResetCursor: data\/limit must be <= 1000/);
    expect(spec.requestProblems(rec({ start_time: 'yesterday' })).join()).toMatch(/date-time/);
    expect(spec.requestProblems({ ...rec({}), headers: { 'content-type': 'application/json' } }).join()).toMatch(/Bearer/);
  });
});

describe('cursor paging', () => {
  it('pages by cursor with has_more; records added later appear in later pages; caught up returns the same cursor', async () => {
    const f = await startOnePasswordFake({ pageCap: 2 });
    const t = f.token();
    try {
      const call = async (body: unknown) => (await fetch(`${f.url}/api/v2/itemusages`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const recs = [itemUsage({ timestamp: now() }), itemUsage({ timestamp: now() }), itemUsage({ timestamp: now() })];
      const old = itemUsage({ timestamp: new Date(Date.now() - 3 * 3_600_000).toISOString() });
      f.addItemUsages(old, ...recs);
      const p1 = await call({ limit: 1000 }); // default start: an hour ago, so `old` is not in the window
      expect(p1.items.map((i: { uuid: string }) => i.uuid)).toEqual([recs[0]!.uuid, recs[1]!.uuid]);
      expect(p1.has_more).toBe(true);
      const p2 = await call({ cursor: p1.cursor });
      expect(p2.items.map((i: { uuid: string }) => i.uuid)).toEqual([recs[2]!.uuid]);
      expect(p2.has_more).toBe(false);
      const p3 = await call({ cursor: p2.cursor });
      expect(p3).toEqual({ cursor: p2.cursor, has_more: false, items: [] });
      const late = itemUsage({ timestamp: now() });
      f.addItemUsages(late);
      const p4 = await call({ cursor: p2.cursor });
      expect(p4.items.map((i: { uuid: string }) => i.uuid)).toEqual([late.uuid]);
      // An old cursor reads from the same place again (now with the late record too).
      expect((await call({ cursor: p1.cursor })).items.map((i: { uuid: string }) => i.uuid)).toEqual([recs[2]!.uuid, late.uuid]);
      // Scripted empty pages keep has_more true.
      f.emptyPages(2);
      const e1 = await call({ cursor: p1.cursor });
      expect(e1).toMatchObject({ has_more: true, items: [] });
      const e2 = await call({ cursor: e1.cursor });
      expect(e2).toMatchObject({ has_more: true, items: [] });
      expect((await call({ cursor: e2.cursor })).items).toHaveLength(2);
      for (const r of f.requests) expect(spec.responseProblems(r)).toEqual([]);
    } finally {
      await f.close();
    }
  });

  it('v1 serves the same records without the v2-only fields; audit events page the same way', async () => {
    fake.addItemUsages(itemUsage({ timestamp: now() }));
    fake.addAuditEvents(auditEvent(), auditEvent({ action: 'revoke', objectType: 'gva' }));
    const v1 = await post('/api/v1/itemusages', { limit: 1 });
    expect(v1.body.items[0]).not.toHaveProperty('account_uuid');
    expect(v1.body.items[0].user).not.toHaveProperty('user_type');
    const audit = await post('/api/v2/auditevents', { limit: 10 });
    expect(audit.body.items.map((i: { action: string; object_type: string }) => `${i.action}/${i.object_type}`)).toEqual(['grant/uva', 'revoke/gva']);
    expect(spec.responseProblems(last())).toEqual([]);
    // A cursor belongs to its stream.
    expect((await post('/api/v2/itemusages', { cursor: audit.body.cursor })).status).toBe(400);
  });

  it('scripted faults: 429 (with Retry-After when asked), 500, then normal again; held pages wait for release', async () => {
    fake.failNext(1, 429, { retryAfter: '2' });
    fake.failNext(1, 500);
    const r429 = await fetch(`${fake.url}/api/v2/itemusages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    expect(r429.status).toBe(429);
    expect(r429.headers.get('retry-after')).toBe('2');
    expect(await r429.json()).toEqual({ Error: { Message: 'Too Many Requests' } });
    expect((await post('/api/v2/itemusages', {})).status).toBe(500);
    expect((await post('/api/v2/itemusages', {})).status).toBe(200);

    fake.addItemUsages(itemUsage({ timestamp: now() }));
    const gate = fake.holdAfter(1);
    expect((await post('/api/v2/itemusages', {})).status).toBe(200);
    // An empty page passes the gate and does not count.
    expect((await post('/api/v2/itemusages', { start_time: new Date(Date.now() + 3_600_000).toISOString() })).status).toBe(200);
    const pending = post('/api/v2/itemusages', {});
    await fake.waitForRequests(1, () => fake.held() === 1);
    gate.release();
    expect((await pending).status).toBe(200);
    expect(fake.held()).toBe(0);
  });
});
