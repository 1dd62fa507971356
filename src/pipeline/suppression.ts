/**
 * Break-glass declarations and silences, as data and pure logic: what they are, whether one covers an
 * event or an alert, the words a suppressed alert carries, and the checks on what a person asks for.
 * No I/O: the Redis store is queue/suppression-store.ts, the commands cli/declare.ts and cli/silence.ts.
 *
 * Time is always the event's own time (policy-format.md): a declaration [from, until) covers an event
 * used at `from` and not one used at `until`, whenever the event is reported or judged. Replaying a
 * recording therefore gives the same answer as the live run did.
 */
import { DateTime } from 'luxon';
import type { Alert } from '../domain/alert.ts';
import { formatDuration, parseDuration } from '../domain/duration.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { GlobSet } from '../policy/glob.ts';

export type SuppressionKind = 'declaration' | 'silence';

interface SuppressionBase {
  /** `d-7k2m9x4q` (declarations) or `s-…` (silences). */
  id: string;
  /** The vault id events carry (a name given by the author is resolved to this). */
  vault: string;
  vault_name?: string;
  /** Only this item: its id, or a title (glob, case-insensitive, as in policies). */
  item?: string;
  /** The item's title from the catalog, when `item` is an id it knows. */
  item_title?: string;
  /** `[from, until)` on event time, ISO 8601 (UTC) and epoch ms. */
  from: string;
  until: string;
  from_ms: number;
  until_ms: number;
  reason: string;
  author: string;
  created_at: string;
  /** Set when someone ended it before `until` (`until` is then the moment it was ended). */
  ended_early?: { at: string; by: string; planned_until: string };
  /** Who was told at the start and hears the summary at the end: formatted targets (`email:a@b`). */
  notify: string[];
  /** The vault's policy file and zone: messages show times in it. */
  policy: string;
  timezone: string;
}

/** "Jo will use the Finance vault for the next 2 hours, for this reason": a pre-declared break-glass window. */
export interface Declaration extends SuppressionBase {
  kind: 'declaration';
  /** The person: an email (lower-cased) or a user id, as events carry them. */
  user: string;
  ticket?: string;
}

/** A matcher over a vault's alerts (rule, user, item), with an author, a reason and an expiry. */
export interface Silence extends SuppressionBase {
  kind: 'silence';
  /** A rule name of the vault's policy (glob allowed). */
  rule?: string;
  user?: string;
}

export type Suppression = Declaration | Silence;

/** What the summary at the end lists: one line per alert recorded under a declaration or silence. */
export interface CoveredEntry {
  alert_id: string;
  event_id: string;
  /** Event time (ISO) and ms. */
  time: string;
  time_ms: number;
  /** Title, or id when the title is unknown. */
  item: string;
  action: string;
  rule: string;
  user: string;
}

/** Why an alert was recorded but not sent: kept on the alert and in its delivery records. */
export type SuppressionMark = NonNullable<Alert['suppression']>;

// ---------------------------------------------------------------------------------------------------
// Matching

/** `[from, until)`: from inclusive, until exclusive, on the event's own time. */
export function inWindow(s: Pick<Suppression, 'from_ms' | 'until_ms'>, timeMs: number): boolean {
  return timeMs >= s.from_ms && timeMs < s.until_ms;
}

/** The event's actor is `user`: their email (case-insensitive) or their id. */
export function sameUser(user: string, e: UsageEvent): boolean {
  const u = user.toLowerCase();
  return e.user.email?.toLowerCase() === u || e.user.id.toLowerCase() === u;
}

export function sameVault(vault: string, e: UsageEvent): boolean {
  return e.vault.id.toLowerCase() === vault.toLowerCase();
}

/** The item's id equals, or its title matches the glob (whole string, case-insensitive). */
export function sameItem(item: string, e: UsageEvent): boolean {
  if (e.item.id.toLowerCase() === item.toLowerCase()) return true;
  return new GlobSet([item]).matches(e.item.title);
}

/** Same user, same vault, the item if given, event time within [from, until). */
export function declarationCovers(d: Declaration, e: UsageEvent): boolean {
  return inWindow(d, e.time_ms) && sameVault(d.vault, e) && sameUser(d.user, e) && (d.item === undefined || sameItem(d.item, e));
}

/** Same vault, event time within [from, until), and the rule, user and item when given. */
export function silenceMatches(s: Silence, alert: Pick<Alert, 'event' | 'rule'>): boolean {
  const e = alert.event;
  return inWindow(s, e.time_ms) && sameVault(s.vault, e)
    && (s.rule === undefined || new GlobSet([s.rule]).matches(alert.rule))
    && (s.user === undefined || sameUser(s.user, e))
    && (s.item === undefined || sameItem(s.item, e));
}

export function suppressionMatches(s: Suppression, alert: Pick<Alert, 'event' | 'rule'>): boolean {
  return s.kind === 'declaration' ? declarationCovers(s, alert.event) : silenceMatches(s, alert);
}

/**
 * The declaration or silence that covers an alert: declarations first (they name a person and a
 * reason, so they say more), then silences; among equals the earliest made, so the choice is stable.
 */
export function findCover<T extends Suppression>(alert: Pick<Alert, 'event' | 'rule'>, candidates: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const s of candidates) {
    if (!suppressionMatches(s, alert)) continue;
    if (best === undefined || rank(s) < rank(best) || (rank(s) === rank(best) && (s.created_at < best.created_at || (s.created_at === best.created_at && s.id < best.id)))) best = s;
  }
  return best;
}

function rank(s: Suppression): number {
  return s.kind === 'declaration' ? 0 : 1;
}

/** The alert as recorded under `s`: suppressed (no notification), with the reason in words. */
export function suppressAlert(alert: Alert, s: Suppression): Alert {
  const reason = coverReason(s, alert.timezone);
  return {
    ...alert,
    suppressed: true,
    suppression: { kind: s.kind, id: s.id, author: s.author, reason },
    reasons: [...alert.reasons, reason],
  };
}

/**
 * An alert of an event inside a window whose summary has already gone out (the vendor reported it
 * late): it is sent as usual, saying so, because the managers would otherwise never hear of it.
 */
export function lateForCover(alert: Alert, s: Suppression): Alert {
  const what = s.kind === 'declaration' ? `declaration ${s.id} by ${s.author}` : `silence ${s.id} by ${s.author}`;
  return { ...alert, reasons: [...alert.reasons, `inside ${what} ("${s.reason}"), but reported after its summary was sent, so alerted as usual`] };
}

/** `covered by declaration d-… by alice@host: "paying the licence renewal" (ticket FIN-123) until 2026-12-01 11:00 Europe/London`. */
export function coverReason(s: Suppression, zone: string): string {
  const until = `until ${formatInstant(s.until_ms, zone)}`;
  if (s.kind === 'declaration') {
    return `covered by declaration ${s.id} by ${s.author}: "${s.reason}"${s.ticket ? ` (ticket ${s.ticket})` : ''} ${until}`;
  }
  return `silenced by ${s.id} by ${s.author}: "${s.reason}" ${until}`;
}

/** `2026-12-01 11:00 Europe/London`; UTC when the zone is not valid. */
export function formatInstant(ms: number, zone: string): string {
  let dt = DateTime.fromMillis(ms, { zone });
  if (!dt.isValid) dt = DateTime.fromMillis(ms, { zone: 'utc' });
  return `${dt.toFormat('yyyy-LL-dd HH:mm')} ${dt.zoneName ?? 'UTC'}`;
}

/** The entry the summary lists for an alert recorded under a declaration or silence. */
export function coveredEntry(alert: Alert): CoveredEntry {
  const e = alert.event;
  return {
    alert_id: alert.id,
    event_id: e.id,
    time: new Date(e.time_ms).toISOString(),
    time_ms: e.time_ms,
    item: e.item.title ?? e.item.id,
    action: e.action,
    rule: alert.rule,
    user: e.user.email ?? e.user.id,
  };
}

/** In force at `nowMs` (or starting later); ended ones are history. */
export function isActive(s: Pick<Suppression, 'until_ms'>, nowMs: number): boolean {
  return s.until_ms > nowMs;
}

export function stateOf(s: Suppression, nowMs: number): 'upcoming' | 'active' | 'ended' | 'ended early' {
  if (s.ended_early) return 'ended early';
  if (nowMs >= s.until_ms) return 'ended';
  return nowMs < s.from_ms ? 'upcoming' : 'active';
}

// ---------------------------------------------------------------------------------------------------
// What a person asks for: checked here, for the CLI and HTTP alike

/** A refused request: every problem, each naming its field (`--for` on the command line, `for` over HTTP). */
export class SuppressionError extends Error {
  override name = 'SuppressionError';
  constructor(
    readonly code: 'invalid' | 'not_found' | 'conflict',
    readonly problems: readonly { field?: string; message: string }[],
  ) {
    super(problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; '));
  }

  /** The problems with fields written as command-line options. */
  forCli(): string {
    return this.problems.map((p) => (p.field ? `--${p.field}: ${p.message}` : p.message)).join('\n');
  }
}

/** What someone asks for (command-line options or a JSON body); every field unchecked. */
export interface SuppressionRequest {
  user?: unknown;
  vault?: unknown;
  item?: unknown;
  rule?: unknown;
  /** A duration (`2h`). */
  for?: unknown;
  /** An ISO instant; default now. */
  from?: unknown;
  reason?: unknown;
  ticket?: unknown;
  author?: unknown;
}

export interface WindowLimits {
  nowMs: number;
  /** Longest allowed `for`. */
  maxMs: number;
  /** The config key that sets maxMs, named in the message. */
  maxKey: string;
  /** How far ahead `from` may be. Default 30 days. */
  maxAheadMs?: number;
}

export interface CheckedRequest {
  user?: string;
  vault: string;
  item?: string;
  rule?: string;
  reason: string;
  ticket?: string;
  author: string;
  from_ms: number;
  until_ms: number;
}

const MAX_TEXT = 1000;
const MAX_SHORT = 200;
/** `from` may be a little in the past: clocks and typing take time. Never enough to cover history. */
const FROM_SLACK_MS = 60_000;
const DEFAULT_MAX_AHEAD_MS = 30 * 86_400_000;

/**
 * Checks a declaration (`kind: 'declaration'`: user and reason required) or a silence (reason and
 * author required; rule, user, item optional). Collects every problem; throws SuppressionError.
 * The vault is only checked for presence here: resolving it needs the configuration.
 */
export function checkRequest(kind: SuppressionKind, r: SuppressionRequest, limits: WindowLimits): CheckedRequest {
  const problems: { field?: string; message: string }[] = [];
  const text = (field: keyof SuppressionRequest, required: boolean, max: number): string | undefined => {
    const v = r[field];
    if (v === undefined || v === null) {
      if (required) problems.push({ field, message: 'required' });
      return undefined;
    }
    if (typeof v !== 'string') {
      problems.push({ field, message: 'must be a string' });
      return undefined;
    }
    const t = v.trim();
    if (t === '') {
      if (required) problems.push({ field, message: 'must not be empty' });
      else problems.push({ field, message: 'must not be empty (leave it out instead)' });
      return undefined;
    }
    if (t.length > max) problems.push({ field, message: `longer than ${max} characters` });
    if (/[\u0000-\u001f\u007f]/.test(t) && field !== 'reason') problems.push({ field, message: 'must be one line' });
    return t;
  };

  const user = text('user', kind === 'declaration', 320);
  const vault = text('vault', true, MAX_SHORT);
  const item = text('item', false, MAX_SHORT);
  const rule = kind === 'silence' ? text('rule', false, MAX_SHORT) : undefined;
  if (kind === 'declaration' && r.rule !== undefined) problems.push({ field: 'rule', message: 'a declaration covers a person, not a rule; use a silence for a rule' });
  const reason = text('reason', true, MAX_TEXT);
  const ticket = kind === 'declaration' ? text('ticket', false, MAX_SHORT) : undefined;
  if (kind === 'silence' && r.ticket !== undefined) problems.push({ field: 'ticket', message: 'silences take no ticket; put it in the reason' });
  const author = text('author', true, 320);

  let fromMs = limits.nowMs;
  if (r.from !== undefined && r.from !== null && r.from !== '') {
    const t = typeof r.from === 'string' ? Date.parse(r.from) : Number.NaN;
    if (Number.isNaN(t)) problems.push({ field: 'from', message: `"${String(r.from)}" is not an ISO time (2026-12-01T09:00:00Z)` });
    else if (t < limits.nowMs - FROM_SLACK_MS) problems.push({ field: 'from', message: 'is in the past: a declaration or silence cannot cover what already happened' });
    else if (t > limits.nowMs + (limits.maxAheadMs ?? DEFAULT_MAX_AHEAD_MS)) problems.push({ field: 'from', message: `is more than ${formatDuration(limits.maxAheadMs ?? DEFAULT_MAX_AHEAD_MS)} ahead` });
    else fromMs = Math.max(t, limits.nowMs);
  }

  let forMs: number | undefined;
  if (r.for === undefined || r.for === null || r.for === '') {
    problems.push({ field: 'for', message: `required: how long, e.g. 2h (at most ${formatDuration(limits.maxMs)})` });
  } else if (typeof r.for !== 'string') {
    problems.push({ field: 'for', message: 'must be a duration such as 30m or 2h' });
  } else {
    forMs = parseDuration(r.for);
    if (forMs === undefined) problems.push({ field: 'for', message: `"${r.for}" is not a duration; write 30s, 10m, 2h, 1d or combined (1h30m)` });
    else if (forMs <= 0) problems.push({ field: 'for', message: 'must be longer than 0s' });
    else if (forMs > limits.maxMs) problems.push({ field: 'for', message: `${r.for} is longer than the maximum of ${formatDuration(limits.maxMs)} (${limits.maxKey})` });
  }

  if (problems.length) throw new SuppressionError('invalid', problems);
  return {
    ...(user !== undefined ? { user: user.includes('@') ? user.toLowerCase() : user } : {}),
    vault: vault!,
    ...(item !== undefined ? { item } : {}),
    ...(rule !== undefined ? { rule } : {}),
    reason: reason!,
    ...(ticket !== undefined ? { ticket } : {}),
    author: author!,
    from_ms: fromMs,
    until_ms: fromMs + forMs!,
  };
}

const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** `d-7k2m9x4q` / `s-…`: short enough to type, 40 random bits. */
export function newSuppressionId(kind: SuppressionKind, random: (n: number) => Uint8Array): string {
  let s = '';
  for (const b of random(8)) s += ID_ALPHABET[b % 32];
  return `${kind === 'declaration' ? 'd' : 's'}-${s}`;
}

/** What kind an id names, from its prefix. */
export function kindOfId(id: string): SuppressionKind | undefined {
  if (/^d-[0-9a-z]{8}$/.test(id)) return 'declaration';
  if (/^s-[0-9a-z]{8}$/.test(id)) return 'silence';
  return undefined;
}
