/**
 * The configuration contract (policy-format.md) as zod schemas: one source for validation, for the
 * TypeScript types and for the JSON Schema published under schema/ for editors.
 *
 * Semantics that zod cannot express in the type (schedules, globs, CIDRs, durations resolving to
 * milliseconds, cross-references) are checked by the loader and the policy compiler, which report
 * with the same `file:line:column` as the schema errors.
 */
import { z } from 'zod';
import { ACTIONS, FIELDS } from '../domain/actions.ts';
import { ITEM_TYPES } from '../domain/item-types.ts';
import { SEVERITIES } from '../domain/severity.ts';

const DURATION_RE = /^(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$/;
const duration = z.string().regex(DURATION_RE, 'not a duration; write 30s, 10m, 1h, 2d or combined like 1h30m')
  .refine((s) => s !== '', 'empty duration')
  .describe('A duration: 30s, 10m, 1h, 2d, or combined in that order (1h30m).');

const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item)]);

/** A secret may be given inline (usually `${ENV_VAR}`) or read from a file with the `_file` twin. */
const secret = z.string().min(1).describe('A secret. Prefer ${ENV_VAR} or the matching *_file key; never commit it.');
const secretFile = z.string().min(1).describe('Path of a file holding the secret (trailing newline ignored).');

export const severitySchema = z.enum(SEVERITIES);

// ---------------------------------------------------------------------------------------------------
// Schedules and defaults (vaultwatch.yaml)

export const scheduleSchema = z.object({
  timezone: z.string().optional().describe('IANA zone; default: the policy file\'s, then defaults.timezone.'),
  days: z.array(z.string()).optional().describe('Day names, lists and ranges: [mon-fri], [mon, wed, fri], [mon-thu, sat]. Default: every day.'),
  hours: z.array(z.string()).optional().describe('Local time ranges [start, end): "09:00-17:30"; "22:00-06:00" crosses midnight and belongs to its start day; "00:00-24:00" is the whole day.'),
  holidays: z.array(z.string()).optional().describe('Local dates (YYYY-MM-DD) on which the schedule never holds.'),
  calendar: z.string().optional().describe('A file of holiday dates: a YAML list, or an .ics calendar. Relative to this file.'),
}).strict();

const managerSchema = z.object({
  email: z.string().optional().describe('An email address.'),
  slack: z.string().optional().describe('A Slack channel ("#name" or id) or person ("@U123", or "@name@example.com" looked up in Slack, sent as a DM).'),
  name: z.string().optional().describe('Display name.'),
  schedule: z.string().optional().describe('The recipient\'s own working hours (a schedule name), for `deliver: defer|digest`.'),
}).strict();

// ---------------------------------------------------------------------------------------------------
// Policy files

const stringOrNumber = z.union([z.string(), z.number()]);

const matchFields = {
  actions: oneOrMany(z.enum(ACTIONS)).optional().describe('Canonical actions (view, reveal, copy, fill, edit, create, delete, export, share, sso, fetch, grant, revoke, other).'),
  vendor_actions: oneOrMany(stringOrNumber).optional().describe('The source\'s own action values: "secure-copy", 1113 ("1113" and 1113 are the same).'),
  fields: oneOrMany(z.enum(FIELDS)).optional().describe('Canonical names of the value revealed or copied (only sources that report it).'),
  item_types: oneOrMany(z.enum(ITEM_TYPES)).optional().describe('Canonical item types; an unknown type never matches.'),
  items: oneOrMany(z.string()).optional().describe('Item UUIDs, or title globs (case-insensitive, whole string; * ? [abc]).'),
  tags: oneOrMany(z.string()).optional().describe('The enriched item carries any of these tags.'),
  users: oneOrMany(z.string()).optional().describe('Email globs, user ids, or group:NAME.'),
  subjects: oneOrMany(z.string()).optional().describe('For grant/revoke: the person or group whose vault access changed. Email globs, user or group ids, group:NAME (vaultwatch groups), a 1Password group name (glob), or kind:user / kind:group.'),
  during: oneOrMany(z.string()).optional().describe('Schedule names: the event time is inside at least one.'),
  outside: oneOrMany(z.string()).optional().describe('Schedule names: the event time is inside none.'),
  ip: oneOrMany(z.string()).optional().describe('CIDRs (IPv4 or IPv6) or single addresses.'),
  countries: oneOrMany(z.string()).optional().describe('ISO 3166 alpha-2 codes (names like "Canada" are normalised).'),
  clients: oneOrMany(z.string()).optional().describe('Client application name globs ("1Password CLI", "*Extension*").'),
} as const;

const FIRST_TIME_KEYS = ['user', 'item', 'vault', 'ip', 'country', 'client'] as const;
export const firstTimeKeySchema = z.enum(FIRST_TIME_KEYS);

export const matchSchema = z.object({
  ...matchFields,
  first_time: z.array(firstTimeKeySchema).min(1).optional().describe('Fires only the first time this combination of values is seen by this rule.'),
  threshold: z.object({
    count: z.number().int().min(1).describe('At least this many events...'),
    within: duration.describe('...with times in (t - within, t].'),
    per: z.array(firstTimeKeySchema).optional().describe('Counted separately per these values (default: per rule).'),
  }).strict().optional(),
}).strict();

/** `not` blocks take the same keys, minus the stateful ones (they would make "not" depend on history). */
export const notBlockSchema = z.object(matchFields).strict();

const dedupSchema = z.object({
  key: z.string().optional().describe('Template: {rule} {user} {item} {vault} {action} {ip} {country} {client}. Default "{user}:{item}".'),
  window: duration.optional().describe('Later alerts with the same key inside [t, t + window) are suppressed (kept, counted, threaded).'),
}).strict();

const justificationSchema = z.object({
  ask: z.boolean().default(false).describe('Ask the accessor why.'),
  within: duration.optional().describe('How long the accessor has to answer (from the moment they are asked).'),
  escalate_to: z.array(z.string()).optional().describe('Targets told when no answer comes in time.'),
}).strict();

export const ruleSchema = z.object({
  name: z.string().min(1).describe('Unique within the file; appears in alerts.'),
  description: z.string().optional(),
  enabled: z.boolean().optional().describe('false switches the rule off without deleting it.'),
  match: matchSchema.optional().describe('All keys must hold (AND); a list means any of its values (OR). No match = every event of the vault.'),
  not: oneOrMany(notBlockSchema).optional().describe('The rule fires only when no `not` block holds as a whole.'),
  severity: severitySchema.optional(),
  notify: z.array(z.string()).optional().describe('managers, accessor, email:ADDR, slack:#channel, slack:@user, webhook:NAME. Default [managers].'),
  dedup: dedupSchema.optional(),
  deliver: z.enum(['now', 'defer', 'digest']).optional().describe('When a recipient is outside their working hours: now (default), defer to their next window, or digest.'),
  justification: justificationSchema.optional(),
}).strict();

const vaultRefSchema = z.object({
  id: z.string().min(1).describe('The vault id events carry (1Password vault_uuid, Bitwarden collection or org:<id>).'),
  name: z.string().optional().describe('Shown in alerts when the catalog has no better label.'),
}).strict();

export const policyFileSchema = z.object({
  vault: vaultRefSchema.optional(),
  vaults: z.array(vaultRefSchema).min(1).optional(),
  timezone: z.string().optional().describe('IANA zone for this file\'s schedules and message times; default defaults.timezone.'),
  managers: z.array(managerSchema).optional().describe('Who `managers` means in notify lists.'),
  defaults: z.object({
    severity: severitySchema.optional(),
    notify: z.array(z.string()).optional(),
    dedup: dedupSchema.optional(),
    deliver: z.enum(['now', 'defer', 'digest']).optional(),
  }).strict().optional().describe('Applied to every rule of this file that does not set its own.'),
  rules: z.array(ruleSchema).describe('The rules for this vault.'),
}).strict();

// ---------------------------------------------------------------------------------------------------
// Catalog

export const catalogSchema = z.object({
  vaults: z.record(z.string(), z.object({ name: z.string() }).strict()).optional(),
  items: z.record(z.string(), z.object({
    title: z.string().optional(),
    type: z.enum(ITEM_TYPES).optional(),
    tags: z.array(z.string()).optional(),
    vault: z.string().optional(),
  }).strict()).optional(),
}).strict();

// ---------------------------------------------------------------------------------------------------
// Daemon settings (vaultwatch.yaml)

const pollerCommon = {
  name: z.string().optional().describe('Names this source in metrics and /readyz; default its type.'),
  poll_interval: duration.optional().describe('How often to poll.'),
  start_from: z.string().optional().describe('First start only: now (default), a duration back (24h) or an ISO instant.'),
};

const webhookSourceSchema = z.object({
  type: z.literal('webhook'),
  name: z.string().optional(),
  token: secret.optional().describe('Bearer token clients must send (Authorization: Bearer <token>).'),
  token_file: secretFile.optional(),
  hmac_secret: secret.optional().describe('Also (or instead) require X-Vaultwatch-Timestamp + X-Vaultwatch-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">.'),
  hmac_secret_file: secretFile.optional(),
  max_body: z.string().regex(/^\d+(?:[kKmM][bB]?)?$/).optional().describe('Body size limit, e.g. 5MB (default).'),
}).strict();

const onePasswordSourceSchema = z.object({
  type: z.literal('onepassword'),
  ...pollerCommon,
  token: secret.optional().describe('Events API bearer token (Events Reporting integration).'),
  token_file: secretFile.optional(),
  url: z.string().optional().describe('Events API base URL; default: taken from the token\'s audience.'),
  audit_events: z.boolean().optional().describe('Also poll audit events (vault permission changes).'),
}).strict();

const bitwardenSourceSchema = z.object({
  type: z.literal('bitwarden'),
  ...pollerCommon,
  client_id: secret.optional().describe('Organization API key client_id (organization.<id>).'),
  client_id_file: secretFile.optional(),
  client_secret: secret.optional(),
  client_secret_file: secretFile.optional(),
  api_url: z.string().optional().describe('Default https://api.bitwarden.com'),
  identity_url: z.string().optional().describe('Default https://identity.bitwarden.com'),
}).strict();

const redisStreamSourceSchema = z.object({
  type: z.literal('redis-stream'),
  name: z.string().optional(),
  stream: z.string().min(1).describe('Stream key (the prefix is not added: this is another system\'s stream).'),
  group: z.string().optional().describe('Consumer group; default vaultwatch.'),
  field: z.string().optional().describe('Entry field holding the JSON record; default "event".'),
}).strict();

const fileSourceSchema = z.object({
  type: z.literal('file'),
  name: z.string().optional(),
  path: z.string().min(1).describe('A JSONL file of records, read once from the start (for demos).'),
}).strict();

export const sourceSchema = z.discriminatedUnion('type', [
  webhookSourceSchema, onePasswordSourceSchema, bitwardenSourceSchema, redisStreamSourceSchema, fileSourceSchema,
]);

const smtpObjectSchema = z.object({
  host: z.string(),
  port: z.number().int().min(1).max(65535).optional(),
  secure: z.boolean().optional().describe('Implicit TLS (port 465). Otherwise STARTTLS is used when offered.'),
  require_tls: z.boolean().optional(),
  user: z.string().optional(),
  pass: secret.optional(),
  pass_file: secretFile.optional(),
}).strict();

export const configSchema = z.object({
  redis: z.object({
    url: z.string().optional().describe('Default redis://127.0.0.1:6379; REDIS_URL overrides.'),
    url_file: secretFile.optional(),
    prefix: z.string().optional().describe('Prefix of every key; default vaultwatch (hash-tagged for Redis Cluster).'),
  }).strict().optional(),
  http: z.object({
    listen: z.string().optional().describe('host:port; default 127.0.0.1:8787.'),
    public_url: z.string().optional().describe('Base of links in messages; default http://<listen>.'),
    admin_token: secret.optional().describe('Bearer token of the admin API (POST/GET/DELETE /declarations and /silences); without it that API answers 404.'),
    admin_token_file: secretFile.optional(),
    link_secret: secret.min(16, 'at least 16 characters; `openssl rand -base64 32` makes a good one').optional().describe('Signs the links in messages (justification and alert pages). Default: generated once and kept in Redis under the prefix, so every replica agrees.'),
    link_secret_file: secretFile.optional(),
  }).strict().optional(),
  sources: z.array(sourceSchema).optional(),
  enrichment: z.object({
    onepassword_connect: z.object({
      url: z.string(),
      token: secret.optional(),
      token_file: secretFile.optional(),
      ttl: duration.optional(),
    }).strict().optional(),
  }).strict().optional(),
  channels: z.object({
    email: z.object({
      smtp: z.union([z.string(), smtpObjectSchema]).optional().describe('smtp://user:pass@host:587 or {host, port, secure, user, pass}.'),
      smtp_file: secretFile.optional(),
      from: z.string().describe('"Vaultwatch <alerts@example.com>"'),
    }).strict().optional(),
    slack: z.object({
      token: secret.optional().describe('Bot token (xoxb-...).'),
      token_file: secretFile.optional(),
      signing_secret: secret.optional().describe('Verifies interactivity requests.'),
      signing_secret_file: secretFile.optional(),
      api_url: z.string().optional().describe('For a proxy or a test server; default https://slack.com/api/.'),
    }).strict().optional(),
    webhooks: z.record(z.string(), z.object({
      url: z.string().describe('Where the alert JSON is POSTed.'),
      secret: secret.optional().describe('Signs each request: X-Vaultwatch-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">.'),
      secret_file: secretFile.optional(),
    }).strict()).optional().describe('Named webhook targets for notify: webhook:NAME.'),
    outbox: z.string().optional().describe('Folder where email and Slack messages are written when the channel is not configured. Default var/outbox.'),
  }).strict().optional(),
  delivery: z.object({
    retry_for: duration.optional().describe('How long a failing notification is retried before the dead letter and the fallback. Default 24h.'),
    fallback: z.array(z.string()).optional().describe('Targets that receive an alert whose delivery failed for good.'),
  }).strict().optional(),
  alerts: z.object({
    retention: duration.optional().describe('How long alert records are kept. Default 30d.'),
  }).strict().optional(),
  accountability: z.object({
    max_declaration: duration.optional().describe('Longest break-glass declaration (`vaultwatch declare --for`). Default 24h.'),
    max_silence: duration.optional().describe('Longest silence (`vaultwatch silence --for`). Default 7d.'),
    summary_delay: duration.optional().describe('How long after a declaration or silence ends its summary goes to the managers (events still in flight get into it). Default 2s.'),
    email_followups: z.enum(['each', 'none']).optional().describe('Dedup repeats: `each` (default) sends each one as a follow-up email in the first alert\'s thread; `none` sends email follow-ups never (Slack thread replies still go).'),
    critical_ignores_hours: z.boolean().optional().describe('`critical` alerts go out at once even to recipients outside their hours (`deliver: defer|digest`). Default true.'),
  }).strict().optional().describe('Break-glass declarations and silences; dedup follow-ups; recipients\' hours.'),
  policies: z.string().optional().describe('A directory or glob of policy files; default policies/.'),
  catalog: z.string().optional().describe('Item and vault labels file; optional.'),
  tests: z.string().optional().describe('Directory or glob of policy test files; default: *.tests.yaml beside the policies.'),
  defaults: z.object({
    timezone: z.string().optional().describe('Default IANA zone; default UTC.'),
  }).strict().optional(),
  schedules: z.record(z.string(), scheduleSchema).optional(),
  groups: z.record(z.string(), z.array(z.string())).optional().describe('Named lists of user emails (globs allowed) for users: group:NAME.'),
  log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional() }).strict().optional(),
}).strict();

export type ConfigFile = z.infer<typeof configSchema>;
export type PolicyFile = z.infer<typeof policyFileSchema>;
export type RuleDef = z.infer<typeof ruleSchema>;
export type MatchDef = z.infer<typeof matchSchema>;
export type NotBlockDef = z.infer<typeof notBlockSchema>;
export type CatalogFile = z.infer<typeof catalogSchema>;
export type SourceDef = z.infer<typeof sourceSchema>;
export type ManagerDef = z.infer<typeof managerSchema>;
export type ScheduleDefInput = z.infer<typeof scheduleSchema>;

// ---------------------------------------------------------------------------------------------------
// Policy test cases (`*.tests.yaml` beside the policies), modelled on Panther's rule tests.

const ruleNames = z.array(z.string());

export const policyTestCaseSchema = z.object({
  name: z.string().min(1).describe('What this case shows; printed on its pass/fail line.'),
  now: z.string().optional().describe('The fixed clock: when the event is received (ISO instant). Default: the event time.'),
  event: z.record(z.string(), z.unknown()).optional().describe('One record: canonical, raw 1Password or raw Bitwarden.'),
  events: z.array(z.record(z.string(), z.unknown())).min(1).optional().describe('Records judged in order (for first_time, threshold, dedup); expectations apply to the last.'),
  source: z.enum(['onepassword', 'bitwarden', 'canonical']).optional().describe('Force how the records are read.'),
  expect: z.union([
    z.literal('none').describe('No rule alerts.'),
    z.object({
      alerts: ruleNames.optional().describe('Exactly these rules alert (suppressed or not).'),
      includes: ruleNames.optional().describe('At least these rules alert.'),
      excludes: ruleNames.optional().describe('None of these rules alert.'),
      suppressed: ruleNames.optional().describe('These rules alert, folded into an earlier alert by dedup.'),
      recipients: z.record(z.string(), z.array(z.string())).optional().describe('Per rule: exactly these targets (email:a@b, slack:#x).'),
      severity: z.record(z.string(), severitySchema).optional().describe('Per rule: this severity.'),
      reasons: z.record(z.string(), z.array(z.string())).optional().describe('Per rule: each text appears in some reason.'),
    }).strict(),
  ]).describe('What should happen for the (last) event.'),
}).strict();

export const policyTestsSchema = z.object({
  tests: z.array(policyTestCaseSchema).min(1),
}).strict();

export type PolicyTestCase = z.infer<typeof policyTestCaseSchema>;
export type PolicyTestsFile = z.infer<typeof policyTestsSchema>;
