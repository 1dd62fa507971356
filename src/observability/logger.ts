/**
 * The daemon's pino logger. Secrets never reach a log line, by three independent guards:
 *
 * - `redact`: keys that name a secret (token, password, secret, authorization, ...) are censored at any
 *   depth up to REDACT_DEPTH, whatever logs them;
 * - text: every string in a logged object (the `url`/`smtp` fields by name too), the message string
 *   and error messages/stacks go through `redactText`: `scheme://user:pass@` becomes
 *   `scheme://user:***@`, and bearer tokens, Slack tokens and `token=`/`password=` parameters are hidden.
 *
 * Callers still should not log raw records or request bodies: these guards catch mistakes, they are not
 * permission to log everything.
 */
import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const REDACTED = '[REDACTED]';

/** Keys whose values are secrets wherever they appear (compared as written; both spellings listed). */
export const SECRET_KEYS = [
  'token', 'password', 'pass', 'secret', 'authorization', 'Authorization', 'cookie', 'set-cookie',
  'client_secret', 'hmac_secret', 'signing_secret', 'api_key', 'apiKey', 'access_token', 'refresh_token',
  'x-vaultwatch-signature',
] as const;

/** How deep below the log object secret keys are censored (`a.b.c.token` is depth 3). */
const REDACT_DEPTH = 4;

/** `["token"]`, `*["token"]`, `*.*["token"]`, ...: bracket notation so `set-cookie` needs no special case. */
function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SECRET_KEYS) {
    const leaf = `[${JSON.stringify(key)}]`;
    paths.push(leaf);
    for (let depth = 1; depth <= REDACT_DEPTH; depth++) paths.push(`*${'.*'.repeat(depth - 1)}${leaf}`);
  }
  return paths;
}

// ---------------------------------------------------------------------------------------------------
// Text redaction

/** `scheme://user:password@` (the password may itself contain `@`: the authority ends at / ? # or space). */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/?#@]*):([^\s/?#]*)@/gi;
/** A credential after the scheme word; 8+ characters so prose ("bearer token refused") stays readable. */
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const SLACK_TOKEN = /\bxox[abposre]-[A-Za-z0-9-]+/g;
const SECRET_PARAM = /\b(token|access_token|password|pass|secret|client_secret|hmac_secret|api_key|sig|signature)=([^&\s"']+)/gi;

/** Hides credentials in URLs only: `smtp://u:pw@host` -> `smtp://u:***@host`. */
export function redactUrl(value: string): string {
  return value.includes('://') ? value.replace(URL_CREDENTIALS, '$1$2:***@') : value;
}

/**
 * Text that may carry a secret (error messages, stacks, log messages) with URL credentials, bearer
 * tokens, Slack tokens and secret query parameters replaced.
 */
export function redactText(text: string): string {
  if (text === '') return text;
  return redactUrl(text)
    .replace(BEARER, '$1 ***')
    .replace(SLACK_TOKEN, (t) => `${t.slice(0, 5)}***`)
    .replace(SECRET_PARAM, '$1=***');
}

/** Any value -> the same value with redactText applied to every string in it (copy on write). */
function scrubStrings(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > REDACT_DEPTH + 2 || typeof value !== 'object' || value === null) return value;
  if (value instanceof Error || Buffer.isBuffer(value) || value instanceof Date) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = scrubStrings(value[i], depth + 1);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const s = scrubStrings(v, depth + 1);
    if (s !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = s;
  }
  return out ?? value;
}

function scrubObject(obj: Record<string, unknown>): Record<string, unknown> {
  return scrubStrings(obj, 0) as Record<string, unknown>;
}

function urlSerializer(value: unknown): unknown {
  return typeof value === 'string' ? redactUrl(value) : scrubStrings(value, 1);
}

function errSerializer(err: unknown): unknown {
  if (!(err instanceof Error)) return typeof err === 'string' ? redactText(err) : err;
  const out = stdSerializers.err(err) as unknown as Record<string, unknown>;
  for (const key of ['message', 'stack'] as const) {
    const v = out[key];
    if (typeof v === 'string') out[key] = redactText(v);
  }
  return scrubStrings(out, 1);
}

function errorOf(value: unknown): Error | undefined {
  if (value instanceof Error) return value;
  if (typeof value !== 'object' || value === null) return undefined;
  const err = (value as { err?: unknown }).err;
  return err instanceof Error ? err : undefined;
}

// ---------------------------------------------------------------------------------------------------

export interface CreateLoggerOptions {
  /** pino level; default `info`. */
  level?: string;
  /** Where lines go: a pino destination or any stream with `write`; default stdout. */
  destination?: DestinationStream;
  /** Bindings on every line (e.g. `{ service: 'vaultwatch' }`); default none. */
  base?: Record<string, unknown>;
}

/** The options alone, for callers that build pino themselves (tests, fastify). */
export function loggerOptions(opts: Pick<CreateLoggerOptions, 'level' | 'base'> = {}): LoggerOptions {
  return {
    level: opts.level ?? 'info',
    base: opts.base ?? null,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths(), censor: REDACTED },
    serializers: {
      url: urlSerializer,
      smtp: urlSerializer,
      redis_url: urlSerializer,
      err: errSerializer,
      error: errSerializer,
    },
    formatters: {
      level: (label) => ({ level: label }),
      log: scrubObject,
      bindings: scrubObject,
    },
    hooks: {
      // The message string (and %s arguments) may carry a URL or token that a caller interpolated.
      logMethod(args, method) {
        const clean: unknown[] = args.map((a) => (typeof a === 'string' ? redactText(a) : a));
        // Without a message pino uses the error's own message, unserialised: give it the redacted one.
        const err = errorOf(clean[0]);
        if (clean.length === 1 && err !== undefined) clean.push(redactText(err.message));
        method.apply(this, clean as Parameters<typeof method>);
      },
    },
  };
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const options = loggerOptions(opts);
  return opts.destination === undefined ? pino(options) : pino(options, opts.destination);
}
