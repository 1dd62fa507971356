/**
 * The Slack message of a digest (`deliver: digest`): one chat.postMessage listing every alert held for
 * a recipient, oldest first, with the count. Pure; the same injection model as message.ts: user text
 * only in mrkdwn and `text`, always through escapeSlack, mrkdwn `verbatim`, no link_names/parse. The
 * metadata carries the digest id as `alert_id`, so a send in flight at a crash is found again.
 */
import type { Severity } from '../../domain/severity.ts';
import { ordinal } from '../alert-facts.ts';
import { alertCount, highestSeverity, sortedEntries, type DigestContent, type DigestEntry } from '../digest.ts';
import { escapeSlack, truncate } from '../escape.ts';
import { fit, SLACK_LIMITS, type SlackMessage } from './message.ts';

/** Slack refuses more than 50 blocks: header, intro, then entry sections, and a closing context. */
const MAX_ENTRY_SECTIONS = 45;
const VALUE_MAX = 150;

const SEVERITY_EMOJI: Record<Severity, string> = { critical: '🔴', high: '🟠', medium: '🟡', low: '🔵', info: '⚪' };

const esc = escapeSlack;

export function buildSlackDigest(digest: DigestContent, channel: string): SlackMessage {
  const entries = sortedEntries(digest.entries);
  const top = highestSeverity(entries);
  const count = alertCount(entries.length);
  const intro = `${count} ${entries.length === 1 ? 'was' : 'were'} held for you while you were outside *${esc(digest.schedule)}*; your hours began ${esc(digest.window_text)}.`;

  // Entry lines packed into sections under the mrkdwn limit; what does not fit is counted.
  const sections: string[] = [];
  let current = '';
  let listed = 0;
  for (const e of entries) {
    const line = entryLine(e);
    if (current !== '' && current.length + 1 + line.length > SLACK_LIMITS.sectionText) {
      if (sections.length + 1 >= MAX_ENTRY_SECTIONS) break;
      sections.push(current);
      current = '';
    }
    current = current === '' ? line : `${current}\n${line}`;
    listed++;
  }
  if (current !== '') sections.push(current);
  const rest = entries.length - listed;

  const blocks: object[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(`${SEVERITY_EMOJI[top]} Digest · ${count}`, SLACK_LIMITS.header), emoji: true } },
    section(intro),
    ...sections.map(section),
    context([
      ...(rest > 0 ? [`… and ${rest} more: see \`vaultwatch alerts\``] : []),
      `Times of use in each policy's zone · digest ${esc(digest.id)} · every alert with its delivery record: \`vaultwatch alerts\``,
    ]),
  ];
  return {
    channel,
    text: fit(`[${top.toUpperCase()}] Digest: ${count} held for your hours (${esc(digest.schedule)})`, SLACK_LIMITS.fallbackText),
    blocks,
    metadata: {
      event_type: 'vaultwatch_alert',
      event_payload: { alert_id: digest.id, rule: 'digest', severity: top, event_id: digest.id },
    },
    unfurl_links: false,
    unfurl_media: false,
  };
}

/** `• 🟠 *HIGH* · Company card used — *Jo Bloggs (jo@…)* revealed *Company card* in *Finance* · Sat 21 Nov 2026 02:14 GMT (Europe/London)` */
function entryLine(e: DigestEntry): string {
  const again = e.occurrence ? ` (again, ${ordinal(e.occurrence)})` : '';
  return `• ${SEVERITY_EMOJI[e.severity] ?? ''} *${esc(e.severity.toUpperCase())}* · ${esc(clip(e.rule))} — *${esc(clip(e.person))}* ${esc(clip(e.action))} *${esc(clip(e.item))}* in *${esc(clip(e.vault))}*${again} · ${esc(e.used_at)}`;
}

function clip(text: string): string {
  return truncate(text, VALUE_MAX);
}

function section(text: string): object {
  return { type: 'section', text: { type: 'mrkdwn', text: fit(text, SLACK_LIMITS.sectionText), verbatim: true } };
}

function context(texts: string[]): object {
  return { type: 'context', elements: texts.map((t) => ({ type: 'mrkdwn', text: fit(t, SLACK_LIMITS.sectionText), verbatim: true })) };
}
