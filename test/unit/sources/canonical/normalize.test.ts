import { describe, expect, it } from 'vitest';
import { normalizeCanonical } from '../../../../src/sources/canonical/normalize.ts';
import { ctx, eventOf, fixture } from '../fixtures.ts';

const normalize = (record: unknown, c: { receivedAt: string; source?: string } = ctx) => normalizeCanonical(record, c);

describe('normalizeCanonical', () => {
  it('reads a full canonical record', () => {
    expect(normalize(fixture('canonical', 'full'))).toEqual({
      kind: 'event',
      event: {
        id: 'evt-2026-03-12-0001',
        source: 'webhook',
        time: '2026-03-12T21:14:07.482-03:00',
        time_ms: Date.parse('2026-03-13T00:14:07.482Z'),
        received_at: ctx.receivedAt,
        action: 'copy',
        vendor_action: 'secure-copy',
        field: 'password',
        vault: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4', name: 'Finance' },
        item: { id: 'wxcplh5udshnonkzuuqdkbpmle', title: 'Company card', type: 'credit_card', tags: ['card', 'finance'] },
        user: { id: '4HCGRGYCTRQFBMGVEGTABYDU2V', email: 'jo.tremblay@example.com', name: 'Jo Tremblay' },
        client: { app: '1Password for Mac', version: '81032013', platform: 'MacBookPro18,3', os: 'MacOSX', ip: '192.0.2.254' },
        location: { country: 'CA', region: 'Ontario', city: 'Toronto' },
      },
    });
  });

  it('reads a minimal record: vault as a string, user by email, defaults', () => {
    const event = eventOf(normalize(fixture('canonical', 'minimal')));
    expect(event).toEqual({
      id: 'evt-min-1',
      source: 'webhook',
      time: '2026-03-12T10:00:00Z',
      time_ms: Date.parse('2026-03-12T10:00:00Z'),
      received_at: ctx.receivedAt,
      action: 'reveal',
      vendor_action: 'reveal',
      vault: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4' },
      item: { id: 'wxcplh5udshnonkzuuqdkbpmle' },
      user: { id: 'sam.okafor@example.com', email: 'sam.okafor@example.com' },
    });
  });

  it('softens values outside the vocabularies', () => {
    const event = eventOf(normalize(fixture('canonical', 'custom-action')));
    expect(event).toMatchObject({
      action: 'other',
      vendor_action: 'printed',
      item: { id: 'srv-db-root', type: 'unknown' },
      time: '2026-03-12T10:00:00.250Z',
    });
    const withField = { ...fixture('canonical', 'minimal'), field: 'ssn' };
    expect(eventOf(normalize(withField))).not.toHaveProperty('field');
  });

  it('reads Connect and SDK item type spellings', () => {
    const record = fixture('canonical', 'minimal');
    expect(eventOf(normalize({ ...record, item: { id: 'x', type: 'CREDIT_CARD' } })).item.type).toBe('credit_card');
    expect(eventOf(normalize({ ...record, item: { id: 'x', type: 'ApiCredentials' } })).item.type).toBe('api_credential');
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'Constructor'])(
    'reads item type %j as unknown, never an inherited property', (type) => {
      const record = fixture('canonical', 'minimal');
      expect(eventOf(normalize({ ...record, item: { id: 'x', type } })).item.type).toBe('unknown');
    },
  );

  it('takes the source from the record, else the context, else webhook', () => {
    const record = fixture('canonical', 'minimal');
    expect(eventOf(normalize({ ...record, source: 'redis-stream' })).source).toBe('redis-stream');
    expect(eventOf(normalize(record, { ...ctx, source: 'replay' })).source).toBe('replay');
    expect(eventOf(normalize(record)).source).toBe('webhook');
  });

  it('recomputes time_ms and received_at instead of trusting the record', () => {
    const record = { ...fixture('canonical', 'minimal'), time_ms: 1, received_at: '1999-01-01T00:00:00Z' };
    const event = eventOf(normalize(record));
    expect(event.time_ms).toBe(Date.parse('2026-03-12T10:00:00Z'));
    expect(event.received_at).toBe(ctx.receivedAt);
  });

  it('reads null and empty strings as absent, and a missing action as other', () => {
    const record = {
      ...fixture('canonical', 'minimal'),
      action: null, field: null, client: { app: '', ip: null }, location: null,
      item: { id: 'i', title: ' ', tags: ['a', ' ', ' b '] },
    };
    const event = eventOf(normalize(record));
    expect(event).toMatchObject({ action: 'other', vendor_action: '', item: { id: 'i', tags: ['a', 'b'] } });
    expect(event.item).not.toHaveProperty('title');
    expect(event).not.toHaveProperty('client');
    expect(event).not.toHaveProperty('location');
  });

  it('reads a numeric vendor_action and version as text', () => {
    const record = { ...fixture('canonical', 'minimal'), vendor_action: 1113, client: { version: 1109 } };
    expect(eventOf(normalize(record))).toMatchObject({ vendor_action: '1113', client: { version: '1109' } });
  });

  it.each([
    [{ id: undefined }, 'id: missing', undefined],
    [{ id: '' }, 'id: missing', undefined],
    [{ id: 7 }, 'id: not a string', undefined],
    [{ time: undefined }, 'time: missing', 'evt-min-1'],
    [{ time: '2026-02-30T10:00:00Z' }, 'time: not a date', 'evt-min-1'],
    [{ time: 1710000000000 }, 'time: not a date', 'evt-min-1'],
    [{ item: undefined }, 'item: missing', 'evt-min-1'],
    [{ item: 'x' }, 'item: not an object', 'evt-min-1'],
    [{ item: {} }, 'item.id: missing', 'evt-min-1'],
    [{ item: { id: 'x', title: 5 } }, 'item.title: not a string', 'evt-min-1'],
    [{ item: { id: 'x', type: ['login'] } }, 'item.type: not a string', 'evt-min-1'],
    [{ item: { id: 'x', tags: 'card' } }, 'item.tags: not a list of strings', 'evt-min-1'],
    [{ item: { id: 'x', tags: ['card', 1] } }, 'item.tags: not a list of strings', 'evt-min-1'],
    [{ vault: undefined }, 'vault.id: missing', 'evt-min-1'],
    [{ vault: ' ' }, 'vault.id: missing', 'evt-min-1'],
    [{ vault: 5 }, 'vault: not an object', 'evt-min-1'],
    [{ vault: {} }, 'vault.id: missing', 'evt-min-1'],
    [{ vault: { id: 'v', name: false } }, 'vault.name: not a string', 'evt-min-1'],
    [{ user: undefined }, 'user.id: missing', 'evt-min-1'],
    [{ user: {} }, 'user.id: missing (give user.id or user.email)', 'evt-min-1'],
    [{ user: { id: 3 } }, 'user.id: not a string', 'evt-min-1'],
    [{ user: { id: 'u', email: {} } }, 'user.email: not a string', 'evt-min-1'],
    [{ user: [] }, 'user: not an object', 'evt-min-1'],
    [{ action: 5 }, 'action: not a string', 'evt-min-1'],
    [{ vendor_action: {} }, 'vendor_action: not a string', 'evt-min-1'],
    [{ field: 1 }, 'field: not a string', 'evt-min-1'],
    [{ source: 1 }, 'source: not a string', 'evt-min-1'],
    [{ client: 'mac' }, 'client: not an object', 'evt-min-1'],
    [{ client: { ip: 10 } }, 'client.ip: not a string', 'evt-min-1'],
    [{ location: [] }, 'location: not an object', 'evt-min-1'],
    [{ location: { country: 124 } }, 'location.country: not a string', 'evt-min-1'],
  ])('rejects %j with "%s"', (change, reason, id) => {
    const record: Record<string, unknown> = { ...fixture('canonical', 'minimal'), ...change };
    expect(normalize(record)).toEqual(id === undefined ? { kind: 'rejected', reason } : { kind: 'rejected', reason, id });
  });
});
