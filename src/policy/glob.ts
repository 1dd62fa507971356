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
      // A `]` right after `[` or `[!` is a member, not the end (`[]]`, `[!]]`): the class needs one.
      const negate = pattern[i + 1] === '!' || pattern[i + 1] === '^';
      const bodyStart = i + 1 + (negate ? 1 : 0);
      const close = pattern.indexOf(']', bodyStart + 1);
      if (close < 0) { out += '\\['; continue; }
      const body = pattern.slice(bodyStart, close);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else {
      out += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
    }
  }
  return out;
}

type Matcher = (lower: string, raw: string) => boolean;

/**
 * The common shapes (`prefix*`, `*suffix`, `*part*`) become string tests: an anchored `.*` regex
 * backtracks over the whole value, and these run on every event of a vault.
 */
function compileOne(pattern: string): Matcher {
  const lower = pattern.toLowerCase();
  const inner = lower.slice(1, -1);
  if (lower.length > 1 && lower.startsWith('*') && lower.endsWith('*') && !isGlob(inner)) return (v) => v.includes(inner);
  const head = lower.slice(0, -1);
  if (lower.endsWith('*') && !isGlob(head)) return (v) => v.startsWith(head);
  const tail = lower.slice(1);
  if (lower.startsWith('*') && !isGlob(tail)) return (v) => v.endsWith(tail);
  const re = new RegExp(`^${globToRegexSource(pattern)}$`, 'is');
  return (_, raw) => re.test(raw);
}

/** A set of patterns compiled once: exact names in a Set, globs as string tests or one regex each. */
export class GlobSet {
  private readonly exact = new Set<string>();
  private readonly matchers: Matcher[] = [];
  private readonly globPatterns: string[] = [];

  constructor(readonly patterns: readonly string[]) {
    for (const p of patterns) {
      if (isGlob(p)) {
        this.globPatterns.push(p);
        this.matchers.push(compileOne(p));
      } else {
        this.exact.add(p.toLowerCase());
      }
    }
  }

  matches(value: string | undefined): boolean {
    if (value === undefined) return false;
    const v = value.toLowerCase();
    if (this.exact.has(v)) return true;
    for (const m of this.matchers) if (m(v, value)) return true;
    return false;
  }

  /** Equality with a pattern that has no glob characters (ids are compared whole, never globbed). */
  equals(value: string | undefined): boolean {
    return value !== undefined && this.exact.has(value.toLowerCase());
  }

  /** The first pattern that matches, for reasons ("matches \"Company card*\""). */
  which(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const v = value.toLowerCase();
    for (const p of this.patterns) {
      if (isGlob(p) ? compileOne(p)(v, value) : p.toLowerCase() === v) return p;
    }
    return undefined;
  }
}
