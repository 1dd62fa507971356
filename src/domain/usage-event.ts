import type { Action, Field } from './actions.ts';
import type { ItemType } from './item-types.ts';

/**
 * The canonical usage event (events.md). Every source normalises into this shape; policies, alerts and
 * messages only ever see this.
 */
export interface UsageEvent {
  /** Vendor event id, or a stable hash of the record. The idempotency key of the whole pipeline. */
  id: string;
  source: string;
  /** When the item was used: ISO 8601 instant as the vendor gave it (offset kept; zone-less read as UTC). */
  time: string;
  /** `time` in epoch milliseconds, computed once by the normaliser so hot paths never re-parse. */
  time_ms: number;
  /** When this daemon received the record (ISO 8601, UTC). */
  received_at: string;
  action: Action;
  /** The source's own value (`secure-copy`, `1113`), always as a string. */
  vendor_action: string;
  field?: Field;
  vault: { id: string; name?: string };
  item: { id: string; title?: string; type?: ItemType; tags?: string[] };
  user: { id: string; email?: string; name?: string };
  /** For `grant`/`revoke`: the person (or group) whose access to the vault changed. */
  subject?: { id: string; email?: string; name?: string; kind?: 'user' | 'group' };
  client?: { app?: string; version?: string; platform?: string; os?: string; ip?: string };
  location?: { country?: string; region?: string; city?: string };
}

/** What a normaliser returns: never a throw. */
export type NormalizeResult =
  | { kind: 'event'; event: UsageEvent }
  /** Bad input: counted and dead-lettered. */
  | { kind: 'rejected'; reason: string; id?: string }
  /** Not about an item (sign-ins, member changes): item rules skip it quietly. */
  | { kind: 'skipped'; reason: string; id?: string };

/** "The user" wherever a policy names it: the actor's email when known, else their id. */
export function userKey(event: UsageEvent): string {
  return event.user.email ?? event.user.id;
}
