/**
 * evaluateEvent with MemoryRuleState: the stateful semantics of policy-format.md (first_time,
 * threshold, dedup), reasons, recipients and the shape of alerts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { alertId, type Alert } from '../../../src/domain/alert.ts';
import { formatTarget } from '../../../src/domain/target.ts';
import { evaluateEvent, renderDedupKey } from '../../../src/pipeline/evaluate.ts';
import { MemoryRuleState } from '../../../src/pipeline/memory-rule-state.ts';
import { at, cleanTrees, ev, evaluateAll, policySet, VAULT } from '../../helpers/config-kit.ts';

afterAll(cleanTrees);

const T0 = '2026-11-18T10:00:00.000Z';
const names = (alerts: Alert[]) => alerts.map((a) => a.rule);
const fired = (perEvent: Alert[][], rule: string) => perEvent.map((as) => as.some((a) => a.rule === rule));

describe('alerts', () => {
  const set = policySet(`
  - name: Card revealed
    match: { items: ["Company card*"], actions: [reveal] }
    severity: high
  - name: Any use`);

  it('one alert per (event, rule), in rule order, with a deterministic id', async () => {
    const e = ev({ id: 'E1' });
    const alerts = await evaluateEvent(e, set, new MemoryRuleState());
    expect(names(alerts)).toEqual(['Card revealed', 'Any use']);
    const [a] = alerts;
    expect(a!.id).toBe(alertId('E1', 'policies/p.yaml', 'Card revealed'));
    expect(a!).toMatchObject({ policy: 'policies/p.yaml', severity: 'high', timezone: 'Europe/London', suppressed: false });
    expect(a!.follows).toBeUndefined();
    expect(a!.dedup_key).toBeUndefined();
    expect(a!.reasons).toEqual(['action reveal is one of: reveal', 'item "Company card" matches "Company card*"']);
  });

  it('fills the vault name from the policy when the event has none', async () => {
    const e = ev({ vault: { id: VAULT.toUpperCase() } });
    const alerts = await evaluateEvent(e, set, new MemoryRuleState());
    expect(alerts[1]!.event.vault.name).toBe('Finance');
    expect(alerts[1]!.reasons).toEqual(['any use of an item in vault Finance']);
  });

  it('an event no rule holds for gives [] synchronously (the fast path)', () => {
    const out = evaluateEvent(ev({ vault: { id: 'elsewhere' } }), set, new MemoryRuleState());
    expect(out).toEqual([]);
    expect(Array.isArray(out)).toBe(true);
  });
});

describe('recipients', () => {
  const set = policySet(`
  - name: tell everyone
    notify: [managers, accessor, "email:CFO@example.com", "slack:#security", "slack:#finance-alerts", "webhook:siem"]
  - name: accessor only
    notify: [accessor]`);

  it('managers expanded, explicit targets, the accessor by email, duplicates removed', async () => {
    const [a] = await evaluateEvent(ev({ user: { email: 'Dave@Example.com' } }), set, new MemoryRuleState());
    expect(a!.targets.map(formatTarget)).toEqual([
      'email:cfo@example.com', 'slack:#finance-alerts', 'slack:#security', 'webhook:siem', 'email:dave@example.com',
    ]);
  });

  it('an accessor who is already a recipient is listed once', async () => {
    const [a] = await evaluateEvent(ev({ user: { email: 'cfo@example.com' } }), set, new MemoryRuleState());
    expect(a!.targets.map(formatTarget)).toEqual(['email:cfo@example.com', 'slack:#finance-alerts', 'slack:#security', 'webhook:siem']);
  });

  it('an accessor without an email cannot be told: no target, and no crash', async () => {
    const alerts = await evaluateEvent(ev({ user: { id: 'U-NOMAIL', email: undefined } }), set, new MemoryRuleState());
    expect(alerts[1]!.rule).toBe('accessor only');
    expect(alerts[1]!.targets).toEqual([]);
  });
});

describe('first_time', () => {
  const set = policySet(`
  - name: first
    match: { actions: [reveal], first_time: [user, item] }
    not: { users: ["svc-*@example.com"] }`);

  it('fires once per combination of values', async () => {
    const events = [
      ev({ time: at(T0, 0) }),
      ev({ time: at(T0, 1) }),
      ev({ time: at(T0, 2), user: { id: 'U-BOB', email: 'bob@example.com' } }),
      ev({ time: at(T0, 3), item: { id: 'other-item', title: 'Bank' } }),
      ev({ time: at(T0, 4), user: { id: 'U-BOB', email: 'bob@example.com' } }),
      ev({ time: at(T0, 5) }),
    ];
    expect(fired(await evaluateAll(set, events), 'first')).toEqual([true, false, true, true, false, false]);
  });

  it('is judged only for events that satisfy every other key and no not block: others do not use it up', async () => {
    const events = [
      ev({ action: 'copy' }), // fails `actions`
      ev({ user: { id: 'U-SVC', email: 'svc-backup@example.com' } }), // excused by `not`
      ev({ vault: { id: 'elsewhere' } }), // another vault
      ev(), // the first that counts
      ev({ user: { id: 'U-SVC', email: 'svc-backup@example.com' } }),
    ];
    expect(fired(await evaluateAll(set, events), 'first')).toEqual([false, false, false, true, false]);
  });

  it('keys on the email when known, else the user id', async () => {
    const events = [
      ev({ user: { id: 'U1', email: undefined } }),
      ev({ user: { id: 'U1', email: undefined } }),
      ev({ user: { id: 'U1', email: 'u1@example.com' } }),
    ];
    expect(fired(await evaluateAll(set, events), 'first')).toEqual([true, false, true]);
  });

  it('a retried evaluation of the same event gives the same answer', async () => {
    const state = new MemoryRuleState();
    const first = ev({ id: 'FIRST' });
    const second = ev({ id: 'SECOND' });
    expect(names(await evaluateEvent(first, set, state))).toEqual(['first']);
    expect(names(await evaluateEvent(second, set, state))).toEqual([]);
    expect(names(await evaluateEvent(first, set, state))).toEqual(['first']);
    expect(names(await evaluateEvent(second, set, state))).toEqual([]);
  });

  it('explains itself', async () => {
    const [a] = await evaluateEvent(ev(), set, new MemoryRuleState());
    expect(a!.reasons).toContain('first time for user alice@example.com, item "Company card"');
    expect(a!.reasons).toContain('alice@example.com is not "svc-*@example.com"');
  });

  it('state belongs to the rule: two rules with the same keys are independent', async () => {
    const two = policySet(`
  - name: a
    match: { first_time: [user] }
  - name: b
    match: { actions: [copy], first_time: [user] }`);
    const out = await evaluateAll(two, [ev({ action: 'reveal' }), ev({ action: 'copy' }), ev({ action: 'copy' })]);
    expect(out.map(names)).toEqual([['a'], ['b'], []]);
  });

  it('first_time keys: vault, ip, country, client', async () => {
    const s = policySet('  - name: new network\n    match: { first_time: [ip, country, client] }');
    const out = await evaluateAll(s, [
      ev(),
      ev({ user: { email: 'bob@example.com' } }),
      ev({ client: { ip: '198.51.100.1' } }),
      ev({ location: { country: 'FR' } }),
      ev({ client: { app: '1Password CLI' } }),
      ev({ client: undefined }),
      ev({ client: undefined, user: { email: 'bob@example.com' } }),
    ]);
    expect(fired(out, 'new network')).toEqual([true, false, true, true, true, true, false]);
    expect(out[5]![0]!.reasons).toContain('first time for ip (unknown), country GB, client (unknown)');
  });
});

describe('threshold', () => {
  const set = policySet(`
  - name: burst
    match: { actions: [copy, export], threshold: { count: 3, within: 10m, per: [user] } }`);
  const copy = (minutes: number, email = 'alice@example.com') => ev({ action: 'copy', time: at(T0, minutes), user: { id: email, email } });

  it('fires for every event while (t - within, t] holds N or more', async () => {
    const out = await evaluateAll(set, [copy(0), copy(2), copy(4), copy(6), copy(15), copy(16), copy(17)]);
    expect(fired(out, 'burst')).toEqual([false, false, true, true, false, false, true]);
  });

  it('an event exactly `within` before does not count; one a millisecond later does', async () => {
    const atMs = (ms: number) => ev({ action: 'copy', time: new Date(Date.parse(T0) + ms).toISOString() });
    const W = 600_000;
    expect(fired(await evaluateAll(set, [atMs(0), atMs(1), atMs(W)]), 'burst')).toEqual([false, false, false]);
    expect(fired(await evaluateAll(set, [atMs(0), atMs(1), atMs(W - 1)]), 'burst')).toEqual([false, false, true]);
  });

  it('counts per `per` values', async () => {
    const out = await evaluateAll(set, [copy(0), copy(1, 'bob@example.com'), copy(2), copy(3, 'bob@example.com'), copy(4), copy(5, 'bob@example.com')]);
    expect(fired(out, 'burst')).toEqual([false, false, false, false, true, true]);
  });

  it('without `per`, all events of the rule count together', async () => {
    const s = policySet('  - name: burst\n    match: { threshold: { count: 2, within: 1m } }');
    const out = await evaluateAll(s, [ev({ time: at(T0, 0) }), ev({ time: at(T0, 0.5), user: { email: 'bob@example.com' } })]);
    expect(fired(out, 'burst')).toEqual([false, true]);
  });

  it('only events that satisfy the rule\'s other keys count', async () => {
    const out = await evaluateAll(set, [copy(0), ev({ action: 'reveal', time: at(T0, 1) }), ev({ action: 'fill', time: at(T0, 2) }), copy(3), copy(4)]);
    expect(fired(out, 'burst')).toEqual([false, false, false, false, true]);
  });

  it('the same event judged twice counts once', async () => {
    const state = new MemoryRuleState();
    const a = copy(0);
    const b = copy(1);
    await evaluateEvent(a, set, state);
    await evaluateEvent(a, set, state);
    await evaluateEvent(b, set, state);
    expect(names(await evaluateEvent(b, set, state))).toEqual([]);
    expect(names(await evaluateEvent(copy(2), set, state))).toEqual(['burst']);
  });

  it('explains the count', async () => {
    const out = await evaluateAll(set, [copy(0), copy(1), copy(2)]);
    expect(out[2]![0]!.reasons).toContain('3 matching events for user alice@example.com within 10m (threshold 3)');
  });

  it('pairs with dedup to hear about a burst once', async () => {
    const s = policySet(`
  - name: burst
    match: { actions: [copy], threshold: { count: 2, within: 10m, per: [user] } }
    dedup: { key: "{user}", window: 30m }`);
    const out = await evaluateAll(s, [copy(0), copy(1), copy(2), copy(3), copy(40), copy(41)]);
    expect(out.map((as) => as.map((a) => (a.suppressed ? 'suppressed' : 'notify')))).toEqual([
      [], ['notify'], ['suppressed'], ['suppressed'], [], ['notify'],
    ]);
    expect(out[2]![0]!.follows).toBe(out[1]![0]!.id);
  });
});

describe('dedup', () => {
  const set = policySet(`
  - name: card
    match: { actions: [reveal, copy] }
    dedup: { key: "{user}:{item}", window: 1h }
  - name: no dedup
    match: { actions: [reveal, copy] }`);
  const use = (minutes: number, email = 'alice@example.com', item = 'wxcplh5udshnonkzuuqdkbpmle') =>
    ev({ time: at(T0, minutes), user: { id: email, email }, item: { id: item } });

  it('the first alert notifies and opens [t, t + window); later ones inside are suppressed and follow it', async () => {
    const out = await evaluateAll(set, [use(0), use(30), use(59.999), use(60), use(61), use(120)]);
    const card = out.map((as) => as.find((a) => a.rule === 'card')!);
    expect(card.map((a) => a.suppressed)).toEqual([false, true, true, false, true, false]);
    expect(card[1]!.follows).toBe(card[0]!.id);
    expect(card[2]!.follows).toBe(card[0]!.id);
    expect(card[3]!.follows).toBeUndefined();
    expect(card[4]!.follows).toBe(card[3]!.id);
    expect(card.every((a) => a.dedup_key === 'alice@example.com:wxcplh5udshnonkzuuqdkbpmle')).toBe(true);
    // Suppressed alerts are still alerts (kept, counted), and other rules are not affected.
    expect(out.every((as) => as.find((a) => a.rule === 'no dedup')?.suppressed === false)).toBe(true);
  });

  it('explains a suppressed repeat', async () => {
    const out = await evaluateAll(set, [use(0), use(10), use(20)]);
    expect(out[2]![0]!.reasons.at(-1)).toBe('repeat #3 within 1h of the first alert for alice@example.com:wxcplh5udshnonkzuuqdkbpmle');
    expect(out[0]![0]!.reasons.some((r) => r.startsWith('repeat'))).toBe(false);
  });

  it('different keys have their own windows', async () => {
    const out = await evaluateAll(set, [use(0), use(1, 'bob@example.com'), use(2, 'alice@example.com', 'other'), use(3)]);
    expect(out.map((as) => as[0]!.suppressed)).toEqual([false, false, false, true]);
  });

  it('a retried evaluation of the same event gives the same verdict', async () => {
    const state = new MemoryRuleState();
    const a = use(0);
    const b = use(5);
    const first = await evaluateEvent(a, set, state);
    const second = await evaluateEvent(b, set, state);
    expect((await evaluateEvent(a, set, state))[0]).toMatchObject({ suppressed: false, id: first[0]!.id });
    expect((await evaluateEvent(b, set, state))[0]).toMatchObject({ suppressed: true, follows: first[0]!.id });
    expect(second[0]!.follows).toBe(first[0]!.id);
  });

  it('renders every placeholder of a key template', () => {
    const e = ev({ action: 'copy', client: { app: 'CLI', ip: '198.51.100.7' }, location: { country: 'FR' } });
    expect(renderDedupKey('{rule}|{user}|{item}|{vault}|{action}|{ip}|{country}|{client}', e, 'R'))
      .toBe(`R|alice@example.com|wxcplh5udshnonkzuuqdkbpmle|${VAULT}|copy|198.51.100.7|FR|CLI`);
    expect(renderDedupKey('{user}', ev({ user: { id: 'U9', email: undefined } }), 'R')).toBe('U9');
    expect(renderDedupKey('{ip}/{country}', ev({ client: undefined, location: undefined }), 'R')).toBe('/');
  });

  it('a key of {rule} folds every alert of the rule', async () => {
    const s = policySet('  - name: r\n    dedup: { key: "{rule}", window: 10m }');
    const out = await evaluateAll(s, [use(0), use(1, 'bob@example.com'), use(2, 'carol@example.com', 'x')]);
    expect(out.map((as) => as[0]!.suppressed)).toEqual([false, true, true]);
    expect(out[0]![0]!.dedup_key).toBe('r');
  });
});
