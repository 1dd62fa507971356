import { describe, expect, it } from 'vitest';
import type { Action, Field } from '../../../../src/domain/actions.ts';
import {
  type BitwardenNormalizeContext, bitwardenDeviceName, normalizeBitwardenEvent,
} from '../../../../src/sources/bitwarden/normalize.ts';
import { ctx, eventOf, fixture, fixtureList } from '../fixtures.ts';

type Rec = Record<string, unknown>;

const members = new Map([['a1b2c3d4-0000-4111-8222-333344445555', { email: 'jo.tremblay@example.com', name: 'Jo Tremblay' }]]);
const fullCtx: BitwardenNormalizeContext = {
  ...ctx,
  organizationId: '6f1e2d3c-4b5a-4968-8776-655443322110',
  members: (userId) => members.get(userId),
  itemVault: (itemId) => (itemId === '9d8c7b6a-5f4e-4d3c-8b2a-190817161514' ? 'finance-collection' : undefined),
};

const normalize = (record: unknown, c: BitwardenNormalizeContext = fullCtx) => normalizeBitwardenEvent(record, c);

/** events.md "Canonical actions" (Bitwarden column) and "Bitwarden field per code". */
const EXPECTED: Record<number, [Action, Field?]> = {
  1100: ['create'], 1101: ['edit'], 1102: ['delete'], 1105: ['share'], 1106: ['edit'], 1107: ['view'],
  1108: ['reveal', 'password'], 1109: ['reveal', 'hidden_field'], 1110: ['reveal', 'card_code'],
  1111: ['copy', 'password'], 1112: ['copy', 'hidden_field'], 1113: ['copy', 'card_code'], 1114: ['fill'],
  1115: ['delete'], 1117: ['reveal', 'card_number'], 1118: ['reveal', 'totp'],
  1119: ['copy', 'bank_account_number'], 1120: ['copy', 'pin'], 1121: ['reveal', 'bank_account_number'],
  1122: ['reveal', 'pin'], 1123: ['copy', 'license_number'], 1124: ['reveal', 'license_number'],
  1125: ['copy', 'passport_number'], 1126: ['reveal', 'passport_number'], 1127: ['copy', 'swift_code'],
  1128: ['reveal', 'swift_code'], 1129: ['copy', 'iban'], 1130: ['reveal', 'iban'], 1131: ['copy', 'national_id'],
  1132: ['reveal', 'national_id'],
};

describe('normalizeBitwardenEvent', () => {
  const codes = fixtureList('bitwarden', 'item-codes');

  it('has a fixture for every item code in the table', () => {
    expect(codes.map((r) => r['type']).sort()).toEqual(Object.keys(EXPECTED).map(Number).sort());
  });

  it.each(codes.map((r) => [r['type'] as number, r] as const))('maps code %i', (code, record) => {
    const event = eventOf(normalize(record));
    const [action, field] = EXPECTED[code]!;
    expect(event.action).toBe(action);
    expect(event.field).toBe(field);
    expect(event.vendor_action).toBe(String(code));
    expect(event.source).toBe('bitwarden');
  });

  it('normalises a full record', () => {
    const record = codes.find((r) => r['type'] === 1113)!;
    const event = eventOf(normalize(record));
    expect(event).toEqual({
      id: expect.stringMatching(/^bw_[A-Za-z0-9_-]{26}$/),
      source: 'bitwarden',
      time: record['date'],
      time_ms: Date.parse((record['date'] as string).slice(0, 23) + 'Z'),
      received_at: ctx.receivedAt,
      action: 'copy',
      vendor_action: '1113',
      field: 'card_code',
      vault: { id: 'c0ffee00-1111-4222-8333-444455556666' },
      item: { id: '3f2a1c9e-6b1d-4c3e-9f0a-1b2c3d4e5f60' },
      user: { id: 'a1b2c3d4-0000-4111-8222-333344445555', email: 'jo.tremblay@example.com', name: 'Jo Tremblay' },
      client: { app: bitwardenDeviceName(record['device'] as number), ip: '198.51.100.23' },
    });
  });

  it('reads a zone-less date with 7 fractional digits as UTC', () => {
    const event = eventOf(normalize(fixture('bitwarden', 'zoneless-date')));
    expect(event.time).toBe('2026-03-12T23:59:59.999Z');
    expect(event.time_ms).toBe(Date.parse('2026-03-12T23:59:59.999Z'));
    expect(event.client?.app).toBe('Chrome extension');
  });

  it('keeps a date that carries an offset as given', () => {
    const record = { ...fixture('bitwarden', 'zoneless-date'), date: '2026-03-12T23:59:59.9999999+01:00' };
    expect(eventOf(normalize(record)).time).toBe('2026-03-12T23:59:59.9999999+01:00');
  });

  it('skips non-item events quietly', () => {
    expect(normalize(fixture('bitwarden', 'sign-in'))).toEqual({
      kind: 'skipped', reason: 'not an item event (type 1000)', id: expect.stringMatching(/^bw_/),
    });
    expect(normalize(fixture('bitwarden', 'member-invited'))).toMatchObject({ kind: 'skipped', reason: 'not an item event (type 1500)' });
    const noItem = { ...fixture('bitwarden', 'zoneless-date'), itemId: null };
    expect(normalize(noItem)).toMatchObject({ kind: 'skipped', reason: 'not an item event (type 1111 without itemId)' });
  });

  it('reads unknown item codes as other, and unknown devices by number', () => {
    const event = eventOf(normalize(fixture('bitwarden', 'unknown-item-code')));
    expect(event).toMatchObject({ action: 'other', vendor_action: '1140', client: { app: 'device 99' } });
    expect(event.field).toBeUndefined();
  });

  it('names devices from the DeviceType enum', () => {
    expect(bitwardenDeviceName(0)).toBe('Android');
    expect(bitwardenDeviceName(2)).toBe('Chrome extension');
    expect(bitwardenDeviceName(7)).toBe('macOS desktop');
    expect(bitwardenDeviceName(25)).toBe('Linux CLI');
    expect(bitwardenDeviceName(-1)).toBe('device -1');
  });

  it('rejects a record without actingUserId, with its id', () => {
    expect(normalize(fixture('bitwarden', 'no-acting-user'))).toEqual({
      kind: 'rejected', reason: 'actingUserId: missing', id: expect.stringMatching(/^bw_/),
    });
  });

  describe('vault', () => {
    const record = fixture('bitwarden', 'no-collection');

    it('is the collection when the record has one', () => {
      expect(eventOf(normalize({ ...record, collectionId: 'col-1' })).vault).toEqual({ id: 'col-1' });
    });

    it("falls back to the catalog's vault for the item", () => {
      expect(eventOf(normalize(record)).vault).toEqual({ id: 'finance-collection' });
    });

    it('falls back to the organization when the item is not in the catalog', () => {
      const other = { ...record, itemId: 'not-in-catalog' };
      expect(eventOf(normalize(other)).vault).toEqual({ id: 'org:6f1e2d3c-4b5a-4968-8776-655443322110' });
    });

    it('rejects when nothing names the vault', () => {
      expect(normalize(record, ctx)).toEqual({
        kind: 'rejected',
        reason: "no vault: record has no collectionId and the item's vault is unknown",
        id: expect.stringMatching(/^bw_/),
      });
    });

    it('survives lookups that throw', () => {
      const throwing: BitwardenNormalizeContext = {
        ...ctx,
        organizationId: 'org-9',
        members: () => { throw new Error('directory down'); },
        itemVault: () => { throw new Error('catalog down'); },
      };
      const event = eventOf(normalize(record, throwing));
      expect(event.vault).toEqual({ id: 'org:org-9' });
      expect(event.user).toEqual({ id: 'a1b2c3d4-0000-4111-8222-333344445555' });
    });
  });

  describe('id', () => {
    const record = fixture('bitwarden', 'zoneless-date');
    const id = eventOf(normalize(record)).id;

    it('is bw_ and 26 base64url characters', () => {
      expect(id).toMatch(/^bw_[A-Za-z0-9_-]{26}$/);
    });

    it('does not depend on key order', () => {
      const reversed = Object.fromEntries(Object.entries(record).reverse());
      expect(eventOf(normalize(reversed)).id).toBe(id);
    });

    it('does not depend on number spelling', () => {
      const text = JSON.stringify(record).replace('"type":1111', '"type":1111.0').replace('"device":2', '"device":2.00');
      expect(text).toContain('1111.0');
      expect(eventOf(normalize(JSON.parse(text))).id).toBe(id);
    });

    it('does not depend on the `object` marker or null-valued keys', () => {
      const stripped = Object.fromEntries(Object.entries(record).filter(([k, v]) => k !== 'object' && v !== null));
      expect(eventOf(normalize(stripped)).id).toBe(id);
    });

    it('changes when a field changes', () => {
      expect(eventOf(normalize({ ...record, ipAddress: '198.51.100.24' })).id).not.toBe(id);
      expect(eventOf(normalize({ ...record, date: '2026-03-12T23:59:59.9999998' })).id).not.toBe(id);
      expect(eventOf(normalize({ ...record, type: 1108 })).id).not.toBe(id);
    });

    it('does not depend on the context', () => {
      expect(eventOf(normalize(record, { ...ctx, organizationId: 'x' })).id).toBe(id);
    });
  });

  it.each([
    [{ type: undefined }, 'type: missing'],
    [{ type: '1107' }, 'type: not an event code'],
    [{ type: 1107.5 }, 'type: not an event code'],
    [{ date: undefined }, 'date: missing'],
    [{ date: '2026-02-30T10:00:00' }, 'date: not a date'],
    [{ actingUserId: 7 }, 'actingUserId: not a string'],
  ])('rejects %j with "%s"', (change, reason) => {
    const record = { ...fixture('bitwarden', 'zoneless-date'), ...change };
    expect(normalize(record)).toEqual({ kind: 'rejected', reason, id: expect.stringMatching(/^bw_/) });
  });

  it.each([null, 'x', 1107, []])('rejects a non-object %j', (value) => {
    expect(normalize(value)).toEqual({ kind: 'rejected', reason: 'record: not an object' });
  });

  it('reads the client ip and device only when given', () => {
    const record = { ...fixture('bitwarden', 'zoneless-date'), device: null, ipAddress: '::ffff:203.0.113.7' };
    expect(eventOf(normalize(record)).client).toEqual({ ip: '203.0.113.7' });
    const none = { ...record, ipAddress: null };
    expect(eventOf(normalize(none))).not.toHaveProperty('client');
  });
});
