/**
 * Declarations and silences as pure logic: which events and alerts they cover (event time, from
 * inclusive, until exclusive; user by email or id; vault by id; item optional), the reason a covered
 * alert carries, the checks on a request, and the messages the managers get.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/domain/alert.ts';
import { announcementAlert, summaryAlert } from '../../../src/pipeline/suppression-notices.ts';
import {
  checkRequest, coveredEntry, coverReason, declarationCovers, findCover, inWindow, kindOfId, lateForCover, newSuppressionId,
  silenceMatches, stateOf, suppressAlert, SuppressionError, type Declaration, type Silence,
} from '../../../src/pipeline/suppression.ts';
import { alertFacts } from '../../../src/notifiers/alert-facts.ts';
import { buildEmailMessage } from '../../../src/notifiers/email/message.ts';
import { buildSlackMessage } from '../../../src/notifiers/slack/message.ts';
import { ev, VAULT } from '../../helpers/config-kit.ts';

const FROM = '2026-11-18T09:00:00.000Z';
const UNTIL = '2026-11-18T11:00:00.000Z';
const ms = (iso: string) => Date.parse(iso);

function declaration(over: Partial<Declaration> = {}): Declaration {
  return {
    kind: 'declaration', id: 'd-0000000a', user: 'alice@example.com', vault: VAULT, vault_name: 'Finance',
    from: FROM, until: UNTIL, from_ms: ms(FROM), until_ms: ms(UNTIL),
    reason: 'paying the licence renewal', ticket: 'FIN-123', author: 'bob@ops', created_at: FROM,
    notify: ['email:cfo@example.com', 'slack:#finance-alerts'], policy: 'policies/finance.yaml', timezone: 'Europe/London',
    ...over,
  };
}

function silence(over: Partial<Silence> = {}): Silence {
  return {
    kind: 'silence', id: 's-0000000a', vault: VAULT, vault_name: 'Finance',
    from: FROM, until: UNTIL, from_ms: ms(FROM), until_ms: ms(UNTIL),
    reason: 'noisy rule while we migrate', author: 'bob@ops', created_at: FROM,
    notify: ['email:cfo@example.com'], policy: 'policies/finance.yaml', timezone: 'Europe/London',
    ...over,
  };
}

function alertOf(e = ev(), rule = 'Card revealed'): Alert {
  return {
    id: `a-${e.id}`, event: e, policy: 'policies/finance.yaml', rule, severity: 'high', reasons: ['why'],
    targets: [{ kind: 'email', address: 'cfo@example.com' }], timezone: 'Europe/London', suppressed: false,
  };
}

describe('time window (event time)', () => {
  const d = declaration();
  it('from is inclusive, until exclusive, to the millisecond', () => {
    expect(declarationCovers(d, ev({ time: FROM }))).toBe(true);
    expect(declarationCovers(d, ev({ time: '2026-11-18T08:59:59.999Z' }))).toBe(false);
    expect(declarationCovers(d, ev({ time: '2026-11-18T10:59:59.999Z' }))).toBe(true);
    expect(declarationCovers(d, ev({ time: UNTIL }))).toBe(false);
    expect(inWindow(d, ms(UNTIL) - 1)).toBe(true);
    expect(inWindow(d, ms(UNTIL))).toBe(false);
  });

  it('judges the time of use, not the time the event was reported', () => {
    // Used inside the window, reported an hour after it ended: covered.
    expect(declarationCovers(d, ev({ time: '2026-11-18T10:30:00Z', received_at: '2026-11-18T12:00:00Z' }))).toBe(true);
    // Used before the window, reported inside it: not covered.
    expect(declarationCovers(d, ev({ time: '2026-11-18T08:30:00Z', received_at: '2026-11-18T09:30:00Z' }))).toBe(false);
  });

  it('an offset in the event time is the same instant', () => {
    expect(declarationCovers(d, ev({ time: '2026-11-18T10:00:00+01:00' }))).toBe(true); // 09:00Z
    expect(declarationCovers(d, ev({ time: '2026-11-18T12:00:00+01:00' }))).toBe(false); // 11:00Z
  });
});

describe('declarations: user, vault, item', () => {
  it('user by email (any case) or by id', () => {
    expect(declarationCovers(declaration(), ev({ user: { email: 'Alice@Example.COM' } }))).toBe(true);
    expect(declarationCovers(declaration({ user: 'USERID-OF-ALICE' }), ev())).toBe(true);
    expect(declarationCovers(declaration({ user: 'userid-of-alice' }), ev())).toBe(true);
    expect(declarationCovers(declaration({ user: 'USERID-OF-ALICE' }), ev({ user: { email: undefined } }))).toBe(true);
    expect(declarationCovers(declaration(), ev({ user: { id: 'USERID-OF-BOB', email: 'bob@example.com', name: 'Bob' } }))).toBe(false);
    // An email declaration does not cover an event that carries only an id.
    expect(declarationCovers(declaration(), ev({ user: { email: undefined } }))).toBe(false);
  });

  it('vault by id (any case); another vault is not covered', () => {
    expect(declarationCovers(declaration({ vault: VAULT.toUpperCase() }), ev())).toBe(true);
    expect(declarationCovers(declaration(), ev({ vault: { id: 'othervault00000000000000001' } }))).toBe(false);
    // The name is only a label: a declaration names the id.
    expect(declarationCovers(declaration({ vault: 'Finance' }), ev({ vault: { name: 'Finance' } }))).toBe(false);
  });

  it('item is optional; when given, the id or the title (glob, case-insensitive)', () => {
    expect(declarationCovers(declaration({ item: undefined }), ev({ item: { id: 'any', title: 'Anything' } }))).toBe(true);
    expect(declarationCovers(declaration({ item: 'WXCPLH5UDSHNONKZUUQDKBPMLE' }), ev())).toBe(true);
    expect(declarationCovers(declaration({ item: 'company card' }), ev())).toBe(true);
    expect(declarationCovers(declaration({ item: 'Company*' }), ev())).toBe(true);
    expect(declarationCovers(declaration({ item: 'Company' }), ev())).toBe(false);
    expect(declarationCovers(declaration({ item: 'Bank account' }), ev())).toBe(false);
    expect(declarationCovers(declaration({ item: 'Company*' }), ev({ item: { title: undefined } }))).toBe(false);
  });
});

describe('silences', () => {
  it('match the vault and the window; rule, user and item only when given', () => {
    const a = alertOf(ev({ time: '2026-11-18T10:00:00Z' }));
    expect(silenceMatches(silence(), a)).toBe(true);
    expect(silenceMatches(silence({ rule: 'card revealed' }), a)).toBe(true);
    expect(silenceMatches(silence({ rule: 'Card*' }), a)).toBe(true);
    expect(silenceMatches(silence({ rule: 'Other rule' }), a)).toBe(false);
    expect(silenceMatches(silence({ user: 'ALICE@example.com' }), a)).toBe(true);
    expect(silenceMatches(silence({ user: 'USERID-OF-ALICE' }), a)).toBe(true);
    expect(silenceMatches(silence({ user: 'bob@example.com' }), a)).toBe(false);
    expect(silenceMatches(silence({ item: 'Company card' }), a)).toBe(true);
    expect(silenceMatches(silence({ item: 'Payroll' }), a)).toBe(false);
    expect(silenceMatches(silence({ vault: 'othervault00000000000000001' }), a)).toBe(false);
  });

  it('use the same [from, until) on event time', () => {
    expect(silenceMatches(silence(), alertOf(ev({ time: FROM })))).toBe(true);
    expect(silenceMatches(silence(), alertOf(ev({ time: UNTIL })))).toBe(false);
  });
});

describe('choosing and applying a cover', () => {
  it('prefers a declaration over a silence, then the earliest made', () => {
    const a = alertOf();
    const s = silence();
    const d1 = declaration({ id: 'd-0000000b', created_at: '2026-11-18T09:05:00Z' });
    const d2 = declaration({ id: 'd-0000000c', created_at: '2026-11-18T09:01:00Z' });
    expect(findCover(a, [s, d1, d2])?.id).toBe('d-0000000c');
    expect(findCover(a, [s])?.id).toBe('s-0000000a');
    expect(findCover(alertOf(ev({ time: UNTIL })), [s, d1, d2])).toBeUndefined();
  });

  it('a covered alert is suppressed with the declaration, its author, reason, ticket and end in the policy zone', () => {
    const a = suppressAlert(alertOf(), declaration());
    expect(a.suppressed).toBe(true);
    const reason = 'covered by declaration d-0000000a by bob@ops: "paying the licence renewal" (ticket FIN-123) until 2026-11-18 11:00 Europe/London';
    expect(a.suppression).toEqual({ kind: 'declaration', id: 'd-0000000a', author: 'bob@ops', reason });
    expect(a.reasons).toEqual(['why', reason]);
    expect(coverReason(declaration({ ticket: undefined }), 'America/Toronto')).toBe('covered by declaration d-0000000a by bob@ops: "paying the licence renewal" until 2026-11-18 06:00 America/Toronto');
    expect(suppressAlert(alertOf(), silence()).suppression).toEqual({
      kind: 'silence', id: 's-0000000a', author: 'bob@ops', reason: 'silenced by s-0000000a by bob@ops: "noisy rule while we migrate" until 2026-11-18 11:00 Europe/London',
    });
  });

  it('an alert reported after the summary is sent as usual, saying why', () => {
    const a = lateForCover(alertOf(), declaration());
    expect(a.suppressed).toBe(false);
    expect(a.reasons.at(-1)).toContain('reported after its summary was sent');
  });

  it('the covered entry keeps time, item, action and rule', () => {
    expect(coveredEntry(alertOf(ev({ id: 'E9', action: 'copy' })))).toEqual({
      alert_id: 'a-E9', event_id: 'E9', time: '2026-11-18T10:00:00.000Z', time_ms: ms('2026-11-18T10:00:00Z'),
      item: 'Company card', action: 'copy', rule: 'Card revealed', user: 'alice@example.com',
    });
  });

  it('states', () => {
    const d = declaration();
    expect(stateOf(d, ms(FROM) - 1)).toBe('upcoming');
    expect(stateOf(d, ms(FROM))).toBe('active');
    expect(stateOf(d, ms(UNTIL))).toBe('ended');
    expect(stateOf({ ...d, ended_early: { at: FROM, by: 'x', planned_until: UNTIL } }, ms(FROM))).toBe('ended early');
  });
});

describe('checkRequest', () => {
  const now = ms('2026-11-18T09:00:00Z');
  const limits = { nowMs: now, maxMs: 24 * 3_600_000, maxKey: 'accountability.max_declaration' };
  const ok = { user: 'Jo@Example.com', vault: 'Finance', for: '2h', reason: ' paying the licence renewal ', author: 'bob@ops' };

  it('accepts a good declaration: from now, until now + for, email lower-cased, text trimmed', () => {
    expect(checkRequest('declaration', { ...ok, ticket: 'FIN-123' }, limits)).toEqual({
      user: 'jo@example.com', vault: 'Finance', reason: 'paying the licence renewal', ticket: 'FIN-123', author: 'bob@ops',
      from_ms: now, until_ms: now + 2 * 3_600_000,
    });
  });

  it('the maximum length is allowed, a millisecond more is not', () => {
    expect(checkRequest('declaration', { ...ok, for: '24h' }, limits).until_ms).toBe(now + 24 * 3_600_000);
    expect(() => checkRequest('declaration', { ...ok, for: '24h1s' }, limits)).toThrow('for: 24h1s is longer than the maximum of 1d (accountability.max_declaration)');
  });

  it('names every problem at once', () => {
    try {
      checkRequest('declaration', { vault: 'Finance', for: 'soon', reason: '   ', author: '' }, limits);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SuppressionError);
      const e = err as SuppressionError;
      expect(e.code).toBe('invalid');
      expect(e.problems.map((p) => p.field)).toEqual(['user', 'reason', 'author', 'for']);
      expect(e.forCli()).toContain('--reason: must not be empty');
      expect(e.forCli()).toContain('--for: "soon" is not a duration');
    }
  });

  it('refuses a missing reason, a missing or zero length, a rule on a declaration, a start in the past', () => {
    expect(() => checkRequest('declaration', { ...ok, reason: undefined }, limits)).toThrow('reason: required');
    expect(() => checkRequest('declaration', { ...ok, for: undefined }, limits)).toThrow('for: required');
    expect(() => checkRequest('declaration', { ...ok, for: '0s' }, limits)).toThrow('for: must be longer than 0s');
    expect(() => checkRequest('declaration', { ...ok, rule: 'X' }, limits)).toThrow('use a silence for a rule');
    expect(() => checkRequest('declaration', { ...ok, from: '2026-11-18T08:00:00Z' }, limits)).toThrow('from: is in the past');
    expect(() => checkRequest('declaration', { ...ok, for: 2 }, limits)).toThrow('for: must be a duration');
  });

  it('a later start moves the whole window', () => {
    const r = checkRequest('declaration', { ...ok, from: '2026-11-19T09:00:00Z' }, limits);
    expect([r.from_ms, r.until_ms]).toEqual([ms('2026-11-19T09:00:00Z'), ms('2026-11-19T11:00:00Z')]);
  });

  it('silences need vault, reason and author; user is optional', () => {
    const sl = { ...limits, maxMs: 7 * 86_400_000, maxKey: 'accountability.max_silence' };
    expect(checkRequest('silence', { vault: 'Finance', rule: 'Card*', for: '7d', reason: 'r', author: 'a' }, sl)).toMatchObject({ rule: 'Card*', until_ms: now + 7 * 86_400_000 });
    expect(() => checkRequest('silence', { vault: 'Finance', for: '1h', reason: 'r' }, sl)).toThrow('author: required');
    expect(() => checkRequest('silence', { vault: 'Finance', for: '8d', reason: 'r', author: 'a' }, sl)).toThrow('(accountability.max_silence)');
  });
});

describe('ids', () => {
  it('are d-/s- and 8 characters, and say their kind', () => {
    const id = newSuppressionId('declaration', (n) => new Uint8Array(n).fill(7));
    expect(id).toBe('d-77777777');
    expect(kindOfId(id)).toBe('declaration');
    expect(kindOfId(newSuppressionId('silence', (n) => new Uint8Array(n)))).toBe('silence');
    expect(kindOfId('x-1')).toBeUndefined();
  });
});

describe('messages to the managers', () => {
  it('the announcement says who, where, how long, why, the ticket and who declared', () => {
    const d = declaration({ user: 'jo@example.com' });
    const a = announcementAlert(d);
    expect(a.notice?.headline).toBe('jo@example.com declared planned access to Finance for 2h: paying the licence renewal (ticket FIN-123), declared by bob@ops');
    expect(a.targets.map((t) => t.kind)).toEqual(['email', 'slack']);
    expect(a.severity).toBe('info');
    const mail = buildEmailMessage(a, 'cfo@example.com', { messageIdDomain: 'vaultwatch.test' });
    expect(mail.subject).toBe('[INFO] jo@example.com declared planned access to Finance for 2h: paying the licence renewal (ticket FIN-123), declared by bob@ops');
    expect(mail.text).toContain('From 2026-11-18 09:00 Europe/London until 2026-11-18 11:00 Europe/London');
    expect(mail.text).toContain('vaultwatch declare --cancel d-0000000a');
    expect(mail.text).not.toContain('Action:');
    const slack = JSON.stringify(buildSlackMessage(a, '#finance-alerts', { messageIdDomain: 'vaultwatch.test' }).blocks);
    expect(slack).toContain('declared planned access to Finance for 2h');
    expect(alertFacts(a).notice).toBe(true);
  });

  it('the summary lists each use (time in the policy zone, action, item, rule) once, oldest first', () => {
    const d = declaration();
    const e1 = coveredEntry(alertOf(ev({ id: 'E2', time: '2026-11-18T10:30:00Z', action: 'copy' })));
    const e2 = coveredEntry(alertOf(ev({ id: 'E1', time: '2026-11-18T09:15:00Z' })));
    const e3 = coveredEntry(alertOf(ev({ id: 'E1', time: '2026-11-18T09:15:00Z' }), 'Any use'));
    const a = summaryAlert(d, [e1, e2, e3]);
    expect(a.notice?.headline).toBe('Declaration d-0000000a for alice@example.com in Finance ended: 2 uses recorded under it');
    expect(a.reasons[0]).toBe('Declared by bob@ops: "paying the licence renewal" (ticket FIN-123); from 2026-11-18 09:00 Europe/London, ended 2026-11-18 11:00 Europe/London.');
    expect(a.reasons.slice(2)).toEqual([
      'Wed 18 Nov 09:15:00 GMT: revealed Company card (rules Card revealed, Any use)',
      'Wed 18 Nov 10:30:00 GMT: copied Company card (rule Card revealed)',
    ]);
    expect(summaryAlert(d, []).notice?.headline).toContain('nothing was recorded under it');
    expect(a.id).not.toBe(announcementAlert(d).id);
  });

  it('an early end is in the summary', () => {
    const d = declaration({ until: '2026-11-18T09:30:00.000Z', until_ms: ms('2026-11-18T09:30:00Z'), ended_early: { at: '2026-11-18T09:30:00.000Z', by: 'carol@ops', planned_until: UNTIL } });
    expect(summaryAlert(d, []).reasons[0]).toContain('ended early by carol@ops at 2026-11-18 09:30 Europe/London (planned until 2026-11-18 11:00 Europe/London)');
  });

  it('a silence announcement names its scope', () => {
    const a = announcementAlert(silence({ rule: 'Card revealed', user: 'jo@example.com' }));
    expect(a.notice?.headline).toBe('bob@ops silenced alerts in Finance (rule "Card revealed", user jo@example.com) for 2h: noisy rule while we migrate');
  });
});

describe('metrics', () => {
  it('counts suppressed alerts by why', async () => {
    const { Metrics } = await import('../../../src/observability/metrics.ts');
    const m = new Metrics({ defaultMetrics: false });
    m.recordSuppressed('declaration');
    m.recordSuppressed('declaration');
    m.recordSuppressed('silence');
    const text = await m.render();
    expect(text).toContain('# TYPE vaultwatch_alerts_suppressed_total counter');
    expect(text).toContain('vaultwatch_alerts_suppressed_total{why="declaration"} 2');
    expect(text).toContain('vaultwatch_alerts_suppressed_total{why="silence"} 1');
  });
});
