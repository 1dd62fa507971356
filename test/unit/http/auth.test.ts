import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hmacHex, safeEqual, signHmac, verifyBearer, verifyHmac } from '../../../src/http/auth.ts';

const NOW = Date.parse('2026-03-13T02:10:00.000Z');
const SECRET = 'hmac-3b9f1d7e2a6c4058';

describe('verifyBearer', () => {
  it.each([
    [undefined, 'missing'], ['', 'missing'], ['   ', 'missing'],
    ['Bearer tok-123', 'ok'], ['bearer tok-123', 'ok'], ['BEARER  tok-123 ', 'ok'],
    ['Bearer tok-12', 'invalid'], ['Bearer tok-1234', 'invalid'], ['Basic tok-123', 'invalid'],
    ['tok-123', 'invalid'], ['Bearer tok-123 extra', 'invalid'], [['Bearer tok-123'], 'ok'],
  ] as const)('%j -> %s', (header, expected) => {
    expect(verifyBearer(header as string | string[] | undefined, 'tok-123')).toBe(expected);
  });

  it('safeEqual compares strings of any lengths', () => {
    expect(safeEqual('a', 'a')).toBe(true);
    expect(safeEqual('a', 'ab')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('signHmac / verifyHmac', () => {
  const body = Buffer.from('{"id":"evt-1"}\n');

  it('signs "timestamp.body" with HMAC-SHA256 in hex, timestamp in whole seconds', () => {
    const headers = signHmac(SECRET, body, NOW + 999);
    expect(headers['X-Vaultwatch-Timestamp']).toBe(String(NOW / 1000));
    const expected = createHmac('sha256', SECRET).update(`${NOW / 1000}.{"id":"evt-1"}\n`).digest('hex');
    expect(headers['X-Vaultwatch-Signature']).toBe(`v1=${expected}`);
    expect(hmacHex(SECRET, String(NOW / 1000), body)).toBe(expected);
  });

  function check(headers: { timestamp?: string; signature?: string }, payload = body, now = NOW) {
    return verifyHmac(SECRET, { timestamp: headers.timestamp, signature: headers.signature }, payload, now);
  }

  function good() {
    const h = signHmac(SECRET, body, NOW);
    return { timestamp: h['X-Vaultwatch-Timestamp'], signature: h['X-Vaultwatch-Signature'] };
  }

  it('accepts its own signature, and any one of several v1 values (secret rotation)', () => {
    expect(check(good())).toEqual({ ok: true });
    const other = signHmac('old-secret', body, NOW)['X-Vaultwatch-Signature'];
    expect(check({ ...good(), signature: `${other}, ${good().signature}` })).toEqual({ ok: true });
    expect(check({ ...good(), signature: good().signature.toUpperCase().replace('V1=', 'v1=') })).toEqual({ ok: true });
  });

  it.each([
    ['missing', {}],
    ['missing', { timestamp: String(NOW / 1000) }],
    ['malformed', { timestamp: '2026-03-13T02:10:00Z', signature: 'v1=00' }],
    ['malformed', { timestamp: String(NOW / 1000), signature: 'sha256=abcd' }],
    ['mismatch', { timestamp: String(NOW / 1000), signature: 'v1=zz' }],
    ['mismatch', { timestamp: String(NOW / 1000), signature: `v1=${'0'.repeat(64)}` }],
  ])('refuses (%s) %j', (reason, headers) => {
    expect(check(headers)).toMatchObject({ ok: false, reason });
  });

  it('refuses other bytes and other timestamps under the same signature', () => {
    expect(check(good(), Buffer.from('{"id":"evt-2"}\n'))).toMatchObject({ reason: 'mismatch' });
    expect(check({ ...good(), timestamp: String(NOW / 1000 + 1) })).toMatchObject({ reason: 'mismatch' });
  });

  it('the timestamp may be up to 300 s off either way', () => {
    expect(check(good(), body, NOW + 300_000)).toEqual({ ok: true });
    expect(check(good(), body, NOW - 300_000)).toEqual({ ok: true });
    expect(check(good(), body, NOW + 300_001)).toMatchObject({ reason: 'stale' });
    expect(check(good(), body, NOW - 300_001)).toMatchObject({ reason: 'stale' });
  });
});
