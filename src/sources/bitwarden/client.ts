/**
 * HTTP client of the Bitwarden Public API (sources.md 3.1-3.5): the organization API key's OAuth2
 * client-credentials token, and GET requests with the retry policy every caller shares.
 *
 * - Token: `POST {identity}/connect/token` (form-encoded), cached until shortly before `expires_in`;
 *   a 401 from the API drops it and fetches a new one, once; a second 401 is an auth failure.
 * - 429: waits what the server says (`Retry-After`, else `X-Rate-Limit-Reset`, AspNetCoreRateLimit
 *   style), else exponential backoff with jitter. A success that says `X-Rate-Limit-Remaining: 0`
 *   holds the next request until `X-Rate-Limit-Reset`. A wait that would end after the caller's
 *   deadline is not slept: it surfaces as BitwardenRateLimitError with the time to come back.
 * - 5xx, timeouts and network errors: retried with backoff, a few times.
 * - Other 4xx: BitwardenRequestError (the caller gives up until an operator acts).
 *
 * Error messages never contain the client secret or a token.
 */
import { Backoff, sleep } from '../source-health.ts';

export const DEFAULT_API_URL = 'https://api.bitwarden.com';
export const DEFAULT_IDENTITY_URL = 'https://identity.bitwarden.com';
const SCOPE = 'api.organization';
const CLIENT_ID_PREFIX = 'organization.';

/** The credentials were refused (identity 400 invalid_client/invalid_scope, or 401 twice). Permanent. */
export class BitwardenAuthError extends Error {
  override name = 'BitwardenAuthError';
}

/** A 4xx other than 401/429: the request itself is wrong or not allowed. Permanent. */
export class BitwardenRequestError extends Error {
  override name = 'BitwardenRequestError';
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** Rate limited for longer than the caller may wait: come back at `retryAtMs`. Transient. */
export class BitwardenRateLimitError extends Error {
  override name = 'BitwardenRateLimitError';
  constructor(message: string, readonly retryAtMs: number) {
    super(message);
  }
}

/** 5xx, timeouts, network errors, unreadable answers, after the retries. Transient. */
export class BitwardenUnavailableError extends Error {
  override name = 'BitwardenUnavailableError';
}

/** The caller's signal aborted (shutdown): not an error of the source. */
export class BitwardenAbortedError extends Error {
  override name = 'BitwardenAbortedError';
}

export interface BitwardenClientOptions {
  clientId: string;
  clientSecret: string;
  /** Default https://api.bitwarden.com; self-hosted: https://<domain>/api. */
  apiUrl?: string;
  /** Default https://identity.bitwarden.com; self-hosted: https://<domain>/identity. */
  identityUrl?: string;
  /** Epoch ms: token expiry and rate-limit resets are judged by it. Default Date.now. */
  now?: () => number;
  fetch?: typeof fetch;
  /** Per HTTP request. Default 30 s. */
  timeoutMs?: number;
  /** Backoff of 5xx/network retries and of 429s without headers. Default 1 s doubling to 30 s. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Attempts per request for 5xx/network errors. Default 4. */
  attempts?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Epoch ms (of `now`) after which no wait may end: a longer rate-limit wait throws instead. */
  deadlineMs?: number;
  /** Override of `attempts` (members lookups try once: they must never hold up events). */
  attempts?: number;
  /** Override of the per-request timeout. */
  timeoutMs?: number;
}

export interface ListResponse {
  object?: unknown;
  data: unknown[];
  continuationToken?: unknown;
}

interface Token {
  value: string;
  /** Use until (epoch ms): a little before the server's expiry. */
  refreshAt: number;
}

/** The organization id in an organization API key's client_id (`organization.<id>`), or undefined. */
export function organizationIdOf(clientId: string): string | undefined {
  const id = clientId.trim();
  if (!id.startsWith(CLIENT_ID_PREFIX)) return undefined;
  const org = id.slice(CLIENT_ID_PREFIX.length);
  return org === '' ? undefined : org;
}

export class BitwardenClient {
  readonly organizationId: string;
  private readonly apiUrl: string;
  private readonly identityUrl: string;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private token: Token | undefined;
  private tokenInFlight: Promise<Token> | undefined;
  /** No request before this (epoch ms): the server said the quota is spent until then. */
  private notBefore = 0;

  constructor(private readonly opts: BitwardenClientOptions) {
    const org = organizationIdOf(opts.clientId);
    if (org === undefined) {
      throw new BitwardenAuthError(
        'the Bitwarden client_id must be an organization API key\'s (organization.<id>, Admin Console > Settings > '
        + 'Organization info > API key); personal keys (user.<id>) cannot read event logs');
    }
    this.organizationId = org;
    this.apiUrl = trimSlash(opts.apiUrl ?? DEFAULT_API_URL);
    this.identityUrl = trimSlash(opts.identityUrl ?? DEFAULT_IDENTITY_URL);
    this.now = opts.now ?? Date.now;
    this.fetchImpl = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.attempts = Math.max(1, opts.attempts ?? 4);
  }

  /** When the next request may go out (epoch ms), after a spent quota. */
  get rateLimitedUntil(): number {
    return this.notBefore;
  }

  /** Drops the cached token (tests; a rotated key). */
  forgetToken(): void {
    this.token = undefined;
  }

  /** A valid access token, from the cache or the identity server. */
  async accessToken(req: RequestOptions = {}): Promise<string> {
    const t = this.token;
    if (t !== undefined && this.now() < t.refreshAt) return t.value;
    this.tokenInFlight ??= this.withRetries('POST /connect/token', req, () => this.fetchToken(req))
      .finally(() => { this.tokenInFlight = undefined; });
    const fresh = await this.tokenInFlight;
    this.token = fresh;
    return fresh.value;
  }

  /** `GET /public/events` for one page. */
  events(query: { start: string; end: string; continuationToken?: string }, req: RequestOptions = {}): Promise<ListResponse> {
    const params: Record<string, string> = { start: query.start, end: query.end };
    if (query.continuationToken !== undefined) params['continuationToken'] = query.continuationToken;
    return this.list('/public/events', params, req);
  }

  /** `GET /public/members` for one page. */
  members(continuationToken: string | undefined, req: RequestOptions = {}): Promise<ListResponse> {
    return this.list('/public/members', continuationToken === undefined ? {} : { continuationToken }, req);
  }

  private async list(path: string, params: Record<string, string>, req: RequestOptions): Promise<ListResponse> {
    const url = new URL(`${this.apiUrl}${path}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const body = await this.withRetries(`GET ${path}`, req, () => this.getOnce(url, path, req));
    if (typeof body !== 'object' || body === null || !Array.isArray((body as { data?: unknown }).data)) {
      throw new BitwardenUnavailableError(`Bitwarden answered GET ${path} with something that is not a list ({object, data[]})`);
    }
    return body as ListResponse;
  }

  /**
   * One authorised GET. A 401 drops the token and tries once more with a fresh one; a second 401
   * means the key is not (or no longer) allowed.
   */
  private async getOnce(url: URL, path: string, req: RequestOptions): Promise<Attempt<unknown>> {
    for (let refreshed = false; ; refreshed = true) {
      const token = await this.accessToken(req);
      const res = await this.send(url, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, req);
      if (res.status === 401) {
        await res.body?.cancel().catch(() => {});
        if (this.token?.value === token) this.token = undefined;
        if (!refreshed) continue;
        throw new BitwardenAuthError(
          `Bitwarden answered 401 to GET ${path} with a freshly issued token: the organization API key is not allowed `
          + 'to read this organization\'s data (rotated key? plan without the Public API?)');
      }
      return this.judge(res, `GET ${path}`);
    }
  }

  private async fetchToken(req: RequestOptions): Promise<Attempt<Token>> {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: SCOPE,
      client_id: this.opts.clientId.trim(),
      client_secret: this.opts.clientSecret,
    });
    const res = await this.send(new URL(`${this.identityUrl}/connect/token`), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: body.toString(),
    }, req);
    if (res.status === 400 || res.status === 401) {
      const answer = await readJson(res);
      const code = typeof answer?.['error'] === 'string' ? answer['error'] : `HTTP ${res.status}`;
      if (code === 'invalid_client') {
        throw new BitwardenAuthError('Bitwarden rejected the organization API key (invalid_client): check client_id/client_secret');
      }
      if (code === 'invalid_scope' || code === 'unauthorized_client') {
        throw new BitwardenAuthError(`Bitwarden refused the api.organization scope (${code}): use the organization API key, not a personal one`);
      }
      throw new BitwardenAuthError(`Bitwarden's identity server refused the token request (${code}): check identity_url, client_id and client_secret`);
    }
    const judged = await this.judge(res, 'POST /connect/token');
    if (judged.kind !== 'ok') return judged;
    const answer = judged.value as Record<string, unknown> | undefined;
    const value = answer?.['access_token'];
    if (typeof value !== 'string' || value === '') {
      throw new BitwardenUnavailableError('Bitwarden\'s identity server answered without an access_token');
    }
    const expiresIn = typeof answer?.['expires_in'] === 'number' && answer['expires_in'] > 0 ? answer['expires_in'] : 3600;
    const lifeMs = expiresIn * 1000;
    // Renew a little early: a minute for real tokens (an hour), a tenth of the life for short ones.
    return { kind: 'ok', value: { value, refreshAt: this.now() + lifeMs - Math.min(60_000, lifeMs / 10) } };
  }

  /** Status -> ok, retry (5xx, 429 with how long) or a thrown permanent error. */
  private async judge(res: Response, what: string): Promise<Attempt<unknown>> {
    this.noteQuota(res);
    if (res.status === 429) {
      await res.body?.cancel().catch(() => {});
      return { kind: 'rate-limited', waitMs: this.serverWaitMs(res) };
    }
    if (res.status >= 500) {
      await res.body?.cancel().catch(() => {});
      return { kind: 'retry', error: new BitwardenUnavailableError(`Bitwarden answered ${res.status} to ${what}`) };
    }
    if (res.status >= 400) {
      const answer = await readJson(res);
      const message = typeof answer?.['message'] === 'string' ? `: ${answer['message']}` : '';
      const hint = res.status === 404 ? ' (check api_url: self-hosted servers serve the API under https://<domain>/api)' : '';
      throw new BitwardenRequestError(`Bitwarden answered ${res.status} to ${what}${message}${hint}`, res.status);
    }
    try {
      return { kind: 'ok', value: await res.json() };
    } catch {
      return { kind: 'retry', error: new BitwardenUnavailableError(`Bitwarden answered ${what} with a body that is not JSON`) };
    }
  }

  /**
   * Runs `once` until it succeeds: 429s wait (server's word, else backoff) as long as the deadline
   * allows; 5xx and network errors retry `attempts` times.
   */
  private async withRetries<T>(what: string, req: RequestOptions, once: () => Promise<Attempt<T>>): Promise<T> {
    const backoff = new Backoff(this.opts.backoffMinMs ?? 1_000, this.opts.backoffMaxMs ?? 30_000);
    const attempts = Math.max(1, req.attempts ?? this.attempts);
    let failures = 0;
    for (;;) {
      await this.holdForQuota(what, req);
      let outcome: Attempt<T>;
      try {
        outcome = await once();
      } catch (err) {
        if (req.signal?.aborted) throw new BitwardenAbortedError('stopped');
        if (!isNetworkError(err)) throw err;
        outcome = { kind: 'retry', error: new BitwardenUnavailableError(`Bitwarden did not answer ${what}: ${describeNetworkError(err)}`) };
      }
      if (outcome.kind === 'ok') return outcome.value;
      if (outcome.kind === 'rate-limited') {
        const waitMs = outcome.waitMs ?? backoff.next();
        this.notBefore = Math.max(this.notBefore, this.now() + waitMs);
        continue; // waitUntil at the top decides between sleeping and giving the round back
      }
      failures += 1;
      if (failures >= attempts) throw outcome.error;
      const waitMs = backoff.next();
      await this.waitUntil(this.now() + waitMs, what, req, outcome.error);
    }
  }

  /** Waits out a spent quota (once per verdict: a clock that does not move must not keep us here). */
  private async holdForQuota(what: string, req: RequestOptions): Promise<void> {
    const until = this.notBefore;
    if (until <= this.now()) return;
    await this.waitUntil(until, what, req);
    if (this.notBefore === until) this.notBefore = 0;
  }

  /** Sleeps until `untilMs`, unless that is past the deadline (then throws) or the signal aborts. */
  private async waitUntil(untilMs: number, what: string, req: RequestOptions, cause?: Error): Promise<void> {
    const waitMs = untilMs - this.now();
    if (waitMs <= 0) return;
    if (req.deadlineMs !== undefined && untilMs > req.deadlineMs) {
      if (cause !== undefined) throw cause;
      throw new BitwardenRateLimitError(
        `rate limited by Bitwarden (${what}); next request after ${new Date(untilMs).toISOString()}`, untilMs);
    }
    await sleep(waitMs, req.signal);
    if (req.signal?.aborted) throw new BitwardenAbortedError('stopped');
  }

  /** A success with `X-Rate-Limit-Remaining: 0` holds the next request until the reset. */
  private noteQuota(res: Response): void {
    const remaining = res.headers.get('x-rate-limit-remaining');
    if (remaining === null || Number(remaining.trim()) > 0) return;
    if (res.status === 429) return; // handled by the caller with Retry-After first
    const reset = parseReset(res.headers.get('x-rate-limit-reset'), this.now());
    if (reset !== undefined) this.notBefore = Math.max(this.notBefore, Math.min(reset + RESET_SLACK_MS, this.now() + MAX_HEADER_WAIT_MS));
  }

  /** How long a 429 asks to wait: Retry-After, else X-Rate-Limit-Reset; undefined when neither is usable. */
  private serverWaitMs(res: Response): number | undefined {
    const now = this.now();
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'), now);
    const reset = parseReset(res.headers.get('x-rate-limit-reset'), now);
    const wait = retryAfter ?? (reset === undefined ? undefined : reset + RESET_SLACK_MS - now);
    if (wait === undefined) return undefined;
    // A reset already past (clock skew) still earns a short pause; a silly one is capped.
    return Math.min(MAX_HEADER_WAIT_MS, Math.max(MIN_429_WAIT_MS, wait));
  }

  private async send(url: URL, init: RequestInit, req: RequestOptions): Promise<Response> {
    const timeout = AbortSignal.timeout(req.timeoutMs ?? this.timeoutMs);
    return this.fetchImpl(url, { ...init, redirect: 'error', signal: req.signal ? AbortSignal.any([req.signal, timeout]) : timeout });
  }
}

type Attempt<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'retry'; error: Error }
  | { kind: 'rate-limited'; waitMs: number | undefined };

/** No server-given wait is believed beyond an hour (a misread header must not park the source for days). */
const MAX_HEADER_WAIT_MS = 3_600_000;
const MIN_429_WAIT_MS = 50;
/** A reset instant is the server's edge of the window: arriving a hair early would be refused. */
const RESET_SLACK_MS = 50;

/** `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at - nowMs;
}

/**
 * `X-Rate-Limit-Reset` as an instant (epoch ms). AspNetCoreRateLimit writes an ISO 8601 UTC date
 * (`2026-03-12T21:10:00.0000000Z`); other servers write epoch seconds or seconds to go.
 */
export function parseReset(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    if (n > 1e12) return n; // epoch ms
    if (n > 1e9) return n * 1000; // epoch s
    return nowMs + n * 1000; // seconds to go
  }
  // .NET's "o" format has 7 fractional digits: Date.parse reads at most 3 on some engines.
  const at = Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(at) ? undefined : at;
}

function trimSlash(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

async function readJson(res: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const v: unknown = await res.json();
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/**
 * fetch's own failures (refused, reset, DNS, TLS, timeout) as opposed to our thrown verdicts and to
 * bugs: undici rejects with `TypeError: fetch failed` carrying the cause.
 */
function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return true;
  return err.name === 'TypeError' && (err.message === 'fetch failed' || (err as { cause?: unknown }).cause !== undefined);
}

function describeNetworkError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out';
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
