/**
 * A real SMTP server, in-process, for integration tests.
 *
 * It is `smtp-server` (the same protocol engine Nodemailer's authors ship) listening on 127.0.0.1, so
 * the code under test speaks real SMTP over a real socket through nodemailer. Every accepted message
 * is kept raw and parsed with mailparser's `simpleParser`, so tests assert on what a mail client
 * would see (subject, text, html, headers), not on what we meant to send.
 *
 * Faults are the server's own answers: a rejected RCPT or DATA with a chosen reply code (451 =
 * temporary, 550 = permanent), and an outage (listener closed, connections refused) that can end.
 */
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { waitFor } from './wait-for.ts';

export interface ReceivedMail {
  /** The SMTP envelope (MAIL FROM / RCPT TO), which includes Bcc recipients the headers hide. */
  envelope: { from: string; to: string[] };
  parsed: ParsedMail;
  raw: Buffer;
  receivedAt: Date;
}

export type SmtpFaultStage = 'rcpt' | 'data';

export interface SmtpHandle {
  readonly port: number;
  /** `smtp://127.0.0.1:PORT` */
  readonly url: string;
  /** Accepted messages, in arrival order. Recorded before the server answers 250 to DATA. */
  readonly messages: ReceivedMail[];
  /**
   * Reject the next `n` messages with `code`. By default at DATA (after the body was sent, so
   * nodemailer reports `EMESSAGE`); `{ at: 'rcpt' }` rejects every RCPT TO of the transaction instead
   * (nodemailer reports `EENVELOPE`). Either way the rejected message is not recorded.
   */
  failNext(n: number, code: number, message?: string, opts?: { at?: SmtpFaultStage }): void;
  /**
   * Hold every accepted message this long before answering 250 (the message is recorded first), so
   * sends stay in flight for a while: for shutdown and crash tests. 0 (the default) answers at once.
   */
  setDelay(ms: number): void;
  /** Reject RCPT TO for this address (case-insensitive) until clear(). */
  rejectRecipient(address: string, code: number, message?: string): void;
  /** Stop listening and drop open connections (421), so new connections are refused. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  /** Resolves with `messages` once at least `count` have arrived. */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Forget recorded messages and every pending fault. */
  clear(): void;
  /** Shut down for good. */
  close(): Promise<void>;
}

interface Fault {
  code: number;
  message: string;
  at: SmtpFaultStage;
}

export async function startSmtp(): Promise<SmtpHandle> {
  const messages: ReceivedMail[] = [];
  const queued: Fault[] = [];
  const rejectedRecipients = new Map<string, Fault>();
  /** Transactions (`session.id/transaction`) whose fate at RCPT was decided, and how. */
  const rcptDecisions = new Map<string, Fault | null>();
  let delayMs = 0;

  const options = {
    authOptional: true,
    disabledCommands: ['STARTTLS'], // plain text: no self-signed TLS to trust in tests
    logger: false as const,
    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
      const key = `${session.id}/${session.transaction}`;
      // A queued RCPT fault applies to one whole transaction (one message), so decide on its first
      // RCPT and answer every later RCPT of that transaction the same way.
      if (!rcptDecisions.has(key)) {
        rcptDecisions.set(key, queued[0]?.at === 'rcpt' ? (queued.shift() ?? null) : null);
      }
      const fault = rcptDecisions.get(key) ?? rejectedRecipients.get(address.address.toLowerCase());
      callback(fault ? smtpError(fault) : null);
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
      // The body must be read to the end before answering, whatever the answer.
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (err) => {
        stream.removeAllListeners('end'); // answer once
        callback(err);
      });
      stream.once('end', () => {
        if (queued[0]?.at === 'data') {
          callback(smtpError(queued.shift() as Fault));
          return;
        }
        const raw = Buffer.concat(chunks);
        const { mailFrom, rcptTo } = session.envelope;
        // Record before answering 250, so a resolved sendMail() implies the message is in `messages`.
        simpleParser(raw).then(
          (parsed) => {
            messages.push({
              envelope: { from: mailFrom ? mailFrom.address : '', to: rcptTo.map((r) => r.address) },
              parsed,
              raw,
              receivedAt: new Date(),
            });
            if (delayMs > 0) setTimeout(() => callback(null), delayMs);
            else callback(null);
          },
          (err: unknown) => callback(smtpError({ code: 451, message: `test server could not parse the message: ${String(err)}`, at: 'data' })),
        );
      });
    },
  };

  let server = new SMTPServer(options);
  let isUp = false;
  let port = await listen(server, 0);
  isUp = true;

  return {
    get port() {
      return port;
    },
    get url() {
      return `smtp://127.0.0.1:${port}`;
    },
    messages,
    failNext(n, code, message, opts) {
      for (let i = 0; i < n; i++) queued.push({ code, message: message ?? defaultText(code), at: opts?.at ?? 'data' });
    },
    setDelay(ms) {
      delayMs = ms;
    },
    rejectRecipient(address, code, message) {
      rejectedRecipients.set(address.toLowerCase(), { code, message: message ?? defaultText(code), at: 'rcpt' });
    },
    async down() {
      if (!isUp) return;
      isUp = false;
      await shutdown(server);
    },
    async up() {
      if (isUp) return;
      // A fresh instance: smtp-server wires its listeners once per instance.
      server = new SMTPServer(options);
      port = await listen(server, port);
      isUp = true;
    },
    waitForMessages(count, timeoutMs = 10_000) {
      return waitFor(() => messages.length >= count && messages, {
        timeoutMs,
        message: () => `${count} message(s) at the test SMTP server (have ${messages.length})`,
      });
    },
    clear() {
      messages.length = 0;
      queued.length = 0;
      rejectedRecipients.clear();
      rcptDecisions.clear();
      delayMs = 0;
    },
    async close() {
      if (!isUp) return;
      isUp = false;
      await shutdown(server);
    },
  };
}

/** Listen on 127.0.0.1:`port` (0 = any) and return the bound port. */
function listen(server: SMTPServer, port: number): Promise<number> {
  // Without an 'error' listener a client resetting its socket would crash the test process.
  server.on('error', () => {});
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.server.off('error', onError);
      const address = server.server.address();
      if (address === null || typeof address === 'string') reject(new Error('SMTP test server has no TCP address'));
      else resolve(address.port);
    });
  });
}

/**
 * Close the listener and end open sessions now. smtp-server's own close() waits up to 30 s for
 * clients to leave; an outage should be immediate, so send 421 (what a shutting-down MTA says) and
 * hang up, as smtp-server itself does when that grace period runs out.
 */
function shutdown(server: SMTPServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const connection of [...server.connections]) {
      connection.send(421, 'Service not available, closing transmission channel');
      connection.close();
    }
  });
}

function smtpError(fault: Fault): Error {
  return Object.assign(new Error(fault.message), { responseCode: fault.code });
}

function defaultText(code: number): string {
  if (code >= 500) return 'Requested action not taken: mailbox unavailable (test server)';
  return 'Requested action aborted: local error in processing, try again later (test server)';
}
