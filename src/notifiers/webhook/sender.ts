/**
 * The webhook notifier: POSTs the alert as JSON to a named URL, signed when the webhook has a secret,
 * with an Idempotency-Key so a receiver can drop the repeat of a send that was in flight at a crash.
 *
 * Signing mirrors what vaultwatch's own ingest accepts: `X-Vaultwatch-Timestamp: <unix seconds>` and
 * `X-Vaultwatch-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">`.
 *
 * Webhook URLs often carry a secret in the path (Slack/Teams incoming webhooks do), so errors name the
 * webhook and its host, never the URL.
 */
import { createHmac } from 'node:crypto';
import type { Alert } from '../../domain/alert.ts';
import { summarizeAlert, type AlertSummary } from '../../domain/alert-summary.ts';
import { alertFacts } from '../alert-facts.ts';
import { singleLine, truncate } from '../escape.ts';
import { NotifyError, type DeliveryRequest, type DeliveryResult, type Notifier } from '../notifier.ts';

export interface WebhookConfig {
  url: string;
  secret?: string;
}

export interface WebhookNotifierOptions {
  /** Per request, connect to last byte. Default 10 s. */
  timeoutMs?: number;
  /** Clock for the signature timestamp (tests). */
  now?: () => number;
}

export interface WebhookPayload {
  alert: AlertSummary;
  alert_id: string;
  message: { text: string };
}

export const WEBHOOK_TIMEOUT_DEFAULT_MS = 10_000;
/** A Retry-After beyond this is treated as this: one bad header must not park a job for days. */
export const WEBHOOK_MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** The JSON body, shared with the outbox so both write the same thing. */
export function webhookPayload(alert: Alert): WebhookPayload {
  const f = alertFacts(alert);
  const text = alert.follows
    ? `Again: ${f.headline} — ${f.usedAt} · ${f.rule}`
    : `[${f.severityLabel}] ${f.headline} — ${f.usedAt} · ${f.rule}`;
  return { alert: summarizeAlert(alert), alert_id: alert.id, message: { text } };
}

/** `v1=<hex HMAC-SHA256 of "timestamp.body">`. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  let ms: number | undefined;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  // HTTP dates start with the day name (IMF-fixdate, RFC 850, asctime); Date.parse would read "-3" as a year.
  else if (/^[A-Za-z]{3}/.test(v)) {
    const at = Date.parse(v);
    if (Number.isFinite(at)) ms = Math.max(0, at - now);
  }
  return ms === undefined ? undefined : Math.min(ms, WEBHOOK_MAX_RETRY_AFTER_MS);
}

export function createWebhookNotifier(webhooks: Record<string, WebhookConfig>, opts: WebhookNotifierOptions = {}): Notifier {
  const timeoutMs = opts.timeoutMs ?? WEBHOOK_TIMEOUT_DEFAULT_MS;
  const now = opts.now ?? Date.now;

  return {
    kind: 'webhook',
    async send(req: DeliveryRequest, signal?: AbortSignal): Promise<DeliveryResult> {
      if (req.target.kind !== 'webhook') {
        throw new NotifyError(`webhook notifier got a ${req.target.kind} target`, { retryable: false, code: 'wrong_target_kind' });
      }
      const name = req.target.name;
      const hook = Object.hasOwn(webhooks, name) ? webhooks[name] : undefined;
      if (!hook) {
        throw new NotifyError(`no webhook named ${JSON.stringify(name)} in channels.webhooks`, { retryable: false, code: 'unknown_webhook' });
      }
      const where = `webhook ${name} (${hostOf(hook.url)})`;
      if (!/^https?:$/.test(protocolOf(hook.url))) {
        throw new NotifyError(`${where}: url must be an http(s) URL`, { retryable: false, code: 'invalid_url' });
      }
      const body = JSON.stringify(webhookPayload(req.alert));
      const headers: Record<string, string> = {
        'Content-Type': 'application/json; charset=utf-8',
        'User-Agent': 'vaultwatch',
        'Idempotency-Key': `${req.alert.id}.${name}`,
      };
      if (hook.secret) {
        const timestamp = String(Math.floor(now() / 1000));
        headers['X-Vaultwatch-Timestamp'] = timestamp;
        headers['X-Vaultwatch-Signature'] = webhookSignature(hook.secret, timestamp, body);
      }
      const timeout = AbortSignal.timeout(timeoutMs);
      let res: Response;
      try {
        res = await fetch(hook.url, {
          method: 'POST',
          headers,
          body,
          // A redirected POST is either re-sent elsewhere or turned into a GET: neither is a delivery.
          redirect: 'manual',
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (err) {
        throw networkError(err, where, timeout, timeoutMs);
      }
      // Read the body so the connection goes back to the pool; keep a little for the error message.
      const text = await res.text().catch(() => '');
      if (res.status >= 200 && res.status < 300) return { id: String(res.status) };
      throw statusError(res.status, res.headers.get('retry-after'), text, where, now());
    },
    async close(): Promise<void> {},
  };
}

/**
 *   2xx                    delivered
 *   408, 429, 5xx          retryable (429: retryAfterMs from Retry-After, seconds or HTTP date)
 *   3xx                    permanent (the URL moved: fix the config)
 *   other 4xx              permanent
 *   network, timeout       retryable
 */
function statusError(status: number, retryAfter: string | null, body: string, where: string, now: number): NotifyError {
  const said = body.trim() === '' ? '' : `: ${truncate(singleLine(body), 200)}`;
  const code = `http_${status}`;
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    return new NotifyError(`${where} answered 429 Too Many Requests${said}`, {
      retryable: true, code, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status === 408 || status >= 500) return new NotifyError(`${where} answered ${status}${said}`, { retryable: true, code });
  if (status >= 300 && status < 400) {
    return new NotifyError(`${where} answered ${status} (redirect): update its url in channels.webhooks`, { retryable: false, code });
  }
  return new NotifyError(`${where} refused the alert with ${status}${said}`, { retryable: false, code });
}

function networkError(err: unknown, where: string, timeout: AbortSignal, timeoutMs: number): NotifyError {
  if (timeout.aborted) return new NotifyError(`${where} did not answer within ${timeoutMs} ms`, { retryable: true, code: 'timeout', cause: err });
  const e = err as Error & { cause?: { code?: unknown; message?: unknown } };
  if (e?.name === 'AbortError') return new NotifyError(`${where}: send aborted`, { retryable: true, code: 'aborted', cause: err });
  const cause = typeof e?.cause?.code === 'string' ? e.cause.code : typeof e?.cause?.message === 'string' ? e.cause.message : '';
  // undici's messages do not include the URL; the cause's code says what happened (ECONNREFUSED...).
  return new NotifyError(`cannot reach ${where}: ${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`, {
    retryable: true, code: 'network', cause: err,
  });
}

function protocolOf(url: string): string {
  try {
    return new URL(url).protocol;
  } catch {
    return '';
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid url';
  }
}
