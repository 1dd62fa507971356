/**
 * Declarations and silences in Redis, written by the CLI and the admin API and read by the evaluator.
 *
 * - `declaration:<id>` / `silence:<id>`: the record (JSON), kept until `alerts.retention` after its end;
 *   `declarations` / `silences`: ids scored by end time, for listings and for the evaluator's cache.
 * - `<record>:alerts`: a hash alert id -> CoveredEntry, what was recorded under it (for the summary).
 * - `<record>:sealed`: set when the summary is made. From then on nothing more is attached: a Lua script
 *   attaches an alert only while the record is unsealed, so an alert is either in the summary or sent
 *   on its own (saying why), never lost between the two.
 *
 * The evaluator asks `route(alert)` for every alert; the open records are cached for `cacheMs` (1.5 s)
 * so it costs Redis one read per second or two, plus one script call per covered alert. Which records
 * cover an alert is decided on the event's time, so a record that has ended but is still in the cache
 * covers nothing new.
 */
import type { Redis } from 'ioredis';
import type { Alert } from '../domain/alert.ts';
import {
  coveredEntry, findCover, lateForCover, sameVault, suppressAlert, SuppressionError, type CoveredEntry, type Suppression, type SuppressionKind,
} from '../pipeline/suppression.ts';
import type { Keys } from './redis.ts';

export interface CachedSuppressions {
  /** Not yet summarised: alerts they cover are recorded and not sent. */
  open: Suppression[];
  /** Summarised already: an alert inside one was reported too late for its summary. */
  sealed: Suppression[];
}

export interface SuppressionStoreOptions {
  /** How long records (and what was recorded under them) are kept after they end. */
  retentionMs: number;
  /** How long the evaluator's view of open records may be stale. Default 1500 ms. */
  cacheMs?: number;
  now?: () => number;
}

/** Records that ended longer ago than this are not loaded for the evaluator (a week of vendor lateness). */
const LOOKBACK_MS = 7 * 86_400_000;

// KEYS[1] = hash of covered alerts, KEYS[2] = sealed marker. ARGV: alert id, entry JSON, ttl ms.
// An alert already attached stays attached (a retried evaluation gets the same answer).
const ATTACH_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

// Compare-and-set of a record: KEYS[1] record, KEYS[2] index. ARGV: expected JSON, new JSON, score, id.
const REPLACE_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
`;

type Scripted = Redis & {
  vwSuppressionAttach(k1: string, k2: string, id: string, entry: string, ttl: number): Promise<number>;
  vwSuppressionReplace(k1: string, k2: string, expected: string, next: string, score: number, id: string): Promise<number>;
};

export class SuppressionStore {
  private readonly r: Scripted;
  private readonly now: () => number;
  private cache?: { at: number; value: Promise<CachedSuppressions> };

  constructor(redis: Redis, private readonly keys: Keys, private readonly opts: SuppressionStoreOptions) {
    redis.defineCommand('vwSuppressionAttach', { numberOfKeys: 2, lua: ATTACH_LUA });
    redis.defineCommand('vwSuppressionReplace', { numberOfKeys: 2, lua: REPLACE_LUA });
    this.r = redis as Scripted;
    this.now = opts.now ?? Date.now;
  }

  key(kind: SuppressionKind, id: string): string {
    return kind === 'declaration' ? this.keys.declaration(id) : this.keys.silence(id);
  }

  private index(kind: SuppressionKind): string {
    return kind === 'declaration' ? this.keys.declarations : this.keys.silences;
  }

  private ttlMs(s: Suppression): number {
    return Math.max(60_000, s.until_ms + this.opts.retentionMs - this.now());
  }

  /** Stores a new record; false when the id is taken (ids are random: the caller draws another). */
  async create(s: Suppression): Promise<boolean> {
    const now = this.now();
    const res = await this.r.multi()
      .set(this.key(s.kind, s.id), JSON.stringify(s), 'PX', this.ttlMs(s), 'NX')
      .zadd(this.index(s.kind), 'NX', s.until_ms, s.id)
      .zremrangebyscore(this.index(s.kind), '-inf', now - this.opts.retentionMs)
      .exec();
    const created = res?.[0]?.[1] === 'OK';
    if (created) this.invalidate();
    return created;
  }

  async get(kind: SuppressionKind, id: string): Promise<Suppression | undefined> {
    const raw = await this.r.get(this.key(kind, id));
    return raw ? (JSON.parse(raw) as Suppression) : undefined;
  }

  /** Active and upcoming ones, or (`all`) every one kept, ending last first. */
  async list(kind: SuppressionKind, opts: { all?: boolean } = {}): Promise<Suppression[]> {
    const now = this.now();
    const ids = await this.r.zrevrangebyscore(this.index(kind), '+inf', opts.all ? '-inf' : `(${now}`);
    return this.load(kind, ids);
  }

  private async load(kind: SuppressionKind, ids: readonly string[]): Promise<Suppression[]> {
    if (ids.length === 0) return [];
    const raws = await this.r.mget(...ids.map((id) => this.key(kind, id)));
    return raws.filter((x): x is string => x !== null).map((x) => JSON.parse(x) as Suppression);
  }

  /**
   * Ends a record now (`--cancel`, `--expire`, DELETE): `until` becomes now, and the planned end is
   * kept in `ended_early`. Not found and already ended are SuppressionErrors.
   */
  async end(kind: SuppressionKind, id: string, by: string): Promise<Suppression> {
    const key = this.key(kind, id);
    for (let attempt = 0; attempt < 10; attempt++) {
      const raw = await this.r.get(key);
      if (raw === null) throw new SuppressionError('not_found', [{ message: `no ${kind} ${id} (unknown, or ended longer ago than alerts.retention)` }]);
      const s = JSON.parse(raw) as Suppression;
      const now = this.now();
      if (s.until_ms <= now) {
        throw new SuppressionError('conflict', [{ message: `${kind} ${id} already ended at ${s.until}${s.ended_early ? ` (ended early by ${s.ended_early.by})` : ''}` }]);
      }
      const at = new Date(now).toISOString();
      const ended: Suppression = {
        ...s,
        ...(s.from_ms > now ? { from: at, from_ms: now } : {}),
        until: at,
        until_ms: now,
        ended_early: { at, by, planned_until: s.until },
      };
      if (await this.r.vwSuppressionReplace(key, this.index(kind), raw, JSON.stringify(ended), now, id) === 1) {
        this.invalidate();
        return ended;
      }
      // Changed under us (ended by someone else at the same moment): read again.
    }
    throw new Error(`${kind} ${id} kept changing; try again`);
  }

  // -------------------------------------------------------------------------------------------------
  // For the evaluator

  /** Forget the cached view (after a write in this process). */
  invalidate(): void {
    this.cache = undefined;
  }

  /** Records that ended within the last week or end later, split into open and sealed; cached briefly. */
  cached(): Promise<CachedSuppressions> {
    const now = this.now();
    if (this.cache && now - this.cache.at < (this.opts.cacheMs ?? 1_500)) return this.cache.value;
    const value = this.loadRecent(now);
    this.cache = { at: now, value };
    // A failed read is not cached: the next alert tries again (and its batch is retried meanwhile).
    value.catch(() => { if (this.cache?.value === value) this.cache = undefined; });
    return value;
  }

  private async loadRecent(now: number): Promise<CachedSuppressions> {
    const since = now - LOOKBACK_MS;
    const [dIds, sIds] = await Promise.all([
      this.r.zrangebyscore(this.keys.declarations, since, '+inf'),
      this.r.zrangebyscore(this.keys.silences, since, '+inf'),
    ]);
    const all = [...await this.load('declaration', dIds), ...await this.load('silence', sIds)];
    if (all.length === 0) return { open: [], sealed: [] };
    const sealedFlags = await this.r.mget(...all.map((s) => `${this.key(s.kind, s.id)}:sealed`));
    const out: CachedSuppressions = { open: [], sealed: [] };
    all.forEach((s, i) => (sealedFlags[i] === null ? out.open : out.sealed).push(s));
    return out;
  }

  /**
   * The evaluator's route hook: an alert covered by an open declaration or silence is recorded under
   * it and comes back suppressed with the reason; one first seen inside a sealed (already summarised)
   * record comes back unsuppressed with a note; any other alert comes back as it was.
   */
  async route(alert: Alert): Promise<Alert> {
    const { open, sealed } = await this.cached();
    if (open.length === 0 && sealed.length === 0) return alert;
    // A sealed record still answers for the alerts attached before its summary (a retried
    // evaluation must get the same answer); the script tells which.
    const cover = findCover(alert, open) ?? findCover(alert, sealed);
    if (cover) return (await this.attach(cover, alert)) ? suppressAlert(alert, cover) : lateForCover(alert, cover);
    if (alert.suppressed && alert.follows && [...open, ...sealed].some((s) => sameVault(s.vault, alert.event))) return this.unfold(alert, alert.follows);
    return alert;
  }

  /**
   * A dedup repeat whose first alert a declaration or silence covered: that first alert was never
   * sent, so folding the repeat into it would hide the repeat too. It is sent on its own instead.
   */
  private async unfold(alert: Alert, firstId: string): Promise<Alert> {
    const raw = await this.r.get(this.keys.alert(firstId));
    const first = raw ? (JSON.parse(raw) as { suppression?: Alert['suppression'] }).suppression : undefined;
    if (!first) return alert;
    const { follows: _follows, ...rest } = alert;
    return { ...rest, suppressed: false, reasons: [...alert.reasons, `the first alert of this repeat (${firstId}) was covered by ${first.kind} ${first.id} and not sent, so this one is sent`] };
  }

  /** Records the alert under `s` unless its summary has been made; true when it is (now or before) attached. */
  async attach(s: Suppression, alert: Alert): Promise<boolean> {
    const key = this.key(s.kind, s.id);
    return (await this.r.vwSuppressionAttach(`${key}:alerts`, `${key}:sealed`, alert.id, JSON.stringify(coveredEntry(alert)), this.ttlMs(s))) === 1;
  }

  /** Marks the record summarised (nothing is attached after this) and returns what was, by event time. */
  async seal(s: Suppression): Promise<CoveredEntry[]> {
    const key = this.key(s.kind, s.id);
    const res = await this.r.multi()
      .set(`${key}:sealed`, new Date(this.now()).toISOString(), 'PX', this.ttlMs(s))
      .hgetall(`${key}:alerts`)
      .exec();
    this.invalidate();
    const entries = Object.values((res?.[1]?.[1] ?? {}) as Record<string, string>).map((x) => JSON.parse(x) as CoveredEntry);
    return entries.sort((a, b) => a.time_ms - b.time_ms || a.alert_id.localeCompare(b.alert_id));
  }

  /** What has been recorded under a record so far (listings). */
  async covered(s: Suppression): Promise<number> {
    return this.r.hlen(`${this.key(s.kind, s.id)}:alerts`);
  }
}
