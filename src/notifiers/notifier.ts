import type { Alert } from '../domain/alert.ts';
import type { ChannelKind, Target } from '../domain/target.ts';
import type { MessageContext } from './alert-facts.ts';
import type { DigestContent } from './digest.ts';

/**
 * One channel kind (email, Slack, webhook, outbox). A notifier sends one message to one target and
 * says, when it fails, whether trying again can help. Retries, backoff and dead letters are the
 * queue's job (queue/), so notifiers stay testable without Redis.
 */
export interface Notifier {
  readonly kind: ChannelKind;
  send(req: DeliveryRequest, signal?: AbortSignal): Promise<DeliveryResult>;
  /**
   * Before re-sending a job that may have been in flight at a crash: is the message already there?
   * (Slack: the channel's recent history carries the alert id in message metadata.) Optional.
   */
  findDelivered?(req: DeliveryRequest): Promise<DeliveryResult | undefined>;
  close(): Promise<void>;
}

export interface DeliveryRequest {
  alert: Alert;
  target: Target;
  context: MessageContext;
  /** Slack: post as a reply in this thread (a follow-up of the first alert's message). */
  threadTs?: string;
  /**
   * A digest (`deliver: digest`): send this instead of the alert's own message. `alert` is then the
   * digest's stand-in (its id is the digest id), for ids, metadata and records.
   */
  digest?: DigestContent;
}

export interface DeliveryResult {
  /** Email Message-ID, Slack `ts`, webhook response status... whatever identifies what was sent. */
  id?: string;
  /** Slack: the channel id the message landed in (a DM resolves to a D... id). */
  channel?: string;
  /** Where an outbox notifier wrote the file. */
  path?: string;
}

/**
 * A failed send. `retryable: false` means the same send can never succeed (bad recipient, unknown
 * channel, revoked token): no further attempts, straight to the dead letter and the fallback.
 * `retryAfterMs` (Slack 429) delays only this job and does not spend an attempt.
 */
export class NotifyError extends Error {
  override name = 'NotifyError';
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly code?: string;

  constructor(message: string, opts: { retryable: boolean; retryAfterMs?: number; code?: string; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.retryable = opts.retryable;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
    if (opts.code !== undefined) this.code = opts.code;
  }
}

export function isNotifyError(err: unknown): err is NotifyError {
  return err instanceof NotifyError || (err instanceof Error && err.name === 'NotifyError');
}

export type { ChannelKind, Target };
