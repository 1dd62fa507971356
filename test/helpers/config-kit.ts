/**
 * Small configurations written to a temporary directory and loaded through the real loader
 * (loadRuntime), so policy tests exercise the same path as `vaultwatch validate` and the daemon.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatIssue } from '../../src/config/issues.ts';
import type { Alert } from '../../src/domain/alert.ts';
import type { UsageEvent } from '../../src/domain/usage-event.ts';
import { loadRuntime, type Runtime } from '../../src/app/load-runtime.ts';
import { evaluateEvent } from '../../src/pipeline/evaluate.ts';
import { MemoryRuleState } from '../../src/pipeline/memory-rule-state.ts';
import type { RuleState } from '../../src/pipeline/rule-state.ts';
import type { PolicySet } from '../../src/policy/policy-set.ts';

const dirs: string[] = [];

/** Writes `files` (path -> text) under a fresh temporary directory; returns the directory. */
export function writeTree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vaultwatch-test-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

/** Removes every directory writeTree made (call from afterAll). */
export function cleanTrees(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export const VAULT = 'vault0000000000000000000001';

/** The vaultwatch.yaml most policy tests share: two schedules, two groups, one webhook target. */
export const BASE_CONFIG = `
defaults:
  timezone: Europe/London
schedules:
  office-hours:
    days: [mon-fri]
    hours: ["09:00-17:30"]
    holidays: [2026-12-25]
  nights:
    days: [mon-sun]
    hours: ["22:00-06:00"]
groups:
  admins: [alice@example.com, "ops-*@example.com", USERID-OF-CAROL]
  finance: [bob@example.com]
channels:
  webhooks:
    siem: { url: "https://siem.example.com/hook" }
`;

/** A runtime from files; fails the test with every issue when the config does not load. */
export function runtimeOf(files: Record<string, string>, env: Record<string, string | undefined> = {}): Runtime {
  const dir = writeTree(files);
  const rt = loadRuntime(join(dir, 'vaultwatch.yaml'), env);
  if (rt.issues.length) throw new Error(`config did not load:\n${rt.issues.map(formatIssue).join('\n')}`);
  return rt;
}

/** Issues of a config that is expected not to load, formatted, with the temp dir replaced by `<dir>`. */
export function issuesOf(files: Record<string, string>, env: Record<string, string | undefined> = {}): string[] {
  const dir = writeTree(files);
  const rt = loadRuntime(join(dir, 'vaultwatch.yaml'), env);
  return rt.issues.map((i) => formatIssue(i).split(dir).join('<dir>'));
}

/** A policy file for VAULT with managers, holding the given rules (YAML text, indented as list items). */
export function policy(rules: string, extra = ''): string {
  return `vault: { id: ${VAULT}, name: Finance }
managers:
  - email: cfo@example.com
  - slack: "#finance-alerts"
${extra}
rules:
${rules}`;
}

/** A set with one policy file (policies/p.yaml) over BASE_CONFIG. */
export function policySet(rules: string, extra = '', config = BASE_CONFIG): PolicySet {
  return runtimeOf({ 'vaultwatch.yaml': config, 'policies/p.yaml': policy(rules, extra) }).policies;
}

type Partialish<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> | undefined : T[K] };

let seq = 0;

/**
 * A canonical event with realistic defaults: Wednesday 2026-11-18 10:00 UTC, Alice reveals the
 * company card's code from the Mac app in the office. Nested objects are merged; pass `undefined`
 * for a nested field to remove it.
 */
export function ev(over: Partialish<UsageEvent> = {}): UsageEvent {
  const time = over.time ?? '2026-11-18T10:00:00Z';
  const action = over.action ?? 'reveal';
  const merge = <T extends object>(base: T, o: Partial<T> | undefined): T => {
    const out = { ...base, ...(o ?? {}) } as Record<string, unknown>;
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out as T;
  };
  const e: UsageEvent = {
    id: over.id ?? `evt-${++seq}`,
    source: over.source ?? 'webhook',
    time,
    time_ms: Date.parse(time),
    received_at: over.received_at ?? time,
    action,
    vendor_action: over.vendor_action ?? action,
    vault: merge({ id: VAULT }, over.vault),
    item: merge({ id: 'wxcplh5udshnonkzuuqdkbpmle', title: 'Company card', type: 'credit_card', tags: ['card', 'payment'] }, over.item),
    user: merge({ id: 'USERID-OF-ALICE', email: 'alice@example.com', name: 'Alice Adams' }, over.user),
    client: merge({ app: '1Password for Mac', ip: '203.0.113.10' }, over.client),
    location: merge({ country: 'GB' }, over.location),
  };
  if (over.field !== undefined) e.field = over.field;
  if ('client' in over && over.client === undefined) delete e.client;
  if ('location' in over && over.location === undefined) delete e.location;
  return e;
}

/** Names of the rules whose stateless part holds for `e` (no state involved). */
export function matching(set: PolicySet, e: UsageEvent): string[] {
  return set.match(e).map((r) => r.name);
}

/** Evaluates events in order against one state; returns the alerts of each. */
export async function evaluateAll(set: PolicySet, events: UsageEvent[], state: RuleState = new MemoryRuleState()): Promise<Alert[][]> {
  const out: Alert[][] = [];
  for (const e of events) out.push(await evaluateEvent(e, set, state));
  return out;
}

/** Minutes after a base instant, as ISO. */
export function at(baseIso: string, minutes: number): string {
  return new Date(Date.parse(baseIso) + minutes * 60_000).toISOString();
}
