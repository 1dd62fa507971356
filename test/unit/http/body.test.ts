import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { locateJsonError, parseBody, parseJson, parseNdjson } from '../../../src/http/body.ts';

describe('parseJson', () => {
  it('an array is a list of records; any other value is one record', () => {
    expect(parseJson('[{"a":1},{"b":2}]')).toEqual({ ok: true, records: [{ a: 1 }, { b: 2 }] });
    expect(parseJson(' {"a":1} ')).toEqual({ ok: true, records: [{ a: 1 }] });
    expect(parseJson('42')).toEqual({ ok: true, records: [42] });
  });

  it('a UTF-8 byte order mark is ignored', () => {
    expect(parseBody(Buffer.from('\uFEFF{"a":1}'), 'json')).toEqual({ ok: true, records: [{ a: 1 }] });
  });

  it('says where parsing failed, never quoting the body', () => {
    const res = parseJson('{"password": "hunter2", oops}');
    expect(res).toEqual({ ok: false, message: "invalid JSON at position 24: unexpected character 'o', expected a property name in double quotes" });
  });
});

describe('parseNdjson', () => {
  it('skips blank lines and numbers lines from 1', () => {
    expect(parseNdjson('{"a":1}\n\n  \n{"b":2}\n')).toEqual({ ok: true, records: [{ a: 1 }, { b: 2 }] });
    expect(parseNdjson('{"a":1}\n\n{"b":}\n')).toEqual({ ok: false, message: "line 3: invalid JSON at column 6: unexpected character '}', expected a JSON value" });
  });
});

describe('locateJsonError', () => {
  it.each([
    ['', 0, 'unexpected end of input, expected a JSON value'],
    ['{', 1, 'unexpected end of input, expected a property name in double quotes'],
    ['{"a" 1}', 5, "unexpected character '1', expected ':'"],
    ['[1,]', 3, "unexpected character ']', expected a JSON value"],
    ['[1 2]', 3, "unexpected character '2', expected ',' or ']'"],
    ['{"a":1,}', 7, "unexpected character '}', expected a property name in double quotes"],
    ['"abc', 4, 'unterminated string'],
    ['"a\tb"', 2, "unexpected character '\\u0009', expected a closing quote (control characters must be escaped)"],
    ['"\\x"', 2, "unexpected character 'x', expected an escape sequence"],
    ['"\\u12g4"', 5, "unexpected character 'g', expected 4 hex digits after \\u"],
    ['01', 1, "unexpected character '1' after the JSON value"],
    ['-', 1, 'unexpected end of input, expected a digit'],
    ['1.', 2, 'unexpected end of input, expected a digit'],
    ['1e+', 3, 'unexpected end of input, expected a digit'],
    ['tru', 3, 'unexpected end of input, expected "true"'],
    ['nul1', 3, "unexpected character '1', expected \"null\""],
    ["{'a':1}", 1, "unexpected character ''', expected a property name in double quotes"],
    ['{"a":1}}', 7, "unexpected character '}' after the JSON value"],
  ])('%j fails at %i: %s', (text, position, problem) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(locateJsonError(text)).toMatchObject({ position, problem });
  });

  it.each(['{}', '[]', ' {"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]} ', '"s"', '0', '[[[[]]]]'])('finds nothing wrong in %j', (text) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(locateJsonError(text)).toBeUndefined();
  });

  it('reports lines and columns', () => {
    expect(locateJsonError('{\n  "a": 1,\n  "b": ?\n}')).toMatchObject({ position: 19, line: 3, column: 8 });
  });

  it('deep nesting does not overflow the stack', () => {
    expect(locateJsonError(`${'['.repeat(200_000)}x`)).toMatchObject({ position: 200_000 });
  });

  it('agrees with JSON.parse on what is valid', () => {
    const piece = fc.constantFrom('{', '}', '[', ']', ',', ':', '"a"', '"', '\\', '1', '-', '.', 'e', '0', 'true', 'nul', ' ', '\n', 'x');
    const jsonish = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));
    fc.assert(fc.property(fc.oneof(jsonish, fc.json(), fc.string()), (text) => {
      let valid = true;
      try { JSON.parse(text); } catch { valid = false; }
      expect(locateJsonError(text) === undefined).toBe(valid);
    }), { numRuns: 3000 });
  });
});
