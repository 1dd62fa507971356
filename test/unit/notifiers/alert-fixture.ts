import type { Alert } from '../../../src/domain/alert.ts';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';

/** The story's alert: the company card, revealed at 02:14 on a Saturday, reported 27 minutes later. */
export function cardEvent(overrides: Partial<UsageEvent> = {}): UsageEvent {
  const time = overrides.time ?? '2026-11-21T02:14:00Z';
  return {
    id: 'evt-7f3a9c',
    source: 'onepassword',
    time,
    time_ms: Date.parse(time),
    received_at: '2026-11-21T02:41:00Z',
    action: 'reveal',
    vendor_action: 'reveal',
    field: 'card_code',
    vault: { id: 'vlt-finance-01', name: 'Finance' },
    item: { id: 'itm-4k2j9', title: 'Company card', type: 'secure_note' },
    user: { id: 'usr-jb01', email: 'jo@example.com', name: 'Jo Bloggs' },
    client: { app: '1Password for Mac', version: '8.10.40', os: 'macOS 14.5', ip: '203.0.113.7' },
    location: { country: 'GB', region: 'England', city: 'London' },
    ...overrides,
  };
}

export function cardAlert(overrides: Partial<Alert> = {}, event: Partial<UsageEvent> = {}): Alert {
  return {
    id: 'q3Zk8Yw1TfVb0aXcR2dE5gH7jL',
    event: cardEvent(event),
    policy: 'policies/finance.yaml',
    rule: 'Sensitive access out of hours',
    severity: 'critical',
    reasons: ['Sat 2026-11-21 02:14 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)'],
    targets: [{ kind: 'email', address: 'finance-managers@example.com' }, { kind: 'slack', channel: '#finance-alerts' }],
    timezone: 'Europe/London',
    suppressed: false,
    ...overrides,
  };
}

export const CTX = {
  messageIdDomain: 'vaultwatch.example.com',
  publicUrl: 'https://vaultwatch.example.com',
  links: { alert: '/alerts/q3Zk8Yw1TfVb0aXcR2dE5gH7jL', justify: '/justify/tok-abc' },
};

/** The strings a reader must find in every rendering of the story alert. */
export const REQUIRED_FACTS = [
  'Sensitive access out of hours',
  'CRITICAL',
  'Company card',
  'secure note',
  'Finance',
  'Jo Bloggs',
  'jo@example.com',
  'revealed the card code of',
  'Sat 21 Nov 2026 02:14 GMT (Europe/London)',
  'used 02:14, reported 02:41',
  '27 min later',
  '1Password for Mac 8.10.40 on macOS 14.5',
  '203.0.113.7',
  'London, England, United Kingdom',
  'Sat 2026-11-21 02:14 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)',
];
