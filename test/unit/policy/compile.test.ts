/** Policy files -> compiled rules: defaults, recipients, zones, stateful options and compile errors. */
import { afterAll, describe, expect, it } from 'vitest';
import { formatTarget } from '../../../src/domain/target.ts';
import type { CompiledRule } from '../../../src/policy/compiled-rule.ts';
import { join } from 'node:path';
import { loadRuntime } from '../../../src/app/load-runtime.ts';
import { formatIssue } from '../../../src/config/issues.ts';
import { BASE_CONFIG, cleanTrees, issuesOf, policy, runtimeOf, VAULT, writeTree } from '../../helpers/config-kit.ts';

afterAll(cleanTrees);

function rules(policyText: string, config = BASE_CONFIG): Map<string, CompiledRule> {
  const rt = runtimeOf({ 'vaultwatch.yaml': config, 'policies/p.yaml': policyText });
  return new Map(rt.policies.rulesFor(VAULT).map((r) => [r.name, r]));
}
const targets = (r: CompiledRule | undefined) => r!.recipients.map((x) => formatTarget(x.target));

describe('defaults', () => {
  it('built-in: severity medium, notify [managers], deliver now, no dedup, zone defaults.timezone', () => {
    const r = rules(policy('  - name: plain'))
      .get('plain')!;
    expect(r.severity).toBe('medium');
    expect(targets(r)).toEqual(['email:cfo@example.com', 'slack:#finance-alerts']);
    expect(r.notifyAccessor).toBe(false);
    expect(r.deliver).toBe('now');
    expect(r.dedup).toBeUndefined();
    expect(r.timezone).toBe('Europe/London');
    expect(r.id).toBe('policies/p.yaml#plain');
    expect(r.policy).toBe('policies/p.yaml');
  });

  it('the file\'s `defaults:` (severity, notify, dedup, deliver) apply to rules that set none; a rule\'s own wins', () => {
    const rs = rules(policy(`
  - name: inherits
  - name: own
    severity: critical
    notify: ["slack:#security"]
    dedup: { key: "{user}", window: 5m }
    deliver: now`, `defaults:
  severity: high
  notify: [managers, "webhook:siem"]
  dedup: { key: "{rule}:{item}", window: 1h }
  deliver: defer`));
    const a = rs.get('inherits')!;
    expect(a.severity).toBe('high');
    expect(targets(a)).toEqual(['email:cfo@example.com', 'slack:#finance-alerts', 'webhook:siem']);
    expect(a.dedup).toEqual({ template: '{rule}:{item}', windowMs: 3_600_000 });
    expect(a.deliver).toBe('defer');
    const b = rs.get('own')!;
    expect(b.severity).toBe('critical');
    expect(targets(b)).toEqual(['slack:#security']);
    expect(b.dedup).toEqual({ template: '{user}', windowMs: 300_000 });
    expect(b.deliver).toBe('now');
  });

  it('a dedup window without a key uses the default key {user}:{item}; a key without a window is no dedup', () => {
    const rs = rules(policy(`
  - name: window only
    dedup: { window: 1h30m }
  - name: key only
    dedup: { key: "{user}" }`));
    expect(rs.get('window only')!.dedup).toEqual({ template: '{user}:{item}', windowMs: 5_400_000 });
    expect(rs.get('key only')!.dedup).toBeUndefined();
  });

  it('a rule\'s partial `dedup` takes the rest from the file\'s `defaults.dedup`, field by field; `window: 0s` opts out', () => {
    const rs = rules(policy(`
  - name: own key
    dedup: { key: "{user}" }
  - name: own window
    dedup: { window: 5m }
  - name: opts out
    dedup: { window: 0s }`, 'defaults:\n  dedup: { key: "{rule}:{item}", window: 1h }'));
    expect(rs.get('own key')!.dedup).toEqual({ template: '{user}', windowMs: 3_600_000 });
    expect(rs.get('own window')!.dedup).toEqual({ template: '{rule}:{item}', windowMs: 300_000 });
    expect(rs.get('opts out')!.dedup).toBeUndefined();
  });

  it('a file `timezone:` overrides defaults.timezone for its rules', () => {
    const rs = rules(`vault: { id: ${VAULT} }\ntimezone: America/New_York\nmanagers: [{ email: a@example.com }]\nrules:\n  - name: r\n`);
    expect(rs.get('r')!.timezone).toBe('America/New_York');
  });
});

describe('recipients', () => {
  it('managers expand to email:/slack: targets; explicit targets follow; duplicates removed', () => {
    const rs = rules(`vault: { id: ${VAULT} }
managers:
  - email: CFO@Example.com
    name: Chief Financial Officer
  - slack: "#finance-alerts"
  - slack: "@cfo@example.com"
  - slack: "@U024BE7LH"
rules:
  - name: r
    notify: [managers, "email:cfo@example.com", "slack:#finance-alerts", "slack:#security", accessor, managers, "webhook:siem"]
`);
    const r = rs.get('r')!;
    expect(targets(r)).toEqual([
      'email:cfo@example.com', 'slack:#finance-alerts', 'slack:@cfo@example.com', 'slack:@U024BE7LH', 'slack:#security', 'webhook:siem',
    ]);
    expect(r.notifyAccessor).toBe(true);
    expect(r.managers.map((m) => m.name)).toEqual(['Chief Financial Officer', undefined, undefined, undefined]);
  });

  it('a manager with a schedule keeps it (for defer/digest delivery)', () => {
    const rs = rules(`vault: { id: ${VAULT} }
managers:
  - email: cfo@example.com
    schedule: office-hours
rules:
  - name: r
    deliver: digest
`);
    expect(rs.get('r')!.recipients).toEqual([{ target: { kind: 'email', address: 'cfo@example.com' }, schedule: 'office-hours' }]);
  });

  it('justification is compiled with its targets and duration', () => {
    const rs = rules(policy(`
  - name: r
    justification: { ask: true, within: 30m, escalate_to: ["email:ciso@example.com", "slack:#security"] }`));
    expect(rs.get('r')!.justification).toEqual({
      ask: true, withinMs: 1_800_000,
      escalateTo: [{ kind: 'email', address: 'ciso@example.com' }, { kind: 'slack', channel: '#security' }],
    });
  });
});

describe('stateful options', () => {
  it('first_time keys (repeats dropped) and threshold (per defaults to the rule)', () => {
    const rs = rules(policy(`
  - name: first
    match: { first_time: [user, item, user] }
  - name: burst
    match: { threshold: { count: 5, within: 10m } }
  - name: burst per user
    match: { threshold: { count: 3, within: 1h, per: [user, ip] } }`));
    expect(rs.get('first')!.firstTime).toEqual(['user', 'item']);
    expect(rs.get('burst')!.threshold).toEqual({ count: 5, withinMs: 600_000, per: [] });
    expect(rs.get('burst per user')!.threshold).toEqual({ count: 3, withinMs: 3_600_000, per: ['user', 'ip'] });
  });
});

describe('compile errors', () => {
  it('a vault listed twice in one file is an error, not a doubled alert', () => {
    const issues = issuesOf({
      'vaultwatch.yaml': BASE_CONFIG,
      'policies/p.yaml': `vaults:\n  - { id: VaultA }\n  - { id: vaulta }\nmanagers: [{ email: a@example.com }]\nrules:\n  - name: r\n`,
    });
    expect(issues).toEqual(['<dir>/policies/p.yaml:3:5: vault "vaulta" is listed twice in this file']);
  });

  it('an error in the file\'s `defaults:` is reported once, not once per rule', () => {
    const issues = issuesOf({
      'vaultwatch.yaml': BASE_CONFIG,
      'policies/p.yaml': policy('  - name: a\n  - name: b\n  - name: c\n', 'defaults:\n  notify: ["slack:nope"]\n  dedup: { key: "{usr}", window: 1h }'),
    });
    expect(issues).toEqual([
      '<dir>/policies/p.yaml:6:12: "nope" is not a Slack channel ("#name" or a channel id) or person ("@U123" or "@name@example.com")',
      '<dir>/policies/p.yaml:7:17: unknown placeholder {usr} (did you mean `user`?); use {rule} {user} {item} {vault} {action} {ip} {country} {client}',
    ]);
  });

  it('a rule that notifies managers by default in a file without managers is reported at the rule', () => {
    const issues = issuesOf({
      'vaultwatch.yaml': BASE_CONFIG,
      'policies/p.yaml': `vault: { id: ${VAULT} }\nrules:\n  - name: explicit\n    notify: ["email:a@example.com"]\n  - name: implicit\n`,
    });
    expect(issues).toEqual([
      '<dir>/policies/p.yaml:5:5: rule "implicit" notifies `managers` (the default) but this file lists no managers; add `managers:` or give the rule `notify:`',
    ]);
  });

  it('a rule naming a schedule that is itself invalid is not compiled with the key silently dropped', () => {
    const dir = writeTree({
      'vaultwatch.yaml': `schedules:\n  broken: { days: [mon-fry] }\n  fine: { days: [mon] }\n`,
      'policies/p.yaml': policy('  - name: at night\n    match: { during: broken }\n  - name: fine\n    match: { during: fine }\n    not: { outside: broken }'),
    });
    const rt = loadRuntime(join(dir, 'vaultwatch.yaml'), {});
    // One error, where the schedule is defined...
    expect(rt.issues.map(formatIssue)).toEqual([`${dir}/vaultwatch.yaml:2:20: unknown day "fry"; write mon, tue, wed, thu, fri, sat or sun (or the full name); did you mean "fri"?`]);
    // ...and no rule that would fire at any time (`during` lost) or be excused too often (`not` lost).
    expect(rt.policies.rulesFor(VAULT)).toEqual([]);
  });

  it('`enabled: false` rules are still checked', () => {
    expect(issuesOf({ 'vaultwatch.yaml': BASE_CONFIG, 'policies/p.yaml': policy('  - name: off\n    enabled: false\n    match: { during: nope }') }))
      .toEqual(['<dir>/policies/p.yaml:9:22: unknown schedule "nope"; define it under schedules: in vaultwatch.yaml']);
  });
});
