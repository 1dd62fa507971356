/**
 * The two pages people open from a message, server-rendered and usable without JavaScript: the
 * accessor's justification page (`/justify/:token`) and a manager's alert page (`/alerts/:token`),
 * plus their confirmations and the refusals (403 forged, 410 used or expired).
 *
 * Every value that comes from an event, a policy or a person goes through escapeHtml; the markup
 * around it is ours. The one stylesheet is inline and pinned by its hash in the Content-Security-Policy
 * (PAGE_CSP), which allows nothing else: no script, no frame, forms only to ourselves.
 */
import { createHash } from 'node:crypto';
import type { Severity } from '../domain/severity.ts';
import { factRows, type AlertFacts } from '../notifiers/alert-facts.ts';
import { escapeHtml as e } from '../notifiers/escape.ts';
import { accessorRows, answerSummary, askQuestion, MANAGER_ACTIONS, REASONS, type JustificationAnswer, type ManagerAction, type ReasonId } from './justification.ts';
import { CSRF_FIELD } from './tokens.ts';

const COLOURS: Record<Severity, string> = {
  critical: '#b91c1c',
  high: '#c2410c',
  medium: '#a16207',
  low: '#1d4ed8',
  info: '#4b5563',
};

const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:640px;margin:32px auto;padding:0 16px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;overflow:hidden}
.stripe{height:6px}
.body{padding:20px 28px 28px}
.tag{display:inline-block;padding:2px 8px;border-radius:3px;color:#fff;font-size:12px;font-weight:700;letter-spacing:.05em}
.rule{color:#4b5563;font-size:14px;margin-left:6px}
h1{font-size:22px;line-height:1.3;margin:14px 0 6px;font-weight:650}
h2{font-size:15px;margin:22px 0 8px}
p{margin:8px 0}
.muted{color:#4b5563;font-size:14px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:16px 0;padding:12px 0;border-top:1px solid #e5e7eb;border-bottom:1px solid #e5e7eb;font-size:15px}
dt{color:#6b7280}
dd{margin:0;overflow-wrap:anywhere}
fieldset{border:0;margin:0;padding:0}
legend{font-weight:600;margin-bottom:8px;padding:0}
.choice{display:flex;align-items:center;gap:10px;padding:10px 12px;margin:6px 0;border:1px solid #d1d5db;border-radius:6px;cursor:pointer}
.choice:has(input:checked){border-color:#1d4ed8;background:#eff6ff}
.choice input{margin:0;width:18px;height:18px}
label.text{display:block;font-weight:600;margin:18px 0 6px}
textarea{width:100%;min-height:96px;padding:10px;border:1px solid #d1d5db;border-radius:6px;font:inherit}
.hint{font-weight:400;color:#6b7280;font-size:14px}
.buttons{display:flex;gap:12px;flex-wrap:wrap;margin-top:18px}
button{font:inherit;font-weight:600;padding:10px 20px;border-radius:6px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1d4ed8}
.error{background:#fef2f2;border:1px solid #fecaca;color:#991b1b;padding:10px 12px;border-radius:6px;margin:12px 0}
.ok{background:#f0fdf4;border:1px solid #bbf7d0;color:#14532d;padding:12px 14px;border-radius:6px;margin:12px 0}
ul.status{margin:8px 0;padding-left:20px}
blockquote{margin:8px 0;padding:8px 12px;border-left:3px solid #d1d5db;color:#374151}
footer{color:#6b7280;font-size:12px;margin:14px 4px;overflow-wrap:anywhere}
${Object.entries(COLOURS).map(([sev, c]) => `.sev-${sev}{background:${c}}`).join('\n')}
.sev-none{background:#6b7280}
`.trim();

/** The Content-Security-Policy of every page: our one stylesheet (by hash) and nothing else. */
export const PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** `colour` is a class: inline style attributes would need 'unsafe-inline' in the policy. */
function page(title: string, colour: string, inner: string, footer?: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    '<meta name="referrer" content="same-origin">',
    `<title>${e(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head><body><main>',
    `<div class="card"><div class="stripe ${colour}"></div><div class="body">`,
    inner,
    '</div></div>',
    footer ? `<footer>${e(footer)}</footer>` : '',
    '</main></body></html>',
    '',
  ].join('\n');
}

function colourOf(f: AlertFacts): string {
  return f.severity in COLOURS ? `sev-${f.severity}` : 'sev-info';
}

function badge(f: AlertFacts): string {
  return `<span class="tag ${colourOf(f)}">${e(f.severityLabel)}</span><span class="rule">${e(f.rule)}</span>`;
}

function factsList(rows: { label: string; value: string }[]): string {
  return `<dl>${rows.map((r) => `<dt>${e(r.label)}</dt><dd>${e(r.value)}</dd>`).join('')}</dl>`;
}

function footerOf(f: AlertFacts): string {
  return `vaultwatch · alert ${f.alertId} · times in ${f.timezone}`;
}

function csrfInput(csrf: string): string {
  return `<input type="hidden" name="${CSRF_FIELD}" value="${e(csrf)}">`;
}

// ---------------------------------------------------------------------------------------------------
// The accessor's page

export interface JustifyPageInput {
  facts: AlertFacts;
  csrf: string;
  /** `Sat 21 Nov 02:44 Europe/London`: shown when known and not yet past. */
  deadline?: string;
  /** A previous submission that was refused (shown again with its values). */
  error?: string;
  values?: { reason?: string; text?: string };
}

export function renderJustifyPage(p: JustifyPageInput): string {
  const f = p.facts;
  const chosen = p.values?.reason;
  const choices = REASONS.map((r) => `<label class="choice"><input type="radio" name="reason" value="${e(r.id)}"${chosen === r.id ? ' checked' : ''} required> ${e(r.label)}</label>`).join('\n');
  const inner = [
    badge(f),
    `<h1>${e(askQuestion(f))}</h1>`,
    `<p class="muted">The managers of the ${e(f.vault)} vault asked to be told why this item was used. Your answer goes to them, with your name.${p.deadline ? ` Please answer by <strong>${e(p.deadline)}</strong>.` : ''}</p>`,
    factsList(accessorRows(f)),
    p.error ? `<div class="error" role="alert">${e(p.error)}</div>` : '',
    '<form method="post">',
    csrfInput(p.csrf),
    '<fieldset><legend>Reason</legend>',
    choices,
    '</fieldset>',
    '<label class="text" for="text">Details <span class="hint">(required with “Other”; a ticket or invoice number helps)</span></label>',
    `<textarea id="text" name="text" maxlength="1000">${e(p.values?.text ?? '')}</textarea>`,
    '<div class="buttons"><button type="submit">Send answer</button></div>',
    '</form>',
  ].join('\n');
  return page(askQuestion(f), colourOf(f), inner, footerOf(f));
}

export function renderJustifyDone(f: AlertFacts, answer: JustificationAnswer, deadline?: string): string {
  const inner = [
    badge(f),
    '<h1>Thank you — your answer was sent</h1>',
    `<div class="ok" role="status">The managers of the ${e(f.vault)} vault will see your answer next to their alert${answer.late && deadline ? ' (it came after the deadline, so they may already have asked around)' : ''}.</div>`,
    '<h2>Your answer</h2>',
    `<blockquote>${e(answerSummary(answer))}</blockquote>`,
    factsList(accessorRows(f)),
    '<p class="muted">You can close this page. The link cannot be used again.</p>',
  ].join('\n');
  return page('Answer sent', colourOf(f), inner, footerOf(f));
}

// ---------------------------------------------------------------------------------------------------
// The manager's page

export interface AlertPageInput {
  facts: AlertFacts;
  csrf: string;
  /** statusLines(): the question, answer, escalation and earlier actions. */
  status: string[];
  /** Who this link was sent to (shown: "You are marking this as …"). */
  recipient: string;
  error?: string;
}

export function renderAlertPage(p: AlertPageInput): string {
  const f = p.facts;
  const inner = [
    badge(f),
    `<h1>${e(f.headline)}</h1>`,
    `<p class="muted">${e(f.usedAt)}</p>`,
    factsList(factRows(f)),
    f.reasons.length ? `<h2>Why this alert fired</h2><ul class="status">${f.reasons.map((r) => `<li>${e(r)}</li>`).join('')}</ul>` : '',
    p.status.length ? `<h2>So far</h2><ul class="status">${p.status.map((s) => `<li>${e(s)}</li>`).join('')}</ul>` : '',
    p.error ? `<div class="error" role="alert">${e(p.error)}</div>` : '',
    '<form method="post">',
    csrfInput(p.csrf),
    '<h2>Your call</h2>',
    `<p class="muted">Recorded with your address (${e(p.recipient)}) and shown to the other managers.</p>`,
    '<label class="text" for="comment">Comment <span class="hint">(optional)</span></label>',
    '<textarea id="comment" name="comment" maxlength="1000"></textarea>',
    `<div class="buttons">${MANAGER_ACTIONS.map((a, i) => `<button type="submit" name="action" value="${e(a.id)}"${i > 0 ? ' class="secondary"' : ''}>${e(a.label)}</button>`).join('')}</div>`,
    '</form>',
  ].join('\n');
  return page(`${f.severityLabel}: ${f.headline}`, colourOf(f), inner, footerOf(f));
}

export function renderAlertDone(f: AlertFacts, action: ManagerAction, status: string[]): string {
  const label = MANAGER_ACTIONS.find((a) => a.id === action.action)?.past ?? action.action;
  const inner = [
    badge(f),
    `<h1>${e(label)}</h1>`,
    `<div class="ok" role="status">${e(`${label} by ${action.by_name}.`)} The other managers see it on the alert.</div>`,
    `<p><strong>${e(f.headline)}</strong><br><span class="muted">${e(f.usedAt)}</span></p>`,
    status.length ? `<h2>So far</h2><ul class="status">${status.map((s) => `<li>${e(s)}</li>`).join('')}</ul>` : '',
  ].join('\n');
  return page(label, colourOf(f), inner, footerOf(f));
}

// ---------------------------------------------------------------------------------------------------
// Refusals and errors

export interface MessagePageInput {
  title: string;
  message: string;
  /** Extra lines (what was answered, when). */
  details?: string[];
}

export function renderMessagePage(m: MessagePageInput): string {
  const inner = [
    `<h1>${e(m.title)}</h1>`,
    `<p>${e(m.message)}</p>`,
    m.details?.length ? `<ul class="status">${m.details.map((d) => `<li>${e(d)}</li>`).join('')}</ul>` : '',
  ].join('\n');
  return page(m.title, 'sev-none', inner, 'vaultwatch');
}

export const GONE_EXPIRED: MessagePageInput = {
  title: 'This link has expired',
  message: 'Links in vaultwatch messages work for a limited time. Ask the vault’s managers if something still needs to be said.',
};

export const FORBIDDEN: MessagePageInput = {
  title: 'This link is not valid',
  message: 'The link was changed or was not made by this vaultwatch. Open it again from the message you received, in full.',
};

export function goneUsed(kind: 'justify' | 'ack', details: string[] = []): MessagePageInput {
  return kind === 'justify'
    ? { title: 'Already answered', message: 'This question has already been answered; the managers have the answer. The link cannot be used again.', details }
    : { title: 'Already recorded', message: 'Your call on this alert has already been recorded. The link cannot be used again.', details };
}

export type { ReasonId };
