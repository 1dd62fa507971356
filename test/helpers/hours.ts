/**
 * Recipients' hours in daemon tests: a policy whose CFO (email) and CFO desk (Slack channel) have
 * hours (`cfo-hours`, Mon-Fri 09:00-17:00 Toronto), a team channel without, a `deliver: defer` rule
 * for the company card and a `deliver: digest` rule for the bank account.
 */
import { CFO, FINANCE_CHANNEL, FINANCE_VAULT, POLICY_ZONE } from './daemon.ts';

export const CFO_DESK = '#cfo-desk';
export const CARD_RULE = 'Company card used';
export const BANK_RULE = 'Bank account used';
export const HOURS_POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: ${POLICY_ZONE}
managers:
  - email: ${CFO}
    schedule: cfo-hours
  - slack: "${CFO_DESK}"
    schedule: cfo-hours
  - slack: "${FINANCE_CHANNEL}"
rules:
  - name: ${CARD_RULE}
    match: { items: ["Company card*"] }
    severity: high
    deliver: defer
  - name: ${BANK_RULE}
    match: { items: ["Business bank*"] }
    severity: medium
    deliver: digest
`;
/** Monday to Friday, 09:00-17:00 in Toronto. */
export const HOURS_SCHEDULE = `schedules:
  cfo-hours:
    timezone: America/Toronto
    days: [mon-fri]
    hours: ["09:00-17:00"]
`;
