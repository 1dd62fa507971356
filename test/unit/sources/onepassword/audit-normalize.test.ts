import { describe, expect, it } from 'vitest';
import { normalizeOnePasswordAuditEvent } from '../../../../src/sources/onepassword/audit-normalize.ts';
import { ctx, eventOf, fixture } from '../fixtures.ts';

const normalize = (record: unknown) => normalizeOnePasswordAuditEvent(record, ctx);

describe('normalizeOnePasswordAuditEvent', () => {
  it('a user given access to a vault (v2: grant on uva) reads as a grant of "vault access" with the person as subject', () => {
    expect(normalize(fixture('onepassword', 'audit-grant-uva'))).toEqual({
      kind: 'event',
      event: {
        id: 'EPNGEJLCGNGPZMMBTUAQ5GDRNY',
        source: 'onepassword',
        time: '2026-03-13T14:02:11.603-05:00',
        time_ms: Date.parse('2026-03-13T19:02:11.603Z'),
        received_at: ctx.receivedAt,
        action: 'grant',
        vendor_action: 'grant',
        vault: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4', name: 'Finance' },
        item: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4', title: 'vault access' },
        user: { id: '4HCGRGYCTRQFBMGVEGTABYDU2V', name: 'Jo Tremblay', email: 'jo.tremblay@example.com' },
        subject: { id: 'PV2QYFZ5DVH3BDXOJMSC4JDQDE', name: 'Sam Okafor', email: 'sam.okafor@example.com', kind: 'user' },
        client: { ip: '198.51.100.77' },
        location: { country: 'CA', region: 'Ontario', city: 'Ottawa' },
      },
    });
  });

  it('a group removed from a vault (v1: revoke on gva, ids only) reads as a revoke with a group subject', () => {
    const e = eventOf(normalize(fixture('onepassword', 'audit-revoke-gva-v1')));
    expect(e).toMatchObject({
      action: 'revoke', vendor_action: 'revoke',
      vault: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4' }, item: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4', title: 'vault access' },
      user: { id: '4HCGRGYCTRQFBMGVEGTABYDU2V' },
      subject: { id: 'YF4RRZ3RYNEH7OQZ6E4LZFYA3M', kind: 'group' },
    });
    expect(e.vault.name).toBeUndefined();
    expect(e.location).toBeUndefined();
  });

  it.each([
    ['create', 'vault'], ['grant', 'user'], ['revoke', 'item'], ['delete', 'uva'], ['enblmfa', 'user'], ['update', 'gva'], [undefined, undefined],
  ])('skips %s on %s (not a vault access change)', (action, objectType) => {
    const r = { ...fixture('onepassword', 'audit-grant-uva'), action, object_type: objectType };
    expect(normalize(r)).toMatchObject({ kind: 'skipped', id: 'EPNGEJLCGNGPZMMBTUAQ5GDRNY', reason: expect.stringContaining('not a vault access change') });
  });

  it('action and object type are read case-insensitively; vendor_action keeps the text', () => {
    const e = eventOf(normalize({ ...fixture('onepassword', 'audit-grant-uva'), action: 'GRANT', object_type: 'UVA' }));
    expect(e).toMatchObject({ action: 'grant', vendor_action: 'GRANT', subject: { kind: 'user' } });
  });

  it('rejects what cannot be an event: no uuid, bad time, no vault, no actor', () => {
    const base = fixture('onepassword', 'audit-grant-uva');
    expect(normalize({ ...base, uuid: undefined })).toEqual({ kind: 'rejected', reason: 'uuid: missing' });
    expect(normalize({ ...base, timestamp: 'yesterday' })).toMatchObject({ kind: 'rejected', reason: 'timestamp: not a date' });
    expect(normalize({ ...base, object_uuid: '' })).toMatchObject({ kind: 'rejected', reason: 'object_uuid: missing' });
    expect(normalize({ ...base, actor_uuid: undefined, actor_details: undefined })).toMatchObject({ kind: 'rejected', reason: 'actor_uuid: missing' });
    expect(normalize(null)).toEqual({ kind: 'rejected', reason: 'record: not an object' });
    expect(normalize([base])).toEqual({ kind: 'rejected', reason: 'record: not an object' });
  });

  it('keeps the change when the affected person is not named (a lesser gap)', () => {
    const e = eventOf(normalize({ ...fixture('onepassword', 'audit-grant-uva'), aux_uuid: undefined, aux_details: undefined }));
    expect(e.subject).toBeUndefined();
    expect(e.action).toBe('grant');
  });

  it('the actor falls back to actor_uuid when details are absent', () => {
    const e = eventOf(normalize({ ...fixture('onepassword', 'audit-grant-uva'), actor_details: undefined }));
    expect(e.user).toEqual({ id: '4HCGRGYCTRQFBMGVEGTABYDU2V' });
  });

  it('never throws, whatever the input', () => {
    const hostile = { get uuid(): string { throw new Error('boom'); } };
    expect(normalize(hostile)).toMatchObject({ kind: 'rejected', reason: expect.stringMatching(/^internal:/) });
    for (const v of [undefined, 1, 'x', true, {}, { uuid: 5 }, { uuid: 'A', action: 'grant', object_type: 'uva' }]) {
      expect(() => normalize(v)).not.toThrow();
    }
  });
});
