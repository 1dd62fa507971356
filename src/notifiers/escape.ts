/**
 * Escaping for the three places message text ends up: HTML bodies, Slack mrkdwn and mail headers.
 * Every user-controlled value (item titles, names, vault names, reasons) passes through one of these
 * on its way out; builders never interpolate a raw value into markup.
 */

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Safe in element content and in quoted attribute values alike, so callers need not think about which. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c] ?? c);
}

/**
 * Slack treats only `&`, `<` and `>` as control characters; mentions and links exist only inside
 * `<…>`, so escaping these three makes `<!channel>` or `<@U123>` inert. Anything else entity-encoded
 * would be shown literally (`&#39;`), hence nothing more. Ampersand first, or we would double-escape.
 */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * C0/C1 controls (CR, LF, tab, NUL, NEL…), Unicode line/paragraph separators and bidi overrides.
 * Line breaks are how header injection works; bidi overrides let a title display as something else.
 */
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Replaces control and layout-changing characters by spaces; collapses runs of whitespace; trims. */
export function singleLine(text: string): string {
  return text.replace(UNSAFE_CHARS, ' ').replace(/\s+/g, ' ').trim();
}

/** Default cap well under RFC 5322's 998-octet line limit, leaving room for the header name and encoding. */
export const HEADER_MAX = 900;

/** For anything that becomes a mail header value: one line, no controls, bounded length. */
export function headerSafe(text: string, max: number = HEADER_MAX): string {
  return truncate(singleLine(text), max);
}

/**
 * Cuts to at most `max` UTF-16 units, ending with `ellipsis` when anything was cut. Never splits a
 * surrogate pair (a half emoji is an invalid string for some APIs).
 */
export function truncate(text: string, max: number, ellipsis: string = '…'): string {
  if (text.length <= max) return text;
  if (max <= ellipsis.length) return ellipsis.slice(0, Math.max(0, max));
  let cut = max - ellipsis.length;
  if (isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
  return text.slice(0, cut).trimEnd() + ellipsis;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
