import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEmailMessage, type EmailMessage } from '../../../src/notifiers/email/message.ts';
import { cardAlert, CTX } from './alert-fixture.ts';

/**
 * Sends built messages through nodemailer to an in-process SMTP server and parses what arrived, so
 * header safety is checked on the wire, not just on our strings.
 */
describe('email round trip through SMTP', () => {
  const received: Array<{ mail: ParsedMail; rcptTo: string[] }> = [];
  let server: SMTPServer;
  let port: number;

  beforeAll(async () => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        simpleParser(stream)
          .then((mail) => {
            received.push({ mail, rcptTo: session.envelope.rcptTo.map((r) => r.address) });
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function send(msg: EmailMessage, to: string): Promise<{ mail: ParsedMail; rcptTo: string[] }> {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    try {
      const before = received.length;
      await transport.sendMail({
        from: { name: 'vaultwatch', address: 'vaultwatch@example.com' },
        to: { name: '', address: to },
        subject: msg.subject,
        text: msg.text,
        html: msg.html,
        messageId: msg.messageId,
        ...(msg.inReplyTo ? { inReplyTo: msg.inReplyTo } : {}),
        ...(msg.references ? { references: msg.references } : {}),
        headers: msg.headers,
      });
      const got = received[before];
      if (!got) throw new Error('message not received');
      return got;
    } finally {
      transport.close();
    }
  }

  it('arrives with subject, Message-ID, headers and both parts intact', async () => {
    const msg = buildEmailMessage(cardAlert(), 'finance-managers@example.com', CTX);
    const { mail, rcptTo } = await send(msg, 'finance-managers@example.com');
    expect(rcptTo).toEqual(['finance-managers@example.com']);
    expect(mail.subject).toBe(msg.subject);
    expect(mail.messageId).toBe(msg.messageId);
    expect(mail.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(mail.text).toContain('Sat 21 Nov 2026 02:14 GMT (Europe/London)');
    expect(mail.html).toContain('Company card');
    expect(mail.headers.get('x-vaultwatch-alert-id')).toBe('q3Zk8Yw1TfVb0aXcR2dE5gH7jL');
    expect(mail.headers.get('x-vaultwatch-severity')).toBe('critical');
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
  });

  it('lets no header be injected through titles, names or rule names', async () => {
    const alert = cardAlert({ rule: 'Rule\r\nX-Injected-Rule: yes' }, {
      item: { id: 'i', title: 'Card\r\nBcc: thief@evil.test\r\nX-Injected-Title: yes\r\n\r\nbody' },
      user: { id: 'u', name: 'Jo\nX-Injected-Name: yes', email: 'jo@example.com' },
    });
    const msg = buildEmailMessage(alert, 'finance-managers@example.com', CTX);
    const { mail, rcptTo } = await send(msg, 'finance-managers@example.com');
    expect(rcptTo).toEqual(['finance-managers@example.com']);
    for (const name of mail.headers.keys()) expect(name).not.toMatch(/^x-injected|^bcc$/);
    expect(mail.subject).toBe(msg.subject);
    expect(mail.subject).toContain('Card Bcc: thief@evil.test X-Injected-Title: yes body');
    expect(mail.headers.get('x-vaultwatch-rule')).toBe('Rule X-Injected-Rule: yes');
  });

  it('threads a follow-up with In-Reply-To and References', async () => {
    const first = buildEmailMessage(cardAlert(), 'finance-managers@example.com', CTX);
    const follow = buildEmailMessage(cardAlert({ id: 'Follow1', follows: 'q3Zk8Yw1TfVb0aXcR2dE5gH7jL', suppressed: true }),
      'finance-managers@example.com', { ...CTX, firstAlert: cardAlert() });
    const { mail } = await send(follow, 'finance-managers@example.com');
    expect(mail.inReplyTo).toBe(first.messageId);
    expect(mail.references).toBe(first.messageId);
    expect(mail.subject).toBe(`Re: ${first.subject}`);
  });
});
