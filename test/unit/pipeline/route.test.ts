/**
 * Delivery planning (src/pipeline/route.ts), pure: recipients' hours (`deliver: defer|digest`) judged
 * on the clock at routing time, never on the event time; digests bucketed per (recipient, window
 * start); the critical override; and separation of duties.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { scheduleResolver } from '../../../src/app/delivery-routing.ts';
import type { Runtime } from '../../../src/app/load-runtime.ts';
import type { Alert } from '../../../src/domain/alert.ts';
import { parseTarget, type Target } from '../../../src/domain/target.ts';
import { MemoryRuleState } from '../../../src/pipeline/memory-rule-state.ts';
import {
  ACCESSOR_ONLY_REASON, digestId, formatLocal, isAccessorTarget, planAlert, planTarget, separateDuties, type HoursOptions,
} from '../../../src/pipeline/route.ts';
import { BASE_CONFIG, cleanTrees, ev, evaluateAll, runtimeOf, VAULT } from '../../helpers/config-kit.ts';

afterAll(cleanTrees);

const CONFIG = BASE_CONFIG.replace('schedules:\n', `schedules:
  no-zone:
    days: [mon-fri]
    hours: ["09:00-17:00"]
`);

/** Managers: cfo (email, office-hours, Europe/London), the CFO's Slack DM (office-hours), a channel without hours. */
function runtime(rule: string, extra = ''): Runtime {
  return runtimeOf({
    'vaultwatch.yaml': CONFIG,
    'policies/p.yaml': `vault: { id: ${VAULT}, name: Finance }
timezone: Europe/London
managers:
  - email: cfo@example.com
    schedule: office-hours
  - slack: "@cfo@example.com"
    schedule: office-hours
  - slack: "#finance-alerts"
${extra}
rules:
${rule}`,
  });
}

async function alertOf(rt: Runtime, over: Parameters<typeof ev>[0] = {}): Promise<Alert> {
  const [alerts] = await evaluateAll(rt.policies, [ev(over)], new MemoryRuleState());
  expect(alerts).toHaveLength(1);
  return alerts![0]!;
}

const opts = (rt: Runtime, iso: string, criticalIgnoresHours = true): HoursOptions => ({
  now: Date.parse(iso), schedule: scheduleResolver(rt), criticalIgnoresHours,
});
const t = (text: string): Target => parseTarget(text) as Target;
const CFO = t('email:cfo@example.com');
const CFO_DM = t('slack:@cfo@example.com');
const CHANNEL = t('slack:#finance-alerts');

const DEFER = `  - name: Card
    match: { items: ["Company card"] }
    severity: high
    deliver: defer
`;
const DIGEST = DEFER.replace('deliver: defer', 'deliver: digest');

describe('recipients\' hours: deliver: defer', () => {
  it('the alert carries each recipient\'s schedule (target_schedules), from the managers entries', async () => {
    const a = await alertOf(runtime(DEFER));
    expect(a.deliver).toBe('defer');
    expect(a.target_schedules).toEqual({ 'email:cfo@example.com': 'office-hours', 'slack:@cfo@example.com': 'office-hours' });
  });

  it('outside the window (Wed 20:00 London): held until the next start, Thu 09:00', async () => {
    const rt = runtime(DEFER);
    const a = await alertOf(rt);
    const p = planTarget(a, CFO, opts(rt, '2026-11-18T20:00:00Z'));
    expect(p).toEqual({
      mode: 'defer', at: '2026-11-19T09:00:00.000Z', schedule: 'office-hours', zone: 'Europe/London',
      reason: 'outside office-hours (Mon-Fri 09:00-17:30 (except holidays)) when it was routed; held until Thu 19 Nov 2026 09:00 Europe/London',
    });
  });

  it('inside the window: now, and planAlert leaves the alert as it was', async () => {
    const rt = runtime(DEFER);
    const a = await alertOf(rt);
    expect(planTarget(a, CFO, opts(rt, '2026-11-18T09:00:00Z'))).toEqual({ mode: 'now' });
    expect(planTarget(a, CFO, opts(rt, '2026-11-18T17:29:59.999Z'))).toEqual({ mode: 'now' });
    expect(planAlert(a, opts(rt, '2026-11-18T12:00:00Z'))).toBe(a);
    // The end of the range is outside ([start, end)).
    expect(planTarget(a, CFO, opts(rt, '2026-11-18T17:30:00Z'))).toMatchObject({ mode: 'defer', at: '2026-11-19T09:00:00.000Z' });
  });

  it('judged on the clock at routing time, never on the event time', async () => {
    const rt = runtime(DEFER);
    // Used at 10:00 on a Wednesday (inside hours), routed at 20:00: held.
    const used10 = await alertOf(rt, { time: '2026-11-18T10:00:00Z' });
    expect(planTarget(used10, CFO, opts(rt, '2026-11-18T20:00:00Z')).mode).toBe('defer');
    // Used at 02:00 on a Saturday (outside), routed Monday 10:00: now.
    const usedSat = await alertOf(rt, { time: '2026-11-21T02:00:00Z' });
    expect(planTarget(usedSat, CFO, opts(rt, '2026-11-23T10:00:00Z'))).toEqual({ mode: 'now' });
  });

  it('across a weekend: Friday 18:00 -> Monday 09:00', async () => {
    const rt = runtime(DEFER);
    const a = await alertOf(rt);
    expect(planTarget(a, CFO, opts(rt, '2026-11-20T18:00:00Z'))).toMatchObject({ mode: 'defer', at: '2026-11-23T09:00:00.000Z' });
    expect(planTarget(a, CFO, opts(rt, '2026-11-22T23:59:00Z'))).toMatchObject({ mode: 'defer', at: '2026-11-23T09:00:00.000Z' });
  });

  it('across a holiday: Christmas Eve evening -> Monday 28 Dec (the 25th is a holiday, then the weekend)', async () => {
    const rt = runtime(DEFER);
    const a = await alertOf(rt);
    expect(planTarget(a, CFO, opts(rt, '2026-12-24T18:00:00Z'))).toMatchObject({ mode: 'defer', at: '2026-12-28T09:00:00.000Z' });
    // During the holiday's would-be office hours too.
    const p = planTarget(a, CFO, opts(rt, '2026-12-25T11:00:00Z'));
    expect(p).toMatchObject({ mode: 'defer', at: '2026-12-28T09:00:00.000Z' });
    expect(p.mode !== 'now' && p.reason).toContain('held until Mon 28 Dec 2026 09:00 Europe/London');
  });

  it('in the schedule\'s own zone, across a daylight-saving change (London, last Sunday of March)', async () => {
    const rt = runtime(DEFER);
    const a = await alertOf(rt);
    // Friday 27 Mar 2026 18:00 GMT -> Monday 30 Mar 09:00 BST = 08:00Z.
    expect(planTarget(a, CFO, opts(rt, '2026-03-27T18:00:00Z'))).toMatchObject({ at: '2026-03-30T08:00:00.000Z' });
  });

  it('a schedule without a zone follows the policy\'s zone', async () => {
    const rt = runtimeOf({
      'vaultwatch.yaml': CONFIG,
      'policies/p.yaml': `vault: { id: ${VAULT}, name: Finance }
timezone: America/Toronto
managers:
  - email: cfo@example.com
    schedule: no-zone
rules:
${DEFER}`,
    });
    const a = await alertOf(rt);
    // Wed 20:00Z = 15:00 Toronto (inside 09:00-17:00 there; outside in London).
    expect(planTarget(a, CFO, opts(rt, '2026-11-18T20:00:00Z'))).toEqual({ mode: 'now' });
    // Wed 23:00Z = 18:00 Toronto -> Thu 09:00 Toronto = 14:00Z.
    expect(planTarget(a, CFO, opts(rt, '2026-11-18T23:00:00Z'))).toMatchObject({ at: '2026-11-19T14:00:00.000Z', zone: 'America/Toronto' });
  });

  it('targets without hours (a channel, a webhook, an explicit address) are never held', async () => {
    const rt = runtime(DEFER);
    const a = await alertOf(rt);
    expect(planTarget(a, CHANNEL, opts(rt, '2026-11-18T20:00:00Z'))).toEqual({ mode: 'now' });
    expect(planTarget(a, t('webhook:siem'), opts(rt, '2026-11-18T20:00:00Z'))).toEqual({ mode: 'now' });
    const planned = planAlert(a, opts(rt, '2026-11-18T20:00:00Z'));
    expect(Object.keys(planned.delivery_plan ?? {}).sort()).toEqual(['email:cfo@example.com', 'slack:@cfo@example.com']);
    expect(planned.targets).toEqual(a.targets);
  });

  it('critical goes out now by default; with critical_ignores_hours: false it is held like any other', async () => {
    const rt = runtime(DEFER.replace('severity: high', 'severity: critical'));
    const a = await alertOf(rt);
    expect(planTarget(a, CFO, opts(rt, '2026-11-21T03:00:00Z'))).toEqual({ mode: 'now', note: 'critical: sent at once, whatever the hours' });
    expect(planAlert(a, opts(rt, '2026-11-21T03:00:00Z'))).toBe(a);
    expect(planTarget(a, CFO, opts(rt, '2026-11-21T03:00:00Z', false))).toMatchObject({ mode: 'defer', at: '2026-11-23T09:00:00.000Z' });
  });

  it('deliver: now (the default), declarations/silences and notices are never planned', async () => {
    const rt = runtime(DEFER.replace('    deliver: defer\n', ''));
    const now = await alertOf(rt);
    expect(now.deliver).toBeUndefined();
    expect(planAlert(now, opts(rt, '2026-11-21T03:00:00Z'))).toBe(now);
    const rtd = runtime(DEFER);
    const covered = { ...(await alertOf(rtd)), suppressed: true, suppression: { kind: 'silence' as const, id: 's1', author: 'a', reason: 'r' } };
    expect(planAlert(covered, opts(rtd, '2026-11-21T03:00:00Z'))).toBe(covered);
    const notice = { ...(await alertOf(rtd)), notice: { headline: 'x' } };
    expect(planTarget(notice, CFO, opts(rtd, '2026-11-21T03:00:00Z'))).toEqual({ mode: 'now' });
  });

  it('an unknown schedule (removed by a reload) sends now and says why', async () => {
    const rt = runtime(DEFER);
    const a = { ...(await alertOf(rt)), target_schedules: { 'email:cfo@example.com': 'gone' } };
    expect(planTarget(a, CFO, opts(rt, '2026-11-18T20:00:00Z'))).toEqual({ mode: 'now', note: 'schedule gone is not defined (any more): sent at once' });
  });
});

describe('recipients\' hours: deliver: digest', () => {
  it('outside: into the digest of (recipient, window start), due at the window start', async () => {
    const rt = runtime(DIGEST);
    const a = await alertOf(rt);
    const p = planTarget(a, CFO, opts(rt, '2026-11-20T18:00:00Z'));
    expect(p).toMatchObject({ mode: 'digest', at: '2026-11-23T09:00:00.000Z', schedule: 'office-hours' });
    expect(p.mode === 'digest' && p.digest).toBe(digestId('email:cfo@example.com', Date.parse('2026-11-23T09:00:00Z')));
    expect(p.mode !== 'now' && p.reason).toContain('in the digest at Mon 23 Nov 2026 09:00 Europe/London');
  });

  it('bucket keys: one per (recipient, window start), deterministic, a valid job id', async () => {
    const rt = runtime(DIGEST);
    const a = await alertOf(rt);
    const b = await alertOf(rt, { user: { email: 'bob@example.com', id: 'BOB', name: 'Bob' } });
    // Friday evening and Sunday night: the same window (Monday 09:00), the same digest for the CFO.
    const fri = planTarget(a, CFO, opts(rt, '2026-11-20T18:00:00Z'));
    const sun = planTarget(b, CFO, opts(rt, '2026-11-22T23:00:00Z'));
    expect(fri.mode === 'digest' && fri.digest).toMatch(/^dg[0-9a-f]{24}$/);
    expect(fri.mode === 'digest' && sun.mode === 'digest' && fri.digest === sun.digest).toBe(true);
    // Another recipient: another digest; another window: another digest.
    const dm = planTarget(a, CFO_DM, opts(rt, '2026-11-20T18:00:00Z'));
    const tue = planTarget(a, CFO, opts(rt, '2026-11-23T18:00:00Z'));
    expect(dm.mode === 'digest' && fri.mode === 'digest' && dm.digest !== fri.digest).toBe(true);
    expect(tue).toMatchObject({ mode: 'digest', at: '2026-11-24T09:00:00.000Z' });
    expect(tue.mode === 'digest' && fri.mode === 'digest' && tue.digest !== fri.digest).toBe(true);
    expect(digestId('email:cfo@example.com', 1)).toBe(digestId('email:cfo@example.com', 1));
  });

  it('inside the window: now', async () => {
    const rt = runtime(DIGEST);
    const a = await alertOf(rt);
    expect(planTarget(a, CFO, opts(rt, '2026-11-23T10:00:00Z'))).toEqual({ mode: 'now' });
  });

  it('dedup repeats are planned like their first alert (their follow-ups wait for the same hours)', async () => {
    const rt = runtime(`${DIGEST}    dedup: { window: 1h }\n`);
    const judged = await evaluateAll(rt.policies, [ev({ time: '2026-11-20T18:00:00Z' }), ev({ time: '2026-11-20T18:10:00Z' })], new MemoryRuleState());
    const first = judged[0]![0];
    const repeat = judged[1]![0];
    expect(repeat!.suppressed).toBe(true);
    expect(repeat!.follows).toBe(first!.id);
    expect(repeat!.occurrence).toBe(2);
    const p = planAlert(repeat!, opts(rt, '2026-11-20T18:10:00Z'));
    expect(p.delivery_plan?.['email:cfo@example.com']).toMatchObject({ mode: 'digest' });
  });

  it('formatLocal names the day, date, time and zone', () => {
    expect(formatLocal(Date.parse('2026-07-06T08:00:00Z'), 'Europe/London')).toBe('Mon 6 Jul 2026 09:00 Europe/London');
  });
});

describe('separation of duties', () => {
  const ALICE = { id: 'USERID-OF-ALICE', email: 'alice@example.com', name: 'Alice Adams' };

  function sodRuntime(managers: string, notify: string, config = CONFIG): Runtime {
    return runtimeOf({
      'vaultwatch.yaml': config,
      'policies/p.yaml': `vault: { id: ${VAULT}, name: Finance }
managers:
${managers}
rules:
  - name: Card
    match: { items: ["Company card"] }
    notify: ${notify}
`,
    });
  }
  const managersOf = (rt: Runtime) => rt.policies.rulesFor(VAULT)[0]!.managers;

  it('the accessor is the vault\'s only manager (email and Slack DM): no one else, no fallback -> a reason says so', async () => {
    const rt = sodRuntime('  - email: Alice@Example.com\n  - slack: "@alice@example.com"', '[managers]');
    const a = await alertOf(rt, { user: ALICE });
    expect(a.targets.map((x) => x.kind)).toEqual(['email', 'slack']);
    const r = separateDuties(a, { managers: managersOf(rt), fallback: [] });
    expect(r.outcome).toBe('accessor_only');
    expect(r.alert.targets).toEqual(a.targets);
    expect(r.alert.reasons.at(-1)).toBe(ACCESSOR_ONLY_REASON);
    // Applying it again (a re-run) adds nothing twice.
    expect(separateDuties(r.alert, { managers: managersOf(rt), fallback: [] }).alert.reasons.filter((x) => x === ACCESSOR_ONLY_REASON)).toHaveLength(1);
  });

  it('with delivery.fallback: the fallback targets are added (never the accessor)', async () => {
    const rt = sodRuntime('  - email: alice@example.com', '[managers]');
    const a = await alertOf(rt, { user: ALICE });
    const r = separateDuties(a, { managers: managersOf(rt), fallback: [t('email:security@example.com'), t('email:alice@example.com')] });
    expect(r.outcome).toBe('fallback');
    expect(r.alert.targets.map((x) => (x.kind === 'email' ? x.address : ''))).toEqual(['alice@example.com', 'security@example.com']);
    expect(r.alert.reasons.at(-1)).toContain('it also goes to delivery.fallback (separation of duties)');
  });

  it('other managers exist (the rule notifies only the accessor): they are added, with their hours', async () => {
    const rt = sodRuntime('  - email: alice@example.com\n  - email: bob@example.com\n    schedule: office-hours\n  - slack: "#finance-alerts"', '[accessor]');
    const a = await alertOf(rt, { user: ALICE });
    expect(a.targets).toEqual([t('email:alice@example.com')]);
    const r = separateDuties(a, { managers: managersOf(rt), fallback: [t('email:security@example.com')] });
    expect(r.outcome).toBe('managers');
    expect(r.alert.targets).toEqual([t('email:alice@example.com'), t('email:bob@example.com'), t('slack:#finance-alerts')]);
    expect(r.alert.target_schedules).toEqual({ 'email:bob@example.com': 'office-hours' });
    expect(r.alert.reasons.at(-1)).toBe('Alice Adams would have been the only recipient of this alert about their own use: it also goes to the vault\'s other managers (separation of duties)');
  });

  it('someone else already gets it (a channel, another person): unchanged', async () => {
    const rt = sodRuntime('  - email: alice@example.com\n  - slack: "#finance-alerts"', '[managers]');
    const a = await alertOf(rt, { user: ALICE });
    expect(separateDuties(a, { managers: managersOf(rt), fallback: [] })).toEqual({ alert: a, outcome: 'unchanged' });
    // Another accessor: the manager alice is not "the accessor".
    const b = await alertOf(sodRuntime('  - email: alice@example.com', '[managers]'), { user: { id: 'B', email: 'bob@example.com' } });
    expect(separateDuties(b, { managers: [], fallback: [] }).outcome).toBe('unchanged');
  });

  it('declaration/silence-covered alerts and accessors without an email are left alone; dedup repeats are not', async () => {
    const rt = sodRuntime('  - email: alice@example.com', '[managers]');
    const a = await alertOf(rt, { user: ALICE });
    const covered = { ...a, suppressed: true, suppression: { kind: 'declaration' as const, id: 'd1', author: 'x', reason: 'y' } };
    expect(separateDuties(covered, { managers: [], fallback: [t('email:security@example.com')] }).outcome).toBe('unchanged');
    const noEmail = { ...a, event: { ...a.event, user: { id: 'USERID-OF-ALICE' } } };
    expect(separateDuties(noEmail, { managers: [], fallback: [t('email:security@example.com')] }).outcome).toBe('unchanged');
    const repeat = { ...a, suppressed: true, follows: 'first', occurrence: 2 };
    expect(separateDuties(repeat, { managers: [], fallback: [t('email:security@example.com')] }).outcome).toBe('fallback');
  });

  it('isAccessorTarget: email (any case) and a Slack DM by email; not a channel, a Slack id or a webhook', () => {
    expect(isAccessorTarget(t('email:alice@example.com'), 'ALICE@example.com')).toBe(true);
    expect(isAccessorTarget(t('slack:@Alice@Example.com'), 'alice@example.com')).toBe(true);
    expect(isAccessorTarget(t('slack:#alice'), 'alice@example.com')).toBe(false);
    expect(isAccessorTarget(t('slack:@U0ALICE'), 'alice@example.com')).toBe(false);
    expect(isAccessorTarget(t('webhook:siem'), 'alice@example.com')).toBe(false);
    expect(isAccessorTarget(t('email:alice@example.com'), ' ')).toBe(false);
  });
});
