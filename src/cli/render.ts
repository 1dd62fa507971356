import { readFileSync } from 'node:fs';
import { alertId, type Alert } from '../domain/alert.ts';
import type { Target } from '../domain/target.ts';
import { isProblem, Replayer } from '../app/replay.ts';
import { messageContext } from '../app/message-context.ts';
import { targetsFor } from '../pipeline/evaluate.ts';
import { buildEmailMessage } from '../notifiers/email/message.ts';
import { buildSlackMessage } from '../notifiers/slack/message.ts';
import { EXIT_OK, EXIT_PROBLEM, loadOrExit, UsageError } from './common.ts';

/**
 * `vaultwatch render --event FILE [--rule NAME]`: the email (subject, headers, text, HTML) and the
 * Slack payload each alert of the event would produce, built by the same pure builders the daemon uses.
 */
export async function renderCommand(opts: { config: string; event: string; rule?: string; part?: string }): Promise<number> {
  const rt = loadOrExit(opts.config);
  let record: unknown;
  try {
    record = JSON.parse(readFileSync(opts.event, 'utf8'));
  } catch (err) {
    throw new UsageError(`${opts.event}: ${(err as Error).message}`);
  }
  const replayer = new Replayer(rt.policies, rt.catalog, {});
  const r = replayer.push(1, record);
  if (isProblem(r)) {
    process.stderr.write(`${opts.event}: ${r.message}\n`);
    return EXIT_PROBLEM;
  }
  let alerts = await r;
  if (opts.rule) {
    const fired = alerts.filter((a) => a.rule === opts.rule);
    alerts = fired.length ? fired : previewRule(rt, record, opts.rule);
  }
  if (alerts.length === 0) {
    process.stderr.write('no rule alerts for this event (use --rule NAME to preview a rule anyway)\n');
    return EXIT_PROBLEM;
  }
  const ctx = messageContext(rt.config);
  for (const a of alerts) {
    const email = a.targets.find((t): t is Extract<Target, { kind: 'email' }> => t.kind === 'email');
    const slack = a.targets.find((t): t is Extract<Target, { kind: 'slack' }> => t.kind === 'slack');
    const out: string[] = [`=== ${a.rule} (${a.severity})${a.suppressed ? ' [suppressed by dedup]' : ''}`];
    const m = buildEmailMessage(a, email?.address ?? 'manager@example.com', ctx);
    if (!opts.part || opts.part === 'email' || opts.part === 'text') {
      out.push(`--- email to ${email?.address ?? '(no email target; example recipient)'}`,
        `Subject: ${m.subject}`, `Message-ID: ${m.messageId}`,
        ...(m.inReplyTo ? [`In-Reply-To: ${m.inReplyTo}`] : []),
        ...Object.entries(m.headers).map(([k, v]) => `${k}: ${v}`), '', m.text);
    }
    if (!opts.part || opts.part === 'email' || opts.part === 'html') out.push('--- email HTML', m.html);
    if (!opts.part || opts.part === 'slack') {
      const s = buildSlackMessage(a, slack?.channel ?? '#example', ctx);
      out.push(`--- slack chat.postMessage to ${slack?.channel ?? '(no Slack target; example channel)'}`, JSON.stringify(s, null, 2));
    }
    process.stdout.write(`${out.join('\n')}\n\n`);
  }
  return EXIT_OK;
}

/** A rule that does not fire for this event, rendered anyway so its messages can be reviewed. */
function previewRule(rt: ReturnType<typeof loadOrExit>, record: unknown, ruleName: string): Alert[] {
  const replayer = new Replayer(rt.policies, rt.catalog, {});
  const e = replayer.normalizeOnly(record);
  if (!e) return [];
  const rule = rt.policies.rulesFor(e.vault.id).find((x) => x.name === ruleName);
  if (!rule) throw new UsageError(`no rule "${ruleName}" for vault ${e.vault.id}`);
  return [{
    id: alertId(e.id, rule.policy, rule.name),
    event: e,
    policy: rule.policy,
    rule: rule.name,
    severity: rule.severity,
    reasons: ['(preview: this rule does not fire for this event)'],
    targets: targetsFor(rule, e),
    timezone: rule.timezone,
    suppressed: false,
  }];
}
