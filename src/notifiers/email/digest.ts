/**
 * The email of a digest (`deliver: digest`): every alert held for one recipient while they were outside
 * their hours, oldest first, with the count. Pure, like buildEmailMessage: same escaping (HTML entities
 * for every value, header-safe subject), a stable Message-ID per (digest, recipient) so a re-send after
 * a crash is recognisable, and the same anti-auto-reply headers.
 */
import { ordinal } from '../alert-facts.ts';
import { alertCount, highestSeverity, sortedEntries, type DigestContent, type DigestEntry } from '../digest.ts';
import { escapeHtml, headerSafe, truncate } from '../escape.ts';
import { emailMessageId, SUBJECT_MAX, type EmailMessage, type MessageContext } from './message.ts';

/** Rows beyond this are summarised by a count (a runaway week must not make a 50 MB email). */
export const DIGEST_EMAIL_MAX_ROWS = 1000;
const VALUE_MAX = 200;

export function buildEmailDigest(digest: DigestContent, recipient: string, ctx: Pick<MessageContext, 'messageIdDomain'>): EmailMessage {
  const entries = sortedEntries(digest.entries);
  const top = highestSeverity(entries).toUpperCase();
  return {
    subject: headerSafe(`[${top}] Digest: ${alertCount(entries.length)} held for your hours (${digest.schedule})`, SUBJECT_MAX),
    text: renderText(digest, entries),
    html: renderHtml(digest, entries),
    messageId: emailMessageId(digest.id, recipient, ctx.messageIdDomain),
    headers: {
      'X-Vaultwatch-Digest-Id': headerSafe(digest.id, 200),
      'X-Vaultwatch-Alert-Count': String(entries.length),
      'X-Vaultwatch-Severity': headerSafe(top.toLowerCase(), 20),
      'Auto-Submitted': 'auto-generated',
      'X-Auto-Response-Suppress': 'All',
    },
  };
}

function intro(d: DigestContent, n: number): string {
  return `${alertCount(n)} ${n === 1 ? 'was' : 'were'} held for you while you were outside ${d.schedule}; your hours began ${d.window_text}.`;
}

function what(e: DigestEntry): string {
  const again = e.occurrence ? ` (again, ${ordinal(e.occurrence)} time)` : '';
  return `${e.person} ${e.action} ${e.item}${again}`;
}

function clip(text: string): string {
  return truncate(text, VALUE_MAX);
}

// --- text ------------------------------------------------------------------------------------------

function renderText(d: DigestContent, entries: readonly DigestEntry[]): string {
  const shown = entries.slice(0, DIGEST_EMAIL_MAX_ROWS);
  const lines = [`Digest · ${alertCount(entries.length)}`, '', intro(d, entries.length), 'Oldest first:', ''];
  shown.forEach((e, i) => {
    lines.push(`${i + 1}. ${e.used_at}`);
    lines.push(`   ${e.severity.toUpperCase()} · ${clip(e.rule)} · vault ${clip(e.vault)}`);
    lines.push(`   ${clip(what(e))}`);
    lines.push(`   alert ${e.alert_id}`);
  });
  if (entries.length > shown.length) lines.push('', `… and ${entries.length - shown.length} more.`);
  lines.push('', 'Every alert with its delivery record: vaultwatch alerts', '', '-- ', footer(d));
  return `${lines.join('\n')}\n`;
}

function footer(d: DigestContent): string {
  return `vaultwatch · digest ${d.id} for ${d.recipient} · schedule ${d.schedule}. Times of use are in each policy's zone.`;
}

// --- HTML ------------------------------------------------------------------------------------------

const FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif";
const CELL = 'padding:6px 8px;border-bottom:1px solid #e5e7eb;font-size:13px;vertical-align:top;word-break:break-word;';

function renderHtml(d: DigestContent, entries: readonly DigestEntry[]): string {
  const e = escapeHtml;
  const shown = entries.slice(0, DIGEST_EMAIL_MAX_ROWS);
  const head = ['Used at', 'Severity', 'Rule', 'Item', 'Person', 'Action', 'Vault']
    .map((h) => `<th align="left" style="${CELL}color:#6b7280;font-weight:600;">${e(h)}</th>`).join('');
  const rows = shown.map((x) => '<tr>'
    + `<td style="${CELL}white-space:nowrap;">${e(x.used_at)}</td>`
    + `<td style="${CELL}font-weight:bold;">${e(x.severity.toUpperCase())}</td>`
    + `<td style="${CELL}">${e(clip(x.rule))}</td>`
    + `<td style="${CELL}">${e(clip(x.item))}</td>`
    + `<td style="${CELL}">${e(clip(x.person))}</td>`
    + `<td style="${CELL}">${e(clip(x.action))}${x.occurrence ? ` <span style="color:#6b7280;">(again, ${e(ordinal(x.occurrence))})</span>` : ''}</td>`
    + `<td style="${CELL}">${e(clip(x.vault))}</td>`
    + '</tr>').join('');
  const more = entries.length > shown.length ? `<p style="margin:8px 0 0;font-size:13px;">${e(`… and ${entries.length - shown.length} more.`)}</p>` : '';
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${e(`Digest: ${alertCount(entries.length)}`)}</title></head>`,
    '<body style="margin:0;padding:0;background:#f3f4f6;">',
    `<div style="display:none;max-height:0;overflow:hidden;">${e(intro(d, entries.length))}</div>`,
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;">',
    '<tr><td align="center" style="padding:24px 12px;">',
    `<table role="presentation" width="720" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:720px;background:#ffffff;border:1px solid #e5e7eb;font-family:${FONT};color:#111827;">`,
    `<tr><td style="padding:20px 24px 8px;"><h1 style="margin:0;font-size:20px;font-weight:600;">${e(`Digest · ${alertCount(entries.length)}`)}</h1>`,
    `<p style="margin:6px 0 0;font-size:14px;color:#4b5563;">${e(intro(d, entries.length))}</p></td></tr>`,
    '<tr><td style="padding:8px 24px 16px;">',
    `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>${head}</tr>${rows}</table>${more}`,
    '<p style="margin:12px 0 0;font-size:13px;color:#4b5563;">Every alert with its delivery record: <code>vaultwatch alerts</code></p>',
    '</td></tr>',
    `<tr><td style="padding:16px 24px;border-top:1px solid #e5e7eb;font-size:12px;line-height:1.5;color:#6b7280;">${e(footer(d))}</td></tr>`,
    '</table>',
    '</td></tr></table>',
    '</body></html>',
    '',
  ].join('\n');
}
