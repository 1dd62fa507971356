/**
 * The SMTP notifier: one pooled nodemailer transport, one message per (alert, recipient), and a
 * verdict on every failure that says whether the queue should try again.
 *
 * The message itself is buildEmailMessage's (pure, tested apart); this file only validates the
 * recipient, hands the message to nodemailer and classifies what went wrong. Nothing here ever puts
 * the SMTP password (or a URL carrying it) into an error.
 */
import nodemailer, { type SendMailOptions, type SMTPPoolOptions } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import { isEmailAddress } from '../../domain/target.ts';
import { NotifyError, type DeliveryRequest, type DeliveryResult, type Notifier } from '../notifier.ts';
import { buildEmailDigest } from './digest.ts';
import { buildEmailMessage, type EmailMessage } from './message.ts';

export interface SmtpObjectConfig {
  host: string;
  port?: number;
  secure?: boolean;
  require_tls?: boolean;
  user?: string;
  pass?: string;
}

export interface EmailTimeouts {
  /** TCP connect. Default 10 s (nodemailer: 2 min). */
  connectionMs?: number;
  /** Server greeting after connect. Default 10 s (nodemailer: 30 s). */
  greetingMs?: number;
  /** Inactivity on an open connection. Default 30 s (nodemailer: 10 min). */
  socketMs?: number;
  /** DNS lookup of the host. Default 10 s (nodemailer: 30 s). */
  dnsMs?: number;
}

export interface EmailNotifierOptions {
  /** `smtp://user:pass@host:587` (`smtps://` for implicit TLS) or the object form of the config. */
  smtp: string | SmtpObjectConfig;
  /** `Vaultwatch <alerts@example.com>` or a bare address. */
  from: string;
  timeouts?: EmailTimeouts;
}

export const EMAIL_TIMEOUT_DEFAULTS: Required<EmailTimeouts> = {
  connectionMs: 10_000,
  greetingMs: 10_000,
  socketMs: 30_000,
  dnsMs: 10_000,
};

export interface MailboxAddress {
  name: string;
  address: string;
}

export function createEmailNotifier(opts: EmailNotifierOptions): Notifier {
  const from = parseFrom(opts.from);
  const smtp = smtpSettings(opts.smtp);
  const t = { ...EMAIL_TIMEOUT_DEFAULTS, ...opts.timeouts };
  const transport = nodemailer.createTransport({
    ...smtp.options,
    pool: true,
    connectionTimeout: t.connectionMs,
    greetingTimeout: t.greetingMs,
    socketTimeout: t.socketMs,
    dnsTimeout: t.dnsMs,
  });

  return {
    kind: 'email',
    async send(req: DeliveryRequest, signal?: AbortSignal): Promise<DeliveryResult> {
      const mail = emailMailOptions(req, from);
      try {
        const info = await transport.sendMail({ ...mail, ...(signal ? { signal } : {}) });
        return { id: typeof info.messageId === 'string' && info.messageId !== '' ? info.messageId : mail.messageId };
      } catch (err) {
        throw smtpNotifyError(err, smtp.where, smtp.secrets);
      }
    },
    async close(): Promise<void> {
      transport.close();
    },
  };
}

/**
 * The nodemailer message for one delivery, shared with the outbox so an `.eml` there is exactly what
 * SMTP would have carried. Throws a permanent NotifyError for a recipient that is not one plain
 * address: a raw string reaching nodemailer is parsed as an address *list*, so `a@x\r\nRCPT TO:<b@y>`
 * or `a@x, b@y` would mail someone else (stack.md §5).
 */
export function emailMailOptions(req: DeliveryRequest, from: MailboxAddress): SendMailOptions & { messageId: string } {
  if (req.target.kind !== 'email') {
    throw new NotifyError(`email notifier got a ${req.target.kind} target`, { retryable: false, code: 'wrong_target_kind' });
  }
  const address = checkRecipient(req.target.address);
  const msg = req.digest ? buildEmailDigest(req.digest, address, req.context) : buildEmailMessage(req.alert, address, req.context);
  return messageMailOptions(from, address, msg);
}

/** A built message as nodemailer options: the recipient as an object, never a parsed string. */
export function messageMailOptions(from: MailboxAddress, address: string, msg: EmailMessage): SendMailOptions & { messageId: string } {
  return {
    from,
    to: [{ address }],
    subject: msg.subject,
    text: msg.text,
    html: msg.html,
    messageId: msg.messageId,
    ...(msg.inReplyTo ? { inReplyTo: msg.inReplyTo } : {}),
    ...(msg.references ? { references: msg.references } : {}),
    headers: msg.headers,
  };
}

/** Returns the address as is, or throws a permanent NotifyError. Nothing is trimmed: a stray CR/LF is refused, not repaired. */
export function checkRecipient(address: string): string {
  // Controls first (isEmailAddress lets NUL and friends through), then the shape: one local part, one
  // @, a dotted domain, no spaces, no <>,;:"()[]\.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(address) || !isEmailAddress(address)) {
    throw new NotifyError(`refusing to send to ${JSON.stringify(address.slice(0, 200))}: not a single plain email address`, {
      retryable: false,
      code: 'invalid_recipient',
    });
  }
  return address;
}

/** `Vaultwatch <alerts@example.com>` -> `{ name: 'Vaultwatch', address: 'alerts@example.com' }`; throws on anything else. */
export function parseFrom(from: string): MailboxAddress {
  const parsed = addressparser(from.trim(), { flatten: true });
  const only = parsed.length === 1 ? parsed[0] : undefined;
  if (!only || !only.address || !isEmailAddress(only.address) || /[\r\n]/.test(from)) {
    throw new Error(`channels.email.from: ${JSON.stringify(from)} is not one address; write "Vaultwatch <alerts@example.com>"`);
  }
  return { name: only.name, address: only.address };
}

// --- connection settings -------------------------------------------------------------------------

export interface SmtpSettings {
  options: SMTPPoolOptions;
  /** `smtp://mail.example.com:587`: what errors may name, never with credentials. */
  where: string;
  /** Strings that must never appear in an error message. */
  secrets: string[];
}

/** Exported for other senders of this daemon's mail (the justification loop): same settings, same redaction. */
export function smtpSettings(smtp: string | SmtpObjectConfig): SmtpSettings {
  if (typeof smtp === 'string') {
    let url: URL;
    try {
      url = new URL(smtp);
    } catch {
      // Not echoed: an unparsable value may still hold the password.
      throw new Error('channels.email.smtp is not a URL; write smtp://user:pass@host:587 (or smtps:// for port 465)');
    }
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
      throw new Error(`channels.email.smtp must start with smtp:// or smtps:// (got ${url.protocol}//)`);
    }
    const secrets = url.password ? [url.password, safeDecode(url.password)] : [];
    // nodemailer parses the URL itself (query options like ?tls.rejectUnauthorized=false included).
    return { options: { url: smtp }, where: `${url.protocol}//${url.host}`, secrets };
  }
  const options: SMTPPoolOptions = { host: smtp.host };
  if (smtp.port !== undefined) options.port = smtp.port;
  if (smtp.secure !== undefined) options.secure = smtp.secure;
  if (smtp.require_tls !== undefined) options.requireTLS = smtp.require_tls;
  if (smtp.user !== undefined || smtp.pass !== undefined) options.auth = { user: smtp.user ?? '', pass: smtp.pass ?? '' };
  const scheme = smtp.secure ? 'smtps' : 'smtp';
  return {
    options,
    where: `${scheme}://${smtp.host}${smtp.port !== undefined ? `:${smtp.port}` : ''}`,
    secrets: smtp.pass ? [smtp.pass] : [],
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Removes `user:pass@` from any URL in `text` and every literal occurrence of the given secrets.
 * Exported for tests and for callers that log SMTP settings.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1***@');
  for (const s of secrets) if (s !== '') out = out.split(s).join('***');
  return out;
}

// --- error classification ------------------------------------------------------------------------

/** Socket-level failures: the message never reached a server that judged it. */
const CONNECTION_CODES = new Set([
  'ESOCKET', 'ECONNECTION', 'ETIMEDOUT', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETLS', 'EPROXY', 'EPROTOCOL',
]);

interface SmtpErrorLike {
  name?: unknown;
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
  message?: unknown;
  originalCode?: unknown;
}

/**
 * nodemailer error -> NotifyError. The table (first match wins):
 *   EAUTH, ENOAUTH                          retryable, code smtp_auth (an operator must fix credentials)
 *   responseCode 4xx, 503                   retryable  (RFC 5321 transient; 503 = bad sequence, nodemailer's `permanent:false`)
 *   responseCode other 5xx                  permanent  (550 no such user, 553, 554...)
 *   EENVELOPE without a reply code          permanent  (nodemailer refused the address itself)
 *   connection codes (ESOCKET, ECONNECTION, ETIMEDOUT, EDNS, ECONNREFUSED, ECONNRESET, ETLS...)  retryable
 *   EABORT / AbortError                     retryable, code aborted (shutdown or job timeout)
 *   anything else                           retryable
 */
export function smtpNotifyError(err: unknown, where: string, secrets: readonly string[] = []): NotifyError {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SmtpErrorLike;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const detail = typeof e.response === 'string' && e.response !== '' ? e.response : typeof e.message === 'string' ? e.message : String(err);
  const say = (text: string): string => redactSecrets(text, secrets);
  const make = (message: string, retryable: boolean, notifyCode: string): NotifyError =>
    new NotifyError(say(message), { retryable, code: notifyCode });

  if (code === 'EAUTH' || code === 'ENOAUTH') {
    return make(
      `SMTP authentication failed at ${where}: check the user and password in channels.email.smtp (${code}: ${detail})`,
      true,
      'smtp_auth',
    );
  }
  if (reply !== undefined && reply >= 400 && reply < 600) {
    const permanent = reply >= 500 && reply !== 503;
    const what = permanent ? 'rejected the message' : 'deferred the message';
    return make(`SMTP server ${where} ${what}: ${detail}`, !permanent, `smtp_${reply}`);
  }
  if (code === 'EENVELOPE') {
    return make(`SMTP envelope refused (${where}): ${detail}`, false, 'smtp_envelope');
  }
  if (code === 'EABORT' || e.name === 'AbortError') {
    return make(`SMTP send to ${where} aborted: ${detail}`, true, 'aborted');
  }
  const original = typeof e.originalCode === 'string' ? e.originalCode : undefined;
  if ((code && CONNECTION_CODES.has(code)) || (original && CONNECTION_CODES.has(original))) {
    const codes = original && original !== code ? `${code}/${original}` : code;
    return make(`cannot reach SMTP server ${where} (${codes}): ${detail}`, true, `smtp_${(code ?? original ?? 'connection').toLowerCase()}`);
  }
  return make(`SMTP send via ${where} failed${code ? ` (${code})` : ''}: ${detail}`, true, code ? `smtp_${code.toLowerCase()}` : 'smtp_error');
}
