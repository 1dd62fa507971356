/**
 * One predicate per match key. Each tests an event cheaply (the hot path) and, only for events that
 * fired, explains itself in plain language (the alert's reasons).
 *
 * Predicates are class instances rather than closures on purpose: 1,000 policies make tens of
 * thousands of predicates, and V8 keeps type feedback per closure, so closures each called a few
 * times stay interpreted; prototype methods share their feedback and get optimised.
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

/** Which event field a set predicate reads; a switch, not a getter closure (see the header). */
export type SetField = 'action' | 'vendor_action' | 'field' | 'item_type';
const NOUNS: Record<SetField, string> = { action: 'action', vendor_action: 'vendor action', field: 'field', item_type: 'item type' };

function readField(e: UsageEvent, f: SetField): string | undefined {
  switch (f) {
    case 'action': return e.action;
    case 'vendor_action': return e.vendor_action;
    case 'field': return e.field;
    // "We could not tell" is not a type: an unknown type never matches, even when `unknown` is listed.
    case 'item_type': return e.item.type === 'unknown' ? undefined : e.item.type;
  }
}

export class SetPredicate implements Predicate {
  private readonly set: ReadonlySet<string>;
  constructor(readonly key: string, private readonly field: SetField, private readonly values: readonly string[]) {
    this.set = new Set(values);
  }
  test(e: UsageEvent): boolean {
    const v = readField(e, this.field);
    return v !== undefined && this.set.has(v);
  }
  /** The values listed (the engine indexes rules by action with it). */
  get listed(): readonly string[] { return this.values; }
  explain(e: UsageEvent): string { return `${NOUNS[this.field]} ${readField(e, this.field)} is one of: ${list(this.values)}`; }
  explainMiss(e: UsageEvent): string { return `${NOUNS[this.field]} ${readField(e, this.field) ?? '(unknown)'} is not one of: ${list(this.values)}`; }
}

export class TagsPredicate implements Predicate {
  readonly key = 'tags';
  private readonly wanted: ReadonlySet<string>;
  constructor(private readonly tags: readonly string[]) {
    this.wanted = new Set(tags.map((t) => t.toLowerCase()));
  }
  test(e: UsageEvent): boolean {
    const tags = e.item.tags;
    if (!tags) return false;
    for (const t of tags) if (this.wanted.has(t.toLowerCase())) return true;
    return false;
  }
  explain(e: UsageEvent): string { return `item is tagged ${e.item.tags?.filter((t) => this.wanted.has(t.toLowerCase())).join(', ')}`; }
  explainMiss(): string { return `item carries none of the tags ${list(this.tags)}`; }
}

/** Item UUID equals (case-insensitive: vendors differ in case), or the enriched title matches a glob. */
export class ItemsPredicate implements Predicate {
  readonly key = 'items';
  private readonly globs: GlobSet;
  constructor(private readonly patterns: readonly string[]) {
    this.globs = new GlobSet(patterns);
  }
  // The UUID must equal a listed value: globs are for titles, and `w*` must not match an id.
  test(e: UsageEvent): boolean { return this.globs.equals(e.item.id) || this.globs.matches(e.item.title); }
  explain(e: UsageEvent): string {
    return this.globs.equals(e.item.id) ? `item ${e.item.id} is listed` : `item "${e.item.title}" matches "${this.globs.which(e.item.title)}"`;
  }
  explainMiss(e: UsageEvent): string { return `item "${e.item.title ?? e.item.id}" is not one of: ${list(this.patterns)}`; }
}

export class UsersPredicate implements Predicate {
  readonly key = 'users';
  private readonly globs: GlobSet;
  private readonly groups: readonly (readonly [string, GlobSet])[];
  constructor(private readonly patterns: readonly string[], groups: ReadonlyMap<string, GlobSet>) {
    const direct: string[] = [];
    const named: (readonly [string, GlobSet])[] = [];
    for (const p of patterns) {
      if (p.startsWith('group:')) named.push([p.slice(6), groups.get(p.slice(6))!]);
      else direct.push(p);
    }
    this.globs = new GlobSet(direct);
    this.groups = named;
  }
  // Emails match globs; ids are compared whole (policy-format.md: "their id equals").
  private direct(e: UsageEvent): boolean { return this.globs.matches(e.user.email) || this.globs.equals(e.user.id); }
  private group(e: UsageEvent): string | undefined {
    for (const [name, set] of this.groups) if (set.matches(e.user.email) || set.equals(e.user.id)) return name;
    return undefined;
  }
  test(e: UsageEvent): boolean { return this.direct(e) || this.group(e) !== undefined; }
  explain(e: UsageEvent): string {
    if (!this.direct(e)) return `${userKey(e)} is in group ${this.group(e)}`;
    const p = this.globs.which(e.user.email) ?? (this.globs.equals(e.user.id) ? e.user.id : undefined);
    return p?.includes('*') || p?.includes('?') ? `${userKey(e)} matches "${p}"` : `user is ${userKey(e)}`;
  }
  explainMiss(e: UsageEvent): string {
    return `${userKey(e)} is not ${this.patterns.map((p) => (p.startsWith('group:') ? `in group ${p.slice(6)}` : `"${p}"`)).join(' or ')}`;
  }
}

/** Who a grant/revoke was about, for reasons: email, else (group) name, else id. */
function subjectLabel(e: UsageEvent): string {
  const s = e.subject;
  return s === undefined ? '(no subject)' : (s.email ?? s.name ?? s.id);
}

/**
 * `subjects`: the person or group whose vault access changed (grant/revoke events). Same values as
 * `users` (email globs, ids compared whole, `group:NAME`), plus a 1Password group's name (glob) and
 * `kind:user` / `kind:group`. An event without a subject never matches.
 */
export class SubjectsPredicate implements Predicate {
  readonly key = 'subjects';
  private readonly globs: GlobSet;
  private readonly groups: readonly (readonly [string, GlobSet])[];
  private readonly kinds: ReadonlySet<string>;
  constructor(private readonly patterns: readonly string[], groups: ReadonlyMap<string, GlobSet>) {
    const direct: string[] = [];
    const named: (readonly [string, GlobSet])[] = [];
    const kinds = new Set<string>();
    for (const p of patterns) {
      if (p.startsWith('group:')) named.push([p.slice(6), groups.get(p.slice(6))!]);
      else if (p.startsWith('kind:')) kinds.add(p.slice(5).toLowerCase());
      else direct.push(p);
    }
    this.globs = new GlobSet(direct);
    this.groups = named;
    this.kinds = kinds;
  }
  private kind(e: UsageEvent): boolean { return e.subject?.kind !== undefined && this.kinds.has(e.subject.kind); }
  private direct(e: UsageEvent): boolean {
    const s = e.subject;
    if (s === undefined) return false;
    return this.globs.matches(s.email) || this.globs.equals(s.id) || (s.kind === 'group' && this.globs.matches(s.name));
  }
  private group(e: UsageEvent): string | undefined {
    const s = e.subject;
    if (s === undefined) return undefined;
    for (const [name, set] of this.groups) if (set.matches(s.email) || set.equals(s.id)) return name;
    return undefined;
  }
  test(e: UsageEvent): boolean { return e.subject !== undefined && (this.kind(e) || this.direct(e) || this.group(e) !== undefined); }
  explain(e: UsageEvent): string {
    const who = subjectLabel(e);
    if (this.direct(e)) {
      const s = e.subject!;
      const p = this.globs.which(s.email) ?? (this.globs.equals(s.id) ? s.id : undefined) ?? this.globs.which(s.name);
      return p?.includes('*') || p?.includes('?') || p?.includes('[') ? `subject ${who} matches "${p}"` : `subject is ${who}`;
    }
    const g = this.group(e);
    if (g !== undefined) return `subject ${who} is in group ${g}`;
    return `subject ${who} is a ${e.subject?.kind}`;
  }
  explainMiss(e: UsageEvent): string {
    if (e.subject === undefined) return 'the event names no subject';
    const alts = this.patterns.map((p) => (p.startsWith('group:') ? `in group ${p.slice(6)}` : p.startsWith('kind:') ? `a ${p.slice(5)}` : `"${p}"`));
    return `subject ${subjectLabel(e)} is not ${alts.join(' or ')}`;
  }
}

export class ClientsPredicate implements Predicate {
  readonly key = 'clients';
  private readonly globs: GlobSet;
  constructor(private readonly patterns: readonly string[]) {
    this.globs = new GlobSet(patterns);
  }
  test(e: UsageEvent): boolean { return this.globs.matches(e.client?.app); }
  explain(e: UsageEvent): string { return `client "${e.client?.app}" matches "${this.globs.which(e.client?.app)}"`; }
  explainMiss(e: UsageEvent): string { return `client "${e.client?.app ?? '(unknown)'}" is not one of: ${list(this.patterns)}`; }
}

export class CountriesPredicate implements Predicate {
  readonly key = 'countries';
  private readonly set: ReadonlySet<string>;
  constructor(private readonly codes: readonly string[]) {
    this.set = new Set(codes);
  }
  private code(e: UsageEvent): string | undefined {
    const c = e.location?.country;
    return c === undefined ? undefined : (c.length === 2 ? c.toUpperCase() : toCountryCode(c));
  }
  test(e: UsageEvent): boolean {
    // Normalisers already write alpha-2 codes: the as-given lookup nearly always decides.
    const raw = e.location?.country;
    if (raw === undefined) return false;
    if (this.set.has(raw)) return true;
    const c = this.code(e);
    return c !== undefined && this.set.has(c);
  }
  explain(e: UsageEvent): string { return `country ${this.code(e)} is one of: ${list(this.codes)}`; }
  explainMiss(e: UsageEvent): string { return `country ${this.code(e) ?? '(unknown)'} is not one of: ${list(this.codes)}`; }
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address; undefined when it is neither. */
export function parseCidr(text: string): Range | undefined {
  try {
    if (text.includes('/')) {
      // The address part is held to the same strictness as a bare address: `010.0.0.0/8` would
      // otherwise be read as octal (8.0.0.0/8) and `10.1/16` as 10.0.0.1/16.
      const slash = text.indexOf('/');
      if (!isStrictAddress(text.slice(0, slash)) || !/^\d{1,3}$/.test(text.slice(slash + 1))) return undefined;
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

export class IpPredicate implements Predicate {
  readonly key = 'ip';
  private readonly v4: readonly Range[];
  private readonly v6: readonly Range[];
  constructor(private readonly cidrs: readonly string[], private readonly ranges: readonly Range[]) {
    this.v4 = ranges.filter(([a]) => a.kind() === 'ipv4');
    this.v6 = ranges.filter(([a]) => a.kind() === 'ipv6');
  }
  private find(e: UsageEvent): number {
    const ip = e.client?.ip;
    if (!ip || !isStrictAddress(ip)) return -1;
    let a: ipaddr.IPv4 | ipaddr.IPv6;
    try { a = ipaddr.process(ip); } catch { return -1; }
    // match() throws when kinds differ, so compare within a kind only.
    const pool = a.kind() === 'ipv4' ? this.v4 : this.v6;
    const hit = pool.find((r) => a.match(r as [typeof a, number]));
    return hit ? this.ranges.indexOf(hit) : -1;
  }
  test(e: UsageEvent): boolean { return this.find(e) >= 0; }
  explain(e: UsageEvent): string { return `IP ${e.client?.ip} is in ${this.cidrs[this.find(e)]}`; }
  explainMiss(e: UsageEvent): string { return `IP ${e.client?.ip ?? '(unknown)'} is not in ${list(this.cidrs)}`; }
}

/** `during` (inside at least one schedule) or `outside` (inside none). */
export class SchedulePredicate implements Predicate {
  constructor(readonly key: 'during' | 'outside', private readonly schedules: readonly Schedule[]) {}
  private inside(ms: number): Schedule | undefined {
    for (const s of this.schedules) if (s.contains(ms)) return s;
    return undefined;
  }
  test(e: UsageEvent): boolean {
    const inside = this.inside(e.time_ms) !== undefined;
    return this.key === 'during' ? inside : !inside;
  }
  private explainAll(ms: number): string { return this.schedules.map((s) => s.explain(ms)).join('; '); }
  explain(e: UsageEvent): string {
    return this.key === 'during' ? this.inside(e.time_ms)!.explain(e.time_ms) : this.explainAll(e.time_ms);
  }
  explainMiss(e: UsageEvent): string {
    return this.key === 'during' ? this.explainAll(e.time_ms) : this.inside(e.time_ms)!.explain(e.time_ms);
  }
}

/** Cheap keys first, schedules last: most events are rejected by an action or item test. */
export const PREDICATE_ORDER = [
  'actions', 'vendor_actions', 'fields', 'item_types', 'items', 'tags', 'users', 'subjects', 'clients', 'countries', 'ip',
  'during', 'outside',
] as const;
