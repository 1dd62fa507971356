/**
 * A local server that behaves like Bitwarden's cloud, for the Bitwarden source's tests
 * (sources.md 3; bitwarden/server EventsController + EventFilterRequestModel, AspNetCoreRateLimit).
 *
 * One HTTP server plays both hosts, laid out like a self-hosted install: the identity server under
 * `/identity` (`POST /identity/connect/token`) and the API under `/api` (`GET /api/public/events`,
 * `GET /api/public/members`), so clients must join paths onto a base URL correctly.
 *
 * - Identity: form-encoded body only (another content type: 400 invalid_request);
 *   grant_type=client_credentials, scope=api.organization, the right client_id/secret (else 400
 *   `{"error":"invalid_client"}`). Tokens expire after `tokenTtlS` on the server's clock;
 *   `expireTokens()` revokes every token issued so far.
 * - API: bearer token required (401 with WWW-Authenticate otherwise).
 * - Events: `start`/`end` both or neither (neither: the last 30 days, as Bitwarden; one alone is a
 *   400 here, stricter than Bitwarden, so a client bug shows); swapped bounds are swapped back; a range
 *   of 367 days or more is 400 "Date range must be < 367 days."; both ends inclusive, compared at
 *   Bitwarden's 100 ns precision; newest first; keyset paging with an opaque continuationToken that
 *   is only valid for the same start/end; the last page's token is null or "" (`lastPageToken`).
 * - Eventual consistency: an event added with `visibleAt` (or `delayMs`) is not returned before that
 *   time on the server's clock, whatever its date.
 * - Rate limits: `rateLimitNext(n, …)` answers the next n API requests 429 with Retry-After and/or
 *   X-Rate-Limit-Reset (ISO 8601, as AspNetCoreRateLimit writes it); `quota` sets a fixed-window
 *   limit with X-Rate-Limit-* headers on every API answer.
 * - Faults: `failNext(n, status)` for the API, `failMembers(status)` for the member directory.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BwEvent {
  object: 'event';
  type: number;
  itemId: string | null;
  collectionId: string | null;
  groupId: string | null;
  policyId: string | null;
  memberId: string | null;
  actingUserId: string | null;
  installationId: string | null;
  /** Bitwarden's form: 7 fractional digits, `Z`. */
  date: string;
  device: number | null;
  ipAddress: string | null;
  secretId: string | null;
  serviceAccountId: string | null;
}

export interface BwMember {
  object: 'member';
  id: string;
  userId: string | null;
  name: string | null;
  email: string;
  twoFactorEnabled: boolean;
  status: number;
  type: number;
  externalId: string | null;
  resetPasswordEnrolled: boolean;
  collections: unknown[];
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  /** Server clock. */
  at: number;
}

export interface BitwardenFakeOptions {
  organizationId?: string;
  clientSecret?: string;
  /** Server clock (epoch ms). Default Date.now. */
  now?: () => number;
  /** Token lifetime. Default 3600 s. */
  tokenTtlS?: number;
  /** Events per page. Default 100 (Bitwarden's). */
  pageSize?: number;
  /** What the last page says. Default null. */
  lastPageToken?: null | '';
  /** Answer an empty page (with a token) before every real page after the first. Default false. */
  emptyPages?: boolean;
}

export interface RateLimitSpec {
  /** Retry-After seconds; omit for none. */
  retryAfterS?: number;
  /** X-Rate-Limit-Reset this many ms from now; omit for none. */
  resetInMs?: number;
}

export interface BitwardenFake {
  readonly url: string;
  readonly apiUrl: string;
  readonly identityUrl: string;
  readonly organizationId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly requests: RequestRecord[];
  readonly members: BwMember[];
  /** Stored events, visible or not. */
  readonly events: readonly BwEvent[];
  /** How many tokens were issued. */
  readonly tokensIssued: number;
  options: Required<Omit<BitwardenFakeOptions, 'organizationId' | 'clientSecret' | 'now'>>;
  /** Stores an event; it is returned from `visibleAt` (server clock) on. */
  add(event: Partial<BwEvent>, opts?: { visibleAt?: number; delayMs?: number }): BwEvent;
  addMember(m: { userId: string; email: string; name?: string | null }): BwMember;
  expireTokens(): void;
  rateLimitNext(n: number, spec?: RateLimitSpec): void;
  /** Fixed-window quota on API requests, with headers on every answer; undefined turns it off. */
  quota(spec: { permits: number; periodMs: number } | undefined): void;
  failNext(n: number, status?: number): void;
  /** Members requests answer this status until called with undefined. */
  failMembers(status: number | undefined): void;
  /** GET /public/events requests, in order. */
  eventRequests(): RequestRecord[];
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;

/** A Bitwarden event record with defaults (a card code copied from the Chrome extension). */
export function bwEvent(o: Partial<BwEvent> = {}): BwEvent {
  return {
    object: 'event',
    type: 1113,
    itemId: randomUUID(),
    collectionId: null,
    groupId: null,
    policyId: null,
    memberId: null,
    actingUserId: randomUUID(),
    installationId: null,
    date: bwDate(Date.now()),
    device: 2,
    ipAddress: '198.51.100.23',
    secretId: null,
    serviceAccountId: null,
    ...o,
  };
}

/** Epoch ms -> Bitwarden's date text (7 fractional digits); `ticks` adds 100 ns units (0-9999). */
export function bwDate(ms: number, ticks = 0): string {
  const iso = new Date(ms).toISOString(); // 2026-03-12T21:10:00.123Z
  return `${iso.slice(0, 23)}${String(ticks).padStart(4, '0')}Z`;
}

/**
 * A date text as a sortable key at 100 ns precision (`2026-03-12T21:10:00.1234567`), or undefined.
 * Zone-less text is UTC; an offset is applied.
 */
export function dateKey(text: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$/i.exec(text.trim());
  if (!m) return undefined;
  const frac = (m[2] ?? '').padEnd(7, '0');
  const ms = Date.parse(`${m[1]!.replace(' ', 'T')}.${frac.slice(0, 3)}${m[3] ?? 'Z'}`);
  if (Number.isNaN(ms)) return undefined;
  return `${new Date(ms).toISOString().slice(0, 23)}${frac.slice(3)}`;
}

function keyMs(key: string): number {
  return Date.parse(`${key.slice(0, 23)}Z`);
}

interface Stored {
  event: BwEvent;
  key: string;
  seq: number;
  visibleAt: number;
}

export async function startBitwarden(opts: BitwardenFakeOptions = {}): Promise<BitwardenFake> {
  const now = opts.now ?? Date.now;
  const organizationId = opts.organizationId ?? randomUUID();
  const clientId = `organization.${organizationId}`;
  const clientSecret = opts.clientSecret ?? 'bw-test-secret-0123456789abcdef';
  const options = {
    tokenTtlS: opts.tokenTtlS ?? 3600,
    pageSize: opts.pageSize ?? 100,
    lastPageToken: opts.lastPageToken === undefined ? null : opts.lastPageToken,
    emptyPages: opts.emptyPages ?? false,
  };
  const stored: Stored[] = [];
  const members: BwMember[] = [];
  const requests: RequestRecord[] = [];
  /** token -> expiry (server clock). */
  const tokens = new Map<string, number>();
  let issued = 0;
  let seq = 0;
  const limited: RateLimitSpec[] = [];
  const faults: number[] = [];
  let membersStatus: number | undefined;
  let quota: { permits: number; periodMs: number; windowStart: number; used: number } | undefined;

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { object: 'error', message: `fake server error: ${String(err)}` });
    });
  });

  function record(req: IncomingMessage, url: URL, status: number): void {
    requests.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), status, at: now() });
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }), ...headers });
    res.end(text);
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      record(req, url, status);
      send(res, status, body, headers);
    };

    if (url.pathname === '/identity/connect/token') {
      if (req.method !== 'POST') return reply(405, undefined);
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const text = await readBody(req);
      if (type !== 'application/x-www-form-urlencoded') return reply(400, { error: 'invalid_request' });
      const form = new URLSearchParams(text);
      if (form.get('grant_type') !== 'client_credentials') return reply(400, { error: 'unsupported_grant_type' });
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return reply(400, { error: 'invalid_client' });
      if (form.get('scope') !== 'api.organization') return reply(400, { error: 'invalid_scope' });
      const token = `bwtok_${randomUUID()}`;
      tokens.set(token, now() + options.tokenTtlS * 1000);
      issued += 1;
      return reply(200, { access_token: token, expires_in: options.tokenTtlS, token_type: 'Bearer', scope: 'api.organization' });
    }

    if (!url.pathname.startsWith('/api/')) return reply(404, undefined);
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    const expiry = m ? tokens.get(m[1]!) : undefined;
    if (expiry === undefined) return reply(401, undefined, { 'www-authenticate': 'Bearer' });
    if (now() >= expiry) return reply(401, undefined, { 'www-authenticate': 'Bearer error="invalid_token", error_description="The token expired"' });

    const quotaHeaders: Record<string, string> = {};
    if (quota !== undefined) {
      if (now() >= quota.windowStart + quota.periodMs) quota = { ...quota, windowStart: now(), used: 0 };
      quota.used += 1;
      const reset = new Date(quota.windowStart + quota.periodMs).toISOString().replace('Z', '0000Z');
      quotaHeaders['x-rate-limit-limit'] = `${quota.periodMs / 1000}s`;
      quotaHeaders['x-rate-limit-remaining'] = String(Math.max(0, quota.permits - quota.used));
      quotaHeaders['x-rate-limit-reset'] = reset;
      if (quota.used > quota.permits) {
        const retry = Math.max(1, Math.ceil((quota.windowStart + quota.periodMs - now()) / 1000));
        return reply(429, { message: 'Slow down! Too many requests. Try again soon.' }, { ...quotaHeaders, 'retry-after': String(retry) });
      }
    }
    const limit = limited.shift();
    if (limit !== undefined) {
      const headers: Record<string, string> = { 'x-rate-limit-limit': '1m', 'x-rate-limit-remaining': '0' };
      if (limit.retryAfterS !== undefined) headers['retry-after'] = String(limit.retryAfterS);
      if (limit.resetInMs !== undefined) headers['x-rate-limit-reset'] = new Date(now() + limit.resetInMs).toISOString().replace('Z', '0000Z');
      return reply(429, { message: 'Slow down! Too many requests. Try again soon.' }, headers);
    }
    const fault = faults.shift();
    if (fault !== undefined) return reply(fault, { object: 'error', message: 'The server had a problem (fake).' });

    if (req.method === 'GET' && url.pathname === '/api/public/members') {
      if (membersStatus !== undefined) return reply(membersStatus, { object: 'error', message: 'Members unavailable (fake).' }, quotaHeaders);
      return reply(200, { object: 'list', data: members, continuationToken: null }, quotaHeaders);
    }
    if (req.method === 'GET' && url.pathname === '/api/public/events') return events(url, reply, quotaHeaders);
    return reply(404, undefined);
  }

  function events(url: URL, reply: (s: number, b: unknown, h?: Record<string, string>) => void, headers: Record<string, string>): void {
    const q = url.searchParams;
    const startText = q.get('start');
    const endText = q.get('end');
    let startKey: string;
    let endKey: string;
    if (startText === null && endText === null) {
      const today = new Date(now());
      const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
      startKey = dateKey(new Date(midnight - 30 * DAY_MS).toISOString())!;
      endKey = dateKey(new Date(midnight + DAY_MS - 1).toISOString())!;
    } else if (startText === null || endText === null) {
      return reply(400, { object: 'error', message: 'start and end must be given together (fake: stricter than Bitwarden).', errors: null }, headers);
    } else {
      const s = dateKey(startText);
      const e = dateKey(endText);
      if (s === undefined || e === undefined) {
        const bad = s === undefined ? ['start', startText] : ['end', endText];
        return reply(400, { object: 'error', message: 'The request\'s model state is invalid.', errors: { [bad[0]!]: [`The value '${bad[1]}' is not valid.`] } }, headers);
      }
      [startKey, endKey] = s <= e ? [s, e] : [e, s];
    }
    if (keyMs(endKey) - keyMs(startKey) >= 367 * DAY_MS) {
      return reply(400, { object: 'error', message: 'Date range must be < 367 days.', errors: null }, headers);
    }

    let after: { key: string; seq: number } | undefined;
    let emptyServed = false;
    const tokenText = q.get('continuationToken');
    if (tokenText !== null && tokenText !== '') {
      let t: { s?: string; e?: string; k?: string; q?: number; x?: boolean } | undefined;
      try {
        t = JSON.parse(Buffer.from(tokenText, 'base64url').toString('utf8')) as typeof t;
      } catch {
        t = undefined;
      }
      if (t?.s !== startKey || t.e !== endKey) {
        return reply(400, { object: 'error', message: 'Invalid continuation token.', errors: null }, headers);
      }
      if (t.k !== undefined && t.q !== undefined) after = { key: t.k, seq: t.q };
      emptyServed = t.x === true;
    }
    const encode = (o: object): string => Buffer.from(JSON.stringify({ s: startKey, e: endKey, ...o })).toString('base64url');

    // An empty segment with a token, as table storage may answer mid-query.
    if (options.emptyPages && after !== undefined && !emptyServed) {
      return reply(200, { object: 'list', data: [], continuationToken: encode({ k: after.key, q: after.seq, x: true }) }, headers);
    }

    const t = now();
    const matching = stored
      .filter((s) => s.visibleAt <= t && s.key >= startKey && s.key <= endKey)
      .sort((a, b) => (a.key === b.key ? b.seq - a.seq : a.key < b.key ? 1 : -1));
    const from = after === undefined ? 0 : matching.findIndex((s) => s.key < after!.key || (s.key === after!.key && s.seq < after!.seq));
    const rest = from < 0 ? [] : matching.slice(from);
    const page = rest.slice(0, options.pageSize);
    const last = page[page.length - 1];
    const more = rest.length > page.length && last !== undefined;
    reply(200, {
      object: 'list',
      data: page.map((s) => s.event),
      continuationToken: more ? encode({ k: last.key, q: last.seq }) : options.lastPageToken,
    }, headers);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  return {
    url: base,
    apiUrl: `${base}/api`,
    identityUrl: `${base}/identity`,
    organizationId,
    clientId,
    clientSecret,
    requests,
    members,
    get events() {
      return stored.map((s) => s.event);
    },
    get tokensIssued() {
      return issued;
    },
    options,
    add(partial, o = {}) {
      const event = bwEvent(partial);
      const key = dateKey(event.date);
      if (key === undefined) throw new Error(`bad date ${event.date}`);
      stored.push({ event, key, seq: ++seq, visibleAt: o.visibleAt ?? now() + (o.delayMs ?? 0) });
      return event;
    },
    addMember({ userId, email, name }) {
      const m: BwMember = {
        object: 'member', id: randomUUID(), userId, name: name ?? null, email, twoFactorEnabled: true, status: 2, type: 2,
        externalId: null, resetPasswordEnrolled: false, collections: [],
      };
      members.push(m);
      return m;
    },
    expireTokens() {
      for (const k of tokens.keys()) tokens.set(k, 0);
    },
    rateLimitNext(n, spec = { retryAfterS: 1 }) {
      for (let i = 0; i < n; i++) limited.push(spec);
    },
    quota(spec) {
      quota = spec === undefined ? undefined : { ...spec, windowStart: now(), used: 0 };
    },
    failNext(n, status = 500) {
      for (let i = 0; i < n; i++) faults.push(status);
    },
    failMembers(status) {
      membersStatus = status;
    },
    eventRequests() {
      return requests.filter((r) => r.path === '/api/public/events');
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
