/**
 * The daemon's side of follow-ups, recipients' hours and separation of duties, in one piece so the
 * daemon wires it in a few lines:
 *
 *   route     the evaluator's route hook (after declarations and silences): separation of duties,
 *             then each target's delivery plan (src/pipeline/route.ts), on the daemon's clock
 *   dispatch  the evaluator's dispatch hook: records and jobs (src/queue/dispatch.ts)
 *   prepare   the notification workers' hook: follow-up threads, digest contents
 *   settle    the notification workers' hook: a digest's outcome on every alert in it
 *
 * Settings are read from the runtime in force, so a reload applies (`delivery.fallback`,
 * `accountability.email_followups`, `accountability.critical_ignores_hours`, schedules, managers).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Alert } from '../domain/alert.ts';
import { parseTarget, type Target } from '../domain/target.ts';
import { planAlert, separateDuties, type ScheduleResolver } from '../pipeline/route.ts';
import type { AlertStore } from '../queue/alert-store.ts';
import { Dispatcher, type EmailFollowups } from '../queue/dispatch.ts';
import type { Keys } from '../queue/redis.ts';
import type { Runtime } from './load-runtime.ts';

export interface DaemonDeliveryDeps {
  /** The evaluator's connection (routing reads, digest appends). */
  evalRedis: Redis;
  /** The notification workers' connection (follow-up lookups, digest seals). */
  redis: Redis;
  keys: Keys;
  /** Stores on those two connections. */
  evalStore: AlertStore;
  store: AlertStore;
  retentionMs: number;
  retryForMs: number;
  runtime: () => Runtime;
  now: () => number;
  logger: Logger;
}

export class DaemonDelivery {
  private readonly planning: Dispatcher;
  private readonly sending: Dispatcher;
  private readonly warned = new Set<string>();
  private fallbackOf?: { runtime: Runtime; targets: Target[] };

  constructor(private readonly d: DaemonDeliveryDeps) {
    const common = { keys: d.keys, retentionMs: d.retentionMs, retryForMs: d.retryForMs, now: d.now, emailFollowups: () => this.emailFollowups() };
    this.planning = new Dispatcher({ ...common, redis: d.evalRedis, store: d.evalStore });
    this.sending = new Dispatcher({ ...common, redis: d.redis, store: d.store });
  }

  /** The evaluator's route hook, applied after declarations and silences. */
  readonly route = (alert: Alert): Alert => {
    const rt = this.d.runtime();
    const fallback = (): Target[] => this.fallback(rt);
    // Looked up only when the accessor may be the only recipient (rare): routing is on the hot path.
    const duties = separateDuties(alert, {
      get managers() {
        return rt.policies.rulesFor(alert.event.vault.id).find((r) => r.policy === alert.policy && r.name === alert.rule)?.managers ?? [];
      },
      get fallback() {
        return fallback();
      },
    });
    if (duties.outcome === 'accessor_only') this.warnOnce(alert);
    return planAlert(duties.alert, {
      now: this.d.now(),
      schedule: scheduleResolver(rt),
      criticalIgnoresHours: rt.config.accountability?.critical_ignores_hours ?? true,
    });
  };

  readonly dispatch = (alerts: readonly Alert[], at: string) => this.planning.dispatch(alerts, at);
  readonly prepare: Dispatcher['prepare'] = (kind, data, dueAtMs) => this.sending.prepare(kind, data, dueAtMs);
  readonly settle: Dispatcher['settle'] = (m, data, state) => this.sending.settle(m, data, state);

  private emailFollowups(): EmailFollowups {
    return this.d.runtime().config.accountability?.email_followups ?? 'each';
  }

  private fallback(rt: Runtime): Target[] {
    if (this.fallbackOf?.runtime !== rt) {
      const targets = (rt.config.delivery?.fallback ?? []).map(parseTarget).filter((t): t is Target => !('error' in t));
      this.fallbackOf = { runtime: rt, targets };
    }
    return this.fallbackOf.targets;
  }

  /** Once per (policy, rule) and process: the log says what to configure. */
  private warnOnce(alert: Alert): void {
    const key = `${alert.policy}\u0000${alert.rule}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.d.logger.warn(
      { policy: alert.policy, rule: alert.rule, alert: alert.id },
      'separation of duties: an alert about the accessor\'s own use goes to the accessor only (the vault has no other manager); configure delivery.fallback',
    );
  }
}

/** Schedules from the runtime's policy context; an unknown (or invalid) one resolves to undefined. */
export function scheduleResolver(rt: Runtime): ScheduleResolver {
  const ctx = rt.policyContext;
  return (name, zone) => {
    if (!ctx?.scheduleDefs.has(name)) return undefined;
    try {
      return ctx.schedule(name, zone);
    } catch {
      return undefined;
    }
  };
}
