import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JustificationAnswer, ManagerAction } from '../../../src/accountability/justification.ts';
import {
  FORBIDDEN, GONE_EXPIRED, goneUsed, PAGE_CSP, renderAlertDone, renderAlertPage, renderJustifyDone, renderJustifyPage, renderMessagePage,
} from '../../../src/accountability/pages.ts';
import { alertFacts } from '../../../src/notifiers/alert-facts.ts';
import { cardAlert } from '../notifiers/alert-fixture.ts';

const HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';
const hostileAlert = cardAlert({ rule: `Rule ${HOSTILE}`, reasons: [`reason ${HOSTILE}`] }, {
  item: { id: 'itm-1', title: `Card ${HOSTILE}`, type: 'secure_note' },
  vault: { id: 'vlt-1', name: `Vault ${HOSTILE}` },
  user: { id: 'usr-1', email: 'jo@example.com', name: `Jo ${HOSTILE}` },
  client: { app: `App ${HOSTILE}` },
});
const f = alertFacts(hostileAlert);
const answer: JustificationAnswer = { reason: 'other', reason_label: 'Other', text: `because ${HOSTILE}`, by: 'jo@example.com', at: '2026-11-21T02:30:00Z', via: 'web' };
const action: ManagerAction = { action: 'expected', by: 'email:cfo@example.com', by_name: `cfo ${HOSTILE}`, via: 'email', at: '2026-11-21T10:42:00Z', comment: `ok ${HOSTILE}` };

const pages: Record<string, string> = {
  justify: renderJustifyPage({ facts: f, csrf: `csrf${HOSTILE}`, deadline: `Sat ${HOSTILE}`, error: `error ${HOSTILE}`, values: { reason: 'other', text: `typed ${HOSTILE}` } }),
  justifyDone: renderJustifyDone(f, answer),
  alert: renderAlertPage({ facts: f, csrf: 'c', status: [`status ${HOSTILE}`], recipient: `cfo${HOSTILE}@example.com`, error: HOSTILE }),
  alertDone: renderAlertDone(f, action, [`status ${HOSTILE}`]),
  message: renderMessagePage({ title: `t ${HOSTILE}`, message: `m ${HOSTILE}`, details: [`d ${HOSTILE}`] }),
};

describe('pages escape hostile titles, names and answers', () => {
  for (const [name, html] of Object.entries(pages)) {
    it(`${name}: no markup from the data, only its escaped text`, () => {
      expect(html).not.toContain('<script>');
      expect(html).not.toContain('<img');
      expect(html).not.toMatch(/onerror=alert\(2\)>/);
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
      // Our own markup carries no script and no inline style attribute (the CSP forbids both).
      // Quoted attribute values (escaped data cannot close them) are set aside first.
      const tags = html.replace(/"[^"]*"/g, '""');
      expect(tags).not.toMatch(/<script/i);
      expect(tags).not.toMatch(/<[^>]*\son[a-z]+=/i);
      expect(tags).not.toMatch(/<[^>]*\sstyle=/i);
    });
  }

  it('the justification page names the item, vault, time in the policy zone, and the action', () => {
    const html = renderJustifyPage({ facts: alertFacts(cardAlert()), csrf: 'c' });
    for (const text of ['Company card', 'Finance', 'Sat 21 Nov 2026 02:14 GMT (Europe/London)', '<dd>revealed the card code</dd>']) expect(html).toContain(text);
    expect(html).toContain('<h1>Why did you reveal the card code of Company card?</h1>');
    // A form that works without JavaScript: a POST to this same URL with radio buttons and free text.
    expect(html).toMatch(/<form method="post">/);
    for (const id of ['supplier', 'routine', 'testing', 'other']) expect(html).toContain(`type="radio" name="reason" value="${id}"`);
    expect(html).toContain('<textarea id="text" name="text"');
    expect(html).toContain('<input type="hidden" name="csrf" value="c">');
  });

  it('keeps the chosen reason and typed text when a submission is refused', () => {
    expect(pages.justify).toContain('value="other" checked');
    expect(pages.justify).toContain('typed &lt;script&gt;');
  });

  it('the Content-Security-Policy pins the one stylesheet by its hash', () => {
    const css = /<style>([\s\S]*?)<\/style>/.exec(pages.justify!)![1]!;
    expect(PAGE_CSP).toContain(`'sha256-${createHash('sha256').update(css).digest('base64')}'`);
    expect(PAGE_CSP).toContain("default-src 'none'");
    expect(PAGE_CSP).toContain("form-action 'self'");
    expect(PAGE_CSP).not.toContain('unsafe-inline');
  });

  it('refusal pages say what happened', () => {
    expect(renderMessagePage(GONE_EXPIRED)).toContain('This link has expired');
    expect(renderMessagePage(FORBIDDEN)).toContain('This link is not valid');
    expect(renderMessagePage(goneUsed('justify'))).toContain('Already answered');
    expect(renderMessagePage(goneUsed('ack'))).toContain('Already recorded');
  });
});
