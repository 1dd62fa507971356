/**
 * The messages of the justification loop and of manager actions, pure like the alert builders:
 *
 *   ask         the accessor is asked why (email with a link; Slack DM with reason buttons)
 *   answer      the answer, attached to the managers' alert (Slack thread reply, email follow-up)
 *   escalation  nobody answered in time (to escalate_to; a thread reply to the managers)
 *   status      the context block a chat.update adds to the alert's Slack message
 *
 * Facts come from alertFacts (the same allow-list as every alert); user-controlled text is escaped
 * for each channel (escapeHtml, escapeSlack, headerSafe).
 */
import { createHash } from 'node:crypto';
import type { Alert } from '../domain/alert.ts';
import type { EmailMessage } from '../notifiers/email/message.ts';
import { emailMessageId, emailSubject } from '../notifiers/email/message.ts';
import { alertFacts, factRows, humanDuration, type AlertFacts } from '../notifiers/alert-facts.ts';
import { escapeHtml, escapeSlack, headerSafe, truncate } from '../notifiers/escape.ts';
import { fit, SLACK_LIMITS } from '../notifiers/slack/message.ts';
import { accessorRows, answerSummary, askQuestion, REASONS, type JustificationAnswer } from './justification.ts';
import { JUSTIFY_ACTION_PREFIX } from './slack-interactions.ts';

export interface SlackPost {
  text: string;
  blocks: object[];
  metadata?: { event_type: string; event_payload: Record<string, string> };
}

const FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif";
const esc = escapeSlack;

function baseHeaders(alert: Alert, kind: string): Record<string, string> {
  return {
    'X-Vaultwatch-Alert-Id': headerSafe(alert.id, 200),
    'X-Vaultwatch-Kind': kind,
    'Auto-Submitted': 'auto-generated',
    'X-Auto-Response-Suppress': 'All',
  };
}

/** `<alert.kind.recipienthash@domain>`: stable per (alert, kind, recipient), so a re-send is the same message. */
export function accountabilityMessageId(alertId: string, kind: string, recipient: string, domain: string): string {
  const base = emailMessageId(alertId, recipient, domain);
  const h = createHash('sha256').update(`${kind}\u0000${recipient.trim().toLowerCase()}`).digest('base64url').slice(0, 10);
  return base.replace(/^<([^.@]+)\./, `<$1.${kind}-${h}.`);
}

// ---------------------------------------------------------------------------------------------------
// HTML scaffolding for emails (tables and inline styles: mail clients ignore <style>)

interface HtmlEmail {
  title: string;
  /** Short line above the heading (`Question from your vault's managers`). */
  kicker: string;
  heading: string;
  paragraphs: string[];
  quote?: string;
  rows: { label: string; value: string }[];
  button?: { url: string; label: string };
  footer: string;
}

function htmlEmail(m: HtmlEmail): string {
  const e = escapeHtml;
  const rows = m.rows.map((r) => '<tr>'
    + `<td valign="top" style="padding:6px 12px 6px 0;width:120px;font-size:13px;color:#6b7280;white-space:nowrap;">${e(r.label)}</td>`
    + `<td valign="top" style="padding:6px 0;font-size:14px;color:#111827;word-break:break-word;">${e(r.value)}</td></tr>`).join('');
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${e(m.title)}</title></head>`,
    '<body style="margin:0;padding:0;background:#f3f4f6;">',
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;">',
    '<tr><td align="center" style="padding:24px 12px;">',
    `<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background:#ffffff;border:1px solid #e5e7eb;font-family:${FONT};color:#111827;">`,
    '<tr><td style="height:6px;line-height:6px;font-size:0;background:#1d4ed8;">&nbsp;</td></tr>',
    `<tr><td style="padding:20px 24px 4px;"><div style="font-size:13px;color:#4b5563;">${e(m.kicker)}</div>`,
    `<h1 style="margin:8px 0 0;font-size:20px;line-height:1.35;font-weight:600;">${e(m.heading)}</h1></td></tr>`,
    ...m.paragraphs.map((p) => `<tr><td style="padding:8px 24px 0;font-size:15px;line-height:1.5;">${e(p)}</td></tr>`),
    m.quote ? `<tr><td style="padding:12px 24px 0;"><div style="border-left:3px solid #1d4ed8;padding:8px 12px;font-size:15px;background:#eff6ff;">${e(m.quote)}</div></td></tr>` : '',
    m.button ? `<tr><td style="padding:18px 24px 4px;"><table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr><td style="background:#1d4ed8;border:1px solid #1d4ed8;"><a href="${e(m.button.url)}" style="display:inline-block;padding:10px 18px;font-family:${FONT};font-size:14px;font-weight:600;color:#ffffff;text-decoration:none;">${e(m.button.label)}</a></td></tr></table></td></tr>` : '',
    '<tr><td style="padding:12px 24px;"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-top:1px solid #e5e7eb;border-bottom:1px solid #e5e7eb;">',
    rows,
    '</table></td></tr>',
    `<tr><td style="padding:12px 24px 16px;font-size:12px;line-height:1.5;color:#6b7280;">${e(m.footer)}</td></tr>`,
    '</table></td></tr></table></body></html>',
    '',
  ].join('\n');
}

function textEmail(lines: (string | undefined)[], rows: { label: string; value: string }[], footer: string): string {
  const width = Math.max(0, ...rows.map((r) => r.label.length)) + 2;
  return `${[...lines.filter((l): l is string => l !== undefined), '', ...rows.map((r) => `  ${`${r.label}:`.padEnd(width)}${r.value}`), '', '-- ', footer].join('\n')}\n`;
}

function footerText(f: AlertFacts): string {
  return `vaultwatch · policy ${f.policy} · rule ${f.rule} · alert ${f.alertId}. Times are in ${f.timezone}.`;
}

// ---------------------------------------------------------------------------------------------------
// Ask

export interface AskInput {
  link: string;
  /** `30 min`. */
  within: string;
  /** `Sat 21 Nov 02:44 Europe/London`. */
  deadline: string;
}

export function askEmail(alert: Alert, recipient: string, domain: string, a: AskInput): EmailMessage {
  const f = alertFacts(alert);
  const heading = askQuestion(f);
  const lead = `You ${f.action} ${f.item} in the ${f.vault} vault (${f.usedAt}). Its managers asked to be told why; your answer goes to them with your name.`;
  const due = `Please answer within ${a.within}, by ${a.deadline}: it takes one click.`;
  const rows = accessorRows(f);
  return {
    subject: headerSafe(`Why did you use ${truncate(f.item, 80)}? (answer by ${a.deadline})`, 200),
    text: textEmail([heading, '', lead, due, '', `Answer here: ${a.link}`], rows, footerText(f)),
    html: htmlEmail({
      title: heading, kicker: `Question from the managers of ${f.vault}`, heading, paragraphs: [lead, due],
      rows, button: { url: a.link, label: 'Answer now' }, footer: footerText(f),
    }),
    messageId: accountabilityMessageId(alert.id, 'ask', recipient, domain),
    headers: baseHeaders(alert, 'justification-request'),
  };
}

/** The DM: reason buttons (each answers at once) and "Other…", a link to the page. */
export function askSlack(alert: Alert, a: AskInput): SlackPost {
  const f = alertFacts(alert);
  const buttons = REASONS.map((r) => (r.id === 'other'
    ? { type: 'button', action_id: `${JUSTIFY_ACTION_PREFIX}other`, text: { type: 'plain_text', text: r.label, emoji: false }, url: a.link }
    : { type: 'button', action_id: `${JUSTIFY_ACTION_PREFIX}${r.id}`, text: { type: 'plain_text', text: r.label, emoji: false }, value: alert.id }));
  return {
    text: fit(`Why did you use ${esc(f.item)} in ${esc(f.vault)}? Please answer within ${esc(a.within)}.`, SLACK_LIMITS.fallbackText),
    blocks: [
      { type: 'section', text: mrkdwn(`*${esc(askQuestion(f))}*\nYou ${esc(f.action)} *${esc(f.item)}* in *${esc(f.vault)}* — ${esc(f.usedAt)}.\nThe vault's managers asked to be told why; your answer goes to them with your name.`) },
      { type: 'actions', block_id: 'vw_justify', elements: buttons },
      { type: 'context', elements: [mrkdwn(`Please answer within ${esc(a.within)} (by ${esc(a.deadline)}). <${a.link}|Open the page> to add details. · alert ${esc(f.alertId)}`)] },
    ],
    metadata: { event_type: 'vaultwatch_justification_request', event_payload: { alert_id: alert.id } },
  };
}

/** The DM once answered (from Slack or from the page): the buttons give way to the answer. */
export function askSlackAnswered(alert: Alert, answer: JustificationAnswer): SlackPost {
  const f = alertFacts(alert);
  return {
    text: fit(`Thank you: your answer about ${esc(f.item)} was sent to the managers.`, SLACK_LIMITS.fallbackText),
    blocks: [
      { type: 'section', text: mrkdwn(`You ${esc(f.action)} *${esc(f.item)}* in *${esc(f.vault)}* — ${esc(f.usedAt)}.`) },
      { type: 'section', text: mrkdwn(`:white_check_mark: *Answer sent to the managers:* ${esc(answerSummary(answer))}`) },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------
// Answer, attached to the managers' alert

export function answerText(f: AlertFacts, answer: JustificationAnswer): string {
  return `${f.personShort} said why they ${f.verb} ${f.item}: ${answerSummary(answer)}${answer.late ? ' (after the deadline)' : ''}`;
}

export function answerThreadReply(alert: Alert, answer: JustificationAnswer): SlackPost {
  const f = alertFacts(alert);
  const late = answer.late ? ' _(after the deadline)_' : '';
  return {
    text: fit(esc(answerText(f, answer)), SLACK_LIMITS.fallbackText),
    blocks: [
      { type: 'section', text: mrkdwn(`:speech_balloon: *${esc(f.personShort)}* said why they ${esc(f.verb)} *${esc(f.item)}*:${late}\n>${esc(answerSummary(answer))}`) },
      { type: 'context', elements: [mrkdwn(`${esc(f.severityLabel)} · ${esc(f.rule)} · ${esc(f.vault)} · ${esc(f.usedAt)} · alert ${esc(f.alertId)}`)] },
    ],
    metadata: { event_type: 'vaultwatch_justification', event_payload: { alert_id: alert.id } },
  };
}

/** A reply in the alert's email thread: `Re: <the alert's subject>`, In-Reply-To its Message-ID. */
export function answerEmail(alert: Alert, answer: JustificationAnswer, recipient: string, domain: string, parentId: string, link?: string): EmailMessage {
  const f = alertFacts(alert);
  const line = answerText(f, answer);
  const rows = factRows(f);
  return {
    subject: headerSafe(`Re: ${emailSubject(alert)}`, 200),
    text: textEmail([line, '', `Answered by ${answer.by} at ${answer.at} (${answer.via === 'slack' ? 'Slack' : 'web page'}).`, link ? `Open the alert: ${link}` : undefined], rows, footerText(f)),
    html: htmlEmail({
      title: line, kicker: `${f.severityLabel} · ${f.rule}`, heading: `${f.personShort} said why`,
      paragraphs: [`${f.personShort} ${f.action} ${f.item} (${f.usedAt}) and answered:`], quote: answerSummary(answer),
      rows, ...(link ? { button: { url: link, label: 'Open the alert' } } : {}), footer: footerText(f),
    }),
    messageId: accountabilityMessageId(alert.id, 'answer', recipient, domain),
    inReplyTo: parentId,
    references: [parentId],
    headers: baseHeaders(alert, 'justification'),
  };
}

// ---------------------------------------------------------------------------------------------------
// Escalation

/** `Jo Bloggs did not say why within 30 min` (or why they could not be asked). */
export function escalationLine(f: AlertFacts, withinMs: number | undefined, askError?: string): string {
  if (askError) return `${f.personShort} could not be asked why they ${f.verb} ${f.item} (${askError})`;
  return `${f.personShort} did not say why within ${humanDuration(withinMs ?? 0)}`;
}

export function escalationEmail(alert: Alert, recipient: string, domain: string, o: { line: string; link?: string; parentId?: string }): EmailMessage {
  const f = alertFacts(alert);
  const rows = factRows(f);
  const msg: EmailMessage = {
    subject: headerSafe(`[ESCALATED] ${o.line}: ${truncate(f.item, 80)} ${f.verb} — ${f.usedAtShort}`, 200),
    text: textEmail([
      `ESCALATED · ${f.severityLabel} · ${f.rule}`, '', `${o.line}.`, '', `${f.headline}.`, '', 'Why this alert fired:',
      ...f.reasons.map((r) => `  - ${r}`), o.link ? '' : undefined, o.link ? `Open the alert: ${o.link}` : undefined,
    ], rows, footerText(f)),
    html: htmlEmail({
      title: o.line, kicker: `Escalated · ${f.severityLabel} · ${f.rule}`, heading: `${o.line}.`,
      paragraphs: [`${f.headline} (${f.usedAt}).`, ...(f.reasons.length ? [`Why this alert fired: ${f.reasons.join('; ')}`] : [])],
      rows, ...(o.link ? { button: { url: o.link, label: 'Open the alert' } } : {}), footer: footerText(f),
    }),
    messageId: accountabilityMessageId(alert.id, 'escalation', recipient, domain),
    headers: baseHeaders(alert, 'escalation'),
  };
  if (o.parentId) {
    msg.inReplyTo = o.parentId;
    msg.references = [o.parentId];
  }
  return msg;
}

/** Top line of the escalation post (the alert's own blocks follow). */
export function escalationLead(line: string): object {
  return { type: 'section', text: mrkdwn(`:alarm_clock: *Escalated:* ${esc(line)}.`) };
}

export function escalationThreadReply(alert: Alert, line: string, to: string[]): SlackPost {
  const f = alertFacts(alert);
  const where = to.length ? ` Escalated to ${to.map(esc).join(', ')}.` : '';
  return {
    text: fit(`${esc(line)}.${where}`, SLACK_LIMITS.fallbackText),
    blocks: [
      { type: 'section', text: mrkdwn(`:alarm_clock: ${esc(line)}.${where}`) },
      { type: 'context', elements: [mrkdwn(`${esc(f.rule)} · alert ${esc(f.alertId)}`)] },
    ],
    metadata: { event_type: 'vaultwatch_escalation', event_payload: { alert_id: alert.id } },
  };
}

// ---------------------------------------------------------------------------------------------------
// Status on the alert's Slack message

export const STATUS_BLOCK_ID = 'vw_status';

/** The context block chat.update appends: "Answered: …", "Marked expected by @cfo at 10:42 …". */
export function statusBlock(lines: readonly string[]): object | undefined {
  if (lines.length === 0) return undefined;
  const text = lines.map((l) => `:white_small_square: ${esc(l)}`).join('\n');
  return { type: 'context', block_id: STATUS_BLOCK_ID, elements: [mrkdwn(text)] };
}

/** A message's blocks with our status block replaced (never two). */
export function withStatus(blocks: readonly object[], lines: readonly string[]): object[] {
  const kept = blocks.filter((b) => (b as { block_id?: string }).block_id !== STATUS_BLOCK_ID);
  const status = statusBlock(lines);
  if (!status) return kept;
  // Before the buttons, so they stay at the bottom where people look for them.
  const actionsAt = kept.findIndex((b) => (b as { type?: string }).type === 'actions');
  if (actionsAt < 0) return [...kept, status];
  return [...kept.slice(0, actionsAt), status, ...kept.slice(actionsAt)];
}

function mrkdwn(text: string): object {
  return { type: 'mrkdwn', text: fit(text, SLACK_LIMITS.sectionText), verbatim: true };
}
