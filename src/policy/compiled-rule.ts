import type { Severity } from '../domain/severity.ts';
import type { Target } from '../domain/target.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import type { Predicate } from './predicates.ts';

/** Values a rule can key state on (`first_time`, `threshold.per`) and dedup templates can name. */
export type EventKey = 'user' | 'item' | 'vault' | 'ip' | 'country' | 'client' | 'action' | 'rule';

export interface Recipient {
  target: Target;
  /** The recipient's own working hours (a compiled schedule name), for deferred and digest delivery. */
  schedule?: string;
  name?: string;
}

export interface CompiledRule {
  /** Unique across the set: `<policy file>#<rule name>`; the key of the rule's state. */
  readonly id: string;
  readonly policy: string;
  readonly name: string;
  readonly severity: Severity;
  readonly timezone: string;
  /** Resolved targets; `accessor` is resolved per event. */
  readonly recipients: readonly Recipient[];
  readonly notifyAccessor: boolean;
  /** The policy's managers (for separation of duties: an accessor who is a manager). */
  readonly managers: readonly Recipient[];
  readonly dedup?: { template: string; windowMs: number };
  readonly deliver: 'now' | 'defer' | 'digest';
  readonly justification?: { ask: boolean; withinMs?: number; escalateTo: readonly Target[] };
  readonly match: readonly Predicate[];
  readonly not: readonly (readonly Predicate[])[];
  readonly firstTime?: readonly EventKey[];
  readonly threshold?: { count: number; withinMs: number; per: readonly EventKey[] };
}

export function keyValue(e: UsageEvent, key: EventKey, rule: string): string {
  switch (key) {
    case 'user': return e.user.email ?? e.user.id;
    case 'item': return e.item.id;
    case 'vault': return e.vault.id;
    case 'ip': return e.client?.ip ?? '';
    case 'country': return e.location?.country ?? '';
    case 'client': return e.client?.app ?? '';
    case 'action': return e.action;
    case 'rule': return rule;
  }
}

/** True when the rule's stateless part holds: every `match` key, and no `not` block as a whole. */
export function ruleHolds(rule: CompiledRule, e: UsageEvent): boolean {
  for (const p of rule.match) if (!p.test(e)) return false;
  for (const block of rule.not) {
    let all = true;
    for (const p of block) if (!p.test(e)) { all = false; break; }
    if (all) return false;
  }
  return true;
}

export function explainRule(rule: CompiledRule, e: UsageEvent): string[] {
  const reasons = rule.match.length === 0
    ? [`any use of an item in vault ${e.vault.name ?? e.vault.id}`]
    : rule.match.map((p) => p.explain(e));
  // An exception that did not apply is part of why the rule fired ("bob is not in group admins").
  for (const block of rule.not) {
    const miss = block.find((p) => !p.test(e));
    if (miss) reasons.push(miss.explainMiss(e));
  }
  return reasons;
}
