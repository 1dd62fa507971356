/**
 * The `subjects` match key (vault access changes): the person or group whose access changed, with the
 * same values as `users` plus a 1Password group name and the subject's kind. Through the real loader.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import { explainRule } from '../../../src/policy/compiled-rule.ts';
import { BASE_CONFIG, cleanTrees, ev, issuesOf, matching, policy, policySet } from '../../helpers/config-kit.ts';

afterAll(cleanTrees);

const set = (match: string, not?: string) => policySet(`  - name: R\n    match: ${match}\n${not ? `    not: ${not}\n` : ''}`);
const holds = (match: string, e: UsageEvent, not?: string) => matching(set(match, not), e).includes('R');

function access(subject: UsageEvent['subject'], action: 'grant' | 'revoke' = 'grant'): UsageEvent {
  const e = ev({ action, vendor_action: action, item: { id: 'vault0000000000000000000001', title: 'vault access', type: undefined, tags: undefined } });
  if (subject) e.subject = subject;
  return e;
}
const bob = { id: 'USERID-OF-BOB', email: 'bob@example.com', name: 'Bob Baker', kind: 'user' as const };
const contractors = { id: 'GROUPID-CONTRACTORS', name: 'Contractors', kind: 'group' as const };

describe('subjects', () => {
  it('email globs (case-insensitive) and ids compared whole', () => {
    expect(holds('{ subjects: ["*@example.com"] }', access(bob))).toBe(true);
    expect(holds('{ subjects: [BOB@example.com] }', access(bob))).toBe(true);
    expect(holds('{ subjects: [userid-of-bob] }', access(bob))).toBe(true);
    expect(holds('{ subjects: ["USERID-*"] }', access(bob))).toBe(false);
    expect(holds('{ subjects: ["*@example.org"] }', access(bob))).toBe(false);
  });

  it('group:NAME holds for members of a vaultwatch group', () => {
    expect(holds('{ subjects: ["group:finance"] }', access(bob))).toBe(true);
    expect(holds('{ subjects: ["group:admins"] }', access(bob))).toBe(false);
  });

  it('a 1Password group subject matches by its name (glob) or id; kind:group / kind:user by kind', () => {
    expect(holds('{ subjects: ["Contract*"] }', access(contractors))).toBe(true);
    expect(holds('{ subjects: [GROUPID-CONTRACTORS] }', access(contractors))).toBe(true);
    expect(holds('{ subjects: ["kind:group"] }', access(contractors))).toBe(true);
    expect(holds('{ subjects: ["kind:group"] }', access(bob))).toBe(false);
    expect(holds('{ subjects: ["kind:user"] }', access(bob))).toBe(true);
    // A person's name is not a pattern target (emails and ids are).
    expect(holds('{ subjects: ["*Baker"] }', access(bob))).toBe(false);
  });

  it('an event without a subject (every item usage) never matches; in `not` it excludes only what it names', () => {
    expect(holds('{ subjects: ["kind:user", "kind:group", "*"] }', ev())).toBe(false);
    expect(holds('{ actions: [grant, revoke] }', access(bob), '{ subjects: ["group:finance"] }')).toBe(false);
    expect(holds('{ actions: [grant, revoke] }', access(contractors, 'revoke'), '{ subjects: ["group:finance"] }')).toBe(true);
  });

  it('reasons name the subject and what it matched', () => {
    const reasons = (match: string, e: UsageEvent) => explainRule(set(match).match(e)[0]!, e);
    expect(reasons('{ subjects: ["*@example.com"] }', access(bob))).toContain('subject bob@example.com matches "*@example.com"');
    expect(reasons('{ subjects: ["group:finance"] }', access(bob))).toContain('subject bob@example.com is in group finance');
    expect(reasons('{ subjects: ["kind:group"] }', access(contractors))).toContain('subject Contractors is a group');
    expect(reasons('{ subjects: [GROUPID-CONTRACTORS] }', access(contractors))).toContain('subject is Contractors');
  });

  it('load errors: an unknown group, an unknown kind, a bad address', () => {
    const errs = issuesOf({ 'vaultwatch.yaml': BASE_CONFIG, 'policies/p.yaml': policy('  - name: R\n    match: { subjects: ["group:nope", "kind:robot", "bob@@example.com"] }\n') });
    expect(errs.join('\n')).toMatch(/unknown group "nope"/);
    expect(errs.join('\n')).toMatch(/"kind:robot" is not a subject kind; use kind:user or kind:group/);
    expect(errs.join('\n')).toMatch(/"bob@@example.com" is not an email address/);
  });
});
