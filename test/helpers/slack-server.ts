/**
 * A local stand-in for the Slack Web API, driven by the REAL `@slack/web-api` WebClient.
 *
 * Point a client at it with `new WebClient(handle.token, { slackApiUrl: handle.apiUrl })`. The client
 * then does everything it does against slack.com: `POST /api/<method>`, form-urlencoded body with
 * `blocks`/`attachments`/`metadata` JSON-encoded inside it, `Authorization: Bearer <token>`. So the
 * client's own serialization, error classes (WebAPIPlatformError, WebAPIRateLimitedError,
 * WebAPIHTTPError, WebAPIRequestError) and retry logic are exercised, not mocked.
 *
 * What Slack does that matters to us is imitated: errors are HTTP 200 with `{ok:false, error}`, rate
 * limits are HTTP 429 with `Retry-After` (seconds), `ts` values are unique and increasing, threads
 * hang off a parent `ts`, metadata is only returned by history when `include_all_metadata` is set.
 * Everything received is recorded for assertions, and faults can be queued per method.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait-for.ts';
import { listen, shutdown } from './http-listen.ts';

export const SLACK_TEST_TOKEN = 'xoxb-test-token';
/** Identity of the bot the token belongs to (what auth.test answers and what messages carry). */
export const SLACK_TEST_BOT = { user_id: 'U0VAULTBOT', bot_id: 'B0VAULTBOT', team_id: 'T0VAULTWATCH', team: 'Vaultwatch Test' } as const;

export interface SlackUser {
  id: string;
  email: string;
  name?: string;
  real_name?: string;
}

export interface StartSlackOptions {
  /** Accepted bot token; default `xoxb-test-token`. */
  token?: string;
  /** When given, posting to any other channel fails with `channel_not_found`; default: accept all. */
  knownChannels?: Iterable<string>;
  /** The directory `users.lookupByEmail` answers from. */
  users?: SlackUser[];
}

export type SlackParams = Record<string, unknown>;

export interface SlackCall {
  method: string;
  /** Decoded parameters: `blocks`, `attachments`, `metadata` are parsed back from JSON. */
  params: SlackParams;
  headers: IncomingHttpHeaders;
  time: Date;
  /** HTTP status answered (200, 429, 5xx). */
  status: number;
  /** The `error` of an `ok:false` answer, if any. */
  error?: string;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  text?: string;
  blocks?: unknown;
  attachments?: unknown;
  metadata?: { event_type: string; event_payload?: unknown };
  thread_ts?: string;
  reply_broadcast?: boolean;
  /** Set by chat.update. */
  edited?: { user: string; ts: string };
  /** Thread bookkeeping on a parent message. */
  reply_count?: number;
  latest_reply?: string;
  /** Everything chat.postMessage was called with (decoded). */
  params: SlackParams;
}

export interface SlackEphemeralMessage {
  channel: string;
  user: string;
  message_ts: string;
  text?: string;
  blocks?: unknown;
  params: SlackParams;
}

export interface SlackHandle {
  /** `http://127.0.0.1:PORT/api/`, for WebClient's `slackApiUrl`. */
  readonly apiUrl: string;
  readonly port: number;
  readonly token: string;
  readonly calls: SlackCall[];
  /** Posted messages (channel and thread replies), in posting order; chat.update edits them in place. */
  readonly messages: SlackMessage[];
  readonly ephemeralMessages: SlackEphemeralMessage[];
  /** Answer the next `count` calls of `method` ('*' = any) with HTTP 429 + `Retry-After`, optionally only for one channel. */
  rateLimit(method: string, count: number, retryAfterSeconds: number, opts?: { channel?: string }): void;
  /** Answer the next `count` calls of `method` ('*' = any) with this HTTP status (500, 503, ...). */
  failNext(method: string, count: number, status: number): void;
  /** Answer the next `count` calls of `method` ('*' = any) with `{ok:false, error}` (HTTP 200). */
  errorNext(method: string, count: number, error: string): void;
  addUser(user: SlackUser): void;
  addChannel(channel: string): void;
  /** Resolves with the matching messages once there are at least `count`. */
  waitForMessages(count: number, timeoutMs?: number, filter?: (m: SlackMessage) => boolean): Promise<SlackMessage[]>;
  /** Resolves with the calls of `method` once there are at least `count` (faulted calls count too). */
  waitForCalls(method: string, count: number, timeoutMs?: number): Promise<SlackCall[]>;
  /**
   * Answer successful calls of `method` only after `ms` (their effect, e.g. the posted message, is
   * recorded at once), so a call stays in flight for a while: for crash tests. 0 turns it off.
   */
  setDelay(method: string, ms: number): void;
  /** Stop listening and drop open connections, so requests fail with ECONNREFUSED. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  /** Forget calls, messages, DMs and pending faults (the user directory and channels stay). */
  clear(): void;
  close(): Promise<void>;
}

type Fault =
  | { kind: 'ratelimit'; method: string; remaining: number; retryAfter: number; channel?: string }
  | { kind: 'http'; method: string; remaining: number; status: number }
  | { kind: 'error'; method: string; remaining: number; error: string };

/** Fields the WebClient JSON-encodes inside a form body. */
const JSON_FIELDS = ['blocks', 'attachments', 'metadata', 'user_auth_blocks'] as const;

/** A handler answers a call: a body for `{ok:true, ...}`, or a Slack error code string. */
type Handler = (params: SlackParams) => Record<string, unknown> | SlackErrorCode;
class SlackErrorCode {
  constructor(readonly error: string) {}
}
const fail = (error: string): SlackErrorCode => new SlackErrorCode(error);

export async function startSlack(opts: StartSlackOptions = {}): Promise<SlackHandle> {
  const token = opts.token ?? SLACK_TEST_TOKEN;
  const knownChannels = opts.knownChannels === undefined ? undefined : new Set(opts.knownChannels);
  const usersByEmail = new Map<string, SlackUser>();
  for (const user of opts.users ?? []) usersByEmail.set(user.email.toLowerCase(), user);

  const calls: SlackCall[] = [];
  const messages: SlackMessage[] = [];
  const ephemeralMessages: SlackEphemeralMessage[] = [];
  const dmChannels = new Map<string, string>(); // user ids (sorted, comma-joined) -> D/G channel id
  let faults: Fault[] = [];
  const delays = new Map<string, number>();
  let tsSeq = 0;

  /** Unique, increasing, Slack-shaped: 1700000000.000100, 1700000000.000200, ... */
  const nextTs = (): string => {
    tsSeq += 1;
    return `${1_700_000_000 + Math.floor(tsSeq / 10_000)}.${String((tsSeq % 10_000) * 100).padStart(6, '0')}`;
  };

  /** Channel id a message lands in, or undefined when Slack would say channel_not_found. */
  const resolveChannel = (value: unknown): string | undefined => {
    if (typeof value !== 'string' || value === '') return undefined;
    if ([...dmChannels.values()].includes(value)) return value;
    // Posting to a user id posts to the bot's DM with that user, as on Slack.
    if (/^[UW][A-Z0-9]+$/.test(value)) return openDm([value]);
    if (knownChannels === undefined || knownChannels.has(value)) return value;
    return undefined;
  };
  const openDm = (users: string[]): string => {
    const key = [...users].sort().join(',');
    let id = dmChannels.get(key);
    if (id === undefined) {
      // Readable and predictable for a single user: U0ALICE -> D0ALICE.
      id = users.length === 1 ? `D${users[0]!.slice(1)}` : `G${String(dmChannels.size + 1).padStart(8, '0')}`;
      dmChannels.set(key, id);
    }
    return id;
  };

  const findMessage = (channel: string, ts: unknown): SlackMessage | undefined =>
    messages.find((m) => m.channel === channel && m.ts === ts);

  /** A message as Slack returns it in API answers. */
  const present = (m: SlackMessage, withMetadata: boolean): Record<string, unknown> => {
    const out: Record<string, unknown> = {
      type: 'message',
      ts: m.ts,
      user: SLACK_TEST_BOT.user_id,
      bot_id: SLACK_TEST_BOT.bot_id,
      team: SLACK_TEST_BOT.team_id,
      text: m.text ?? '',
    };
    for (const key of ['blocks', 'attachments', 'thread_ts', 'reply_count', 'latest_reply', 'edited'] as const) {
      if (m[key] !== undefined) out[key] = m[key];
    }
    if (m.reply_broadcast) out.subtype = 'thread_broadcast';
    if (withMetadata && m.metadata !== undefined) out.metadata = m.metadata;
    return out;
  };

  const handlers: Record<string, Handler> = {
    'api.test': (params) => ({ args: params }),
    'auth.test': () => ({
      url: 'https://vaultwatch-test.slack.com/',
      team: SLACK_TEST_BOT.team,
      user: 'vaultwatch',
      team_id: SLACK_TEST_BOT.team_id,
      user_id: SLACK_TEST_BOT.user_id,
      bot_id: SLACK_TEST_BOT.bot_id,
      is_enterprise_install: false,
    }),
    'chat.postMessage': (p) => {
      const channel = resolveChannel(p.channel);
      if (channel === undefined) return fail('channel_not_found');
      if (!hasContent(p)) return fail('no_text');
      if (p.blocks !== undefined && !Array.isArray(p.blocks)) return fail('invalid_blocks');
      if (p.metadata !== undefined && !isMetadata(p.metadata)) return fail('invalid_metadata_format');
      const threadTs = typeof p.thread_ts === 'string' && p.thread_ts !== '' ? p.thread_ts : undefined;
      const message: SlackMessage = {
        channel,
        ts: nextTs(),
        ...(typeof p.text === 'string' ? { text: p.text } : {}),
        ...(p.blocks !== undefined ? { blocks: p.blocks } : {}),
        ...(p.attachments !== undefined ? { attachments: p.attachments } : {}),
        ...(isMetadata(p.metadata) ? { metadata: p.metadata } : {}),
        ...(threadTs !== undefined ? { thread_ts: threadTs, reply_broadcast: flag(p.reply_broadcast) } : {}),
        params: p,
      };
      const parent = threadTs === undefined ? undefined : findMessage(channel, threadTs);
      if (parent !== undefined) {
        parent.thread_ts = parent.ts;
        parent.reply_count = (parent.reply_count ?? 0) + 1;
        parent.latest_reply = message.ts;
      }
      messages.push(message);
      return { channel, ts: message.ts, message: present(message, true) };
    },
    'chat.update': (p) => {
      const channel = resolveChannel(p.channel);
      if (channel === undefined) return fail('channel_not_found');
      const message = findMessage(channel, p.ts);
      if (message === undefined) return fail('message_not_found');
      if (typeof p.text === 'string') message.text = p.text;
      if (p.blocks !== undefined) message.blocks = p.blocks;
      if (p.attachments !== undefined) message.attachments = p.attachments;
      if (isMetadata(p.metadata)) message.metadata = p.metadata;
      message.edited = { user: SLACK_TEST_BOT.user_id, ts: nextTs() };
      return { channel, ts: message.ts, text: message.text ?? '', message: present(message, true) };
    },
    'chat.postEphemeral': (p) => {
      const channel = resolveChannel(p.channel);
      if (channel === undefined) return fail('channel_not_found');
      if (typeof p.user !== 'string' || p.user === '') return fail('user_not_in_channel');
      if (!hasContent(p)) return fail('no_text');
      const eph: SlackEphemeralMessage = {
        channel,
        user: p.user,
        message_ts: nextTs(),
        ...(typeof p.text === 'string' ? { text: p.text } : {}),
        ...(p.blocks !== undefined ? { blocks: p.blocks } : {}),
        params: p,
      };
      ephemeralMessages.push(eph);
      return { message_ts: eph.message_ts };
    },
    'conversations.open': (p) => {
      if (typeof p.channel === 'string' && p.channel !== '') {
        const channel = resolveChannel(p.channel);
        return channel === undefined ? fail('channel_not_found') : { channel: { id: channel }, no_op: true, already_open: true };
      }
      const users = typeof p.users === 'string' ? p.users.split(',').map((u) => u.trim()).filter(Boolean) : [];
      if (users.length === 0) return fail('users_list_not_supplied');
      if (!users.every((u) => /^[UW][A-Z0-9]+$/.test(u))) return fail('user_not_found');
      const key = [...users].sort().join(',');
      const existed = dmChannels.has(key);
      const id = openDm(users);
      return { channel: { id }, ...(existed ? { no_op: true, already_open: true } : {}) };
    },
    'users.lookupByEmail': (p) => {
      const user = typeof p.email === 'string' ? usersByEmail.get(p.email.toLowerCase()) : undefined;
      if (user === undefined) return fail('users_not_found');
      const name = user.name ?? user.email.split('@')[0]!;
      return {
        user: {
          id: user.id,
          team_id: SLACK_TEST_BOT.team_id,
          name,
          real_name: user.real_name ?? name,
          deleted: false,
          is_bot: false,
          profile: { email: user.email, real_name: user.real_name ?? name, display_name: name },
        },
      };
    },
    'conversations.history': (p) => {
      const channel = resolveChannel(p.channel);
      if (channel === undefined) return fail('channel_not_found');
      const inclusive = flag(p.inclusive);
      const oldest = typeof p.oldest === 'string' ? Number(p.oldest) : undefined;
      const latest = typeof p.latest === 'string' ? Number(p.latest) : undefined;
      const inRange = (ts: string): boolean => {
        const t = Number(ts);
        if (oldest !== undefined && (inclusive ? t < oldest : t <= oldest)) return false;
        if (latest !== undefined && (inclusive ? t > latest : t >= latest)) return false;
        return true;
      };
      // Channel history holds top-level messages; thread replies only when broadcast.
      const visible = messages
        .filter((m) => m.channel === channel && (m.thread_ts === undefined || m.thread_ts === m.ts || m.reply_broadcast))
        .filter((m) => inRange(m.ts))
        .reverse();
      return page(visible, p, (m) => present(m, flag(p.include_all_metadata)), { pin_count: 0 });
    },
    'conversations.replies': (p) => {
      const channel = resolveChannel(p.channel);
      if (channel === undefined) return fail('channel_not_found');
      const start = findMessage(channel, p.ts);
      if (start === undefined) return fail('thread_not_found');
      const parentTs = start.thread_ts ?? start.ts;
      // Parent first, then replies oldest first (Slack's order).
      const thread = messages.filter((m) => m.channel === channel && (m.ts === parentTs || m.thread_ts === parentTs));
      return page(thread, p, (m) => present(m, flag(p.include_all_metadata)));
    },
  };

  const takeFault = (method: string, channel: unknown, kinds: Fault['kind'][]): Fault | undefined => {
    const fault = faults.find(
      (f) =>
        kinds.includes(f.kind) &&
        (f.method === '*' || f.method === method) &&
        (f.kind !== 'ratelimit' || f.channel === undefined || f.channel === channel),
    );
    if (fault !== undefined) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) faults = faults.filter((f) => f !== fault);
    }
    return fault;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const match = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname);
    if (match === null) {
      send(res, 404, { ok: false, error: 'not_found' });
      return;
    }
    const method = match[1]!;
    let params: SlackParams;
    try {
      params = decodeParams(url.searchParams, req.headers['content-type'], await readBody(req));
    } catch {
      send(res, 200, { ok: false, error: 'invalid_json' }); // what Slack answers to a malformed JSON body
      return;
    }
    const call: SlackCall = { method, params, headers: req.headers, time: new Date(), status: 200 };
    calls.push(call);
    const answer = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void => {
      call.status = status;
      if (body.ok === false && typeof body.error === 'string') call.error = body.error;
      send(res, status, body, headers);
    };

    const transport = takeFault(method, params.channel, ['ratelimit', 'http']);
    if (transport?.kind === 'ratelimit') {
      answer(429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(transport.retryAfter) });
      return;
    }
    if (transport?.kind === 'http') {
      answer(transport.status, { ok: false, error: `http_${transport.status}` });
      return;
    }
    // Slack accepts the token as a bearer header or (legacy) as a `token` parameter.
    const presented = bearer(req.headers.authorization) ?? (typeof params.token === 'string' ? params.token : undefined);
    if (presented !== token) {
      answer(200, { ok: false, error: 'invalid_auth' });
      return;
    }
    const injected = takeFault(method, params.channel, ['error']);
    if (injected?.kind === 'error') {
      answer(200, { ok: false, error: injected.error });
      return;
    }
    const handler = handlers[method];
    if (handler === undefined) {
      answer(200, { ok: false, error: 'unknown_method' });
      return;
    }
    const result = handler(params);
    if (result instanceof SlackErrorCode) {
      answer(200, { ok: false, error: result.error });
      return;
    }
    const delay = delays.get(method) ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    answer(200, { ok: true, ...result });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { ok: false, error: `fake_slack_bug: ${String(err)}` });
    });
  });
  let isUp = false;
  await listen(server, 0);
  isUp = true;
  const port = (server.address() as AddressInfo).port;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    port,
    token,
    calls,
    messages,
    ephemeralMessages,
    rateLimit(method, count, retryAfterSeconds, o) {
      faults.push({ kind: 'ratelimit', method, remaining: count, retryAfter: retryAfterSeconds, ...(o?.channel !== undefined ? { channel: o.channel } : {}) });
    },
    setDelay(method, ms) {
      if (ms > 0) delays.set(method, ms);
      else delays.delete(method);
    },
    failNext(method, count, status) {
      faults.push({ kind: 'http', method, remaining: count, status });
    },
    errorNext(method, count, error) {
      faults.push({ kind: 'error', method, remaining: count, error });
    },
    addUser(user) {
      usersByEmail.set(user.email.toLowerCase(), user);
    },
    addChannel(channel) {
      knownChannels?.add(channel);
    },
    waitForMessages(count, timeoutMs = 10_000, filter = () => true) {
      return waitFor(
        () => {
          const matched = messages.filter(filter);
          return matched.length >= count && matched;
        },
        { timeoutMs, message: () => `${count} Slack message(s) (have ${messages.filter(filter).length})` },
      );
    },
    waitForCalls(method, count, timeoutMs = 10_000) {
      return waitFor(
        () => {
          const matched = calls.filter((c) => c.method === method);
          return matched.length >= count && matched;
        },
        { timeoutMs, message: () => `${count} call(s) to ${method} (have ${calls.filter((c) => c.method === method).length})` },
      );
    },
    async down() {
      if (!isUp) return;
      isUp = false;
      await shutdown(server);
    },
    async up() {
      if (isUp) return;
      await listen(server, port);
      isUp = true;
    },
    clear() {
      calls.length = 0;
      messages.length = 0;
      ephemeralMessages.length = 0;
      dmChannels.clear();
      faults = [];
      delays.clear();
    },
    async close() {
      if (!isUp) return;
      isUp = false;
      await shutdown(server);
    },
  };
}

/** Slack-style cursor pagination over an already ordered list. */
function page<T>(
  items: T[],
  p: SlackParams,
  render: (item: T) => Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const limit = Math.max(1, Math.min(1000, Number(p.limit ?? 100) || 100));
  const offset = typeof p.cursor === 'string' && p.cursor !== '' ? Number(Buffer.from(p.cursor, 'base64').toString().replace(/^offset:/, '')) || 0 : 0;
  const slice = items.slice(offset, offset + limit);
  const hasMore = offset + limit < items.length;
  return {
    messages: slice.map(render),
    has_more: hasMore,
    ...extra,
    response_metadata: { next_cursor: hasMore ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '' },
  };
}

/** Form (what WebClient sends) or JSON body, plus query string; JSON fields inside a form are decoded. */
function decodeParams(query: URLSearchParams, contentType: string | undefined, body: string): SlackParams {
  const params: SlackParams = Object.fromEntries(query);
  if (contentType?.startsWith('application/json')) {
    if (body.trim() !== '') Object.assign(params, JSON.parse(body) as SlackParams);
    return params;
  }
  Object.assign(params, Object.fromEntries(new URLSearchParams(body)));
  for (const field of JSON_FIELDS) {
    const value = params[field];
    if (typeof value === 'string' && value !== '') {
      try {
        params[field] = JSON.parse(value);
      } catch {
        // Slack would reject it; keep the raw string so the test can see what was sent.
      }
    }
  }
  return params;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

function bearer(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(.+)$/i.exec(header);
  return match?.[1];
}

/** Slack form values are strings: "true"/"1" mean true. */
function flag(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

function hasContent(p: SlackParams): boolean {
  return (typeof p.text === 'string' && p.text !== '') || p.blocks !== undefined || p.attachments !== undefined;
}

function isMetadata(value: unknown): value is { event_type: string; event_payload?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { event_type?: unknown }).event_type === 'string';
}
