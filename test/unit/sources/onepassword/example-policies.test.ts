/**
 * The shipped example configuration (config/) and the 1Password events the poller brings in:
 * vault access changes alert the vault's managers, and the daemon's own Connect lookups
 * (`server-fetch` from "1Password Connect") are stored but alert no one.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRuntime } from '../../../../src/app/load-runtime.ts';
import type { UsageEvent } from '../../../../src/domain/usage-event.ts';
import { normalizeOnePasswordAuditEvent } from '../../../../src/sources/onepassword/audit-normalize.ts';
import { normalizeOnePasswordItemUsage } from '../../../../src/sources/onepassword/normalize.ts';
import { ctx, eventOf, fixture } from '../fixtures.ts';

const CONFIG = fileURLToPath(new URL('../../../../config/vaultwatch.yaml', import.meta.url));
const rt = loadRuntime(CONFIG, {});
const rulesFor = (e: UsageEvent) => rt.policies.match(rt.catalog.enrich(e)).map((r) => r.name);

const FINANCE = '4ld2xeydmjgx2h3xwbdqkqmtx4';
const IT_ADMIN = 'q6zhmk3sxyi4zk5l7mjqbuyv2e';
const ADMIN_PORTAL = '7yp4ve3tqkzmbclw6x4q2w7dhi';
/** Weekday office hours in London, so schedule rules are out of the picture for the non-fetch check. */
const SAT_NIGHT = '2026-03-14T02:14:00Z';

function connectFetch(vault: string, item: string, timestamp = SAT_NIGHT): UsageEvent {
  return eventOf(normalizeOnePasswordItemUsage({ ...fixture('onepassword', 'server-fetch-connect'), vault_uuid: vault, item_uuid: item, timestamp }, ctx));
}

describe('the example configuration', () => {
  it('loads', () => {
    expect(rt.issues).toEqual([]);
  });

  it('a vault access change in Finance alerts "Access to the Finance vault changed" (high), grant and revoke alike', () => {
    const grant = eventOf(normalizeOnePasswordAuditEvent(fixture('onepassword', 'audit-grant-uva'), ctx));
    const revoke = eventOf(normalizeOnePasswordAuditEvent(fixture('onepassword', 'audit-revoke-gva-v1'), ctx));
    for (const e of [grant, revoke]) {
      expect(rulesFor(e)).toEqual(['Access to the Finance vault changed']);
      expect(rt.policies.match(e)[0]!.severity).toBe('high');
    }
  });

  it('the same change in a vault whose policy has no such rule alerts no one', () => {
    const grant = eventOf(normalizeOnePasswordAuditEvent({ ...fixture('onepassword', 'audit-grant-uva'), object_uuid: IT_ADMIN }, ctx));
    expect(rulesFor(grant)).toEqual([]);
  });

  it('the Connect client\'s server-fetch of any Finance item (even out of hours) alerts no one', () => {
    const items = Object.entries(rt.loaded.catalog?.value?.items ?? {}).filter(([, i]) => i.vault === FINANCE).map(([id]) => id);
    expect(items.length).toBeGreaterThan(3);
    for (const item of items) expect(rulesFor(connectFetch(FINANCE, item)), item).toEqual([]);
    // Five in ten minutes is not a "burst of copies" either.
    expect(rulesFor(connectFetch(FINANCE, items[0]!))).toEqual([]);
  });

  it('the Connect client\'s server-fetch of the IT Admin portal alerts no one', () => {
    expect(rulesFor(connectFetch(IT_ADMIN, ADMIN_PORTAL))).toEqual([]);
  });

  it('a person\'s reveal of the same items still alerts (the exclusion is by action, not by item)', () => {
    const reveal = eventOf(normalizeOnePasswordItemUsage({ ...fixture('onepassword', 'v1-reveal'), timestamp: SAT_NIGHT }, ctx));
    expect(rulesFor(reveal)).toContain('Company card used');
  });
});
