/**
 * The outbox: where a channel's messages go when the channel is not configured, so the example runs
 * with no account anywhere and an admin can see exactly what would have been sent.
 *
 *   email   -> `<dir>/email.<alert>.<target>.eml`, the RFC 5322 message nodemailer would hand to SMTP
 *              (same buildEmailMessage output, same recipient checks, CRLF line ends)
 *   slack   -> `<dir>/slack.<alert>.<target>.json`, the chat.postMessage arguments
 *   webhook -> `<dir>/webhook.<alert>.<target>.json`, the POST body
 *
 * A file name depends only on (alert id, target), so a retry overwrites the same file. Files are
 * written to a temporary name and renamed, so a reader never sees half a message.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { formatTarget, type ChannelKind } from '../../domain/target.ts';
import { NotifyError, type DeliveryRequest, type DeliveryResult, type Notifier } from '../notifier.ts';
import { emailMailOptions, parseFrom } from '../email/sender.ts';
import { buildSlackDigest } from '../slack/digest.ts';
import { buildSlackMessage } from '../slack/message.ts';
import { parseSlackTarget } from '../slack/sender.ts';
import { webhookPayload } from '../webhook/sender.ts';

export interface OutboxOptions {
  /** Email only: the From of the written messages. Default `vaultwatch <vaultwatch@vaultwatch.invalid>`. */
  from?: string;
}

export const OUTBOX_DEFAULT_FROM = 'vaultwatch <vaultwatch@vaultwatch.invalid>';

export function createOutboxNotifier(dir: string, kind: ChannelKind, opts: OutboxOptions = {}): Notifier {
  const render = renderer(kind, opts);
  const fileFor = (req: DeliveryRequest): string => join(dir, outboxFileName(kind, req));

  return {
    kind,
    async send(req: DeliveryRequest): Promise<DeliveryResult> {
      if (req.target.kind !== kind) {
        throw new NotifyError(`${kind} outbox got a ${req.target.kind} target`, { retryable: false, code: 'wrong_target_kind' });
      }
      const { content, result } = await render(req);
      const path = fileFor(req);
      try {
        await mkdir(dir, { recursive: true });
        await writeAtomically(path, content);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A full disk or a permission problem can be fixed without changing the message.
        throw new NotifyError(`cannot write ${path}: ${(err as Error).message}`, { retryable: true, code: `outbox_${(code ?? 'io').toLowerCase()}`, cause: err });
      }
      return { ...result, path };
    },
    /** The file is renamed into place only once complete, so its existence means delivered. */
    async findDelivered(req: DeliveryRequest): Promise<DeliveryResult | undefined> {
      if (req.target.kind !== kind) return undefined;
      const path = fileFor(req);
      try {
        await stat(path);
        return { path };
      } catch {
        return undefined;
      }
    },
    async close(): Promise<void> {},
  };
}

/** `email.<alert id>.<readable target>.<hash of target>.eml`: deterministic, filesystem-safe, bounded. */
export function outboxFileName(kind: ChannelKind, req: DeliveryRequest): string {
  const target = formatTarget(req.target);
  const readable = target.slice(target.indexOf(':') + 1).toLowerCase().replace(/[^a-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 60);
  const hash = createHash('sha256').update(target).digest('hex').slice(0, 10);
  const alert = req.alert.id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'alert';
  return `${kind}.${alert}.${readable || 'target'}.${hash}.${kind === 'email' ? 'eml' : 'json'}`;
}

type Render = (req: DeliveryRequest) => Promise<{ content: Buffer | string; result: DeliveryResult }>;

function renderer(kind: ChannelKind, opts: OutboxOptions): Render {
  switch (kind) {
    case 'email': {
      const from = parseFrom(opts.from ?? OUTBOX_DEFAULT_FROM);
      // The stream transport runs the same MIME composer as SMTP and hands back the bytes.
      const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
      return async (req) => {
        const mail = emailMailOptions(req, from);
        const info = await composer.sendMail(mail);
        const message = Buffer.isBuffer(info.message) ? info.message : Buffer.from(String(info.message));
        return { content: message, result: { id: info.messageId || mail.messageId } };
      };
    }
    case 'slack':
      return async (req) => {
        const target = req.target.kind === 'slack' ? req.target.channel : '';
        if (!parseSlackTarget(target)) {
          throw new NotifyError(`Slack target ${JSON.stringify(target)} is not "#channel", a channel id, "@U123" or "@name@example.com"`, {
            retryable: false, code: 'invalid_target',
          });
        }
        const args = req.digest
          ? buildSlackDigest(req.digest, target)
          : buildSlackMessage(req.alert, target, { ...req.context, ...(req.threadTs ? { threadTs: req.threadTs } : {}) });
        return { content: `${JSON.stringify(args, null, 2)}\n`, result: { channel: target } };
      };
    case 'webhook':
      return async (req) => ({ content: `${JSON.stringify(webhookPayload(req.alert), null, 2)}\n`, result: {} });
  }
}

async function writeAtomically(path: string, content: Buffer | string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
