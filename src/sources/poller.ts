/**
 * Sources that poll a vendor API (1Password Events, Bitwarden). A poller does one round per call
 * (`pollOnce`): read from its saved cursor, page while the vendor has more, hand each page to the
 * sink, and save the cursor only after the page is stored. Scheduling is not its business: the
 * daemon runs polls as BullMQ job schedulers (queue/poll-scheduler.ts), so with several replicas
 * exactly one poll of a source runs at a time.
 */
import type { SourceContext, SourceStatus } from './source.ts';

/** Durable per-source checkpoints (Redis in the daemon, memory in tests). */
export interface CursorStore {
  get(source: string): Promise<string | undefined>;
  set(source: string, cursor: string): Promise<void>;
}

export interface PollContext extends SourceContext {
  cursors: CursorStore;
  /** Aborted at shutdown: stop between pages, never between storing a page and saving its cursor. */
  signal: AbortSignal;
}

export interface Poller {
  readonly name: string;
  readonly type: string;
  /** How often a round starts (poll_interval). */
  readonly intervalMs: number;
  /** Once at start-up (token introspection...). A rejection marks the source failed, not the daemon. */
  prepare?(ctx: PollContext): Promise<void>;
  pollOnce(ctx: PollContext): Promise<void>;
  status(): SourceStatus;
}
