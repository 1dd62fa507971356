/**
 * Request authentication for the webhook (daemon.md "Ingest"), as pure functions: a bearer token and an
 * HMAC signature over the exact body bytes. Both comparisons are constant-time. The webhook notifier
 * signs its own requests with `signHmac`, so receivers verify them with the same scheme.
 *
 * Signature scheme: `X-Vaultwatch-Timestamp: <unix seconds>` and
 * `X-Vaultwatch-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. Several `v1=` values
 * may be given, comma-separated (a sender rotating secrets signs with both); any match passes.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-vaultwatch-timestamp';
export const SIGNATURE_HEADER = 'x-vaultwatch-signature';
/** A signed request whose timestamp is further than this from the server clock is refused (replay window). */
export const HMAC_TOLERANCE_SECONDS = 300;

export type BearerResult = 'ok' | 'missing' | 'invalid';

function sha256(text: string | Buffer): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time equality of two strings of any lengths (both hashed first so lengths match). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/**
 * Checks `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750) against the expected
 * token. `missing` when there is no bearer credential at all, `invalid` when it does not match.
 */
export function verifyBearer(header: string | string[] | undefined, expected: string): BearerResult {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return 'missing';
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  if (match === null) return value.trim() === '' ? 'missing' : 'invalid';
  return safeEqual(match[1]!, expected) ? 'ok' : 'invalid';
}

export interface SignedHeaders {
  'X-Vaultwatch-Timestamp': string;
  'X-Vaultwatch-Signature': string;
}

/** The hex HMAC-SHA256 of `"<timestamp>.<body>"`. */
export function hmacHex(secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/**
 * Headers that sign `body` at `nowMs` (epoch milliseconds; the timestamp is whole seconds). The body
 * must be sent byte for byte as signed.
 */
export function signHmac(secret: string, body: string | Buffer, nowMs: number): SignedHeaders {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    'X-Vaultwatch-Timestamp': timestamp,
    'X-Vaultwatch-Signature': `v1=${hmacHex(secret, timestamp, body)}`,
  };
}

export type HmacResult =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch'; message: string };

function headerValue(h: string | string[] | undefined): string | undefined {
  const v = Array.isArray(h) ? h.join(',') : h;
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * Verifies the timestamp and signature headers over the exact body bytes, at `nowMs`. The timestamp
 * must be within HMAC_TOLERANCE_SECONDS of the clock either way (clock skew, and a bound on replays).
 */
export function verifyHmac(
  secret: string,
  headers: { timestamp: string | string[] | undefined; signature: string | string[] | undefined },
  body: Buffer,
  nowMs: number,
  toleranceSeconds = HMAC_TOLERANCE_SECONDS,
): HmacResult {
  const timestamp = headerValue(headers.timestamp);
  const signature = headerValue(headers.signature);
  if (timestamp === undefined || signature === undefined) {
    return { ok: false, reason: 'missing', message: 'X-Vaultwatch-Timestamp and X-Vaultwatch-Signature are required' };
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    return { ok: false, reason: 'malformed', message: 'X-Vaultwatch-Timestamp must be unix seconds' };
  }
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) {
    return { ok: false, reason: 'stale', message: `X-Vaultwatch-Timestamp is more than ${toleranceSeconds} s from the server clock` };
  }
  const candidates = signature.split(',')
    .map((part) => part.trim())
    .filter((part) => part.startsWith('v1='))
    .map((part) => part.slice(3));
  if (candidates.length === 0) {
    return { ok: false, reason: 'malformed', message: 'X-Vaultwatch-Signature must be v1=<hex HMAC-SHA256>' };
  }
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
  let ok = false;
  // Every candidate is compared (no early exit), each in constant time.
  for (const hex of candidates) {
    const wellFormed = HEX_SHA256.test(hex);
    const given = wellFormed ? Buffer.from(hex, 'hex') : Buffer.alloc(expected.length);
    if (timingSafeEqual(given, expected) && wellFormed) ok = true;
  }
  return ok ? { ok: true } : { ok: false, reason: 'mismatch', message: 'signature does not match' };
}
