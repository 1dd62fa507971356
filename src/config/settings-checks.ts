/**
 * Checks of vaultwatch.yaml that the schema cannot express: combinations and formats. Like every
 * check, they collect located issues and never throw.
 */
import { parseDuration } from '../domain/duration.ts';
import { parseTarget } from '../domain/target.ts';
import type { ConfigIssue } from './issues.ts';
import type { ConfigFile } from './schema.ts';
import type { YamlFile } from './yaml-file.ts';

export function checkSettings(cfg: ConfigFile, yaml: YamlFile, issues: ConfigIssue[]): void {
  const at = (path: (string | number)[], message: string) => issues.push(yaml.issueAt(path, message));
  // A `*_file` that could not be read is still there (and already reported): the secret was given.
  const given = (s: object, key: string) => Boolean((s as Record<string, unknown>)[key]) || `${key}_file` in s;

  (cfg.sources ?? []).forEach((s, i) => {
    if (!s) return;
    if (s.type === 'webhook' && !given(s, 'token') && !given(s, 'hmac_secret')) {
      at(['sources', i], 'a webhook source needs `token` (or `token_file`) and/or `hmac_secret`: an open /ingest would accept events from anyone');
    }
    if ((s.type === 'onepassword') && !given(s, 'token')) at(['sources', i], 'the 1Password source needs `token` or `token_file` (an Events API token)');
    if (s.type === 'bitwarden' && (!given(s, 'client_id') || !given(s, 'client_secret'))) at(['sources', i], 'the Bitwarden source needs `client_id` and `client_secret` (organization API key)');
    if ('start_from' in s && s.start_from && s.start_from !== 'now' && parseDuration(s.start_from) === undefined && Number.isNaN(Date.parse(s.start_from))) {
      at(['sources', i, 'start_from'], `"${s.start_from}" is not now, a duration (24h) or an ISO instant`);
    }
  });
  const names = new Set<string>();
  (cfg.sources ?? []).forEach((s, i) => {
    if (!s) return;
    const name = s.name ?? s.type;
    if (names.has(name)) at(['sources', i], `two sources are named "${name}"; give each a distinct \`name\``);
    names.add(name);
  });

  if (cfg.http?.listen !== undefined && !unresolved(cfg.http.listen) && !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/.test(cfg.http.listen)) {
    at(['http', 'listen'], `"${cfg.http.listen}" is not host:port (127.0.0.1:8787, 0.0.0.0:8787, [::1]:8787)`);
  }
  if (cfg.http?.public_url !== undefined && !unresolved(cfg.http.public_url) && !/^https?:\/\/[^\s]+$/.test(cfg.http.public_url)) {
    at(['http', 'public_url'], `"${cfg.http.public_url}" is not an http(s) URL`);
  }
  if (cfg.redis?.url !== undefined && !unresolved(cfg.redis.url) && !/^rediss?:\/\//.test(cfg.redis.url)) at(['redis', 'url'], 'not a redis:// or rediss:// URL');
  (cfg.delivery?.fallback ?? []).forEach((t, i) => {
    if (typeof t !== 'string') return; // an invalid entry: already reported
    const r = parseTarget(t);
    if ('error' in r) at(['delivery', 'fallback', i], r.error);
    else if (r.kind === 'webhook' && !cfg.channels?.webhooks?.[r.name]) at(['delivery', 'fallback', i], `no webhook "${r.name}" under channels.webhooks`);
  });
  const connect = cfg.enrichment?.onepassword_connect;
  if (connect && !connect.token) at(['enrichment', 'onepassword_connect'], 'Connect enrichment needs `token` or `token_file` (a Connect access token)');
  if (connect && !/^https?:\/\/\S+$/.test(connect.url ?? '')) at(['enrichment', 'onepassword_connect', 'url'], `"${connect.url}" is not an http(s) URL`);
  const email = cfg.channels?.email;
  if (email?.from !== undefined && !unresolved(email.from) && !/^(?:[^<>]*<\s*[^\s@<>]+@[^\s@<>]+\s*>|[^\s@<>]+@[^\s@<>]+)$/.test(email.from.trim())) {
    at(['channels', 'email', 'from'], `"${email.from}" is not an address ("Vaultwatch <alerts@example.com>" or alerts@example.com)`);
  }
}

/** A `${...}` left in a value: its variable is unset or the reference malformed, already reported. */
function unresolved(value: string): boolean {
  return value.includes('${');
}
