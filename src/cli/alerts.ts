import { statusLines } from '../accountability/justification.ts';
import { parseDuration } from '../domain/duration.ts';
import { AlertStore } from '../queue/alert-store.ts';
import { Redis } from 'ioredis';
import { DEFAULT_PREFIX, DEFAULT_REDIS_URL, hashTagged, Keys } from '../queue/redis.ts';
import { EXIT_OK, EXIT_PROBLEM, loadOrExit, UsageError } from './common.ts';

/** `vaultwatch alerts [--since 24h] [--vault X] [--json]`: what was alerted and what became of each delivery. */
export async function alertsCommand(opts: { config: string; since?: string; vault?: string; json?: boolean; limit?: string }): Promise<number> {
  const rt = loadOrExit(opts.config);
  const sinceMs = opts.since ? parseSince(opts.since) : Date.now() - 24 * 3600_000;
  // A one-shot reader: connect once, fail with a clear message when Redis is not there.
  const redis = new Redis(rt.config.redis?.url ?? DEFAULT_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3_000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const store = new AlertStore(redis, new Keys(hashTagged(rt.config.redis?.prefix ?? DEFAULT_PREFIX)));
    const records = await store.list({ sinceMs, ...(opts.vault ? { vault: opts.vault } : {}), limit: Number(opts.limit ?? 1000) });
    if (opts.json) {
      for (const r of records) process.stdout.write(`${JSON.stringify(r)}\n`);
      return EXIT_OK;
    }
    for (const r of records) {
      const s = r.summary;
      const folded = r.suppression ? `${r.suppression.kind} ${r.suppression.id}` : `dedup${r.follows ? `: follow-up of ${r.follows}` : ''}`;
      process.stdout.write(`${s.time.slice(0, 16).replace('T', ' ')}Z  ${s.severity.padEnd(8)}  ${s.rule}  ${s.item_title ?? s.item_id}  ${s.user}  ${s.action}${s.suppressed ? `  (suppressed by ${folded})` : ''}\n`);
      if (r.suppression && r.deliveries.length === 0) process.stdout.write(`    ${r.suppression.reason}\n`);
      for (const d of r.deliveries) {
        const kind = `${d.followup ? ' (follow-up)' : ''}${d.state === 'deferred' && d.planned_at ? ` until ${d.planned_at.slice(0, 16).replace('T', ' ')}Z` : ''}`;
        process.stdout.write(`    ${d.target.padEnd(36)} ${d.state}${kind}${d.attempts ? ` after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}` : ''}${d.reason ? `: ${d.reason}` : ''}\n`);
      }
      // The justification loop and the managers' calls, in words, oldest first.
      for (const line of statusLines(r.justification, r.actions ?? [], { person: r.justification?.accessor_name ?? s.user, zone: r.timezone, usedAt: s.time })) {
        process.stdout.write(`    * ${line}\n`);
      }
    }
    process.stdout.write(`${records.length} alert${records.length === 1 ? '' : 's'} since ${new Date(sinceMs).toISOString()}\n`);
    return EXIT_OK;
  } catch (err) {
    process.stderr.write(`vaultwatch: cannot read alerts from Redis: ${(err as Error).message}\n`);
    return EXIT_PROBLEM;
  } finally {
    redis.disconnect();
  }
}

function parseSince(text: string): number {
  const d = parseDuration(text);
  if (d !== undefined) return Date.now() - d;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--since: "${text}" is not a duration (24h) or an ISO time`);
  return t;
}
