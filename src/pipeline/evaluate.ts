/**
 * Evaluation of one (enriched) event: the pure engine picks the rules that hold, then the stateful
 * checks run for those rules only, then each surviving (event, rule) becomes one Alert with its
 * reasons and expanded targets.
 */
import { alertId, type Alert } from '../domain/alert.ts';
import { formatDuration } from '../domain/duration.ts';
import { parseTarget, targetKey, type Target } from '../domain/target.ts';
import { userKey, type UsageEvent } from '../domain/usage-event.ts';
import { explainRule, keyValue, type CompiledRule, type EventKey } from '../policy/compiled-rule.ts';
import type { PolicySet } from '../policy/policy-set.ts';
import type { RuleState } from './rule-state.ts';

/** Returns [] synchronously when no rule holds (the common case), so replay stays fast. */
export function evaluateEvent(e: UsageEvent, set: PolicySet, state: RuleState): Alert[] | Promise<Alert[]> {
  const rules = set.match(e);
  if (rules.length === 0) return rules as unknown as Alert[];
  if (e.vault.name === undefined) {
    const name = set.vaultName(e.vault.id);
    if (name !== undefined) e.vault.name = name;
  }
  return judgeRules(e, rules, state);
}

async function judgeRules(e: UsageEvent, rules: readonly CompiledRule[], state: RuleState): Promise<Alert[]> {
  const alerts: Alert[] = [];
  for (const rule of rules) {
    const a = await judgeRule(e, rule, state);
    if (a) alerts.push(a);
  }
  return alerts;
}

async function judgeRule(e: UsageEvent, rule: CompiledRule, state: RuleState): Promise<Alert | undefined> {
  const reasons = explainRule(rule, e);
  if (rule.firstTime) {
    const combo = comboKey(e, rule.firstTime, rule.name);
    if (!(await state.firstTime(rule.id, combo, e.id))) return undefined;
    reasons.push(`first time for ${describeCombo(e, rule.firstTime)}`);
  }
  if (rule.threshold) {
    const { count, withinMs, per } = rule.threshold;
    const n = await state.threshold(rule.id, comboKey(e, per, rule.name), e.id, e.time_ms, withinMs);
    if (n < count) return undefined;
    const scope = per.length ? ` for ${describeCombo(e, per)}` : '';
    reasons.push(`${n} matching events${scope} within ${formatDuration(withinMs)} (threshold ${count})`);
  }
  const id = alertId(e.id, rule.policy, rule.name);
  const alert: Alert = {
    id,
    event: e,
    policy: rule.policy,
    rule: rule.name,
    severity: rule.severity,
    reasons,
    targets: targetsFor(rule, e),
    timezone: rule.timezone,
    suppressed: false,
    ...(rule.deliver !== 'now' ? { deliver: rule.deliver } : {}),
    ...targetSchedules(rule),
    ...(rule.justification?.ask ? {
      justification: {
        ask: true,
        ...(rule.justification.withinMs !== undefined ? { within_ms: rule.justification.withinMs } : {}),
        escalate_to: [...rule.justification.escalateTo],
      },
    } : {}),
  };
  if (rule.dedup) {
    const key = renderDedupKey(rule.dedup.template, e, rule.name);
    const v = await state.dedup(rule.id, key, id, e.time_ms, rule.dedup.windowMs);
    alert.dedup_key = key;
    if (v.suppressed) {
      alert.suppressed = true;
      alert.follows = v.first;
      alert.occurrence = v.count;
      alert.reasons.push(`repeat #${v.count} within ${formatDuration(rule.dedup.windowMs)} of the first alert for ${key}`);
    }
  }
  return alert;
}

function comboKey(e: UsageEvent, keys: readonly EventKey[], rule: string): string {
  let s = '';
  for (const k of keys) s += `${keyValue(e, k, rule)}\u0000`;
  return s;
}

function describeCombo(e: UsageEvent, keys: readonly EventKey[]): string {
  return keys.map((k) => {
    if (k === 'item') return `item "${e.item.title ?? e.item.id}"`;
    if (k === 'user') return `user ${userKey(e)}`;
    if (k === 'vault') return `vault ${e.vault.name ?? e.vault.id}`;
    return `${k} ${keyValue(e, k, '') || '(unknown)'}`;
  }).join(', ');
}

export function renderDedupKey(template: string, e: UsageEvent, rule: string): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => keyValue(e, k as EventKey, rule));
}

/** `managers` and explicit targets come compiled; `accessor` is this event's actor, by email. */
export function targetsFor(rule: CompiledRule, e: UsageEvent): Target[] {
  const out: Target[] = rule.recipients.map((r) => r.target);
  if (rule.notifyAccessor && e.user.email) {
    const t = parseTarget(`email:${e.user.email}`);
    if (!('error' in t) && !out.some((o) => targetKey(o) === targetKey(t))) out.push(t);
  }
  return out;
}

/** `target_schedules` for the recipients that carry their own hours (`managers` entries with `schedule`). */
function targetSchedules(rule: CompiledRule): Pick<Alert, 'target_schedules'> {
  let out: Record<string, string> | undefined;
  for (const r of rule.recipients) if (r.schedule) (out ??= {})[targetKey(r.target)] = r.schedule;
  return out ? { target_schedules: out } : {};
}
