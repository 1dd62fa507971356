/**
 * Wait on a condition instead of sleeping.
 *
 * Tests must never `sleep(500)` and hope: they poll a probe until it returns something truthy, with a
 * deadline. When the deadline passes, the error says what the probe last returned (or threw), which
 * is usually all one needs to see why a test failed.
 */
import { inspect } from 'node:util';

export interface WaitForOptions {
  /** Give up after this long. Default 10 s: long enough for a Redis restart on a slow CI box. */
  timeoutMs?: number;
  /** Pause between probes. Default 20 ms: cheap for local probes, quick to notice a change. */
  intervalMs?: number;
  /** What we were waiting for; goes first in the timeout error. A function is called at the deadline, so it can describe the state then. */
  message?: string | (() => string);
}

/** The values a truthiness check lets through. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/**
 * Resolves with the first truthy value `probe` returns. A probe that throws (or rejects) is retried;
 * a probe that hangs is abandoned at the deadline, so `timeoutMs` is a hard bound.
 */
export async function waitFor<T>(
  probe: () => T | PromiseLike<T>,
  { timeoutMs = 10_000, intervalMs = 20, message }: WaitForOptions = {},
): Promise<Truthy<Awaited<T>>> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let attempts = 0;
  let last: { kind: 'value'; value: unknown } | { kind: 'error'; error: unknown } | undefined;

  for (;;) {
    attempts += 1;
    const remaining = deadline - Date.now();
    const outcome = await withDeadline(Promise.resolve().then(probe), remaining);
    if (outcome.kind === 'value') {
      if (outcome.value) return outcome.value as Truthy<Awaited<T>>;
      last = outcome;
    } else if (outcome.kind === 'error') {
      last = outcome;
    }
    // 'timeout' keeps the previous `last`: the hung probe told us nothing new.
    const left = deadline - Date.now();
    if (outcome.kind === 'timeout' || left <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }

  const what = (typeof message === 'function' ? message() : message) ?? 'condition';
  const lastText =
    last === undefined
      ? 'the probe never completed'
      : last.kind === 'value'
        ? `last value: ${inspect(last.value, { depth: 4, breakLength: Infinity })}`
        : `last error: ${last.error instanceof Error ? (last.error.stack ?? last.error.message) : inspect(last.error)}`;
  throw new Error(
    `waitFor: ${what} not met within ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}); ${lastText}`,
    last?.kind === 'error' ? { cause: last.error } : undefined,
  );
}

type Outcome<V> = { kind: 'value'; value: V } | { kind: 'error'; error: unknown } | { kind: 'timeout' };

/** Settles with the probe's outcome, or 'timeout' if it takes longer than `ms`. */
function withDeadline<V>(promise: Promise<V>, ms: number): Promise<Outcome<V>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, ms));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve({ kind: 'value', value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ kind: 'error', error });
      },
    );
  });
}
