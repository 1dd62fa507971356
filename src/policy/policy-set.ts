import { ACTIONS, type Action } from '../domain/actions.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { ruleHolds, type CompiledRule } from './compiled-rule.ts';
import { SetPredicate } from './predicates.ts';

/** The rules of one policy file, as compiled; the unit that hot reload keeps or replaces. */
export interface CompiledPolicy {
  /** Relative file path. */
  readonly file: string;
  readonly vaults: readonly { id: string; name?: string }[];
  readonly timezone: string;
  readonly rules: readonly CompiledRule[];
}

/**
 * All policies, indexed by vault id so an event costs the rules of its own vault only.
 * Immutable: a reload builds a new set and swaps it in one assignment.
 */
export class PolicySet {
  private readonly byVault = new Map<string, CompiledRule[]>();
  /** Per vault and action, the rules that can hold for that action (in file order). */
  private readonly byVaultAction = new Map<string, Map<Action, CompiledRule[]>>();
  private readonly vaultNames = new Map<string, string>();
  readonly policies: readonly CompiledPolicy[];

  constructor(policies: Iterable<CompiledPolicy>) {
    this.policies = [...policies].sort((a, b) => a.file.localeCompare(b.file));
    for (const p of this.policies) {
      for (const v of p.vaults) {
        // Vendors differ in the case of ids; keys are lower-case and lookups try the id as given first.
        const id = v.id.toLowerCase();
        const rules = this.byVault.get(id) ?? [];
        rules.push(...p.rules);
        this.byVault.set(id, rules);
        if (v.name && !this.vaultNames.has(id)) this.vaultNames.set(id, v.name);
      }
    }
    // Most rules name actions and most events are fills: indexing by action means an event only
    // meets the rules that could fire for it.
    for (const [id, rules] of this.byVault) {
      const index = new Map<Action, CompiledRule[]>();
      for (const a of ACTIONS) index.set(a, rules.filter((r) => ruleAllows(r, a)));
      this.byVaultAction.set(id, index);
    }
  }

  rulesFor(vaultId: string): readonly CompiledRule[] {
    return this.byVault.get(vaultId) ?? this.byVault.get(vaultId.toLowerCase()) ?? EMPTY;
  }

  vaultName(vaultId: string): string | undefined {
    return this.vaultNames.get(vaultId.toLowerCase());
  }

  hasVault(vaultId: string): boolean {
    return this.rulesFor(vaultId) !== EMPTY;
  }

  get vaultCount(): number {
    return this.byVault.size;
  }

  get ruleCount(): number {
    return this.policies.reduce((n, p) => n + p.rules.length, 0);
  }

  /** The stateless part of the engine: which rules of the event's vault hold. Pure and synchronous. */
  match(e: UsageEvent): CompiledRule[] {
    const index = this.byVaultAction.get(e.vault.id) ?? this.byVaultAction.get(e.vault.id.toLowerCase());
    if (index === undefined) return EMPTY_MUTABLE;
    const rules = index.get(e.action);
    if (rules === undefined) return EMPTY_MUTABLE;
    let out: CompiledRule[] | undefined;
    for (const r of rules) {
      if (ruleHolds(r, e)) (out ??= []).push(r);
    }
    return out ?? EMPTY_MUTABLE;
  }
}

const EMPTY: readonly CompiledRule[] = Object.freeze([]);
// Callers never mutate the "no match" result; sharing one array keeps the hot path allocation-free.
const EMPTY_MUTABLE = EMPTY as CompiledRule[];

function ruleAllows(rule: CompiledRule, action: Action): boolean {
  const p = rule.match.find((x) => x.key === 'actions');
  return !(p instanceof SetPredicate) || p.listed.includes(action);
}
