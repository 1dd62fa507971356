/**
 * Self-tests of the integration harness: each helper must behave like the real thing it stands for,
 * as seen through the real client libraries (ioredis, nodemailer, @slack/web-api). If these pass, a
 * failing integration test points at our code, not at the harness.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTransport, type SendMailOptions, type Transporter } from 'nodemailer';
import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  LogLevel,
  WebClient,
  type WebClientOptions,
} from '@slack/web-api';
import { freePort } from '../helpers/free-port.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { REDIS_NOT_FOUND_MESSAGE, startRedis, sweepStaleRedisDirs, type RedisHandle } from '../helpers/redis-server.ts';
import { startSmtp, type SmtpHandle } from '../helpers/smtp-server.ts';
import { startSlack, type SlackHandle } from '../helpers/slack-server.ts';

/** True when something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

describe('freePort', () => {
  it('returns a port nobody listens on, twice in a row different', async () => {
    const a = await freePort();
    const b = await freePort();
    expect(a).toBeGreaterThan(0);
    expect(await accepts(a)).toBe(false);
    expect(b).not.toBe(0);
  });
});

describe('waitFor', () => {
  it('resolves with the first truthy value, retrying through falsy values and throws', async () => {
    let n = 0;
    const value = await waitFor(() => {
      n += 1;
      if (n === 1) throw new Error('not yet');
      return n >= 3 && { n };
    });
    expect(value).toEqual({ n: 3 });
  });

  it('rejects at the deadline with the last value or error', async () => {
    const err = await rejectionOf(waitFor(() => 0, { timeoutMs: 60, message: 'zero to become truthy' }));
    expect(err.message).toMatch(/zero to become truthy not met within 60 ms/);
    expect(err.message).toMatch(/last value: 0/);
    const err2 = await rejectionOf(waitFor(() => Promise.reject(new Error('boom')), { timeoutMs: 60 }));
    expect(err2.message).toMatch(/last error: Error: boom/);
  });

  it('bounds a probe that never settles', async () => {
    const started = Date.now();
    const err = await rejectionOf(waitFor(() => new Promise(() => {}), { timeoutMs: 100 }));
    expect(err.message).toMatch(/never completed/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('redis-server helper', () => {
  const handles: RedisHandle[] = [];
  const start = async (opts?: Parameters<typeof startRedis>[0]): Promise<RedisHandle> => {
    const h = await startRedis(opts);
    handles.push(h);
    return h;
  };
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
  });

  it('starts a private server with the configured policy and answers commands', async () => {
    const redis = await start();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const c = redis.client();
    await c.set('k', 'v');
    expect(await c.get('k')).toBe('v');
    expect(await c.config('GET', 'save')).toEqual(['save', '']);
    expect(await c.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(await c.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    expect(await c.config('GET', 'dir')).toEqual(['dir', redis.dir]);
    expect(readFileSync(`${redis.dir}/redis.pid`, 'utf8').trim()).toBe(String(redis.pid));
  });

  it('keeps acknowledged writes across SIGKILL + restart with AOF appendfsync always', async () => {
    const redis = await start({ appendonly: true, appendfsync: 'always' });
    const c = redis.client();
    expect(await c.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    for (let i = 0; i < 100; i++) await c.set(`key:${i}`, String(i));
    const pid = redis.pid;
    await redis.kill('SIGKILL');
    expect(redis.pid).toBeUndefined();
    expect(await accepts(redis.port)).toBe(false);
    await redis.restart();
    expect(redis.pid).not.toBe(pid);
    // The same client reconnects by itself: same port.
    expect(await c.get('key:0')).toBe('0');
    expect(await c.get('key:99')).toBe('99');
    expect(await c.dbsize()).toBe(100);
  });

  it('loses everything across SIGKILL + restart without AOF (no RDB either)', async () => {
    const redis = await start();
    const c = redis.client();
    await c.set('k', 'v');
    await redis.kill();
    await redis.restart();
    expect(await c.get('k')).toBeNull();
  });

  it('SIGTERM is a clean shutdown; restart() of a running server works too', async () => {
    const redis = await start({ appendonly: true });
    const c = redis.client();
    await c.set('k', 'v'); // everysec: SIGTERM still flushes the AOF on shutdown
    await redis.restart();
    expect(await c.get('k')).toBe('v');
    await redis.kill('SIGTERM');
    expect(await accepts(redis.port)).toBe(false);
  });

  it('stop() kills the server and removes its temp dir', async () => {
    const redis = await startRedis();
    const c = redis.client();
    expect(await c.ping()).toBe('PONG');
    await redis.stop();
    expect(await accepts(redis.port)).toBe(false);
    expect(existsSync(redis.dir)).toBe(false);
    expect(c.status).toBe('end');
    await redis.stop(); // idempotent
  });

  it('reports a port that is taken with the server log, and leaves no temp dir', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    // Only this process's dirs: other test files may be starting servers in parallel.
    const ours = (): string[] =>
      readdirSync(tmpdir()).filter((e) => {
        try {
          return e.startsWith('vaultwatch-redis-') && readFileSync(join(tmpdir(), e, 'owner.pid'), 'utf8') === String(process.pid);
        } catch {
          return false;
        }
      });
    const before = ours();
    try {
      const err = await rejectionOf(startRedis({ port }));
      expect(err.message).toMatch(/exited \(code 1/);
      expect(err.message).toMatch(/Address already in use/);
    } finally {
      blocker.close();
    }
    expect(ours().filter((e) => !before.includes(e))).toEqual([]);
  });

  it('fails with an install hint when redis-server is not on PATH', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await rejectionOf(startRedis());
      expect(err.message).toBe(REDIS_NOT_FOUND_MESSAGE);
      expect(err.message).toContain('apt-get install -y redis-server');
    } finally {
      process.env.PATH = path;
    }
  });

  it('does not outlive a test process that is SIGKILLed, and the next run sweeps its dir', async () => {
    // A separate Node process starts a server, reports it, and is then killed without any chance
    // to clean up. Linux: setpriv's parent-death signal kills the server at once.
    const script = `
      import { startRedis } from './test/helpers/redis-server.ts';
      const r = await startRedis();
      console.log(JSON.stringify({ pid: r.pid, port: r.port, dir: r.dir }));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const info = await waitFor(() => out.includes('\n') && (JSON.parse(out) as { pid: number; port: number; dir: string }), {
      timeoutMs: 20_000,
      message: 'child to report its redis-server',
    });
    expect(await accepts(info.port)).toBe(true);

    child.kill('SIGKILL');
    await waitFor(async () => !(await accepts(info.port)), { message: 'orphaned redis-server to stop listening' });
    if (process.platform === 'linux') {
      // Dead means gone or a zombie waiting for init to reap it.
      await waitFor(() => {
        try {
          return readFileSync(`/proc/${info.pid}/stat`, 'utf8').split(' ')[2] === 'Z';
        } catch {
          return true;
        }
      });
    }
    await waitFor(() => child.exitCode !== null || child.signalCode !== null);
    expect(existsSync(info.dir)).toBe(true);
    sweepStaleRedisDirs();
    expect(existsSync(info.dir)).toBe(false);
  });
});

describe('smtp-server helper', () => {
  let smtp: SmtpHandle;
  let transport: Transporter;
  beforeAll(async () => {
    smtp = await startSmtp();
    // Short timeouts: nodemailer's defaults (2 min connect) would hide an outage behind a test timeout.
    transport = createTransport({
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      connectionTimeout: 2_000,
      greetingTimeout: 2_000,
      socketTimeout: 5_000,
    });
  });
  beforeEach(() => smtp.clear());
  afterAll(async () => {
    transport.close();
    await smtp.close();
  });

  const mail = (overrides: Partial<SendMailOptions> = {}): SendMailOptions => ({
    from: { name: 'Vaultwatch', address: 'vaultwatch@example.com' },
    to: [{ name: 'Vault Manager', address: 'manager@example.com' }],
    subject: 'Sensitive item viewed',
    text: 'alice viewed "Prod DB root"',
    html: '<p>alice viewed <b>Prod DB root</b></p>',
    ...overrides,
  });

  it('receives a multipart message from nodemailer and parses it like a mail client', async () => {
    const info = await transport.sendMail(mail({ bcc: 'audit@example.com', messageId: '<alert-1@vaultwatch.test>' }));
    expect(info.accepted).toEqual(['manager@example.com', 'audit@example.com']);
    // Recorded before the 250 reply, so no waiting is needed after sendMail resolves.
    expect(smtp.messages).toHaveLength(1);
    const [received] = await smtp.waitForMessages(1);
    expect(received!.envelope).toEqual({ from: 'vaultwatch@example.com', to: ['manager@example.com', 'audit@example.com'] });
    expect(received!.parsed.subject).toBe('Sensitive item viewed');
    expect(received!.parsed.messageId).toBe('<alert-1@vaultwatch.test>');
    expect(received!.parsed.text?.trim()).toBe('alice viewed "Prod DB root"');
    expect(received!.parsed.html).toContain('<b>Prod DB root</b>');
    expect(received!.parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(received!.parsed.headers.has('bcc')).toBe(false);
    expect(received!.raw.toString()).toContain('Subject: Sensitive item viewed');
  });

  it('failNext(1, 451) rejects one message with responseCode 451, then accepts the next', async () => {
    smtp.failNext(1, 451);
    const err = await rejectionOf(transport.sendMail(mail()));
    expect(err.responseCode).toBe(451);
    expect(err.code).toBe('EMESSAGE');
    expect(smtp.messages).toHaveLength(0);
    await transport.sendMail(mail());
    expect(smtp.messages).toHaveLength(1);
  });

  it('failNext(1, 550) gives responseCode 550; at RCPT it is an envelope error', async () => {
    smtp.failNext(1, 550, 'No such user here');
    const err = await rejectionOf(transport.sendMail(mail()));
    expect(err.responseCode).toBe(550);
    expect(err.message).toContain('No such user here');

    smtp.failNext(1, 550, undefined, { at: 'rcpt' });
    const err2 = await rejectionOf(transport.sendMail(mail()));
    expect(err2.code).toBe('EENVELOPE');
    expect(err2.responseCode).toBe(550);
    expect(smtp.messages).toHaveLength(0);
  });

  it('rejectRecipient() refuses one address and delivers to the rest', async () => {
    smtp.rejectRecipient('Gone@Example.com', 550);
    const info = await transport.sendMail(mail({ to: ['gone@example.com', 'manager@example.com'] }));
    expect(info.rejected).toEqual(['gone@example.com']);
    expect(info.accepted).toEqual(['manager@example.com']);
    expect(smtp.messages[0]!.envelope.to).toEqual(['manager@example.com']);
  });

  it('down() refuses connections; up() serves again on the same port', async () => {
    const port = smtp.port;
    await smtp.down();
    expect(await accepts(port)).toBe(false);
    const err = await rejectionOf(transport.sendMail(mail()));
    // nodemailer 10.6 reports a refused connection as ESOCKET (command 'CONN'), not ECONNECTION.
    expect(['ECONNECTION', 'ESOCKET']).toContain(err.code);
    expect(err.message).toContain('ECONNREFUSED');
    await smtp.up();
    expect(smtp.port).toBe(port);
    await transport.sendMail(mail());
    expect(smtp.messages).toHaveLength(1);
  });

  it('down() cuts an open pooled connection too', async () => {
    const pooled = createTransport({ host: '127.0.0.1', port: smtp.port, pool: true, maxConnections: 1 });
    try {
      await pooled.sendMail(mail());
      await smtp.down();
      // The idle pooled connection got 421 + close, so the pool dials again and is refused.
      const err = await rejectionOf(pooled.sendMail(mail()));
      expect(err.code).toBe('ESOCKET');
      await smtp.up();
      await pooled.sendMail(mail());
      expect(smtp.messages).toHaveLength(2);
    } finally {
      pooled.close();
    }
  });
});

describe('slack-server helper (driven by the real @slack/web-api WebClient)', () => {
  let slack: SlackHandle;
  const client = (options: WebClientOptions = {}, token = slack.token): WebClient =>
    new WebClient(token, {
      slackApiUrl: slack.apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logLevel: LogLevel.ERROR, // the down() test would otherwise print the client's WARN
      ...options,
    });
  beforeAll(async () => {
    slack = await startSlack({
      knownChannels: ['C0ALERTS', 'C0AUDIT'],
      users: [{ id: 'U0ALICE', email: 'alice@example.com', real_name: 'Alice Manager' }],
    });
  });
  beforeEach(() => slack.clear());
  afterAll(async () => {
    await slack.close();
  });

  it('answers auth.test for the test token', async () => {
    const res = await client().auth.test();
    expect(res).toMatchObject({ ok: true, user_id: 'U0VAULTBOT', team_id: 'T0VAULTWATCH' });
    expect(slack.apiUrl).toBe(`http://127.0.0.1:${slack.port}/api/`);
    expect(slack.calls[0]).toMatchObject({ method: 'auth.test', status: 200 });
    expect(slack.calls[0]!.headers.authorization).toBe('Bearer xoxb-test-token');
  });

  it('records chat.postMessage with blocks and metadata decoded from the form body', async () => {
    const blocks = [
      { type: 'header', text: { type: 'plain_text', text: 'Sensitive item viewed' } },
      { type: 'section', text: { type: 'mrkdwn', text: '*alice* viewed `Prod DB root`', verbatim: true } },
    ];
    const metadata = { event_type: 'vaultwatch_alert', event_payload: { alert_id: 'a-1', severity: 'high' } };
    const res = await client().chat.postMessage({ channel: 'C0ALERTS', text: 'alice viewed Prod DB root', blocks, metadata, unfurl_links: false });
    expect(res.ok).toBe(true);
    expect(res.channel).toBe('C0ALERTS');
    expect(res.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(res.message?.text).toBe('alice viewed Prod DB root');

    expect(slack.calls[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const [msg] = await slack.waitForMessages(1);
    expect(msg).toMatchObject({ channel: 'C0ALERTS', ts: res.ts, text: 'alice viewed Prod DB root', blocks, metadata });
    expect(msg!.params.unfurl_links).toBe('false'); // form values arrive as strings
  });

  it('accepts a JSON body too, with the token only in the header', async () => {
    const res = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8', Authorization: `Bearer ${slack.token}` },
      body: JSON.stringify({ channel: 'C0ALERTS', text: 'json', blocks: [{ type: 'divider' }] }),
    });
    expect(await res.json()).toMatchObject({ ok: true, channel: 'C0ALERTS' });
    expect(slack.messages[0]).toMatchObject({ text: 'json', blocks: [{ type: 'divider' }] });
    const bad = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${slack.token}` },
      body: '{not json',
    });
    expect(await bad.json()).toEqual({ ok: false, error: 'invalid_json' });
  });

  it('gives unique increasing ts values and threads replies under their parent', async () => {
    const web = client();
    const parent = await web.chat.postMessage({ channel: 'C0ALERTS', text: 'alert' });
    const reply = await web.chat.postMessage({ channel: 'C0ALERTS', text: 'justification: on call', thread_ts: parent.ts! });
    const other = await web.chat.postMessage({ channel: 'C0AUDIT', text: 'audit copy' });
    expect(Number(reply.ts)).toBeGreaterThan(Number(parent.ts));
    expect(Number(other.ts)).toBeGreaterThan(Number(reply.ts));
    const replies = await slack.waitForMessages(1, 1_000, (m) => m.thread_ts === parent.ts && m.ts !== parent.ts);
    expect(replies[0]!.text).toBe('justification: on call');

    const thread = await web.conversations.replies({ channel: 'C0ALERTS', ts: parent.ts! });
    expect(thread.messages?.map((m) => m.text)).toEqual(['alert', 'justification: on call']);
    expect(thread.messages?.[0]).toMatchObject({ reply_count: 1, thread_ts: parent.ts });
  });

  it('surfaces a 429 as WebAPIRateLimitedError with retryAfter, then recovers', async () => {
    slack.rateLimit('chat.postMessage', 1, 2);
    const err = await rejectionOf(client().chat.postMessage({ channel: 'C0ALERTS', text: 'x' }));
    expect(err).toBeInstanceOf(WebAPIRateLimitedError);
    expect((err as unknown as WebAPIRateLimitedError).retryAfter).toBe(2);
    expect(slack.calls[0]).toMatchObject({ method: 'chat.postMessage', status: 429 });
    expect(slack.messages).toHaveLength(0);
    await client().chat.postMessage({ channel: 'C0ALERTS', text: 'x' });
    expect(slack.messages).toHaveLength(1);
  });

  it('rate-limits only the given channel when asked to', async () => {
    slack.rateLimit('chat.postMessage', 1, 1, { channel: 'C0AUDIT' });
    await client().chat.postMessage({ channel: 'C0ALERTS', text: 'not limited' });
    const err = await rejectionOf(client().chat.postMessage({ channel: 'C0AUDIT', text: 'limited' }));
    expect(err).toBeInstanceOf(WebAPIRateLimitedError);
  });

  it('surfaces failNext(…, 503) as WebAPIHTTPError', async () => {
    slack.failNext('chat.postMessage', 1, 503);
    const err = await rejectionOf(client().chat.postMessage({ channel: 'C0ALERTS', text: 'x' }));
    expect(err).toBeInstanceOf(WebAPIHTTPError);
    expect((err as unknown as WebAPIHTTPError).statusCode).toBe(503);
  });

  it('answers channel_not_found for an unknown channel and for errorNext, as platform errors', async () => {
    const err = await rejectionOf(client().chat.postMessage({ channel: 'C0NOPE', text: 'x' }));
    expect(err).toBeInstanceOf(WebAPIPlatformError);
    expect((err as unknown as WebAPIPlatformError).data.error).toBe('channel_not_found');

    slack.errorNext('chat.postMessage', 1, 'not_in_channel');
    const err2 = await rejectionOf(client().chat.postMessage({ channel: 'C0ALERTS', text: 'x' }));
    expect((err2 as unknown as WebAPIPlatformError).data.error).toBe('not_in_channel');
    expect(slack.messages).toHaveLength(0);
  });

  it('answers invalid_auth (HTTP 200) to a wrong token', async () => {
    const err = await rejectionOf(client({}, 'xoxb-wrong').chat.postMessage({ channel: 'C0ALERTS', text: 'x' }));
    expect(err).toBeInstanceOf(WebAPIPlatformError);
    expect((err as unknown as WebAPIPlatformError).data.error).toBe('invalid_auth');
    expect(slack.calls[0]!.status).toBe(200);
  });

  it('finds users by email and opens a DM with them', async () => {
    const web = client();
    const found = await web.users.lookupByEmail({ email: 'ALICE@example.com' });
    expect(found.user?.id).toBe('U0ALICE');
    const dm = await web.conversations.open({ users: found.user!.id! });
    expect(dm.channel?.id).toMatch(/^D/);
    const again = await web.conversations.open({ users: 'U0ALICE' });
    expect(again.channel?.id).toBe(dm.channel?.id);
    await web.chat.postMessage({ channel: dm.channel!.id!, text: 'you viewed Prod DB root' });
    expect(slack.messages[0]!.channel).toBe(dm.channel!.id);

    const err = await rejectionOf(web.users.lookupByEmail({ email: 'nobody@example.com' }));
    expect((err as unknown as WebAPIPlatformError).data.error).toBe('users_not_found');
  });

  it('returns posted messages from conversations.history, newest first, metadata on request', async () => {
    const web = client();
    const metadata = { event_type: 'vaultwatch_alert', event_payload: { alert_id: 'a-2' } };
    await web.chat.postMessage({ channel: 'C0ALERTS', text: 'first', metadata });
    await web.chat.postMessage({ channel: 'C0ALERTS', text: 'second' });
    await web.chat.postMessage({ channel: 'C0AUDIT', text: 'elsewhere' });

    const withMeta = await web.conversations.history({ channel: 'C0ALERTS', include_all_metadata: true });
    expect(withMeta.messages?.map((m) => m.text)).toEqual(['second', 'first']);
    expect(withMeta.messages?.[1]?.metadata).toEqual(metadata);

    const plain = await web.conversations.history({ channel: 'C0ALERTS', limit: 1 });
    expect(plain.messages?.map((m) => m.text)).toEqual(['second']);
    expect(plain.has_more).toBe(true);
    expect(plain.messages?.[0]?.metadata).toBeUndefined();
    const next = await web.conversations.history({ channel: 'C0ALERTS', limit: 1, cursor: plain.response_metadata!.next_cursor! });
    expect(next.messages?.map((m) => m.text)).toEqual(['first']);
  });

  it('edits with chat.update and records chat.postEphemeral apart from channel messages', async () => {
    const web = client();
    const posted = await web.chat.postMessage({ channel: 'C0ALERTS', text: 'alert: pending' });
    const updated = await web.chat.update({ channel: 'C0ALERTS', ts: posted.ts!, text: 'alert: justified' });
    expect(updated.ts).toBe(posted.ts);
    expect(slack.messages[0]).toMatchObject({ text: 'alert: justified', edited: { user: 'U0VAULTBOT' } });
    const eph = await web.chat.postEphemeral({ channel: 'C0ALERTS', user: 'U0ALICE', text: 'thanks' });
    expect(eph.message_ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(slack.ephemeralMessages).toMatchObject([{ channel: 'C0ALERTS', user: 'U0ALICE', text: 'thanks' }]);
    expect(slack.messages).toHaveLength(1);
  });

  it('down() makes requests fail at the network level; up() serves on the same port', async () => {
    const web = client();
    await web.auth.test(); // leave a keep-alive connection open: down() must cut it
    await slack.down();
    const err = await rejectionOf(web.chat.postMessage({ channel: 'C0ALERTS', text: 'x' }));
    expect(err).toBeInstanceOf(WebAPIRequestError);
    await slack.up();
    const res = await web.chat.postMessage({ channel: 'C0ALERTS', text: 'x' });
    expect(res.ok).toBe(true);
  });
});
