/**
 * The durable intake: a Redis Stream. One Lua script checks each event id against a "seen" marker
 * and appends the new events, atomically, so "accepted" always means "stored and will be judged" and
 * the same event twice is one event. Batches travel as batches: one round trip per request or page.
 */
import type { Redis } from 'ioredis';
import type { UsageEvent } from '../domain/usage-event.ts';
import { IntakeUnavailableError, type DeadLetterEntry, type Intake, type IntakeResult } from '../pipeline/intake.ts';
import type { Keys } from './redis.ts';

// KEYS[1] = stream, KEYS[2..n+1] = seen markers; ARGV[1] = seen ttl (s), ARGV[2..n+1] = event JSON,
// ARGV[n+2..2n+1] = event ids. Returns the indexes (1-based) of duplicates.
const ACCEPT_LUA = `
local n = #KEYS - 1
local ttl = tonumber(ARGV[1])
local dups = {}
for i = 1, n do
  if redis.call('SET', KEYS[i + 1], '1', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[1], '*', 'id', ARGV[n + 1 + i], 'e', ARGV[i + 1])
  else
    dups[#dups + 1] = i
  end
end
return dups
`;

export const DEFAULT_SEEN_TTL_S = 7 * 24 * 3600;
const MAX_DEAD_LETTERS = 10_000;

export class RedisIntake implements Intake {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly seenTtlS = DEFAULT_SEEN_TTL_S,
  ) {
    redis.defineCommand('vwAccept', { lua: ACCEPT_LUA });
  }

  async accept(events: readonly UsageEvent[], _source: string): Promise<IntakeResult> {
    const duplicateIds = new Set<string>();
    let known = 0;
    // Duplicates inside one batch never reach Redis twice.
    const unique: UsageEvent[] = [];
    const inBatch = new Set<string>();
    for (const e of events) {
      if (inBatch.has(e.id)) duplicateIds.add(e.id);
      else { inBatch.add(e.id); unique.push(e); }
    }
    // Chunks keep each script call short, so one huge body never blocks Redis for long.
    for (let i = 0; i < unique.length; i += 500) {
      const chunk = unique.slice(i, i + 500);
      const keys = [this.keys.intake, ...chunk.map((e) => this.keys.seen(e.id))];
      const args = [String(this.seenTtlS), ...chunk.map((e) => JSON.stringify(e)), ...chunk.map((e) => e.id)];
      let dups: number[];
      try {
        dups = (await (this.redis as unknown as { vwAccept(n: number, ...a: string[]): Promise<number[]> })
          .vwAccept(keys.length, ...keys, ...args));
      } catch (err) {
        throw new IntakeUnavailableError(`Redis unavailable: ${(err as Error).message}`, { cause: err });
      }
      for (const d of dups) duplicateIds.add(chunk[d - 1]!.id);
      known += dups.length;
    }
    return { accepted: unique.length - known, duplicates: events.length - unique.length + known, duplicateIds };
  }

  async deadLetter(entries: readonly DeadLetterEntry[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await this.redis.multi()
        .lpush(this.keys.deadEvents, ...entries.map((e) => JSON.stringify(e)))
        .ltrim(this.keys.deadEvents, 0, MAX_DEAD_LETTERS - 1)
        .exec();
    } catch (err) {
      throw new IntakeUnavailableError(`Redis unavailable: ${(err as Error).message}`, { cause: err });
    }
  }
}
