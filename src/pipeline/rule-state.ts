/**
 * The stateful checks of the engine (`first_time`, `threshold`, `dedup`). Judged on event times so a
 * replay gives the alerts the live run gave, and idempotent per event id so a retried evaluation gives
 * the same answer: never fewer alerts, never more.
 * The in-memory implementation serves replay and tests; the daemon uses the Redis one.
 */
export interface RuleState {
  /**
   * True when `combo` had not been seen by `ruleId` before this event (or was first seen by this very
   * event, on a retry).
   */
  firstTime(ruleId: string, combo: string, eventId: string): boolean | Promise<boolean>;
  /** Records the event and returns how many events of `key` have times in (timeMs - windowMs, timeMs]. */
  threshold(ruleId: string, key: string, eventId: string, timeMs: number, windowMs: number): number | Promise<number>;
  /**
   * Judges an alert against the rule's dedup window for `key`: the first alert opens [t, t + window)
   * and notifies; later ones inside are suppressed and point at the first. Idempotent per alert id.
   */
  dedup(ruleId: string, key: string, alertId: string, timeMs: number, windowMs: number): DedupVerdict | Promise<DedupVerdict>;
}

export interface DedupVerdict {
  suppressed: boolean;
  /** The alert that opened the window (the alert itself when not suppressed). */
  first: string;
  /** How many alerts the window has folded so far, this one included (1 for the first). */
  count: number;
}
