/**
 * A configuration with an error of every kind (test/fixtures/config-errors) must report ALL of them
 * in one run, each as `path:line:column: message`. Expected positions are computed from the fixture
 * text itself (the line holding a marker, the column of the offending token), so a test failure
 * shows exactly which token an error should point at.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRuntime } from '../../../src/app/load-runtime.ts';
import { formatIssue } from '../../../src/config/issues.ts';
import { ACTIONS } from '../../../src/domain/actions.ts';
import { ITEM_TYPES } from '../../../src/domain/item-types.ts';

const DIR = join(import.meta.dirname, '../../fixtures/config-errors');
const shown = (file: string) => relative(process.cwd(), join(DIR, file));

/** 1-based number of the first line (at or after `from`) of `file` that contains `marker`. */
function lineOf(file: string, marker: string, from = 1): number {
  const lines = readFileSync(join(DIR, file), 'utf8').split('\n');
  for (let i = from - 1; i < lines.length; i++) if (lines[i]!.includes(marker)) return i + 1;
  throw new Error(`marker ${marker} not in ${file}`);
}
/** `file:line:column` of `token` on the first line (at or after `from`) that contains `marker`. */
function pos(file: string, marker: string, token = marker, from = 1): string {
  const line = lineOf(file, marker, from);
  const col = readFileSync(join(DIR, file), 'utf8').split('\n')[line - 1]!.indexOf(token);
  if (col < 0) throw new Error(`token ${token} not on the line of ${marker} in ${file}`);
  return `${shown(file)}:${line}:${col + 1}`;
}

const V = 'vaultwatch.yaml';
const F = 'policies/finance.yaml';
const I = 'policies/it-admin.yaml';
const TARGET_HINT = 'write email:ADDR, slack:#channel, slack:@user or webhook:NAME';
const CIDR_HINT = 'is not a CIDR or IP address (10.0.0.0/8, 2001:db8::/32, 203.0.113.7)';
const DURATION_HINT = 'not a duration; write 30s, 10m, 1h, 2d or combined like 1h30m';
const PLACEHOLDERS = '{rule} {user} {item} {vault} {action} {ip} {country} {client}';

const EXPECTED = [
  `${pos(V, '__proto__:', '__proto__')}: unknown key \`__proto__\``,
  `${pos(V, 'prefx:', 'prefx')}: unknown key \`prefx\` (did you mean \`prefix\`?)`,
  `${pos(V, 'listen: ${VAULTWATCH', '${')}: environment variable VAULTWATCH_FIXTURE_UNSET_LISTEN is not set`,
  `${pos(V, 'type: webhook', 'type')}: a webhook source needs \`token\` (or \`token_file\`) and/or \`hmac_secret\`: an open /ingest would accept events from anyone`,
  `${pos(V, 'token_file: secrets/ingest-token', 'token_file')}: give either \`token\` or \`token_file\`, not both`,
  `${pos(V, 'token_file: secrets/no-such-token', 'secrets/')}: cannot read secrets/no-such-token: ENOENT`,
  `${pos(V, 'poll_interval: 10 minutes', '10 minutes')}: ${DURATION_HINT}`,
  `${pos(V, 'client_id: ${BW-CLIENT-ID}', '${')}: malformed \`\${...}\`: write \${NAME} or \${NAME:-default} (NAME: letters, digits, _), or $\${ for a literal \${`,
  `${pos(V, 'sources: nested', 'sources')}: unknown key \`sources\``,
  `${pos(V, 'type: webhok', 'webhok')}: "webhok" is not a valid \`type\`; one of: webhook, onepassword, bitwarden, redis-stream, file (did you mean \`webhook\`?)`,
  `${pos(V, 'passwd: x', 'passwd')}: unknown key \`passwd\` (did you mean \`pass\`?)`,
  `${pos(V, 'webhook:pager', '"webhook:pager"')}: no webhook "pager" under channels.webhooks`,
  `${pos(V, 'Europe/Londn')}: unknown time zone "Europe/Londn" (did you mean \`Europe/London\`?)`,
  `${pos(V, '2026-02-30')}: 2026-02-30 is not a date (February 2026 has 28 days)`,
  `${pos(V, 'Mars/Olympus')}: unknown time zone "Mars/Olympus"; write an IANA name such as "Europe/London"`,
  `${pos(V, '"9-17"')}: "9-17" is not a time range; write "HH:MM-HH:MM"`,
  `${pos(V, 'calendars/missing.yaml')}: cannot read calendars/missing.yaml: ENOENT`,
  `${pos(V, 'level: verbose', 'verbose')}: "verbose" is not one of: fatal, error, warn, info, debug, trace`,
  `${pos('catalog.yaml', 'creditcard')}: "creditcard" is not one of: ${ITEM_TYPES.join(', ')} (did you mean \`credit_card\`?)`,
  `${pos(F, 'Europe/Lndon')}: unknown time zone "Europe/Lndon" (did you mean \`Europe/London\`?)`,
  `${pos(F, 'not-an-email')}: "not-an-email" is not an email address`,
  `${pos(F, 'item_type:', 'item_type')}: unknown key \`item_type\` (did you mean \`item_types\`?)`,
  `${pos(F, 'actions: peek', 'peek')}: "peek" is not one of: ${ACTIONS.join(', ')}`,
  `${pos(F, 'ofice-hours')}: unknown schedule "ofice-hours" (did you mean \`office-hours\`?); define it under schedules: in vaultwatch.yaml`,
  `${pos(F, '10.0.0.0/33')}: "10.0.0.0/33" ${CIDR_HINT}`,
  `${pos(F, '010.0.0.0/8')}: "010.0.0.0/8" ${CIDR_HINT}`,
  `${pos(F, 'group:admin', '"group:admin"')}: unknown group "admin" (did you mean \`admins\`?); define it under groups: in vaultwatch.yaml`,
  `${pos(F, '"bob@"')}: "bob@" is not an email address`,
  `${pos(F, 'not: { user:', 'user')}: unknown key \`user\` (did you mean \`users\`?)`,
  `${pos(F, 'urgent')}: "urgent" is not one of: info, low, medium, high, critical`,
  `${pos(F, 'notify: [manager', 'manager')}: "manager" is not a target; ${TARGET_HINT} (did you mean \`managers\`?)`,
  `${pos(F, '"email:nobody"')}: "nobody" is not an email address`,
  `${pos(F, '"webhook:siem"')}: no webhook "siem" under channels.webhooks in vaultwatch.yaml`,
  `${pos(F, '{usr}:{item}', '"{usr}')}: unknown placeholder {usr} (did you mean \`user\`?); use ${PLACEHOLDERS}`,
  `${pos(F, 'window: 1hour', '1hour')}: ${DURATION_HINT}`,
  `${pos(F, 'name: Card', 'Card', lineOf(F, 'dedup:'))}: duplicate rule name "Card" in this file`,
  `${pos(F, 'Atlantis')}: "Atlantis" is not a country (use ISO 3166 alpha-2 like GB, or an English name)`,
  `${pos(F, 'count: 0', '0')}: must be at least 1`,
  `${pos(I, 'managers:', 'managers', lineOf(I, 'managers:') + 1)}: duplicate key \`managers\` (the first one would be silently replaced)`,
  `${pos(I, 'hihg')}: "hihg" is not one of: info, low, medium, high, critical`,
  `${pos(I, 'justification:', '{')}: \`justification.ask\` needs \`within\` (how long the accessor has to answer)`,
  `${pos(I, 'within: 30', '30')}: expected a string, got 30`,
  `${shown('policies/syntax.yaml')}:2:1: Flow map in block collection must be sufficiently indented and end with a }`,
];

describe('a configuration with many errors', () => {
  const rt = loadRuntime(join(DIR, 'vaultwatch.yaml'), {});
  const got = rt.issues.map(formatIssue);

  it('reports every error, in reading order, each at its own line and column', () => {
    expect(got).toEqual(EXPECTED);
  });

  it('points at the offending token, not at its parent', () => {
    // Spot checks written out by hand, so the helper above cannot hide a shared mistake.
    expect(got).toContain(`${shown(V)}:7:3: unknown key \`prefx\` (did you mean \`prefix\`?)`);
    expect(got).toContain(`${shown(V)}:24:5: unknown key \`sources\``);
    expect(got).toContain(`${shown(F)}:11:16: "peek" is not one of: ${ACTIONS.join(', ')}`);
    expect(got).toContain(`${shown(F)}:13:25: "010.0.0.0/8" ${CIDR_HINT}`);
    expect(got).toContain(`${shown(F)}:19:11: duplicate rule name "Card" in this file`);
  });

  it('a duplicate key does not hide the other errors of its file', () => {
    expect(got.filter((g) => g.startsWith(shown(I)))).toHaveLength(4);
  });

  it('a YAML syntax error is one error for its file, and the other files are still checked', () => {
    expect(got.filter((g) => g.startsWith(shown('policies/syntax.yaml')))).toHaveLength(1);
  });

  it('*.tests.yaml beside the policies is not read as a policy', () => {
    expect(got.some((g) => g.includes('finance.tests.yaml'))).toBe(false);
  });

  it('a `__proto__` key is reported, never merged into the settings', () => {
    expect(rt.config.redis?.url).toBe('redis://127.0.0.1:6379');
  });

  it('a set of policies is never built from a config with errors', () => {
    expect(rt.policies.ruleCount).toBe(0);
  });
});
