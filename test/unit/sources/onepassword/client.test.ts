/**
 * The pure parts of the 1Password Events API client and poller: the base URL from the token's
 * audience, Retry-After, start_from, RFC 3339 times, and the poller's configuration errors.
 */
import { describe, expect, it } from 'vitest';
import { baseUrlFromToken, jwtClaims, parseRetryAfter } from '../../../../src/sources/onepassword/client.ts';
import { createOnePasswordPoller, DEFAULT_POLL_INTERVAL_MS, rfc3339, startFromMs } from '../../../../src/sources/onepassword/poller.ts';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwt = (payload: unknown) => `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(payload)}.c2lnbmF0dXJl`;

describe('base URL from the token', () => {
  it.each(['events.1password.com', 'events.ent.1password.com', 'events.1password.ca', 'events.1password.eu'])('aud [%s] -> https://%s', (host) => {
    expect(baseUrlFromToken(jwt({ aud: [host], '1password.com/fts': ['itemusages'] }))).toEqual({ url: `https://${host}` });
  });

  it('reads a single-string aud too, and the claims without verifying', () => {
    expect(baseUrlFromToken(jwt({ aud: 'events.1password.eu' }))).toEqual({ url: 'https://events.1password.eu' });
    expect(jwtClaims(jwt({ aud: ['x'], n: 1 }))).toEqual({ aud: ['x'], n: 1 });
  });

  it('an older token (com.1password.streamingservice), a non-JWT or an audience that is not a host: set url', () => {
    for (const t of [jwt({ aud: ['com.1password.streamingservice'] }), 'opaque-token', jwt({ aud: ['https://evil.example/x'] }), jwt({}), `${b64({})}.!!!.x`]) {
      const r = baseUrlFromToken(t);
      expect(r).toEqual({ error: expect.stringContaining('set `url`') });
    }
  });
});

describe('Retry-After', () => {
  it('seconds or an HTTP date; nothing for absent or unreadable', () => {
    expect(parseRetryAfter('5')).toBe(5000);
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('2015-10-21T07:28:00Z'))).toBe(10_000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('start_from', () => {
  const now = Date.parse('2026-03-13T12:00:00Z');
  it('now (default), a duration back, or an ISO instant', () => {
    expect(startFromMs(undefined, now)).toBe(now);
    expect(startFromMs('now', now)).toBe(now);
    expect(startFromMs('24h', now)).toBe(now - 86_400_000);
    expect(startFromMs('1h30m', now)).toBe(now - 5_400_000);
    expect(startFromMs('2026-03-01T00:00:00+01:00', now)).toBe(Date.parse('2026-02-28T23:00:00Z'));
    expect(startFromMs('last week', now)).toBeUndefined();
    expect(startFromMs('12', now)).toBeUndefined();
  });
  it('RFC 3339 at whole seconds', () => {
    expect(rfc3339(Date.parse('2026-03-13T12:00:00.999Z'))).toBe('2026-03-13T12:00:00Z');
  });
});

describe('poller configuration', () => {
  const token = jwt({ aud: ['events.1password.com'] });
  it('defaults: name onepassword, every 10 s, item usages only; audit_events adds the audit stream', () => {
    const p = createOnePasswordPoller({ type: 'onepassword', token }, { configDir: '/' });
    expect([p.name, p.intervalMs, p.streams, p.baseUrl]).toEqual(['onepassword', DEFAULT_POLL_INTERVAL_MS, ['itemusages'], 'https://events.1password.com']);
    const q = createOnePasswordPoller({ type: 'onepassword', name: 'op-eu', token, url: 'https://events.1password.eu/', poll_interval: '1m', audit_events: true }, { configDir: '/' });
    expect([q.name, q.intervalMs, q.streams, q.baseUrl]).toEqual(['op-eu', 60_000, ['itemusages', 'auditevents'], 'https://events.1password.eu']);
    expect(q.status()).toMatchObject({ name: 'op-eu', type: 'onepassword', state: 'starting' });
  });

  it('never polls faster than once a second', () => {
    expect(createOnePasswordPoller({ type: 'onepassword', token, poll_interval: '100ms' }, { configDir: '/' }).intervalMs).toBe(1000);
  });

  it('a config that cannot work is a failed source with the reason, not a crash', () => {
    const cases: [Parameters<typeof createOnePasswordPoller>[0], RegExp][] = [
      [{ type: 'onepassword' }, /no Events API token/],
      [{ type: 'onepassword', token_file: 'missing-token-file' }, /cannot read token_file missing-token-file: ENOENT/],
      [{ type: 'onepassword', token, start_from: 'yesterday' }, /start_from "yesterday"/],
      [{ type: 'onepassword', token, url: 'events.1password.com' }, /not an http\(s\) URL/],
    ];
    for (const [def, why] of cases) {
      const s = createOnePasswordPoller(def, { configDir: '/nonexistent-dir' }).status();
      expect(s.state).toBe('failed');
      expect(s.last_error).toMatch(why);
    }
  });
});
