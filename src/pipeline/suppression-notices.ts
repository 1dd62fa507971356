/**
 * What the vault's managers are told about declarations and silences, as alerts of vaultwatch's own
 * (`notice` set), so they travel the same road as every alert: recorded, one notification job per
 * (alert, manager) with deterministic ids, email and Slack built by the same builders.
 *
 * - When one is made: "Jo declared planned access to Finance for 2h: paying the licence renewal
 *   (ticket FIN-123), declared by alice@ops".
 * - When it ends: one summary of what was recorded under it (each use's time, item and action).
 */
import { DateTime } from 'luxon';
import { ACTION_WORDS, isAction } from '../domain/actions.ts';
import { alertId, type Alert } from '../domain/alert.ts';
import { formatDuration } from '../domain/duration.ts';
import { parseTarget, type Target } from '../domain/target.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { formatInstant, type CoveredEntry, type Suppression } from './suppression.ts';

export const NOTICE_RULES = {
  declaration: { start: 'Break-glass declaration', end: 'Break-glass declaration ended' },
  silence: { start: 'Silence', end: 'Silence ended' },
} as const;

/** The message to the managers when a declaration or silence is made. */
export function announcementAlert(s: Suppression): Alert {
  const vault = vaultLabel(s);
  const span = spanText(s);
  const headline = s.kind === 'declaration'
    ? `${s.user} declared planned access to ${vault}${itemText(s)} ${span}: ${s.reason}${s.ticket ? ` (ticket ${s.ticket})` : ''}, declared by ${s.author}`
    : `${s.author} silenced alerts in ${vault}${silenceScope(s)} ${span}: ${s.reason}`;
  const what = s.kind === 'declaration'
    ? `alerts about ${s.user}'s use of ${vault}${itemText(s)} are recorded but not sent`
    : `matching alerts in ${vault} are recorded but not sent`;
  const reasons = [
    `From ${formatInstant(s.from_ms, s.timezone)} until ${formatInstant(s.until_ms, s.timezone)}: ${what}; you will receive one summary of them when it ends.`,
    `To end it early: vaultwatch ${s.kind === 'declaration' ? 'declare --cancel' : 'silence --expire'} ${s.id}`,
  ];
  return noticeAlert(s, 'announce', NOTICE_RULES[s.kind].start, headline, reasons, s.created_at);
}

/** The summary when it ends: what was recorded under it, oldest first. */
export function summaryAlert(s: Suppression, entries: readonly CoveredEntry[]): Alert {
  const vault = vaultLabel(s);
  const events = groupByEvent(entries);
  const n = events.length;
  const counted = n === 0 ? 'nothing was recorded under it' : `${n} use${n === 1 ? '' : 's'} recorded under it`;
  const headline = s.kind === 'declaration'
    ? `Declaration ${s.id} for ${s.user} in ${vault} ended: ${counted}`
    : `Silence ${s.id} in ${vault} ended: ${counted}`;
  const ended = s.ended_early
    ? `ended early by ${s.ended_early.by} at ${formatInstant(s.until_ms, s.timezone)} (planned until ${formatInstant(Date.parse(s.ended_early.planned_until), s.timezone)})`
    : `ended ${formatInstant(s.until_ms, s.timezone)}`;
  const by = s.kind === 'declaration'
    ? `Declared by ${s.author}: "${s.reason}"${s.ticket ? ` (ticket ${s.ticket})` : ''}`
    : `Silenced by ${s.author}${silenceScope(s)}: "${s.reason}"`;
  // Messages show the first 20 reasons: the pointer to the full listing goes before the uses.
  const reasons = [
    `${by}; from ${formatInstant(s.from_ms, s.timezone)}, ${ended}.`,
    ...(n > 0 ? [`Every alert, with its delivery record: vaultwatch alerts --vault ${s.vault}`] : []),
    ...events.map((e) => eventLine(s, e)),
  ];
  return noticeAlert(s, 'summary', NOTICE_RULES[s.kind].end, headline, reasons, s.until);
}

/** Formatted targets (`email:a@b`) of a record, parsed; any that no longer parse are dropped. */
export function noticeTargets(s: Suppression): Target[] {
  return s.notify.map(parseTarget).filter((t): t is Target => !('error' in t));
}

function noticeAlert(s: Suppression, phase: 'announce' | 'summary', rule: string, headline: string, reasons: string[], at: string): Alert {
  const eventId = `${s.id}.${phase}`;
  const atMs = Date.parse(at);
  const event: UsageEvent = {
    id: eventId,
    source: 'vaultwatch',
    time: at,
    time_ms: atMs,
    received_at: at,
    action: 'other',
    vendor_action: `${s.kind}-${phase}`,
    vault: { id: s.vault, ...(s.vault_name ? { name: s.vault_name } : {}) },
    item: s.item ? { id: s.item, title: s.item_title ?? s.item } : { id: s.vault, title: 'any item' },
    user: s.kind === 'declaration' ? personOf(s.user) : { id: s.author, name: s.author },
  };
  return {
    id: alertId(eventId, s.policy, rule),
    event,
    policy: s.policy,
    rule,
    severity: 'info',
    reasons,
    targets: noticeTargets(s),
    timezone: s.timezone,
    suppressed: false,
    notice: { headline },
  };
}

function personOf(user: string): UsageEvent['user'] {
  return user.includes('@') ? { id: user, email: user } : { id: user };
}

function vaultLabel(s: Suppression): string {
  return s.vault_name ?? s.vault;
}

function itemText(s: Suppression): string {
  return s.item ? ` (item ${s.item_title ?? s.item})` : '';
}

function silenceScope(s: Suppression): string {
  if (s.kind !== 'silence') return '';
  const parts = [s.rule && `rule "${s.rule}"`, s.user && `user ${s.user}`, s.item && `item ${s.item_title ?? s.item}`].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** `for 2h`, or `for 2h from Tue 1 Dec 09:00 GMT` when it starts later than it was made. */
function spanText(s: Suppression): string {
  const length = `for ${formatDuration(s.until_ms - s.from_ms)}`;
  return s.from_ms - Date.parse(s.created_at) > 60_000 ? `${length} from ${formatInstant(s.from_ms, s.timezone)}` : length;
}

interface EventLine {
  time_ms: number;
  item: string;
  action: string;
  user: string;
  rules: string[];
}

/** Several rules may alert on one use: the summary lists the use once, naming the rules. */
function groupByEvent(entries: readonly CoveredEntry[]): EventLine[] {
  const byEvent = new Map<string, EventLine>();
  for (const e of entries) {
    const line = byEvent.get(e.event_id);
    if (line) { if (!line.rules.includes(e.rule)) line.rules.push(e.rule); continue; }
    byEvent.set(e.event_id, { time_ms: e.time_ms, item: e.item, action: e.action, user: e.user, rules: [e.rule] });
  }
  return [...byEvent.values()].sort((a, b) => a.time_ms - b.time_ms);
}

/** `Tue 1 Dec 09:14 GMT: copied Company card (rule Company card used)`; a silence names the person too. */
function eventLine(s: Suppression, e: EventLine): string {
  let dt = DateTime.fromMillis(e.time_ms, { zone: s.timezone }).setLocale('en-GB');
  if (!dt.isValid) dt = DateTime.fromMillis(e.time_ms, { zone: 'utc' }).setLocale('en-GB');
  const verb = isAction(e.action) ? ACTION_WORDS[e.action] : e.action;
  const who = s.kind === 'silence' ? `${e.user} ` : '';
  return `${dt.toFormat('ccc d LLL HH:mm:ss ZZZZ')}: ${who}${verb} ${e.item} (rule${e.rules.length === 1 ? '' : 's'} ${e.rules.join(', ')})`;
}
