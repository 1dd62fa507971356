/**
 * Splits a recorded-events file into records with their physical line numbers: JSON Lines (one record
 * a line, blank lines ignored) or a JSON array (each element with the line it starts on).
 */
export interface RawLine {
  line: number;
  /** The record's JSON text. */
  text: string;
}

export type ParsedRecord = { line: number; record: unknown } | { line: number; error: string };

export function parseRecord(raw: RawLine): ParsedRecord {
  try {
    return { line: raw.line, record: JSON.parse(raw.text) };
  } catch (err) {
    return { line: raw.line, error: `not JSON: ${(err as Error).message}` };
  }
}

/** Lines of a JSONL stream; `chunks` may split lines anywhere. */
export async function* jsonLines(chunks: AsyncIterable<string | Buffer>): AsyncGenerator<RawLine> {
  let rest = '';
  let line = 0;
  for await (const chunk of chunks) {
    const text = rest + chunk.toString();
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      line++;
      const l = text.slice(start, nl);
      if (l.trim() !== '') yield { line, text: l };
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.trim() !== '') yield { line: line + 1, text: rest };
}

/**
 * Elements of a top-level JSON array with the line each starts on. A scanner (string- and
 * depth-aware) rather than JSON.parse on the whole, because JSON.parse keeps no positions.
 * Returns an error record for a truncated array.
 */
export function* jsonArrayElements(text: string): Generator<RawLine | { line: number; error: string }> {
  let i = text.indexOf('[');
  let line = 1 + countNewlines(text, 0, i);
  let depth = 0;
  let inString = false;
  let start = -1;
  let startLine = line;
  for (i = i + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) { inString = true; if (start < 0) { start = i; startLine = line; } continue; }
    if (c === 123 || c === 91) { if (start < 0) { start = i; startLine = line; } depth++; continue; }
    if (c === 125 || c === 93) {
      if (depth === 0 && c === 93) {
        if (start >= 0) yield { line: startLine, text: text.slice(start, i) };
        // Anything but white space after the array (a second array, a stray record) is a bad line.
        const rest = text.slice(i + 1);
        const extra = rest.search(/\S/);
        if (extra >= 0) yield { line: line + countNewlines(rest, 0, extra), error: 'unexpected content after the JSON array' };
        return;
      }
      depth--;
      continue;
    }
    if (c === 44 && depth === 0) {
      if (start >= 0) yield { line: startLine, text: text.slice(start, i) };
      start = -1;
      continue;
    }
    if (start < 0 && c !== 32 && c !== 9 && c !== 10 && c !== 13) { start = i; startLine = line; }
  }
  yield { line: startLine, error: 'unterminated JSON array' };
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}
