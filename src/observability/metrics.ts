/**
 * Every Prometheus metric the daemon exposes, on a Registry of its own (never prom-client's global one,
 * so tests and several app instances in one process do not collide). Label values with unbounded
 * cardinality (ids, emails, free-text reasons) never become labels: rejection reasons are folded into a
 * small fixed set by `rejectReasonLabel`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const DELIVERY_OUTCOMES = ['delivered', 'retried', 'failed', 'dead_lettered', 'suppressed'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export const SUPPRESSED_WHY = ['declaration', 'silence', 'dedup'] as const;
export type SuppressedWhy = (typeof SUPPRESSED_WHY)[number];

export const REJECT_REASON_LABELS = ['timestamp', 'item', 'id', 'user', 'vault', 'shape', 'json', 'internal', 'other'] as const;
export type RejectReasonLabel = (typeof REJECT_REASON_LABELS)[number];

/** Normaliser field names (all vendors) -> the label they count under. */
const REASON_FIELDS: ReadonlyMap<string, RejectReasonLabel> = new Map<string, RejectReasonLabel>([
  ['timestamp', 'timestamp'], ['time', 'timestamp'], ['date', 'timestamp'],
  ['item', 'item'], ['item_uuid', 'item'], ['itemid', 'item'],
  ['id', 'id'], ['uuid', 'id'],
  ['user', 'user'], ['actinguserid', 'user'],
  ['vault', 'vault'], ['vault_uuid', 'vault'], ['collectionid', 'vault'], ['no vault', 'vault'],
  ['record', 'shape'], ['unrecognised record', 'shape'], ['type', 'shape'], ['force', 'shape'],
  ['json', 'json'], ['not_json', 'json'],
  ['internal', 'internal'],
]);

/**
 * A rejection reason (`timestamp: not a date`, `user.uuid: missing`, `unrecognised record: ...`) ->
 * one of REJECT_REASON_LABELS: the field the reason starts with, bounded.
 */
export function rejectReasonLabel(reason: string): RejectReasonLabel {
  const colon = reason.indexOf(':');
  const head = (colon < 0 ? reason : reason.slice(0, colon)).trim().toLowerCase();
  const dot = head.indexOf('.');
  const field = dot < 0 ? head : head.slice(0, dot);
  return REASON_FIELDS.get(field) ?? REASON_FIELDS.get(head) ?? 'other';
}

/** Seconds. Deliveries: from event time to the message being accepted by SMTP/Slack. */
export const EVENT_TO_DELIVERY_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** Seconds from an /ingest request arriving to its events being durably enqueued. */
export const INGEST_TO_ENQUEUE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds from the vendor's event time to this daemon receiving it: vendors report minutes to hours late. */
export const SOURCE_LAG_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400];

/** Runs before every render; sets gauges from outside state (queue counts, Redis health). */
export type CollectCallback = (metrics: Metrics) => void | Promise<void>;

export interface MetricsOptions {
  /**
   * Process and Node.js metrics (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...).
   * true: default names (what standard dashboards expect); `{ prefix }`: prefixed; false: none.
   * Default true.
   */
  defaultMetrics?: boolean | { prefix: string };
  /** Longest wait for the onCollect callbacks at a render (a hung Redis must not hang /metrics). Default 1000 ms. */
  collectTimeoutMs?: number;
}

export class Metrics {
  readonly registry = new Registry();

  readonly eventsReceived: Counter<'source'>;
  readonly eventsRejected: Counter<'source' | 'reason'>;
  readonly eventsSkipped: Counter<'source'>;
  readonly eventsDuplicate: Counter<'source'>;
  readonly alerts: Counter<'severity' | 'suppressed'>;
  readonly alertsSuppressed: Counter<'why'>;
  readonly deliveries: Counter<'channel' | 'outcome'>;
  readonly deadLetters: Counter<'kind'>;
  readonly eventToDelivery: Histogram<'channel'>;
  readonly ingestToEnqueue: Histogram;
  readonly sourceLag: Histogram<'source'>;
  readonly sourceUp: Gauge<'source'>;
  readonly sourceLastSuccess: Gauge<'source'>;
  readonly configLastReloadSuccessful: Gauge;
  readonly configFileOk: Gauge<'file'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly redisUp: Gauge;
  /** Callbacks that threw or timed out at a render (the render still answers). */
  readonly collectErrors: Counter;

  readonly #collectors: CollectCallback[] = [];
  readonly #collectTimeoutMs: number;
  #collecting: Promise<void> | undefined;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    this.#collectTimeoutMs = opts.collectTimeoutMs ?? 1000;
    const defaults = opts.defaultMetrics ?? true;
    if (defaults !== false) {
      collectDefaultMetrics(defaults === true ? { register: this.registry } : { register: this.registry, prefix: defaults.prefix });
    }

    this.eventsReceived = new Counter({
      name: 'vaultwatch_events_received_total', help: 'Records received from a source (before normalisation).',
      labelNames: ['source'] as const, registers,
    });
    this.eventsRejected = new Counter({
      name: 'vaultwatch_events_rejected_total',
      help: 'Records that could not be normalised, by the field at fault (dead-lettered).',
      labelNames: ['source', 'reason'] as const, registers,
    });
    this.eventsSkipped = new Counter({
      name: 'vaultwatch_events_skipped_total', help: 'Records not about an item (sign-ins, member changes): skipped quietly.',
      labelNames: ['source'] as const, registers,
    });
    this.eventsDuplicate = new Counter({
      name: 'vaultwatch_events_duplicate_total', help: 'Events whose id was already known (dropped: idempotent ingest).',
      labelNames: ['source'] as const, registers,
    });
    this.alerts = new Counter({
      name: 'vaultwatch_alerts_total', help: 'Alerts raised, by severity and whether dedup suppressed them.',
      labelNames: ['severity', 'suppressed'] as const, registers,
    });
    this.alertsSuppressed = new Counter({
      name: 'vaultwatch_alerts_suppressed_total',
      help: 'Alerts not sent as alerts of their own, by why: declaration (break-glass) or silence (recorded, summarised at the end), dedup (a repeat, sent as a threaded follow-up).',
      labelNames: ['why'] as const, registers,
    });
    this.deliveries = new Counter({
      name: 'vaultwatch_deliveries_total',
      help: 'Notification attempts by channel and outcome (delivered, retried, failed, dead_lettered, suppressed).',
      labelNames: ['channel', 'outcome'] as const, registers,
    });
    this.deadLetters = new Counter({
      name: 'vaultwatch_dead_letters_total', help: 'Entries written to a dead-letter list, by kind.',
      labelNames: ['kind'] as const, registers,
    });
    this.eventToDelivery = new Histogram({
      name: 'vaultwatch_event_to_delivery_seconds', help: 'From receiving an event to its notification being delivered.',
      labelNames: ['channel'] as const, buckets: EVENT_TO_DELIVERY_BUCKETS, registers,
    });
    this.ingestToEnqueue = new Histogram({
      name: 'vaultwatch_ingest_to_enqueue_seconds', help: 'From an /ingest request arriving to its events being durably enqueued.',
      buckets: INGEST_TO_ENQUEUE_BUCKETS, registers,
    });
    this.sourceLag = new Histogram({
      name: 'vaultwatch_source_lag_seconds', help: 'From the event time the vendor reports to this daemon receiving it.',
      labelNames: ['source'] as const, buckets: SOURCE_LAG_BUCKETS, registers,
    });
    this.sourceUp = new Gauge({
      name: 'vaultwatch_source_up', help: '1 while a source works (last poll or request succeeded), else 0.',
      labelNames: ['source'] as const, registers,
    });
    this.sourceLastSuccess = new Gauge({
      name: 'vaultwatch_source_last_success_timestamp_seconds', help: 'Unix time of the source\'s last successful poll or ingest.',
      labelNames: ['source'] as const, registers,
    });
    this.configLastReloadSuccessful = new Gauge({
      name: 'vaultwatch_config_last_reload_successful', help: '1 when the last configuration (re)load succeeded.',
      registers,
    });
    this.configFileOk = new Gauge({
      name: 'vaultwatch_config_file_ok', help: '1 when this configuration or policy file loaded without errors.',
      labelNames: ['file'] as const, registers,
    });
    this.queueJobs = new Gauge({
      name: 'vaultwatch_queue_jobs', help: 'Jobs per queue and state (waiting, active, delayed, failed, ...), read at scrape time.',
      labelNames: ['queue', 'state'] as const, registers,
    });
    this.redisUp = new Gauge({
      name: 'vaultwatch_redis_up', help: '1 while Redis answers, else 0.', registers,
    });
    this.collectErrors = new Counter({
      name: 'vaultwatch_metrics_collect_errors_total', help: 'Scrape-time collectors that failed or timed out.',
      registers,
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Helpers that keep label values bounded

  /** One rejected record; the free-text reason is folded by rejectReasonLabel. */
  recordRejected(source: string, reason: string, count = 1): void {
    this.eventsRejected.inc({ source, reason: rejectReasonLabel(reason) }, count);
  }

  recordDelivery(channel: string, outcome: DeliveryOutcome, count = 1): void {
    this.deliveries.inc({ channel, outcome }, count);
  }

  recordAlert(severity: string, suppressed: boolean): void {
    this.alerts.inc({ severity, suppressed: suppressed ? 'true' : 'false' });
  }

  /** A suppressed alert, by what suppressed it. */
  recordSuppressed(why: SuppressedWhy, count = 1): void {
    this.alertsSuppressed.inc({ why }, count);
  }

  // -------------------------------------------------------------------------------------------------
  // Scrape

  /** Adds a callback run before each render (e.g. reading BullMQ job counts into queueJobs). */
  onCollect(fn: CollectCallback): () => void {
    this.#collectors.push(fn);
    return () => {
      const i = this.#collectors.indexOf(fn);
      if (i >= 0) this.#collectors.splice(i, 1);
    };
  }

  /** Prometheus text exposition, after running the collect callbacks (bounded by collectTimeoutMs). */
  async render(): Promise<string> {
    await this.#collect();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Concurrent scrapes share one collection. */
  #collect(): Promise<void> {
    if (this.#collectors.length === 0) return Promise.resolve();
    this.#collecting ??= this.#runCollectors().finally(() => { this.#collecting = undefined; });
    return this.#collecting;
  }

  async #runCollectors(): Promise<void> {
    await Promise.all(this.#collectors.map(async (fn) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.#collectTimeoutMs);
        timer.unref();
      });
      try {
        const outcome = await Promise.race([Promise.resolve().then(() => fn(this)), timeout]);
        if (outcome === 'timeout') this.collectErrors.inc();
      } catch {
        this.collectErrors.inc();
      } finally {
        clearTimeout(timer);
      }
    }));
  }
}
