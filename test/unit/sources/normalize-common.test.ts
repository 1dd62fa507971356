import { describe, expect, it } from 'vitest';
import {
  getInteger, getNumber, getObject, getString, getText, isDottedQuad, normalizeCountry, normalizeIp, parseInstant,
  stableHash,
} from '../../../src/sources/normalize-common.ts';

describe('parseInstant', () => {
  it('keeps the offset as given and computes epoch ms', () => {
    expect(parseInstant('2026-03-12T21:14:07.482-03:00')).toEqual({
      iso: '2026-03-12T21:14:07.482-03:00',
      ms: Date.parse('2026-03-13T00:14:07.482Z'),
    });
    expect(parseInstant('2026-03-12T21:14:07Z')).toEqual({ iso: '2026-03-12T21:14:07Z', ms: Date.parse('2026-03-12T21:14:07Z') });
    expect(parseInstant('2026-03-12T21:14:07+05:30')?.ms).toBe(Date.parse('2026-03-12T15:44:07Z'));
  });

  it('reads a zone-less timestamp as UTC and writes the UTC ISO form', () => {
    expect(parseInstant('2026-03-12T21:14:07')).toEqual({ iso: '2026-03-12T21:14:07.000Z', ms: Date.parse('2026-03-12T21:14:07Z') });
    expect(parseInstant('2026-03-12T21:14:07.5')?.iso).toBe('2026-03-12T21:14:07.500Z');
    expect(parseInstant('2026-03-12T21:14:07.05')?.iso).toBe('2026-03-12T21:14:07.050Z');
  });

  it('accepts 7 fractional digits (Bitwarden), truncating to the millisecond', () => {
    expect(parseInstant('2026-03-12T23:59:59.9999999')).toEqual({
      iso: '2026-03-12T23:59:59.999Z',
      ms: Date.parse('2026-03-12T23:59:59.999Z'),
    });
    expect(parseInstant('2026-03-12T21:14:07.4823910Z')?.ms).toBe(Date.parse('2026-03-12T21:14:07.482Z'));
  });

  it('trims, and rewrites `t`, `z` and a space separator to the ISO spelling', () => {
    expect(parseInstant('  2026-03-12T21:14:07Z \n')?.iso).toBe('2026-03-12T21:14:07Z');
    expect(parseInstant('2026-03-12t21:14:07z')?.iso).toBe('2026-03-12T21:14:07Z');
    expect(parseInstant('2026-03-12 21:14:07+01:00')?.iso).toBe('2026-03-12T21:14:07+01:00');
  });

  it('validates the calendar', () => {
    expect(parseInstant('2026-02-30T10:00:00Z')).toBeUndefined();
    expect(parseInstant('2026-02-29T10:00:00Z')).toBeUndefined();
    expect(parseInstant('2028-02-29T10:00:00Z')?.iso).toBe('2028-02-29T10:00:00Z');
    expect(parseInstant('2100-02-29T10:00:00Z')).toBeUndefined();
    expect(parseInstant('2000-02-29T10:00:00Z')).toBeDefined();
    expect(parseInstant('2026-04-31T10:00:00Z')).toBeUndefined();
    expect(parseInstant('2026-13-01T10:00:00Z')).toBeUndefined();
    expect(parseInstant('2026-00-01T10:00:00Z')).toBeUndefined();
    expect(parseInstant('2026-01-00T10:00:00Z')).toBeUndefined();
    expect(parseInstant('2026-01-01T24:00:00Z')).toBeUndefined();
    expect(parseInstant('2026-01-01T10:60:00Z')).toBeUndefined();
    expect(parseInstant('2026-01-01T10:00:61Z')).toBeUndefined();
    expect(parseInstant('2026-01-01T10:00:00+24:00')).toBeUndefined();
  });

  it('counts a leap second as the end of second 59', () => {
    expect(parseInstant('2016-12-31T23:59:60Z')?.ms).toBe(Date.parse('2016-12-31T23:59:59.999Z'));
  });

  it('reads years before 100 as themselves, not 19xx', () => {
    expect(parseInstant('0050-01-01T00:00:00Z')?.ms).toBe(new Date('0050-01-01T00:00:00Z').getTime());
  });

  it.each([
    undefined, null, 0, 1710000000000, {}, [], true, '', 'yesterday', '2026-03-12', '2026-03-12T21:14Z',
    '2026-03-12T21:14:07.Z', '2026-03-12T21:14:07.1234567890Z', '2026-03-12T21:14:07+0100', '2026-03-12T21:14:07 Z',
    '2026-03-12T21:14:07Zjunk', '+02026-03-12T21:14:07Z', '2026/03/12T21:14:07Z', '２０２６-03-12T21:14:07Z',
    `2026-03-12T21:14:07.${'1'.repeat(100_000)}Z`,
  ])('rejects %j', (value) => {
    expect(parseInstant(value)).toBeUndefined();
  });
});

describe('normalizeIp', () => {
  it('keeps IPv4 as given', () => {
    expect(normalizeIp('203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeIp(' 0.0.0.0 ')).toBe('0.0.0.0');
    expect(normalizeIp('255.255.255.255')).toBe('255.255.255.255');
  });

  it('turns an IPv4-mapped IPv6 address into the IPv4 address', () => {
    expect(normalizeIp('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeIp('::FFFF:cb00:7107')).toBe('203.0.113.7');
    expect(normalizeIp('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('writes other IPv6 in RFC 5952 form', () => {
    expect(normalizeIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalizeIp('::1')).toBe('::1');
  });

  it('keeps legacy IPv4 spellings and non-addresses as text', () => {
    for (const text of ['127.1', '0x7f.0.0.1', '010.0.0.1', '2130706433', '256.1.1.1', '1.2.3.4.5', '1.2.3.',
      '::ffff:010.0.0.1', '::ffff:0x7f.0.0.1', '::ffff:127.1', 'unknown', 'not:an:address', '1::2::3', '-']) {
      expect(normalizeIp(text)).toBe(text);
    }
    expect(normalizeIp(' not an ip ')).toBe('not an ip');
    const huge = `::${'f'.repeat(200_000)}`;
    expect(normalizeIp(huge)).toBe(huge);
  });

  it('isDottedQuad is the strict four-part decimal form', () => {
    expect(isDottedQuad('1.2.3.4')).toBe(true);
    expect(isDottedQuad('01.2.3.4')).toBe(false);
    expect(isDottedQuad('1.2.3')).toBe(false);
    expect(isDottedQuad('1..3.4')).toBe(false);
    expect(isDottedQuad('1.2.3.4 ')).toBe(false);
    expect(isDottedQuad('1000.2.3.4')).toBe(false);
  });
});

describe('normalizeCountry', () => {
  it('maps English names and codes to ISO alpha-2', () => {
    expect(normalizeCountry('Canada')).toBe('CA');
    expect(normalizeCountry(' canada ')).toBe('CA');
    expect(normalizeCountry('ca')).toBe('CA');
    expect(normalizeCountry('CA')).toBe('CA');
    expect(normalizeCountry('CAN')).toBe('CA');
    expect(normalizeCountry('United States of America')).toBe('US');
    expect(normalizeCountry('United Kingdom')).toBe('GB');
    expect(normalizeCountry("Cote d'Ivoire")).toBe('CI');
  });

  it('keeps unmappable and ambiguous text as given', () => {
    expect(normalizeCountry('Atlantis')).toBe('Atlantis');
    expect(normalizeCountry('ZZ')).toBe('ZZ');
    expect(normalizeCountry('Congo')).toBe('Congo');
  });
});

describe('stableHash', () => {
  it('is 26 base64url characters', () => {
    expect(stableHash({ a: 1 })).toMatch(/^[A-Za-z0-9_-]{26}$/);
  });

  it('ignores key order at every level and number spelling', () => {
    const a = JSON.parse('{"type":1113,"nested":{"x":1.0,"y":[1,{"q":2.50,"p":"s"}]},"s":"t"}');
    const b = JSON.parse('{"s":"t","nested":{"y":[1,{"p":"s","q":2.5}],"x":1},"type":1113.0}');
    expect(stableHash(a)).toBe(stableHash(b));
  });

  it('treats a null-valued key as absent', () => {
    expect(stableHash({ a: 1, b: null })).toBe(stableHash({ a: 1 }));
  });

  it('changes with any value, and keeps array order', () => {
    expect(stableHash({ a: 1 })).not.toBe(stableHash({ a: 2 }));
    expect(stableHash({ a: '1' })).not.toBe(stableHash({ a: 1 }));
    expect(stableHash({ a: [1, 2] })).not.toBe(stableHash({ a: [2, 1] }));
    expect(stableHash({ a: 'x"y' })).not.toBe(stableHash({ a: 'x\\"y' }));
  });

  it('leaves out the omitted top-level key only', () => {
    expect(stableHash({ object: 'event', a: 1 }, 'object')).toBe(stableHash({ a: 1 }));
    expect(stableHash({ a: { object: 1 } }, 'object')).not.toBe(stableHash({ a: {} }));
  });

  it('does not confuse records of one shape after another (sorted-key cache)', () => {
    const first = stableHash({ b: 1, a: 2 });
    expect(stableHash({ b: 1, c: 2 })).not.toBe(first);
    expect(stableHash({ a: 2, b: 1 })).toBe(first);
    expect(stableHash({ b: 1, a: 2 })).toBe(first);
  });
});

describe('accessors', () => {
  const rec = { s: '  x ', e: '   ', n: 3, f: 1.5, inf: Number.POSITIVE_INFINITY, o: { k: 1 }, arr: [1], nul: null };

  it('read only the type asked for, trimmed, with empty strings absent', () => {
    expect(getString(rec, 's')).toBe('x');
    expect(getString(rec, 'e')).toBeUndefined();
    expect(getString(rec, 'n')).toBeUndefined();
    expect(getString(undefined, 's')).toBeUndefined();
    expect(getText(rec, 'n')).toBe('3');
    expect(getNumber(rec, 'f')).toBe(1.5);
    expect(getNumber(rec, 'inf')).toBeUndefined();
    expect(getInteger(rec, 'f')).toBeUndefined();
    expect(getInteger(rec, 'n')).toBe(3);
    expect(getObject(rec, 'o')).toEqual({ k: 1 });
    expect(getObject(rec, 'arr')).toBeUndefined();
    expect(getObject(rec, 'nul')).toBeUndefined();
  });

  it('never read inherited properties as values', () => {
    expect(getString({}, 'toString')).toBeUndefined();
    expect(getObject({}, 'constructor')).toBeUndefined();
  });
});
