/**
 * Where a notification goes. Written in policies as `email:ADDR`, `slack:#channel`, `slack:@user`
 * (a Slack user id or an email looked up in Slack), `webhook:NAME`.
 */
export type Target =
  | { kind: 'email'; address: string }
  | { kind: 'slack'; channel: string }
  | { kind: 'webhook'; name: string };

export type ChannelKind = Target['kind'];

export function formatTarget(t: Target): string {
  switch (t.kind) {
    case 'email': return `email:${t.address}`;
    case 'slack': return `slack:${t.channel}`;
    case 'webhook': return `webhook:${t.name}`;
  }
}

// Loose on purpose: the config layer validates addresses with zod and reports them with line:column.
const EMAIL_RE = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;
export function isEmailAddress(text: string): boolean {
  return EMAIL_RE.test(text);
}

/** Parses a written target; returns an error message instead of throwing. */
export function parseTarget(text: string): Target | { error: string } {
  const colon = text.indexOf(':');
  if (colon < 0) return { error: `"${text}" is not a target; write email:ADDR, slack:#channel, slack:@user or webhook:NAME` };
  const kind = text.slice(0, colon);
  const rest = text.slice(colon + 1).trim();
  switch (kind) {
    case 'email':
      return isEmailAddress(rest) ? { kind: 'email', address: rest.toLowerCase() } : { error: `"${rest}" is not an email address` };
    case 'slack':
      if (/^[#@][^\s]+$/.test(rest) || /^[CGD][A-Z0-9]{6,}$/.test(rest)) return { kind: 'slack', channel: rest };
      return { error: `"${rest}" is not a Slack channel ("#name" or a channel id) or person ("@U123" or "@name@example.com")` };
    case 'webhook':
      return /^[A-Za-z0-9_.-]+$/.test(rest) ? { kind: 'webhook', name: rest } : { error: `"${rest}" is not a webhook name` };
    default:
      return { error: `unknown target kind "${kind}"; write email:, slack: or webhook:` };
  }
}

export function targetKey(t: Target): string {
  return formatTarget(t);
}
