import type { UsageEvent } from '../domain/usage-event.ts';

/**
 * Where sources hand normalised events. The Redis implementation (queue/intake-stream.ts) stores new
 * events durably and atomically with their dedup check; it resolves only once Redis has them, so an
 * HTTP 202 or a saved poller cursor means "will be judged, whatever crashes next".
 */
export interface Intake {
  accept(events: readonly UsageEvent[], source: string): Promise<IntakeResult>;
  /** Keeps records that could not be normalised, with the reason, in the dead-letter list. */
  deadLetter(entries: readonly DeadLetterEntry[]): Promise<void>;
}

export interface IntakeResult {
  accepted: number;
  duplicates: number;
  /** Ids that were already known (the same event sent twice is one event). */
  duplicateIds: ReadonlySet<string>;
}

export interface DeadLetterEntry {
  source: string;
  reason: string;
  /** The raw record as received (never logged; kept for an operator to inspect). */
  record: unknown;
  received_at: string;
}

/** Redis is unreachable: nothing was stored. HTTP answers 503 with Retry-After; pollers wait. */
export class IntakeUnavailableError extends Error {
  override name = 'IntakeUnavailableError';
}
