/**
 * Signed links (daemon.md: "A used or expired link answers 410 with a page that says so; a forged one
 * 403") and the anti-CSRF value of the pages they open. Pure: the secret and the clock are passed in;
 * single use is enforced by the caller in Redis (SET NX on the token id).
 *
 * A token is `<payload>.<signature>`, both base64url: the payload is JSON
 * `{v:1, p: purpose, a: alert id, r: recipient, e: expiry (epoch ms), i: token id}` and the signature
 * is HMAC-SHA256(secret, "vaultwatch-link." + payload). The token id is derived from (purpose, alert,
 * recipient) with the same secret, so every link minted for one recipient's question about one alert
 * shares one single-use marker: a retried send yields a link that is used up by the same answer, and
 * answering through Slack uses up the emailed link.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenPurpose = 'justify' | 'ack';
export const TOKEN_PURPOSES: readonly TokenPurpose[] = ['justify', 'ack'];

export interface TokenClaims {
  purpose: TokenPurpose;
  alertId: string;
  /** Who the link was sent to: `email:jo@example.com` (or a Slack user for DMs). */
  recipient: string;
  /** Epoch milliseconds after which the link answers 410. */
  expiresAt: number;
  /** Single-use key: the same for every link of one (purpose, alert, recipient). */
  id: string;
}

export type TokenCheck =
  | { ok: true; claims: TokenClaims }
  /** Not ours: bad shape, bad signature, unknown version or purpose. Answer 403. */
  | { ok: false; reason: 'forged' }
  /** Ours but past its expiry. Answer 410. */
  | { ok: false; reason: 'expired'; claims: TokenClaims };

/** Tokens longer than this are not even looked at (a link is about 200 characters). */
export const MAX_TOKEN_LENGTH = 1024;
const SIGNATURE_CONTEXT = 'vaultwatch-link.';

/** The single-use id of (purpose, alert, recipient): 128 bits of HMAC, base64url. */
export function tokenId(secret: string, purpose: TokenPurpose, alertId: string, recipient: string): string {
  return createHmac('sha256', secret).update(`vaultwatch-token-id\u0000${purpose}\u0000${alertId}\u0000${recipient}`).digest('base64url').slice(0, 22);
}

export function signToken(secret: string, c: Omit<TokenClaims, 'id'>): string {
  const id = tokenId(secret, c.purpose, c.alertId, c.recipient);
  const payload = Buffer.from(JSON.stringify({ v: 1, p: c.purpose, a: c.alertId, r: c.recipient, e: Math.floor(c.expiresAt), i: id })).toString('base64url');
  return `${payload}.${signature(secret, payload).toString('base64url')}`;
}

/**
 * Checks the signature (constant time) before reading anything from the payload, then the expiry at
 * `nowMs`. `expected`, when given, is the only purpose accepted: an `ack` link cannot open a
 * justification page.
 */
export function verifyToken(secret: string, token: string, nowMs: number, expected?: TokenPurpose): TokenCheck {
  const forged = { ok: false, reason: 'forged' } as const;
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return forged;
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return forged;
  const payload = token.slice(0, dot);
  const sig = token.slice(dot + 1);
  if (!/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return forged;
  const given = Buffer.from(sig, 'base64url');
  const want = signature(secret, payload);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return forged;

  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return forged;
  }
  const claims = readClaims(raw);
  // A signed payload we cannot read was not written by this version: treat it as not ours.
  if (!claims) return forged;
  if (expected !== undefined && claims.purpose !== expected) return forged;
  if (claims.id !== tokenId(secret, claims.purpose, claims.alertId, claims.recipient)) return forged;
  if (nowMs >= claims.expiresAt) return { ok: false, reason: 'expired', claims };
  return { ok: true, claims };
}

function signature(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(SIGNATURE_CONTEXT).update(payload).digest();
}

function readClaims(raw: unknown): TokenClaims | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (o.v !== 1) return undefined;
  if (typeof o.p !== 'string' || !(TOKEN_PURPOSES as readonly string[]).includes(o.p)) return undefined;
  if (typeof o.a !== 'string' || o.a === '' || typeof o.r !== 'string' || typeof o.i !== 'string') return undefined;
  if (typeof o.e !== 'number' || !Number.isFinite(o.e)) return undefined;
  return { purpose: o.p as TokenPurpose, alertId: o.a, recipient: o.r, expiresAt: o.e, id: o.i };
}

// ---------------------------------------------------------------------------------------------------
// Anti-CSRF (double submit): the page sets a random nonce in a SameSite=Strict cookie and puts
// HMAC(secret, token + nonce) in a hidden field; the POST must carry both, and they must agree. A
// cross-site form can neither read the cookie nor compute the field.

export const CSRF_COOKIE = 'vw_csrf';
export const CSRF_FIELD = 'csrf';

export function csrfValue(secret: string, token: string, nonce: string): string {
  return createHmac('sha256', secret).update(`vaultwatch-csrf\u0000${token}\u0000${nonce}`).digest('base64url');
}

/** A nonce as the cookie carries it: 16+ base64url characters, nothing else. */
export function isNonce(value: string | undefined): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{16,64}$/.test(value);
}

export function checkCsrf(secret: string, token: string, nonce: string | undefined, field: string | undefined): boolean {
  if (!isNonce(nonce) || typeof field !== 'string' || field.length > 100) return false;
  const want = Buffer.from(csrfValue(secret, token, nonce));
  const given = Buffer.from(field);
  return given.length === want.length && timingSafeEqual(given, want);
}
