/**
 * Delivery through BullMQ: one queue per channel kind, one job per (alert, target) with a
 * deterministic id, so a retried evaluation or a second replica never enqueues a second job.
 *
 * Exactly-once in practice: a sent-marker is written right after a successful send and checked before
 * every send; Slack jobs that may have been in flight at a crash are checked against the channel's
 * history first. A duplicate remains possible only for a send in flight at a hard crash.
 */
import { createHash } from 'node:crypto';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Alert } from '../domain/alert.ts';
import { formatTarget, type ChannelKind, type Target } from '../domain/target.ts';
import type { MessageContext } from '../notifiers/alert-facts.ts';
import type { DigestContent } from '../notifiers/digest.ts';
import { isNotifyError, type DeliveryRequest, type DeliveryResult, type Notifier } from '../notifiers/notifier.ts';
import type { AlertStore, DeliveryState } from './alert-store.ts';
import type { DigestRef } from './digest.ts';
import type { Keys } from './redis.ts';

export const CHANNEL_KINDS: readonly ChannelKind[] = ['email', 'slack', 'webhook'];
const QUEUE_NAMES: Record<ChannelKind, string> = { email: 'notify-email', slack: 'notify-slack', webhook: 'notify-webhook' };

export interface NotifyJobData {
  alert: Alert;
  target: Target;
  /**
   * `fallback`: this job carries an alert whose delivery to `failed_target` failed for good.
   * `followup`: a dedup repeat, sent in the first alert's thread. `digest`: the alerts held for one
   * recipient's window (`digest` says which; `alert` is its stand-in). See src/queue/dispatch.ts.
   */
  purpose: 'alert' | 'fallback' | 'followup' | 'digest';
  failed_target?: string;
  failure?: string;
  /** When the event was received: for the event-to-delivery latency histogram. */
  received_at: string;
  /** Held for the recipient's hours: the job waits this long after it is enqueued (a BullMQ delayed job). */
  delay_ms?: number;
  /** A digest job (and its fallback): the digest to send. */
  digest?: DigestRef;
}

/**
 * What a job needs beyond its data (follow-ups and digests, src/queue/dispatch.ts): the thread to
 * reply in, message context (the occurrence, the first alert), the digest's content; or a wait first.
 */
export type JobPreparation =
  | { waitMs: number }
  | { threadTs?: string; context?: Partial<MessageContext>; digest?: DigestContent; links?: false };

/** When a job was due: enqueued, plus its deferral. Retries are counted from here, not from enqueueing. */
function dueAt(job: Job<NotifyJobData>): number {
  return job.timestamp + (job.opts.delay ?? 0);
}

/** Marks on every delivery state of a follow-up, so `vaultwatch alerts` shows it as one. */
function flags(data: NotifyJobData): { followup?: true } {
  return data.purpose === 'followup' ? { followup: true } : {};
}

export const DEFAULT_RETRY_FOR_MS = 24 * 3600 * 1000;
const MAX_BACKOFF_MS = 60_000;
/** Slack posts ~1 message per second per channel; pace ourselves below its limit. */
const SLACK_PACE_MS = 1_000;
/**
 * Failures after which a message may still have been posted (no answer, or a broken answer): the
 * next attempt checks the channel first. Any other answered failure means nothing was posted.
 */
const AMBIGUOUS_CODES: ReadonlySet<string> = new Set(['request_error', 'slack_error', 'bad_response', 'aborted', 'fatal_error', 'internal_error']);

/** BullMQ's reason for a job it failed itself after too many stalls. */
const STALLED_OUT = /stalled more than allowable limit/;

function nothingPosted(err: unknown): boolean {
  if (!isNotifyError(err)) return false;
  if (err.retryAfterMs !== undefined || !err.retryable) return true;
  const code = err.code ?? '';
  return !AMBIGUOUS_CODES.has(code) && !code.startsWith('http_5');
}

/** `<alert id>.<hash of target>`: BullMQ job ids may not contain ':'. */
export function notifyJobId(alertId: string, target: Target, purpose: NotifyJobData['purpose'] = 'alert'): string {
  const h = createHash('sha256').update(formatTarget(target)).digest('base64url').slice(0, 16);
  return `${purpose === 'fallback' ? 'fb.' : ''}${alertId}.${h}`;
}

/** Exponential, capped at 60 s, with full jitter in the upper half so replicas do not retry in step. */
export function backoffDelay(attemptsMade: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

export class NotifyQueues {
  readonly queues: Record<ChannelKind, Queue>;

  constructor(connection: Redis, prefix: string, private readonly retentionMs: number) {
    const make = (kind: ChannelKind) => new Queue(QUEUE_NAMES[kind], {
      connection, prefix,
      defaultJobOptions: {
        // Retries stop at the retry_for deadline (checked by the worker), not at a count.
        attempts: 1_000_000,
        backoff: { type: 'vaultwatch' },
        removeOnComplete: { age: 3600, count: 10_000 },
        // Failed jobs are the dead-letter record: keep them as long as the alerts.
        removeOnFail: { age: Math.round(this.retentionMs / 1000) },
      },
    });
    this.queues = { email: make('email'), slack: make('slack'), webhook: make('webhook') };
    // Connection trouble is reported by the shared connection and /readyz; without a listener
    // BullMQ prints every failed reconnect to stderr, unstructured, during a Redis outage.
    for (const q of Object.values(this.queues)) q.on('error', () => {});
  }

  /** Idempotent: the job id and a deduplication key that outlives the job both come from (alert, target). */
  async enqueue(jobs: readonly NotifyJobData[]): Promise<void> {
    const byKind = new Map<ChannelKind, NotifyJobData[]>();
    for (const j of jobs) {
      const list = byKind.get(j.target.kind) ?? [];
      list.push(j);
      byKind.set(j.target.kind, list);
    }
    await Promise.all([...byKind].map(([kind, list]) => this.queues[kind].addBulk(list.map((data) => {
      const id = notifyJobId(data.alert.id, data.target, data.purpose);
      return { name: data.purpose, data, opts: { jobId: id, deduplication: { id, ttl: this.retentionMs }, ...(data.delay_ms ? { delay: Math.max(0, Math.round(data.delay_ms)) } : {}) } };
    }))));
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const kind of CHANNEL_KINDS) {
      out[QUEUE_NAMES[kind]] = await this.queues[kind].getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(CHANNEL_KINDS.map((k) => this.queues[k].close()));
  }
}

export interface NotifyWorkerDeps {
  /** A connection factory for blocking worker connections (maxRetriesPerRequest null). */
  connection: () => Redis;
  /** For markers and pacing (the same Redis). */
  redis: Redis;
  prefix: string;
  keys: Keys;
  notifiers: Record<ChannelKind, Notifier>;
  store: AlertStore;
  queues: NotifyQueues;
  context: MessageContext;
  /** Per (alert, target) links (the signed alert page of an email recipient); merged into `context`. */
  links?: (alert: Alert, target: Target) => Promise<MessageContext['links'] | undefined>;
  retryForMs: number;
  retentionMs: number;
  fallback: readonly Target[];
  concurrency?: number;
  /** Job lock (BullMQ lockDuration); default 15 s. */
  lockMs?: number;
  /** How often stalled jobs are looked for; default 5 s. */
  stalledIntervalMs?: number;
  now?: () => number;
  observe?: DeliveryObserver;
  /** Follow-ups and digests: called before each send (src/queue/dispatch.ts). */
  prepare?: (kind: ChannelKind, data: NotifyJobData, dueAtMs: number) => Promise<JobPreparation | undefined>;
  /** Adds to the transaction that records a job's final state (a digest updates every alert in it). */
  settle?: (m: ChainableCommander, data: NotifyJobData, state: DeliveryState) => Promise<void>;
}

/** What the app wants to know about deliveries (metrics, logs). */
export interface DeliveryObserver {
  delivered(kind: ChannelKind, data: NotifyJobData, result: DeliveryResult): void;
  retry(kind: ChannelKind, data: NotifyJobData, error: string): void;
  rateLimited(kind: ChannelKind, data: NotifyJobData, delayMs: number): void;
  failed(kind: ChannelKind, data: NotifyJobData, error: string): void;
}

export class NotifyWorkers {
  private readonly workers: Worker[] = [];
  private readonly now: () => number;

  constructor(private readonly d: NotifyWorkerDeps) {
    this.now = d.now ?? Date.now;
  }

  start(): void {
    for (const kind of CHANNEL_KINDS) {
      const w = new Worker<NotifyJobData>(QUEUE_NAMES[kind], (job, token, signal) => this.process(kind, job, token, signal), {
        connection: this.d.connection(),
        prefix: this.d.prefix,
        concurrency: this.d.concurrency ?? 10,
        // After a hard crash, the jobs the dead process held come back once their lock expires and
        // a stalled check sees it: with these, within ~25 s of the crash (BullMQ's defaults, 30 s
        // each, make that up to ~90 s). Locks are renewed every lockDuration/2 while a send runs, so
        // a slow send is never taken for a stalled one.
        lockDuration: this.d.lockMs ?? 15_000,
        stalledInterval: this.d.stalledIntervalMs ?? 5_000,
        settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade) },
      });
      // Errors here are connection trouble; the worker reconnects by itself.
      w.on('error', () => {});
      // BullMQ fails a job by itself, without calling the processor, once it has stalled more than
      // maxStalledCount times (the process died, or froze, while handling it, twice). Such a job
      // must end like any other failure: dead letter and fallback (unless it was in fact delivered).
      w.on('failed', (job, err) => {
        if (job && STALLED_OUT.test(err.message)) void this.onStalledOut(kind, job, err.message).catch(() => {});
      });
      this.workers.push(w);
    }
  }

  isRunning(): boolean {
    return this.workers.length > 0 && this.workers.every((w) => w.isRunning());
  }

  /** Stops fetching, lets in-flight sends finish within `graceMs`, then forces (they will be retried). */
  async close(graceMs = 10_000): Promise<void> {
    const graceful = Promise.all(this.workers.map((w) => w.close()));
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([graceful, timer])) === 'timeout') await Promise.all(this.workers.map((w) => w.close(true)));
  }

  private async process(kind: ChannelKind, job: Job<NotifyJobData>, token: string | undefined, signal?: AbortSignal): Promise<DeliveryResult> {
    const data = job.data;
    const target = formatTarget(data.target);
    const jobId = job.id!;
    const marker = this.d.keys.sent(jobId);

    const already = await this.d.redis.get(marker);
    if (already !== null) return JSON.parse(already) as DeliveryResult;

    // Follow-ups and digests: the thread, the occurrence, the digest's content; or wait (a follow-up
    // whose first message is not posted yet). A wait spends no attempt.
    const prep = await this.d.prepare?.(kind, data, dueAt(job));
    if (prep && 'waitMs' in prep) {
      await job.moveToDelayed(Date.now() + Math.max(50, prep.waitMs), token);
      throw new DelayedError();
    }

    const notifier = this.d.notifiers[kind];
    const links = prep?.links === false ? undefined : await this.d.links?.(data.alert, data.target);
    const req: DeliveryRequest = {
      alert: data.alert, target: data.target,
      context: { ...this.d.context, ...(links ? { links } : {}), ...prep?.context },
      ...(prep?.threadTs ? { threadTs: prep.threadTs } : {}),
      ...(prep?.digest ? { digest: prep.digest } : {}),
    };

    if (kind === 'slack') await this.pace(job, token, data.target);

    // A send may have been in flight when a process died (or timed out without an answer): the
    // "sending" marker is written just before every send and only a definite answer removes it.
    // Then, where the channel can tell, look before sending again. A failed check throws (and the
    // job retries): "could not check" must never become "send again". Pacing and rate-limit delays
    // return a job to the queue too, but they never set the marker, so they cost no history read.
    const sending = this.d.keys.sending(jobId);
    if (notifier.findDelivered) {
      try {
        if ((await this.d.redis.exists(sending)) === 1) {
          const found = await notifier.findDelivered(req);
          if (found) {
            await this.markDelivered(job, kind, found, 'already_delivered');
            return found;
          }
        }
      } catch (err) {
        return this.onSendError(kind, job, token, err, target);
      }
      await this.d.redis.set(sending, '1', 'PX', this.d.retentionMs);
    }

    try {
      const result = await notifier.send(req, signal);
      await this.markDelivered(job, kind, result, 'delivered');
      return result;
    } catch (err) {
      // Slack answered: nothing was posted (rate limited, refused). A timeout or a network error
      // leaves the marker, so the next attempt looks first.
      if (notifier.findDelivered && nothingPosted(err)) await this.d.redis.del(sending);
      return this.onSendError(kind, job, token, err, target);
    }
  }

  private async onStalledOut(kind: ChannelKind, job: Job<NotifyJobData>, message: string): Promise<void> {
    if ((await this.d.redis.exists(this.d.keys.sent(job.id!))) === 1) return;
    await this.deadLetter(job, kind, `${message}: the process handling it stopped more than once`);
  }

  /** About one message per second per Slack channel, across replicas (a Redis key per channel). */
  private async pace(job: Job<NotifyJobData>, token: string | undefined, target: Target): Promise<void> {
    const key = this.d.keys.pace(formatTarget(target));
    const ok = await this.d.redis.set(key, '1', 'PX', SLACK_PACE_MS, 'NX');
    if (ok) return;
    const ttl = Math.max(50, await this.d.redis.pttl(key));
    // BullMQ's timestamps are the real clock's, whatever clock the daemon was given.
    await job.moveToDelayed(Date.now() + ttl, token);
    throw new DelayedError();
  }

  private async markDelivered(job: Job<NotifyJobData>, kind: ChannelKind, result: DeliveryResult, outcome: 'delivered' | 'already_delivered'): Promise<void> {
    const data = job.data;
    const target = formatTarget(data.target);
    const state: DeliveryState = {
      target, state: 'delivered', attempts: job.attemptsMade + 1, updated_at: new Date(this.now()).toISOString(),
      result: { ...(result.id ? { id: result.id } : {}), ...(result.channel ? { channel: result.channel } : {}), ...(result.path ? { path: result.path } : {}) },
      ...flags(data),
      ...(data.digest ? { digest: data.digest.id } : {}),
    };
    // One transaction: a crash between the sent-marker and the record would leave the alert
    // "pending" for good (the next attempt sees the marker and sends nothing, rightly).
    const m = this.d.redis.multi()
      .set(this.d.keys.sent(job.id!), JSON.stringify(result), 'PX', this.d.retentionMs)
      .del(this.d.keys.sending(job.id!));
    this.d.store.addDeliveryUpdate(m, data.alert.id, state, { target, at: state.updated_at, outcome });
    await this.d.settle?.(m, data, state);
    await m.exec();
    this.d.observe?.delivered(kind, data, result);
  }

  private async onSendError(kind: ChannelKind, job: Job<NotifyJobData>, token: string | undefined, err: unknown, target: string): Promise<never> {
    const data = job.data;
    const message = err instanceof Error ? err.message : String(err);
    const at = new Date(this.now()).toISOString();

    if (isNotifyError(err) && err.retryAfterMs !== undefined) {
      // Slack's Retry-After applies to this channel: hold its other jobs too, spend no attempt.
      if (kind === 'slack') await this.d.redis.set(this.d.keys.pace(target), '1', 'PX', err.retryAfterMs);
      await this.d.store.updateDelivery(data.alert.id, { target, state: 'pending', attempts: job.attemptsMade + 1, updated_at: at, reason: message, ...flags(data) }, { target, at, outcome: 'rate_limited', error: message });
      this.d.observe?.rateLimited(kind, data, err.retryAfterMs);
      await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
      throw new DelayedError();
    }

    const permanent = isNotifyError(err) && !err.retryable;
    // Counted from when the job was due (a deferred one waited by design), on BullMQ's real clock.
    const expired = Date.now() - dueAt(job) >= this.d.retryForMs;
    if (!permanent && !expired) {
      await this.d.store.updateDelivery(data.alert.id, { target, state: 'pending', attempts: job.attemptsMade + 1, updated_at: at, reason: message, ...flags(data) }, { target, at, outcome: 'retry', error: message });
      this.d.observe?.retry(kind, data, message);
      throw err instanceof Error ? err : new Error(message);
    }

    const reason = permanent ? message : `gave up after ${job.attemptsStarted} attempts over ${Math.round((Date.now() - dueAt(job)) / 60_000)} min: ${message}`;
    await this.deadLetter(job, kind, reason);
    throw new UnrecoverableError(reason);
  }

  /** Dead letter, record, and hand the alert to the fallback targets (never back to the same one). */
  private async deadLetter(job: Job<NotifyJobData>, kind: ChannelKind, reason: string): Promise<void> {
    const data = job.data;
    const target = formatTarget(data.target);
    const at = new Date(this.now()).toISOString();
    await this.d.redis.multi()
      .lpush(this.d.keys.deadDeliveries, JSON.stringify({ job_id: job.id, alert_id: data.alert.id, target, reason, at }))
      .ltrim(this.d.keys.deadDeliveries, 0, 9_999)
      .exec();
    const failed: DeliveryState = { target, state: 'failed', attempts: job.attemptsMade + 1, updated_at: at, reason, ...flags(data) };
    const m = this.d.store.addDeliveryUpdate(this.d.redis.multi(), data.alert.id, failed, { target, at, outcome: 'failed', error: reason });
    await this.d.settle?.(m, data, failed);
    await m.exec();
    this.d.observe?.failed(kind, data, reason);
    if (data.purpose === 'fallback') return;
    const fallbacks = this.d.fallback.filter((t) => formatTarget(t) !== target);
    if (fallbacks.length === 0) return;
    // The fallback recipient must see why this reached them rather than the intended recipient.
    const alert: Alert = { ...data.alert, reasons: [...data.alert.reasons, `could not be delivered to ${target} (${reason}); you receive it as the fallback`] };
    await this.d.queues.enqueue(fallbacks.map((t) => ({
      alert, target: t, purpose: 'fallback' as const, failed_target: target, failure: reason, received_at: data.received_at,
      ...(data.digest ? { digest: data.digest } : {}),
    })));
  }
}
