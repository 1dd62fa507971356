/**
 * The pure halves of the senders: error classification tables, target and address parsing, secret
 * redaction, webhook signing and Retry-After. The integration tests show the same verdicts on the wire.
 */
import { createHmac } from 'node:crypto';
import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { checkRecipient, createEmailNotifier, parseFrom, redactSecrets, smtpNotifyError } from '../../../src/notifiers/email/sender.ts';
import { NotifyError } from '../../../src/notifiers/notifier.ts';
import { outboxFileName } from '../../../src/notifiers/outbox/sender.ts';
import { parseSlackTarget, slackNotifyError } from '../../../src/notifiers/slack/sender.ts';
import { parseRetryAfter, webhookPayload, webhookSignature, WEBHOOK_MAX_RETRY_AFTER_MS } from '../../../src/notifiers/webhook/sender.ts';
import { cardAlert, CTX } from './alert-fixture.ts';

const WHERE = 'smtp://mail.example.com:587';
const smtpErr = (fields: Record<string, unknown>): Error => Object.assign(new Error(String(fields.message ?? 'boom')), fields);

describe('smtpNotifyError', () => {
  it.each([
    [{ code: 'EMESSAGE', responseCode: 451 }, true, 'smtp_451'],
    [{ code: 'EMESSAGE', responseCode: 421 }, true, 'smtp_421'],
    [{ code: 'EENVELOPE', responseCode: 452 }, true, 'smtp_452'],
    [{ code: 'EMESSAGE', responseCode: 550 }, false, 'smtp_550'],
    [{ code: 'EENVELOPE', responseCode: 553 }, false, 'smtp_553'],
    [{ code: 'EMESSAGE', responseCode: 554 }, false, 'smtp_554'],
    [{ code: 'EPROTOCOL', responseCode: 503 }, true, 'smtp_503'],
    [{ code: 'EENVELOPE' }, false, 'smtp_envelope'],
    [{ code: 'EAUTH', responseCode: 535 }, true, 'smtp_auth'],
    [{ code: 'ENOAUTH' }, true, 'smtp_auth'],
    [{ code: 'ESOCKET', originalCode: 'ECONNREFUSED' }, true, 'smtp_esocket'],
    [{ code: 'ECONNECTION' }, true, 'smtp_econnection'],
    [{ code: 'ETIMEDOUT' }, true, 'smtp_etimedout'],
    [{ code: 'EDNS' }, true, 'smtp_edns'],
    [{ code: 'ECONNREFUSED' }, true, 'smtp_econnrefused'],
    [{ code: 'ECONNRESET' }, true, 'smtp_econnreset'],
    [{ code: 'EABORT' }, true, 'aborted'],
    [{ name: 'AbortError' }, true, 'aborted'],
    [{ code: 'ESOMETHINGNEW' }, true, 'smtp_esomethingnew'],
    [{}, true, 'smtp_error'],
  ])('%o -> retryable %s, code %s', (fields, retryable, code) => {
    const err = smtpNotifyError(smtpErr(fields), WHERE);
    expect(err).toBeInstanceOf(NotifyError);
    expect(err).toMatchObject({ retryable, code });
  });

  it('never carries the password or user:pass@, even when the cause mentions them', () => {
    const err = smtpNotifyError(
      smtpErr({ code: 'ECONNECTION', message: 'cannot connect to smtp://jo:p%40ss@mail.example.com:587 with p@ss' }),
      WHERE,
      ['p%40ss', 'p@ss'],
    );
    expect(err.message).not.toContain('p@ss');
    expect(err.message).not.toContain('p%40ss');
    expect(err.message).not.toContain('jo:');
    expect(err.message).toContain('mail.example.com:587');
  });

  it('names the auth problem clearly', () => {
    expect(smtpNotifyError(smtpErr({ code: 'EAUTH', response: '535 5.7.8 bad credentials' }), WHERE).message)
      .toBe('SMTP authentication failed at smtp://mail.example.com:587: check the user and password in channels.email.smtp (EAUTH: 535 5.7.8 bad credentials)');
  });

  it('accepts non-Error throwables', () => {
    expect(smtpNotifyError('weird', WHERE)).toMatchObject({ retryable: true, code: 'smtp_error' });
  });
});

describe('redactSecrets', () => {
  it('removes user:pass@ from URLs and literal secrets', () => {
    expect(redactSecrets('smtps://u:pw@h:465 and SMTP://x@h', [])).toBe('smtps://***@h:465 and SMTP://***@h');
    expect(redactSecrets('login hunter2 failed', ['hunter2'])).toBe('login *** failed');
  });
});

describe('checkRecipient / parseFrom', () => {
  it.each(['a@example.com', 'ciso@corp.example.org'])('accepts %j', (a) => {
    expect(checkRecipient(a)).toBe(a);
  });

  it.each([
    'a@example.com\r\nRCPT TO:<x@evil.test>',
    'a@example.com\n',
    'a@example.com,b@example.com',
    'a@example.com;b@example.com',
    'A <a@example.com>',
    '<a@example.com>',
    'a b@example.com',
    ' a@example.com',
    'a@example.com\u0000',
    'a@example.com\u2028',
    'no-at-sign',
    '',
  ])('refuses %j permanently', (a) => {
    expect(() => checkRecipient(a)).toThrow(expect.objectContaining({ retryable: false, code: 'invalid_recipient' }));
  });

  it('parses From into name and address', () => {
    expect(parseFrom('Vaultwatch <alerts@example.com>')).toEqual({ name: 'Vaultwatch', address: 'alerts@example.com' });
    expect(parseFrom('"Vault, Watch" <alerts@example.com>')).toEqual({ name: 'Vault, Watch', address: 'alerts@example.com' });
    expect(parseFrom('alerts@example.com')).toEqual({ name: '', address: 'alerts@example.com' });
  });

  it.each(['a@example.com, b@example.com', 'Vaultwatch', 'V <a@example.com>\r\nBcc: x@evil.test', ''])('refuses From %j', (f) => {
    expect(() => parseFrom(f)).toThrow(/channels\.email\.from/);
  });
});

describe('slackNotifyError', () => {
  const TOKEN = 'xoxb-1234-secret';
  const platform = (error: string, extra: Record<string, unknown> = {}) => new WebAPIPlatformError({ ok: false, error, ...extra });

  it('429 -> retryable with retryAfterMs, code ratelimited', () => {
    expect(slackNotifyError(new WebAPIRateLimitedError(2), 'chat.postMessage', '#x')).toMatchObject({
      retryable: true, retryAfterMs: 2000, code: 'ratelimited',
    });
  });

  it.each([
    'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_auth', 'not_authed', 'account_inactive',
    'token_revoked', 'users_not_found', 'missing_scope', 'msg_too_long', 'invalid_blocks', 'user_not_found',
  ])('%s -> permanent', (error) => {
    expect(slackNotifyError(platform(error), 'chat.postMessage', '#x')).toMatchObject({ retryable: false, code: error });
  });

  it.each(['internal_error', 'fatal_error', 'service_unavailable', 'ratelimited', 'something_new'])('%s -> retryable', (error) => {
    expect(slackNotifyError(platform(error), 'chat.postMessage', '#x')).toMatchObject({ retryable: true, code: error });
  });

  it('missing_scope names the scope Slack says is needed', () => {
    expect(slackNotifyError(platform('missing_scope', { needed: 'im:write' }), 'conversations.open', '@U1').message)
      .toBe('Slack conversations.open for @U1 failed: missing_scope (needs scope im:write)');
  });

  it('HTTP errors and request errors are retryable', () => {
    expect(slackNotifyError(new WebAPIHTTPError(503, 'Service Unavailable', {}), 'chat.postMessage', '#x'))
      .toMatchObject({ retryable: true, code: 'http_503' });
    expect(slackNotifyError(new WebAPIHTTPError(500, '', {}), 'chat.postMessage', '#x'))
      .toMatchObject({ retryable: true, code: 'http_500' });
    const network = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const err = slackNotifyError(new WebAPIRequestError(network), 'chat.postMessage', '#x');
    expect(err).toMatchObject({ retryable: true, code: 'request_error' });
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('scrubs the token from any message', () => {
    const err = slackNotifyError(new Error(`bad header Bearer ${TOKEN}`), 'chat.postMessage', '#x', TOKEN);
    expect(err).toMatchObject({ retryable: true, code: 'slack_error' });
    expect(err.message).not.toContain(TOKEN);
  });
});

describe('parseSlackTarget', () => {
  it.each([
    ['#finance-alerts', { kind: 'channel', channel: '#finance-alerts' }],
    ['C0123ABCD', { kind: 'channel', channel: 'C0123ABCD' }],
    ['G0123ABCD', { kind: 'channel', channel: 'G0123ABCD' }],
    ['@U0ALICE', { kind: 'user', userId: 'U0ALICE' }],
    ['@W0ENTERPRISE', { kind: 'user', userId: 'W0ENTERPRISE' }],
    ['@Alice@Example.com', { kind: 'email', email: 'alice@example.com' }],
  ])('%s', (text, expected) => {
    expect(parseSlackTarget(text)).toEqual(expected);
  });

  it.each(['@jo', 'general', '#', '# x', '@<!channel>@example.com', '@a@b', 'C01'])('refuses %j', (text) => {
    expect(parseSlackTarget(text)).toBeUndefined();
  });
});

describe('webhook helpers', () => {
  it('signs "timestamp.body" with HMAC-SHA256, hex, v1=', () => {
    const expected = createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex');
    expect(webhookSignature('k', '1700000000', '{"a":1}')).toBe(`v1=${expected}`);
  });

  it('parses Retry-After in seconds or as an HTTP date, bounded', () => {
    const now = Date.parse('2026-11-21T03:00:00Z');
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('Sat, 21 Nov 2026 03:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 02:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('99999999', now)).toBe(WEBHOOK_MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-3', now)).toBeUndefined();
  });

  it('the payload is the alert summary, the id and a text line; a follow-up says Again', () => {
    const p = webhookPayload(cardAlert());
    expect(p.alert_id).toBe(cardAlert().id);
    expect(p.alert.item_title).toBe('Company card');
    expect(p.message.text).toBe('[CRITICAL] Jo Bloggs revealed the card code of Company card — Sat 21 Nov 2026 02:14 GMT (Europe/London) · Sensitive access out of hours');
    expect(webhookPayload(cardAlert({ follows: 'First', suppressed: true })).message.text).toMatch(/^Again: Jo Bloggs/);
  });
});

describe('outboxFileName', () => {
  const req = (address: string, id = cardAlert().id) => ({ alert: cardAlert({ id }), target: { kind: 'email' as const, address }, context: CTX });

  it('is deterministic per (alert, target) and safe for any target text', () => {
    expect(outboxFileName('email', req('a@example.com'))).toBe(outboxFileName('email', req('a@example.com')));
    expect(outboxFileName('email', req('a@example.com'))).not.toBe(outboxFileName('email', req('b@example.com')));
    expect(outboxFileName('email', req('a@example.com'))).not.toBe(outboxFileName('email', req('a@example.com', 'Other')));
    const weird = outboxFileName('email', req('../../etc/passwd\r\n'.repeat(20), '../x'));
    expect(weird).not.toMatch(/[/\\\r\n]/);
    expect(weird.length).toBeLessThan(200);
  });
});

describe('createEmailNotifier settings', () => {
  it('a bad smtp value is a config error that does not echo it (it may hold the password)', () => {
    expect(() => createEmailNotifier({ smtp: 'smtp://user:hunter2@mail host', from: 'a@example.com' })).toThrow(/channels\.email\.smtp is not a URL/);
    expect(() => createEmailNotifier({ smtp: 'smtp://user:hunter2@mail host', from: 'a@example.com' })).not.toThrow(/hunter2/);
    expect(() => createEmailNotifier({ smtp: 'http://u:hunter2@mail', from: 'a@example.com' })).toThrow(/smtp:\/\/ or smtps:\/\//);
    expect(() => createEmailNotifier({ smtp: 'http://u:hunter2@mail', from: 'a@example.com' })).not.toThrow(/hunter2/);
  });
});
