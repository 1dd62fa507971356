/**
 * How the justification loop reaches people: a mailer (SMTP, else the outbox folder) and Slack
 * operations (post, update, find a person's DM), configured like the alert notifiers — no client-side
 * retries, 429 surfaced at once, a request timeout — and failing with the same NotifyError verdicts
 * (retryable or not), so the accountability queue retries exactly what the notification queues would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LogLevel, WebClient, type ChatPostMessageArguments, type ChatUpdateArguments } from '@slack/web-api';
import nodemailer from 'nodemailer';
import type { EmailMessage } from '../notifiers/email/message.ts';
import { checkRecipient, EMAIL_TIMEOUT_DEFAULTS, messageMailOptions, parseFrom, smtpNotifyError, smtpSettings, type SmtpObjectConfig } from '../notifiers/email/sender.ts';
import { NotifyError } from '../notifiers/notifier.ts';
import { OUTBOX_DEFAULT_FROM } from '../notifiers/outbox/sender.ts';
import { parseSlackTarget, slackNotifyError, SLACK_TIMEOUT_DEFAULT_MS } from '../notifiers/slack/sender.ts';
import type { SlackPost } from './messages.ts';

export interface Mailer {
  /** Sends one message to one plain address; resolves with its Message-ID. */
  send(to: string, msg: EmailMessage, signal?: AbortSignal): Promise<{ id: string }>;
  close(): Promise<void>;
}

export interface MailerConfig {
  smtp?: string | SmtpObjectConfig;
  from?: string;
}

export function createMailer(cfg: MailerConfig | undefined, outboxDir: string): Mailer {
  const from = parseFrom(cfg?.from ?? OUTBOX_DEFAULT_FROM);
  const mailOptions = (to: string, msg: EmailMessage) => messageMailOptions(from, checkRecipient(to), msg);

  if (cfg?.smtp) {
    const smtp = smtpSettings(cfg.smtp);
    const t = EMAIL_TIMEOUT_DEFAULTS;
    const transport = nodemailer.createTransport({
      ...smtp.options, pool: true,
      connectionTimeout: t.connectionMs, greetingTimeout: t.greetingMs, socketTimeout: t.socketMs, dnsTimeout: t.dnsMs,
    });
    return {
      async send(to, msg, signal) {
        const mail = mailOptions(to, msg);
        try {
          const info = await transport.sendMail({ ...mail, ...(signal ? { signal } : {}) });
          return { id: typeof info.messageId === 'string' && info.messageId !== '' ? info.messageId : msg.messageId };
        } catch (err) {
          throw smtpNotifyError(err, smtp.where, smtp.secrets);
        }
      },
      async close() {
        transport.close();
      },
    };
  }

  // No SMTP: the same bytes go to the outbox, one file per message (the Message-ID names it).
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    async send(to, msg) {
      const info = await composer.sendMail(mailOptions(to, msg));
      const bytes = Buffer.isBuffer(info.message) ? info.message : Buffer.from(String(info.message));
      await writeOutbox(outboxDir, `email.accountability.${fileSafe(msg.messageId)}.eml`, bytes);
      return { id: msg.messageId };
    },
    async close() {},
  };
}

// ---------------------------------------------------------------------------------------------------

export interface SlackOps {
  /** True when messages really go to Slack (false: the outbox; nothing can be updated or replied to). */
  readonly live: boolean;
  userIdForEmail(email: string): Promise<string>;
  dmForUser(userId: string): Promise<string>;
  /** `#name`, a channel id, `@U123` or `@name@example.com` -> where to post. */
  channelFor(target: string): Promise<string>;
  post(channel: string, post: SlackPost, threadTs?: string): Promise<{ channel: string; ts: string }>;
  update(channel: string, ts: string, post: { text: string; blocks: object[] }): Promise<void>;
}

export interface SlackOpsConfig {
  token?: string;
  api_url?: string;
}

export function createSlackOps(cfg: SlackOpsConfig | undefined, outboxDir: string, timeoutMs = SLACK_TIMEOUT_DEFAULT_MS): SlackOps {
  if (!cfg?.token) return outboxSlack(outboxDir);
  const token = cfg.token;
  const client = new WebClient(token, {
    ...(cfg.api_url ? { slackApiUrl: cfg.api_url.endsWith('/') ? cfg.api_url : `${cfg.api_url}/` } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: timeoutMs,
    allowAbsoluteUrls: false,
    logLevel: LogLevel.ERROR,
  });
  const users = new Map<string, string>();
  const dms = new Map<string, string>();
  const call = async <T>(method: string, target: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw slackNotifyError(err, method, target, token);
    }
  };
  const ops: SlackOps = {
    live: true,
    async userIdForEmail(email) {
      const key = email.toLowerCase();
      const hit = users.get(key);
      if (hit) return hit;
      const res = await call('users.lookupByEmail', `@${email}`, () => client.users.lookupByEmail({ email }));
      const id = res.user?.id;
      if (!id) throw new NotifyError(`Slack users.lookupByEmail for @${email} answered without a user id`, { retryable: true, code: 'bad_response' });
      users.set(key, id);
      return id;
    },
    async dmForUser(userId) {
      const hit = dms.get(userId);
      if (hit) return hit;
      const res = await call('conversations.open', `@${userId}`, () => client.conversations.open({ users: userId }));
      const id = res.channel?.id;
      if (!id) throw new NotifyError(`Slack conversations.open for @${userId} answered without a channel id`, { retryable: true, code: 'bad_response' });
      dms.set(userId, id);
      return id;
    },
    async channelFor(target) {
      const dest = parseSlackTarget(target);
      if (!dest) throw new NotifyError(`Slack target ${JSON.stringify(target)} is not "#channel", a channel id, "@U123" or "@name@example.com"`, { retryable: false, code: 'invalid_target' });
      if (dest.kind === 'channel') return dest.channel;
      if (dest.kind === 'user') return ops.dmForUser(dest.userId);
      return ops.dmForUser(await ops.userIdForEmail(dest.email));
    },
    async post(channel, post, threadTs) {
      const args = {
        channel, text: post.text, blocks: post.blocks, unfurl_links: false, unfurl_media: false,
        ...(post.metadata ? { metadata: post.metadata } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
      } as unknown as ChatPostMessageArguments;
      const res = await call('chat.postMessage', channel, () => client.chat.postMessage(args));
      if (!res.ts) throw new NotifyError(`Slack chat.postMessage to ${channel} answered without a ts`, { retryable: true, code: 'bad_response' });
      return { channel: res.channel ?? channel, ts: res.ts };
    },
    async update(channel, ts, post) {
      const args = { channel, ts, text: post.text, blocks: post.blocks } as unknown as ChatUpdateArguments;
      await call('chat.update', channel, () => client.chat.update(args));
    },
  };
  return ops;
}

/** Slack not configured: posts are written to the outbox; lookups fail for good; updates do nothing. */
function outboxSlack(dir: string): SlackOps {
  return {
    live: false,
    async userIdForEmail(email) {
      throw new NotifyError(`Slack is not configured: cannot look up ${email}`, { retryable: false, code: 'slack_not_configured' });
    },
    async dmForUser(userId) {
      return `@${userId}`;
    },
    async channelFor(target) {
      return target;
    },
    async post(channel, post, threadTs) {
      const body = JSON.stringify({ channel, ...post, ...(threadTs ? { thread_ts: threadTs } : {}) }, null, 2);
      const h = createHash('sha256').update(body).digest('hex').slice(0, 16);
      await writeOutbox(dir, `slack.accountability.${fileSafe(channel)}.${h}.json`, `${body}\n`);
      return { channel, ts: '' };
    },
    async update() {},
  };
}

function fileSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 120) || 'message';
}

async function writeOutbox(dir: string, name: string, content: Buffer | string): Promise<void> {
  const path = join(dir, name);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw new NotifyError(`cannot write ${path}: ${(err as Error).message}`, { retryable: true, code: 'outbox_io', cause: err });
  }
}
