/**
 * The Slack notifier: the real @slack/web-api WebClient, configured for a queue-driven daemon (no
 * client-side retries, 429 surfaced at once, a request timeout), and a verdict on every failure.
 *
 * Targets: `#name` or a channel id -> chat.postMessage there; `@U123` -> conversations.open, then the
 * DM; `@name@example.com` -> users.lookupByEmail -> conversations.open -> DM. Lookups are cached so a
 * steady stream of alerts costs one call per message.
 *
 * The token is given to the WebClient and nowhere else: no error built here can contain it.
 */
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type ChatPostMessageArguments,
} from '@slack/web-api';
import { isEmailAddress } from '../../domain/target.ts';
import { NotifyError, type DeliveryRequest, type DeliveryResult, type Notifier } from '../notifier.ts';
import { buildSlackDigest } from './digest.ts';
import { buildSlackMessage } from './message.ts';

export interface SlackNotifierOptions {
  /** Bot token (xoxb-...). */
  token: string;
  /** Default https://slack.com/api/ (a proxy or a test server otherwise). */
  apiUrl?: string;
  /** Per HTTP request. Default 10 s. */
  timeoutMs?: number;
  /** Entries kept in each lookup cache (email->user, user->DM, #name->id). Default 5000. */
  cacheSize?: number;
}

export const SLACK_TIMEOUT_DEFAULT_MS = 10_000;

/**
 * Platform errors (`ok:false`) that the same call can never overcome: the channel, user, token or
 * message itself is wrong. Every other platform error is retried.
 */
export const PERMANENT_SLACK_ERRORS: ReadonlySet<string> = new Set([
  // the brief's list
  'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_auth', 'not_authed', 'account_inactive',
  'token_revoked', 'users_not_found', 'missing_scope', 'msg_too_long', 'invalid_blocks',
  // same families, as Slack spells them in conversations.open / chat.postMessage
  'user_not_found', 'user_disabled', 'cannot_dm_bot', 'channel_is_archived', 'token_expired',
  'no_permission', 'restricted_action', 'ekm_access_denied', 'team_access_not_granted',
  'not_allowed_token_type', 'invalid_arguments', 'invalid_metadata_format', 'invalid_metadata_schema',
  'no_text', 'too_many_attachments', 'invalid_blocks_format',
]);

/** Where a Slack target goes, once parsed. */
export type SlackDestination =
  | { kind: 'channel'; channel: string }
  | { kind: 'user'; userId: string }
  | { kind: 'email'; email: string };

/** `#name` / `C0123ABC` / `@U123` / `@jo@example.com`; undefined for anything else. */
export function parseSlackTarget(target: string): SlackDestination | undefined {
  const t = target.trim();
  if (/^#[^\s#@<>]+$/.test(t) || /^[CGD][A-Z0-9]{6,}$/.test(t)) return { kind: 'channel', channel: t };
  const user = /^@([UW][A-Z0-9]{2,})$/.exec(t);
  if (user) return { kind: 'user', userId: user[1]! };
  const email = /^@(.+@.+)$/.exec(t);
  if (email && isEmailAddress(email[1]!)) return { kind: 'email', email: email[1]!.toLowerCase() };
  return undefined;
}

export function createSlackNotifier(opts: SlackNotifierOptions): Notifier {
  const client = new WebClient(opts.token, {
    ...(opts.apiUrl ? { slackApiUrl: withTrailingSlash(opts.apiUrl) } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: opts.timeoutMs ?? SLACK_TIMEOUT_DEFAULT_MS,
    allowAbsoluteUrls: false,
    logLevel: LogLevel.ERROR,
  });
  const cacheSize = opts.cacheSize ?? 5000;
  const userByEmail = new BoundedMap<string, string>(cacheSize);
  const dmByUser = new BoundedMap<string, string>(cacheSize);
  /** `#name` -> channel id, learned from chat.postMessage answers (conversations.history wants ids). */
  const idByName = new BoundedMap<string, string>(cacheSize);

  /** Runs one API call, mapping any failure to a NotifyError that never carries the token. */
  async function call<T>(method: string, target: string, run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new NotifyError(`Slack ${method} for ${target} aborted before it was sent`, { retryable: true, code: 'aborted' });
    try {
      return await run();
    } catch (err) {
      throw slackNotifyError(err, method, target, opts.token);
    }
  }

  async function userIdFor(email: string, target: string, signal?: AbortSignal): Promise<string> {
    const cached = userByEmail.get(email);
    if (cached) return cached;
    const res = await call('users.lookupByEmail', target, () => client.users.lookupByEmail({ email }), signal);
    const id = res.user?.id;
    if (!id) throw new NotifyError(`Slack users.lookupByEmail for ${target} answered without a user id`, { retryable: true, code: 'bad_response' });
    userByEmail.set(email, id);
    return id;
  }

  async function dmFor(userId: string, target: string, signal?: AbortSignal): Promise<string> {
    const cached = dmByUser.get(userId);
    if (cached) return cached;
    const res = await call('conversations.open', target, () => client.conversations.open({ users: userId }), signal);
    const id = res.channel?.id;
    if (!id) throw new NotifyError(`Slack conversations.open for ${target} answered without a channel id`, { retryable: true, code: 'bad_response' });
    dmByUser.set(userId, id);
    return id;
  }

  /** The channel to post to: as written for channels, the DM's id for people. */
  async function channelFor(dest: SlackDestination, target: string, signal?: AbortSignal): Promise<string> {
    switch (dest.kind) {
      case 'channel': return dest.channel;
      case 'user': return dmFor(dest.userId, target, signal);
      case 'email': return dmFor(await userIdFor(dest.email, target, signal), target, signal);
    }
  }

  function destination(req: DeliveryRequest): { dest: SlackDestination; target: string } {
    if (req.target.kind !== 'slack') {
      throw new NotifyError(`Slack notifier got a ${req.target.kind} target`, { retryable: false, code: 'wrong_target_kind' });
    }
    const target = req.target.channel;
    const dest = parseSlackTarget(target);
    if (!dest) {
      throw new NotifyError(
        `Slack target ${JSON.stringify(target)} is not "#channel", a channel id, "@U123" or "@name@example.com"`,
        { retryable: false, code: 'invalid_target' },
      );
    }
    return { dest, target };
  }

  return {
    kind: 'slack',

    async send(req: DeliveryRequest, signal?: AbortSignal): Promise<DeliveryResult> {
      const { dest, target } = destination(req);
      const channel = await channelFor(dest, target, signal);
      const msg = req.digest
        ? buildSlackDigest(req.digest, channel)
        : buildSlackMessage(req.alert, channel, { ...req.context, ...(req.threadTs ? { threadTs: req.threadTs } : {}) });
      // buildSlackMessage's blocks are plain objects shaped by hand to Block Kit.
      const args = msg as unknown as ChatPostMessageArguments;
      const res = await call('chat.postMessage', target, () => client.chat.postMessage(args), signal);
      const landed = res.channel ?? channel;
      if (dest.kind === 'channel' && landed !== dest.channel) idByName.set(dest.channel, landed);
      return { ...(res.ts ? { id: res.ts } : {}), channel: landed };
    },

    /**
     * Is this (alert, target) already in the channel? Looks at the 50 newest messages (or, for a
     * thread reply, the thread) for our metadata with this alert id. Undefined when not found and
     * when the token may not read history (missing_scope, not_in_channel...): then nobody can tell,
     * and the caller sends. Throws a retryable NotifyError for 429/5xx/network, when waiting can tell.
     */
    async findDelivered(req: DeliveryRequest): Promise<DeliveryResult | undefined> {
      let parsed: { dest: SlackDestination; target: string };
      try {
        parsed = destination(req);
      } catch {
        return undefined;
      }
      const { dest, target } = parsed;
      try {
        const written = await channelFor(dest, target);
        const channel = dest.kind === 'channel' ? (idByName.get(dest.channel) ?? written) : written;
        const hit = req.threadTs
          ? await findInThread(channel, req.threadTs, req.alert.id, target)
          : findIn((await call('conversations.history', target, () =>
            client.conversations.history({ channel, limit: 50, include_all_metadata: true }))).messages, req.alert.id);
        return hit?.ts ? { id: hit.ts, channel } : undefined;
      } catch (err) {
        if (err instanceof NotifyError && err.cause instanceof WebAPIPlatformError && err.code !== 'ratelimited') return undefined;
        throw err;
      }
    },

    async close(): Promise<void> {
      userByEmail.clear();
      dmByUser.clear();
      idByName.clear();
    },
  };

  async function findInThread(channel: string, threadTs: string, alertId: string, target: string): Promise<HistoryMessage | undefined> {
    let cursor: string | undefined;
    // A thread of follow-ups is short in practice; a few pages bound the cost of a pathological one.
    for (let page = 0; page < 5; page++) {
      const res = await call('conversations.replies', target, () => client.conversations.replies({
        channel, ts: threadTs, limit: 200, include_all_metadata: true, ...(cursor ? { cursor } : {}),
      }));
      const hit = findIn(res.messages?.filter((m) => m.thread_ts === threadTs && m.ts !== threadTs), alertId);
      if (hit) return hit;
      cursor = res.response_metadata?.next_cursor;
      if (!cursor) return undefined;
    }
    return undefined;
  }
}

interface HistoryMessage {
  ts?: string;
  thread_ts?: string;
  metadata?: { event_type?: string; event_payload?: unknown };
}

function findIn(messages: HistoryMessage[] | undefined, alertId: string): HistoryMessage | undefined {
  return messages?.find((m) => {
    const payload = m.metadata?.event_payload as { alert_id?: unknown } | undefined;
    return m.metadata?.event_type === 'vaultwatch_alert' && payload?.alert_id === alertId;
  });
}

/**
 * WebClient error -> NotifyError (the token is scrubbed from every message):
 *   WebAPIRateLimitedError (HTTP 429)        retryable, retryAfterMs = Retry-After * 1000, code ratelimited
 *   WebAPIPlatformError in PERMANENT_SLACK_ERRORS   permanent, code = Slack's error
 *   other WebAPIPlatformError                retryable, code = Slack's error
 *   WebAPIHTTPError (5xx, or any non-200)    retryable, code http_<status>
 *   WebAPIRequestError (network, timeout)    retryable, code request_error
 *   anything else                            retryable, code slack_error
 */
export function slackNotifyError(err: unknown, method: string, target: string, token?: string): NotifyError {
  const scrub = (text: string): string => (token ? text.split(token).join('xoxb-***') : text);
  const where = `Slack ${method} for ${target}`;
  if (err instanceof NotifyError) return err;
  if (err instanceof WebAPIRateLimitedError) {
    return new NotifyError(`${where} rate-limited: retry after ${err.retryAfter} s`, {
      retryable: true, retryAfterMs: Math.max(0, err.retryAfter) * 1000, code: 'ratelimited', cause: err,
    });
  }
  if (err instanceof WebAPIPlatformError) {
    const code = String(err.data.error);
    const scope = (err.data as { needed?: unknown }).needed;
    const needed = typeof scope === 'string' ? ` (needs scope ${scope})` : '';
    const permanent = PERMANENT_SLACK_ERRORS.has(code);
    return new NotifyError(scrub(`${where} failed: ${code}${needed}${hint(code)}`), { retryable: !permanent, code, cause: err });
  }
  if (err instanceof WebAPIHTTPError) {
    return new NotifyError(scrub(`${where} failed: HTTP ${err.statusCode} ${err.statusMessage}`.trimEnd()), {
      retryable: true, code: `http_${err.statusCode}`, cause: err,
    });
  }
  if (err instanceof WebAPIRequestError) {
    const original = err.original as Error & { cause?: { code?: unknown } };
    const code = typeof original.cause?.code === 'string' ? ` (${original.cause.code})` : '';
    return new NotifyError(scrub(`${where} failed: ${original.name === 'TimeoutError' ? 'request timed out' : original.message}${code}`), {
      retryable: true, code: 'request_error', cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new NotifyError(scrub(`${where} failed: ${message}`), { retryable: true, code: 'slack_error', cause: err });
}

function hint(code: string): string {
  switch (code) {
    case 'invalid_auth':
    case 'not_authed':
    case 'token_revoked':
    case 'token_expired':
    case 'account_inactive':
      return ': the bot token in channels.slack.token is not valid';
    case 'not_in_channel':
      return ': invite the bot to the channel';
    case 'channel_not_found':
      return ': no such channel, or the bot cannot see it (private channels need an invite)';
    case 'users_not_found':
      return ': no Slack user has that email address (or the token lacks users:read.email)';
    default:
      return '';
  }
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** A Map that forgets its least recently used entry beyond `max`. */
class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }

  clear(): void {
    this.map.clear();
  }
}
