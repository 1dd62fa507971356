/**
 * Digests in Redis (`deliver: digest`): the alerts held for one recipient until one window start,
 * one hash per (recipient, window start), and ONE notification job per digest due at the window start
 * (deterministic id, so replicas and re-runs add it once; a BullMQ delayed job, so it survives restarts).
 *
 *   <prefix>:digest:<id>          hash alert id -> DigestEntry JSON
 *   <prefix>:digest:<id>:sealed   set when the digest is being sent: nothing is added afterwards
 *
 * Appending is a script that refuses once the digest is sealed (an alert routed that late goes out on
 * its own instead) and answers "yes" for an alert already in it (a re-run evaluation gets the same answer).
 */
import type { Redis } from 'ioredis';
import type { Alert } from '../domain/alert.ts';
import type { Target } from '../domain/target.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { sortedEntries, type DigestContent, type DigestEntry } from '../notifiers/digest.ts';
import type { Keys } from './redis.ts';

/** What a digest job carries: which digest, for whom, and when the window opened. */
export interface DigestRef {
  id: string;
  /** Formatted target. */
  recipient: string;
  /** Window start (ISO). */
  at: string;
  schedule: string;
  /** The window start in words, in the schedule's zone. */
  window_text: string;
}

// KEYS[1] entries hash, KEYS[2] sealed marker. ARGV: alert id, entry JSON, ttl ms.
const APPEND_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

type Scripted = Redis & { vwDigestAppend(k1: string, k2: string, id: string, entry: string, ttl: number): Promise<number> };

export class DigestStore {
  private readonly r: Scripted;

  constructor(redis: Redis, private readonly keys: Keys, private readonly retentionMs: number, private readonly now: () => number = Date.now) {
    redis.defineCommand('vwDigestAppend', { numberOfKeys: 2, lua: APPEND_LUA });
    this.r = redis as Scripted;
  }

  private key(id: string): string {
    return `${this.keys.prefix}:digest:${id}`;
  }

  /** Kept until the window start plus the alert retention. */
  private ttlMs(ref: DigestRef): number {
    return Math.max(60_000, Date.parse(ref.at) - this.now()) + this.retentionMs;
  }

  /** Adds the entry unless the digest is sealed; true when the alert is (now or already) in the digest. */
  async append(ref: DigestRef, entry: DigestEntry): Promise<boolean> {
    const k = this.key(ref.id);
    return (await this.r.vwDigestAppend(k, `${k}:sealed`, entry.alert_id, JSON.stringify(entry), this.ttlMs(ref))) === 1;
  }

  /** Seals the digest (idempotent: a retried send seals again and reads the same entries) and returns its content. */
  async seal(ref: DigestRef): Promise<DigestContent> {
    const k = this.key(ref.id);
    const res = await this.r.multi()
      .set(`${k}:sealed`, new Date(this.now()).toISOString(), 'PX', this.ttlMs(ref), 'NX')
      .hgetall(k)
      .exec();
    const raw = (res?.[1]?.[1] ?? {}) as Record<string, string>;
    return {
      id: ref.id,
      recipient: ref.recipient,
      window_start: ref.at,
      schedule: ref.schedule,
      window_text: ref.window_text,
      entries: sortedEntries(Object.values(raw).map((x) => JSON.parse(x) as DigestEntry)),
    };
  }

  /** The alert ids in a digest (after sealing, final). */
  async alertIds(ref: DigestRef): Promise<string[]> {
    return this.r.hkeys(this.key(ref.id));
  }
}

/**
 * The digest's stand-in alert: what its notification job, its record (`vaultwatch alerts` lists the
 * digest with its delivery) and its fallback carry. A message of vaultwatch's own (`notice`).
 */
export function digestAlert(ref: DigestRef, target: Target, zone: string): Alert {
  const event: UsageEvent = {
    id: `digest.${ref.id}`,
    source: 'vaultwatch',
    time: ref.at,
    time_ms: Date.parse(ref.at),
    received_at: ref.at,
    action: 'other',
    vendor_action: 'digest',
    vault: { id: 'digest', name: 'several vaults' },
    item: { id: ref.id, title: `digest for ${ref.recipient}` },
    user: { id: 'vaultwatch', name: 'vaultwatch' },
  };
  return {
    id: ref.id,
    event,
    policy: 'digest',
    rule: 'Digest',
    severity: 'info',
    reasons: [`alerts held for ${ref.recipient} while outside ${ref.schedule}, sent when the hours began (${ref.window_text})`],
    targets: [target],
    timezone: zone,
    suppressed: false,
    notice: { headline: `Digest for ${ref.recipient}: alerts held until ${ref.window_text}` },
  };
}
