/**
 * The summary at the end of a declaration or silence, as a BullMQ delayed job: the CLI (or the admin
 * API) adds it when the record is made, due at `until + summary_delay`, so it survives restarts and
 * fires even when no daemon ran at the time (the next daemon to start runs it). Ending a record early
 * pulls its job forward. The daemon's worker seals the record (nothing more is attached to it), and
 * hands the record and what was recorded under it to `deliver`, which sends one message per manager.
 *
 * Idempotent: one job per record (deterministic job id), sealing is a SET, and the summary alert and
 * its notification jobs have deterministic ids; a crash mid-way repeats the same summary.
 */
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CoveredEntry, Suppression, SuppressionKind } from '../pipeline/suppression.ts';
import type { SuppressionStore } from './suppression-store.ts';

export const SUMMARY_QUEUE = 'suppression-summaries';

export interface SummaryJobData {
  kind: SuppressionKind;
  id: string;
  /** How long after the end the summary is due. */
  after_ms: number;
}

/** `declaration.d-7k2m9x4q`: BullMQ job ids may not contain ':'. */
export function summaryJobId(kind: SuppressionKind, id: string): string {
  return `${kind}.${id}`;
}

/** The producer side, used by the CLI, the admin API and the daemon. */
export class SummaryQueue {
  readonly queue: Queue<SummaryJobData>;

  constructor(connection: Redis, prefix: string, private readonly now: () => number = Date.now) {
    this.queue = new Queue<SummaryJobData>(SUMMARY_QUEUE, {
      connection, prefix,
      defaultJobOptions: {
        // A summary must not be lost to a passing outage: retry with backoff for a long time.
        attempts: 1_000,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: 7 * 86_400 },
        removeOnFail: { age: 30 * 86_400 },
      },
    });
    // Connection trouble shows in /readyz; without a listener BullMQ prints each failed reconnect.
    this.queue.on('error', () => {});
  }

  /** Due at `until + afterMs`. A second call for the same record is a no-op. */
  async schedule(s: Suppression, afterMs: number): Promise<void> {
    const delay = Math.max(0, s.until_ms + afterMs - this.now());
    await this.queue.add('summary', { kind: s.kind, id: s.id, after_ms: afterMs }, { jobId: summaryJobId(s.kind, s.id), delay });
  }

  /** The record was ended early: its summary is due `afterMs` from now (added again if it went missing). */
  async endedEarly(s: Suppression, afterMs: number): Promise<void> {
    const job = await this.queue.getJob(summaryJobId(s.kind, s.id));
    if (job && await job.isDelayed()) {
      await job.changeDelay(afterMs);
      return;
    }
    if (!job) await this.schedule(s, afterMs);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export interface SummaryWorkerDeps {
  /** A blocking connection for the worker (maxRetriesPerRequest null). */
  connection: Redis;
  prefix: string;
  store: SuppressionStore;
  /** Sends the summary of `s` (deterministic ids: may be called twice for the same record). */
  deliver(s: Suppression, entries: CoveredEntry[]): Promise<void>;
  now?: () => number;
  onError?: (err: unknown, data: SummaryJobData) => void;
}

export class SummaryWorker {
  private worker?: Worker<SummaryJobData>;
  private readonly now: () => number;

  constructor(private readonly d: SummaryWorkerDeps) {
    this.now = d.now ?? Date.now;
  }

  start(): void {
    this.worker = new Worker<SummaryJobData>(SUMMARY_QUEUE, (job, token) => this.process(job, token), {
      connection: this.d.connection,
      prefix: this.d.prefix,
      concurrency: 2,
    });
    this.worker.on('error', () => {});
    this.worker.on('failed', (job, err) => { if (job && err.name !== 'DelayedError') this.d.onError?.(err, job.data); });
  }

  isRunning(): boolean {
    return this.worker?.isRunning() ?? false;
  }

  async close(): Promise<void> {
    await this.worker?.close();
  }

  async process(job: Job<SummaryJobData>, token?: string): Promise<string> {
    const { kind, id, after_ms: afterMs } = job.data;
    const s = await this.d.store.get(kind, id);
    if (!s) return 'gone';
    // Early (a clock difference between the CLI's machine and ours): wait until it is due.
    const due = s.until_ms + afterMs;
    if (this.now() < due) {
      await job.moveToDelayed(due, token);
      throw new DelayedError();
    }
    const entries = await this.d.store.seal(s);
    await this.d.deliver(s, entries);
    return `summarised ${entries.length}`;
  }
}
