import { describe, expect, it } from 'vitest';
import { escapeSlack } from '../../../src/notifiers/escape.ts';
import { buildSlackMessage, fit, SLACK_LIMITS, type SlackMessage } from '../../../src/notifiers/slack/message.ts';
import { cardAlert, CTX, REQUIRED_FACTS } from './alert-fixture.ts';

type TextObject = { type: 'plain_text' | 'mrkdwn'; text: string; verbatim?: boolean };

/** Every text object anywhere in the blocks, found by shape so a new block type cannot hide one. */
function textObjects(value: unknown, out: TextObject[] = []): TextObject[] {
  if (Array.isArray(value)) {
    for (const v of value) textObjects(v, out);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string') out.push(o as TextObject);
    else for (const v of Object.values(o)) textObjects(v, out);
  }
  return out;
}

function mrkdwnStrings(m: SlackMessage): string[] {
  return [m.text, ...textObjects(m.blocks).filter((t) => t.type === 'mrkdwn').map((t) => t.text)];
}

function blocksOfType(m: SlackMessage, type: string): Array<Record<string, unknown>> {
  return (m.blocks as Array<Record<string, unknown>>).filter((b) => b.type === type);
}

describe('buildSlackMessage', () => {
  const msg = buildSlackMessage(cardAlert(), '#finance-alerts', CTX);

  it('is a chat.postMessage argument with metadata and no unfurling', () => {
    expect(msg.channel).toBe('#finance-alerts');
    expect(msg.unfurl_links).toBe(false);
    expect(msg.unfurl_media).toBe(false);
    expect(msg.metadata).toEqual({
      event_type: 'vaultwatch_alert',
      event_payload: { alert_id: 'q3Zk8Yw1TfVb0aXcR2dE5gH7jL', rule: 'Sensitive access out of hours', severity: 'critical', event_id: 'evt-7f3a9c' },
    });
    expect(msg).not.toHaveProperty('thread_ts');
    expect(msg).not.toHaveProperty('link_names');
    expect(msg).not.toHaveProperty('parse');
  });

  it('has header, summary, fields, context and actions blocks', () => {
    expect(msg.blocks.map((b) => (b as { type: string }).type)).toEqual(['header', 'section', 'section', 'context', 'actions']);
    const [header] = blocksOfType(msg, 'header');
    expect(header?.text).toEqual({ type: 'plain_text', text: '🔴 CRITICAL · Sensitive access out of hours', emoji: true });
    const fields = blocksOfType(msg, 'section')[1]?.fields as TextObject[];
    expect(fields.length).toBeLessThanOrEqual(SLACK_LIMITS.fields);
    expect(fields[0]?.text).toBe('*Item*\nCompany card');
  });

  it('makes every mrkdwn object verbatim', () => {
    for (const t of textObjects(msg.blocks)) if (t.type === 'mrkdwn') expect(t.verbatim).toBe(true);
  });

  it('names every required fact', () => {
    const all = mrkdwnStrings(msg).join('\n') + textObjects(msg.blocks).map((t) => t.text).join('\n');
    for (const fact of REQUIRED_FACTS) expect(all).toContain(escapeSlack(fact));
  });

  it('has a readable plain fallback', () => {
    expect(msg.text).toBe('[CRITICAL] Jo Bloggs revealed the card code of Company card — Sat 02:14 Europe/London · Sensitive access out of hours');
  });

  it('turns links into url buttons, and leaves them out when not given', () => {
    const [actions] = blocksOfType(msg, 'actions');
    expect(actions?.elements).toEqual([
      expect.objectContaining({ type: 'button', url: 'https://vaultwatch.example.com/alerts/q3Zk8Yw1TfVb0aXcR2dE5gH7jL' }),
      expect.objectContaining({ type: 'button', url: 'https://vaultwatch.example.com/justify/tok-abc' }),
    ]);
    const bare = buildSlackMessage(cardAlert(), '#c', { messageIdDomain: 'x' });
    expect(blocksOfType(bare, 'actions')).toEqual([]);
  });

  it('shows BST in summer', () => {
    const m = buildSlackMessage(cardAlert({}, { time: '2026-07-04T01:14:00Z', received_at: '2026-07-04T01:14:00Z' }), '#c', CTX);
    expect(JSON.stringify(m)).toContain('Sat 4 Jul 2026 02:14 BST (Europe/London)');
    expect(JSON.stringify(m)).not.toContain('Reported');
  });

  it('names an item with unknown title by its id', () => {
    const m = buildSlackMessage(cardAlert({}, { item: { id: 'itm-4k2j9' } }), '#c', CTX);
    expect(m.text).toContain('itm-4k2j9 (title unknown)');
  });

  describe('injection', () => {
    const hostile = cardAlert({ reasons: ['title matched <!here>'] }, {
      item: { id: 'i', title: '<!channel>' },
      user: { id: 'u', name: '<@U123>', email: '<!subteam^S1>' },
      vault: { id: 'v', name: '<https://evil.test|click> & <#C999>' },
      location: { city: '<!everyone>' },
    });
    const m = buildSlackMessage(hostile, '#c', CTX);

    it('escapes a <!channel> title in every mrkdwn and text string', () => {
      for (const s of mrkdwnStrings(m)) {
        expect(s).not.toContain('<!');
        expect(s).not.toContain('<@');
        expect(s).not.toMatch(/<https?:/);
      }
      expect(m.text).toContain('&lt;!channel&gt;');
      const summary = blocksOfType(m, 'section')[0]?.text as TextObject;
      expect(summary.text).toContain('*&lt;!channel&gt;*');
      expect(summary.text).toContain('&lt;https://evil.test|click&gt; &amp; &lt;#C999&gt;');
    });

    it('leaves no mention or link syntax from user text anywhere in the message', () => {
      const json = JSON.stringify(m);
      expect(json).not.toContain('<!');
      expect(json).not.toContain('<@');
      expect(json).not.toContain('<#');
      expect(json).not.toContain('<https');
    });

    it('keeps user text out of plain_text objects, which cannot be escaped', () => {
      for (const t of textObjects(m.blocks)) if (t.type === 'plain_text') expect(t.text).not.toContain('channel');
    });
  });

  describe('Block Kit limits', () => {
    const long = cardAlert({ rule: 'R'.repeat(400), reasons: Array.from({ length: 30 }, () => `<${'&'.repeat(490)}>`) }, {
      item: { id: 'i', title: '&'.repeat(2000) },
      user: { id: 'u', name: '<'.repeat(2000), email: 'e@example.com' },
    });
    const m = buildSlackMessage(long, '#c', CTX);

    it('truncates header, section, fields and context', () => {
      const header = blocksOfType(m, 'header')[0]?.text as TextObject;
      expect(header.text.length).toBeLessThanOrEqual(SLACK_LIMITS.header);
      for (const s of blocksOfType(m, 'section')) {
        if (s.text) expect((s.text as TextObject).text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
        for (const f of (s.fields ?? []) as TextObject[]) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
      }
      for (const c of blocksOfType(m, 'context')) {
        for (const e of c.elements as TextObject[]) expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
      }
      expect(m.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
    });

    it('never leaves half an entity behind', () => {
      for (const s of mrkdwnStrings(m)) expect(s).not.toMatch(/&(?!amp;|lt;|gt;)/);
      expect(fit('ab&amp;cd', 5)).toBe('ab…');
    });
  });

  describe('follow-up', () => {
    const follow = cardAlert({ id: 'Follow1', follows: 'FirstAlert', suppressed: true },
      { id: 'evt-2', time: '2026-11-21T03:10:00Z', received_at: '2026-11-21T03:10:30Z', item: { id: 'i', title: '<!channel>', type: 'secure_note' } });
    const m = buildSlackMessage(follow, '#c', { ...CTX, threadTs: '1763691240.000100', occurrence: 3 });

    it('is a compact thread reply that says how many', () => {
      expect(m.thread_ts).toBe('1763691240.000100');
      expect(blocksOfType(m, 'header')).toEqual([]);
      expect(m.text).toBe('Again: Jo Bloggs revealed the card code of &lt;!channel&gt; — Sat 03:10 Europe/London (3rd)');
      expect(JSON.stringify(m)).not.toContain('<!');
      expect(m.metadata.event_payload.alert_id).toBe('Follow1');
    });

    it('still names the facts the contract requires', () => {
      const all = mrkdwnStrings(m).join('\n');
      for (const fact of ['CRITICAL', 'Sensitive access out of hours', 'jo@example.com', 'Finance', 'secure note',
        'Sat 21 Nov 2026 03:10 GMT (Europe/London)', '203.0.113.7', 'outside office-hours']) {
        expect(all).toContain(fact);
      }
    });
  });
});
