/**
 * Redis connections and key names. Every key this daemon writes, BullMQ's included, starts with the
 * configured prefix in braces (`{vaultwatch}`), so several deployments can share one Redis and a
 * Redis Cluster keeps every key of a deployment in one slot (Lua scripts touch several of them).
 */
import { Redis, type RedisOptions } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_PREFIX = 'vaultwatch';

/** `vaultwatch` -> `{vaultwatch}`; a prefix that already carries a hash tag is kept as written. */
export function hashTagged(prefix: string): string {
  return /\{[^}]+\}/.test(prefix) ? prefix : `{${prefix}}`;
}

/** Names of our own keys (BullMQ names its own under the same prefix). */
export class Keys {
  constructor(readonly prefix: string) {}
  get intake(): string { return `${this.prefix}:intake`; }
  seen(eventId: string): string { return `${this.prefix}:seen:${eventId}`; }
  get deadEvents(): string { return `${this.prefix}:dead:events`; }
  get deadDeliveries(): string { return `${this.prefix}:dead:deliveries`; }
  firstTime(ruleId: string, combo: string): string { return `${this.prefix}:ft:${ruleId}:${combo}`; }
  threshold(ruleId: string, key: string): string { return `${this.prefix}:th:${ruleId}:${key}`; }
  dedup(ruleId: string, key: string): string { return `${this.prefix}:dd:${ruleId}:${key}`; }
  decision(eventId: string): string { return `${this.prefix}:decision:${eventId}`; }
  alert(alertId: string): string { return `${this.prefix}:alert:${alertId}`; }
  deliveries(alertId: string): string { return `${this.prefix}:alert:${alertId}:deliveries`; }
  get alertsByTime(): string { return `${this.prefix}:alerts`; }
  sent(jobId: string): string { return `${this.prefix}:sent:${jobId}`; }
  /** Set just before a send whose channel can be checked afterwards; cleared by a definite answer. */
  sending(jobId: string): string { return `${this.prefix}:sending:${jobId}`; }
  pace(channel: string): string { return `${this.prefix}:pace:${channel}`; }
  cursor(source: string): string { return `${this.prefix}:cursor:${source}`; }
  lock(name: string): string { return `${this.prefix}:lock:${name}`; }
  configStatus(): string { return `${this.prefix}:config-status`; }
  /** A break-glass declaration (JSON); `:alerts` (hash) what was recorded under it, `:sealed` once summarised. */
  declaration(id: string): string { return `${this.prefix}:declaration:${id}`; }
  /** Declaration ids by end time (ms). */
  get declarations(): string { return `${this.prefix}:declarations`; }
  /** A silence (JSON), with `:alerts` and `:sealed` like a declaration. */
  silence(id: string): string { return `${this.prefix}:silence:${id}`; }
  /** Silence ids by end time (ms). */
  get silences(): string { return `${this.prefix}:silences`; }
}

/**
 * Workers (and blocking stream reads) wait for Redis forever: BullMQ requires
 * maxRetriesPerRequest: null, and a worker should resume by itself after an outage.
 */
export function workerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...extra });
}

/**
 * Producers fail fast while Redis is down, so /ingest can answer 503 at once instead of holding
 * the request (and acknowledging nothing that is not stored).
 */
export function producerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    ...extra,
  });
}

/** Warn when Redis may evict keys: a vanished lock or job means a lost or doubled alert. */
export async function checkRedisPolicy(redis: Redis): Promise<string[]> {
  const warnings: string[] = [];
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy && policy !== 'noeviction') {
      warnings.push(`Redis maxmemory-policy is "${policy}"; set it to "noeviction" (CONFIG SET maxmemory-policy noeviction), or alerts and jobs may silently disappear under memory pressure`);
    }
    const [, aof] = (await redis.config('GET', 'appendonly')) as [string, string];
    if (aof === 'no') {
      warnings.push('Redis appendonly is off: a Redis crash loses queued events and notifications; enable AOF (appendonly yes) in production');
    }
  } catch {
    // Managed Redis often forbids CONFIG: nothing to check then.
  }
  return warnings;
}
