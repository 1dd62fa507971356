/**
 * The loader never throws on bad input (issues.ts: "Every loader collects these; none throws"):
 * arbitrary YAML text, arbitrary values written as YAML, and random documents shaped like the
 * schema (so the compiler meets partial values with holes) all come back as located issues.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadRuntime } from '../../../src/app/load-runtime.ts';
import type { ConfigIssue } from '../../../src/config/issues.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { cleanTrees, writeTree } from '../../helpers/config-kit.ts';

afterAll(cleanTrees);

const dir = writeTree({});
mkdirSync(join(dir, 'policies'));
const MAIN = join(dir, 'vaultwatch.yaml');

function write(main: string, policy: string, catalog?: string): void {
  writeFileSync(MAIN, main);
  writeFileSync(join(dir, 'policies', 'p.yaml'), policy);
  if (catalog !== undefined) writeFileSync(join(dir, 'catalog.yaml'), catalog);
}

function wellFormed(issues: ConfigIssue[]): void {
  for (const i of issues) {
    expect(typeof i.file).toBe('string');
    expect(typeof i.message).toBe('string');
    expect(i.message.length).toBeGreaterThan(0);
    expect(Number.isInteger(i.line) && i.line >= 0).toBe(true);
    expect(Number.isInteger(i.column) && i.column >= 0).toBe(true);
  }
}

/** Loads both ways; returns nothing, fails the property by throwing only if the loader threw. */
function loadBoth(): void {
  const loaded = loadConfig(MAIN, {});
  wellFormed(loaded.issues);
  const rt = loadRuntime(MAIN, {});
  wellFormed(rt.issues);
}

const toYaml = (v: unknown): string => {
  try {
    return stringify(v) ?? '';
  } catch {
    return String(v);
  }
};

const yamlChar = fc.constantFrom(
  'a', 'b', 'x', '1', '0', ' ', ' ', '\n', '\n', '  ', ':', ': ', '- ', '-', '[', ']', '{', '}', ',', '&a', '*a', '!', '!!str', '!!binary',
  '#', '"', "'", '|', '>', '%YAML 1.2\n', '---\n', '...\n', '@', '`', '?', '<<: ', '${X}', '$${', '${', '\t', '\r\n', '\\', '~', 'null',
  'rules', 'vault', 'id', 'name', 'match', 'not', 'schedules', 'sources', 'type', 'webhook', '__proto__', 'token_file', '2026-02-30',
);
const yamlText = fc.oneof(fc.array(yamlChar, { maxLength: 40 }).map((a) => a.join('')), fc.string({ maxLength: 60 }));

describe('the loader never throws', () => {
  it('on arbitrary YAML text (property)', () => {
    fc.assert(fc.property(yamlText, yamlText, yamlText, (main, policy, catalog) => {
      write(main, policy, catalog);
      loadBoth();
    }), { numRuns: 100 });
  });

  it('on arbitrary values written as YAML (property)', () => {
    fc.assert(fc.property(fc.anything(), fc.anything(), (main, policy) => {
      write(toYaml(main), toYaml(policy), '{}\n');
      loadBoth();
    }), { numRuns: 100 });
  });

  // Keys and values the schema knows, so that random documents get past the first checks and the
  // policy compiler sees partial values: holes in lists, wrong types next to good ones.
  const KEYS = [
    'vault', 'vaults', 'id', 'name', 'timezone', 'managers', 'email', 'slack', 'schedule', 'defaults', 'rules', 'enabled',
    'match', 'not', 'severity', 'notify', 'dedup', 'key', 'window', 'deliver', 'justification', 'ask', 'within', 'escalate_to',
    'actions', 'vendor_actions', 'fields', 'item_types', 'items', 'tags', 'users', 'during', 'outside', 'ip', 'countries',
    'clients', 'first_time', 'threshold', 'count', 'per', 'schedules', 'days', 'hours', 'holidays', 'calendar', 'groups',
    'sources', 'type', 'token', 'token_file', 'hmac_secret', 'start_from', 'poll_interval', 'channels', 'webhooks', 'url',
    'delivery', 'fallback', 'redis', 'http', 'listen', 'public_url', 'policies', 'catalog', '__proto__', 'constructor',
  ];
  const VALUES = [
    'reveal', 'copy', 'peek', 'office-hours', 'nights', 'nope', 'managers', 'accessor', 'email:a@example.com', 'slack:#x',
    'webhook:siem', 'webhook:nope', 'group:admins', 'group:nope', '10.0.0.0/8', '10.0.0.0/33', '::ffff:1.2.3.0/120', 'GB', 'Canada',
    'Atlantis', 'user', 'item', 'ip', '1h', '10m', 'forever', 'mon-fri', 'mon-fry', '09:00-17:30', '22:00-06:00', '09:00-09:00',
    '2026-12-25', '2026-02-30', 'Europe/London', 'Mars/Base', '{user}:{item}', '{usr}', 'webhook', 'onepassword', 'bitwarden', 'file',
    'high', 'urgent', 'a@example.com', '*@example.com', 'Company card*', '[!a]*', 'now', '24h', 'secrets/none', '../x', '${UNSET}',
    '$${', 'redis://x:1', '127.0.0.1:8787', 'credit_card', 'unknown', 1113, 0, -1, 5, true, false, null,
  ];
  const shaped = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(...VALUES),
      fc.array(fc.oneof(fc.constantFrom(...VALUES), tie('map')), { maxLength: 4 }),
      tie('map'),
      fc.anything({ maxDepth: 1 }),
    ),
    map: fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 5 }),
  })).map;

  it('on random documents shaped like the schema (property)', () => {
    fc.assert(fc.property(shaped, shaped, (main, policy) => {
      write(toYaml(main), toYaml(policy));
      loadBoth();
    }), { numRuns: 120 });
  });

  it('on a policy whose lists hold invalid entries next to valid ones', () => {
    write('groups: { admins: [a@example.com, null] }\nschedules: { office-hours: { days: [mon, null] } }\ndelivery: { fallback: [null] }\n', `vault: { id: v1 }
managers: [{ email: a@example.com }, null]
defaults: { notify: [null] }
rules:
  - null
  - name: r
    notify: [null, managers]
    match: { during: [null, office-hours], users: [null, "a*"], items: [null], countries: [null, GB], ip: [null, 10.0.0.0/8] }
    not: [null, { actions: [null, reveal] }]
    justification: { ask: true, within: 1h, escalate_to: [null] }
`);
    const rt = loadRuntime(MAIN, {});
    expect(rt.issues.length).toBeGreaterThan(0);
    expect(rt.issues.every((i) => /expected|null|nothing/.test(i.message))).toBe(true);
    expect(rt.policies.ruleCount).toBe(0);
  });

  it('on an alias bomb: one located issue instead of a crash', () => {
    write(`a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
`, 'rules: []\n');
    const issues = loadConfig(MAIN, {}).issues;
    expect(issues[0]).toMatchObject({ line: 1, column: 1 });
    expect(issues[0]!.message).toMatch(/^cannot read the YAML: .*alias/i);
  });
});
