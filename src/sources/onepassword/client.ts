/**
 * The 1Password Events API over HTTP (sources.md §1): token introspection and one cursor page of
 * item usages or audit events. No retries and no paging here: the poller decides what an error means.
 *
 * - Base URL: configured, or `https://<aud[0]>` of the token (the trick 1Password's own Elastic beat
 *   uses: Events Reporting tokens are JWTs whose audience is the events host; old tokens carry
 *   `com.1password.streamingservice` and name no host).
 * - Every call sends `Authorization: Bearer <token>`; POSTs send `Content-Type: application/json` and
 *   a body that is exactly a ResetCursor `{limit?, start_time?, end_time?}` or a Cursor `{cursor}`.
 * - Errors are `EventsApiError` with a `kind` the poller maps to a state: `unauthorized` (401: failed
 *   until the token changes), `rate_limited` (429) and `server` / `network` / `bad_response` (back off
 *   and retry), `bad_request` (400: a bug or a cursor the API no longer knows).
 * The token never appears in an error message.
 */

/** The Events API streams this daemon reads (sign-in attempts are not about items or vaults). */
export type EventStream = 'itemusages' | 'auditevents';

/** The body of a first request (or a rewind): sources.md §1.4. */
export interface ResetCursorBody {
  limit?: number;
  start_time?: string;
  end_time?: string;
}

/** The body of every later request. */
export interface CursorBody {
  cursor: string;
}

export type PageRequestBody = ResetCursorBody | CursorBody;

export interface CursorPage {
  cursor: string;
  has_more: boolean;
  items: unknown[];
}

export interface Introspection {
  uuid?: string;
  issued_at?: string;
  features: string[];
  account_uuid?: string;
}

export type EventsApiErrorKind = 'unauthorized' | 'rate_limited' | 'server' | 'bad_request' | 'network' | 'bad_response';

export class EventsApiError extends Error {
  override name = 'EventsApiError';
  constructor(
    message: string,
    readonly kind: EventsApiErrorKind,
    readonly status?: number,
    /** From a `Retry-After` header, when the server sent one (1Password documents none). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface EventsApiClientOptions {
  baseUrl: string;
  token: string;
  /** Default: the global fetch. Tests pass one that records or redirects. */
  fetch?: FetchLike;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
}

export const DEFAULT_USER_AGENT = 'vaultwatch/0.1 (1Password Events API poller)';
const DEFAULT_TIMEOUT_MS = 30_000;

/** The feature a token needs for each stream (introspection lists them). */
export const STREAM_FEATURE: Record<EventStream, string> = { itemusages: 'itemusages', auditevents: 'auditevents' };

const LEGACY_AUDIENCE = 'com.1password.streamingservice';
/** A bare host name with an optional port: what an Events token's audience holds. */
const HOST_RE = /^(?=.{1,253}(?::\d{1,5})?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/i;

/** The claims of a JWT, read without verifying it (the Events server verifies; we only need `aud`). */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts[1] === '') return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `https://<aud[0]>` of an Events Reporting token, or a reason why it cannot be told (the message
 * names what to do: set `url`).
 */
export function baseUrlFromToken(token: string): { url: string } | { error: string } {
  const claims = jwtClaims(token);
  if (claims === undefined) return { error: 'the token is not a JWT, so the Events API URL cannot be taken from it; set `url` (e.g. https://events.1password.com)' };
  const aud = claims['aud'];
  const first = Array.isArray(aud) ? aud[0] : aud;
  if (first === LEGACY_AUDIENCE) {
    return { error: 'the token is an older one that does not name its events host; set `url` (https://events.1password.com, events.ent.1password.com, events.1password.ca or events.1password.eu)' };
  }
  if (typeof first !== 'string' || !HOST_RE.test(first)) {
    return { error: 'the token\'s audience is not an events host; set `url` (e.g. https://events.1password.com)' };
  }
  return { url: `https://${first.toLowerCase()}` };
}

/** `Retry-After: 5` or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** `{"Error":{"Message":"..."}}` -> the message, if the body has that shape. */
function errorText(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { Error?: { Message?: unknown } };
    const m = parsed?.Error?.Message;
    return typeof m === 'string' && m !== '' ? m.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

export class EventsApiClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly fetchFn: FetchLike;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(o: EventsApiClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.token = o.token;
    this.fetchFn = o.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.userAgent = o.userAgent ?? DEFAULT_USER_AGENT;
  }

  /**
   * `GET /api/v2/auth/introspect`; an account that answers 404 there gets the deprecated v1 call
   * (capitalised keys). Features are lower-cased.
   */
  async introspect(signal?: AbortSignal): Promise<Introspection> {
    let res = await this.send('GET', '/api/v2/auth/introspect', undefined, signal);
    let v1 = false;
    if (res.status === 404) {
      await res.arrayBuffer().catch(() => undefined);
      res = await this.send('GET', '/api/auth/introspect', undefined, signal);
      v1 = true;
    }
    const body = await this.read(res, 'introspection');
    if (typeof body !== 'object' || body === null) throw new EventsApiError('introspection answered something that is not a JSON object', 'bad_response', res.status);
    const b = body as Record<string, unknown>;
    const features = v1 ? b['Features'] : b['features'];
    if (!Array.isArray(features)) throw new EventsApiError('introspection answered without a features list', 'bad_response', res.status);
    const pick = (k: string) => (typeof b[k] === 'string' ? b[k] as string : undefined);
    const uuid = pick(v1 ? 'UUID' : 'uuid');
    const issued = pick(v1 ? 'IssuedAt' : 'issued_at');
    const account = pick('account_uuid');
    return {
      features: features.filter((f): f is string => typeof f === 'string').map((f) => f.toLowerCase()),
      ...(uuid !== undefined ? { uuid } : {}),
      ...(issued !== undefined ? { issued_at: issued } : {}),
      ...(account !== undefined ? { account_uuid: account } : {}),
    };
  }

  /** `POST /api/v2/<stream>` with a ResetCursor or Cursor body: one page. */
  async page(stream: EventStream, body: PageRequestBody, signal?: AbortSignal): Promise<CursorPage> {
    const res = await this.send('POST', `/api/v2/${stream}`, JSON.stringify(body), signal);
    const parsed = await this.read(res, stream);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new EventsApiError(`${stream}: the answer is not a JSON object`, 'bad_response', res.status);
    }
    const p = parsed as Record<string, unknown>;
    const items = p['items'] ?? [];
    if (typeof p['cursor'] !== 'string' || p['cursor'] === '' || typeof p['has_more'] !== 'boolean' || !Array.isArray(items)) {
      throw new EventsApiError(`${stream}: the answer lacks cursor, has_more or items`, 'bad_response', res.status);
    }
    return { cursor: p['cursor'], has_more: p['has_more'], items };
  }

  private async send(method: 'GET' | 'POST', path: string, body: string | undefined, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: 'application/json',
      'user-agent': this.userAgent,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      const why = timeout.aborted ? `no answer within ${this.timeoutMs} ms` : signal?.aborted ? 'stopped' : describeNetworkError(err);
      throw new EventsApiError(`${method} ${path}: ${why}`, 'network');
    }
  }

  /** The JSON of a 2xx answer, or the EventsApiError its status means. */
  private async read(res: Response, what: string): Promise<unknown> {
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new EventsApiError(`${what}: the answer broke off (${describeNetworkError(err)})`, 'network', res.status);
    }
    if (res.ok) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new EventsApiError(`${what}: the answer is not JSON`, 'bad_response', res.status);
      }
    }
    const said = errorText(text);
    const detail = said ? ` ${said}` : '';
    const s = res.status;
    if (s === 401 || s === 403) {
      throw new EventsApiError(`token rejected (${s}${detail}): create a new Events Reporting token (1Password > Integrations > Events Reporting) with the needed features and update token/token_file`, 'unauthorized', s);
    }
    if (s === 429) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      throw new EventsApiError(`${what}: rate limited (429${detail}); the account allows 600 requests a minute across all its integrations`, 'rate_limited', s, retryAfterMs);
    }
    if (s >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      throw new EventsApiError(`${what}: server error (${s}${detail})`, 'server', s, retryAfterMs);
    }
    throw new EventsApiError(`${what}: request rejected (${s}${detail})`, 'bad_request', s);
  }
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}
