/** Shared bits of the source tests: a context that records what the source reports, and records to feed it. */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import type { DeadLetterEntry, IntakeResult } from '../../../src/pipeline/intake.ts';
import type { SourceContext, SourceSink } from '../../../src/sources/source.ts';

const FIXTURES = new URL('../../fixtures/events/', import.meta.url);

export function fixture(vendor: 'onepassword' | 'bitwarden' | 'canonical', name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${vendor}/${name}.json`, FIXTURES), 'utf8')) as Record<string, unknown>;
}

/** A minimal canonical record with the given event id. */
export function canonical(id: string, item = 'item-1'): Record<string, unknown> {
  return { id, time: '2026-03-12T10:00:00Z', action: 'reveal', item: { id: item }, vault: 'vault-1', user: { email: 'sam@example.com' } };
}

export interface LogLine { level: 'info' | 'warn' | 'error'; o: object; msg?: string }

export interface RecordingContext extends SourceContext {
  logs: LogLine[];
  seen: UsageEvent[];
  rejectedReasons: string[];
}

export function recordingContext(sink: SourceSink): RecordingContext {
  const logs: LogLine[] = [];
  const seen: UsageEvent[] = [];
  const rejectedReasons: string[] = [];
  const line = (level: LogLine['level']) => (o: object, msg?: string): void => { logs.push({ level, o, ...(msg !== undefined ? { msg } : {}) }); };
  return {
    sink,
    log: { info: line('info'), warn: line('warn'), error: line('error') },
    now: () => Date.now(),
    onEvents: (events) => { seen.push(...events); },
    onRejected: (reason) => { rejectedReasons.push(reason); },
    logs,
    seen,
    rejectedReasons,
  };
}

/**
 * An in-memory sink for tests about the source's own behaviour. `fail` may throw to refuse a call;
 * `stored` lists the events of calls that succeeded, in order (a duplicate would show twice).
 */
export class MemorySink implements SourceSink {
  readonly stored: UsageEvent[] = [];
  readonly dead: DeadLetterEntry[] = [];
  readonly calls: UsageEvent[][] = [];
  fail: (events: readonly UsageEvent[]) => void = () => {};

  async accept(events: readonly UsageEvent[]): Promise<IntakeResult> {
    this.calls.push([...events]);
    this.fail(events);
    this.stored.push(...events);
    return { accepted: events.length, duplicates: 0, duplicateIds: new Set() };
  }

  async deadLetter(entries: readonly DeadLetterEntry[]): Promise<void> {
    this.dead.push(...entries);
  }
}

/** Entries of a group not yet acknowledged (XPENDING summary count). */
export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  const [count] = (await redis.call('XPENDING', stream, group)) as [number, ...unknown[]];
  return Number(count);
}

/** Per-entry pending details: [id, consumer, idle ms, deliveries]. */
export async function pendingEntries(redis: Redis, stream: string, group: string): Promise<[string, string, number, number][]> {
  return (await redis.call('XPENDING', stream, group, '-', '+', '1000')) as [string, string, number, number][];
}
