import { createHash } from 'node:crypto';
import type { Severity } from './severity.ts';
import type { Target } from './target.ts';
import type { UsageEvent } from './usage-event.ts';

/** One alert per (event, rule). Never merged with another rule's alert. */
export interface Alert {
  /** Deterministic: hash of event id, policy file and rule name, so a retried evaluation gives the same id. */
  id: string;
  event: UsageEvent;
  /** Policy file, relative to the config directory (`policies/finance.yaml`). */
  policy: string;
  rule: string;
  severity: Severity;
  /** Plain-language reasons the rule fired. */
  reasons: string[];
  /** Targets after `managers`/`accessor` expansion, duplicates removed. */
  targets: Target[];
  /** The IANA zone in which times are shown (the policy file's `timezone`, else `defaults.timezone`). */
  timezone: string;
  /** Folded into an earlier alert by `dedup`: kept, counted, attached to the first as a follow-up. */
  suppressed: boolean;
  /** For a suppressed alert: the alert it is a follow-up of. */
  follows?: string;
  /** The dedup key this alert was judged under, when the rule has dedup. */
  dedup_key?: string;
  /** For a dedup repeat: which occurrence it is inside the window (the first alert is 1, its first repeat 2). */
  occurrence?: number;
  /** Recipients' own working hours, from `managers` entries: formatted target -> schedule name. */
  target_schedules?: Record<string, string>;
  /**
   * Targets not sent to at once because the recipient was outside their hours when the alert was
   * routed (src/pipeline/route.ts): formatted target -> plan. Absent targets go now. Decided once and
   * recorded with the alert, so a re-run evaluation makes the same jobs.
   */
  delivery_plan?: Record<string, PlannedDelivery>;
  /** From the rule: ask the accessor why, within this long, else tell `escalate_to`. */
  justification?: { ask: boolean; within_ms?: number; escalate_to: Target[] };
  /** From the rule: when a recipient is outside their own hours (see deliver in policy-format.md). */
  deliver?: 'now' | 'defer' | 'digest';
  /** Recorded but not sent because a break-glass declaration or a silence covered it (pipeline/suppression.ts). */
  suppression?: { kind: 'declaration' | 'silence'; id: string; author: string; reason: string };
  /**
   * A message of vaultwatch's own (a declaration, a silence, their summaries) rather than one use of
   * an item: messages lead with this headline instead of "person action item".
   */
  notice?: { headline: string };
}

/** A delivery held for the recipient's hours: `defer` until `at`, or into the `digest` sent at `at`. */
export interface PlannedDelivery {
  mode: 'defer' | 'digest';
  /** When the recipient's window opens (ISO instant). */
  at: string;
  /** The recipient's schedule, and the zone it is judged in. */
  schedule: string;
  zone: string;
  /** For `digest`: the digest's id (per recipient and window start). */
  digest?: string;
  /** In words, for the delivery record and the message. */
  reason: string;
}

export function alertId(eventId: string, policy: string, rule: string): string {
  return createHash('sha256').update(`${eventId}\u0000${policy}\u0000${rule}`).digest('hex').slice(0, 26);
}
