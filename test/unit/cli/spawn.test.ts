/**
 * The installed command end to end: `node bin/vaultwatch.js ...` as a child process from the
 * repository root, checking stdout, stderr and exit codes (cli.md). A handful of runs, concurrent.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

interface Run { code: number | null; out: string; err: string }

function vaultwatch(args: string[], input?: string): Promise<Run> {
  // The fixtures' unset variables must stay unset, whatever the developer's shell holds.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VAULTWATCH_') && k !== 'REDIS_URL'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/vaultwatch.js', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end(input ?? '');
  });
}

const jsonl = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('vaultwatch (spawned)', { timeout: 15_000 }, () => {
  it('validate: exit 0 on the example config', async () => {
    const r = await vaultwatch(['validate']);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^ok: 2 policy files, 2 vaults, \d+ rules, 8 catalog entries\n$/);
    expect(r.code).toBe(0);
  });

  it('validate: exit 2 and every error of a bad config, each as path:line:column: message', async () => {
    const r = await vaultwatch(['validate', '--config', 'test/fixtures/config-errors/vaultwatch.yaml']);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.at(-1)).toBe(`${lines.length - 1} errors`);
    expect(lines.length - 1).toBe(43);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(/^test\/fixtures\/config-errors\/[\w/.-]+\.yaml:\d+:\d+: \S/);
    expect(lines).toContain('test/fixtures/config-errors/vaultwatch.yaml:7:3: unknown key `prefx` (did you mean `prefix`?)');
    expect(lines).toContain('test/fixtures/config-errors/policies/finance.yaml:12:16: unknown schedule "ofice-hours" (did you mean `office-hours`?); define it under schedules: in vaultwatch.yaml');
    expect(lines).toContain('test/fixtures/config-errors/policies/syntax.yaml:2:1: Flow map in block collection must be sufficiently indented and end with a }');
    expect(r.code).toBe(2);
  });

  it('replay: the example recording gives exactly the expected alerts, and notes the duplicate', async () => {
    const r = await vaultwatch(['replay', '--config', 'config/vaultwatch.yaml', 'examples/events.jsonl']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('examples/events.jsonl:15: duplicate event ID, skipped\n');
    const alerts = jsonl(r.out);
    expect(alerts.map((a) => [a['event_id'], a['rule'], a['suppressed']])).toEqual([
      ['56YE2TYN2VFYRLNSHKPW5NVT5E', 'Company card used', false],
      ['56YE2TYN2VFYRLNSHKPW5NVT5E', 'First use of a payment item by a person', false],
      ['ZB6QXJWMDRA3VKOI7YJ2XDGC2E', 'Company card used', true],
      ['QVFRSW3MYBGN6EZTHKX5P4CQ7A', 'Company card used', false],
      ['QVFRSW3MYBGN6EZTHKX5P4CQ7A', 'Sensitive access out of hours', false],
      ['QVFRSW3MYBGN6EZTHKX5P4CQ7A', 'First use of a payment item by a person', false],
      ['FJ3TWQ5BZNYXKD2MHL4CVAPR6E', 'First use of a payment item by a person', false],
      ['LX2PQRT7WZB4NMYKV6HDCJ3F5E', 'Admin portal used by someone outside the admin team', false],
      ['T6ZQWN4BXM2KRLPY7VDHCJ3F5A', 'Admin portal used out of hours', false],
      ['T6ZQWN4BXM2KRLPY7VDHCJ3F5A', 'Admin portal from an unknown network', false],
      ['BURST3CAROLQWERTY2ZXCVBNM3K', 'First use of a payment item by a person', false],
      ['BURST4CAROLQWERTY2ZXCVBNM3K', 'Burst of copies from Finance', false],
      ['webhook-2026-12-25-0001', 'Company card used', false],
      ['webhook-2026-12-25-0001', 'Sensitive access out of hours', false],
    ]);
    expect(alerts).toContainEqual({
      event_id: 'QVFRSW3MYBGN6EZTHKX5P4CQ7A', time: '2026-11-21T02:14:00.000Z', vault_id: '4ld2xeydmjgx2h3xwbdqkqmtx4',
      item_id: 'wxcplh5udshnonkzuuqdkbpmle', item_title: 'Company card', user: 'jo@example.com', action: 'reveal',
      policy: 'policies/finance.yaml', rule: 'Sensitive access out of hours', severity: 'critical',
      recipients: ['email:cfo@example.com', 'slack:#finance-alerts', 'slack:#security'], suppressed: false,
      reasons: [
        'action reveal is one of: reveal, copy, fill, export, share',
        'item type secure_note is one of: credit_card, secure_note, bank_account',
        'Sat 2026-11-21 02:14 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)',
        'jo@example.com is not "svc-*@example.com"',
      ],
    });
    expect(alerts).toContainEqual({
      event_id: 'T6ZQWN4BXM2KRLPY7VDHCJ3F5A', time: '2026-11-22T23:10:00.000Z', vault_id: 'q6zhmk3sxyi4zk5l7mjqbuyv2e',
      item_id: '7yp4ve3tqkzmbclw6x4q2w7dhi', item_title: 'Admin portal', user: 'bob@example.com', action: 'reveal',
      policy: 'policies/it-admin.yaml', rule: 'Admin portal from an unknown network', severity: 'high',
      recipients: ['email:it-lead@example.com', 'slack:#it-ops', 'email:bob@example.com'], suppressed: false,
      reasons: ['action reveal is one of: reveal, copy, fill', 'item "Admin portal" matches "Admin portal"', 'IP 192.0.2.44 is not in 203.0.113.0/24, 2001:db8:1::/48'],
    });
    const folded = alerts.find((a) => a['event_id'] === 'ZB6QXJWMDRA3VKOI7YJ2XDGC2E')!;
    expect(folded['reasons']).toContain('repeat #2 within 1h of the first alert for alice@example.com:wxcplh5udshnonkzuuqdkbpmle');
    const burst = alerts.find((a) => a['rule'] === 'Burst of copies from Finance')!;
    expect(burst['reasons']).toEqual(['action copy is one of: copy, export', '5 matching events for user carol@example.com within 10m (threshold 5)']);
  });

  it('replay - --strict: reads stdin, reports bad lines as <stdin>:LINE, exit 1', async () => {
    const r = await vaultwatch(['replay', '--strict', '-'], readFileSync(join(ROOT, 'test/fixtures/cli/bad-lines.jsonl'), 'utf8'));
    const err = r.err.trimEnd().split('\n');
    expect(err.map((l) => l.split(': ')[0])).toEqual(['<stdin>:3', '<stdin>:6', '<stdin>:7', '<stdin>:8', '<stdin>:10', '<stdin>:12']);
    expect(err[4]).toBe('<stdin>:10: duplicate event ID, skipped');
    expect(new Set(jsonl(r.out).map((a) => a['event_id']))).toEqual(new Set(['cli-good-1', 'cli-good-2']));
    expect(r.code).toBe(1);
  });

  it('replay --format table --strict on a clean CRLF file: a table with a count, exit 0', async () => {
    const r = await vaultwatch(['replay', '--format', 'table', '--strict', 'test/fixtures/cli/clean.jsonl']);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME \(UTC\) +SEVERITY +RULE +ITEM +USER +ACTION +TO$/);
    expect(lines.at(-1)).toBe('4 alerts');
    expect(lines[1]).toMatch(/^2026-11-21 02:14 +high +Company card used +Company card +jo@example\.com +reveal +email:cfo@example\.com slack:#finance-alerts$/);
    expect(r.err).toBe('2 records, 2 events, 4 alerts, 0 bad, 0 duplicates, 0 skipped\n');
    expect(r.code).toBe(0);
  });

  it('replay of a missing file: a one-line error and exit 2', async () => {
    const r = await vaultwatch(['replay', 'no/such/events.jsonl']);
    expect(r.err).toBe('vaultwatch: cannot read no/such/events.jsonl: ENOENT\n');
    expect(r.out).toBe('');
    expect(r.code).toBe(2);
  });

  it('render --event: subject, text, HTML and Slack JSON, with a hostile title escaped', async () => {
    const r = await vaultwatch(['render', '--event', 'test/fixtures/cli/hostile-event.json', '--rule', 'Sensitive access out of hours']);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('=== Sensitive access out of hours (critical)\n--- email to cfo@example.com\nSubject: [CRITICAL] ')).toBe(true);
    expect(r.out).toContain('\n--- email HTML\n<!DOCTYPE html>');
    expect(r.out).toContain('Company card &lt;script&gt;alert(1)&lt;/script&gt;');
    const html = r.out.slice(r.out.indexOf('--- email HTML'), r.out.indexOf('--- slack'));
    expect(html).not.toMatch(/<script>|<b>Bloggs/);
    const slack = JSON.parse(r.out.slice(r.out.indexOf('{', r.out.indexOf('--- slack chat.postMessage to #finance-alerts')))) as { text: string; blocks: unknown[] };
    expect(slack.blocks.length).toBeGreaterThan(0);
    expect(JSON.stringify(slack)).not.toMatch(/<[@!#]|<script/);
  });

  it('test: runs config/policies/*.tests.yaml, a PASS line each, N passed, 0 failed', async () => {
    const r = await vaultwatch(['test']);
    const lines = r.out.trimEnd().split('\n');
    const summary = /^(\d+) passed, 0 failed$/.exec(lines.at(-1)!);
    expect(summary).not.toBeNull();
    expect(lines.length - 1).toBe(Number(summary![1]));
    expect(lines).toContain('PASS config/policies/finance.tests.yaml: A bank holiday morning counts as out of hours');
    expect(lines).toContain('PASS config/policies/it-admin.tests.yaml: An admin at 23:10 from an unknown network is out of hours, and the admin is asked too');
    expect(r.code).toBe(0);
  });

  it('test with a failing case: a FAIL line with the reason, exit 1', async () => {
    const r = await vaultwatch(['test', 'test/fixtures/cli/failing.tests.yaml']);
    expect(r.out).toContain('FAIL test/fixtures/cli/failing.tests.yaml: wrong rule\n       expected alerts "Sensitive access out of hours", got "Company card used", "First use of a payment item by a person"\n');
    expect(r.out.trimEnd().split('\n').at(-1)).toBe('1 passed, 7 failed');
    expect(r.code).toBe(1);
  });
});
