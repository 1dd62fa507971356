/**
 * The daemon's side of break-glass declarations and silences, in one piece so the daemon wires it in a
 * few lines (the justification loop is src/accountability/, a different thing):
 * the evaluator's route hook (covered alerts are recorded under the record and suppressed), the admin
 * API's service, and the worker that sends each record's summary when it ends.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Alert } from '../domain/alert.ts';
import type { AlertStore } from '../queue/alert-store.ts';
import type { NotifyQueues } from '../queue/notify.ts';
import type { Keys } from '../queue/redis.ts';
import { SuppressionStore } from '../queue/suppression-store.ts';
import { SummaryQueue, SummaryWorker } from '../queue/suppression-summary.ts';
import type { Runtime } from './load-runtime.ts';
import { deliverSummary, SuppressionService } from './suppressions.ts';

export interface DaemonSuppressionsDeps {
  /** The evaluator's connection: the cached reads and the attach script run on it. */
  redis: Redis;
  /** New connections (for the summary queue and its worker). */
  connect: () => Redis;
  prefix: string;
  keys: Keys;
  retentionMs: number;
  runtime: () => Runtime;
  queues: NotifyQueues;
  alerts: AlertStore;
  now: () => number;
  logger: Logger;
}

export class DaemonSuppressions {
  readonly store: SuppressionStore;
  readonly service: SuppressionService;
  private readonly summaries: SummaryQueue;
  private worker?: SummaryWorker;

  constructor(private readonly d: DaemonSuppressionsDeps) {
    this.store = new SuppressionStore(d.redis, d.keys, { retentionMs: d.retentionMs, now: d.now });
    this.summaries = new SummaryQueue(d.connect(), d.prefix, d.now);
    this.service = new SuppressionService({
      runtime: d.runtime, store: this.store, summaries: this.summaries, queues: d.queues, alerts: d.alerts, now: d.now,
    });
  }

  /** The evaluator's route hook. */
  readonly route = (alert: Alert): Promise<Alert> => this.store.route(alert);

  /** Sends summaries of records that end (and of any that ended while no daemon ran). */
  startWorker(): void {
    this.worker = new SummaryWorker({
      connection: this.d.connect(),
      prefix: this.d.prefix,
      store: this.store,
      now: this.d.now,
      deliver: async (s, entries) => {
        const alert = await deliverSummary(s, entries, { alerts: this.d.alerts, queues: this.d.queues }, this.d.now());
        this.d.logger.info({ [s.kind]: s.id, vault: s.vault, covered: entries.length, alert: alert.id, recipients: alert.targets.length }, `${s.kind} ended; summary sent to the managers`);
      },
      onError: (err, data) => this.d.logger.warn({ [data.kind]: data.id, err: (err as Error).message }, 'summary failed; will retry'),
    });
    this.worker.start();
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.summaries.close();
  }
}
