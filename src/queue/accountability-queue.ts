/**
 * The accountability queue (BullMQ): the justification loop's work survives restarts and replicas.
 *
 *   ask.<alert>        ask the accessor (added by the evaluator's onAlerts hook, before the batch ack)
 *   esc.<alert>        delayed until the deadline; removed when the answer comes first
 *   ans.<alert>        attach the answer to the managers' messages
 *   upd.<alert>.<n>    re-render the alert's Slack messages after the n-th manager action
 *
 * Ids are deterministic, so a re-run batch or a second replica adds nothing twice; `ask` also carries
 * a deduplication key that outlives the job. Failures retry with the notification queues' backoff
 * (exponential, capped at 60 s, jittered) until `delivery.retry_for`; then an `ask` that never reached
 * the accessor escalates at once ("could not be asked").
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Alert } from '../domain/alert.ts';
import { backoffDelay } from './notify.ts';
import type { AccountabilityScheduler } from '../accountability/service.ts';

export const ACCOUNTABILITY_QUEUE = 'accountability';

export type AccountabilityJob =
  | { kind: 'ask'; alert: Alert }
  | { kind: 'escalate'; alert: Alert }
  | { kind: 'answered'; alertId: string }
  | { kind: 'refresh'; alertId: string };

export const askJobId = (alertId: string): string => `ask.${alertId}`;
export const escalateJobId = (alertId: string): string => `esc.${alertId}`;
export const answeredJobId = (alertId: string): string => `ans.${alertId}`;
export const refreshJobId = (alertId: string, n: number): string => `upd.${alertId}.${n}`;

export class AccountabilityQueue implements AccountabilityScheduler {
  readonly queue: Queue<AccountabilityJob>;

  constructor(connection: Redis, prefix: string, private readonly retentionMs: number, private readonly now: () => number = Date.now) {
    this.queue = new Queue<AccountabilityJob>(ACCOUNTABILITY_QUEUE, {
      connection, prefix,
      defaultJobOptions: {
        attempts: 1_000_000,
        backoff: { type: 'vaultwatch' },
        // Kept a day: re-adding a finished job's id within that time is a no-op.
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: Math.round(retentionMs / 1000) },
      },
    });
    // Connection trouble shows in /readyz; without a listener BullMQ prints each failed reconnect.
    this.queue.on('error', () => {});
  }

  async ask(alerts: readonly Alert[]): Promise<void> {
    await this.queue.addBulk(alerts.map((alert) => {
      const id = askJobId(alert.id);
      return { name: 'ask', data: { kind: 'ask' as const, alert }, opts: { jobId: id, deduplication: { id, ttl: this.retentionMs } } };
    }));
  }

  async escalateAt(alert: Alert, atMs: number): Promise<void> {
    await this.queue.add('escalate', { kind: 'escalate', alert }, { jobId: escalateJobId(alert.id), delay: Math.max(0, atMs - this.now()) });
  }

  async cancelEscalation(alertId: string): Promise<void> {
    // 0 when it is running right now: it reads the answer first and stands down.
    await this.queue.remove(escalateJobId(alertId));
  }

  async answered(alertId: string): Promise<void> {
    await this.queue.add('answered', { kind: 'answered', alertId }, { jobId: answeredJobId(alertId) });
  }

  async refresh(alertId: string, version: number): Promise<void> {
    await this.queue.add('refresh', { kind: 'refresh', alertId }, { jobId: refreshJobId(alertId, version) });
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export interface AccountabilityHandlers {
  ask(alert: Alert, jobId: string): Promise<void>;
  askGaveUp(alert: Alert, error: string): Promise<void>;
  escalate(alert: Alert, jobId: string): Promise<void>;
  attachAnswer(alertId: string, jobId: string): Promise<void>;
  refresh(alertId: string): Promise<void>;
}

export interface AccountabilityWorkerOptions {
  connection: () => Redis;
  prefix: string;
  handlers: AccountabilityHandlers;
  retryForMs: number;
  concurrency?: number;
  now?: () => number;
  log?: Logger;
}

export class AccountabilityWorker {
  private worker?: Worker<AccountabilityJob>;
  private readonly now: () => number;

  constructor(private readonly o: AccountabilityWorkerOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    const w = new Worker<AccountabilityJob>(ACCOUNTABILITY_QUEUE, (job) => this.process(job), {
      connection: this.o.connection(),
      prefix: this.o.prefix,
      concurrency: this.o.concurrency ?? 5,
      lockDuration: 15_000,
      stalledInterval: 5_000,
      settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade) },
    });
    w.on('error', () => {});
    this.worker = w;
  }

  isRunning(): boolean {
    return this.worker?.isRunning() ?? false;
  }

  async close(graceMs = 10_000): Promise<void> {
    const w = this.worker;
    if (!w) return;
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([w.close(), timer])) === 'timeout') await w.close(true);
  }

  private async process(job: Job<AccountabilityJob>): Promise<void> {
    const data = job.data;
    const id = job.id!;
    try {
      switch (data.kind) {
        case 'ask': return await this.o.handlers.ask(data.alert, id);
        case 'escalate': return await this.o.handlers.escalate(data.alert, id);
        case 'answered': return await this.o.handlers.attachAnswer(data.alertId, id);
        case 'refresh': return await this.o.handlers.refresh(data.alertId);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (this.now() - job.timestamp < this.o.retryForMs) {
        this.o.log?.warn({ job: id, error: message, attempt: job.attemptsMade + 1 }, 'accountability job failed; will retry');
        throw err instanceof Error ? err : new Error(message);
      }
      this.o.log?.error({ job: id, error: message }, 'accountability job failed for good');
      if (data.kind === 'ask') await this.o.handlers.askGaveUp(data.alert, message).catch(() => {});
      throw new UnrecoverableError(message);
    }
  }
}
