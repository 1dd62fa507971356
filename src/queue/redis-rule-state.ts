/**
 * RuleState in Redis, for the daemon: every check is one Lua script (atomic across replicas) and
 * idempotent per event or alert id, so a retried evaluation after a crash gives the same answer.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DedupVerdict, RuleState } from '../pipeline/rule-state.ts';
import type { Keys } from './redis.ts';

// The combo is remembered with the id of the event that first saw it: that same event, judged
// again, is still "first"; any other is not.
const FIRST_TIME_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
if v == ARGV[1] then return 1 end
return 0
`;

// ZADD is idempotent per event id. Entries older than two windows before this event can never
// count again (events arrive roughly in time order); the key expires when idle.
const THRESHOLD_LUA = `
local t = tonumber(ARGV[2])
local w = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], t, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (t - 2 * w))
redis.call('PEXPIRE', KEYS[1], math.max(2 * w, 3600000))
return redis.call('ZCOUNT', KEYS[1], '(' .. (t - w), t)
`;

// KEYS[1] = window hash {start, first, count}, KEYS[2] = set of alert ids judged in the window.
const DEDUP_LUA = `
local id, t, w = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local first = redis.call('HGET', KEYS[1], 'first')
if first and redis.call('SISMEMBER', KEYS[2], id) == 1 then
  return {first == id and 0 or 1, first, tonumber(redis.call('HGET', KEYS[1], 'count'))}
end
local start = tonumber(redis.call('HGET', KEYS[1], 'start') or 'nil')
if first and start and t < start + w and t > start - w then
  local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
  redis.call('SADD', KEYS[2], id)
  return {1, first, n}
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'start', t, 'first', id, 'count', 1)
redis.call('SADD', KEYS[2], id)
local ttl = w + 86400000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {0, id, 1}
`;

type Scripted = Redis & {
  vwFirstTime(key: string, eventId: string): Promise<number>;
  vwThreshold(key: string, eventId: string, t: number, w: number): Promise<number>;
  vwDedup(k1: string, k2: string, id: string, t: number, w: number): Promise<[number, string, number]>;
};

export class RedisRuleState implements RuleState {
  private readonly r: Scripted;

  constructor(redis: Redis, private readonly keys: Keys) {
    redis.defineCommand('vwFirstTime', { numberOfKeys: 1, lua: FIRST_TIME_LUA });
    redis.defineCommand('vwThreshold', { numberOfKeys: 1, lua: THRESHOLD_LUA });
    redis.defineCommand('vwDedup', { numberOfKeys: 2, lua: DEDUP_LUA });
    this.r = redis as Scripted;
  }

  async firstTime(ruleId: string, combo: string, eventId: string): Promise<boolean> {
    return (await this.r.vwFirstTime(this.keys.firstTime(h(ruleId), h(combo)), eventId)) === 1;
  }

  async threshold(ruleId: string, key: string, eventId: string, timeMs: number, windowMs: number): Promise<number> {
    return this.r.vwThreshold(this.keys.threshold(h(ruleId), h(key)), eventId, timeMs, windowMs);
  }

  async dedup(ruleId: string, key: string, alertId: string, timeMs: number, windowMs: number): Promise<DedupVerdict> {
    const base = this.keys.dedup(h(ruleId), h(key));
    const [suppressed, first, count] = await this.r.vwDedup(base, `${base}:m`, alertId, timeMs, windowMs);
    return { suppressed: suppressed === 1, first, count };
  }
}

/** Rule ids and keys hold user text (titles, emails): hash them into fixed, safe key parts. */
function h(text: string): string {
  return createHash('sha1').update(text).digest('base64url').slice(0, 22);
}
