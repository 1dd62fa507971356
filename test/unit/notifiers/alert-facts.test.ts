import { describe, expect, it } from 'vitest';
import { alertFacts, factRows, humanDuration, ordinal, resolveLinks } from '../../../src/notifiers/alert-facts.ts';
import { cardAlert } from './alert-fixture.ts';

describe('alertFacts', () => {
  it('names everything the contract asks for', () => {
    const f = alertFacts(cardAlert());
    expect(f).toMatchObject({
      rule: 'Sensitive access out of hours',
      severity: 'critical',
      severityLabel: 'CRITICAL',
      item: 'Company card',
      itemTitleKnown: true,
      itemType: 'secure note',
      vault: 'Finance',
      person: 'Jo Bloggs (jo@example.com)',
      personShort: 'Jo Bloggs',
      verb: 'revealed',
      action: 'revealed the card code of',
      usedAt: 'Sat 21 Nov 2026 02:14 GMT (Europe/London)',
      usedAtShort: 'Sat 02:14 Europe/London',
      client: '1Password for Mac 8.10.40 on macOS 14.5',
      ip: '203.0.113.7',
      location: 'London, England, United Kingdom',
      headline: 'Jo Bloggs revealed the card code of Company card',
    });
    expect(f.delay).toEqual({ ms: 27 * 60_000, human: '27 min later', text: 'used 02:14, reported 02:41 (27 min later)' });
    expect(f.reasons).toEqual(['Sat 2026-11-21 02:14 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)']);
  });

  it('shows summer time as BST in the policy zone', () => {
    const f = alertFacts(cardAlert({}, { time: '2026-07-04T01:14:00Z', received_at: '2026-07-04T01:14:30Z' }));
    expect(f.usedAt).toBe('Sat 4 Jul 2026 02:14 BST (Europe/London)');
  });

  it('uses the alert zone, not the server zone', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Pacific/Auckland';
    try {
      expect(alertFacts(cardAlert()).usedAt).toBe('Sat 21 Nov 2026 02:14 GMT (Europe/London)');
      expect(alertFacts(cardAlert({ timezone: 'America/New_York' })).usedAt)
        .toBe('Fri 20 Nov 2026 21:14 EST (America/New_York)');
      expect(alertFacts(cardAlert({ timezone: 'Asia/Kolkata' })).usedAt)
        .toBe('Sat 21 Nov 2026 07:44 GMT+5:30 (Asia/Kolkata)');
    } finally {
      if (saved === undefined) delete process.env.TZ; else process.env.TZ = saved;
    }
  });

  it('falls back to UTC, labelled, for a zone luxon does not know', () => {
    expect(alertFacts(cardAlert({ timezone: 'Europe/Londn' })).usedAt).toBe('Sat 21 Nov 2026 02:14 UTC (UTC)');
  });

  describe('reporting delay', () => {
    it('is absent at one minute or less', () => {
      expect(alertFacts(cardAlert({}, { received_at: '2026-11-21T02:15:00Z' })).delay).toBeUndefined();
      expect(alertFacts(cardAlert({}, { received_at: '2026-11-21T02:14:05Z' })).delay).toBeUndefined();
    });

    it('is absent when the record came before the use (clock skew)', () => {
      expect(alertFacts(cardAlert({}, { received_at: '2026-11-21T02:00:00Z' })).delay).toBeUndefined();
    });

    it('honours a configured threshold', () => {
      expect(alertFacts(cardAlert(), { delayThresholdMs: 30 * 60_000 }).delay).toBeUndefined();
    });

    it('names the day when reporting crossed midnight', () => {
      const f = alertFacts(cardAlert({}, { received_at: '2026-11-23T09:03:00Z' }));
      expect(f.delay?.text).toBe('used Sat 21 Nov 02:14, reported Mon 23 Nov 09:03 (2 days 6 h later)');
    });
  });

  it('says the title is unknown and shows the id', () => {
    const f = alertFacts(cardAlert({}, { item: { id: 'itm-4k2j9' } }));
    expect(f.item).toBe('itm-4k2j9 (title unknown)');
    expect(f.itemTitleKnown).toBe(false);
    expect(f.itemType).toBeUndefined();
  });

  it('treats a blank title like a missing one', () => {
    expect(alertFacts(cardAlert({}, { item: { id: 'i1', title: ' \r\n ' } })).item).toBe('i1 (title unknown)');
  });

  it('falls back to ids for the vault and the person', () => {
    const f = alertFacts(cardAlert({}, { vault: { id: 'vlt-9' }, user: { id: 'usr-9' } }));
    expect(f.vault).toBe('vlt-9');
    expect(f.person).toBe('usr-9 (name unknown)');
    expect(alertFacts(cardAlert({}, { user: { id: 'u', email: 'a@b.c' } })).person).toBe('a@b.c');
  });

  it('uses the bare verb without a field and leaves out what is unknown', () => {
    const alert = cardAlert({}, { action: 'copy', item: { id: 'i', title: 'T', type: 'unknown' } });
    delete alert.event.field;
    delete alert.event.client;
    delete alert.event.location;
    alert.event.received_at = alert.event.time;
    const f = alertFacts(alert);
    expect(f.action).toBe('copied');
    expect(f.client).toBeUndefined();
    expect(f.ip).toBeUndefined();
    expect(f.location).toBeUndefined();
    expect(factRows(f).map((r) => r.label)).toEqual(['Item', 'Vault', 'Person', 'Action', 'Used at']);
  });

  it('flattens control characters in user text', () => {
    const f = alertFacts(cardAlert({}, { item: { id: 'i', title: 'Card\r\nBcc: x@evil.test' } }));
    expect(f.item).toBe('Card Bcc: x@evil.test');
  });
});

describe('resolveLinks', () => {
  it('joins paths under the public URL, keeping its base path', () => {
    expect(resolveLinks({ publicUrl: 'https://h.example/vw/', links: { alert: '/alerts/1' } }))
      .toEqual({ alert: 'https://h.example/vw/alerts/1' });
  });

  it('drops non-http links and unresolvable paths', () => {
    expect(resolveLinks({ links: { alert: 'javascript:alert(1)', justify: '/j/1' } })).toEqual({});
  });
});

describe('small helpers', () => {
  it('ordinal', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal))
      .toEqual(['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '101st', '111th']);
  });

  it('humanDuration', () => {
    expect(humanDuration(27 * 60_000)).toBe('27 min');
    expect(humanDuration(125 * 60_000)).toBe('2 h 5 min');
    expect(humanDuration(3 * 3_600_000)).toBe('3 h');
    expect(humanDuration(76 * 3_600_000)).toBe('3 days 4 h');
  });
});
