/**
 * A local server that behaves like the 1Password Events API (sources.md §1), for the poller's tests.
 *
 * - Routes: `GET /api/v2/auth/introspect` and the deprecated `GET /api/auth/introspect` (capitalised
 *   keys); `POST /api/v2/itemusages`, `/api/v2/auditevents` and their `/api/v1/...` twins (v1 records
 *   lack the v2-only fields). Other paths 404, other methods 405.
 * - Auth: `Authorization: Bearer <JWT>`. Tokens are minted here (`token()`): well-formed, unsigned
 *   JWTs (ES256 header, `aud: [host]`, features in `1password.com/fts`). A token this server did not
 *   mint, a revoked or expired one, one for another events host, or one without the endpoint's feature
 *   gets `401 {"Error":{"Message":"Unauthorized"}}`.
 * - Requests are checked as the real API would: POST with `Content-Type: application/json`; the body
 *   exactly a ResetCursor `{limit?, start_time?, end_time?}` (limit an integer 1..1000, times RFC 3339)
 *   or a Cursor `{cursor}`; both kinds of keys, unknown keys, or an unknown cursor ->
 *   `400 {"Error":{"Message":"Bad Request"}}`.
 * - Paging: a scripted store per stream (append-only; records added during a test show up in later
 *   pages). A ResetCursor selects records whose `timestamp` lies in [start_time (default now-1h),
 *   end_time]; every page answers a new opaque cursor and `has_more`. Old cursors stay valid and read
 *   the same page again (what a poller that failed to store a page does).
 * - Scripts: `failNext(n, status)` (429 bursts with or without Retry-After, 500, 401), `emptyPages(n)`
 *   (empty pages with has_more true), `holdAfter(n)` (serve n more pages with records, then hold the
 *   next such page request until `release()`), `revoke(token)`, `responseDelayMs`.
 * - Every request is recorded (method, path, headers, raw and parsed body, status, times, uuids
 *   served), so tests can check them against the spec.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseDocument } from 'yaml';
import { waitFor } from './wait-for.ts';

export type FakeStream = 'itemusages' | 'auditevents';
export const DEFAULT_EVENTS_HOST = 'events.1password.com';
export const ALL_FEATURES = ['auditevents', 'itemusages', 'signinattempts'];

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  rawBody: string;
  /** The parsed JSON body, when it parsed. */
  body?: unknown;
  status: number;
  /** Date.now() when the request arrived, and when the answer was written. */
  at: number;
  answeredAt?: number;
  stream?: FakeStream;
  version?: 'v1' | 'v2';
  bodyKind?: 'reset' | 'cursor';
  /** The `uuid`s of the records on the page served. */
  served?: string[];
  hasMore?: boolean;
  cursor?: string;
  /** Why it was answered 400/401 (for test failure messages). */
  error?: string;
  /** The JSON answered. */
  response?: unknown;
}

export interface TokenOptions {
  features?: string[];
  /** The events host in `aud`; default this server's host. `legacy` writes the old audience. */
  host?: string;
  legacy?: boolean;
  /** Expiry (epoch seconds). */
  exp?: number;
}

export interface Gate {
  /** Serve the held requests and every later one. */
  release(): void;
}

interface CursorState {
  stream: FakeStream;
  pos: number;
  startMs: number;
  endMs: number;
  limit: number;
}

interface Fault {
  status: number;
  retryAfter?: string;
  stream?: FakeStream | 'introspect';
}

export interface OnePasswordFake {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** The events host tokens must name (`aud[0]`). */
  readonly host: string;
  readonly requests: RecordedRequest[];
  /** Mints a token this server accepts. */
  token(opts?: TokenOptions): string;
  revoke(token: string): void;
  unrevoke(token: string): void;
  addItemUsages(...records: Record<string, unknown>[]): void;
  addAuditEvents(...records: Record<string, unknown>[]): void;
  /** Answer the next `n` requests (of a stream, or introspection) with `status`. */
  failNext(n: number, status: number, opts?: { retryAfter?: string; stream?: FakeStream | 'introspect' }): void;
  /** The next `n` page requests of the stream answer `{items: [], has_more: true}`. */
  emptyPages(n: number, stream?: FakeStream): void;
  /**
   * Serve `n` more pages of the stream that carry records, then hold every page request that would
   * carry records until release(). Pages that would be empty pass and do not count.
   */
  holdAfter(n: number, stream?: FakeStream): Gate;
  /** Page requests being held now. */
  held(stream?: FakeStream): number;
  /** Items per page at most, whatever the request's limit (the real API may return fewer). */
  pageCap: number;
  /** Wait before answering each request (to make overlapping rounds visible). */
  responseDelayMs: number;
  /** Called when a page is written, with its records (benchmarks time the serving). */
  onServe?: (stream: FakeStream, items: Record<string, unknown>[], at: number) => void;
  /** Page requests (POSTs answered 200) of a stream. */
  pageRequests(stream?: FakeStream): RecordedRequest[];
  waitForRequests(count: number, filter?: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const id26 = (): string => [...randomBytes(26)].map((b) => BASE32[b % 32]).join('');

/** An unsigned but well-formed Events Reporting JWT (the server here never checks signatures). */
export function mintJwt(opts: TokenOptions & { host: string }): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'ES256', kid: id26().toLowerCase(), typ: 'JWT' };
  const payload: Record<string, unknown> = {
    '1password.com/auuid': id26(),
    '1password.com/token': randomBytes(24).toString('base64url'),
    '1password.com/fts': opts.features ?? ALL_FEATURES,
    aud: [opts.legacy ? 'com.1password.streamingservice' : opts.host],
    sub: id26(),
    iat: now,
    iss: 'com.1password.b5',
    jti: id26().toLowerCase(),
    ...(opts.exp !== undefined ? { exp: opts.exp } : {}),
  };
  return `${b64url(header)}.${b64url(payload)}.${randomBytes(64).toString('base64url')}`;
}

/** RFC 3339 date-time (what the spec's `format: date-time` means), calendar-checked. */
export function isRfc3339(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (!/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/.test(value)) return false;
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const probe = new Date(Date.UTC(y, m - 1, d));
  return probe.getUTCMonth() === m - 1 && probe.getUTCDate() === d && !Number.isNaN(Date.parse(value));
}

const RESET_KEYS = new Set(['limit', 'start_time', 'end_time']);

/**
 * Why a page request body would be refused (undefined when it is a valid ResetCursor or Cursor).
 * The spec's oneOf has no required properties (sources.md §1.13), so exclusivity is checked here.
 */
export function cursorBodyProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not a JSON object';
  const keys = Object.keys(body);
  const b = body as Record<string, unknown>;
  if (keys.includes('cursor')) {
    if (keys.length !== 1) return `a Cursor body takes only "cursor" (got ${keys.join(', ')})`;
    if (typeof b['cursor'] !== 'string' || b['cursor'] === '') return 'cursor is not a non-empty string';
    return undefined;
  }
  const unknown = keys.filter((k) => !RESET_KEYS.has(k));
  if (unknown.length > 0) return `unknown keys: ${unknown.join(', ')}`;
  if ('limit' in b) {
    const l = b['limit'];
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 1 || l > 1000) return `limit ${JSON.stringify(l)} is not an integer in 1..1000`;
  }
  for (const k of ['start_time', 'end_time']) {
    if (k in b && !isRfc3339(b[k])) return `${k} ${JSON.stringify(b[k])} is not an RFC 3339 date-time`;
  }
  if (typeof b['start_time'] === 'string' && typeof b['end_time'] === 'string' && Date.parse(b['start_time']) > Date.parse(b['end_time'])) {
    return 'start_time is after end_time';
  }
  return undefined;
}

/** v1 records lack the MSP fields v2 added (sources.md §1.3). */
function asV1(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...record };
  delete out['account_uuid'];
  if (typeof out['user'] === 'object' && out['user'] !== null) {
    const user = { ...(out['user'] as Record<string, unknown>) };
    delete user['user_type'];
    delete user['user_account_uuid'];
    out['user'] = user;
  }
  for (const k of ['actor_type', 'actor_account_uuid', 'actor_details', 'object_details', 'aux_details']) delete out[k];
  return out;
}

export async function startOnePasswordFake(opts: { host?: string; pageCap?: number } = {}): Promise<OnePasswordFake> {
  const host = opts.host ?? DEFAULT_EVENTS_HOST;
  const minted = new Map<string, { features: string[]; aud: string; exp?: number }>();
  const revoked = new Set<string>();
  const stores: Record<FakeStream, Record<string, unknown>[]> = { itemusages: [], auditevents: [] };
  const cursors = new Map<string, CursorState>();
  const faults: Fault[] = [];
  const empties: Record<FakeStream, number> = { itemusages: 0, auditevents: 0 };
  const gates: Record<FakeStream, { remaining: number; open: boolean; waiters: (() => void)[] } | undefined> = { itemusages: undefined, auditevents: undefined };
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();

  const fake: OnePasswordFake = {
    url: '',
    host,
    requests,
    pageCap: opts.pageCap ?? 1000,
    responseDelayMs: 0,
    token(o = {}) {
      const aud = o.legacy ? 'com.1password.streamingservice' : (o.host ?? host);
      const t = mintJwt({ ...o, host: aud });
      minted.set(t, { features: o.features ?? ALL_FEATURES, aud, ...(o.exp !== undefined ? { exp: o.exp } : {}) });
      return t;
    },
    revoke(t) { revoked.add(t); },
    unrevoke(t) { revoked.delete(t); },
    addItemUsages(...records) { stores.itemusages.push(...records); },
    addAuditEvents(...records) { stores.auditevents.push(...records); },
    failNext(n, status, o = {}) {
      for (let i = 0; i < n; i++) faults.push({ status, ...(o.retryAfter !== undefined ? { retryAfter: o.retryAfter } : {}), ...(o.stream ? { stream: o.stream } : {}) });
    },
    emptyPages(n, stream = 'itemusages') { empties[stream] += n; },
    holdAfter(n, stream = 'itemusages') {
      const gate = { remaining: n, open: false, waiters: [] as (() => void)[] };
      gates[stream] = gate;
      return {
        release() {
          gate.open = true;
          for (const w of gate.waiters.splice(0)) w();
          if (gates[stream] === gate) gates[stream] = undefined;
        },
      };
    },
    held(stream = 'itemusages') { return gates[stream]?.waiters.length ?? 0; },
    pageRequests(stream) {
      return requests.filter((r) => r.method === 'POST' && r.status === 200 && (stream === undefined || r.stream === stream));
    },
    waitForRequests(count, filter = () => true, timeoutMs = 10_000) {
      return waitFor(() => { const got = requests.filter(filter); return got.length >= count && got; }, {
        timeoutMs, message: () => `${count} matching request(s) at the 1Password fake (have ${requests.filter(filter).length})`,
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      for (const g of Object.values(gates)) g?.waiters.splice(0).forEach((w) => w());
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const reply = (res: ServerResponse, rec: RecordedRequest, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    rec.status = status;
    rec.answeredAt = Date.now();
    rec.response = body;
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, rec: RecordedRequest, status: number, message: string, why: string, headers?: Record<string, string>): void => {
    rec.error = why;
    reply(res, rec, status, { Error: { Message: message } }, headers);
  };

  /** Undefined when the token may call an endpoint needing `feature` (none for introspection). */
  const authProblem = (req: IncomingMessage, feature?: string): string | undefined => {
    const h = req.headers.authorization;
    if (!h || !h.startsWith('Bearer ')) return 'no bearer token';
    const t = h.slice(7).trim();
    const parts = t.split('.');
    if (parts.length !== 3) return 'not a JWT';
    try {
      JSON.parse(Buffer.from(parts[0]!, 'base64url').toString());
      JSON.parse(Buffer.from(parts[1]!, 'base64url').toString());
    } catch {
      return 'not a JWT';
    }
    const info = minted.get(t);
    if (!info) return 'unknown token';
    if (revoked.has(t)) return 'revoked token';
    if (info.exp !== undefined && info.exp * 1000 <= Date.now()) return 'expired token';
    if (info.aud !== host) return `token for ${info.aud}, not ${host}`;
    if (feature && !info.features.includes(feature)) return `token lacks the ${feature} feature`;
    return undefined;
  };

  const takeFault = (stream: FakeStream | 'introspect'): Fault | undefined => {
    const i = faults.findIndex((f) => f.stream === undefined || f.stream === stream);
    return i < 0 ? undefined : faults.splice(i, 1)[0];
  };

  const newCursor = (state: CursorState): string => {
    const c = randomBytes(18).toString('base64url');
    cursors.set(c, state);
    return c;
  };

  const page = (state: CursorState, v: 'v1' | 'v2'): { items: Record<string, unknown>[]; next: CursorState; hasMore: boolean } => {
    const store = stores[state.stream];
    const items: Record<string, unknown>[] = [];
    const max = Math.min(state.limit, fake.pageCap);
    let pos = state.pos;
    while (pos < store.length && items.length < max) {
      const r = store[pos]!;
      pos += 1;
      const t = Date.parse(String(r['timestamp']));
      if (t >= state.startMs && t <= state.endMs) items.push(v === 'v1' ? asV1(r) : r);
    }
    return { items, next: { ...state, pos }, hasMore: pos < store.length };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, rawBody: string): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const rec: RecordedRequest = { method: req.method ?? '', path, headers, rawBody, status: 0, at: Date.now() };
    requests.push(rec);
    if (fake.responseDelayMs > 0) await new Promise((r) => setTimeout(r, fake.responseDelayMs));

    const introspect = path === '/api/v2/auth/introspect' ? 'v2' : path === '/api/auth/introspect' ? 'v1' : undefined;
    const m = /^\/api\/(v1|v2)\/(itemusages|auditevents)$/.exec(path);
    if (introspect) {
      rec.version = introspect;
      if (req.method !== 'GET') return error(res, rec, 405, 'Method Not Allowed', 'introspection is GET');
      const bad = authProblem(req);
      if (bad) return error(res, rec, 401, 'Unauthorized', bad);
      const fault = takeFault('introspect');
      if (fault) return error(res, rec, fault.status, fault.status === 429 ? 'Too Many Requests' : 'Internal Server Error', 'scripted', fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
      const info = minted.get(req.headers.authorization!.slice(7).trim())!;
      const issued = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      return reply(res, rec, 200, introspect === 'v2'
        ? { uuid: id26(), issued_at: issued, features: info.features, account_uuid: id26() }
        : { UUID: id26(), IssuedAt: issued, Features: info.features });
    }
    if (!m) return error(res, rec, 404, 'Not Found', 'no such path');
    const version = m[1] as 'v1' | 'v2';
    const stream = m[2] as FakeStream;
    rec.version = version;
    rec.stream = stream;
    if (req.method !== 'POST') return error(res, rec, 405, 'Method Not Allowed', `${path} is POST`);
    const bad = authProblem(req, stream);
    if (bad) return error(res, rec, 401, 'Unauthorized', bad);
    if (!/^application\/json(?:\s*;.*)?$/i.test(req.headers['content-type'] ?? '')) {
      return error(res, rec, 400, 'Bad Request', `content-type ${req.headers['content-type'] ?? '(none)'}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
      rec.body = body;
    } catch {
      return error(res, rec, 400, 'Bad Request', 'body is not JSON');
    }
    const problem = cursorBodyProblem(body);
    if (problem) return error(res, rec, 400, 'Bad Request', problem);
    const b = body as Record<string, unknown>;
    let state: CursorState;
    if (typeof b['cursor'] === 'string') {
      rec.bodyKind = 'cursor';
      const known = cursors.get(b['cursor']);
      if (!known || known.stream !== stream) return error(res, rec, 400, 'Bad Request', 'unknown cursor');
      state = known;
    } else {
      rec.bodyKind = 'reset';
      const end = typeof b['end_time'] === 'string' ? Date.parse(b['end_time']) : Number.POSITIVE_INFINITY;
      const start = typeof b['start_time'] === 'string' ? Date.parse(b['start_time']) : (Number.isFinite(end) ? end : Date.now()) - 3_600_000;
      state = { stream, pos: 0, startMs: start, endMs: end, limit: typeof b['limit'] === 'number' ? b['limit'] : 100 };
    }
    const fault = takeFault(stream);
    if (fault) {
      const message = fault.status === 429 ? 'Too Many Requests' : fault.status === 401 ? 'Unauthorized' : 'Internal Server Error';
      return error(res, rec, fault.status, message, 'scripted', fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
    }
    // A held request waits here; the client may give up (its socket closes) meanwhile.
    // Pages that would carry no records pass and do not count (idle rounds racing the script).
    const gate = gates[stream];
    if (gate && !gate.open && (empties[stream] > 0 || page(state, version).items.length > 0)) {
      if (gate.remaining > 0) gate.remaining -= 1;
      else await new Promise<void>((r) => gate.waiters.push(r));
    }
    if (empties[stream] > 0) {
      empties[stream] -= 1;
      const cursor = newCursor(state);
      Object.assign(rec, { served: [], hasMore: true, cursor });
      return reply(res, rec, 200, { cursor, has_more: true, items: [] });
    }
    const { items, next, hasMore } = page(state, version);
    // Caught up and nothing new: the same cursor again, as the real API may answer.
    const cursor = rec.bodyKind === 'cursor' && next.pos === state.pos ? String(b['cursor']) : newCursor(next);
    Object.assign(rec, { served: items.map((i) => String(i['uuid'])), hasMore, cursor });
    reply(res, rec, 200, { cursor, has_more: hasMore, items });
    if (!res.destroyed) fake.onServe?.(stream, items, rec.answeredAt!);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ Error: { Message: `fake crashed: ${String(err)}` } }));
        }
      });
    });
    req.on('error', () => {});
    // A client that gave up (a killed daemon) must not crash the fake when a held page is released.
    res.on('error', () => {});
  });
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  (fake as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

// ---------------------------------------------------------------------------------------------------
// Records

export interface AuditOptions {
  uuid?: string;
  action?: string;
  objectType?: string;
  vault?: string;
  vaultName?: string;
  actor?: { uuid: string; name?: string; email?: string };
  aux?: { uuid: string; name?: string; email?: string };
  timestamp?: string;
  ip?: string;
}

/** A 1Password Events API v2 audit event (sources.md §1.8); default: a user given access to a vault. */
export function auditEvent(o: AuditOptions = {}): Record<string, unknown> {
  const actor = o.actor ?? { uuid: 'ADMINUUID00000000000000000A', name: 'Avery Admin', email: 'avery.admin@example.com' };
  const aux = o.aux ?? { uuid: 'NEWHIREUUID000000000000000A', name: 'Nia Newhire', email: 'nia.newhire@example.com' };
  const vault = o.vault ?? 'vwfinancevault0000000000aa';
  return {
    uuid: o.uuid ?? id26(),
    timestamp: o.timestamp ?? new Date().toISOString(),
    actor_uuid: actor.uuid,
    actor_details: actor,
    actor_type: 'user',
    account_uuid: 'GQAXHL3MBFFH5KPO2VZTXMXSZY',
    action: o.action ?? 'grant',
    object_type: o.objectType ?? 'uva',
    object_uuid: vault,
    ...(o.vaultName ? { object_details: { uuid: vault, name: o.vaultName } } : {}),
    aux_id: 4567,
    aux_uuid: aux.uuid,
    aux_details: aux,
    aux_info: '{"permissions":["allow_viewing","allow_editing"]}',
    session: { uuid: id26(), login_time: new Date().toISOString(), device_uuid: id26().toLowerCase(), ip: o.ip ?? '203.0.113.45' },
    location: { country: 'CA', region: 'Ontario', city: 'Toronto', latitude: 43.64, longitude: -79.433 },
  };
}

/** Adds a `type: onepassword` entry to the `sources:` of a vaultwatch.yaml (e.g. one writeDaemonConfig wrote). */
export async function addOnePasswordSource(configPath: string, source: { url?: string; token: string; poll_interval?: string; start_from?: string; audit_events?: boolean; name?: string }): Promise<void> {
  const doc = parseDocument(await readFile(configPath, 'utf8'));
  const entry: Record<string, unknown> = { type: 'onepassword' };
  for (const [k, v] of Object.entries(source)) if (v !== undefined) entry[k] = v;
  doc.addIn(['sources'], doc.createNode(entry));
  await writeFile(configPath, doc.toString());
}
