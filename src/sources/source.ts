/**
 * The Source contract: everything that brings usage records into the daemon (pollers, the Redis
 * stream consumer, the demo file reader) looks the same to the daemon. A source normalises its records
 * (pure, per vendor), hands the events to the sink and dead-letters what it cannot read. It never
 * throws out of its loop: failures show in `status()` (for /readyz and `vaultwatch_source_up`) and in
 * the log, and the source keeps trying.
 *
 * The webhook is not a Source: the HTTP server receives it (see registry.ts).
 */
import type { UsageEvent } from '../domain/usage-event.ts';
import type { DeadLetterEntry, IntakeResult } from '../pipeline/intake.ts';

export type SourceState = 'starting' | 'running' | 'degraded' | 'failed' | 'stopped';

export interface SourceStatus {
  name: string;
  type: string;
  /**
   * `starting` until the first connection/open succeeded; `running` while it works; `degraded` while
   * it retries after an error (Redis or the vendor down: it resumes by itself); `failed` when it gave
   * up until the next start (a missing file); `stopped` after stop().
   */
  state: SourceState;
  /** The latest error, kept after recovery so /readyz can show what happened. Never a secret. */
  last_error?: string;
  /** When the source last completed a round without error (ISO 8601). */
  last_success?: string;
  /** Events handed to the sink and stored (duplicates included: the intake drops those). */
  events: number;
  /** Records dead-lettered (bad JSON, not normalisable, poison, lost to trimming). */
  rejected: number;
}

/** Where a source hands its events: structurally the Intake (pipeline/intake.ts). */
export interface SourceSink {
  /** Resolves once the events are durably stored; throws IntakeUnavailableError when Redis is down. */
  accept(events: readonly UsageEvent[], source: string): Promise<IntakeResult>;
  deadLetter(entries: readonly DeadLetterEntry[]): Promise<void>;
}

export interface SourceLog {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface SourceContext {
  sink: SourceSink;
  log: SourceLog;
  /** Epoch milliseconds; `received_at` of the events. */
  now(): number;
  /** Metrics hook: called with every batch the sink stored. */
  onEvents?(events: readonly UsageEvent[]): void;
  /**
   * Metrics hook: called once per dead-lettered record with a short, label-safe category
   * (`not_json`, `no_field`, `invalid`, `poison`, `trimmed`); the full reason is in the dead letter.
   */
  onRejected?(reason: string): void;
}

export interface Source {
  /** Unique among the configured sources; names it in logs, metrics and /readyz. */
  readonly name: string;
  /** The config `type` (`redis-stream`, `file`, ...). */
  readonly type: string;
  /**
   * Starts the source's own loop and resolves soon: it does not wait for an outage to end (the
   * source then reports `degraded` and keeps trying). Rejects only when called twice.
   */
  start(ctx: SourceContext): Promise<void>;
  /** Ends the loop (what is in hand is finished or left for redelivery) and closes its connections. */
  stop(): Promise<void>;
  status(): SourceStatus;
}

/** Label-safe reasons passed to `onRejected`. */
export type RejectCategory = 'not_json' | 'no_field' | 'invalid' | 'poison' | 'trimmed';
