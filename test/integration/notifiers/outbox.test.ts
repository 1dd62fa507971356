/**
 * The outbox notifier writes real files: an .eml that a mail parser reads back as the message SMTP
 * would have carried, Slack and webhook JSON, one file per (alert, target), rewritten in place.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/domain/alert.ts';
import type { Target } from '../../../src/domain/target.ts';
import { buildEmailMessage } from '../../../src/notifiers/email/message.ts';
import { isNotifyError, type DeliveryRequest } from '../../../src/notifiers/notifier.ts';
import { createOutboxNotifier } from '../../../src/notifiers/outbox/sender.ts';
import { buildSlackMessage } from '../../../src/notifiers/slack/message.ts';
import { webhookPayload } from '../../../src/notifiers/webhook/sender.ts';
import { cardAlert, CTX } from '../../unit/notifiers/alert-fixture.ts';

const TO = 'finance-managers@example.com';

function request(target: Target, alert: Alert = cardAlert(), threadTs?: string): DeliveryRequest {
  return { alert, target, context: CTX, ...(threadTs ? { threadTs } : {}) };
}

describe('outbox notifier', () => {
  let root: string;
  let dir: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'vaultwatch-outbox-'));
    dir = join(root, 'var', 'outbox'); // does not exist yet: created on demand
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('email: writes an .eml that parses into the same subject, Message-ID, recipients and parts', async () => {
    const outbox = createOutboxNotifier(dir, 'email', { from: 'Vaultwatch <alerts@example.com>' });
    const result = await outbox.send(request({ kind: 'email', address: TO }));
    const expected = buildEmailMessage(cardAlert(), TO, CTX);

    expect(result.id).toBe(expected.messageId);
    expect(result.path).toMatch(/\.eml$/);
    expect(readdirSync(dir)).toEqual([basename(result.path!)]);
    const raw = readFileSync(result.path!);
    expect(raw.toString('latin1')).toContain('\r\n'); // RFC 5322 line ends, as on the wire
    const mail = await simpleParser(raw);
    expect(mail.subject).toBe(expected.subject);
    expect(mail.messageId).toBe(expected.messageId);
    expect(mail.to).toMatchObject({ value: [{ address: TO }] });
    expect(mail.from).toMatchObject({ value: [{ address: 'alerts@example.com', name: 'Vaultwatch' }] });
    expect(mail.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(mail.text).toContain('Sat 21 Nov 2026 02:14 GMT (Europe/London)');
    expect(mail.html).toContain('Company card');
    expect(mail.headers.get('x-vaultwatch-alert-id')).toBe(cardAlert().id);
  });

  it('a retry overwrites the same file; another recipient or alert gets its own', async () => {
    const outbox = createOutboxNotifier(dir, 'email');
    const first = await outbox.send(request({ kind: 'email', address: TO }));
    const again = await outbox.send(request({ kind: 'email', address: TO }));
    expect(again.path).toBe(first.path);
    expect(readdirSync(dir)).toHaveLength(1); // no second file, no temp file left behind

    await outbox.send(request({ kind: 'email', address: 'ciso@example.com' }));
    await outbox.send(request({ kind: 'email', address: TO }, cardAlert({ id: 'OtherAlert0000000000000001' })));
    expect(readdirSync(dir)).toHaveLength(3);
    expect(readdirSync(dir).every((f) => f.endsWith('.eml'))).toBe(true);
  });

  it('email: a recipient with CRLF is refused permanently, as SMTP would, and nothing is written', async () => {
    const outbox = createOutboxNotifier(dir, 'email');
    const err = await outbox.send(request({ kind: 'email', address: `${TO}\r\nBcc: thief@evil.test` })).catch((e: unknown) => e);
    expect(isNotifyError(err)).toBe(true);
    expect(err).toMatchObject({ retryable: false, code: 'invalid_recipient' });
    expect(() => readdirSync(dir)).toThrow(); // not even the directory
  });

  it('slack: writes the chat.postMessage arguments as JSON, thread_ts included', async () => {
    const outbox = createOutboxNotifier(dir, 'slack');
    const result = await outbox.send(request({ kind: 'slack', channel: '#finance-alerts' }, cardAlert(), '1700000000.000100'));
    expect(result.path).toMatch(/\.json$/);
    const args = JSON.parse(readFileSync(result.path!, 'utf8')) as unknown;
    expect(args).toEqual(buildSlackMessage(cardAlert(), '#finance-alerts', { ...CTX, threadTs: '1700000000.000100' }));
    expect(args).toMatchObject({ channel: '#finance-alerts', thread_ts: '1700000000.000100', metadata: { event_payload: { alert_id: cardAlert().id } } });
  });

  it('webhook: writes the POST body', async () => {
    const outbox = createOutboxNotifier(dir, 'webhook');
    const result = await outbox.send(request({ kind: 'webhook', name: 'siem' }));
    expect(JSON.parse(readFileSync(result.path!, 'utf8'))).toEqual(webhookPayload(cardAlert()));
  });

  it('findDelivered: undefined before the write, the path after', async () => {
    const outbox = createOutboxNotifier(dir, 'slack');
    const req = request({ kind: 'slack', channel: '@alice@example.com' });
    expect(await outbox.findDelivered!(req)).toBeUndefined();
    const { path } = await outbox.send(req);
    expect(await outbox.findDelivered!(req)).toEqual({ path });
  });

  it('file names are deterministic, filesystem-safe and differ per target', async () => {
    const outbox = createOutboxNotifier(dir, 'slack');
    const a = await outbox.send(request({ kind: 'slack', channel: '#finance-alerts' }));
    const b = await outbox.send(request({ kind: 'slack', channel: '@alice@example.com' }));
    expect(basename(a.path!)).toMatch(/^slack\.q3Zk8Yw1TfVb0aXcR2dE5gH7jL\.finance-alerts\.[0-9a-f]{10}\.json$/);
    expect(basename(b.path!)).toMatch(/^slack\.q3Zk8Yw1TfVb0aXcR2dE5gH7jL\.alice_example\.com\.[0-9a-f]{10}\.json$/);
  });
});
