/**
 * A digest: the alerts held for one recipient while they were outside their hours (`deliver: digest`),
 * sent as ONE message when their window opens. Each alert is reduced to an entry of plain-text facts
 * when it is held (through alertFacts, so the same allow-list applies as for alert messages); the
 * channel builders (email/digest.ts, slack/digest.ts) escape them for their own markup.
 */
import type { Alert } from '../domain/alert.ts';
import { SEVERITIES, type Severity } from '../domain/severity.ts';
import { alertFacts } from './alert-facts.ts';

export interface DigestEntry {
  alert_id: string;
  /** Time of use (epoch ms), for ordering. */
  time_ms: number;
  /** `Sat 21 Nov 2026 02:14 GMT (Europe/London)`: the time of use in the policy's zone. */
  used_at: string;
  rule: string;
  severity: Severity;
  item: string;
  /** `Jo Bloggs (jo@example.com)`. */
  person: string;
  /** `revealed the card code of`. */
  action: string;
  vault: string;
  /** A dedup repeat: which occurrence (2 for the first repeat). */
  occurrence?: number;
}

/** What the digest job sends: the recipient's window and every entry held for it, oldest first. */
export interface DigestContent {
  /** The digest's id (per recipient and window start): Message-ID, Slack metadata. */
  id: string;
  /** Formatted target (`email:cfo@example.com`). */
  recipient: string;
  /** When the recipient's window opened (ISO). */
  window_start: string;
  /** The recipient's schedule name. */
  schedule: string;
  /** The window start in words, in the schedule's zone: `Mon 28 Dec 2026 09:00 Europe/London`. */
  window_text: string;
  entries: DigestEntry[];
}

export function digestEntry(alert: Alert): DigestEntry {
  const f = alertFacts(alert);
  return {
    alert_id: f.alertId,
    time_ms: alert.event.time_ms,
    used_at: f.usedAt,
    rule: f.rule,
    severity: f.severity,
    item: f.item,
    person: f.person,
    action: f.action,
    vault: f.vault,
    ...(alert.follows && alert.occurrence ? { occurrence: alert.occurrence } : {}),
  };
}

/** The most severe entry's severity (`info` for an empty digest). */
export function highestSeverity(entries: readonly DigestEntry[]): Severity {
  let best = 0;
  for (const e of entries) best = Math.max(best, SEVERITIES.indexOf(e.severity));
  return SEVERITIES[best] ?? 'info';
}

/** `3 alerts` / `1 alert`. */
export function alertCount(n: number): string {
  return `${n} alert${n === 1 ? '' : 's'}`;
}

export function sortedEntries(entries: readonly DigestEntry[]): DigestEntry[] {
  return [...entries].sort((a, b) => a.time_ms - b.time_ms || a.alert_id.localeCompare(b.alert_id));
}
