import type { Alert } from './alert.ts';
import { formatTarget } from './target.ts';
import { userKey } from './usage-event.ts';

/** The flat JSON form of an alert (cli.md, replay output); also what webhooks and `alerts --json` print. */
export interface AlertSummary {
  event_id: string;
  time: string;
  vault_id: string;
  item_id: string;
  item_title: string | null;
  user: string;
  action: string;
  policy: string;
  rule: string;
  severity: string;
  recipients: string[];
  suppressed: boolean;
  reasons: string[];
}

export function summarizeAlert(a: Alert): AlertSummary {
  const e = a.event;
  return {
    event_id: e.id,
    time: new Date(e.time_ms).toISOString(),
    vault_id: e.vault.id,
    item_id: e.item.id,
    item_title: e.item.title ?? null,
    user: userKey(e),
    action: e.action,
    policy: a.policy,
    rule: a.rule,
    severity: a.severity,
    recipients: [...new Set(a.targets.map(formatTarget))],
    suppressed: a.suppressed,
    reasons: a.reasons,
  };
}
