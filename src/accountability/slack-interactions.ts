/**
 * Slack interactivity (stack.md §4; api.slack.com/authentication/verifying-requests-from-slack), pure:
 * the request signature check and the reading of a `block_actions` payload into what we should do.
 *
 *   X-Slack-Signature: v0=hex(HMAC-SHA256(signing_secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body))
 *
 * compared in constant time, and the timestamp within 5 minutes of our clock (the bound on replays;
 * the route also refuses a byte-identical signature seen before inside that window).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isManagerAction, isReasonId, type ManagerActionKind, type ReasonId } from './justification.ts';

export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';
export const SLACK_TOLERANCE_SECONDS = 300;

/** action_id prefixes of our buttons; the value of each is the alert id. */
export const JUSTIFY_ACTION_PREFIX = 'vw_justify_';
export const ACK_ACTION_PREFIX = 'vw_ack_';

export type SlackSignatureCheck =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch'; message: string };

export function slackSignature(signingSecret: string, timestamp: string, body: string | Buffer): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
}

export function verifySlackSignature(
  signingSecret: string,
  headers: { timestamp: string | string[] | undefined; signature: string | string[] | undefined },
  body: Buffer,
  nowMs: number,
  toleranceSeconds = SLACK_TOLERANCE_SECONDS,
): SlackSignatureCheck {
  const timestamp = single(headers.timestamp);
  const sig = single(headers.signature);
  if (timestamp === undefined || sig === undefined) {
    return { ok: false, reason: 'missing', message: 'X-Slack-Request-Timestamp and X-Slack-Signature are required' };
  }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed', message: 'X-Slack-Request-Timestamp must be unix seconds' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) {
    return { ok: false, reason: 'stale', message: `X-Slack-Request-Timestamp is more than ${toleranceSeconds} s from the server clock` };
  }
  const m = /^v0=([0-9a-f]{64})$/i.exec(sig);
  const expected = createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(body).digest();
  // Compared even when malformed (against zeros), so the time taken says nothing about the input.
  const given = m ? Buffer.from(m[1]!, 'hex') : Buffer.alloc(expected.length);
  const equal = timingSafeEqual(given, expected);
  if (!m) return { ok: false, reason: 'malformed', message: 'X-Slack-Signature must be v0=<hex HMAC-SHA256>' };
  return equal ? { ok: true } : { ok: false, reason: 'mismatch', message: 'X-Slack-Signature does not match' };
}

function single(h: string | string[] | undefined): string | undefined {
  const v = Array.isArray(h) ? (h.length === 1 ? h[0] : undefined) : h;
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

// ---------------------------------------------------------------------------------------------------
// Payloads

export interface SlackActor {
  id: string;
  /** `cfo` (the handle), else the display name, else the id. */
  name: string;
}

export type SlackIntent =
  | { kind: 'justify'; alertId: string; reason: ReasonId; user: SlackActor }
  | { kind: 'ack'; alertId: string; action: ManagerActionKind; user: SlackActor; channel?: string; ts?: string }
  /** Link buttons (Slack reports their clicks too), other surfaces, anything not ours. */
  | { kind: 'ignore'; why: string };

/** `payload=<json>` form body -> the parsed JSON object, or undefined. */
export function readInteractionBody(body: Buffer | string): Record<string, unknown> | undefined {
  const form = new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'));
  const raw = form.get('payload');
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const SLACK_ID = /^[UW][A-Z0-9]{2,}$/;
const ALERT_ID = /^[A-Za-z0-9_-]{1,100}$/;

export function interpretInteraction(payload: Record<string, unknown>): SlackIntent {
  if (payload.type !== 'block_actions') return { kind: 'ignore', why: `payload type ${String(payload.type)}` };
  const user = actor(payload.user);
  if (!user) return { kind: 'ignore', why: 'no user' };
  const actions = Array.isArray(payload.actions) ? payload.actions : [];
  const first = actions[0] as Record<string, unknown> | undefined;
  const actionId = typeof first?.action_id === 'string' ? first.action_id : '';
  const value = typeof first?.value === 'string' ? first.value : '';
  if (actionId.startsWith(JUSTIFY_ACTION_PREFIX)) {
    const reason = actionId.slice(JUSTIFY_ACTION_PREFIX.length);
    // "Other…" is a link to the page: its click is reported, but the answer comes from the page.
    if (!isReasonId(reason) || reason === 'other') return { kind: 'ignore', why: `action ${actionId}` };
    if (!ALERT_ID.test(value)) return { kind: 'ignore', why: 'bad alert id' };
    return { kind: 'justify', alertId: value, reason, user };
  }
  if (actionId.startsWith(ACK_ACTION_PREFIX)) {
    const action = actionId.slice(ACK_ACTION_PREFIX.length);
    if (!isManagerAction(action) || !ALERT_ID.test(value)) return { kind: 'ignore', why: `action ${actionId}` };
    const container = (payload.container ?? {}) as Record<string, unknown>;
    const channel = typeof container.channel_id === 'string' ? container.channel_id : undefined;
    const ts = typeof container.message_ts === 'string' ? container.message_ts : undefined;
    return { kind: 'ack', alertId: value, action, user, ...(channel ? { channel } : {}), ...(ts ? { ts } : {}) };
  }
  return { kind: 'ignore', why: `action ${actionId || '(none)'}` };
}

function actor(raw: unknown): SlackActor | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const u = raw as Record<string, unknown>;
  if (typeof u.id !== 'string' || !SLACK_ID.test(u.id)) return undefined;
  const handle = [u.username, u.name].find((v): v is string => typeof v === 'string' && /^[\w.-]{1,80}$/.test(v));
  return { id: u.id, name: handle ?? u.id };
}
