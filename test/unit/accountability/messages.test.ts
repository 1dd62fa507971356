import { describe, expect, it } from 'vitest';
import { statusLines, validateAnswer, type JustificationAnswer } from '../../../src/accountability/justification.ts';
import { answerEmail, answerThreadReply, askEmail, askSlack, escalationEmail, escalationLine, STATUS_BLOCK_ID, withStatus } from '../../../src/accountability/messages.ts';
import { alertFacts } from '../../../src/notifiers/alert-facts.ts';
import { emailMessageId } from '../../../src/notifiers/email/message.ts';
import { buildSlackMessage } from '../../../src/notifiers/slack/message.ts';
import { cardAlert, CTX } from '../notifiers/alert-fixture.ts';

const LINK = 'https://vaultwatch.example.com/justify/tok.sig';
const ASK = { link: LINK, within: '30 min', deadline: '02:44 Europe/London' };
const answer: JustificationAnswer = { reason: 'supplier', reason_label: 'Paying a supplier / invoice', text: 'INV-2231 <!channel>', by: 'jo@example.com', at: '2026-11-21T02:30:00Z', via: 'web' };

describe('asking the accessor', () => {
  it('email: a link to the page, the deadline, the facts; a stable Message-ID', () => {
    const msg = askEmail(cardAlert(), 'jo@example.com', 'vaultwatch.example.com', ASK);
    expect(msg.subject).toBe('Why did you use Company card? (answer by 02:44 Europe/London)');
    for (const part of [msg.text, msg.html]) {
      expect(part).toContain(LINK);
      expect(part).toContain('Sat 21 Nov 2026 02:14 GMT (Europe/London)');
      expect(part).toContain('30 min');
    }
    expect(msg.messageId).toBe(askEmail(cardAlert(), 'jo@example.com', 'vaultwatch.example.com', ASK).messageId);
    expect(msg.messageId).not.toBe(emailMessageId(cardAlert().id, 'jo@example.com', 'vaultwatch.example.com'));
  });

  it('Slack: one button per common reason (value = alert id), "Other…" opens the page', () => {
    const post = askSlack(cardAlert(), ASK);
    const actions = post.blocks.find((b) => (b as { type: string }).type === 'actions') as { elements: Record<string, unknown>[] };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['vw_justify_supplier', 'vw_justify_routine', 'vw_justify_testing', 'vw_justify_other']);
    expect(actions.elements.slice(0, 3).every((e) => e.value === cardAlert().id && e.url === undefined)).toBe(true);
    expect(actions.elements[3]).toMatchObject({ url: LINK });
  });

  it('Slack: hostile titles are escaped (no <!channel> ping)', () => {
    const post = askSlack(cardAlert({}, { item: { id: 'i', title: '<!channel> card & co' } }), ASK);
    const text = JSON.stringify(post);
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt; card &amp; co');
  });
});

describe('attaching the answer', () => {
  it('thread reply: who said what, escaped', () => {
    const reply = answerThreadReply(cardAlert(), answer);
    const text = JSON.stringify(reply);
    expect(text).toContain('Jo Bloggs');
    expect(text).toContain('Paying a supplier / invoice');
    expect(text).toContain('INV-2231 &lt;!channel&gt;');
    expect(text).not.toContain('<!channel>');
  });

  it('email follow-up: in the alert\'s thread (In-Reply-To/References its Message-ID), "Re:" its subject', () => {
    const parent = emailMessageId(cardAlert().id, 'cfo@example.com', 'vaultwatch.example.com');
    const msg = answerEmail(cardAlert(), answer, 'cfo@example.com', 'vaultwatch.example.com', parent);
    expect(msg.inReplyTo).toBe(parent);
    expect(msg.references).toEqual([parent]);
    expect(msg.subject).toMatch(/^Re: \[CRITICAL\] Company card revealed by Jo Bloggs/);
    expect(msg.text).toContain('Jo Bloggs said why they revealed Company card: Paying a supplier / invoice — “INV-2231 <!channel>”');
    expect(msg.html).toContain('INV-2231 &lt;!channel&gt;');
  });

  it('status block: replaces its previous version, sits above the buttons', () => {
    const base = buildSlackMessage(cardAlert(), '#finance-alerts', { ...CTX, managerActions: true }).blocks;
    const once = withStatus(base, ['Answered by Jo']);
    const twice = withStatus(once, ['Answered by Jo', 'Marked expected by @cfo']);
    expect(twice.filter((b) => (b as { block_id?: string }).block_id === STATUS_BLOCK_ID)).toHaveLength(1);
    const types = twice.map((b) => (b as { type: string }).type);
    expect(types.at(-1)).toBe('actions');
    expect(types.at(-2)).toBe('context');
    expect(JSON.stringify(twice.at(-2))).toContain('Marked expected by @cfo');
  });
});

describe('escalation', () => {
  it('"Jo Bloggs did not say why within 30 min", with the alert facts', () => {
    const f = alertFacts(cardAlert());
    const line = escalationLine(f, 30 * 60_000);
    expect(line).toBe('Jo Bloggs did not say why within 30 min');
    const msg = escalationEmail(cardAlert(), 'ciso@example.com', 'vaultwatch.example.com', { line, link: 'https://vw/alerts/t' });
    expect(msg.subject).toContain('[ESCALATED] Jo Bloggs did not say why within 30 min');
    expect(msg.text).toContain('Company card');
    expect(msg.html).toContain('https://vw/alerts/t');
    expect(escalationLine(f, undefined, 'the event names no email address')).toContain('could not be asked');
  });
});

describe('answers and status lines', () => {
  it('validates reasons; "Other" needs words; text is one clean line', () => {
    expect(validateAnswer({ reason: 'supplier' })).toEqual({ ok: true, reason: 'supplier', text: '' });
    expect(validateAnswer({ reason: 'other', text: '  ' })).toMatchObject({ ok: false });
    expect(validateAnswer({ reason: 'nope' })).toMatchObject({ ok: false });
    expect(validateAnswer({ reason: 'other', text: 'line one\r\nline two\u202e' })).toEqual({ ok: true, reason: 'other', text: 'line one line two' });
  });

  it('reads in time order, in the policy zone', () => {
    const lines = statusLines({
      accessor: 'jo@example.com', within_ms: 1_800_000, asked_at: '2026-11-21T02:15:00Z', deadline: '2026-11-21T02:45:00Z',
      escalated_at: '2026-11-21T02:45:01Z', escalated_to: ['email:ciso@example.com'], answer: { ...answer, at: '2026-11-21T03:00:00Z', late: true },
    }, [{ action: 'expected', by: 'slack:U1', by_name: '@cfo', via: 'slack', at: '2026-11-21T10:42:00Z' }], { person: 'Jo Bloggs', zone: 'Europe/London', usedAt: '2026-11-21T02:14:00Z' });
    expect(lines).toEqual([
      'Jo Bloggs did not say why within 30 min; escalated to email:ciso@example.com (02:45 Europe/London)',
      'Answered by Jo Bloggs at 03:00 Europe/London (after the deadline): Paying a supplier / invoice — “INV-2231 <!channel>”',
      'Marked expected by @cfo at 10:42 Europe/London',
    ]);
  });
});

describe('the managers\' buttons on the alert message', () => {
  it('with interactivity on: Expected / Investigating, value = the alert id; off: none', () => {
    const on = buildSlackMessage(cardAlert(), '#finance-alerts', { ...CTX, managerActions: true });
    const actions = on.blocks.find((b) => (b as { type: string }).type === 'actions') as { elements: Record<string, unknown>[] };
    expect(actions.elements.slice(0, 2)).toEqual([
      { type: 'button', action_id: 'vw_ack_expected', text: { type: 'plain_text', text: 'Expected', emoji: false }, value: cardAlert().id },
      { type: 'button', action_id: 'vw_ack_investigating', text: { type: 'plain_text', text: 'Investigating', emoji: false }, value: cardAlert().id },
    ]);
    const off = buildSlackMessage(cardAlert(), '#finance-alerts', CTX);
    expect(JSON.stringify(off.blocks)).not.toContain('vw_ack_');
  });
});
