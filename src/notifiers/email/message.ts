/**
 * The email for one (alert, recipient): subject, text and HTML parts, and the headers that make a
 * re-send recognisable (stable Message-ID) and a dedup follow-up thread under the first alert.
 * Pure: the SMTP sender hands this to nodemailer as is.
 */
import { createHash } from 'node:crypto';
import type { Alert } from '../../domain/alert.ts';
import type { Severity } from '../../domain/severity.ts';
import { alertFacts, factRows, ordinal, resolveLinks, type AlertFacts, type MessageContext } from '../alert-facts.ts';
import { escapeHtml, headerSafe, truncate } from '../escape.ts';

export type { MessageContext } from '../alert-facts.ts';

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
  messageId: string;
  inReplyTo?: string;
  references?: string[];
  headers: Record<string, string>;
}

export const SUBJECT_MAX = 200;
/** Item and person are cut first so the severity and the time of use always fit in the subject. */
const SUBJECT_ITEM_MAX = 80;
const SUBJECT_PERSON_MAX = 50;

const SEVERITY_COLOURS: Record<Severity, string> = {
  critical: '#b91c1c',
  high: '#c2410c',
  medium: '#a16207',
  low: '#1d4ed8',
  info: '#4b5563',
};

export function buildEmailMessage(alert: Alert, recipient: string, ctx: MessageContext): EmailMessage {
  const facts = alertFacts(alert);
  const links = resolveLinks(ctx);
  const messageId = emailMessageId(alert.id, recipient, ctx.messageIdDomain);
  const msg: EmailMessage = {
    subject: emailSubject(alert, ctx.firstAlert),
    text: renderText(facts, links, ctx.occurrence),
    html: renderHtml(facts, links, ctx.occurrence),
    messageId,
    headers: emailHeaders(alert),
  };
  if (alert.follows) {
    const first = emailMessageId(alert.follows, recipient, ctx.messageIdDomain);
    msg.inReplyTo = first;
    msg.references = [first];
  }
  return msg;
}

/**
 * `<alertId.recipientHash@domain>`: the same for every attempt at the same (alert, recipient), so a
 * re-send after a crash is recognisably the same message, and computable for the first alert of a
 * dedup series from its id alone. The recipient is hashed, not embedded, to keep addresses out of ids.
 */
export function emailMessageId(alertId: string, recipient: string, domain: string): string {
  return `<${idAtom(alertId)}.${shortHash(recipient)}@${idDomain(domain)}>`;
}

/**
 * `[CRITICAL] Company card revealed by Jo Bloggs — Sat 02:14 Europe/London`. A follow-up repeats the
 * first alert's subject after `Re: ` (mail clients thread on it); without the first alert at hand, the
 * same shape from this one.
 */
export function emailSubject(alert: Alert, firstAlert?: Alert): string {
  if (alert.notice) {
    const f = alertFacts(alert);
    return headerSafe(`[${f.severityLabel}] ${f.headline}`, SUBJECT_MAX);
  }
  if (!alert.follows) return subjectLine(alertFacts(alert));
  const base = firstAlert && firstAlert.id === alert.follows ? firstAlert : alert;
  return headerSafe(`Re: ${subjectLine(alertFacts(base))}`, SUBJECT_MAX);
}

function subjectLine(f: AlertFacts): string {
  const item = truncate(f.item, SUBJECT_ITEM_MAX);
  const person = truncate(f.personShort, SUBJECT_PERSON_MAX);
  return headerSafe(`[${f.severityLabel}] ${item} ${f.verb} by ${person} — ${f.usedAtShort}`, SUBJECT_MAX);
}

function emailHeaders(alert: Alert): Record<string, string> {
  const headers: Record<string, string> = {
    'X-Vaultwatch-Alert-Id': headerSafe(alert.id, 200),
    'X-Vaultwatch-Severity': headerSafe(alert.severity, 20),
    'X-Vaultwatch-Rule': headerSafe(alert.rule, 200),
    // RFC 3834: no vacation or bounce-style auto-replies to an automated alert.
    'Auto-Submitted': 'auto-generated',
    // Outlook/Exchange ignore Auto-Submitted; this stops their out-of-office replies.
    'X-Auto-Response-Suppress': 'All',
  };
  if (alert.follows) headers['X-Vaultwatch-Follows'] = headerSafe(alert.follows, 200);
  return headers;
}

function shortHash(recipient: string): string {
  return createHash('sha256').update(recipient.trim().toLowerCase()).digest('base64url').slice(0, 12);
}

/** Alert ids are base64url already; anything else is forced into dot-atom text so the id stays parseable. */
function idAtom(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '-') || 'alert';
}

function idDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/[^a-z0-9.-]/g, '').replace(/^[.-]+|[.-]+$/g, '');
  return d || 'vaultwatch.invalid';
}

// --- text part -------------------------------------------------------------------------------------

type Links = ReturnType<typeof resolveLinks>;

function headline(f: AlertFacts, occurrence: number | undefined): string {
  if (!f.follows) return `${f.headline}.`;
  return occurrence && occurrence > 1 ? `Again (${ordinal(occurrence)} time): ${f.headline}.` : `Again: ${f.headline}.`;
}

function renderText(f: AlertFacts, links: Links, occurrence: number | undefined): string {
  const rows = factRows(f);
  const width = Math.max(...rows.map((r) => r.label.length)) + 2;
  const lines = [
    `${f.severityLabel} · ${f.rule}`,
    '',
    headline(f, occurrence),
    '',
    ...rows.map((r) => `  ${`${r.label}:`.padEnd(width)}${r.value}`),
    '',
    'Why this alert fired:',
    ...f.reasons.map((r) => `  - ${r}`),
  ];
  if (links.alert || links.justify) lines.push('');
  if (links.alert) lines.push(`Open the alert: ${links.alert}`);
  if (links.justify) lines.push(`Justify this use: ${links.justify}`);
  lines.push('', '-- ', footerText(f));
  return `${lines.join('\n')}\n`;
}

function footerText(f: AlertFacts): string {
  const follow = f.follows ? ` · follow-up of alert ${f.follows}` : '';
  return `vaultwatch · policy ${f.policy} · alert ${f.alertId} · event ${f.eventId}${follow}. Times are in ${f.timezone}.`;
}

// --- HTML part -------------------------------------------------------------------------------------
// Tables and inline styles because mail clients (Outlook above all) ignore <style> and modern layout.

const FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif";

function renderHtml(f: AlertFacts, links: Links, occurrence: number | undefined): string {
  const colour = SEVERITY_COLOURS[f.severity] ?? SEVERITY_COLOURS.info;
  const e = escapeHtml;
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${e(`${f.severityLabel}: ${f.headline}`)}</title></head>`,
    '<body style="margin:0;padding:0;background:#f3f4f6;">',
    // Preheader: the line inbox lists show under the subject.
    `<div style="display:none;max-height:0;overflow:hidden;">${e(`${f.headline} · ${f.usedAt}`)}</div>`,
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;">',
    '<tr><td align="center" style="padding:24px 12px;">',
    `<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background:#ffffff;border:1px solid #e5e7eb;font-family:${FONT};color:#111827;">`,
    `<tr><td style="height:6px;line-height:6px;font-size:0;background:${colour};">&nbsp;</td></tr>`,
    htmlHeading(f, colour, occurrence),
    htmlFacts(f),
    htmlReasons(f),
    htmlButtons(links, colour),
    `<tr><td style="padding:16px 24px;border-top:1px solid #e5e7eb;font-size:12px;line-height:1.5;color:#6b7280;">${e(footerText(f))}</td></tr>`,
    '</table>',
    '</td></tr></table>',
    '</body></html>',
    '',
  ].join('\n');
}

function htmlHeading(f: AlertFacts, colour: string, occurrence: number | undefined): string {
  const e = escapeHtml;
  const badge = `<span style="display:inline-block;padding:2px 8px;background:${colour};color:#ffffff;font-size:12px;font-weight:bold;letter-spacing:0.05em;">${e(f.severityLabel)}</span>`;
  return `<tr><td style="padding:20px 24px 8px;">${badge}`
    + `<span style="font-size:13px;color:#4b5563;">&nbsp; ${e(f.rule)}</span>`
    + `<h1 style="margin:12px 0 0;font-size:20px;line-height:1.35;font-weight:600;">${e(headline(f, occurrence))}</h1>`
    + `<p style="margin:6px 0 0;font-size:14px;color:#4b5563;">${e(f.usedAt)}</p></td></tr>`;
}

function htmlFacts(f: AlertFacts): string {
  const rows = factRows(f).map((r) => '<tr>'
    + `<td valign="top" style="padding:6px 12px 6px 0;width:120px;font-size:13px;color:#6b7280;white-space:nowrap;">${escapeHtml(r.label)}</td>`
    + `<td valign="top" style="padding:6px 0;font-size:14px;color:#111827;word-break:break-word;">${escapeHtml(r.value)}</td>`
    + '</tr>');
  return '<tr><td style="padding:8px 24px;">'
    + '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-top:1px solid #e5e7eb;border-bottom:1px solid #e5e7eb;">'
    + rows.join('')
    + '</table></td></tr>';
}

function htmlReasons(f: AlertFacts): string {
  if (f.reasons.length === 0) return '';
  const items = f.reasons.map((r) => `<li style="margin:0 0 4px;">${escapeHtml(r)}</li>`).join('');
  return '<tr><td style="padding:12px 24px 4px;">'
    + '<h2 style="margin:0 0 6px;font-size:14px;font-weight:600;">Why this alert fired</h2>'
    + `<ul style="margin:0;padding:0 0 0 20px;font-size:14px;line-height:1.45;color:#111827;">${items}</ul>`
    + '</td></tr>';
}

function htmlButtons(links: Links, colour: string): string {
  const buttons: string[] = [];
  if (links.alert) buttons.push(htmlButton(links.alert, 'Open the alert', colour, '#ffffff'));
  if (links.justify) buttons.push(htmlButton(links.justify, 'Justify this use', '#ffffff', '#111827'));
  if (buttons.length === 0) return '';
  return '<tr><td style="padding:16px 24px;">'
    + `<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr>${buttons.join('<td style="width:12px;">&nbsp;</td>')}</tr></table>`
    + '</td></tr>';
}

function htmlButton(url: string, label: string, background: string, foreground: string): string {
  return `<td style="background:${background};border:1px solid #d1d5db;">`
    + `<a href="${escapeHtml(url)}" style="display:inline-block;padding:10px 18px;font-family:${FONT};font-size:14px;font-weight:600;color:${foreground};text-decoration:none;">${escapeHtml(label)}</a>`
    + '</td>';
}
