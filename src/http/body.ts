/**
 * Ingest bodies -> records: one JSON value (an object or an array of records) or NDJSON (one record per
 * non-blank line). A body that does not parse is answered 400 with where parsing failed; the position
 * comes from our own scanner (run only on failure), so messages are the same on every Node version and
 * never quote the body (which may hold secrets).
 */

export type BodyFormat = 'json' | 'ndjson';

export type ParsedBody = { ok: true; records: unknown[] } | { ok: false; message: string };

const BOM = '\uFEFF';

function decode(body: Buffer): string {
  const text = body.toString('utf8');
  return text.startsWith(BOM) ? text.slice(1) : text;
}

export function parseBody(body: Buffer, format: BodyFormat): ParsedBody {
  return format === 'ndjson' ? parseNdjson(decode(body)) : parseJson(decode(body));
}

/** One JSON value: an array is a list of records, anything else is one record. */
export function parseJson(text: string): ParsedBody {
  if (text.trim() === '') return { ok: false, message: 'empty body: expected a JSON object or array' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const where = locateJsonError(text);
    if (where === undefined) return { ok: false, message: `invalid JSON: ${errorName(err)}` };
    const lineCol = text.includes('\n') ? ` (line ${where.line}, column ${where.column})` : '';
    const hint = where.trailing ? '; for one record per line send Content-Type: application/x-ndjson' : '';
    return { ok: false, message: `invalid JSON at position ${where.position}${lineCol}: ${where.problem}${hint}` };
  }
  return { ok: true, records: Array.isArray(value) ? value : [value] };
}

/** One record per non-blank line; lines are numbered from 1 as an editor shows them. */
export function parseNdjson(text: string): ParsedBody {
  const records: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line));
    } catch (err) {
      const where = locateJsonError(line);
      const detail = where === undefined ? errorName(err) : `column ${where.column}: ${where.problem}`;
      return { ok: false, message: `line ${i + 1}: invalid JSON at ${detail}` };
    }
  }
  return { ok: true, records };
}

function errorName(err: unknown): string {
  return err instanceof SyntaxError ? 'syntax error' : 'unreadable';
}

// ---------------------------------------------------------------------------------------------------
// Locating a JSON syntax error

export interface JsonErrorLocation {
  /** 0-based character offset, as JSON.parse counts. */
  position: number;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  problem: string;
  /** A complete value was followed by more data (often NDJSON sent as JSON). */
  trailing: boolean;
}

class Fail {
  constructor(readonly position: number, readonly problem: string, readonly trailing = false) {}
}

function describe(ch: string | undefined): string {
  if (ch === undefined) return 'unexpected end of input';
  const code = ch.charCodeAt(0);
  const shown = code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, '0')}` : ch;
  return `unexpected character '${shown}'`;
}

/** Iterative (an explicit stack), so deeply nested garbage cannot overflow the call stack. */
class JsonScanner {
  i = 0;
  constructor(readonly s: string) {}

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') break;
      this.i++;
    }
  }

  fail(expected?: string): never {
    const what = describe(this.s[this.i]);
    throw new Fail(this.i, expected === undefined ? what : `${what}, expected ${expected}`);
  }

  expect(ch: string, expected: string): void {
    if (this.s[this.i] !== ch) this.fail(expected);
    this.i++;
  }

  string(): void {
    const s = this.s;
    this.expect('"', 'a string');
    for (;;) {
      if (this.i >= s.length) throw new Fail(this.i, 'unterminated string');
      const c = s[this.i]!;
      if (c === '"') { this.i++; return; }
      if (c.charCodeAt(0) < 0x20) this.fail('a closing quote (control characters must be escaped)');
      if (c === '\\') {
        this.i++;
        const e = s[this.i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) {
            if (!/[0-9a-fA-F]/.test(s[this.i + k] ?? '')) { this.i += k; this.fail('4 hex digits after \\u'); }
          }
          this.i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          this.i++;
        } else {
          this.fail('an escape sequence');
        }
        continue;
      }
      this.i++;
    }
  }

  digits(): number {
    const start = this.i;
    while (this.i < this.s.length && this.s.charCodeAt(this.i) >= 48 && this.s.charCodeAt(this.i) <= 57) this.i++;
    return this.i - start;
  }

  number(): void {
    if (this.s[this.i] === '-') this.i++;
    if (this.s[this.i] === '0') this.i++;
    else if (this.digits() === 0) this.fail('a digit');
    if (this.s[this.i] === '.') {
      this.i++;
      if (this.digits() === 0) this.fail('a digit');
    }
    if (this.s[this.i] === 'e' || this.s[this.i] === 'E') {
      this.i++;
      if (this.s[this.i] === '+' || this.s[this.i] === '-') this.i++;
      if (this.digits() === 0) this.fail('a digit');
    }
  }

  literal(word: string): void {
    for (const ch of word) this.expect(ch, `"${word}"`);
  }

  scalar(): void {
    const c = this.s[this.i];
    if (c === '"') this.string();
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) this.number();
    else if (c === 't') this.literal('true');
    else if (c === 'f') this.literal('false');
    else if (c === 'n') this.literal('null');
    else this.fail('a JSON value');
  }

  key(): void {
    this.ws();
    if (this.s[this.i] !== '"') this.fail('a property name in double quotes');
    this.string();
    this.ws();
    this.expect(':', "':'");
  }

  run(): void {
    const stack: string[] = [];
    for (;;) {
      // A value.
      this.ws();
      const c = this.s[this.i];
      let closed = false;
      if (c === '{' || c === '[') {
        this.i++;
        this.ws();
        const close = c === '{' ? '}' : ']';
        if (this.s[this.i] === close) {
          this.i++;
          closed = true;
        } else {
          stack.push(close);
          if (c === '{') this.key();
          continue;
        }
      }
      if (!closed) this.scalar();
      // After a value: a separator, a closer, or the end.
      for (;;) {
        this.ws();
        const top = stack[stack.length - 1];
        if (top === undefined) {
          if (this.i < this.s.length) throw new Fail(this.i, `${describe(this.s[this.i])} after the JSON value`, true);
          return;
        }
        const d = this.s[this.i];
        if (d === top) {
          this.i++;
          stack.pop();
          continue;
        }
        if (d === ',') {
          this.i++;
          if (top === '}') this.key();
          break;
        }
        this.fail(`',' or '${top}'`);
      }
    }
  }
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = text.indexOf('\n'); k >= 0 && k < position; k = text.indexOf('\n', k + 1)) {
    line++;
    lineStart = k + 1;
  }
  return { line, column: position - lineStart + 1 };
}

/** Where the first syntax error of `text` is, or undefined when the scanner finds none. */
export function locateJsonError(text: string): JsonErrorLocation | undefined {
  try {
    new JsonScanner(text).run();
    return undefined;
  } catch (err) {
    if (!(err instanceof Fail)) return undefined;
    return { position: err.position, ...lineAndColumn(text, err.position), problem: err.problem, trailing: err.trailing };
  }
}
