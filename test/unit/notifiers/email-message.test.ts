import { describe, expect, it } from 'vitest';
import { buildEmailMessage, emailMessageId, SUBJECT_MAX } from '../../../src/notifiers/email/message.ts';
import { escapeHtml } from '../../../src/notifiers/escape.ts';
import { cardAlert, CTX, REQUIRED_FACTS } from './alert-fixture.ts';

const TO = 'finance-managers@example.com';
const CONTROL = /[\u0000-\u001f\u007f]/;

function headerValues(m: ReturnType<typeof buildEmailMessage>): string[] {
  return [m.subject, m.messageId, m.inReplyTo ?? '', ...(m.references ?? []), ...Object.values(m.headers)];
}

describe('buildEmailMessage', () => {
  const msg = buildEmailMessage(cardAlert(), TO, CTX);

  it('has a short, scannable subject', () => {
    expect(msg.subject).toBe('[CRITICAL] Company card revealed by Jo Bloggs — Sat 02:14 Europe/London');
  });

  it('names every required fact in the text part', () => {
    for (const fact of REQUIRED_FACTS) expect(msg.text).toContain(fact);
  });

  it('names every required fact in the HTML part', () => {
    for (const fact of REQUIRED_FACTS) expect(msg.html).toContain(escapeHtml(fact));
  });

  it('carries the alert headers and marks itself automatic', () => {
    expect(msg.headers).toMatchObject({
      'X-Vaultwatch-Alert-Id': 'q3Zk8Yw1TfVb0aXcR2dE5gH7jL',
      'X-Vaultwatch-Severity': 'critical',
      'Auto-Submitted': 'auto-generated',
    });
    expect(msg.inReplyTo).toBeUndefined();
    expect(msg.references).toBeUndefined();
  });

  it('renders links as buttons in HTML and as URLs in text', () => {
    expect(msg.html).toContain('href="https://vaultwatch.example.com/justify/tok-abc"');
    expect(msg.html).toContain('href="https://vaultwatch.example.com/alerts/q3Zk8Yw1TfVb0aXcR2dE5gH7jL"');
    expect(msg.text).toContain('Justify this use: https://vaultwatch.example.com/justify/tok-abc');
  });

  it('has no buttons without links, and never a javascript: link', () => {
    const plain = buildEmailMessage(cardAlert(), TO, { messageIdDomain: 'x.example' });
    expect(plain.html).not.toContain('<a ');
    const evil = buildEmailMessage(cardAlert(), TO, { messageIdDomain: 'x.example', links: { alert: 'javascript:alert(1)' } });
    expect(evil.html).not.toContain('javascript:');
  });

  it('shows the time in summer in BST', () => {
    const m = buildEmailMessage(cardAlert({}, { time: '2026-07-04T01:14:00Z', received_at: '2026-07-04T01:14:20Z' }), TO, CTX);
    expect(m.subject).toContain('Sat 02:14 Europe/London');
    expect(m.text).toContain('Sat 4 Jul 2026 02:14 BST (Europe/London)');
    expect(m.text).not.toContain('Reported');
  });

  it('shows the delay only when over a minute', () => {
    const m = buildEmailMessage(cardAlert({}, { received_at: '2026-11-21T02:15:00Z' }), TO, CTX);
    expect(m.text).not.toMatch(/reported|later/);
    expect(m.html).not.toMatch(/reported|later/);
  });

  it('names an item with unknown title by its id', () => {
    const m = buildEmailMessage(cardAlert({}, { item: { id: 'itm-4k2j9' } }), TO, CTX);
    expect(m.subject).toContain('itm-4k2j9 (title unknown) revealed by Jo Bloggs');
    expect(m.text).toContain('itm-4k2j9 (title unknown)');
    expect(m.html).toContain('itm-4k2j9 (title unknown)');
  });

  it('HTML-escapes user-controlled values', () => {
    const title = `<script>alert(1)</script> & "x" 'y'`;
    const m = buildEmailMessage(cardAlert({ reasons: ['<img src=x onerror=alert(1)>'] }, {
      item: { id: 'i', title },
      user: { id: 'u', name: '<b>Jo</b>', email: 'jo@example.com' },
      vault: { id: 'v', name: 'Fin"ance' },
    }), TO, CTX);
    expect(m.html).not.toContain('<script>');
    expect(m.html).not.toContain('<img');
    expect(m.html).not.toContain('<b>Jo');
    expect(m.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;');
    expect(m.html).toContain('Fin&quot;ance');
    // The text part is plain text: shown literally, never interpreted.
    expect(m.text).toContain(title);
  });

  it('keeps CR/LF and other controls out of the subject and every header', () => {
    const m = buildEmailMessage(cardAlert({ rule: 'Out\r\nBcc: rule@evil.test', id: 'a\r\nX-Evil: 1', follows: 'f\r\nX-Evil: 2' }, {
      item: { id: 'i\n', title: 'Card\r\nBcc: x@evil.test\r\n\r\n<html>' },
      user: { id: 'u', name: 'Jo\rBloggs\u0000\u2028', email: 'jo@example.com\nX-Injected: yes' },
    }), TO, { ...CTX, messageIdDomain: 'evil.test\r\nX-Evil: 3' });
    for (const value of headerValues(m)) {
      expect(value).not.toMatch(CONTROL);
      expect(value).not.toMatch(/[\u2028\u2029]/);
    }
    expect(m.subject).toContain('Card Bcc: x@evil.test <html>');
    expect(m.messageId).toMatch(/^<[A-Za-z0-9_.-]+@[a-z0-9.-]+>$/);
  });

  it('limits the subject to 200 characters and keeps the time visible', () => {
    const m = buildEmailMessage(cardAlert({ rule: 'r' }, {
      item: { id: 'i', title: 'T'.repeat(400) },
      user: { id: 'u', name: 'N'.repeat(400) },
    }), TO, CTX);
    expect(m.subject.length).toBeLessThanOrEqual(SUBJECT_MAX);
    expect(m.subject).toContain('Sat 02:14 Europe/London');
  });

  describe('Message-ID', () => {
    it('is stable per (alert, recipient)', () => {
      const a = buildEmailMessage(cardAlert(), TO, CTX).messageId;
      const b = buildEmailMessage(cardAlert(), TO, CTX).messageId;
      expect(a).toBe(b);
      expect(a).toMatch(/^<q3Zk8Yw1TfVb0aXcR2dE5gH7jL\.[A-Za-z0-9_-]{12}@vaultwatch\.example\.com>$/);
    });

    it('differs for another recipient and another alert, and ignores address case', () => {
      const a = buildEmailMessage(cardAlert(), TO, CTX).messageId;
      expect(buildEmailMessage(cardAlert(), 'someone-else@example.com', CTX).messageId).not.toBe(a);
      expect(buildEmailMessage(cardAlert({ id: 'other' }), TO, CTX).messageId).not.toBe(a);
      expect(buildEmailMessage(cardAlert(), TO.toUpperCase(), CTX).messageId).toBe(a);
    });

    it('does not reveal the recipient', () => {
      expect(buildEmailMessage(cardAlert(), TO, CTX).messageId).not.toContain('finance-managers');
    });
  });

  describe('follow-up', () => {
    const first = cardAlert({ id: 'FirstAlert0000000000000000' });
    const follow = cardAlert({ id: 'Follow1', follows: first.id, suppressed: true },
      { id: 'evt-2', time: '2026-11-21T03:10:00Z', received_at: '2026-11-21T03:10:30Z' });

    it('threads under the first alert message for the same recipient', () => {
      const m = buildEmailMessage(follow, TO, CTX);
      const firstId = buildEmailMessage(first, TO, CTX).messageId;
      expect(m.inReplyTo).toBe(firstId);
      expect(m.references).toEqual([firstId]);
      expect(m.inReplyTo).toBe(emailMessageId(first.id, TO, CTX.messageIdDomain));
      expect(m.messageId).not.toBe(firstId);
      expect(buildEmailMessage(follow, 'other@example.com', CTX).inReplyTo).not.toBe(firstId);
    });

    it('repeats the first subject after Re: when the first alert is at hand', () => {
      const firstSubject = buildEmailMessage(first, TO, CTX).subject;
      expect(buildEmailMessage(follow, TO, { ...CTX, firstAlert: first }).subject).toBe(`Re: ${firstSubject}`);
    });

    it('uses the same shape for its own facts otherwise', () => {
      expect(buildEmailMessage(follow, TO, CTX).subject)
        .toBe('Re: [CRITICAL] Company card revealed by Jo Bloggs — Sat 03:10 Europe/London');
    });

    it('says it is a repeat, and which', () => {
      const m = buildEmailMessage(follow, TO, { ...CTX, occurrence: 3 });
      expect(m.text).toContain('Again (3rd time): Jo Bloggs revealed the card code of Company card.');
      expect(m.headers['X-Vaultwatch-Follows']).toBe(first.id);
    });
  });
});
