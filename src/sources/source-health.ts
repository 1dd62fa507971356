/**
 * Shared plumbing of the sources (no vendor knowledge): the status a source reports, the capped
 * exponential backoff it retries with, and a sleep that stop() can cut short.
 */
import type { SourceState, SourceStatus } from './source.ts';

/** Tracks what `Source.status()` reports. */
export class SourceHealth {
  private state: SourceState = 'starting';
  private lastError: string | undefined;
  private lastSuccess: string | undefined;
  private eventCount = 0;
  private rejectedCount = 0;

  constructor(readonly name: string, readonly type: string) {}

  get current(): SourceState {
    return this.state;
  }

  starting(): void {
    this.state = 'starting';
  }

  /** Working (again). */
  running(): void {
    this.state = 'running';
  }

  /** A round completed without error at `nowMs`: running again, whatever happened before. */
  success(nowMs: number): void {
    this.state = 'running';
    this.lastSuccess = new Date(nowMs).toISOString();
  }

  /** Retrying after `err`; the source resumes by itself. */
  degraded(err: unknown): void {
    if (this.state !== 'stopped' && this.state !== 'failed') this.state = 'degraded';
    this.lastError = errorMessage(err);
  }

  /** Given up until the next start. */
  failed(err: unknown): void {
    this.state = 'failed';
    this.lastError = errorMessage(err);
  }

  stopped(): void {
    this.state = 'stopped';
  }

  countEvents(n: number): void {
    this.eventCount += n;
  }

  countRejected(n: number): void {
    this.rejectedCount += n;
  }

  snapshot(): SourceStatus {
    return {
      name: this.name,
      type: this.type,
      state: this.state,
      ...(this.lastError !== undefined ? { last_error: this.lastError } : {}),
      ...(this.lastSuccess !== undefined ? { last_success: this.lastSuccess } : {}),
      events: this.eventCount,
      rejected: this.rejectedCount,
    };
  }
}

/**
 * Capped exponential backoff with jitter: about min, 2*min, 4*min ... up to max, each delay drawn from
 * [d/2, d] so that replicas retrying the same outage do not knock in step.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly minMs = 250, private readonly maxMs = 10_000) {}

  next(): number {
    const d = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.round(d / 2 + Math.random() * (d / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** True when `p` settles (either way) within `ms`. */
export async function settlesWithin(p: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (p === undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const settled = p.then(() => true, () => true);
  const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
