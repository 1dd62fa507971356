/** `vaultwatch test` and `vaultwatch render` in-process: pass/fail lines, reasons, exit codes. */
import { describe, expect, it } from 'vitest';
import { renderCommand } from '../../../src/cli/render.ts';
import { testCommand } from '../../../src/cli/test.ts';
import { capture } from './capture.ts';

const CONFIG = { config: 'config/vaultwatch.yaml' };
const F = 'test/fixtures/cli/failing.tests.yaml';
const UNRECOGNISED = 'unrecognised record: expected a 1Password item-usage record (uuid, item_uuid, timestamp), a Bitwarden event (numeric type, date) or a canonical event (time, action, item object)';

describe('vaultwatch test', () => {
  it('the shipped cases for the example policies all pass', async () => {
    const r = await capture(() => testCommand([], CONFIG));
    const lines = r.out.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^(\d+) passed, 0 failed$/);
    const passed = Number(/^(\d+)/.exec(lines.at(-1)!)![1]);
    expect(passed).toBeGreaterThanOrEqual(18);
    expect(lines.slice(0, -1).every((l) => /^PASS config\/policies\/(finance|it-admin)\.tests\.yaml: /.test(l))).toBe(true);
    expect(lines.filter((l) => l.startsWith('PASS config/policies/finance.tests.yaml')).length).toBeGreaterThanOrEqual(10);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('a failing case prints FAIL with what did not hold, and the run exits 1', async () => {
    const r = await capture(() => testCommand([F], CONFIG));
    expect(r.out).toBe([
      `PASS ${F}: passes`,
      `FAIL ${F}: wrong rule`,
      '       expected alerts "Sensitive access out of hours", got "Company card used", "First use of a payment item by a person"',
      `FAIL ${F}: expects none`,
      '       expected no alert, got "Company card used", "First use of a payment item by a person"',
      `FAIL ${F}: expects a suppression`,
      '       expected "Company card used" to be suppressed by dedup; it notified',
      `FAIL ${F}: wrong recipients and severity`,
      '       "Company card used": expected recipients email:cfo@example.com, got email:cfo@example.com slack:#finance-alerts',
      '       "Company card used": expected severity critical, got high',
      `FAIL ${F}: missing reason`,
      '       "Company card used": no reason contains "outside office-hours"; reasons: action reveal is one of: reveal, copy, fill, export, share | item "Company card" matches "Company card*"',
      `FAIL ${F}: a typo in a rule name never passes silently`,
      '       no rule named "Company card use" in the policies (did you mean `Company card used`?)',
      `FAIL ${F}: a record that cannot be read`,
      `       event 1: ${UNRECOGNISED}`,
      '1 passed, 7 failed',
      '',
    ].join('\n'));
    expect(r.code).toBe(1);
  });

  it('a case file with errors runs none of its cases and exits 2 with located errors', async () => {
    const r = await capture(() => testCommand(['test/fixtures/cli/invalid.tests.yaml'], CONFIG));
    expect(r.out).toBe('0 passed, 0 failed\n');
    expect(r.err).toBe('test/fixtures/cli/invalid.tests.yaml:4:15: unknown key `alert` (did you mean `alerts`?)\n');
    expect(r.code).toBe(2);
  });
});

describe('vaultwatch render', () => {
  it('prints subject, text, HTML and the Slack payload of each alert, escaping a hostile title', async () => {
    const r = await capture(() => renderCommand({ ...CONFIG, event: 'test/fixtures/cli/hostile-event.json' }));
    expect(r.code).toBe(0);
    const sections = r.out.split(/^=== /m).filter(Boolean);
    expect(sections.map((s) => s.split('\n')[0])).toEqual([
      'Company card used (high)', 'Sensitive access out of hours (critical)', 'First use of a payment item by a person (medium)',
    ]);
    const first = sections[0]!;
    expect(first).toContain('--- email to cfo@example.com\nSubject: [HIGH] Company card <script>alert(1)</script>');
    expect(first).toContain('--- email HTML\n');
    const html = first.slice(first.indexOf('--- email HTML'), first.indexOf('--- slack'));
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>Bloggs');
    expect(html).toContain('Company card &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;&lt;@U123&gt; &lt;!channel&gt;&quot;');
    const slackJson = first.slice(first.indexOf('{', first.indexOf('--- slack chat.postMessage to #finance-alerts')));
    const slack = JSON.parse(slackJson.trimEnd()) as { channel: string; text: string };
    expect(slack.channel).toBe('#finance-alerts');
    // Slack control sequences are escaped: no mention or broadcast can be injected through a title.
    expect(slack.text).not.toMatch(/<[@!#]/);
    expect(slack.text).toContain('&lt;@U123&gt; &lt;!channel&gt;');
  });

  it('--rule previews a rule that does not fire; --part slack prints only the payload', async () => {
    const r = await capture(() => renderCommand({ ...CONFIG, event: 'test/fixtures/cli/hostile-event.json', rule: 'Burst of copies from Finance', part: 'slack' }));
    expect(r.code).toBe(0);
    expect(r.out.startsWith('=== Burst of copies from Finance (high)\n--- slack chat.postMessage to #finance-alerts\n{')).toBe(true);
    expect(r.out).toContain('(preview: this rule does not fire for this event)');
    expect(r.out).not.toContain('--- email');
  });

  it('an event that raises nothing says so and exits 1', async () => {
    const r = await capture(() => renderCommand({ ...CONFIG, event: 'test/fixtures/cli/quiet-event.json' }));
    expect(r.err).toBe('no rule alerts for this event (use --rule NAME to preview a rule anyway)\n');
    expect(r.code).toBe(1);
  });
});
