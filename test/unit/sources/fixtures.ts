import { readFileSync } from 'node:fs';
import type { NormalizeResult, UsageEvent } from '../../../src/domain/usage-event.ts';

const FIXTURES = new URL('../../fixtures/events/', import.meta.url);

/** A vendor record fixture, parsed fresh each call so a test may mutate it. */
export function fixture<T = Record<string, unknown>>(vendor: 'onepassword' | 'bitwarden' | 'canonical', name: string): T {
  return JSON.parse(readFileSync(new URL(`${vendor}/${name}.json`, FIXTURES), 'utf8')) as T;
}

export const ctx = { receivedAt: '2026-03-13T12:00:00.000Z' };

/** The event of a result that must be one; fails the test with the result otherwise. */
export function eventOf(result: NormalizeResult): UsageEvent {
  if (result.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(result)}`);
  return result.event;
}
