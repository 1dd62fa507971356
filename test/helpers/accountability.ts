/**
 * For the justification-loop and manager-action tests: a daemon config with a rule that asks why
 * (and one with a 2-second deadline), Slack interactivity on, and helpers that act like a browser
 * (cookie + hidden anti-CSRF field) and like Slack (signed interaction requests).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { slackSignature } from '../../src/accountability/slack-interactions.ts';
import { signToken, type TokenPurpose } from '../../src/accountability/tokens.ts';
import { BANK_ITEM, CFO, FINANCE_CHANNEL, FINANCE_VAULT, JO, POLICY_ZONE, SAM, writeDaemonConfig, type DaemonConfig, type DaemonConfigOptions } from './daemon.ts';

export const SIGNING_SECRET = 'test-slack-signing-secret-0123456789';
export const CISO = 'ciso@example.com';
export const SECURITY_CHANNEL = '#security';
export const CARD_RULE = 'Company card used';
export const BANK_RULE = 'Bank account used';
/** Sam is in the Slack directory (asked by DM and email); Jo is not (asked by email only). */
export const SAM_SLACK = { id: 'U0SAMOKAFOR', email: SAM.email, name: 'sam' };
export const CFO_SLACK = { id: 'U0CFO0001', name: 'cfo' };
export { BANK_ITEM, CFO, FINANCE_CHANNEL, JO, SAM };

export const ACCOUNTABILITY_POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: ${POLICY_ZONE}
managers:
  - email: ${CFO}
  - slack: "${FINANCE_CHANNEL}"
rules:
  - name: ${CARD_RULE}
    match:
      items: ["Company card*"]
      actions: [reveal, copy, fill]
    severity: high
    justification: { ask: true, within: 30m, escalate_to: ["email:${CISO}", "slack:${SECURITY_CHANNEL}"] }
  - name: ${BANK_RULE}
    match:
      items: ["Business bank*"]
    severity: critical
    justification: { ask: true, within: 2s, escalate_to: ["email:${CISO}", "slack:${SECURITY_CHANNEL}"] }
`;

/** writeDaemonConfig with the policy above and `channels.slack.signing_secret` set. */
export async function writeAccountabilityConfig(o: DaemonConfigOptions): Promise<DaemonConfig> {
  const cfg = await writeDaemonConfig({ policies: { 'finance.yaml': ACCOUNTABILITY_POLICY }, ...o });
  if (o.slack) {
    const text = await readFile(cfg.configPath, 'utf8');
    const patched = text.replace(/^(\s+)api_url: (.*)$/m, (line, indent: string) => `${line}\n${indent}signing_secret: ${JSON.stringify(SIGNING_SECRET)}`);
    await writeFile(cfg.configPath, patched);
  }
  return cfg;
}

/** `http://…/justify/<token>` or `…/alerts/<token>` as written in a message. */
export function linkIn(text: string, kind: 'justify' | 'alerts'): string {
  const m = new RegExp(`https?://[^\\s"<>]+/${kind}/[A-Za-z0-9_.-]+`).exec(text);
  if (!m) throw new Error(`no /${kind}/ link in:\n${text.slice(0, 2000)}`);
  return m[0];
}

/** The generated link secret the daemon keeps in Redis (to make an expired link for a test). */
export async function linkSecret(redis: Redis, prefix = '{vaultwatch}'): Promise<string> {
  const s = await redis.get(`${prefix}:link-secret`);
  if (!s) throw new Error('no link secret in Redis yet');
  return s;
}

export function tokenOf(link: string): string {
  return link.slice(link.lastIndexOf('/') + 1);
}

export function craftLink(base: string, secret: string, purpose: TokenPurpose, alertId: string, recipient: string, expiresAt: number): string {
  return `${base}/${purpose === 'justify' ? 'justify' : 'alerts'}/${signToken(secret, { purpose, alertId, recipient, expiresAt })}`;
}

export interface OpenedForm {
  status: number;
  html: string;
  headers: Headers;
  /** `vw_csrf=…` to send back. */
  cookie: string | undefined;
  csrf: string | undefined;
}

/** GET a page as a browser would: keep its cookie and read the hidden anti-CSRF field. */
export async function openForm(url: string): Promise<OpenedForm> {
  const res = await fetch(url);
  const html = await res.text();
  const setCookie = res.headers.get('set-cookie');
  return {
    status: res.status,
    html,
    headers: res.headers,
    cookie: setCookie ? setCookie.split(';')[0] : undefined,
    csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1],
  };
}

/** POST a urlencoded form with that cookie (and this site as Origin unless told otherwise). */
export async function submitForm(url: string, fields: Record<string, string>, o: { cookie?: string; origin?: string | null } = {}): Promise<{ status: number; html: string }> {
  const origin = o.origin === undefined ? new URL(url).origin : o.origin;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(o.cookie ? { cookie: o.cookie } : {}),
      ...(origin !== null ? { origin } : {}),
    },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, html: await res.text() };
}

/** A Slack interaction request (block_actions button click), signed like Slack signs it. */
export async function postSlackInteraction(
  baseUrl: string,
  payload: object,
  o: { secret?: string; atMs?: number; body?: string; signature?: string } = {},
): Promise<{ status: number; text: string; body: string; headers: Record<string, string> }> {
  const body = o.body ?? `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = String(Math.floor((o.atMs ?? Date.now()) / 1000));
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': o.signature ?? slackSignature(o.secret ?? SIGNING_SECRET, timestamp, body),
  };
  const res = await fetch(`${baseUrl}/slack/interactions`, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text(), body, headers };
}

export function buttonClick(actionId: string, value: string, user: { id: string; name: string }, where?: { channel: string; ts: string }): object {
  return {
    type: 'block_actions',
    user: { id: user.id, username: user.name, name: user.name, team_id: 'T0VAULTWATCH' },
    api_app_id: 'A0VAULTWATCH',
    container: { type: 'message', ...(where ? { channel_id: where.channel, message_ts: where.ts } : {}) },
    actions: [{ action_id: actionId, block_id: 'b', value, type: 'button', action_ts: String(Date.now() / 1000) }],
  };
}
