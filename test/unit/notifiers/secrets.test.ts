import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/domain/alert.ts';
import { alertFacts } from '../../../src/notifiers/alert-facts.ts';
import { buildEmailMessage } from '../../../src/notifiers/email/message.ts';
import { buildSlackMessage } from '../../../src/notifiers/slack/message.ts';
import { cardAlert, CTX } from './alert-fixture.ts';

const CANARY = 'SECRET-CANARY';

/**
 * The story alert with a canary in every place a builder has no business reading: extra properties a
 * source might attach (raw records, tokens, revealed values) and canonical fields outside the
 * allow-list. A builder that spreads, dumps or iterates the event will carry the canary out.
 */
function alertWithCanaries(follows?: string): Alert {
  const alert = cardAlert(follows ? { follows, suppressed: true } : {}, {
    vendor_action: `secure-copy ${CANARY}`,
    item: { id: 'itm-4k2j9', title: 'Company card', type: 'secure_note', tags: [CANARY] },
  });
  const plant = (target: object, extra: Record<string, unknown>) => Object.assign(target as Record<string, unknown>, extra);
  plant(alert, { raw: { token: CANARY }, secret: CANARY });
  plant(alert.event, { raw: `{"password":"${CANARY}"}`, token: CANARY, value: CANARY, password: CANARY });
  plant(alert.event.item, { password: CANARY, fields: [{ label: 'card code', value: CANARY }], notes: CANARY });
  plant(alert.event.user, { session_token: CANARY });
  plant(alert.event.vault, { key: CANARY });
  plant(alert.event.client as object, { token: CANARY, user_agent: CANARY });
  plant(alert.event.location as object, { lat_long: CANARY });
  return alert;
}

function everything(alert: Alert): string {
  const facts = alertFacts(alert);
  const email = buildEmailMessage(alert, 'finance-managers@example.com', { ...CTX, occurrence: 2 });
  const slack = buildSlackMessage(alert, '#finance-alerts', { ...CTX, threadTs: '1.2', occurrence: 2 });
  return JSON.stringify([facts, email, slack]);
}

describe('no secret leaves through a message', () => {
  it('the builders read only allow-listed fields', () => {
    const out = everything(alertWithCanaries());
    expect(out).toContain('Company card'); // the output is real, not empty
    expect(out).not.toContain(CANARY);
  });

  it('follow-ups too', () => {
    expect(everything(alertWithCanaries('FirstAlert'))).not.toContain(CANARY);
  });

  it('the canary would be caught if a builder dumped the event', () => {
    expect(JSON.stringify(alertWithCanaries().event)).toContain(CANARY);
  });
});
