/** loadConfig / loadRuntime on good configurations: env, *_file secrets, relative paths, the example. */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRuntime } from '../../../src/app/load-runtime.ts';
import { formatIssue } from '../../../src/config/issues.ts';
import { listYamlFiles, loadConfig } from '../../../src/config/load.ts';
import { cleanTrees, ev, issuesOf, runtimeOf, writeTree } from '../../helpers/config-kit.ts';

afterAll(cleanTrees);

const POLICY = 'vault: { id: v1 }\nmanagers: [{ email: a@example.com }]\nrules:\n  - name: r\n';

describe('the example configuration (config/)', () => {
  const rt = loadRuntime('config/vaultwatch.yaml', {});

  it('loads with no issues', () => {
    expect(rt.issues.map(formatIssue)).toEqual([]);
  });

  it('has the shipped policies, vaults, rules and catalog', () => {
    expect(rt.policies.policies.map((p) => p.file)).toEqual(['policies/finance.yaml', 'policies/it-admin.yaml']);
    expect(rt.policies.vaultCount).toBe(2);
    const names = (vault: string) => rt.policies.rulesFor(vault).map((r) => r.name);
    expect(names('4ld2xeydmjgx2h3xwbdqkqmtx4')).toEqual(expect.arrayContaining([
      'Company card used', 'Sensitive access out of hours', 'First use of a payment item by a person', 'Burst of copies from Finance',
    ]));
    expect(names('q6zhmk3sxyi4zk5l7mjqbuyv2e')).toEqual([
      'Admin portal used by someone outside the admin team', 'Admin portal used out of hours', 'Admin portal from an unknown network',
    ]);
    expect(rt.catalog.size).toBe(8);
  });

  it('uses the `${VAR:-default}` default when the variable is unset, the variable when set', () => {
    expect(rt.config.sources?.[0]).toMatchObject({ type: 'webhook', token: 'dev-ingest-token' });
    const withEnv = loadRuntime('config/vaultwatch.yaml', { VAULTWATCH_INGEST_TOKEN: 'from-env' });
    expect(withEnv.config.sources?.[0]).toMatchObject({ token: 'from-env' });
  });

  it('bank holidays from the calendar file (relative to vaultwatch.yaml) make office-hours not hold', () => {
    const boxingDayMorning = ev({ vault: { id: '4ld2xeydmjgx2h3xwbdqkqmtx4' }, item: { id: 'wxcplh5udshnonkzuuqdkbpmle', title: undefined, type: undefined, tags: undefined }, time: '2026-12-28T10:00:00Z' });
    rt.catalog.enrich(boxingDayMorning);
    expect(rt.policies.match(boxingDayMorning).map((r) => r.name)).toContain('Sensitive access out of hours');
    const ordinaryMonday = ev({ ...boxingDayMorning, id: 'x', time: '2026-12-21T10:00:00Z' });
    expect(rt.policies.match({ ...ordinaryMonday, time_ms: Date.parse('2026-12-21T10:00:00Z') }).map((r) => r.name)).not.toContain('Sensitive access out of hours');
  });
});

describe('${VAR} substitution', () => {
  const load = (yaml: string, env: Record<string, string | undefined>) =>
    runtimeOf({ 'vaultwatch.yaml': yaml, 'policies/p.yaml': POLICY }, env).config;

  it('replaces ${VAR} anywhere inside a string', () => {
    const cfg = load('redis: { url: "redis://:${PASS}@${HOST}:6379/0" }\n', { PASS: 'p@ss', HOST: 'cache' });
    expect(cfg.redis?.url).toBe('redis://:p@ss@cache:6379/0');
  });

  it('${VAR:-default}: the default when unset or empty, the value otherwise', () => {
    const yaml = 'http: { listen: "${LISTEN:-127.0.0.1:9000}" }\n';
    expect(load(yaml, {}).http?.listen).toBe('127.0.0.1:9000');
    expect(load(yaml, { LISTEN: '' }).http?.listen).toBe('127.0.0.1:9000');
    expect(load(yaml, { LISTEN: '0.0.0.0:80' }).http?.listen).toBe('0.0.0.0:80');
    expect(load('redis: { prefix: "${P:-}" }\n', {}).redis?.prefix).toBe('');
  });

  it('$${ writes a literal ${ (and is not an error)', () => {
    const cfg = load('redis: { prefix: "$${NOT_A_VAR}-$${" }\n', {});
    expect(cfg.redis?.prefix).toBe('${NOT_A_VAR}-${');
  });

  it('works in lists, nested maps and policy files', () => {
    const rt = runtimeOf({
      'vaultwatch.yaml': 'groups: { admins: ["${ADMIN}"] }\n',
      'policies/p.yaml': 'vault: { id: "${VAULT_ID}" }\nmanagers: [{ email: "${CFO}" }]\nrules:\n  - name: r\n',
    }, { ADMIN: 'root@example.com', VAULT_ID: 'vault-from-env', CFO: 'cfo@example.com' });
    expect(rt.config.groups).toEqual({ admins: ['root@example.com'] });
    expect(rt.policies.hasVault('vault-from-env')).toBe(true);
    expect(rt.policies.rulesFor('vault-from-env')[0]!.recipients[0]!.target).toEqual({ kind: 'email', address: 'cfo@example.com' });
  });

  it('an unset variable without a default is an error at its value; so is a malformed reference', () => {
    expect(issuesOf({ 'vaultwatch.yaml': 'redis:\n  url: "redis://${REDIS_HOST}:6379"\n', 'policies/p.yaml': POLICY }, {}))
      .toEqual(['<dir>/vaultwatch.yaml:2:8: environment variable REDIS_HOST is not set']);
    expect(issuesOf({ 'vaultwatch.yaml': 'redis:\n  prefix: "${vw:default}"\n', 'policies/p.yaml': POLICY }, { vw: 'x' }))
      .toEqual(['<dir>/vaultwatch.yaml:2:11: malformed `${...}`: write ${NAME} or ${NAME:-default} (NAME: letters, digits, _), or $${ for a literal ${']);
  });

  it('REDIS_URL overrides redis.url', () => {
    expect(load('redis: { url: "redis://file:6379", prefix: p }\n', { REDIS_URL: 'redis://env:6380' }).redis).toEqual({ url: 'redis://env:6380', prefix: 'p' });
    expect(load('http: { listen: "127.0.0.1:1" }\n', { REDIS_URL: 'redis://env:6380' }).redis).toEqual({ url: 'redis://env:6380' });
    expect(load('redis: { url: "redis://file:6379" }\n', { REDIS_URL: '' }).redis?.url).toBe('redis://file:6379');
  });
});

describe('*_file secrets', () => {
  it('x_file: PATH becomes x: <content>, trailing newline dropped, relative to the file naming it', () => {
    const rt = toConf({
      'conf/vaultwatch.yaml': `sources:
  - type: webhook
    token_file: ../secrets/ingest
    hmac_secret_file: secrets/hmac
channels:
  slack: { token_file: "\${SECRETS}/slack" }
redis: { url_file: secrets/redis-url }
`,
      'conf/policies/p.yaml': POLICY,
      'secrets/ingest': 'tok-123\n',
      'conf/secrets/hmac': 'line1\nline2\r\n',
      'conf/secrets/redis-url': 'redis://secret-host:6379',
      'elsewhere/slack': 'xoxb-1\n\n',
    });
    expect(rt.config.sources?.[0]).toEqual({ type: 'webhook', token: 'tok-123', hmac_secret: 'line1\nline2' });
    expect(rt.config.channels?.slack).toEqual({ token: 'xoxb-1\n' });
    expect(rt.config.redis).toEqual({ url: 'redis://secret-host:6379' });
  });

  it('an unreadable file and both x and x_file are errors at the key', () => {
    expect(issuesOf({
      'vaultwatch.yaml': 'sources:\n  - type: webhook\n    token_file: nowhere\n  - type: webhook\n    name: b\n    token: t\n    token_file: t.txt\n',
      'policies/p.yaml': POLICY,
      't.txt': 't',
    })).toEqual([
      '<dir>/vaultwatch.yaml:3:17: cannot read nowhere: ENOENT',
      '<dir>/vaultwatch.yaml:7:5: give either `token` or `token_file`, not both',
    ]);
  });
});

/** Writes a tree whose config lives in conf/ and loads conf/vaultwatch.yaml with SECRETS set. */
function toConf(files: Record<string, string>) {
  const dir = writeTree(files);
  const rt = loadRuntime(join(dir, 'conf/vaultwatch.yaml'), { SECRETS: join(dir, 'elsewhere') });
  if (rt.issues.length) throw new Error(rt.issues.map(formatIssue).join('\n'));
  return rt;
}

describe('relative paths and policy locations', () => {
  it('policies: a directory, relative to vaultwatch.yaml; *.tests.yaml and other files skipped; not recursive', () => {
    const rt = runtimeOf({
      'vaultwatch.yaml': 'policies: rules.d\n',
      'rules.d/a.yaml': POLICY,
      'rules.d/b.yml': POLICY.replace('v1', 'v2'),
      'rules.d/a.tests.yaml': 'tests: not a policy',
      'rules.d/notes.txt': 'ignored',
      'rules.d/sub/c.yaml': 'broken: [',
    });
    expect(rt.policies.policies.map((p) => p.file)).toEqual(['rules.d/a.yaml', 'rules.d/b.yml']);
  });

  it('policies: a glob, relative to vaultwatch.yaml, may reach outside its directory', () => {
    const dir = writeTree({
      'conf/vaultwatch.yaml': 'policies: ../shared/**/*.yaml\ncatalog: ../shared/labels.yaml\nschedules:\n  hols: { calendar: ../shared/cal/holidays.yaml }\n',
      'shared/vaults/a.yaml': POLICY,
      'shared/vaults/deep/b.yaml': POLICY.replace('v1', 'v2'),
      'shared/vaults/deep/b.tests.yaml': 'tests: x',
      'shared/labels.yaml': 'vaults: { v1: { name: Finance } }\n',
      'shared/cal/holidays.yaml': '- 2026-12-25\n',
    });
    // The glob also matches labels.yaml and the calendar: they are not valid policies, so they are named in errors.
    const rt = loadRuntime(join(dir, 'conf/vaultwatch.yaml'), {});
    const files = rt.loaded.policies.map((p) => p.rel);
    expect(files).toEqual(['../shared/cal/holidays.yaml', '../shared/labels.yaml', '../shared/vaults/a.yaml', '../shared/vaults/deep/b.yaml']);
    expect(rt.catalog.size).toBe(1);

    const tidy = writeTree({
      'conf/vaultwatch.yaml': 'policies: ../shared/vaults/**/*.yaml\ncatalog: ../shared/labels.yaml\nschedules:\n  hols: { calendar: ../shared/cal/holidays.yaml }\n',
      'shared/vaults/a.yaml': POLICY,
      'shared/vaults/deep/b.yaml': POLICY.replace('v1', 'v2'),
      'shared/vaults/deep/b.tests.yaml': 'tests: x',
      'shared/labels.yaml': 'vaults: { v1: { name: Finance } }\n',
      'shared/cal/holidays.yaml': '- 2026-12-25\n',
    });
    const ok = loadRuntime(join(tidy, 'conf/vaultwatch.yaml'), {});
    expect(ok.issues.map(formatIssue)).toEqual([]);
    expect(ok.policies.policies.map((p) => p.file)).toEqual(['../shared/vaults/a.yaml', '../shared/vaults/deep/b.yaml']);
    expect(ok.policies.vaultName('v1')).toBeUndefined();
    expect(ok.catalog.size).toBe(1);
    expect(ok.policyContext?.holidays.get('hols')).toEqual(['2026-12-25']);
  });

  it('a missing policies directory or catalog is an error at the key that names it', () => {
    expect(issuesOf({ 'vaultwatch.yaml': 'redis: { prefix: x }\npolicies: nope/\ncatalog: labels.yaml\n' })).toEqual([
      '<dir>/vaultwatch.yaml:2:11: no policy files: nope does not exist',
      '<dir>/vaultwatch.yaml:3:10: labels.yaml: file not found',
    ]);
  });

  it('catalog.yaml beside vaultwatch.yaml is optional and read when present', () => {
    expect(runtimeOf({ 'vaultwatch.yaml': '{}\n', 'policies/p.yaml': POLICY }).catalog.size).toBe(0);
    expect(runtimeOf({ 'vaultwatch.yaml': '{}\n', 'policies/p.yaml': POLICY, 'catalog.yaml': 'items: { i1: { title: T } }\n' }).catalog.size).toBe(1);
  });

  it('a missing vaultwatch.yaml is one error and does not throw', () => {
    const dir = writeTree({});
    const loaded = loadConfig(join(dir, 'vaultwatch.yaml'), {});
    expect(loaded.issues.map((i) => formatIssue(i).split(dir).join('<dir>'))).toEqual(['<dir>/vaultwatch.yaml: file not found']);
  });

  it('listYamlFiles: sorted, *.yaml and *.yml, a single file, a glob', () => {
    const dir = writeTree({ 'p/b.yml': '', 'p/a.yaml': '', 'p/c.txt': '', 'p/d/e.yaml': '' });
    expect(listYamlFiles(join(dir, 'p'))).toEqual([join(dir, 'p/a.yaml'), join(dir, 'p/b.yml')]);
    expect(listYamlFiles(join(dir, 'p/a.yaml'))).toEqual([join(dir, 'p/a.yaml')]);
    expect(listYamlFiles(join(dir, 'p/**/*.yaml'))).toEqual([join(dir, 'p/a.yaml'), join(dir, 'p/d/e.yaml')]);
    expect(listYamlFiles(join(dir, 'missing'))).toBeUndefined();
    expect(listYamlFiles(join(dir, 'missing/*.yaml'))).toBeUndefined();
  });
});
