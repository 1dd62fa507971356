import { describe, expect, it } from 'vitest';
import { normalizeRecord, recognizeRecord } from '../../../src/sources/recognize.ts';
import { ctx, eventOf, fixture } from './fixtures.ts';

describe('recognizeRecord', () => {
  it.each([
    ['onepassword', 'v1-reveal'], ['onepassword', 'v2-secure-copy'], ['onepassword', 'no-location'],
    ['onepassword', 'sign-in-attempt'], ['bitwarden', 'zoneless-date'], ['bitwarden', 'sign-in'],
    ['bitwarden', 'no-acting-user'], ['canonical', 'full'], ['canonical', 'minimal'],
  ] as const)('recognises %s fixture %s', (kind, name) => {
    expect(recognizeRecord(fixture(kind, name))).toBe(kind);
  });

  it('recognises a Bitwarden event without the object marker', () => {
    const { object: _, ...record } = fixture('bitwarden', 'zoneless-date');
    expect(recognizeRecord(record)).toBe('bitwarden');
  });

  it('recognises by keys, so bad values still reach their normaliser', () => {
    expect(recognizeRecord({ ...fixture('onepassword', 'v1-reveal'), timestamp: 'soon' })).toBe('onepassword');
    expect(recognizeRecord({ ...fixture('canonical', 'minimal'), time: 12 })).toBe('canonical');
  });

  it.each([null, 1, 'x', [], {}, { time: 'x', action: 'reveal', item: 'not an object' }, { type: '1107', date: 'x' }])(
    'recognises nothing in %j', (value) => {
      expect(recognizeRecord(value)).toBeUndefined();
    },
  );
});

describe('normalizeRecord', () => {
  it('dispatches each shape to its normaliser', () => {
    expect(eventOf(normalizeRecord(fixture('onepassword', 'v2-secure-copy'), ctx)).source).toBe('onepassword');
    expect(eventOf(normalizeRecord(fixture('bitwarden', 'zoneless-date'), { ...ctx, organizationId: 'o' })).source).toBe('bitwarden');
    expect(eventOf(normalizeRecord(fixture('canonical', 'minimal'), ctx)).source).toBe('webhook');
  });

  it('passes the Bitwarden lookups through', () => {
    const result = normalizeRecord(fixture('bitwarden', 'no-collection'), {
      ...ctx,
      itemVault: () => 'vault-from-catalog',
      members: () => ({ email: 'jo@example.com' }),
    });
    expect(eventOf(result)).toMatchObject({ vault: { id: 'vault-from-catalog' }, user: { email: 'jo@example.com' } });
  });

  it('gives the precise reason of the recognised shape', () => {
    expect(normalizeRecord({ ...fixture('onepassword', 'v1-reveal'), timestamp: 'soon' }, ctx)).toEqual({
      kind: 'rejected', reason: 'timestamp: not a date', id: '56YE2TYN2VFYRLNSHKPW5NVT5E',
    });
    expect(normalizeRecord({ ...fixture('onepassword', 'v1-reveal'), timestamp: undefined }, ctx)).toEqual({
      kind: 'rejected', reason: 'timestamp: missing', id: '56YE2TYN2VFYRLNSHKPW5NVT5E',
    });
  });

  it('skips non-item vendor records', () => {
    expect(normalizeRecord(fixture('bitwarden', 'sign-in'), ctx).kind).toBe('skipped');
    expect(normalizeRecord(fixture('onepassword', 'sign-in-attempt'), ctx).kind).toBe('skipped');
  });

  it('rejects an unrecognised record naming the expected shapes and any id it carries', () => {
    const result = normalizeRecord({ id: 'abc', hello: 'world' }, ctx);
    expect(result).toMatchObject({ kind: 'rejected', id: 'abc' });
    const reason = result.kind === 'rejected' ? result.reason : '';
    expect(reason).toMatch(/^unrecognised record: expected/);
    for (const word of ['1Password', 'Bitwarden', 'canonical', 'item_uuid', 'date', 'item object']) expect(reason).toContain(word);
    expect(normalizeRecord('text', ctx)).toMatchObject({ kind: 'rejected', reason: expect.stringMatching(/^record: not an object/) });
  });

  it('reads every record as the forced kind', () => {
    const canonical = fixture('canonical', 'minimal');
    expect(normalizeRecord(canonical, { ...ctx, force: 'onepassword' })).toEqual({ kind: 'rejected', reason: 'uuid: missing' });
    expect(normalizeRecord(fixture('onepassword', 'v1-reveal'), { ...ctx, force: 'canonical' })).toEqual({
      kind: 'rejected', reason: 'id: missing',
    });
    expect(normalizeRecord({ type: 1107, date: '2026-01-01T00:00:00Z' }, { ...ctx, force: 'bitwarden' }).kind).toBe('skipped');
    expect(eventOf(normalizeRecord(canonical, { ...ctx, force: 'canonical' })).id).toBe('evt-min-1');
  });

  it('rejects an unknown forced kind instead of answering nothing', () => {
    const result = normalizeRecord(fixture('canonical', 'minimal'), { ...ctx, force: 'lastpass' as never });
    expect(result).toEqual({ kind: 'rejected', reason: 'force: unknown source "lastpass" (one of onepassword, bitwarden, canonical)' });
  });
});
