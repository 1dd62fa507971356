/**
 * The chat.postMessage arguments for one (alert, channel). Pure: the Slack sender passes this to the
 * Web API as is (after choosing thread_ts for follow-ups).
 *
 * Injection model: user-controlled text (titles, names, vault names, reasons) goes only into mrkdwn and
 * the `text` fallback, always through escapeSlack, so `<!channel>` or `<https://evil|click>` shows as
 * text. plain_text objects (header, buttons) carry only our own words and the policy's rule name.
 * `link_names` and `parse` are never set; mrkdwn objects are `verbatim` so Slack does not auto-link.
 */
import type { Alert } from '../../domain/alert.ts';
import type { Severity } from '../../domain/severity.ts';
import { alertFacts, factRows, ordinal, resolveLinks, type AlertFacts, type MessageContext } from '../alert-facts.ts';
import { escapeSlack, singleLine, truncate } from '../escape.ts';

export type { MessageContext } from '../alert-facts.ts';

export interface SlackMessage {
  channel: string;
  text: string;
  blocks: object[];
  metadata: {
    event_type: 'vaultwatch_alert';
    event_payload: { alert_id: string; rule: string; severity: string; event_id: string };
  };
  unfurl_links: false;
  unfurl_media: false;
  thread_ts?: string;
}

/** Block Kit limits (docs.slack.dev block reference). */
export const SLACK_LIMITS = {
  header: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  buttonText: 75,
  url: 3000,
  /** chat.postMessage truncates `text` past 40,000; stay far below, it is a notification line. */
  fallbackText: 3000,
} as const;

const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: '🔴',
  high: '🟠',
  medium: '🟡',
  low: '🔵',
  info: '⚪',
};

export function buildSlackMessage(
  alert: Alert,
  channel: string,
  ctx: MessageContext & { threadTs?: string },
): SlackMessage {
  const facts = alertFacts(alert);
  const links = resolveLinks(ctx);
  const followUp = alert.follows !== undefined;
  const msg: SlackMessage = {
    channel,
    text: followUp ? followUpText(facts, ctx.occurrence) : fallbackText(facts),
    blocks: followUp ? followUpBlocks(facts, links, ctx.occurrence) : alertBlocks(facts, links, ctx.managerActions ? alert.id : undefined),
    metadata: {
      event_type: 'vaultwatch_alert',
      event_payload: { alert_id: alert.id, rule: alert.rule, severity: alert.severity, event_id: alert.event.id },
    },
    unfurl_links: false,
    unfurl_media: false,
  };
  if (ctx.threadTs) msg.thread_ts = ctx.threadTs;
  return msg;
}

// --- texts -----------------------------------------------------------------------------------------

const esc = escapeSlack;

/** What push notifications and screen readers get; Slack interprets it as mrkdwn, hence escaped. */
function fallbackText(f: AlertFacts): string {
  return fit(`[${esc(f.severityLabel)}] ${esc(f.headline)} — ${esc(f.usedAtShort)} · ${esc(f.rule)}`, SLACK_LIMITS.fallbackText);
}

function followUpText(f: AlertFacts, occurrence: number | undefined): string {
  return fit(`Again: ${esc(f.headline)} — ${esc(f.usedAtShort)}${nth(occurrence)}`, SLACK_LIMITS.fallbackText);
}

function nth(occurrence: number | undefined): string {
  return occurrence && occurrence > 1 ? ` (${ordinal(occurrence)})` : '';
}

/** `*Jo Bloggs (jo@example.com)* revealed the card code of *Company card* (secure note) in *Finance*`. */
function summaryMrkdwn(f: AlertFacts): string {
  if (f.notice) return esc(f.headline);
  const type = f.itemType ? ` (${esc(f.itemType)})` : '';
  return `*${esc(f.person)}* ${esc(f.action)} *${esc(f.item)}*${type} in *${esc(f.vault)}*`;
}

// --- blocks ----------------------------------------------------------------------------------------

type Links = ReturnType<typeof resolveLinks>;

/** `ackFor`: the alert id the managers' action buttons carry (their `value`), when interactivity is on. */
function alertBlocks(f: AlertFacts, links: Links, ackFor?: string): object[] {
  const blocks: object[] = [
    header(`${SEVERITY_EMOJI[f.severity] ?? ''} ${f.severityLabel} · ${f.rule}`),
    section(`${summaryMrkdwn(f)}\n${esc(f.usedAt)}`),
    {
      type: 'section',
      fields: factRows(f).slice(0, SLACK_LIMITS.fields).map((r) => mrkdwn(`*${esc(r.label)}*\n${esc(r.value)}`, SLACK_LIMITS.fieldText)),
    },
    context([reasonsMrkdwn(f), footerMrkdwn(f)]),
  ];
  const actions = actionsBlock(links, ackFor);
  if (actions) blocks.push(actions);
  return blocks;
}

/**
 * A thread reply: short, since the parent carries the full layout, but still naming every fact the
 * contract requires (a reader may land on the reply from a notification).
 */
function followUpBlocks(f: AlertFacts, links: Links, occurrence: number | undefined): object[] {
  const when = [f.usedAt, f.delay?.text, f.client, f.ip, f.location].filter((t) => t !== undefined).map(esc).join(' · ');
  const why = f.reasons.length > 0 ? `*Why:* ${f.reasons.map(esc).join('; ')}` : '';
  const blocks: object[] = [
    section(`Again: ${summaryMrkdwn(f)}${nth(occurrence)}`),
    context([`${esc(f.severityLabel)} · ${esc(f.rule)}`, when, why, footerMrkdwn(f)]),
  ];
  const actions = actionsBlock(links);
  if (actions) blocks.push(actions);
  return blocks;
}

function reasonsMrkdwn(f: AlertFacts): string {
  if (f.reasons.length === 0) return '*Why:* (no reason recorded)';
  return `*Why:*\n${f.reasons.map((r) => `• ${esc(r)}`).join('\n')}`;
}

function footerMrkdwn(f: AlertFacts): string {
  return `Times in ${esc(f.timezone)} · alert ${esc(f.alertId)} · event ${esc(f.eventId)}`;
}

/** Manager actions: action_id `vw_ack_<action>`, value the alert id (handled at /slack/interactions). */
export const ACK_BUTTONS = [
  { action_id: 'vw_ack_expected', label: 'Expected' },
  { action_id: 'vw_ack_investigating', label: 'Investigating' },
] as const;

function actionsBlock(links: Links, ackFor?: string): object | undefined {
  const elements = [
    ...(ackFor ? ACK_BUTTONS.map((b) => ({ type: 'button', action_id: b.action_id, text: { type: 'plain_text', text: b.label, emoji: false }, value: ackFor })) : []),
    links.alert && button('vaultwatch_open_alert', 'Open alert', links.alert, 'primary'),
    links.justify && button('vaultwatch_justify', 'Justify this use', links.justify),
  ].filter((b): b is object => typeof b === 'object');
  return elements.length > 0 ? { type: 'actions', elements } : undefined;
}

function button(actionId: string, label: string, url: string, style?: 'primary'): object | undefined {
  // Slack rejects the whole message for an over-long url; a missing button is the lesser harm.
  if (url.length > SLACK_LIMITS.url) return undefined;
  return {
    type: 'button',
    action_id: actionId,
    text: { type: 'plain_text', text: truncate(label, SLACK_LIMITS.buttonText), emoji: false },
    url,
    ...(style ? { style } : {}),
  };
}

function header(text: string): object {
  return { type: 'header', text: { type: 'plain_text', text: truncate(singleLine(text), SLACK_LIMITS.header), emoji: true } };
}

function section(text: string): object {
  return { type: 'section', text: mrkdwn(text, SLACK_LIMITS.sectionText) };
}

function context(texts: string[]): object {
  return {
    type: 'context',
    elements: texts.filter((t) => t !== '').slice(0, SLACK_LIMITS.contextElements).map((t) => mrkdwn(t, SLACK_LIMITS.sectionText)),
  };
}

function mrkdwn(text: string, max: number): object {
  return { type: 'mrkdwn', text: fit(text, max), verbatim: true };
}

/**
 * Truncates already-escaped mrkdwn without leaving half an entity (`&am…`), which Slack would show
 * as a stray ampersand.
 */
export function fit(escaped: string, max: number): string {
  if (escaped.length <= max) return escaped;
  const cut = truncate(escaped, max);
  return cut.replace(/&[a-z]{0,3}…$/, '…');
}
