/**
 * The channel-neutral facts every alert message names (daemon.md, "Alerts and messages"). Email and
 * Slack render these; neither reads the alert's event directly, so what can reach a recipient is
 * decided here, once.
 *
 * Built from an allow-list of event fields: the event is never spread, serialised or iterated, so a
 * field a source adds later (a raw record, a token, a revealed value) cannot leak into a message.
 * Values are plain text; each channel escapes them for its own markup.
 */
import { DateTime } from 'luxon';
import { ACTION_WORDS, type Field } from '../domain/actions.ts';
import type { Alert } from '../domain/alert.ts';
import type { ItemType } from '../domain/item-types.ts';
import type { Severity } from '../domain/severity.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { singleLine, truncate } from './escape.ts';

/** What both channel builders take besides the alert. */
export interface MessageContext {
  /** Right-hand side of Message-IDs (`alerts.example.com`). */
  messageIdDomain: string;
  /** `http.public_url`; relative links are resolved against it. */
  publicUrl?: string;
  /** Absolute URLs, or paths starting with `/` under `publicUrl`. */
  links?: { alert?: string; justify?: string };
  /** For a follow-up: which occurrence this is (2 for the first repeat), when the caller counts. */
  occurrence?: number;
  /** For a follow-up email: the first alert, so the subject can repeat its exact wording for threading. */
  firstAlert?: Alert;
  /** Slack: add the managers' "Expected" / "Investigating" buttons (interactivity is configured). */
  managerActions?: boolean;
}

export interface AlertFacts {
  alertId: string;
  eventId: string;
  policy: string;
  rule: string;
  severity: Severity;
  /** `CRITICAL`. */
  severityLabel: string;
  /** The title, or `<id> (title unknown)`. */
  item: string;
  itemTitleKnown: boolean;
  /** `secure note`; absent when unknown. */
  itemType?: string;
  /** The vault's name, else its id. */
  vault: string;
  /** `Jo Bloggs (jo@example.com)`, or what is known of that. */
  person: string;
  /** Shortest recognisable name for subjects and headlines: name, else email, else id. */
  personShort: string;
  /** Past-tense verb alone: `revealed`. */
  verb: string;
  /** Verb with the field when known: `revealed the card code of`. */
  action: string;
  /** `Sat 21 Nov 2026 02:14 GMT (Europe/London)`. */
  usedAt: string;
  /** `Sat 02:14 Europe/London`, for subjects and fallbacks. */
  usedAtShort: string;
  /** The IANA zone times are shown in (the policy's, never the server's). */
  timezone: string;
  /** Only when the source reported the use more than the threshold after it happened. */
  delay?: { ms: number; human: string; text: string };
  client?: string;
  ip?: string;
  location?: string;
  reasons: string[];
  /** For follow-ups (dedup): the first alert's id. */
  follows?: string;
  /** `Jo Bloggs revealed the card code of Company card`: plain text, escape before use. */
  headline: string;
  /** A message of vaultwatch's own (a declaration, a silence, a summary): the headline says it all. */
  notice?: true;
}

export interface AlertFactsOptions {
  /** Show the reporting delay only above this; default one minute (daemon.md). */
  delayThresholdMs?: number;
}

/** One labelled row of the facts table, in the order channels show them. */
export interface FactRow {
  label: string;
  value: string;
}

const DEFAULT_DELAY_THRESHOLD_MS = 60_000;
/** Bounds every user-supplied string so one absurd title cannot blow a channel's size limits. */
const MAX_VALUE_CHARS = 500;
const MAX_REASONS = 20;
/** Fixed so that day and month names do not follow the server's LANG. */
const LOCALE = 'en-GB';

export function alertFacts(alert: Alert, opts: AlertFactsOptions = {}): AlertFacts {
  const ev = alert.event;
  const zone = displayZone(alert.timezone);
  const used = instant(ev.time_ms, ev.time).setZone(zone).setLocale(LOCALE);
  const item = itemText(ev.item);
  const person = personText(ev.user);
  const verb = ACTION_WORDS[ev.action] ?? ACTION_WORDS.other;
  const action = ev.field ? `${verb} the ${FIELD_WORDS[ev.field] ?? words(ev.field)} of` : verb;
  return {
    alertId: clean(alert.id),
    eventId: clean(ev.id),
    policy: clean(alert.policy),
    rule: clean(alert.rule),
    severity: alert.severity,
    severityLabel: alert.severity.toUpperCase(),
    item: item.text,
    itemTitleKnown: item.known,
    ...optional('itemType', itemTypeText(ev.item.type)),
    vault: cleanOr(ev.vault.name) ?? clean(ev.vault.id),
    person: person.full,
    personShort: person.short,
    verb,
    action,
    usedAt: `${used.toFormat('ccc d LLL yyyy HH:mm')} ${zoneAbbreviation(used)} (${zone})`,
    usedAtShort: `${used.toFormat('ccc HH:mm')} ${zone}`,
    timezone: zone,
    ...optional('delay', reportingDelay(used, ev.received_at, opts.delayThresholdMs ?? DEFAULT_DELAY_THRESHOLD_MS)),
    ...optional('client', clientText(ev.client)),
    ...optional('ip', cleanOr(ev.client?.ip)),
    ...optional('location', locationText(ev.location)),
    reasons: reasonsText(alert.reasons),
    ...optional('follows', cleanOr(alert.follows)),
    headline: alert.notice ? clean(alert.notice.headline) : headlineText(ev, person.short, action, item.text),
    ...(alert.notice ? { notice: true as const } : {}),
  };
}

/**
 * "Jo Bloggs revealed Company card"; for a vault permission change the object is the person whose
 * access changed and the vault: "Avery Admin granted access to Finance to Jo Bloggs".
 */
function headlineText(ev: UsageEvent, who: string, action: string, item: string): string {
  if ((ev.action === 'grant' || ev.action === 'revoke') && ev.subject) {
    const vault = cleanOr(ev.vault.name) ?? clean(ev.vault.id);
    const subject = personText(ev.subject).short;
    return ev.action === 'grant' ? `${who} granted ${subject} access to ${vault}` : `${who} removed ${subject}'s access to ${vault}`;
  }
  return `${who} ${action} ${item}`;
}

/** The facts table both channels show, in one order, so email and Slack never disagree on content. */
export function factRows(f: AlertFacts): FactRow[] {
  const rows: Array<[string, string | undefined]> = [
    ['Item', f.item],
    ['Type', f.itemType],
    ['Vault', f.vault],
    ['Person', f.person],
    ['Action', f.notice ? undefined : f.action],
    [f.notice ? 'When' : 'Used at', f.usedAt],
    ['Reported', f.delay?.text],
    ['Client', f.client],
    ['IP address', f.ip],
    ['Location', f.location],
  ];
  return rows.filter((r): r is [string, string] => r[1] !== undefined).map(([label, value]) => ({ label, value }));
}

/** Absolute http(s) links only: a `javascript:` or `data:` URL must never become a button. */
export function resolveLinks(ctx: Pick<MessageContext, 'publicUrl' | 'links'>): { alert?: string; justify?: string } {
  const out: { alert?: string; justify?: string } = {};
  for (const key of ['alert', 'justify'] as const) {
    const url = resolveLink(ctx.links?.[key], ctx.publicUrl);
    if (url) out[key] = url;
  }
  return out;
}

/** `1st`, `2nd`, `3rd`, `11th`, `22nd`: for "Again … (3rd)". */
export function ordinal(n: number): string {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  switch (n % 10) {
    case 1: return `${n}st`;
    case 2: return `${n}nd`;
    case 3: return `${n}rd`;
    default: return `${n}th`;
  }
}

// ---------------------------------------------------------------------------------------------------

const FIELD_WORDS: Partial<Record<Field, string>> = {
  hidden_field: 'hidden field',
  card_code: 'card code',
  card_number: 'card number',
  totp: 'one-time code',
  bank_account_number: 'account number',
  pin: 'PIN',
  swift_code: 'SWIFT code',
  iban: 'IBAN',
  national_id: 'national ID',
};

const ITEM_TYPE_WORDS: Partial<Record<ItemType, string>> = {
  api_credential: 'API credential',
  ssh_key: 'SSH key',
  social_security_number: 'social security number',
};

function clean(text: string): string {
  return truncate(singleLine(text), MAX_VALUE_CHARS);
}

/** A blank name is no name: fall back as if it were absent. */
function cleanOr(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const c = clean(text);
  return c === '' ? undefined : c;
}

/** Spreads `{key: value}` only when value is defined, so optional facts are absent rather than undefined. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function words(snake: string): string {
  return snake.replace(/_/g, ' ');
}

function itemText(item: UsageEvent['item']): { text: string; known: boolean } {
  const title = cleanOr(item.title);
  return title ? { text: title, known: true } : { text: `${clean(item.id)} (title unknown)`, known: false };
}

function itemTypeText(type: ItemType | undefined): string | undefined {
  if (!type || type === 'unknown') return undefined;
  return ITEM_TYPE_WORDS[type] ?? words(type);
}

function personText(user: UsageEvent['user']): { full: string; short: string } {
  const name = cleanOr(user.name);
  const email = cleanOr(user.email);
  const id = clean(user.id);
  if (name && email) return { full: `${name} (${email})`, short: name };
  if (email) return { full: email, short: email };
  if (name) return { full: `${name} (id ${id})`, short: name };
  return { full: `${id} (name unknown)`, short: id };
}

/** `time_ms` is what the normaliser computed; the ISO text is the fallback for a hand-made event. */
function instant(ms: number, iso: string): DateTime {
  if (Number.isFinite(ms)) return DateTime.fromMillis(ms, { zone: 'utc' });
  return DateTime.fromISO(iso, { zone: 'utc' });
}

/** Config validates zones; should a bad one slip through, UTC labelled as such beats "Invalid DateTime". */
function displayZone(zone: string): string {
  return DateTime.now().setZone(zone).isValid ? zone : 'UTC';
}

/**
 * `GMT`/`BST`/`CET` read better than offsets. en-GB knows the European names, en-US the American
 * ones; where neither has a name the offset form (`GMT+5:30`) is still unambiguous.
 */
function zoneAbbreviation(dt: DateTime): string {
  const gb = dt.setLocale('en-GB').toFormat('ZZZZ');
  if (!/^(GMT|UTC)[+-]/.test(gb)) return gb;
  const us = dt.setLocale('en-US').toFormat('ZZZZ');
  return /^(GMT|UTC)[+-]/.test(us) ? gb : us;
}

function reportingDelay(used: DateTime, receivedAt: string, thresholdMs: number): AlertFacts['delay'] {
  const received = DateTime.fromISO(receivedAt, { zone: 'utc' }).setZone(used.zone).setLocale(LOCALE);
  if (!received.isValid || !used.isValid) return undefined;
  const ms = received.toMillis() - used.toMillis();
  if (ms <= thresholdMs) return undefined;
  // The reader already sees the full date of use; repeat the day only when reporting crossed midnight.
  const sameDay = received.hasSame(used, 'day');
  const fmt = sameDay ? 'HH:mm' : 'ccc d LLL HH:mm';
  const human = `${humanDuration(ms)} later`;
  return { ms, human, text: `used ${used.toFormat(fmt)}, reported ${received.toFormat(fmt)} (${human})` };
}

/** Coarse on purpose: "27 min", "2 h 5 min", "3 days 4 h"; seconds are noise at this scale. */
export function humanDuration(ms: number): string {
  const totalMin = Math.floor(ms / 60_000);
  if (totalMin < 1) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (totalMin < 60) return `${totalMin} min`;
  const totalH = Math.floor(totalMin / 60);
  if (totalH < 48) return joinUnits([totalH, 'h'], [totalMin % 60, 'min']);
  const days = Math.floor(totalH / 24);
  return joinUnits([days, 'days'], [totalH % 24, 'h']);
}

function joinUnits(big: [number, string], small: [number, string]): string {
  return small[0] > 0 ? `${big[0]} ${big[1]} ${small[0]} ${small[1]}` : `${big[0]} ${big[1]}`;
}

function clientText(client: UsageEvent['client']): string | undefined {
  if (!client) return undefined;
  const app = [cleanOr(client.app), cleanOr(client.version)].filter(Boolean).join(' ');
  const os = cleanOr(client.os) ?? cleanOr(client.platform);
  if (app && os) return `${app} on ${os}`;
  return app || os || undefined;
}

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

/** Sources give ISO 3166 alpha-2 codes; a reader knows "United Kingdom" better than "GB". */
function countryName(code: string): string {
  if (!/^[A-Za-z]{2}$/.test(code)) return code;
  try {
    const name = regionNames.of(code.toUpperCase());
    return name && name !== 'Unknown Region' ? name : code;
  } catch {
    return code;
  }
}

function locationText(loc: UsageEvent['location']): string | undefined {
  if (!loc) return undefined;
  const country = cleanOr(loc.country);
  const parts = [cleanOr(loc.city), cleanOr(loc.region), country && countryName(country)].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function reasonsText(reasons: readonly string[]): string[] {
  const kept = reasons.map((r) => clean(r)).filter((r) => r !== '');
  if (kept.length <= MAX_REASONS) return kept;
  return [...kept.slice(0, MAX_REASONS), `… and ${kept.length - MAX_REASONS} more`];
}

function resolveLink(link: string | undefined, publicUrl: string | undefined): string | undefined {
  if (!link) return undefined;
  let url: URL;
  try {
    url = new URL(link.startsWith('/') && publicUrl ? joinPath(publicUrl, link) : link);
  } catch {
    return undefined;
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
}

/** `new URL('/j/x', 'https://h/vw/')` would drop `/vw`; a public URL behind a path prefix must keep it. */
function joinPath(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}
