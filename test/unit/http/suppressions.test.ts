/**
 * The admin API routes (POST/GET/DELETE /declarations and /silences) against a fake service: the
 * admin token (404 without one configured, 401 without or with a wrong one), status codes for refused,
 * unknown and already-ended records, and 503 when storage fails. The real service and Redis are
 * covered by test/integration/daemon/suppressions.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { SuppressionAdmin } from '../../../src/http/routes/suppressions.ts';
import { SuppressionError, type Suppression, type SuppressionKind, type SuppressionRequest } from '../../../src/pipeline/suppression.ts';
import { buildTestApp } from './helpers.ts';

const ADMIN = 'adm_0123456789abcdef';
const auth = { authorization: `Bearer ${ADMIN}` };

function record(kind: SuppressionKind, id: string, over: Partial<Suppression> = {}): Suppression {
  const base = {
    id, vault: 'v1', from: '2026-03-13T02:00:00.000Z', until: '2026-03-13T04:00:00.000Z', from_ms: 0, until_ms: 1,
    reason: 'r', author: 'a', created_at: '2026-03-13T02:00:00.000Z', notify: [], policy: 'policies/p.yaml', timezone: 'UTC',
  };
  return (kind === 'declaration' ? { kind, user: 'jo@example.com', ...base, ...over } : { kind, ...base, ...over }) as Suppression;
}

class FakeAdmin implements SuppressionAdmin {
  readonly calls: unknown[][] = [];
  fail?: Error;
  async declare(req: SuppressionRequest): Promise<Suppression> {
    this.calls.push(['declare', req]);
    if (this.fail) throw this.fail;
    if (!req.reason) throw new SuppressionError('invalid', [{ field: 'reason', message: 'required' }, { field: 'for', message: '25h is longer than the maximum of 1d (accountability.max_declaration)' }]);
    return record('declaration', 'd-0000000a');
  }
  async silence(req: SuppressionRequest): Promise<Suppression> {
    this.calls.push(['silence', req]);
    if (this.fail) throw this.fail;
    return record('silence', 's-0000000a');
  }
  async end(kind: SuppressionKind, id: string, by: string): Promise<Suppression> {
    this.calls.push(['end', kind, id, by]);
    if (this.fail) throw this.fail;
    if (id.endsWith('404')) throw new SuppressionError('not_found', [{ message: `no ${kind} ${id}` }]);
    if (id.endsWith('409')) throw new SuppressionError('conflict', [{ message: `${kind} ${id} already ended` }]);
    return record(kind, id, { ended_early: { at: 'x', by, planned_until: 'y' } });
  }
  async list(kind: SuppressionKind, opts: { all?: boolean }): Promise<Suppression[]> {
    this.calls.push(['list', kind, opts]);
    if (this.fail) throw this.fail;
    return [record(kind, kind === 'declaration' ? 'd-0000000a' : 's-0000000a')];
  }
}

/** `null`: no admin token configured. */
function app(token: string | null = ADMIN) {
  const admin = new FakeAdmin();
  const t = buildTestApp(null, { admin: { ...(token !== null ? { token } : {}), suppressions: admin } });
  return { ...t, admin };
}

describe('admin API: authentication', () => {
  it('answers 404 on every route when no admin token is configured, and calls nothing', async () => {
    const { app: a, admin } = app(null);
    for (const [method, url] of [['POST', '/declarations'], ['GET', '/declarations'], ['DELETE', '/declarations/d-0000000a'], ['POST', '/silences'], ['GET', '/silences'], ['DELETE', '/silences/s-0000000a']] as const) {
      const res = await a.inject({ method, url, headers: auth, ...(method === 'POST' ? { payload: {} } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().message).toContain('http.admin_token');
    }
    expect(admin.calls).toEqual([]);
  });

  it('answers 401 with WWW-Authenticate without a token or with a wrong one', async () => {
    const { app: a, admin } = app();
    const none = await a.inject({ method: 'GET', url: '/declarations' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    const wrong = await a.inject({ method: 'POST', url: '/silences', headers: { authorization: 'Bearer nope' }, payload: { vault: 'v' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['www-authenticate']).toContain('invalid_token');
    // The ingest token is not the admin token.
    const ingest = await a.inject({ method: 'GET', url: '/silences', headers: { authorization: 'Bearer whk_7f3c0a9e5d1b4c2a8e6f' } });
    expect(ingest.statusCode).toBe(401);
    expect(admin.calls).toEqual([]);
  });

  it('leaves other routes alone', async () => {
    const { app: a } = app();
    expect((await a.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('admin API: declarations and silences', () => {
  it('POST makes one: 201 with the record and its Location', async () => {
    const { app: a, admin } = app();
    const body = { user: 'jo@example.com', vault: 'Finance', for: '2h', reason: 'renewal', ticket: 'FIN-1', author: 'alice' };
    const res = await a.inject({ method: 'POST', url: '/declarations', headers: auth, payload: body });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe('/declarations/d-0000000a');
    expect(res.json().declaration).toMatchObject({ id: 'd-0000000a', kind: 'declaration' });
    expect(admin.calls[0]).toEqual(['declare', body]);
    const s = await a.inject({ method: 'POST', url: '/silences', headers: auth, payload: { vault: 'Finance', for: '1h', reason: 'r', author: 'a' } });
    expect(s.statusCode).toBe(201);
    expect(s.json().silence.id).toBe('s-0000000a');
  });

  it('a refused request is 400 naming every problem', async () => {
    const { app: a } = app();
    const res = await a.inject({ method: 'POST', url: '/declarations', headers: auth, payload: { user: 'jo', vault: 'Finance', for: '25h' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      statusCode: 400, error: 'Bad Request',
      message: 'reason: required; for: 25h is longer than the maximum of 1d (accountability.max_declaration)',
      problems: [{ field: 'reason', message: 'required' }, { field: 'for' }],
    });
  });

  it('400 for unknown fields or a body that is not an object; 415 for a content type that is not JSON or text', async () => {
    const { app: a, admin } = app();
    const unknown = await a.inject({ method: 'POST', url: '/declarations', headers: auth, payload: { user: 'x', duration: '2h' } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toBe('unknown field: duration');
    const arr = await a.inject({ method: 'POST', url: '/declarations', headers: { ...auth, 'content-type': 'application/json' }, payload: '[]' });
    expect(arr.statusCode).toBe(400);
    const text = await a.inject({ method: 'POST', url: '/declarations', headers: { ...auth, 'content-type': 'application/xml' }, payload: '<a/>' });
    expect(text.statusCode).toBe(415);
    const plain = await a.inject({ method: 'POST', url: '/declarations', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'hi' });
    expect(plain.statusCode).toBe(400);
    expect(admin.calls).toEqual([]);
  });

  it('GET lists active ones, or all with ?all=true', async () => {
    const { app: a, admin } = app();
    const res = await a.inject({ method: 'GET', url: '/declarations', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json().declarations).toHaveLength(1);
    await a.inject({ method: 'GET', url: '/silences?all=true', headers: auth });
    expect(admin.calls).toEqual([['list', 'declaration', { all: false }], ['list', 'silence', { all: true }]]);
  });

  it('DELETE ends one (author from ?author=), 404 unknown, 409 already ended, 404 for an id of the other kind', async () => {
    const { app: a, admin } = app();
    const ok = await a.inject({ method: 'DELETE', url: '/declarations/d-0000000a?author=carol', headers: auth });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().declaration.ended_early.by).toBe('carol');
    expect((await a.inject({ method: 'DELETE', url: '/silences/s-00000404', headers: auth })).statusCode).toBe(404);
    expect((await a.inject({ method: 'DELETE', url: '/silences/s-00000409', headers: auth })).statusCode).toBe(409);
    expect((await a.inject({ method: 'DELETE', url: '/declarations/s-0000000a', headers: auth })).statusCode).toBe(404);
    const anon = await a.inject({ method: 'DELETE', url: '/silences/s-0000000a', headers: auth });
    expect(anon.json().silence.ended_early.by).toBe('admin API');
    expect(admin.calls.filter((c) => c[0] === 'end').map((c) => c.slice(1))).toEqual([
      ['declaration', 'd-0000000a', 'carol'], ['silence', 's-00000404', 'admin API'], ['silence', 's-00000409', 'admin API'], ['silence', 's-0000000a', 'admin API'],
    ]);
  });

  it('storage trouble is 503 with Retry-After, without the driver\'s message', async () => {
    const { app: a, admin } = app();
    admin.fail = new Error('connect ECONNREFUSED redis://:secret@10.0.0.1:6379');
    const res = await a.inject({ method: 'GET', url: '/declarations', headers: auth });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).not.toContain('secret');
  });
});
