import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkCsrf, csrfValue, signToken, tokenId, verifyToken } from '../../../src/accountability/tokens.ts';

const SECRET = 'test-link-secret-0123456789abcdef';
const NOW = Date.parse('2026-11-21T02:20:00Z');
const claims = { purpose: 'justify' as const, alertId: 'q3Zk8Yw1TfVb0aXcR2dE5gH7jL', recipient: 'email:jo@example.com', expiresAt: NOW + 3_600_000 };

/** Re-encodes a token's payload with `patch`, keeping the original signature. */
function tamper(token: string, patch: Record<string, unknown>): string {
  const [payload, sig] = token.split('.');
  const obj = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
  return `${Buffer.from(JSON.stringify({ ...obj, ...patch })).toString('base64url')}.${sig}`;
}

describe('signed links', () => {
  it('round-trips: signed, then verified with its claims', () => {
    const token = signToken(SECRET, claims);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const check = verifyToken(SECRET, token, NOW, 'justify');
    expect(check).toEqual({ ok: true, claims: { ...claims, id: tokenId(SECRET, 'justify', claims.alertId, claims.recipient) } });
  });

  it('expires: valid until expiresAt, "expired" from then on (with the claims, for the 410 page)', () => {
    const token = signToken(SECRET, claims);
    expect(verifyToken(SECRET, token, claims.expiresAt - 1).ok).toBe(true);
    const at = verifyToken(SECRET, token, claims.expiresAt);
    expect(at).toMatchObject({ ok: false, reason: 'expired', claims: { alertId: claims.alertId } });
    expect(verifyToken(SECRET, token, claims.expiresAt + 86_400_000)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses forgeries: another secret, an edited payload, a later expiry, a swapped purpose', () => {
    const token = signToken(SECRET, claims);
    expect(verifyToken('another-secret-0123456789abcdef!', token, NOW)).toEqual({ ok: false, reason: 'forged' });
    expect(verifyToken(SECRET, tamper(token, { a: 'someotheralert000000000000' }), NOW)).toEqual({ ok: false, reason: 'forged' });
    expect(verifyToken(SECRET, tamper(token, { r: 'email:mallory@example.com' }), NOW)).toEqual({ ok: false, reason: 'forged' });
    // Extending one's own expired link is a forgery too.
    expect(verifyToken(SECRET, tamper(token, { e: NOW + 10 * 86_400_000 }), claims.expiresAt + 1)).toEqual({ ok: false, reason: 'forged' });
    // An ack link cannot open a justification page (and vice versa).
    const ack = signToken(SECRET, { ...claims, purpose: 'ack' });
    expect(verifyToken(SECRET, ack, NOW, 'justify')).toEqual({ ok: false, reason: 'forged' });
    expect(verifyToken(SECRET, ack, NOW, 'ack').ok).toBe(true);
  });

  it('refuses malformed tokens without throwing', () => {
    const token = signToken(SECRET, claims);
    const [payload, sig] = token.split('.');
    for (const bad of ['', '.', 'abc', `${payload}`, `${payload}.`, `.${sig}`, `${payload}.${sig}.x`, `${payload}.${sig!.slice(1)}`,
      `${payload}.${'A'.repeat(43)}`, `${payload}!.${sig}`, 'x'.repeat(5000), `${payload}/../x.${sig}`]) {
      expect(verifyToken(SECRET, bad, NOW), bad.slice(0, 40)).toEqual({ ok: false, reason: 'forged' });
    }
  });

  it('refuses a correctly signed payload that is not ours in shape (version, purpose, id)', () => {
    const sign = (obj: object) => {
      const p = Buffer.from(JSON.stringify(obj)).toString('base64url');
      // Signed with the real scheme: the shape checks, not the signature, must refuse it.
      return `${p}.${createHmac('sha256', SECRET).update('vaultwatch-link.').update(p).digest('base64url')}`;
    };
    const id = tokenId(SECRET, 'justify', claims.alertId, claims.recipient);
    const good = { v: 1, p: 'justify', a: claims.alertId, r: claims.recipient, e: claims.expiresAt, i: id };
    expect(verifyToken(SECRET, sign(good), NOW).ok).toBe(true);
    expect(verifyToken(SECRET, sign({ ...good, v: 2 }), NOW)).toEqual({ ok: false, reason: 'forged' });
    expect(verifyToken(SECRET, sign({ ...good, p: 'admin' }), NOW)).toEqual({ ok: false, reason: 'forged' });
    expect(verifyToken(SECRET, sign({ ...good, i: 'x'.repeat(22) }), NOW)).toEqual({ ok: false, reason: 'forged' });
    expect(verifyToken(SECRET, sign({ ...good, e: 'soon' }), NOW)).toEqual({ ok: false, reason: 'forged' });
  });

  it('token ids: one per (purpose, alert, recipient), whatever the expiry', () => {
    const a = verifyToken(SECRET, signToken(SECRET, claims), NOW);
    const b = verifyToken(SECRET, signToken(SECRET, { ...claims, expiresAt: claims.expiresAt + 5000 }), NOW);
    expect(a.ok && b.ok && a.claims.id === b.claims.id).toBe(true);
    expect(tokenId(SECRET, 'justify', claims.alertId, 'email:x@example.com')).not.toBe(tokenId(SECRET, 'justify', claims.alertId, claims.recipient));
    expect(tokenId(SECRET, 'ack', claims.alertId, claims.recipient)).not.toBe(tokenId(SECRET, 'justify', claims.alertId, claims.recipient));
  });
});

describe('anti-CSRF double submit', () => {
  const token = signToken(SECRET, claims);
  const nonce = 'n0nce-n0nce-n0nce-123';

  it('accepts the field computed for this token and this cookie nonce', () => {
    expect(checkCsrf(SECRET, token, nonce, csrfValue(SECRET, token, nonce))).toBe(true);
  });

  it('refuses a missing cookie, another nonce, another token, a missing or altered field', () => {
    const field = csrfValue(SECRET, token, nonce);
    expect(checkCsrf(SECRET, token, undefined, field)).toBe(false);
    expect(checkCsrf(SECRET, token, 'another-nonce-000000', field)).toBe(false);
    expect(checkCsrf(SECRET, signToken(SECRET, { ...claims, alertId: 'other' }), nonce, field)).toBe(false);
    expect(checkCsrf(SECRET, token, nonce, undefined)).toBe(false);
    expect(checkCsrf(SECRET, token, nonce, `${field.slice(0, -1)}A`)).toBe(false);
    expect(checkCsrf(SECRET, token, 'short', csrfValue(SECRET, token, 'short'))).toBe(false);
  });
});
