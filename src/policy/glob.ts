/**
 * Whole-string, case-insensitive globs as policy-format.md defines them: `*` any run of characters
 * (slashes included), `?` one character, `[abc]` a class. Written here rather than taken from picomatch
 * because path-glob libraries treat `/`, braces and extglobs specially, and item titles are not paths.
 */
const GLOB_CHARS = /[*?[]/;

export function isGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

export function globToRegexSource(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      out += '.*';
    } else if (c === '?') {
      out += '.';
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) { out += '\\['; continue; }
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else {
      out += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
    }
  }
  return out;
}

/** A set of patterns compiled once: exact names in a Set, globs in one alternation. */
export class GlobSet {
  private readonly exact = new Set<string>();
  private readonly globs: string[] = [];
  private readonly re: RegExp | undefined;

  constructor(readonly patterns: readonly string[]) {
    for (const p of patterns) {
      if (isGlob(p)) this.globs.push(p);
      else this.exact.add(p.toLowerCase());
    }
    this.re = this.globs.length
      ? new RegExp(`^(?:${this.globs.map(globToRegexSource).join('|')})$`, 'is')
      : undefined;
  }

  matches(value: string | undefined): boolean {
    if (value === undefined) return false;
    const v = value.toLowerCase();
    return this.exact.has(v) || (this.re !== undefined && this.re.test(value));
  }

  /** The first pattern that matches, for reasons ("matches \"Company card*\""). */
  which(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const v = value.toLowerCase();
    for (const p of this.patterns) {
      if (isGlob(p) ? new RegExp(`^${globToRegexSource(p)}$`, 'is').test(value) : p.toLowerCase() === v) return p;
    }
    return undefined;
  }
}
