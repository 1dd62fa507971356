/**
 * One predicate per match key. Each tests an event cheaply (the hot path) and, only for events that
 * fired, explains itself in plain language (the alert's reasons).
 */
import ipaddr from 'ipaddr.js';
import { toCountryCode } from '../domain/country.ts';
import { userKey, type UsageEvent } from '../domain/usage-event.ts';
import { GlobSet } from './glob.ts';
import type { Schedule } from './schedule.ts';

export interface Predicate {
  readonly key: string;
  test(e: UsageEvent): boolean;
  /** Why it holds (for `match` keys). */
  explain(e: UsageEvent): string;
  /** Why it does not hold (for `not` blocks: "IP 192.0.2.44 is not in 203.0.113.0/24"). */
  explainMiss(e: UsageEvent): string;
}

const list = (values: readonly string[]) => values.join(', ');

export function setPredicate(
  key: string, values: readonly string[], get: (e: UsageEvent) => string | undefined, noun: string,
): Predicate {
  const set = new Set(values);
  return {
    key,
    test: (e) => { const v = get(e); return v !== undefined && set.has(v); },
    explain: (e) => `${noun} ${get(e)} is one of: ${list(values)}`,
    explainMiss: (e) => `${noun} ${get(e) ?? '(unknown)'} is not one of: ${list(values)}`,
  };
}

export function tagsPredicate(tags: readonly string[]): Predicate {
  const wanted = new Set(tags.map((t) => t.toLowerCase()));
  return {
    key: 'tags',
    test: (e) => e.item.tags?.some((t) => wanted.has(t.toLowerCase())) ?? false,
    explain: (e) => `item is tagged ${e.item.tags?.filter((t) => wanted.has(t.toLowerCase())).join(', ')}`,
    explainMiss: () => `item carries none of the tags ${list(tags)}`,
  };
}

/** Item UUID equals (case-insensitive: vendors differ in case), or the enriched title matches a glob. */
export function itemsPredicate(patterns: readonly string[]): Predicate {
  const globs = new GlobSet(patterns);
  return {
    key: 'items',
    test: (e) => globs.matches(e.item.id) || globs.matches(e.item.title),
    explain: (e) => (globs.matches(e.item.id)
      ? `item ${e.item.id} is listed`
      : `item "${e.item.title}" matches "${globs.which(e.item.title)}"`),
    explainMiss: (e) => `item "${e.item.title ?? e.item.id}" is not one of: ${list(patterns)}`,
  };
}

export function usersPredicate(patterns: readonly string[], groups: ReadonlyMap<string, GlobSet>): Predicate {
  const direct: string[] = [];
  const groupNames: string[] = [];
  for (const p of patterns) {
    if (p.startsWith('group:')) groupNames.push(p.slice('group:'.length));
    else direct.push(p);
  }
  const globs = new GlobSet(direct);
  const groupSets = groupNames.map((g) => [g, groups.get(g)!] as const);
  const inGroup = (e: UsageEvent) => groupSets.find(([, set]) => set.matches(e.user.email) || set.matches(e.user.id));
  return {
    key: 'users',
    test: (e) => globs.matches(e.user.email) || globs.matches(e.user.id) || inGroup(e) !== undefined,
    explain: (e) => {
      const g = inGroup(e);
      if (g && !globs.matches(e.user.email) && !globs.matches(e.user.id)) return `${userKey(e)} is in group ${g[0]}`;
      const p = globs.which(e.user.email) ?? globs.which(e.user.id);
      return p?.includes('*') || p?.includes('?') ? `${userKey(e)} matches "${p}"` : `user is ${userKey(e)}`;
    },
    explainMiss: (e) => `${userKey(e)} is not ${patterns.map((p) => (p.startsWith('group:') ? `in group ${p.slice(6)}` : `"${p}"`)).join(' or ')}`,
  };
}

export function clientsPredicate(patterns: readonly string[]): Predicate {
  const globs = new GlobSet(patterns);
  return {
    key: 'clients',
    test: (e) => globs.matches(e.client?.app),
    explain: (e) => `client "${e.client?.app}" matches "${globs.which(e.client?.app)}"`,
    explainMiss: (e) => `client "${e.client?.app ?? '(unknown)'}" is not one of: ${list(patterns)}`,
  };
}

export function countriesPredicate(codes: readonly string[]): Predicate {
  const set = new Set(codes);
  const code = (e: UsageEvent) => {
    const c = e.location?.country;
    return c === undefined ? undefined : (c.length === 2 ? c.toUpperCase() : toCountryCode(c));
  };
  return {
    key: 'countries',
    test: (e) => { const c = code(e); return c !== undefined && set.has(c); },
    explain: (e) => `country ${code(e)} is one of: ${list(codes)}`,
    explainMiss: (e) => `country ${code(e) ?? '(unknown)'} is not one of: ${list(codes)}`,
  };
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address; undefined when it is neither. */
export function parseCidr(text: string): Range | undefined {
  try {
    if (text.includes('/')) {
      let [addr, bits] = ipaddr.parseCIDR(text);
      // Events carry IPv4-mapped addresses as plain IPv4 (normalised), so ranges must be the same.
      if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
        addr = (addr as ipaddr.IPv6).toIPv4Address();
        bits -= 96;
      }
      return [addr, bits];
    }
    if (!isStrictAddress(text)) return undefined;
    const a = ipaddr.process(text);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return undefined;
  }
}

/** ipaddr.js accepts legacy forms (`010.1.2.3` is octal, `10.1` is 10.0.0.1): not in a security policy. */
function isStrictAddress(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text);
}

export function ipPredicate(cidrs: readonly string[], ranges: readonly Range[]): Predicate {
  const v4 = ranges.filter(([a]) => a.kind() === 'ipv4');
  const v6 = ranges.filter(([a]) => a.kind() === 'ipv6');
  const find = (e: UsageEvent): number => {
    const ip = e.client?.ip;
    if (!ip || !isStrictAddress(ip)) return -1;
    let a: ipaddr.IPv4 | ipaddr.IPv6;
    try { a = ipaddr.process(ip); } catch { return -1; }
    // match() throws when kinds differ, so compare within a kind only.
    const pool = a.kind() === 'ipv4' ? v4 : v6;
    const hit = pool.find((r) => a.match(r as [typeof a, number]));
    return hit ? ranges.indexOf(hit) : -1;
  };
  return {
    key: 'ip',
    test: (e) => find(e) >= 0,
    explain: (e) => `IP ${e.client?.ip} is in ${cidrs[find(e)]}`,
    explainMiss: (e) => `IP ${e.client?.ip ?? '(unknown)'} is not in ${list(cidrs)}`,
  };
}

export function duringPredicate(schedules: readonly Schedule[]): Predicate {
  return {
    key: 'during',
    test: (e) => schedules.some((s) => s.contains(e.time_ms)),
    explain: (e) => schedules.find((s) => s.contains(e.time_ms))!.explain(e.time_ms),
    explainMiss: (e) => schedules.map((s) => s.explain(e.time_ms)).join('; '),
  };
}

export function outsidePredicate(schedules: readonly Schedule[]): Predicate {
  return {
    key: 'outside',
    test: (e) => !schedules.some((s) => s.contains(e.time_ms)),
    explain: (e) => schedules.map((s) => s.explain(e.time_ms)).join('; '),
    explainMiss: (e) => schedules.find((s) => s.contains(e.time_ms))!.explain(e.time_ms),
  };
}

/** Cheap keys first, schedules last: most events are rejected by an action or item test. */
export const PREDICATE_ORDER = [
  'actions', 'vendor_actions', 'fields', 'item_types', 'items', 'tags', 'users', 'clients', 'countries', 'ip',
  'during', 'outside',
] as const;
