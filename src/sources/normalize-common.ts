/**
 * Helpers shared by the per-vendor normalisers. Everything here is pure and never throws: records come
 * from the network and may be any JSON value, so every reader takes `unknown` and answers `undefined`
 * for anything it cannot use.
 */
import { hash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { NormalizeResult } from '../domain/usage-event.ts';

export interface NormalizeContext {
  /** When this daemon received the record (ISO 8601, UTC); becomes `received_at`. */
  receivedAt: string;
  /** Source name for records that do not name one themselves (canonical records); vendors name themselves. */
  source?: string;
}

export type Rec = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------
// Typed accessors for unknown records

export function isRecord(value: unknown): value is Rec {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPrintableAscii(code: number): boolean {
  return code > 32 && code < 127;
}

/** A string, trimmed; empty strings and other types count as absent. */
export function asString(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  // Nearly every vendor string starts and ends with a visible ASCII character: no trim needed.
  const n = value.length;
  if (n > 0 && isPrintableAscii(value.charCodeAt(0)) && isPrintableAscii(value.charCodeAt(n - 1))) return value;
  const t = value.trim();
  return t === '' ? undefined : t;
}

/** A string field, trimmed; empty strings and other types count as absent. */
export function getString(obj: Rec | undefined, key: string): string | undefined {
  return obj === undefined ? undefined : asString(obj[key]);
}

/** A string field that vendors sometimes send as a number (build numbers): both read as text. */
export function getText(obj: Rec | undefined, key: string): string | undefined {
  if (obj === undefined) return undefined;
  const v = obj[key];
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  return getString(obj, key);
}

/** A finite number field. */
export function getNumber(obj: Rec | undefined, key: string): number | undefined {
  if (obj === undefined) return undefined;
  const v = obj[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** An integer field (event codes, enums). */
export function getInteger(obj: Rec | undefined, key: string): number | undefined {
  const v = getNumber(obj, key);
  return v !== undefined && Number.isInteger(v) ? v : undefined;
}

/** A nested object field (not null, not an array). */
export function getObject(obj: Rec | undefined, key: string): Rec | undefined {
  if (obj === undefined) return undefined;
  const v = obj[key];
  return isRecord(v) ? v : undefined;
}

/** True when the key holds anything but undefined/null: recognition looks at presence, not validity. */
export function has(obj: Rec, key: string): boolean {
  const v = obj[key];
  return v !== undefined && v !== null;
}

/**
 * Why a required string field could not be read. Only called on the failure path, so the hot path
 * never builds reason strings.
 */
export function stringFieldProblem(obj: Rec | undefined, key: string, path: string): string {
  const v = obj === undefined ? undefined : obj[key];
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return `${path}: missing`;
  return `${path}: not a string`;
}

/** Why a required timestamp field could not be read. */
export function timeFieldProblem(obj: Rec, key: string): string {
  const v = obj[key];
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return `${key}: missing`;
  return `${key}: not a date`;
}

export function rejected(reason: string, id?: string): NormalizeResult {
  return id === undefined ? { kind: 'rejected', reason } : { kind: 'rejected', reason, id };
}

export function skipped(reason: string, id?: string): NormalizeResult {
  return id === undefined ? { kind: 'skipped', reason } : { kind: 'skipped', reason, id };
}

/**
 * What a normaliser answers when it threw after all: a bug must cost one record, never the daemon.
 * The reason starts with `internal:` so tests can prove this is never what answered.
 */
export function internalError(err: unknown): NormalizeResult {
  return rejected(`internal: ${err instanceof Error ? err.name : 'error'} while normalising`);
}

/**
 * Wraps a normaliser so that a bug in it becomes a rejection (`internal: ...`) rather than a throw:
 * a bad record must never stop a source or the daemon.
 */
export function neverThrows<C>(normalize: (record: unknown, ctx: C) => NormalizeResult): (record: unknown, ctx: C) => NormalizeResult {
  return (record, ctx) => {
    try {
      return normalize(record, ctx);
    } catch (err) {
      return internalError(err);
    }
  };
}

// ---------------------------------------------------------------------------------------------------
// Timestamps

export interface Instant {
  /** The text as an ISO 8601 instant: the given offset kept, or the UTC form when none was given. */
  iso: string;
  ms: number;
}

const MAX_TIMESTAMP_LENGTH = 64;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digitAt(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

/** Reads `n` digits at `i`; -1 when any is not a digit. */
function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = digitAt(s, i + k);
    if (d < 0) return -1;
    v = v * 10 + d;
  }
  return v;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeapYear(y) ? 29 : (DAYS_IN_MONTH[m - 1] ?? 0);
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days_from_civil). Plain arithmetic:
 * cheaper than Date.UTC, and without its reading of years 0-99 as 1900-1999.
 */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function utcMs(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  return daysFromCivil(y, mo, d) * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + ms;
}

/**
 * Parses an RFC 3339 / ISO 8601 instant: `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`. A zone-less
 * timestamp is UTC (Bitwarden sends those, with 7 fractional digits). `t` or a space may separate
 * date and time, and `z` stands for `Z`. Impossible dates (2026-02-30, 25:00) and non-strings give
 * undefined. Hand-written rather than Date.parse + regex: it runs once per event on the hot path and
 * allocates nothing but the result.
 */
export function parseInstant(value: unknown): Instant | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  const n = text.length;
  if (n < 19 || n > MAX_TIMESTAMP_LENGTH) return undefined;
  if (text[4] !== '-' || text[7] !== '-' || text[13] !== ':' || text[16] !== ':') return undefined;
  const sep = text[10];
  if (sep !== 'T' && sep !== 't' && sep !== ' ') return undefined;
  const y = digits(text, 0, 4);
  const mo = digits(text, 5, 2);
  const d = digits(text, 8, 2);
  const h = digits(text, 11, 2);
  const mi = digits(text, 14, 2);
  const s = digits(text, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) return undefined;

  let i = 19;
  let ms = 0;
  if (text[i] === '.') {
    const start = ++i;
    while (i < n && digitAt(text, i) >= 0) i++;
    const count = i - start;
    if (count < 1 || count > 9) return undefined;
    // Milliseconds are truncated, not rounded: .9999999 stays in its own millisecond.
    for (let k = 0; k < 3; k++) ms = ms * 10 + (k < count ? digitAt(text, start + k) : 0);
  }

  let offsetMin = 0;
  let zoned = false;
  if (i < n) {
    const z = text[i];
    if ((z === 'Z' || z === 'z') && i + 1 === n) {
      zoned = true;
    } else if ((z === '+' || z === '-') && i + 6 === n && text[i + 3] === ':') {
      const oh = digits(text, i + 1, 2);
      const om = digits(text, i + 4, 2);
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
      offsetMin = (z === '+' ? 1 : -1) * (oh * 60 + om);
      zoned = true;
    } else {
      return undefined;
    }
  }

  // A leap second cannot be represented in epoch milliseconds: it counts as the end of second 59.
  const leap = s === 60;
  const epoch = utcMs(y, mo, d, h, mi, leap ? 59 : s, leap ? 999 : ms) - offsetMin * 60_000;
  if (!Number.isFinite(epoch)) return undefined;
  if (!zoned) return { iso: leap ? new Date(epoch).toISOString() : utcIsoText(text, ms), ms: epoch };
  return { iso: canonicalZonedText(text, sep), ms: epoch };
}

/** What toISOString would write for a zone-less text, from its own digits: that call costs more than the parse. */
function utcIsoText(text: string, ms: number): string {
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

/** The given text with the ISO spellings (`T`, `Z`), so consumers with strict parsers can read it. */
function canonicalZonedText(text: string, sep: string): string {
  let out = sep === 'T' ? text : `${text.slice(0, 10)}T${text.slice(11)}`;
  if (out.endsWith('z')) out = `${out.slice(0, -1)}Z`;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// IP addresses

const MAX_IP_LENGTH = 100;
const IP_CACHE_LIMIT = 10_000;
const ipv6Cache = new Map<string, string>();

/**
 * Strict dotted-quad IPv4 (`0`-`255`, no leading zeros): the same set as ipaddr's
 * IPv4.isValidFourPartDecimal, which rules out the legacy forms (`127.1`, `0x7f.0.0.1`, `010.0.0.1`)
 * that ipaddr would otherwise read as addresses. Hand-written because it is on the hot path and the
 * library check costs about a microsecond.
 */
export function isDottedQuad(text: string): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let i = 0;
  while (i <= n) {
    const start = i;
    let v = 0;
    while (i < n && digitAt(text, i) >= 0) {
      v = v * 10 + digitAt(text, i);
      i++;
    }
    const len = i - start;
    if (len < 1 || len > 3 || v > 255 || (len > 1 && text.charCodeAt(start) === 48)) return false;
    parts++;
    if (i === n) break;
    if (text[i] !== '.' || parts === 4) return false;
    i++;
  }
  return parts === 4;
}

function normalizeIpv6(text: string): string {
  // An embedded IPv4 tail must itself be a strict dotted quad (ipaddr accepts `::ffff:010.0.0.1`).
  const dot = text.indexOf('.');
  if (dot >= 0 && !isDottedQuad(text.slice(text.lastIndexOf(':') + 1))) return text;
  if (!ipaddr.IPv6.isValid(text)) return text;
  const addr = ipaddr.IPv6.parse(text);
  return addr.isIPv4MappedAddress() ? addr.toIPv4Address().toString() : addr.toRFC5952String();
}

/**
 * The canonical text of an address: IPv4 as given, IPv4-mapped IPv6 as the IPv4 address, other IPv6
 * in RFC 5952 form (so `2001:DB8::1` and `2001:db8:0::1` compare equal). Text that is not an address
 * is kept as given (events.md: it counts as unknown and lies in no CIDR).
 */
export function normalizeIp(value: string): string {
  const text = value.trim();
  if (isDottedQuad(text)) return text;
  if (text.length > MAX_IP_LENGTH || !text.includes(':')) return text;
  const cached = ipv6Cache.get(text);
  if (cached !== undefined) return cached;
  let out = text;
  try {
    out = normalizeIpv6(text);
  } catch {
    // ipaddr throws on what isValid let through only in corner cases; the text stays as given.
  }
  // Addresses repeat heavily in a stream; clearing at a bound keeps memory flat without an LRU.
  if (ipv6Cache.size >= IP_CACHE_LIMIT) ipv6Cache.clear();
  ipv6Cache.set(text, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Countries

export { normalizeCountry } from '../domain/country.ts';

// ---------------------------------------------------------------------------------------------------
// Stable hashing

// Strings JSON writes as they are: no quote, backslash, control character or surrogate half.
const PLAIN_JSON_STRING = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

function quote(text: string): string {
  return PLAIN_JSON_STRING.test(text) ? `"${text}"` : JSON.stringify(text);
}

// JSON.parse accepts any depth; a recursive walk must not. No vendor record nests more than a few levels.
const MAX_DEPTH = 64;

class TooDeep extends Error {}

function canonicalJson(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      // The shortest round-trip form (what JSON writes): 1.0 and 1 are one number, -0 is 0.
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object':
      if (value === null) return undefined;
      if (depth > MAX_DEPTH) throw new TooDeep();
      return Array.isArray(value)
        ? canonicalArray(value, depth + 1)
        : canonicalObject(value as Rec, Object.keys(value).sort(), depth + 1);
    default:
      return undefined;
  }
}

function canonicalArray(list: unknown[], depth: number): string {
  let out = '[';
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += ',';
    out += canonicalJson(list[i], depth) ?? 'null';
  }
  return `${out}]`;
}

function canonicalObject(obj: Rec, sortedKeys: readonly string[], depth: number, omit?: string): string {
  let out = '{';
  let first = true;
  for (const key of sortedKeys) {
    if (key === omit) continue;
    const text = canonicalJson(obj[key], depth);
    // Null and absent are one: exporters differ in whether they write `"collectionId": null`.
    if (text === undefined) continue;
    out += `${first ? '' : ','}${quote(key)}:${text}`;
    first = false;
  }
  return `${out}}`;
}

// Records of one stream share their key order, so the sorted order of the last top-level shape is
// kept: sorting is a third of the cost of a hash otherwise.
let lastKeys: readonly string[] = [];
let lastSortedKeys: readonly string[] = [];

function sortedTopKeys(obj: Rec): readonly string[] {
  const keys = Object.keys(obj);
  if (keys.length === lastKeys.length && keys.every((k, i) => k === lastKeys[i])) return lastSortedKeys;
  const sorted = keys.slice().sort();
  lastKeys = keys;
  lastSortedKeys = sorted;
  return sorted;
}

/**
 * A stable 26-character id for a record without one: sha256 (base64url) of its canonical JSON, with
 * keys sorted at every level, numbers in shortest form, and null-valued keys left out. `omitKey`
 * drops one top-level key (a constant envelope marker that forwarders may strip). Undefined for a
 * value nested deeper than any real record (64 levels).
 */
export function stableHash(value: unknown, omitKey?: string): string | undefined {
  let text: string;
  try {
    text = isRecord(value) ? canonicalObject(value, sortedTopKeys(value), 1, omitKey) : (canonicalJson(value, 0) ?? 'null');
  } catch (err) {
    if (err instanceof TooDeep) return undefined;
    throw err;
  }
  return hash('sha256', text, 'base64url').slice(0, 26);
}
