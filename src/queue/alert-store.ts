/**
 * Alert records: every alert and every delivery attempt, kept in Redis for `alerts.retention`, listed
 * by `vaultwatch alerts`. Records are written with SET NX so a retried evaluation never rewrites history.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { summarizeAlert, type AlertSummary } from '../domain/alert-summary.ts';
import type { Alert } from '../domain/alert.ts';
import type { Keys } from './redis.ts';
import { parseActions, parseJustification, publicJustification } from '../accountability/store.ts';
import type { JustificationRecord, ManagerAction } from '../accountability/justification.ts';

export type DeliveryStateName = 'pending' | 'delivered' | 'failed' | 'suppressed' | 'deferred';

export interface DeliveryState {
  target: string;
  state: DeliveryStateName;
  attempts: number;
  updated_at: string;
  /** Why it failed or was suppressed, in words. */
  reason?: string;
  /** Message-ID, Slack ts, outbox path... */
  result?: { id?: string; channel?: string; path?: string };
  /** A dedup repeat's follow-up (a thread reply / an email in the first alert's thread). */
  followup?: true;
  /** `deferred`: when the recipient's hours begin and it goes out (ISO). */
  planned_at?: string;
  /** Held for (or sent in) this digest (`deliver: digest`). */
  digest?: string;
}

export interface AlertRecord {
  id: string;
  created_at: string;
  summary: AlertSummary;
  vault_name?: string;
  timezone: string;
  follows?: string;
  /** Recorded but not sent because a declaration or a silence covered it. */
  suppression?: Alert['suppression'];
  deliveries: DeliveryState[];
  /** The accessor was asked why: when, the answer, the escalation (src/accountability/). */
  justification?: JustificationRecord;
  /** Managers' "Expected" / "Investigating", with who and when, oldest first. */
  actions?: ManagerAction[];
}

export interface AttemptLog {
  target: string;
  at: string;
  outcome: 'delivered' | 'retry' | 'failed' | 'rate_limited' | 'already_delivered';
  error?: string;
}

export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;

export class AlertStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly retentionMs = DEFAULT_RETENTION_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records new alerts with their initial delivery states, in one round trip. */
  async record(items: readonly { alert: Alert; deliveries: DeliveryState[] }[]): Promise<void> {
    if (items.length === 0) return;
    const m = this.redis.multi();
    const now = this.now();
    const px = this.retentionMs;
    for (const { alert, deliveries } of items) {
      const rec = {
        id: alert.id,
        created_at: new Date(now).toISOString(),
        summary: summarizeAlert(alert),
        ...(alert.event.vault.name ? { vault_name: alert.event.vault.name } : {}),
        timezone: alert.timezone,
        ...(alert.follows ? { follows: alert.follows } : {}),
        ...(alert.suppression ? { suppression: alert.suppression } : {}),
      };
      m.set(this.keys.alert(alert.id), JSON.stringify(rec), 'PX', px, 'NX');
      for (const d of deliveries) m.hsetnx(this.keys.deliveries(alert.id), d.target, JSON.stringify(d));
      m.pexpire(this.keys.deliveries(alert.id), px);
      m.zadd(this.keys.alertsByTime, 'NX', now, alert.id);
    }
    m.zremrangebyscore(this.keys.alertsByTime, '-inf', now - px);
    await m.exec();
  }

  async updateDelivery(alertId: string, d: DeliveryState, attempt?: AttemptLog): Promise<void> {
    await this.addDeliveryUpdate(this.redis.multi(), alertId, d, attempt).exec();
  }

  /**
   * Appends a delivery update to a transaction the caller runs, so it can be written atomically with
   * something else (the notification worker's sent-marker: a crash must not leave one without the other).
   */
  addDeliveryUpdate(m: ChainableCommander, alertId: string, d: DeliveryState, attempt?: AttemptLog): ChainableCommander {
    m.hset(this.keys.deliveries(alertId), d.target, JSON.stringify(d));
    if (attempt) {
      const k = `${this.keys.alert(alertId)}:attempts`;
      m.rpush(k, JSON.stringify(attempt)).ltrim(k, -50, -1).pexpire(k, this.retentionMs);
    }
    return m;
  }

  async getDelivery(alertId: string, target: string): Promise<DeliveryState | undefined> {
    const v = await this.redis.hget(this.keys.deliveries(alertId), target);
    return v ? (JSON.parse(v) as DeliveryState) : undefined;
  }

  async get(alertId: string): Promise<AlertRecord | undefined> {
    const [[, rec], [, dels]] = (await this.redis.multi().get(this.keys.alert(alertId)).hgetall(this.keys.deliveries(alertId)).exec()) as [[unknown, string | null], [unknown, Record<string, string>]];
    if (!rec) return undefined;
    const [r] = await this.withAccountability([{ ...(JSON.parse(rec) as Omit<AlertRecord, 'deliveries'>), deliveries: Object.values(dels ?? {}).map((d) => JSON.parse(d) as DeliveryState) }]);
    return r;
  }

  /** Adds each record's justification and manager actions, kept beside it, in one round trip. */
  private async withAccountability(records: AlertRecord[]): Promise<AlertRecord[]> {
    if (records.length === 0) return records;
    const p = this.redis.pipeline();
    for (const r of records) p.hgetall(`${this.keys.alert(r.id)}:justification`).lrange(`${this.keys.alert(r.id)}:actions`, 0, -1);
    const res = (await p.exec()) ?? [];
    records.forEach((r, i) => {
      const j = publicJustification(parseJustification(res[2 * i]?.[1] as Record<string, string> | undefined));
      const a = parseActions(res[2 * i + 1]?.[1] as string[] | undefined);
      if (j) r.justification = j;
      if (a.length) r.actions = a;
    });
    return records;
  }

  async attempts(alertId: string): Promise<AttemptLog[]> {
    return (await this.redis.lrange(`${this.keys.alert(alertId)}:attempts`, 0, -1)).map((s) => JSON.parse(s) as AttemptLog);
  }

  /** Newest first. */
  async list(opts: { sinceMs?: number; vault?: string; limit?: number } = {}): Promise<AlertRecord[]> {
    const ids = await this.redis.zrevrangebyscore(this.keys.alertsByTime, '+inf', opts.sinceMs ?? '-inf');
    const out: AlertRecord[] = [];
    const limit = opts.limit ?? 1000;
    for (let i = 0; i < ids.length && out.length < limit; i += 200) {
      const chunk = ids.slice(i, i + 200);
      const p = this.redis.pipeline();
      for (const id of chunk) p.get(this.keys.alert(id)).hgetall(this.keys.deliveries(id));
      const res = (await p.exec()) ?? [];
      for (let j = 0; j < chunk.length; j++) {
        const rec = res[2 * j]?.[1] as string | null;
        if (!rec) continue;
        const r: AlertRecord = { ...(JSON.parse(rec) as Omit<AlertRecord, 'deliveries'>), deliveries: Object.values((res[2 * j + 1]?.[1] ?? {}) as Record<string, string>).map((d) => JSON.parse(d) as DeliveryState) };
        if (opts.vault && !matchesVault(r, opts.vault)) continue;
        out.push(r);
        if (out.length >= limit) break;
      }
    }
    // Recorded order can interleave (a batch is recorded at once); people read by time of use.
    return (await this.withAccountability(out)).sort((a, b) => b.summary.time.localeCompare(a.summary.time));
  }
}

/** `--vault` takes an id or a name, case-insensitive. */
function matchesVault(r: AlertRecord, vault: string): boolean {
  const v = vault.toLowerCase();
  return r.summary.vault_id.toLowerCase() === v || r.vault_name?.toLowerCase() === v;
}
