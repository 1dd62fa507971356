/** What `declare`, `declarations`, `silence` and `silences` share: the Redis session, errors, output. */
import { hostname, userInfo } from 'node:os';
import { Redis } from 'ioredis';
import type { Runtime } from '../app/load-runtime.ts';
import { prepareSuppression, SuppressionService } from '../app/suppressions.ts';
import { parseDuration, formatDuration } from '../domain/duration.ts';
import { formatInstant, stateOf, SuppressionError, type Suppression, type SuppressionKind, type SuppressionRequest } from '../pipeline/suppression.ts';
import { AlertStore, DEFAULT_RETENTION_MS } from '../queue/alert-store.ts';
import { NotifyQueues } from '../queue/notify.ts';
import { DEFAULT_PREFIX, DEFAULT_REDIS_URL, hashTagged, Keys } from '../queue/redis.ts';
import { SuppressionStore } from '../queue/suppression-store.ts';
import { SummaryQueue } from '../queue/suppression-summary.ts';
import { EXIT_PROBLEM, EXIT_USAGE } from './common.ts';

/** `$USER@hostname`: who is at the keyboard, when `--author` is not given. */
export function defaultAuthor(): string {
  let user = process.env.USER ?? process.env.USERNAME;
  if (!user) {
    try { user = userInfo().username; } catch { user = 'unknown'; }
  }
  return `${user}@${hostname()}`;
}

/**
 * Connects to the configured Redis, runs `fn` with a service writing there directly (no daemon
 * needed), and maps failures to exit codes: a refused request is 2 (1 when the record had already
 * ended), Redis trouble 1.
 */
export async function withSuppressions(rt: Runtime, fn: (svc: SuppressionService) => Promise<number>): Promise<number> {
  const cfg = rt.config;
  const redis = new Redis(cfg.redis?.url ?? DEFAULT_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
  redis.on('error', () => {});
  const prefix = hashTagged(cfg.redis?.prefix ?? DEFAULT_PREFIX);
  const keys = new Keys(prefix);
  const retentionMs = parseDuration(cfg.alerts?.retention ?? '') ?? DEFAULT_RETENTION_MS;
  let queues: NotifyQueues | undefined;
  let summaries: SummaryQueue | undefined;
  try {
    try {
      await redis.connect();
    } catch (err) {
      process.stderr.write(`vaultwatch: cannot reach Redis at ${where(cfg.redis?.url ?? DEFAULT_REDIS_URL)}: ${(err as Error).message}\n`);
      return EXIT_PROBLEM;
    }
    queues = new NotifyQueues(redis, prefix, retentionMs);
    summaries = new SummaryQueue(redis, prefix);
    const svc = new SuppressionService({
      runtime: () => rt,
      store: new SuppressionStore(redis, keys, { retentionMs }),
      summaries,
      queues,
      alerts: new AlertStore(redis, keys, retentionMs),
    });
    return await fn(svc);
  } catch (err) {
    if (err instanceof SuppressionError) {
      for (const line of err.forCli().split('\n')) process.stderr.write(`vaultwatch: ${line}\n`);
      return err.code === 'conflict' ? EXIT_PROBLEM : EXIT_USAGE;
    }
    process.stderr.write(`vaultwatch: Redis at ${where(cfg.redis?.url ?? DEFAULT_REDIS_URL)} failed: ${(err as Error).message}\n`);
    return EXIT_PROBLEM;
  } finally {
    await Promise.allSettled([queues?.close(), summaries?.close()]);
    redis.disconnect();
  }
}

/**
 * Checks a request before connecting to Redis: a refused one prints every problem and gives exit 2
 * whether or not Redis is reachable. Undefined when it may go ahead.
 */
export function refusedBeforeConnecting(kind: SuppressionKind, req: SuppressionRequest, rt: Runtime): number | undefined {
  try {
    prepareSuppression(kind, req, rt, Date.now());
    return undefined;
  } catch (err) {
    if (!(err instanceof SuppressionError)) throw err;
    for (const line of err.forCli().split('\n')) process.stderr.write(`vaultwatch: ${line}\n`);
    return EXIT_USAGE;
  }
}

/** `host:port` of a Redis URL: never its password. */
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'the configured URL';
  }
}

/** Several lines for people: what it covers, when, why, and who is told. */
export function describe(s: Suppression, nowMs: number): string {
  const vault = s.vault_name ? `${s.vault_name} (${s.vault})` : s.vault;
  const item = s.item ? `item ${s.item_title && s.item_title !== s.item ? `${s.item_title} (${s.item})` : s.item}` : 'any item';
  const who = s.kind === 'declaration' ? `user ${s.user}` : [s.rule && `rule "${s.rule}"`, s.user && `user ${s.user}`].filter(Boolean).join(', ') || 'every rule and user';
  const lines = [
    `${s.kind} ${s.id} (${stateOf(s, nowMs)})`,
    `  covers:  ${who}, vault ${vault}, ${item}`,
    `  from:    ${formatInstant(s.from_ms, s.timezone)}`,
    `  until:   ${formatInstant(s.until_ms, s.timezone)} (${formatDuration(s.until_ms - s.from_ms)})`,
    `  reason:  ${s.reason}${s.kind === 'declaration' && s.ticket ? ` (ticket ${s.ticket})` : ''}`,
    `  author:  ${s.author}`,
  ];
  if (s.ended_early) lines.push(`  ended early by ${s.ended_early.by} (planned until ${formatInstant(Date.parse(s.ended_early.planned_until), s.timezone)})`);
  lines.push(s.notify.length ? `  told:    ${s.notify.join(', ')} (now, and a summary at the end)` : '  told:    nobody: the vault\'s policy lists no managers');
  return `${lines.join('\n')}\n`;
}

/** One line each, aligned, newest end first, with a count. */
export function listText(items: readonly Suppression[], nowMs: number, kind: 'declaration' | 'silence', all: boolean): string {
  const cols: [string, (s: Suppression) => string][] = [
    ['ID', (s) => s.id],
    ['STATE', (s) => stateOf(s, nowMs)],
    kind === 'declaration' ? ['USER', (s) => (s.kind === 'declaration' ? s.user : '')] : ['MATCHES', (s) => (s.kind === 'silence' ? [s.rule && `rule=${s.rule}`, s.user && `user=${s.user}`].filter(Boolean).join(' ') || '*' : '')],
    ['VAULT', (s) => s.vault_name ?? s.vault],
    ['ITEM', (s) => s.item_title ?? s.item ?? '*'],
    ['FROM (UTC)', (s) => s.from.slice(0, 16).replace('T', ' ')],
    ['UNTIL (UTC)', (s) => s.until.slice(0, 16).replace('T', ' ')],
    ['AUTHOR', (s) => s.author],
    ['REASON', (s) => `${s.reason}${s.kind === 'declaration' && s.ticket ? ` (ticket ${s.ticket})` : ''}`],
  ];
  const cells = items.map((s) => cols.map(([, f]) => f(s).replace(/[\r\n\t]+/g, ' ')));
  const widths = cols.map(([h], i) => Math.min(64, Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const last = cols.length - 1;
  const fmt = (c: string[]) => c.map((v, i) => (i === last ? v : v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(widths[i]!))).join('  ').replace(/ +$/, '');
  const n = items.length;
  const what = `${n} ${all ? '' : 'active or upcoming '}${kind}${n === 1 ? '' : 's'}`;
  return `${n ? `${[fmt(cols.map(([h]) => h)), ...cells.map(fmt)].join('\n')}\n` : ''}${what}\n`;
}
