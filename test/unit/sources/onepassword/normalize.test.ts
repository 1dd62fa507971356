import { describe, expect, it } from 'vitest';
import { normalizeOnePasswordItemUsage } from '../../../../src/sources/onepassword/normalize.ts';
import { ctx, eventOf, fixture } from '../fixtures.ts';

const normalize = (record: unknown) => normalizeOnePasswordItemUsage(record, ctx);

describe('normalizeOnePasswordItemUsage', () => {
  it('normalises a v1 record', () => {
    expect(normalize(fixture('onepassword', 'v1-reveal'))).toEqual({
      kind: 'event',
      event: {
        id: '56YE2TYN2VFYRLNSHKPW5NVT5E',
        source: 'onepassword',
        time: '2026-03-12T21:14:07.482-03:00',
        time_ms: Date.parse('2026-03-13T00:14:07.482Z'),
        received_at: ctx.receivedAt,
        action: 'reveal',
        vendor_action: 'reveal',
        vault: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4' },
        item: { id: 'wxcplh5udshnonkzuuqdkbpmle' },
        user: { id: '4HCGRGYCTRQFBMGVEGTABYDU2V', email: 'jo.tremblay@example.com', name: 'Jo Tremblay' },
        client: { app: '1Password Browser Extension', version: '20127', platform: 'Chrome', os: 'MacOSX', ip: '192.0.2.254' },
        location: { country: 'CA', region: 'Ontario', city: 'Toronto' },
      },
    });
  });

  it('normalises a v2 record (MSP fields have no canonical place and are dropped)', () => {
    const event = eventOf(normalize(fixture('onepassword', 'v2-secure-copy')));
    expect(event).toMatchObject({
      id: 'MKZ6UU3NQ5HCBOFC3KDXHNWXWA',
      time: '2026-03-13T02:05:44.918Z',
      action: 'copy',
      vendor_action: 'secure-copy',
      user: { id: 'PV2QYFZ5DVH3BDXOJMSC4JDQDE', email: 'sam.okafor@example.com', name: 'Sam Okafor' },
      location: { country: 'CA', region: 'Quebec', city: 'Montreal' },
    });
    expect(event.field).toBeUndefined();
    expect(JSON.stringify(event)).not.toContain('user_account_uuid');
  });

  it('leaves location out when the record has none', () => {
    const event = eventOf(normalize(fixture('onepassword', 'no-location')));
    expect(event.action).toBe('fill');
    expect(event).not.toHaveProperty('location');
  });

  it('maps a country name to its ISO code', () => {
    expect(eventOf(normalize(fixture('onepassword', 'country-name'))).location).toEqual({
      country: 'CA', region: 'British Columbia', city: 'Vancouver',
    });
  });

  it('reads an IPv4-mapped IPv6 address as the IPv4 address', () => {
    expect(eventOf(normalize(fixture('onepassword', 'ipv4-mapped'))).client?.ip).toBe('203.0.113.7');
  });

  it('keeps `other` and unknown actions as other with the vendor value', () => {
    expect(eventOf(normalize(fixture('onepassword', 'action-other')))).toMatchObject({ action: 'other', vendor_action: 'other' });
    expect(eventOf(normalize(fixture('onepassword', 'action-unknown')))).toMatchObject({ action: 'other', vendor_action: 'print' });
  });

  it.each([
    ['reveal', 'reveal'], ['secure-copy', 'copy'], ['fill', 'fill'], ['enter-item-edit-mode', 'edit'],
    ['server-update', 'edit'], ['server-create', 'create'], ['export', 'export'], ['share', 'share'],
    ['select-sso-provider', 'sso'], ['server-fetch', 'fetch'], ['other', 'other'], ['toString', 'other'],
    ['  Secure-Copy ', 'copy'],
  ])('maps action %j to %s', (vendor, action) => {
    const record = { ...fixture('onepassword', 'v1-reveal'), action: vendor };
    expect(eventOf(normalize(record))).toMatchObject({ action, vendor_action: vendor.trim() });
  });

  it('reads a missing action as other with an empty vendor_action', () => {
    const record = fixture('onepassword', 'v1-reveal');
    delete record['action'];
    expect(eventOf(normalize(record))).toMatchObject({ action: 'other', vendor_action: '' });
    expect(eventOf(normalize({ ...record, action: 42 }))).toMatchObject({ action: 'other', vendor_action: '' });
  });

  it('reads a Connect server-fetch as fetch', () => {
    expect(eventOf(normalize(fixture('onepassword', 'server-fetch-connect')))).toMatchObject({
      action: 'fetch',
      client: { app: '1Password Connect', version: '1070', platform: 'onepassword-desktop-app', os: 'linux', ip: '10.20.0.5' },
    });
  });

  it('skips a sign-in attempt record', () => {
    expect(normalize(fixture('onepassword', 'sign-in-attempt'))).toEqual({
      kind: 'skipped', reason: 'not an item usage (1Password sign-in attempt)', id: 'EKL3TZC6RRHMRJZZQHHK3B3SYU',
    });
  });

  it('trims strings and treats empty ones as absent', () => {
    const record = fixture('onepassword', 'v2-secure-copy');
    record['uuid'] = '  MKZ6UU3NQ5HCBOFC3KDXHNWXWA ';
    record['user'] = { uuid: ' U1 ', email: '', name: '  ' };
    record['client'] = { app_name: '', ip_address: ' 198.51.100.23 ', app_version: 1109 };
    record['location'] = { country: '', region: ' ', city: '' };
    const event = eventOf(normalize(record));
    expect(event.id).toBe('MKZ6UU3NQ5HCBOFC3KDXHNWXWA');
    expect(event.user).toEqual({ id: 'U1' });
    expect(event.client).toEqual({ ip: '198.51.100.23', version: '1109' });
    expect(event).not.toHaveProperty('location');
  });

  it('accepts absent or wrongly typed nested objects', () => {
    const record = { ...fixture('onepassword', 'v1-reveal'), client: 'browser', location: null };
    const event = eventOf(normalize(record));
    expect(event).not.toHaveProperty('client');
    expect(event).not.toHaveProperty('location');
  });

  it('uses the email as the user id when the uuid is missing', () => {
    const record = { ...fixture('onepassword', 'v1-reveal'), user: { email: 'jo@example.com' } };
    expect(eventOf(normalize(record)).user).toEqual({ id: 'jo@example.com', email: 'jo@example.com' });
  });

  it.each([
    [{ uuid: undefined }, 'uuid: missing', undefined],
    [{ uuid: '  ' }, 'uuid: missing', undefined],
    [{ uuid: 12 }, 'uuid: not a string', undefined],
    [{ timestamp: undefined }, 'timestamp: missing', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ timestamp: 'yesterday' }, 'timestamp: not a date', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ timestamp: '2026-02-30T10:00:00Z' }, 'timestamp: not a date', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ timestamp: 1710000000 }, 'timestamp: not a date', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ item_uuid: undefined }, 'item_uuid: missing', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ item_uuid: ['x'] }, 'item_uuid: not a string', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ vault_uuid: '' }, 'vault_uuid: missing', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ user: undefined }, 'user.uuid: missing', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
    [{ user: { uuid: 5 } }, 'user.uuid: not a string', '56YE2TYN2VFYRLNSHKPW5NVT5E'],
  ])('rejects %j with "%s"', (change, reason, id) => {
    const record: Record<string, unknown> = { ...fixture('onepassword', 'v1-reveal'), ...change };
    expect(normalize(record)).toEqual(id === undefined ? { kind: 'rejected', reason } : { kind: 'rejected', reason, id });
  });

  it.each([null, undefined, 'text', 42, [], [fixture('onepassword', 'v1-reveal')]])('rejects a non-object %j', (value) => {
    expect(normalize(value)).toEqual({ kind: 'rejected', reason: 'record: not an object' });
  });
});
