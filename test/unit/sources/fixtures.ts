import { readFileSync } from 'node:fs';
import type { NormalizeResult, UsageEvent } from '../../../src/domain/usage-event.ts';

const FIXTURES = new URL('../../fixtures/events/', import.meta.url);

type Vendor = 'onepassword' | 'bitwarden' | 'canonical';
type Rec = Record<string, unknown>;

function read(vendor: Vendor, name: string): unknown {
  return JSON.parse(readFileSync(new URL(`${vendor}/${name}.json`, FIXTURES), 'utf8'));
}

/** A vendor record fixture, parsed fresh each call so a test may mutate it. */
export function fixture(vendor: Vendor, name: string): Rec {
  return read(vendor, name) as Rec;
}

/** A fixture file holding a list of records. */
export function fixtureList(vendor: Vendor, name: string): Rec[] {
  return read(vendor, name) as Rec[];
}

export const ctx = { receivedAt: '2026-03-13T12:00:00.000Z' };

/** The event of a result that must be one; fails the test with the result otherwise. */
export function eventOf(result: NormalizeResult): UsageEvent {
  if (result.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(result)}`);
  return result.event;
}
