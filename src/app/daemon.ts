/**
 * The running daemon: the one place that wires implementations together (Redis, intake, evaluator,
 * notification workers, HTTP, sources, reload, signals). Everything it starts it also stops.
 */
import { resolve } from 'node:path';
import picomatch from 'picomatch';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Alert } from '../domain/alert.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import { parseDuration } from '../domain/duration.ts';
import { formatTarget, parseTarget, type Target } from '../domain/target.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { ConfigError } from '../config/issues.ts';
import type { Env } from '../config/load.ts';
import { connectEnricherFromConfig } from '../enrich/connect-enricher.ts';
import { createEnrichChain } from '../enrich/enrich-chain.ts';
import { buildHttpServer } from '../http/server.ts';
import type { ReadyReport } from '../http/types.ts';
import type { Notifier } from '../notifiers/notifier.ts';
import { createNotifiers } from '../notifiers/registry.ts';
import { createLogger } from '../observability/logger.ts';
import { Metrics } from '../observability/metrics.ts';
import { IntakeUnavailableError, type Intake } from '../pipeline/intake.ts';
import type { PolicySet } from '../policy/policy-set.ts';
import { AlertStore, DEFAULT_RETENTION_MS } from '../queue/alert-store.ts';
import { StreamEvaluator } from '../queue/evaluator.ts';
import { DEFAULT_SEEN_TTL_S, RedisIntake } from '../queue/intake-stream.ts';
import { DEFAULT_RETRY_FOR_MS, NotifyQueues, NotifyWorkers } from '../queue/notify.ts';
import { checkRedisPolicy, DEFAULT_PREFIX, DEFAULT_REDIS_URL, hashTagged, Keys, producerConnection, workerConnection } from '../queue/redis.ts';
import { RedisRuleState } from '../queue/redis-rule-state.ts';
import { createPollers, createSources, sourceKind } from '../sources/registry.ts';
import type { Poller } from '../sources/poller.ts';
import { PollScheduler } from '../queue/poll-scheduler.ts';
import type { Source } from '../sources/source.ts';
import { loadRuntime, type Runtime } from './load-runtime.ts';
import { messageContext, publicUrl } from './message-context.ts';
import { PolicyReloader } from './reload.ts';
import { DaemonSuppressions } from './suppressions-daemon.ts';
import { AccountabilityLoop } from '../accountability/loop.ts';
import { DaemonDelivery } from './delivery-routing.ts';

/**
 * What a process does. `all` (default) runs everything; with several replicas, intake and
 * evaluation (`evaluate`: HTTP ingest, sources, evaluator) and delivery (`deliver`: notification
 * workers) can scale apart, since delivery is I/O bound and evaluation CPU bound.
 */
export type DaemonRole = 'all' | 'evaluate' | 'deliver';

export interface DaemonOptions {
  configPath: string;
  role?: DaemonRole;
  env?: Env;
  clock?: Clock;
  logger?: Logger;
  /** Overrides http.listen (tests use port 0). */
  listen?: string;
  /** How long in-flight jobs may take to finish at shutdown. */
  graceMs?: number;
  /** Test hook: shorter intervals for stuck-entry claims. */
  claimIdleMs?: number;
  /** Called after each batch is judged and its notification jobs are enqueued (benchmarks, tests). */
  onEvaluated?: (events: readonly UsageEvent[], alerts: readonly Alert[]) => void;
}

const DEFAULT_LISTEN = '127.0.0.1:8787';
const EVALUATORS_PER_PROCESS = 2;

export class Daemon {
  readonly logger: Logger;
  readonly metrics = new Metrics();
  private runtime: Runtime;
  private policies: PolicySet;
  private readonly clock: Clock;
  private readonly connections: Redis[] = [];
  private redis!: Redis;
  private ingestRedis!: Redis;
  private http?: FastifyInstance;
  private evaluators: StreamEvaluator[] = [];
  private workers?: NotifyWorkers;
  private queues?: NotifyQueues;
  private store?: AlertStore;
  private suppressions?: DaemonSuppressions;
  /** The justification loop and manager actions (src/accountability/). */
  private justification?: AccountabilityLoop;
  private sources: Source[] = [];
  private notifiers: Notifier[] = [];
  private pollers: Poller[] = [];
  private pollScheduler?: PollScheduler;
  private reloader?: PolicyReloader;
  /** Set at the first signal and never cleared: /readyz answers 503 from then on. */
  private stopping = false;
  private finished = false;
  private stopped?: Promise<void>;
  keys!: Keys;
  address?: string;
  readonly role: DaemonRole;

  private constructor(private readonly opts: DaemonOptions, runtime: Runtime) {
    this.runtime = runtime;
    this.policies = runtime.policies;
    this.clock = opts.clock ?? systemClock;
    this.role = opts.role ?? 'all';
    this.logger = opts.logger ?? createLogger({ level: runtime.config.log?.level ?? 'info', base: { service: 'vaultwatch' } });
  }

  /** Loads the config (throws ConfigError with every issue) and starts everything. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const rt = loadRuntime(opts.configPath, opts.env);
    if (rt.issues.length) throw new ConfigError(rt.issues);
    const d = new Daemon(opts, rt);
    await d.startAll();
    return d;
  }

  get config() {
    return this.runtime.config;
  }

  private async startAll(): Promise<void> {
    const cfg = this.runtime.config;
    const url = cfg.redis?.url ?? DEFAULT_REDIS_URL;
    const prefix = hashTagged(cfg.redis?.prefix ?? DEFAULT_PREFIX);
    this.keys = new Keys(prefix);
    const retentionMs = parseDuration(cfg.alerts?.retention ?? '') ?? DEFAULT_RETENTION_MS;
    const retryForMs = parseDuration(cfg.delivery?.retry_for ?? '') ?? DEFAULT_RETRY_FOR_MS;
    const connect = () => this.track(workerConnection(url));

    this.redis = connect();
    this.ingestRedis = this.track(producerConnection(url));
    this.redis.on('ready', () => {
      this.metrics.redisUp.set(1);
      void checkRedisPolicy(this.redis).then((ws) => ws.forEach((w) => this.logger.warn(w)));
    });
    this.redis.on('close', () => this.metrics.redisUp.set(0));

    const redisIntake = new RedisIntake(this.ingestRedis, this.keys, DEFAULT_SEEN_TTL_S);
    // From the first signal on, intake refuses (HTTP answers 503 + Retry-After) while the HTTP server
    // stays up to say so, and /readyz answers 503, until the in-flight work has finished.
    const intake: Intake = {
      accept: (events, source) => this.stopping ? Promise.reject(new IntakeUnavailableError('shutting down')) : redisIntake.accept(events, source),
      deadLetter: (entries) => this.stopping ? Promise.reject(new IntakeUnavailableError('shutting down')) : redisIntake.deadLetter(entries),
    };
    this.store = new AlertStore(this.redis, this.keys, retentionMs, () => this.clock.now());
    // Separate connections keep the evaluator's round trips from queueing behind delivery traffic.
    const evalRedis = connect();
    this.queues = new NotifyQueues(connect(), prefix, retentionMs);
    const notifiers = createNotifiers(cfg.channels, { configDir: this.runtime.loaded.dir });
    // Follow-ups, recipients' hours (defer, digest), separation of duties: the evaluator's route and
    // dispatch hooks and the notification workers' prepare and settle hooks.
    const evalStore = new AlertStore(evalRedis, this.keys, retentionMs, () => this.clock.now());
    const delivery = new DaemonDelivery({
      evalRedis, redis: this.redis, keys: this.keys, evalStore, store: this.store, retentionMs, retryForMs,
      runtime: () => this.runtime, now: () => this.clock.now(), logger: this.logger,
    });
    this.notifiers = Object.values(notifiers);
    const fallback = (cfg.delivery?.fallback ?? []).map(parseTarget).filter((t): t is Target => !('error' in t));

    // Links start with http.public_url, else the address the server really listens on (port 0 in tests).
    const linkBase = () => (cfg.http?.public_url || !this.address ? publicUrl(cfg) : this.address);
    const context = { ...messageContext(cfg), managerActions: Boolean(cfg.channels?.slack?.signing_secret) };
    this.justification = new AccountabilityLoop({
      config: cfg, configDir: this.runtime.loaded.dir, redis: this.redis, connect, prefix, keys: this.keys, alerts: this.store,
      retentionMs, retryForMs, now: () => this.clock.now(), publicUrl: linkBase, messageContext: () => context, log: this.logger,
    });
    this.workers = new NotifyWorkers({
      connection: connect, redis: this.redis, prefix, keys: this.keys, notifiers, store: this.store,
      queues: this.queues, context, links: this.justification.linksFor, retryForMs, retentionMs, fallback,
      now: () => this.clock.now(), prepare: delivery.prepare, settle: delivery.settle,
      observe: {
        delivered: (kind, data) => {
          this.metrics.recordDelivery(kind, 'delivered');
          const received = Date.parse(data.received_at);
          if (Number.isFinite(received)) this.metrics.eventToDelivery.observe({ channel: kind }, Math.max(0, (this.clock.now() - received) / 1000));
        },
        retry: (kind, data, error) => {
          this.metrics.recordDelivery(kind, 'retried');
          this.logger.warn({ channel: kind, alert: data.alert.id, error }, 'delivery failed; will retry');
        },
        rateLimited: (kind, data, delayMs) => this.logger.info({ channel: kind, alert: data.alert.id, delayMs }, 'rate limited; delayed'),
        failed: (kind, data, error) => {
          this.metrics.recordDelivery(kind, 'dead_lettered');
          this.metrics.deadLetters.inc({ kind: 'delivery' });
          this.logger.error({ channel: kind, alert: data.alert.id, error }, 'delivery failed for good; dead-lettered');
        },
      },
    });

    // Labels: the record, then the Redis cache / 1Password Connect (list calls only, when
    // enrichment.onepassword_connect is set; a restart applies changes to it), then catalog.yaml.
    const enrich = createEnrichChain({
      connect: connectEnricherFromConfig(cfg.enrichment?.onepassword_connect, { redis: evalRedis, prefix, logger: this.logger }),
      catalog: () => this.runtime.catalog,
    });
    // Declarations and silences: the evaluator's route hook, the admin API, the end-of-window summaries.
    this.suppressions = new DaemonSuppressions({
      redis: evalRedis, connect, prefix, keys: this.keys, retentionMs, runtime: () => this.runtime,
      queues: this.queues, alerts: this.store, now: () => this.clock.now(), logger: this.logger,
    });
    const queues = this.queues;
    const justification = this.justification;
    const makeEvaluator = () => new StreamEvaluator({
      blocking: connect(), redis: evalRedis, keys: this.keys,
      policies: () => this.policies,
      enrich,
      state: new RedisRuleState(evalRedis, this.keys),
      route: async (a: Alert) => delivery.route(await this.suppressions!.route(a)),
      dispatch: delivery.dispatch,
      onAlerts: justification.onAlerts,
      store: evalStore, queues, decisionTtlS: DEFAULT_SEEN_TTL_S,
      ...(this.opts.claimIdleMs ? { claimIdleMs: this.opts.claimIdleMs } : {}),
      observe: {
        evaluated: (events, alerts: readonly Alert[]) => {
          for (const a of alerts) {
            this.metrics.recordAlert(a.severity, a.suppressed);
            if (a.suppressed) this.metrics.recordSuppressed(a.suppression?.kind ?? 'dedup');
          }
          this.opts.onEvaluated?.(events, alerts);
        },
        error: (err) => this.logger.warn({ err: (err as Error).message }, 'evaluation batch failed; will retry'),
      },
    });
    // Two consumers per process: while one batch waits on Redis the other computes, so the CPU and
    // the Redis round trips overlap. Both are consumers of one group, exactly like two replicas.
    this.evaluators = Array.from({ length: EVALUATORS_PER_PROCESS }, makeEvaluator);

    // Source health on every scrape, not only when someone asks /readyz.
    this.metrics.onCollect((m) => {
      for (const s of [...this.sources, ...this.pollers].map((x) => x.status())) {
        m.sourceUp.set({ source: s.name }, s.state === 'running' ? 1 : 0);
        if (s.last_success) m.sourceLastSuccess.set({ source: s.name }, Date.parse(s.last_success) / 1000);
      }
    });
    this.metrics.onCollect(async (m) => {
      const counts = await this.queues!.counts();
      for (const [queue, states] of Object.entries(counts)) for (const [state, n] of Object.entries(states)) m.queueJobs.set({ queue, state }, n);
    });

    // Not awaited: with Redis down at startup the consumer group cannot be made yet, and HTTP must
    // answer meanwhile (/healthz 200, /readyz and /ingest 503) rather than not listen at all.
    if (this.role !== 'deliver') void this.startEvaluator();
    if (this.role !== 'evaluate') this.workers.start();
    if (this.role !== 'evaluate') this.suppressions.startWorker();
    if (this.role !== 'evaluate') this.justification.startWorker();
    await this.startHttp(intake);
    if (this.role !== 'deliver') await this.startSources(intake, url);
    this.reloader = new PolicyReloader({
      configPath: this.opts.configPath,
      ...(this.opts.env ? { env: this.opts.env } : {}),
      logger: this.logger,
      metrics: this.metrics,
      current: () => this.runtime,
      apply: (rt) => { this.runtime = rt; this.policies = rt.policies; },
      tellManagers: (notices) => this.tellManagers(notices),
    });
    this.reloader.watch(configFiles(this.runtime));
    this.metrics.configLastReloadSuccessful.set(1);
    this.logger.info({ role: this.role, policies: this.policies.policies.length, rules: this.policies.ruleCount, http: this.address }, 'vaultwatch started');
  }

  /** Starts the evaluator once Redis lets it (the group is made on first start), retrying until stopped. */
  private async startEvaluator(): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await Promise.all(this.evaluators.map((e) => e.start()));
        return;
      } catch (err) {
        if (attempt === 1) this.logger.error({ err: (err as Error).message }, 'evaluator could not start; Redis unreachable? retrying in the background');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  /**
   * A "policy file did not load" notice is recorded like any alert before it is sent, so it is listed
   * by `vaultwatch alerts` with its delivery states, and its records expire with the retention.
   */
  private async tellManagers(notices: readonly { alert: Alert; target: Target }[]): Promise<void> {
    const at = new Date(this.clock.now()).toISOString();
    const byAlert = new Map<string, Alert>();
    for (const n of notices) byAlert.set(n.alert.id, n.alert);
    await this.store!.record([...byAlert.values()].map((alert) => ({
      alert,
      deliveries: notices.filter((n) => n.alert.id === alert.id).map((n) => ({ target: formatTarget(n.target), state: 'pending' as const, attempts: 0, updated_at: at })),
    })));
    await this.queues!.enqueue(notices.map((n) => ({ alert: n.alert, target: n.target, purpose: 'alert' as const, received_at: at })));
  }

  private track(r: Redis): Redis {
    // ioredis reconnects by itself; without a listener an outage would crash the process.
    r.on('error', () => {});
    this.connections.push(r);
    return r;
  }

  private async startHttp(intake: Intake): Promise<void> {
    const cfg = this.runtime.config;
    const webhook = cfg.sources?.find((s) => s.type === 'webhook');
    this.http = buildHttpServer({
      logger: this.logger,
      metrics: this.metrics,
      intake,
      ingest: webhook && webhook.type === 'webhook' && this.role !== 'deliver' ? {
        ...(webhook.token ? { token: webhook.token } : {}),
        ...(webhook.hmac_secret ? { hmacSecret: webhook.hmac_secret } : {}),
        ...(webhook.max_body ? { maxBodyBytes: parseSize(webhook.max_body) } : {}),
        source: webhook.name ?? 'webhook',
      } : undefined,
      health: { live: () => !this.finished, ready: () => this.ready() },
      clock: this.clock,
      normalizeContext: () => ({ itemVault: (id: string) => this.runtime.catalog.itemVault(id) }),
      admin: { ...(cfg.http?.admin_token ? { token: cfg.http.admin_token } : {}), suppressions: this.suppressions!.service },
    });
    this.justification!.registerRoutes(this.http);
    const listen = this.opts.listen ?? cfg.http?.listen ?? DEFAULT_LISTEN;
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(listen.slice(i + 1));
    this.address = await this.http.listen({ host, port });
  }

  private async startSources(intake: Intake, url: string): Promise<void> {
    const defs = this.runtime.config.sources ?? [];
    const deps = {
      redis: () => this.track(workerConnection(url)),
      configDir: this.runtime.loaded.dir,
      // Through a getter: hot reload swaps the catalog.
      itemVault: (id: string) => this.runtime.catalog.itemVault(id),
    };
    this.sources = createSources(defs, deps);
    for (const def of defs) {
      if (sourceKind(def.type) === 'not-implemented') {
        this.logger.error({ source: def.type }, `source type ${def.type} is not implemented in this version; it is ignored`);
      }
    }
    const context = (name: string) => ({
      sink: intake,
      log: this.logger.child({ source: name }),
      now: () => this.clock.now(),
      onEvents: (events: readonly UsageEvent[]) => {
        this.metrics.eventsReceived.inc({ source: name }, events.length);
        for (const e of events) this.metrics.sourceLag.observe({ source: name }, Math.max(0, (Date.parse(e.received_at) - e.time_ms) / 1000));
      },
      onRejected: (reason: string) => this.metrics.recordRejected(name, reason),
    });
    this.pollers = createPollers(defs, deps);
    this.pollScheduler = new PollScheduler({
      connection: deps.redis, redis: this.redis, prefix: this.keys.prefix, keys: this.keys, pollers: this.pollers,
      context: (p) => context(p.name),
      onError: (p, err) => this.logger.error({ source: p.name, err: (err as Error).message }, 'poll failed; will retry at the next interval'),
    });
    await this.pollScheduler.start();
    for (const s of this.sources) await s.start(context(s.name));
  }

  async ready(): Promise<ReadyReport> {
    const started = Date.now();
    let redis: ReadyReport['checks']['redis'];
    try {
      await withTimeout(this.ingestRedis.ping(), 1_000);
      redis = { ok: true, latency_ms: Date.now() - started };
    } catch (err) {
      redis = { ok: false, error: (err as Error).message };
    }
    const sources = [...this.sources, ...this.pollers].map((s) => s.status());
    const workersOk = !this.stopping
      && (this.role === 'evaluate' || (this.workers?.isRunning() ?? false))
      && (this.role === 'deliver' || (this.evaluators.length > 0 && this.evaluators.every((e) => e.isRunning())));
    const checks = {
      redis,
      config: { ok: true, policies: this.policies.policies.length, rules: this.policies.ruleCount },
      workers: { ok: workersOk, role: this.role, ...(this.stopping ? { error: 'shutting down' } : {}) },
    };
    return { ready: !this.stopping && redis.ok && workersOk, checks, sources };
  }

  reload(): void {
    this.reloader?.reloadNow();
  }

  get graceMs(): number {
    return this.opts.graceMs ?? 10_000;
  }

  /** Stop intake at once (/readyz turns 503), let in-flight work finish within the grace period, close. */
  stop(): Promise<void> {
    this.stopped ??= this.stopAll();
    return this.stopped;
  }

  private async stopAll(): Promise<void> {
    // From here /readyz answers 503 and intake refuses (503 + Retry-After). HTTP itself stays up to
    // say so while the in-flight work finishes, and closes last: a closed listener would refuse
    // connections instead of answering 503.
    this.stopping = true;
    const started = Date.now();
    const grace = this.graceMs;
    const left = () => Math.max(0, grace - (Date.now() - started) - 500);
    // Every step is bounded: with Redis gone, BullMQ closes can wait for a connection forever, and
    // a shutdown that never ends would keep the process (and its port) alive.
    const step = async (name: string, work: () => Promise<unknown> | undefined, ms = left() + 1_000) => {
      try {
        await withTimeout(Promise.resolve(work()), ms);
      } catch (err) {
        this.logger.warn({ step: name, err: (err as Error).message }, 'shutdown step did not finish; going on');
      }
    };
    this.logger.info({ graceMs: grace }, 'shutting down');
    await step('reload watcher', () => this.reloader?.close());
    await step('sources', () => Promise.allSettled([...this.sources.map((s) => s.stop()), this.pollScheduler?.stop()]));
    await step('evaluators', () => Promise.all(this.evaluators.map((e) => e.stop())));
    // What is left of the grace period, less a little for closing HTTP and the connections.
    await step('notification workers', () => this.workers?.close(left()));
    await step('http', () => this.http?.close(), 2_000);
    await step('suppressions', () => this.suppressions?.close(), 2_000);
    await step('justification', () => this.justification?.close(left()));
    await step('queues', () => this.queues?.close(), 2_000);
    // The SMTP pool keeps sockets open (and the process alive) until closed.
    await step('notifiers', () => Promise.allSettled(this.notifiers.map((n) => n.close())), 2_000);
    // QUIT waits for a connection that may never come back (Redis down): only a ready one says goodbye.
    await step('redis', () => Promise.allSettled(this.connections.map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect()))), 2_000);
    for (const c of this.connections) if (c.status !== 'end') c.disconnect();
    this.finished = true;
    this.logger.info('stopped');
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

/** `5MB`, `512kb`, `1048576` -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([kKmM])?[bB]?$/.exec(text.trim());
  if (!m) return Number(text);
  const n = Number(m[1]);
  const unit = m[2]?.toLowerCase();
  return unit === 'k' ? n * 1024 : unit === 'm' ? n * 1024 * 1024 : n;
}

/** What hot reload watches: the files the configuration is made of. */
function configFiles(rt: Runtime): string[] {
  const dir = rt.loaded.dir;
  const cfg = rt.config;
  const paths = [rt.loaded.path, policiesBase(resolve(dir, cfg.policies ?? 'policies'))];
  if (rt.loaded.catalog) paths.push(rt.loaded.catalog.path);
  for (const s of Object.values(cfg.schedules ?? {})) if (s.calendar) paths.push(resolve(dir, s.calendar));
  return paths;
}

/** A glob's static directory, or the directory itself. */
function policiesBase(where: string): string {
  return picomatch.scan(where).isGlob ? picomatch.scan(where).base : where;
}
