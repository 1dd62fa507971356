/**
 * Policy files -> compiled rules. Every semantic problem (unknown schedule, bad CIDR, bad target,
 * duplicate rule name, unknown placeholder...) is collected with its position; nothing throws.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { IANAZone } from 'luxon';
import { parseDuration } from '../domain/duration.ts';
import { isEmailAddress, parseTarget, targetKey, type Target } from '../domain/target.ts';
import { toCountryCode } from '../domain/country.ts';
import type { ConfigIssue } from '../config/issues.ts';
import { checkSettings } from '../config/settings-checks.ts';
import { didYouMean } from '../config/issues.ts';
import { displayPath, type LoadedConfig, type LoadedFile } from '../config/load.ts';
import type { ConfigFile, ManagerDef, MatchDef, NotBlockDef, PolicyFile, RuleDef } from '../config/schema.ts';
import type { Path, YamlFile } from '../config/yaml-file.ts';
import { parseCalendar } from './calendar.ts';
import type { CompiledRule, EventKey, Recipient } from './compiled-rule.ts';
import { GlobSet } from './glob.ts';
import {
  ClientsPredicate, CountriesPredicate, IpPredicate, ItemsPredicate, parseCidr, PREDICATE_ORDER, SchedulePredicate,
  SetPredicate, SubjectsPredicate, TagsPredicate, UsersPredicate, type Predicate,
} from './predicates.ts';
import { PolicySet, type CompiledPolicy } from './policy-set.ts';
import { compileSchedule, validateScheduleDef, type Schedule, type ScheduleDef } from './schedule.ts';

export const DEDUP_PLACEHOLDERS = ['rule', 'user', 'item', 'vault', 'action', 'ip', 'country', 'client'] as const;
const DEFAULT_DEDUP_KEY = '{user}:{item}';

/** Everything in vaultwatch.yaml that policies refer to, validated once. */
export interface PolicyContext {
  defaultZone: string;
  /** Valid schedules only. */
  scheduleDefs: ReadonlyMap<string, ScheduleDef>;
  /** Every schedule named in vaultwatch.yaml, valid or not (an invalid one is reported once, there). */
  scheduleNames: ReadonlySet<string>;
  holidays: ReadonlyMap<string, readonly string[]>;
  groups: ReadonlyMap<string, GlobSet>;
  webhooks: ReadonlySet<string>;
  /** Compiled schedules by name and zone: a schedule without its own zone follows each policy's zone. */
  schedule(name: string, zone: string): Schedule;
}

export function isValidZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

export function zoneIssue(zone: string): string {
  return `unknown time zone "${zone}"${didYouMean(zone, Intl.supportedValuesOf('timeZone'))}`;
}

/** Validates schedules, calendars, groups and the default zone of vaultwatch.yaml. */
export function buildPolicyContext(cfg: ConfigFile, yaml: YamlFile, configDir: string, issues: ConfigIssue[]): PolicyContext {
  const defaultZone = cfg.defaults?.timezone ?? 'UTC';
  if (!isValidZone(defaultZone)) issues.push(yaml.issueAt(['defaults', 'timezone'], zoneIssue(defaultZone)));

  const scheduleDefs = new Map<string, ScheduleDef>();
  const holidays = new Map<string, string[]>();
  for (const [name, def] of Object.entries(cfg.schedules ?? {})) {
    const found = validateScheduleDef(def);
    for (const i of found) issues.push(yaml.issueAt(['schedules', name, ...i.path], i.message));
    if (def.calendar) {
      const path = resolve(configDir, def.calendar);
      try {
        const parsed = parseCalendar(readFileSync(path, 'utf8'), def.calendar, { zone: def.timezone ?? defaultZone });
        // Warnings (a recurring .ics event counted once) are not load errors; see the README.
        for (const i of parsed.issues) {
          if (i.severity === 'error') issues.push({ file: displayPath(path), line: i.line, column: i.column, message: i.message });
        }
        holidays.set(name, parsed.dates);
      } catch (err) {
        issues.push(yaml.issueAt(['schedules', name, 'calendar'], `cannot read ${def.calendar}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
      }
    }
    if (found.length === 0) scheduleDefs.set(name, def as ScheduleDef);
  }

  const groups = new Map<string, GlobSet>();
  for (const [name, members] of Object.entries(cfg.groups ?? {})) groups.set(name, new GlobSet(members.filter((m) => typeof m === 'string')));

  const cache = new Map<string, Schedule>();
  return {
    defaultZone: isValidZone(defaultZone) ? defaultZone : 'UTC',
    scheduleDefs,
    scheduleNames: new Set(Object.keys(cfg.schedules ?? {})),
    holidays,
    groups,
    webhooks: new Set(Object.keys(cfg.channels?.webhooks ?? {})),
    schedule(name, zone) {
      const key = `${name}\u0000${zone}`;
      let s = cache.get(key);
      if (!s) {
        s = compileSchedule(name, scheduleDefs.get(name)!, zone, holidays.get(name));
        cache.set(key, s);
      }
      return s;
    },
  };
}

/** Loads nothing: compiles what loadConfig read. Files with schema errors are skipped (already reported). */
export function compilePolicies(loaded: LoadedConfig, ctx: PolicyContext): { policies: Map<string, CompiledPolicy>; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const policies = new Map<string, CompiledPolicy>();
  for (const f of loaded.policies) {
    if (!f.value) continue; // could not be parsed at all; already reported
    const r = compilePolicyFile(f, ctx);
    issues.push(...r.issues);
    if (r.policy) policies.set(f.rel, r.policy);
  }
  return { policies, issues };
}

export function compilePolicyFile(f: LoadedFile<PolicyFile>, ctx: PolicyContext): { policy?: CompiledPolicy; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const p = f.value!;
  const at = (path: Path, message: string, which?: 'key' | 'value') => issues.push(f.yaml.issueAt(path, message, which));

  // Partial values (a file with schema errors) may hold holes where an entry was invalid.
  const vaults = (p.vaults ?? (p.vault ? [p.vault] : [])).filter((v) => v?.id !== undefined);
  if (vaults.length === 0) at([], 'a policy file needs `vault: {id, name}` or `vaults: [{id, name}, ...]`');
  if (p.vault && p.vaults) at(['vaults'], 'give either `vault` or `vaults`, not both', 'key');
  // The same vault twice would put every rule twice in its index: two identical alerts per event.
  const vaultIds = new Set<string>();
  (p.vaults ?? []).forEach((v, i) => {
    if (v?.id === undefined) return;
    if (vaultIds.has(v.id.toLowerCase())) at(['vaults', i], `vault "${v.id}" is listed twice in this file`);
    vaultIds.add(v.id.toLowerCase());
  });

  const zone = p.timezone ?? ctx.defaultZone;
  if (p.timezone && !isValidZone(p.timezone)) at(['timezone'], zoneIssue(p.timezone));
  const zoneOk = isValidZone(zone);

  // Set when a part could not be compiled because of an error reported elsewhere (an invalid schedule
  // in vaultwatch.yaml): the file must not run with that part silently left out.
  let incomplete = false;
  const managers = compileManagers(p.managers ?? [], ctx, at, () => { incomplete = true; });
  const names = new Set<string>();
  const rules: CompiledRule[] = [];
  (p.rules ?? []).forEach((def, i) => {
    if (!def) return;
    if (names.has(def.name)) at(['rules', i, 'name'], `duplicate rule name "${def.name}" in this file`);
    names.add(def.name);
    const rule = compileRule(def, ['rules', i], { file: f.rel, policy: p, zone: zoneOk ? zone : 'UTC', managers, ctx, at });
    if (!rule) incomplete = true;
    else if (def.enabled !== false) rules.push(rule);
  });
  // A problem in `defaults:` is found once per rule that inherits it; report it once.
  const unique = uniqueIssues(issues);
  if (unique.length || !f.valid || incomplete) return { issues: unique };
  return { policy: { file: f.rel, vaults, timezone: zone, rules }, issues: unique };
}

function uniqueIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.file}\u0000${i.line}\u0000${i.column}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

type At = (path: Path, message: string, which?: 'key' | 'value') => void;

function compileManagers(defs: readonly ManagerDef[], ctx: PolicyContext, at: At, quietFail: () => void): Recipient[] {
  const out: Recipient[] = [];
  defs.forEach((m, i) => {
    if (!m) return;
    const given = [m.email !== undefined, m.slack !== undefined].filter(Boolean).length;
    if (given !== 1) {
      at(['managers', i], 'a manager is either `email: ADDRESS` or `slack: "#channel"` / `slack: "@person"`');
      return;
    }
    const t = parseTarget(m.email !== undefined ? `email:${m.email}` : `slack:${m.slack}`);
    if ('error' in t) { at(['managers', i, m.email !== undefined ? 'email' : 'slack'], t.error); return; }
    if (m.schedule !== undefined && !ctx.scheduleDefs.has(m.schedule)) {
      if (!ctx.scheduleNames.has(m.schedule)) at(['managers', i, 'schedule'], unknownSchedule(m.schedule, ctx));
      else quietFail(); // the schedule itself is invalid: reported in vaultwatch.yaml
      return;
    }
    out.push({ target: t, ...(m.schedule ? { schedule: m.schedule } : {}), ...(m.name ? { name: m.name } : {}) });
  });
  return out;
}

function unknownSchedule(name: string, ctx: PolicyContext): string {
  return `unknown schedule "${name}"${didYouMean(name, ctx.scheduleNames)}; define it under schedules: in vaultwatch.yaml`;
}

interface RuleScope {
  file: string;
  policy: PolicyFile;
  zone: string;
  managers: Recipient[];
  ctx: PolicyContext;
  at: At;
}

function compileRule(def: RuleDef, path: Path, s: RuleScope): CompiledRule | undefined {
  const before = { n: 0 };
  let failed = false;
  const at: At = (p, m, w) => { failed = true; before.n++; s.at(p, m, w); };
  const quietFail = () => { failed = true; };
  const defaults = s.policy.defaults ?? {};

  const match = def.match ? compileBlock(def.match, [...path, 'match'], s, at, quietFail) : [];
  const notDefs = def.not === undefined ? [] : Array.isArray(def.not) ? def.not : [def.not];
  // Map before dropping holes, so each block keeps its own index in error positions.
  const not = notDefs.map((b, i) => (b ? compileBlock(b, Array.isArray(def.not) ? [...path, 'not', i] : [...path, 'not'], s, at, quietFail) : undefined))
    .filter((b): b is Predicate[] => b !== undefined);

  const notifyList = def.notify ?? defaults.notify ?? ['managers'];
  const notifyPath = def.notify ? [...path, 'notify'] : ['defaults', 'notify'];
  const recipients: Recipient[] = [];
  let notifyAccessor = false;
  const seen = new Set<string>();
  const add = (r: Recipient) => { const k = targetKey(r.target); if (!seen.has(k)) { seen.add(k); recipients.push(r); } };
  notifyList.forEach((n, i) => {
    if (typeof n !== 'string') return; // an invalid entry of a partial file: already reported
    if (n === 'managers') {
      if ((s.policy.managers ?? []).length === 0) {
        if (def.notify || defaults.notify) at([...notifyPath, i], '`managers` is used but this file lists no managers');
        else at(path, `rule "${def.name}" notifies \`managers\` (the default) but this file lists no managers; add \`managers:\` or give the rule \`notify:\``);
      }
      s.managers.forEach(add);
    } else if (n === 'accessor') {
      notifyAccessor = true;
    } else {
      const t = checkTarget(n, [...notifyPath, i], s.ctx, at);
      if (t) add({ target: t });
    }
  });

  // Field by field: a rule that sets only `key` keeps the file's default `window`, and the reverse.
  const dedupDef = def.dedup || defaults.dedup ? { ...defaults.dedup, ...def.dedup } : undefined;
  const dedupPath = def.dedup?.key !== undefined ? [...path, 'dedup', 'key'] : ['defaults', 'dedup', 'key'];
  const template = dedupDef?.key ?? DEFAULT_DEDUP_KEY;
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(DEDUP_PLACEHOLDERS as readonly string[]).includes(m[1]!)) {
      at(dedupPath, `unknown placeholder {${m[1]}}${didYouMean(m[1]!, DEDUP_PLACEHOLDERS)}; use ${DEDUP_PLACEHOLDERS.map((x) => `{${x}}`).join(' ')}`);
    }
  }
  // `window: 0s` is how a rule opts out of a file's default dedup.
  const windowMs = dedupDef?.window !== undefined ? parseDuration(dedupDef.window) : undefined;
  const dedup = windowMs !== undefined && windowMs > 0 ? { template, windowMs } : undefined;

  let justification: CompiledRule['justification'];
  if (def.justification) {
    const j = def.justification;
    const escalateTo: Target[] = [];
    (j.escalate_to ?? []).forEach((t, i) => {
      if (typeof t !== 'string') return;
      const parsed = checkTarget(t, [...path, 'justification', 'escalate_to', i], s.ctx, at);
      if (parsed) escalateTo.push(parsed);
    });
    if (j.ask && j.within === undefined) at([...path, 'justification'], '`justification.ask` needs `within` (how long the accessor has to answer)');
    justification = { ask: j.ask, ...(j.within ? { withinMs: parseDuration(j.within)! } : {}), escalateTo };
  }

  const m = def.match;
  if (m?.threshold && m.first_time) at([...path, 'match', 'first_time'], 'use either `first_time` or `threshold` in one rule, not both', 'key');
  if (failed) return undefined;
  return {
    id: `${s.file}#${def.name}`,
    policy: s.file,
    name: def.name,
    severity: def.severity ?? defaults.severity ?? 'medium',
    timezone: s.zone,
    recipients,
    notifyAccessor,
    managers: s.managers,
    ...(dedup ? { dedup } : {}),
    deliver: def.deliver ?? defaults.deliver ?? 'now',
    ...(justification ? { justification } : {}),
    match,
    not,
    ...(m?.first_time ? { firstTime: [...new Set(m.first_time)] as EventKey[] } : {}),
    ...(m?.threshold ? {
      threshold: { count: m.threshold.count, withinMs: parseDuration(m.threshold.within)!, per: (m.threshold.per ?? []) as EventKey[] },
    } : {}),
  };
}

function checkTarget(text: string, path: Path, ctx: PolicyContext, at: At): Target | undefined {
  const t = parseTarget(text);
  if ('error' in t) {
    at(path, text === 'manager' ? `${t.error} (did you mean \`managers\`?)` : t.error);
    return undefined;
  }
  if (t.kind === 'webhook' && !ctx.webhooks.has(t.name)) {
    at(path, `no webhook "${t.name}" under channels.webhooks in vaultwatch.yaml${didYouMean(t.name, ctx.webhooks)}`);
    return undefined;
  }
  return t;
}

const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const present = <T>(xs: readonly (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);

function compileBlock(block: MatchDef | NotBlockDef, path: Path, s: RuleScope, at: At, quietFail: () => void): Predicate[] {
  const out = new Map<string, Predicate>();
  const b = block as MatchDef;
  // The values of a key. A partial (invalid) file may leave holes where entries were bad: they are
  // already reported, are skipped here (indexes kept for positions), and the rule is not compiled.
  const list = <T>(v: T | T[] | undefined): (T | undefined)[] => {
    const xs: (T | undefined)[] = asList(v);
    if (xs.some((x) => x === undefined)) quietFail();
    return xs;
  };
  const keyPath = (k: string, i?: number) => (i === undefined ? [...path, k] : Array.isArray(b[k as keyof MatchDef]) ? [...path, k, i] : [...path, k]);

  if (b.actions !== undefined) out.set('actions', new SetPredicate('actions', 'action', present(list(b.actions))));
  if (b.vendor_actions !== undefined) out.set('vendor_actions', new SetPredicate('vendor_actions', 'vendor_action', present(list(b.vendor_actions)).map(String)));
  if (b.fields !== undefined) out.set('fields', new SetPredicate('fields', 'field', present(list(b.fields))));
  if (b.item_types !== undefined) out.set('item_types', new SetPredicate('item_types', 'item_type', present(list(b.item_types))));
  if (b.items !== undefined) out.set('items', new ItemsPredicate(present(list(b.items))));
  if (b.tags !== undefined) out.set('tags', new TagsPredicate(present(list(b.tags))));
  if (b.users !== undefined) {
    const users = list(b.users);
    users.forEach((u, i) => {
      if (u === undefined) return;
      if (u.startsWith('group:') && !s.ctx.groups.has(u.slice(6))) {
        at(keyPath('users', i), `unknown group "${u.slice(6)}"${didYouMean(u.slice(6), s.ctx.groups.keys())}; define it under groups: in vaultwatch.yaml`);
      } else if (u.includes('@') && !u.includes('*') && !u.includes('?') && !isEmailAddress(u)) {
        at(keyPath('users', i), `"${u}" is not an email address`);
      }
    });
    out.set('users', new UsersPredicate(present(users), s.ctx.groups));
  }
  if (b.subjects !== undefined) {
    const subjects = list(b.subjects);
    subjects.forEach((u, i) => {
      if (u === undefined) return;
      if (u.startsWith('group:') && !s.ctx.groups.has(u.slice(6))) {
        at(keyPath('subjects', i), `unknown group "${u.slice(6)}"${didYouMean(u.slice(6), s.ctx.groups.keys())}; define it under groups: in vaultwatch.yaml`);
      } else if (u.startsWith('kind:') && u !== 'kind:user' && u !== 'kind:group') {
        at(keyPath('subjects', i), `"${u}" is not a subject kind; use kind:user or kind:group`);
      } else if (u.includes('@') && !u.includes('*') && !u.includes('?') && !isEmailAddress(u)) {
        at(keyPath('subjects', i), `"${u}" is not an email address`);
      }
    });
    out.set('subjects', new SubjectsPredicate(present(subjects), s.ctx.groups));
  }
  if (b.clients !== undefined) out.set('clients', new ClientsPredicate(present(list(b.clients))));
  if (b.countries !== undefined) {
    const codes: string[] = [];
    list(b.countries).forEach((c, i) => {
      if (c === undefined) return;
      const code = toCountryCode(c);
      if (code) codes.push(code);
      else at(keyPath('countries', i), `"${c}" is not a country (use ISO 3166 alpha-2 like GB, or an English name)`);
    });
    out.set('countries', new CountriesPredicate(codes));
  }
  if (b.ip !== undefined) {
    const cidrs = list(b.ip);
    const ranges = cidrs.map((c, i) => {
      if (c === undefined) return undefined;
      const r = parseCidr(c);
      if (!r) at(keyPath('ip', i), `"${c}" is not a CIDR or IP address (10.0.0.0/8, 2001:db8::/32, 203.0.113.7)`);
      return r;
    });
    if (ranges.every((r) => r !== undefined)) out.set('ip', new IpPredicate(present(cidrs), ranges as NonNullable<(typeof ranges)[number]>[]));
  }
  let failedQuietly = false;
  for (const key of ['during', 'outside'] as const) {
    if (b[key] === undefined) continue;
    const names = list(b[key]);
    const schedules: Schedule[] = [];
    names.forEach((n, i) => {
      if (n === undefined) return;
      if (s.ctx.scheduleDefs.has(n)) schedules.push(s.ctx.schedule(n, s.zone));
      else if (!s.ctx.scheduleNames.has(n)) at(keyPath(key, i), unknownSchedule(n, s.ctx));
      else failedQuietly = true; // the schedule itself is invalid: reported in vaultwatch.yaml
    });
    if (schedules.length === names.length && !failedQuietly) out.set(key, new SchedulePredicate(key, schedules));
  }
  if (failedQuietly) quietFail();
  return PREDICATE_ORDER.flatMap((k) => (out.has(k) ? [out.get(k)!] : []));
}

/** Convenience for callers that want the whole set from a load (CLI, tests). */
export function buildPolicySet(loaded: LoadedConfig): { set: PolicySet; ctx?: PolicyContext; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [...loaded.issues];
  if (!loaded.main.value) return { set: new PolicySet([]), issues };
  checkSettings(loaded.main.value, loaded.main.yaml, issues);
  const ctx = buildPolicyContext(loaded.main.value, loaded.main.yaml, dirname(loaded.path), issues);
  const { policies, issues: policyIssues } = compilePolicies(loaded, ctx);
  issues.push(...policyIssues);
  return { set: new PolicySet(policies.values()), ctx, issues };
}
