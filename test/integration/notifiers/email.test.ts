/**
 * The SMTP notifier against a real SMTP server (smtp-server in-process), read back with mailparser:
 * what arrives, how each server answer is classified, and that no credential leaks into an error.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildEmailMessage } from '../../../src/notifiers/email/message.ts';
import { createEmailNotifier } from '../../../src/notifiers/email/sender.ts';
import { isNotifyError, NotifyError, type DeliveryRequest, type Notifier } from '../../../src/notifiers/notifier.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { cardAlert, CTX } from '../../unit/notifiers/alert-fixture.ts';

const FROM = 'Vaultwatch <alerts@example.com>';
const TO = 'finance-managers@example.com';
const PASSWORD = 's3cr3t';

function request(address: string = TO, alert = cardAlert()): DeliveryRequest {
  return { alert, target: { kind: 'email', address }, context: CTX };
}

async function failure(promise: Promise<unknown>): Promise<NotifyError> {
  try {
    await promise;
  } catch (err) {
    expect(isNotifyError(err)).toBe(true);
    return err as NotifyError;
  }
  throw new Error('expected the send to fail');
}

describe('email notifier through SMTP', () => {
  let smtp: SmtpHandle;
  let notifier: Notifier;

  beforeAll(async () => {
    smtp = await startSmtp();
    // The harness accepts mail without AUTH; a credentialed URL gets 535 (see the auth test below).
    notifier = createEmailNotifier({ smtp: smtp.url, from: FROM });
  });
  beforeEach(() => smtp.clear());
  afterAll(async () => {
    await notifier.close();
    await smtp.close();
  });

  it('delivers one multipart text+HTML message with the right To, Subject and Message-ID', async () => {
    const expected = buildEmailMessage(cardAlert(), TO, CTX);
    const result = await notifier.send(request());

    expect(result.id).toBe(expected.messageId);
    const [mail] = await smtp.waitForMessages(1);
    expect(smtp.messages).toHaveLength(1);
    expect(mail!.envelope).toEqual({ from: 'alerts@example.com', to: [TO] });
    const parsed = mail!.parsed;
    expect(parsed.to).toMatchObject({ value: [{ address: TO, name: '' }] });
    expect(parsed.from).toMatchObject({ value: [{ address: 'alerts@example.com', name: 'Vaultwatch' }] });
    expect(parsed.subject).toBe(expected.subject);
    expect(parsed.messageId).toBe(expected.messageId);
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(parsed.text).toContain('Sat 21 Nov 2026 02:14 GMT (Europe/London)');
    expect(parsed.html).toContain('Company card');
    expect(parsed.headers.get('x-vaultwatch-alert-id')).toBe(cardAlert().id);
    expect(parsed.headers.get('auto-submitted')).toBe('auto-generated');
  });

  it('threads a follow-up under the first alert with In-Reply-To and References', async () => {
    const followUp = cardAlert({ id: 'FollowUpAlert0000000000001', follows: cardAlert().id, suppressed: true });
    const first = buildEmailMessage(cardAlert(), TO, CTX).messageId;
    await notifier.send(request(TO, followUp));
    const [mail] = await smtp.waitForMessages(1);
    expect(mail!.parsed.inReplyTo).toBe(first);
    expect(mail!.parsed.references).toBe(first);
  });

  it('a 451 is retryable, and the next attempt goes through', async () => {
    smtp.failNext(1, 451);
    const err = await failure(notifier.send(request()));
    expect(err).toMatchObject({ retryable: true, code: 'smtp_451' });
    expect(err.message).toContain('451');
    expect(smtp.messages).toHaveLength(0);

    await notifier.send(request());
    await smtp.waitForMessages(1);
    expect(smtp.messages).toHaveLength(1);
  });

  it('a 550 at DATA is permanent', async () => {
    smtp.failNext(1, 550, 'No such user here');
    const err = await failure(notifier.send(request()));
    expect(err).toMatchObject({ retryable: false, code: 'smtp_550' });
    expect(err.message).toContain('No such user here');
    expect(smtp.messages).toHaveLength(0);
  });

  it('a 550 for the recipient (EENVELOPE) is permanent; a 450 there is retryable', async () => {
    smtp.rejectRecipient(TO, 550);
    expect(await failure(notifier.send(request()))).toMatchObject({ retryable: false, code: 'smtp_550' });
    smtp.clear();
    smtp.failNext(1, 450, 'Mailbox busy', { at: 'rcpt' });
    expect(await failure(notifier.send(request()))).toMatchObject({ retryable: true, code: 'smtp_450' });
    expect(smtp.messages).toHaveLength(0);
  });

  it.each([
    ['CRLF + RCPT TO', `${TO}\r\nRCPT TO:<thief@evil.test>`],
    ['bare LF', `${TO}\nBcc: thief@evil.test`],
    ['an address list', `${TO}, thief@evil.test`],
    ['a display name', 'Thief <thief@evil.test>'],
    ['angle brackets', `<${TO}>`],
    ['a space', 'finance managers@example.com'],
    ['a NUL', `${TO}\u0000`],
  ])('refuses a recipient with %s permanently and sends nothing', async (_what, address) => {
    const err = await failure(notifier.send(request(address)));
    expect(err).toMatchObject({ retryable: false, code: 'invalid_recipient' });
    // Nothing went out: the next good message is the only one the server ever saw.
    await notifier.send(request());
    await smtp.waitForMessages(1);
    expect(smtp.messages.map((m) => m.envelope.to)).toEqual([[TO]]);
  });

  it('an already aborted signal sends nothing and is retryable', async () => {
    const err = await failure(notifier.send(request(), AbortSignal.abort()));
    expect(err).toMatchObject({ retryable: true, code: 'aborted' });
    expect(smtp.messages).toHaveLength(0);
  });
});

describe('email notifier: outages and credentials', () => {
  let smtp: SmtpHandle;
  let notifier: Notifier | undefined;

  beforeEach(async () => {
    smtp = await startSmtp();
  });
  afterEach(async () => {
    await notifier?.close();
    notifier = undefined;
    await smtp.close();
  });

  const credentialedUrl = (): string => `smtp://user:${PASSWORD}@127.0.0.1:${smtp.port}`;

  it('server down: retryable, and the error names neither the password nor the credentialed URL', async () => {
    notifier = createEmailNotifier({ smtp: credentialedUrl(), from: FROM });
    await smtp.down();
    const err = await failure(notifier.send(request()));
    expect(err.retryable).toBe(true);
    expect(err.code).toMatch(/^smtp_(esocket|econnection|econnrefused)$/);
    expect(err.message).toContain(`127.0.0.1:${smtp.port}`);
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain('user:');
    expect(JSON.stringify(err)).not.toContain(PASSWORD);
  });

  it('recovers on its own once the server is back (pooled transport reconnects)', async () => {
    notifier = createEmailNotifier({ smtp: smtp.url, from: FROM });
    await notifier.send(request());
    await smtp.down();
    expect((await failure(notifier.send(request()))).retryable).toBe(true);
    await smtp.up();
    await notifier.send(request());
    await smtp.waitForMessages(2);
    expect(smtp.messages).toHaveLength(2);
  });

  it('rejected credentials: retryable, says it is the SMTP authentication, never shows the password', async () => {
    // The harness server offers AUTH but has no onAuth handler, so every login gets 535.
    notifier = createEmailNotifier({ smtp: credentialedUrl(), from: FROM });
    const err = await failure(notifier.send(request()));
    expect(err).toMatchObject({ retryable: true, code: 'smtp_auth' });
    expect(err.message).toMatch(/SMTP authentication failed/);
    expect(err.message).toContain('channels.email.smtp');
    expect(err.message).not.toContain(PASSWORD);
    expect(smtp.messages).toHaveLength(0);
  });

  it('the object form of the config works the same way', async () => {
    notifier = createEmailNotifier({ smtp: { host: '127.0.0.1', port: smtp.port, secure: false }, from: FROM });
    await notifier.send(request());
    await smtp.waitForMessages(1);
    expect(smtp.messages).toHaveLength(1);

    await notifier.close();
    notifier = createEmailNotifier({ smtp: { host: '127.0.0.1', port: smtp.port, user: 'user', pass: PASSWORD }, from: FROM });
    const err = await failure(notifier.send(request()));
    expect(err.code).toBe('smtp_auth');
    expect(err.message).not.toContain(PASSWORD);
  });
});
