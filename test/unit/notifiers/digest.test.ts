/**
 * Digest messages (`deliver: digest`), pure: every held alert listed with its time in the policy's
 * zone, rule, severity, item, person and action, plus the count; escaped like the alert builders.
 */
import { describe, expect, it } from 'vitest';
import { digestEntry, highestSeverity, type DigestContent } from '../../../src/notifiers/digest.ts';
import { buildEmailDigest } from '../../../src/notifiers/email/digest.ts';
import { emailMailOptions } from '../../../src/notifiers/email/sender.ts';
import { buildSlackDigest } from '../../../src/notifiers/slack/digest.ts';
import { cardAlert } from './alert-fixture.ts';

function digestOf(n: number, over: (i: number) => Parameters<typeof cardAlert> = () => [{}, {}]): DigestContent {
  return {
    id: 'dg0123456789abcdef01234567',
    recipient: 'email:cfo@example.com',
    window_start: '2026-11-23T09:00:00.000Z',
    schedule: 'office-hours',
    window_text: 'Mon 23 Nov 2026 09:00 Europe/London',
    entries: Array.from({ length: n }, (_, i) => {
      const [a, e] = over(i);
      return digestEntry(cardAlert({ id: `alert${String(i).padStart(4, '0')}`, severity: 'high', ...a }, { time: new Date(Date.parse('2026-11-21T02:14:00Z') + (n - i) * 60_000).toISOString(), ...e }));
    }),
  };
}

describe('digest entries', () => {
  it('keep the allow-listed facts as plain text, the time in the policy zone, and a repeat\'s occurrence', () => {
    const e = digestEntry(cardAlert({ follows: 'first', occurrence: 3, suppressed: true }));
    expect(e).toEqual({
      alert_id: 'q3Zk8Yw1TfVb0aXcR2dE5gH7jL', time_ms: Date.parse('2026-11-21T02:14:00Z'), used_at: 'Sat 21 Nov 2026 02:14 GMT (Europe/London)',
      rule: 'Sensitive access out of hours', severity: 'critical', item: 'Company card', person: 'Jo Bloggs (jo@example.com)',
      action: 'revealed the card code of', vault: 'Finance', occurrence: 3,
    });
    expect(highestSeverity([])).toBe('info');
    expect(highestSeverity([e, { ...e, severity: 'low' }])).toBe('critical');
  });
});

describe('email digest', () => {
  it('lists every alert oldest first, with the count; subject, Message-ID and headers', () => {
    const d = digestOf(3);
    const m = buildEmailDigest(d, 'cfo@example.com', { messageIdDomain: 'vaultwatch.example.com' });
    expect(m.subject).toBe('[HIGH] Digest: 3 alerts held for your hours (office-hours)');
    expect(m.messageId).toMatch(/^<dg0123456789abcdef01234567\.[A-Za-z0-9_-]{12}@vaultwatch\.example\.com>$/);
    expect(buildEmailDigest(d, 'CFO@example.com', { messageIdDomain: 'vaultwatch.example.com' }).messageId).toBe(m.messageId);
    expect(m.headers['X-Vaultwatch-Alert-Count']).toBe('3');
    expect(m.headers['Auto-Submitted']).toBe('auto-generated');
    expect(m.inReplyTo).toBeUndefined();
    expect(m.text).toContain('3 alerts were held for you while you were outside office-hours; your hours began Mon 23 Nov 2026 09:00 Europe/London.');
    // Oldest first: the fixture makes alert0002 the oldest.
    const order = ['alert0002', 'alert0001', 'alert0000'].map((id) => m.text.indexOf(`alert ${id}`));
    expect(order.every((x, i) => x > 0 && (i === 0 || x > order[i - 1]!))).toBe(true);
    for (const text of ['Sat 21 Nov 2026 02:1', 'GMT (Europe/London)', 'HIGH', 'Sensitive access out of hours', 'Company card', 'Jo Bloggs (jo@example.com)', 'revealed the card code of', 'Finance']) {
      expect(m.text).toContain(text);
      expect(m.html).toContain(text);
    }
    expect(m.html.match(/>Sat 21 Nov 2026 02:1\d GMT/g)).toHaveLength(3);
  });

  it('escapes hostile values in HTML and keeps the subject on one line', () => {
    const d = digestOf(1, () => [{ rule: 'Rule <script>alert(1)</script>' }, { item: { id: 'i', title: '<img src=x onerror=alert(1)> & "card"' } }]);
    d.schedule = 'hours\r\nBcc: evil@example.com';
    const m = buildEmailDigest(d, 'cfo@example.com', { messageIdDomain: 'x.example' });
    expect(m.html).not.toContain('<script>');
    expect(m.html).not.toContain('<img');
    expect(m.html).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;card&quot;');
    expect(m.subject).not.toMatch(/[\r\n]/);
    // Through the sender's mail options: the digest replaces the alert's own message.
    const mail = emailMailOptions({ alert: cardAlert(), target: { kind: 'email', address: 'cfo@example.com' }, context: { messageIdDomain: 'x.example' }, digest: d }, { name: 'V', address: 'v@x.example' });
    expect(mail.subject).toBe(m.subject);
    expect(mail.messageId).toBe(m.messageId);
  });

  it('one alert reads as one', () => {
    const m = buildEmailDigest(digestOf(1), 'cfo@example.com', { messageIdDomain: 'x.example' });
    expect(m.subject).toContain('Digest: 1 alert held');
    expect(m.text).toContain('1 alert was held for you');
  });
});

describe('Slack digest', () => {
  it('one message with every alert and the count; metadata carries the digest id', () => {
    const m = buildSlackDigest(digestOf(3), '#finance-alerts');
    expect(m.channel).toBe('#finance-alerts');
    expect(m.text).toBe('[HIGH] Digest: 3 alerts held for your hours (office-hours)');
    expect(m.metadata.event_payload.alert_id).toBe('dg0123456789abcdef01234567');
    expect(m.thread_ts).toBeUndefined();
    const text = JSON.stringify(m.blocks);
    expect(text).toContain('Digest · 3 alerts');
    expect((text.match(/• /g) ?? []).length).toBe(3);
    for (const s of ['*HIGH*', 'Sensitive access out of hours', '*Jo Bloggs (jo@example.com)* revealed the card code of *Company card* in *Finance*', 'GMT (Europe/London)']) expect(text).toContain(s);
  });

  it('escapes mentions and links in user text; mrkdwn is verbatim', () => {
    const m = buildSlackDigest(digestOf(1, () => [{ rule: '<!channel> now' }, { item: { id: 'i', title: '<https://evil.example|click> & co' } }]), '#x');
    const text = JSON.stringify(m.blocks);
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil');
    expect(text).toContain('&lt;!channel&gt; now');
    expect(text).toContain('&lt;https://evil.example|click&gt; &amp; co');
    for (const b of m.blocks as { type: string; text?: { verbatim?: boolean; type: string } }[]) if (b.text?.type === 'mrkdwn') expect(b.text.verbatim).toBe(true);
  });

  it('stays inside Block Kit limits for a huge digest and counts what it could not list', () => {
    const m = buildSlackDigest(digestOf(2000), '#x');
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    for (const b of m.blocks as { text?: { text: string } }[]) if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
    const text = JSON.stringify(m.blocks);
    expect(text).toContain('Digest · 2000 alerts');
    const listed = (text.match(/• /g) ?? []).length;
    expect(listed).toBeGreaterThan(100);
    expect(text).toContain(`… and ${2000 - listed} more`);
  });
});
