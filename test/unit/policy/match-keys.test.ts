/**
 * Every match key of policy-format.md, holding and not holding, through the real loader and the
 * compiled PolicySet (the stateless part of the engine).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import { explainRule } from '../../../src/policy/compiled-rule.ts';
import type { PolicySet } from '../../../src/policy/policy-set.ts';
import { cleanTrees, ev, matching, policySet, runtimeOf, BASE_CONFIG, VAULT } from '../../helpers/config-kit.ts';

afterAll(cleanTrees);

const cache = new Map<string, PolicySet>();
/** A one-rule set ("R") with `match` and optional `not` given as YAML flow text. */
function setFor(match: string | undefined, not?: string): PolicySet {
  const key = `${match}\u0000${not}`;
  let s = cache.get(key);
  if (!s) {
    s = policySet(`  - name: R\n${match !== undefined ? `    match: ${match}\n` : ''}${not !== undefined ? `    not: ${not}\n` : ''}`);
    cache.set(key, s);
  }
  return s;
}
const holds = (match: string | undefined, e: UsageEvent, not?: string) => matching(setFor(match, not), e).includes('R');
const reasons = (match: string | undefined, e: UsageEvent, not?: string) => {
  const [rule] = setFor(match, not).match(e);
  if (!rule) throw new Error('rule does not hold');
  return explainRule(rule, e);
};

describe('actions', () => {
  it('holds when the canonical action is listed (a single value or a list)', () => {
    expect(holds('{ actions: [reveal, copy] }', ev({ action: 'copy' }))).toBe(true);
    expect(holds('{ actions: reveal }', ev({ action: 'reveal' }))).toBe(true);
    expect(holds('{ actions: [reveal, copy] }', ev({ action: 'fill' }))).toBe(false);
    expect(holds('{ actions: [other] }', ev({ action: 'other', vendor_action: 'weird' }))).toBe(true);
  });
});

describe('vendor_actions', () => {
  it('1113 and "1113" are the same, in the policy and in the event', () => {
    const bw = ev({ action: 'copy', vendor_action: '1113' });
    expect(holds('{ vendor_actions: [1113] }', bw)).toBe(true);
    expect(holds('{ vendor_actions: ["1113"] }', bw)).toBe(true);
    expect(holds('{ vendor_actions: 1113 }', bw)).toBe(true);
    expect(holds('{ vendor_actions: [1112, 1111] }', bw)).toBe(false);
  });
  it('matches raw strings exactly', () => {
    expect(holds('{ vendor_actions: [secure-copy] }', ev({ action: 'copy', vendor_action: 'secure-copy' }))).toBe(true);
    expect(holds('{ vendor_actions: [secure-copy] }', ev({ action: 'copy', vendor_action: 'copy' }))).toBe(false);
  });
});

describe('fields', () => {
  it('holds for a listed field; an event that does not say which field never matches', () => {
    expect(holds('{ fields: [card_code, card_number] }', ev({ field: 'card_code' }))).toBe(true);
    expect(holds('{ fields: [card_code] }', ev({ field: 'password' }))).toBe(false);
    expect(holds('{ fields: [card_code] }', ev())).toBe(false);
  });
});

describe('item_types', () => {
  it('holds for a listed enriched type', () => {
    expect(holds('{ item_types: [credit_card, bank_account] }', ev())).toBe(true);
    expect(holds('{ item_types: [login] }', ev())).toBe(false);
  });
  it('an unknown or missing type never matches, even when `unknown` is listed', () => {
    expect(holds('{ item_types: [unknown] }', ev({ item: { type: 'unknown' } }))).toBe(false);
    expect(holds('{ item_types: [unknown, login] }', ev({ item: { type: undefined } }))).toBe(false);
  });
  it('an unknown type does hold a `not: item_types` exception? no: the exception does not apply', () => {
    // "unknown never matches": the not block does not hold, so the rule fires.
    expect(holds('{ actions: [reveal] }', ev({ item: { type: 'unknown' } }), '{ item_types: [unknown, login] }')).toBe(true);
  });
});

describe('items', () => {
  const id = 'wxcplh5udshnonkzuuqdkbpmle';
  it('an item UUID equals, case-insensitively (vendors differ in case)', () => {
    expect(holds(`{ items: [${id}] }`, ev({ item: { id, title: undefined } }))).toBe(true);
    expect(holds(`{ items: [${id.toUpperCase()}] }`, ev({ item: { id } }))).toBe(true);
    expect(holds(`{ items: [${id}] }`, ev({ item: { id: id.toUpperCase(), title: undefined } }))).toBe(true);
    expect(holds(`{ items: [${id}x] }`, ev({ item: { id } }))).toBe(false);
  });
  it('a UUID is compared whole: title globs never match against the id', () => {
    // `w*` is written for titles; an item whose title is unknown must not match it through its id.
    expect(holds('{ items: ["w*"] }', ev({ item: { id, title: undefined } }))).toBe(false);
    expect(holds('{ items: ["w*"] }', ev({ item: { id, title: 'Payroll' } }))).toBe(false);
    expect(holds('{ items: ["*"] }', ev({ item: { id, title: undefined } }))).toBe(false);
    expect(holds('{ items: ["?xcplh5udshnonkzuuqdkbpmle"] }', ev({ item: { id, title: undefined } }))).toBe(false);
  });
  it('titles match globs case-insensitively: *, ?, [abc], [!a]', () => {
    expect(holds('{ items: ["Company card*"] }', ev({ item: { title: 'company CARD (Visa)' } }))).toBe(true);
    expect(holds('{ items: ["Company card*"] }', ev({ item: { title: 'Old company card' } }))).toBe(false);
    expect(holds('{ items: ["Card ?"] }', ev({ item: { title: 'card 1' } }))).toBe(true);
    expect(holds('{ items: ["Card ?"] }', ev({ item: { title: 'card 12' } }))).toBe(false);
    expect(holds('{ items: ["Card [abc]"] }', ev({ item: { title: 'Card B' } }))).toBe(true);
    expect(holds('{ items: ["Card [abc]"] }', ev({ item: { title: 'Card d' } }))).toBe(false);
    expect(holds('{ items: ["[!x]ank"] }', ev({ item: { title: 'Bank' } }))).toBe(true);
    expect(holds('{ items: ["[!b]ank"] }', ev({ item: { title: 'Bank' } }))).toBe(false);
  });
  it('`*` runs across slashes: titles are not paths', () => {
    expect(holds('{ items: ["Finance/*"] }', ev({ item: { title: 'Finance/Banks/HSBC' } }))).toBe(true);
  });
  it('regex metacharacters are literal; no glob characters means exact (case-insensitive)', () => {
    expect(holds('{ items: ["a.b (c)+"] }', ev({ item: { title: 'A.B (C)+' } }))).toBe(true);
    expect(holds('{ items: ["a.b (c)+"] }', ev({ item: { title: 'axb (c)' } }))).toBe(false);
    expect(holds('{ items: ["a.b (c)+"] }', ev({ item: { title: 'a.b (c)+ 2' } }))).toBe(false);
    expect(holds('{ items: ["Payroll"] }', ev({ item: { title: 'payroll' } }))).toBe(true);
    expect(holds('{ items: ["Payroll"] }', ev({ item: { title: 'Payroll service' } }))).toBe(false);
  });
  it('reasons say which glob matched, or that the UUID is listed', () => {
    expect(reasons('{ items: ["Other", "Company*"] }', ev())).toContain('item "Company card" matches "Company*"');
    expect(reasons(`{ items: [${id}] }`, ev())).toContain(`item ${id} is listed`);
  });
});

describe('tags', () => {
  it('holds when the enriched item carries any listed tag', () => {
    expect(holds('{ tags: [payment, x] }', ev())).toBe(true);
    expect(holds('{ tags: [admin] }', ev())).toBe(false);
    expect(holds('{ tags: [payment] }', ev({ item: { tags: undefined } }))).toBe(false);
    expect(holds('{ tags: [payment] }', ev({ item: { tags: [] } }))).toBe(false);
  });
});

describe('users', () => {
  it('email globs, case-insensitive', () => {
    expect(holds('{ users: ["svc-*@example.com"] }', ev({ user: { email: 'SVC-backup@Example.com' } }))).toBe(true);
    expect(holds('{ users: ["svc-*@example.com"] }', ev({ user: { email: 'alice@example.com' } }))).toBe(false);
    expect(holds('{ users: [alice@example.com] }', ev())).toBe(true);
    expect(holds('{ users: ["*@example.org"] }', ev())).toBe(false);
  });
  it('a user id equals (the actor may have no email)', () => {
    expect(holds('{ users: [USERID-OF-BOB] }', ev({ user: { id: 'USERID-OF-BOB', email: undefined } }))).toBe(true);
    expect(holds('{ users: [userid-of-bob] }', ev({ user: { id: 'USERID-OF-BOB', email: undefined } }))).toBe(true);
    expect(holds('{ users: [USERID-OF-BOB] }', ev())).toBe(false);
  });
  it('email globs are not applied to ids', () => {
    expect(holds('{ users: ["USERID-*"] }', ev({ user: { id: 'USERID-OF-BOB', email: 'bob@example.com' } }))).toBe(false);
  });
  it('group:NAME holds for members (emails, globs and ids)', () => {
    expect(holds('{ users: ["group:admins"] }', ev({ user: { email: 'alice@example.com' } }))).toBe(true);
    expect(holds('{ users: ["group:admins"] }', ev({ user: { email: 'ops-night@example.com' } }))).toBe(true);
    expect(holds('{ users: ["group:admins"] }', ev({ user: { id: 'USERID-OF-CAROL', email: undefined } }))).toBe(true);
    expect(holds('{ users: ["group:admins"] }', ev({ user: { email: 'bob@example.com' } }))).toBe(false);
    expect(holds('{ users: ["group:admins", "group:finance"] }', ev({ user: { email: 'bob@example.com' } }))).toBe(true);
  });
  it('reasons name the group or the glob', () => {
    expect(reasons('{ users: ["group:finance"] }', ev({ user: { email: 'bob@example.com' } }))).toContain('bob@example.com is in group finance');
    expect(reasons('{ users: ["*@example.com"] }', ev())).toContain('alice@example.com matches "*@example.com"');
  });
});

describe('during / outside (schedules from vaultwatch.yaml, judged on the event time)', () => {
  const wedMorning = ev({ time: '2026-11-18T10:00:00Z' });
  const satNight = ev({ time: '2026-11-21T02:14:00Z' });
  const christmas = ev({ time: '2026-12-25T11:00:00Z' });
  it('during holds inside the schedule, outside holds outside it', () => {
    expect(holds('{ during: office-hours }', wedMorning)).toBe(true);
    expect(holds('{ during: office-hours }', satNight)).toBe(false);
    expect(holds('{ outside: office-hours }', satNight)).toBe(true);
    expect(holds('{ outside: office-hours }', wedMorning)).toBe(false);
  });
  it('a holiday is outside even on a weekday in hours', () => {
    expect(holds('{ outside: office-hours }', christmas)).toBe(true);
  });
  it('ranges are [start, end): 09:00 is inside, 17:30 is not (London time)', () => {
    expect(holds('{ during: office-hours }', ev({ time: '2026-11-18T09:00:00Z' }))).toBe(true);
    expect(holds('{ during: office-hours }', ev({ time: '2026-11-18T17:30:00Z' }))).toBe(false);
    // Summer time: 09:00 London is 08:00 UTC.
    expect(holds('{ during: office-hours }', ev({ time: '2026-07-15T08:00:00Z' }))).toBe(true);
    expect(holds('{ during: office-hours }', ev({ time: '2026-07-15T07:59:59Z' }))).toBe(false);
  });
  it('a list: during any of them; outside all of them', () => {
    const lateWed = ev({ time: '2026-11-18T23:00:00Z' });
    expect(holds('{ during: [office-hours, nights] }', lateWed)).toBe(true);
    expect(holds('{ outside: [office-hours, nights] }', lateWed)).toBe(false);
    expect(holds('{ outside: [office-hours, nights] }', ev({ time: '2026-11-18T19:00:00Z' }))).toBe(true);
  });
  it('the reason says the local time, the zone and the schedule', () => {
    const r = reasons('{ outside: office-hours }', satNight);
    expect(r.join('\n')).toContain('Sat 2026-11-21 02:14 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)');
  });
});

describe('ip', () => {
  it('v4 and v6 CIDRs and single addresses', () => {
    expect(holds('{ ip: ["203.0.113.0/24"] }', ev({ client: { ip: '203.0.113.200' } }))).toBe(true);
    expect(holds('{ ip: ["203.0.113.0/24"] }', ev({ client: { ip: '203.0.114.1' } }))).toBe(false);
    expect(holds('{ ip: ["2001:db8:1::/48"] }', ev({ client: { ip: '2001:db8:1:ffff::7' } }))).toBe(true);
    expect(holds('{ ip: ["2001:db8:1::/48"] }', ev({ client: { ip: '2001:db8:2::7' } }))).toBe(false);
    expect(holds('{ ip: ["198.51.100.7"] }', ev({ client: { ip: '198.51.100.7' } }))).toBe(true);
    expect(holds('{ ip: ["198.51.100.7"] }', ev({ client: { ip: '198.51.100.8' } }))).toBe(false);
    expect(holds('{ ip: ["2001:db8::/32", "10.0.0.0/8"] }', ev({ client: { ip: '10.1.2.3' } }))).toBe(true);
  });
  it('an IPv4-mapped event address is its IPv4 address', () => {
    expect(holds('{ ip: ["203.0.113.0/24"] }', ev({ client: { ip: '::ffff:203.0.113.7' } }))).toBe(true);
    expect(holds('{ ip: ["203.0.113.0/24"] }', ev({ client: { ip: '::ffff:192.0.2.7' } }))).toBe(false);
  });
  it('an IPv4-mapped CIDR in a policy covers the IPv4 addresses', () => {
    expect(holds('{ ip: ["::ffff:203.0.113.0/120"] }', ev({ client: { ip: '203.0.113.9' } }))).toBe(true);
    expect(holds('{ ip: ["::ffff:203.0.113.0/120"] }', ev({ client: { ip: '::ffff:203.0.113.9' } }))).toBe(true);
    expect(holds('{ ip: ["::ffff:203.0.113.0/120"] }', ev({ client: { ip: '203.0.114.9' } }))).toBe(false);
  });
  it('an invalid or missing address lies in no CIDR, not even 0.0.0.0/0', () => {
    for (const ip of ['not-an-ip', '203.0.113', '010.0.0.1', '203.0.113.7:443', '']) {
      expect(holds('{ ip: ["0.0.0.0/0", "::/0"] }', ev({ client: { ip } })), ip).toBe(false);
    }
    expect(holds('{ ip: ["0.0.0.0/0"] }', ev({ client: undefined }))).toBe(false);
  });
  it('so a `not: ip` office exception does not excuse an unknown address', () => {
    expect(holds('{ actions: [reveal] }', ev({ client: { ip: 'garbage' } }), '{ ip: ["203.0.113.0/24"] }')).toBe(true);
    expect(holds('{ actions: [reveal] }', ev({ client: { ip: '203.0.113.5' } }), '{ ip: ["203.0.113.0/24"] }')).toBe(false);
  });
});

describe('countries', () => {
  it('ISO codes; names in the policy and in the event are normalised ("Canada" == CA)', () => {
    expect(holds('{ countries: [CA] }', ev({ location: { country: 'Canada' } }))).toBe(true);
    expect(holds('{ countries: [Canada] }', ev({ location: { country: 'CA' } }))).toBe(true);
    expect(holds('{ countries: [ca] }', ev({ location: { country: 'ca' } }))).toBe(true);
    expect(holds('{ countries: ["United Kingdom"] }', ev({ location: { country: 'GB' } }))).toBe(true);
    expect(holds('{ countries: [CA, US] }', ev({ location: { country: 'GB' } }))).toBe(false);
  });
  it('an unknown or missing country never matches', () => {
    expect(holds('{ countries: [CA] }', ev({ location: undefined }))).toBe(false);
    expect(holds('{ countries: [CA] }', ev({ location: { country: 'Atlantis' } }))).toBe(false);
  });
});

describe('clients', () => {
  it('client app name globs, case-insensitive', () => {
    expect(holds('{ clients: ["*Extension*"] }', ev({ client: { app: '1Password Browser Extension' } }))).toBe(true);
    expect(holds('{ clients: ["1Password CLI"] }', ev({ client: { app: '1password cli' } }))).toBe(true);
    expect(holds('{ clients: ["1Password CLI"] }', ev({ client: { app: '1Password CLI 2' } }))).toBe(false);
    expect(holds('{ clients: ["*"] }', ev({ client: { ip: '1.2.3.4', app: undefined } }))).toBe(false);
  });
});

describe('combining keys', () => {
  const m = '{ actions: [reveal, copy], items: ["Company card*", "Bank*"], users: ["group:finance"] }';
  it('AND across keys, OR within a list', () => {
    expect(holds(m, ev({ action: 'copy', item: { title: 'Bank account' }, user: { email: 'bob@example.com' } }))).toBe(true);
    expect(holds(m, ev({ action: 'reveal', user: { email: 'bob@example.com' } }))).toBe(true);
    expect(holds(m, ev({ action: 'fill', user: { email: 'bob@example.com' } }))).toBe(false);
    expect(holds(m, ev({ action: 'copy', item: { title: 'Payroll' }, user: { email: 'bob@example.com' } }))).toBe(false);
    expect(holds(m, ev({ action: 'copy', user: { email: 'alice@example.com' } }))).toBe(false);
  });
  it('reasons explain every key, in a stable order', () => {
    expect(reasons(m, ev({ action: 'copy', user: { email: 'bob@example.com' } }))).toEqual([
      'action copy is one of: reveal, copy',
      'item "Company card" matches "Company card*"',
      'bob@example.com is in group finance',
    ]);
  });
});

describe('not', () => {
  it('one block: the rule fires only when the block does not hold as a whole', () => {
    const not = '{ users: ["svc-*@example.com"], ip: ["10.0.0.0/8"] }';
    const svcInside = ev({ user: { email: 'svc-backup@example.com' }, client: { ip: '10.1.1.1' } });
    const svcOutside = ev({ user: { email: 'svc-backup@example.com' }, client: { ip: '198.51.100.1' } });
    const personInside = ev({ client: { ip: '10.1.1.1' } });
    expect(holds('{ actions: [reveal] }', svcInside, not)).toBe(false);
    expect(holds('{ actions: [reveal] }', svcOutside, not)).toBe(true);
    expect(holds('{ actions: [reveal] }', personInside, not)).toBe(true);
  });
  it('a list of blocks: any block that holds as a whole is an exception', () => {
    const not = '[{ users: ["group:admins"] }, { users: ["bob@example.com"], during: office-hours }]';
    expect(holds(undefined, ev({ user: { email: 'alice@example.com' } }), not)).toBe(false);
    expect(holds(undefined, ev({ user: { email: 'bob@example.com' }, time: '2026-11-18T10:00:00Z' }), not)).toBe(false);
    expect(holds(undefined, ev({ user: { email: 'bob@example.com' }, time: '2026-11-21T02:00:00Z' }), not)).toBe(true);
    expect(holds(undefined, ev({ user: { email: 'dave@example.com' } }), not)).toBe(true);
  });
  it('the reasons say why the exception did not apply', () => {
    const r = reasons('{ items: ["Company card"] }', ev({ user: { email: 'dave@example.com' } }), '{ users: ["group:admins"] }');
    expect(r).toContain('dave@example.com is not in group admins');
  });
});

describe('rules, vaults and the index', () => {
  it('a rule without `match` holds for every event of its vault', () => {
    expect(holds(undefined, ev({ action: 'other', vendor_action: 'x', item: { id: 'zzz', title: undefined, type: undefined, tags: undefined } }))).toBe(true);
    expect(reasons(undefined, ev({ vault: { name: 'Finance' } }))).toEqual(['any use of an item in vault Finance']);
  });

  it('events of a vault that no policy names raise nothing', () => {
    expect(holds(undefined, ev({ vault: { id: 'some-other-vault' } }))).toBe(false);
  });

  it('vault ids are compared case-insensitively', () => {
    expect(holds(undefined, ev({ vault: { id: VAULT.toUpperCase() } }))).toBe(true);
  });

  it('`enabled: false` switches a rule off', () => {
    const set = policySet(`
  - name: off
    enabled: false
  - name: on
    enabled: true
  - name: default on`);
    expect(matching(set, ev())).toEqual(['on', 'default on']);
    expect(set.ruleCount).toBe(2);
  });

  it('`vaults:` applies the rules to each listed vault, with each vault\'s name', () => {
    const rt = runtimeOf({
      'vaultwatch.yaml': BASE_CONFIG,
      'policies/shared.yaml': `vaults: [{ id: vaultaaaa, name: A }, { id: VAULTBBBB, name: B }]
managers: [{ email: sec@example.com }]
rules:
  - name: any use
  - name: reveals
    match: { actions: [reveal] }
`,
    });
    const set = rt.policies;
    expect(matching(set, ev({ vault: { id: 'vaultaaaa' } }))).toEqual(['any use', 'reveals']);
    expect(matching(set, ev({ vault: { id: 'vaultbbbb' }, action: 'fill' }))).toEqual(['any use']);
    expect(matching(set, ev({ vault: { id: 'vaultcccc' } }))).toEqual([]);
    expect(set.vaultName('VAULTAAAA')).toBe('A');
    expect(set.vaultName('vaultbbbb')).toBe('B');
    expect(set.vaultCount).toBe(2);
  });

  it('rules of several files for one vault all apply, files in name order, rules in file order', () => {
    const rt = runtimeOf({
      'vaultwatch.yaml': BASE_CONFIG,
      'policies/b.yaml': `vault: { id: ${VAULT} }\nmanagers: [{ email: b@example.com }]\nrules:\n  - name: b1\n  - name: b2\n`,
      'policies/a.yaml': `vault: { id: ${VAULT} }\nmanagers: [{ email: a@example.com }]\nrules:\n  - name: a1\n    match: { actions: [copy] }\n  - name: a2\n`,
    });
    expect(matching(rt.policies, ev({ action: 'copy' }))).toEqual(['a1', 'a2', 'b1', 'b2']);
    expect(matching(rt.policies, ev({ action: 'fill' }))).toEqual(['a2', 'b1', 'b2']);
  });

  it('the action index never hides a rule (every action, rules with and without `actions`)', () => {
    const set = policySet(`
  - name: reveal-or-copy
    match: { actions: [reveal, copy] }
  - name: no-actions
    match: { items: ["Company*"] }
  - name: single
    match: { actions: other }`);
    for (const action of ['view', 'reveal', 'copy', 'fill', 'edit', 'create', 'delete', 'export', 'share', 'sso', 'fetch', 'other'] as const) {
      const want = [...(['reveal', 'copy'].includes(action) ? ['reveal-or-copy'] : []), 'no-actions', ...(action === 'other' ? ['single'] : [])];
      expect(matching(set, ev({ action })), action).toEqual(want);
    }
  });
});
