import { describe, expect, it } from 'vitest';
import { escapeHtml, escapeSlack, headerSafe, singleLine, truncate } from '../../../src/notifiers/escape.ts';

describe('escapeHtml', () => {
  it('escapes the five characters that matter in content and attributes', () => {
    expect(escapeHtml(`<script>alert(1)</script> & "x" 'y'`))
      .toBe('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;');
  });

  it('escapes an existing entity again rather than trusting it', () => {
    expect(escapeHtml('&lt;')).toBe('&amp;lt;');
  });
});

describe('escapeSlack', () => {
  it('neutralises mentions and links', () => {
    expect(escapeSlack('<!channel> <@U123> <https://evil|click>'))
      .toBe('&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|click&gt;');
  });

  it('escapes ampersand first and nothing else', () => {
    expect(escapeSlack('&lt; "q" \'a\' *b* _i_')).toBe('&amp;lt; "q" \'a\' *b* _i_');
  });
});

describe('headerSafe', () => {
  it('turns CR, LF, tabs, NUL and Unicode separators into single spaces', () => {
    expect(headerSafe('a\r\nBcc: x@evil.test\u0000\t\u2028b\u0085c')).toBe('a Bcc: x@evil.test b c');
  });

  it('drops bidi overrides that could disguise a subject', () => {
    expect(singleLine('card\u202Egpj.exe')).toBe('card gpj.exe');
  });

  it('limits length with an ellipsis', () => {
    const out = headerSafe('x'.repeat(500), 200);
    expect(out).toHaveLength(200);
    expect(out.endsWith('…')).toBe(true);
  });
});

describe('truncate', () => {
  it('leaves short text alone', () => {
    expect(truncate('abc', 3)).toBe('abc');
  });

  it('never splits a surrogate pair', () => {
    const out = truncate('ab😀cd', 4);
    expect(out).toBe('ab…');
    expect(out.length).toBeLessThanOrEqual(4);
  });
});
