/**
 * Redis state of the justification loop and manager actions. Keys sit beside the alert record
 * (`<prefix>:alert:<id>:…`) and expire with it:
 *
 *   :full           the Alert as judged (JSON): pages and Slack updates render from it
 *   :justification  hash: accessor, within_ms, asked_at, deadline, asked_via, ask_error, answer,
 *                   escalated_at, escalated_to, dm (the question's Slack DM), escalation_posts
 *   :actions        list of ManagerAction JSON, oldest first
 *
 * and, under the prefix: `link-secret` (when http.link_secret is not set), `token-used:<id>` (single
 * use), `acct-step:<job>:<step>` (what a retried job already did), `slack-seen:<signature>` (replays).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Alert } from '../domain/alert.ts';
import type { Keys } from '../queue/redis.ts';
import type { JustificationAnswer, JustificationRecord, ManagerAction } from './justification.ts';

/** A Slack message we posted and may update or reply under. */
export interface PostedMessage {
  channel: string;
  ts: string;
  /** For escalation posts: the target they went to. */
  target?: string;
}

export interface JustificationState extends JustificationRecord {
  /** The question's DM (updated once answered). */
  dm?: PostedMessage & { user: string };
  escalation_posts?: PostedMessage[];
  /** Epoch ms (as text) of the justification link's expiry, fixed when first made. */
  link_expires_at?: string;
}

const JSON_FIELDS = new Set(['asked_via', 'answer', 'escalated_to', 'dm', 'escalation_posts']);
const NUMBER_FIELDS = new Set(['within_ms']);

/** The hash as stored -> the record (unknown fields ignored, bad JSON skipped). */
export function parseJustification(hash: Record<string, string> | null | undefined): JustificationState | undefined {
  if (!hash || Object.keys(hash).length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hash)) {
    if (JSON_FIELDS.has(k)) {
      try {
        out[k] = JSON.parse(v);
      } catch {
        // a damaged field is left out rather than failing the whole listing
      }
    } else if (NUMBER_FIELDS.has(k)) {
      const n = Number(v);
      if (Number.isFinite(n)) out[k] = n;
    } else {
      out[k] = v;
    }
  }
  return out as JustificationState;
}

export function parseActions(list: readonly string[] | null | undefined): ManagerAction[] {
  const out: ManagerAction[] = [];
  for (const s of list ?? []) {
    try {
      out.push(JSON.parse(s) as ManagerAction);
    } catch {
      // skip
    }
  }
  return out;
}

/** The public (recorded) part: what `vaultwatch alerts --json` shows. */
export function publicJustification(j: JustificationState | undefined): JustificationRecord | undefined {
  if (!j) return undefined;
  const { dm: _dm, escalation_posts: _posts, link_expires_at: _exp, ...rest } = j;
  return rest;
}

const SET_USED_AND_ANSWER = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('HSET', KEYS[2], 'answer', ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return 1
end
return 0`;

const SET_USED_AND_ACTION = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local n = redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return n
end
return 0`;

export class AccountabilityStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly retentionMs: number,
  ) {}

  full(alertId: string): string { return `${this.keys.alert(alertId)}:full`; }
  justification(alertId: string): string { return `${this.keys.alert(alertId)}:justification`; }
  actions(alertId: string): string { return `${this.keys.alert(alertId)}:actions`; }
  used(tokenId: string): string { return `${this.keys.prefix}:token-used:${tokenId}`; }
  step(jobId: string, step: string): string { return `${this.keys.prefix}:acct-step:${jobId}:${step}`; }
  get linkSecretKey(): string { return `${this.keys.prefix}:link-secret`; }
  slackSeen(signature: string): string { return `${this.keys.prefix}:slack-seen:${signature}`; }

  /** Keeps every alert as judged (NX: a retried batch changes nothing). */
  async keepAlerts(alerts: readonly Alert[]): Promise<void> {
    if (alerts.length === 0) return;
    const m = this.redis.multi();
    for (const a of alerts) m.set(this.full(a.id), JSON.stringify(a), 'PX', this.retentionMs, 'NX');
    await m.exec();
  }

  async alert(alertId: string): Promise<Alert | undefined> {
    const s = await this.redis.get(this.full(alertId));
    return s ? (JSON.parse(s) as Alert) : undefined;
  }

  async state(alertId: string): Promise<JustificationState | undefined> {
    return parseJustification(await this.redis.hgetall(this.justification(alertId)));
  }

  async actionList(alertId: string): Promise<ManagerAction[]> {
    return parseActions(await this.redis.lrange(this.actions(alertId), 0, -1));
  }

  /** Sets fields that are not set yet (HSETNX each): the first writer of a fact wins. */
  async setOnce(alertId: string, fields: Record<string, unknown>): Promise<void> {
    const m = this.redis.multi();
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      m.hsetnx(this.justification(alertId), k, typeof v === 'string' ? v : JSON.stringify(v));
    }
    m.pexpire(this.justification(alertId), this.retentionMs);
    await m.exec();
  }

  async set(alertId: string, fields: Record<string, unknown>): Promise<void> {
    const flat: string[] = [];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      flat.push(k, typeof v === 'string' ? v : JSON.stringify(v));
    }
    if (flat.length === 0) return;
    await this.redis.multi().hset(this.justification(alertId), ...flat).pexpire(this.justification(alertId), this.retentionMs).exec();
  }

  /** Appends to a JSON list field (escalation posts); read-modify-write is fine: one job writes it. */
  async addPost(alertId: string, post: PostedMessage): Promise<void> {
    const cur = (await this.state(alertId))?.escalation_posts ?? [];
    if (cur.some((p) => p.channel === post.channel && p.ts === post.ts)) return;
    await this.set(alertId, { escalation_posts: [...cur, post] });
  }

  /**
   * Single use and the answer, in one step: the token id is marked used and the answer stored, or
   * neither (the token was used already). Returns whether this answer was the one recorded.
   */
  async recordAnswer(alertId: string, tokenId: string, answer: JustificationAnswer, usedTtlMs: number): Promise<boolean> {
    const res = await this.redis.eval(SET_USED_AND_ANSWER, 2, this.used(tokenId), this.justification(alertId),
      JSON.stringify({ at: answer.at, via: answer.via }), String(Math.max(1, Math.round(usedTtlMs))), JSON.stringify(answer), String(this.retentionMs));
    return res === 1;
  }

  /**
   * Records a manager action. With a token id (the email page) the token is used up in the same
   * step; Slack buttons pass none. Returns the list's new length, or 0 when the token was used.
   */
  async recordAction(alertId: string, action: ManagerAction, tokenId?: string, usedTtlMs = this.retentionMs): Promise<number> {
    if (tokenId === undefined) {
      const [[, n]] = (await this.redis.multi().rpush(this.actions(alertId), JSON.stringify(action)).pexpire(this.actions(alertId), this.retentionMs).exec()) as [[unknown, number]];
      return n;
    }
    const res = await this.redis.eval(SET_USED_AND_ACTION, 2, this.used(tokenId), this.actions(alertId),
      JSON.stringify({ at: action.at, via: action.via, action: action.action }), String(Math.max(1, Math.round(usedTtlMs))), JSON.stringify(action), String(this.retentionMs));
    return Number(res);
  }

  /** What a used token was used for (`{at, via, action?}`), or undefined when unused. */
  async usedInfo(tokenId: string): Promise<{ at: string; via: string; action?: string } | undefined> {
    const s = await this.redis.get(this.used(tokenId));
    if (!s) return undefined;
    try {
      return JSON.parse(s) as { at: string; via: string; action?: string };
    } catch {
      return { at: '', via: '' };
    }
  }

  async stepDone(jobId: string, step: string): Promise<boolean> {
    return (await this.redis.exists(this.step(jobId, step))) === 1;
  }

  async markStep(jobId: string, step: string, value = '1'): Promise<void> {
    await this.redis.set(this.step(jobId, step), value, 'PX', this.retentionMs);
  }

  async stepValue(jobId: string, step: string): Promise<string | null> {
    return this.redis.get(this.step(jobId, step));
  }

  /** True the first time a Slack signature is seen within `ttlMs` (replay guard). */
  async firstSighting(signature: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.slackSeen(signature), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  /**
   * The link secret when http.link_secret is not configured: generated once, kept in Redis, so every
   * replica (and every restart) signs and verifies with the same one.
   */
  async linkSecret(): Promise<string> {
    const fresh = randomBytes(32).toString('base64url');
    await this.redis.set(this.linkSecretKey, fresh, 'NX');
    const s = await this.redis.get(this.linkSecretKey);
    if (!s) throw new Error('link secret vanished from Redis');
    return s;
  }
}
