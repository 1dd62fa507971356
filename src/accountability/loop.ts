/**
 * The justification loop and manager actions as one piece the daemon wires in a few lines: the
 * evaluator's onAlerts hook, the per-recipient links of alert emails, the HTTP routes, and the
 * accountability queue's worker.
 *
 * The link secret is `http.link_secret` when configured; otherwise one is generated the first time
 * it is needed and kept in Redis under the prefix, so every replica and every restart agree.
 */
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ConfigFile } from '../config/schema.ts';
import type { Alert } from '../domain/alert.ts';
import type { Target } from '../domain/target.ts';
import { registerAlertActionRoutes } from '../http/routes/alert-actions.ts';
import { registerJustifyRoutes } from '../http/routes/justify.ts';
import { registerSlackInteractionsRoute } from '../http/routes/slack-interactions.ts';
import type { MessageContext } from '../notifiers/alert-facts.ts';
import { DEFAULT_OUTBOX } from '../notifiers/registry.ts';
import type { AlertStore } from '../queue/alert-store.ts';
import type { Keys } from '../queue/redis.ts';
import { AccountabilityQueue, AccountabilityWorker } from '../queue/accountability-queue.ts';
import { createMailer, createSlackOps, type Mailer, type SlackOps } from './channels.ts';
import { AccountabilityService } from './service.ts';
import { AccountabilityStore } from './store.ts';

export interface AccountabilityLoopSetup {
  config: ConfigFile;
  configDir: string;
  /** For state reads and writes (the daemon's command connection). */
  redis: Redis;
  /** New blocking-safe connections (the queue and its worker). */
  connect: () => Redis;
  prefix: string;
  keys: Keys;
  alerts: AlertStore;
  retentionMs: number;
  retryForMs: number;
  now: () => number;
  /** Base of links: http.public_url, else the address the server listens on once it does. */
  publicUrl: () => string;
  /** The context alert messages are built with (a chat.update rebuilds the same message). */
  messageContext: () => MessageContext;
  log?: Logger;
  /** Tests: other channels. */
  mailer?: Mailer;
  slack?: SlackOps;
}

export class AccountabilityLoop {
  readonly store: AccountabilityStore;
  readonly queue: AccountabilityQueue;
  readonly service: AccountabilityService;
  /** Slack interactivity is configured (signing secret): alert messages get the managers' buttons. */
  readonly interactive: boolean;
  private readonly mailer: Mailer;
  private worker?: AccountabilityWorker;
  private secret?: Promise<string>;

  constructor(private readonly s: AccountabilityLoopSetup) {
    const channels = s.config.channels;
    const outbox = resolve(s.configDir, channels?.outbox ?? DEFAULT_OUTBOX);
    this.store = new AccountabilityStore(s.redis, s.keys, s.retentionMs);
    this.queue = new AccountabilityQueue(s.connect(), s.prefix, s.retentionMs, s.now);
    this.mailer = s.mailer ?? createMailer(channels?.email ? { ...(channels.email.smtp ? { smtp: channels.email.smtp } : {}), from: channels.email.from } : undefined, outbox);
    this.interactive = Boolean(channels?.slack?.signing_secret);
    this.service = new AccountabilityService({
      store: this.store,
      alerts: s.alerts,
      mailer: this.mailer,
      slack: s.slack ?? createSlackOps(channels?.slack, outbox),
      scheduler: this.queue,
      secret: () => this.linkSecret(),
      publicUrl: s.publicUrl,
      messageContext: s.messageContext,
      retentionMs: s.retentionMs,
      now: s.now,
      ...(s.log ? { log: s.log } : {}),
    });
  }

  /** http.link_secret, else the one kept in Redis (read once; a failed read is tried again next time). */
  linkSecret(): Promise<string> {
    const configured = this.s.config.http?.link_secret;
    if (configured) return Promise.resolve(configured);
    this.secret ??= this.store.linkSecret().catch((err: unknown) => {
      this.secret = undefined;
      throw err;
    });
    return this.secret;
  }

  /** The evaluator's onAlerts hook. */
  readonly onAlerts = (alerts: readonly Alert[]): Promise<void> => this.service.onAlerts(alerts);

  /** The notification workers' per-(alert, target) links. */
  readonly linksFor = (alert: Alert, target: Target): Promise<MessageContext['links'] | undefined> => this.service.linksFor(alert, target);

  /** /justify, /alerts and (with a signing secret) /slack/interactions. Call before listen(). */
  registerRoutes(app: FastifyInstance): void {
    const deps = { service: this.service, publicUrl: this.s.publicUrl, now: this.s.now, ...(this.s.log ? { log: this.s.log } : {}) };
    registerJustifyRoutes(app, deps);
    registerAlertActionRoutes(app, deps);
    const signingSecret = this.s.config.channels?.slack?.signing_secret;
    if (signingSecret) registerSlackInteractionsRoute(app, { ...deps, store: this.store, signingSecret });
  }

  startWorker(): void {
    const s = this.s;
    this.worker = new AccountabilityWorker({
      connection: s.connect, prefix: s.prefix, retryForMs: s.retryForMs, now: s.now, ...(s.log ? { log: s.log } : {}),
      handlers: {
        ask: (alert, jobId) => this.service.ask(alert, jobId),
        askGaveUp: (alert, error) => this.service.askGaveUp(alert, error),
        escalate: (alert, jobId) => this.service.escalate(alert, jobId),
        attachAnswer: (alertId, jobId) => this.service.attachAnswer(alertId, jobId),
        refresh: (alertId) => this.service.refresh(alertId),
      },
    });
    this.worker.start();
  }

  isRunning(): boolean {
    return this.worker?.isRunning() ?? true;
  }

  async close(graceMs = 10_000): Promise<void> {
    await this.worker?.close(graceMs);
    await this.queue.close();
    await this.mailer.close();
  }
}
