/**
 * The webhook notifier against a local node:http server: what is POSTed, that the signature verifies
 * when recomputed independently, and how each answer is classified.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { summarizeAlert } from '../../../src/domain/alert-summary.ts';
import { isNotifyError, NotifyError, type DeliveryRequest } from '../../../src/notifiers/notifier.ts';
import { createWebhookNotifier } from '../../../src/notifiers/webhook/sender.ts';
import { freePort } from '../../helpers/free-port.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { cardAlert, CTX } from '../../unit/notifiers/alert-fixture.ts';

const SECRET = 'whsec-test-0123456789';
/** A whole second, so an HTTP date (second precision) round-trips exactly. */
const NOW = Date.parse('2026-11-21T03:00:00Z');

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (for the timeout test). */
  hang?: boolean;
}

function request(name: string, alert = cardAlert()): DeliveryRequest {
  return { alert, target: { kind: 'webhook', name }, context: CTX };
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

describe('webhook notifier', () => {
  let server: Server;
  let base: string;
  const received: Received[] = [];
  let replies: Reply[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const reply = replies.shift() ?? { status: 204 };
        if (reply.hang) return;
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    received.length = 0;
    replies = [];
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const notifier = (opts: { timeoutMs?: number } = {}) =>
    createWebhookNotifier(
      {
        siem: { url: `${base}/hooks/siem`, secret: SECRET },
        plain: { url: `${base}/hooks/plain` },
      },
      { now: () => NOW, ...opts },
    );

  it('POSTs the alert summary, signed; the signature verifies when recomputed', async () => {
    const result = await notifier().send(request('siem'));
    expect(result).toEqual({ id: '204' });
    expect(received).toHaveLength(1);
    const [req] = received;
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/hooks/siem');
    expect(req!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(req!.headers['idempotency-key']).toBe(`${cardAlert().id}.siem`);

    const timestamp = req!.headers['x-vaultwatch-timestamp'] as string;
    expect(timestamp).toBe(String(NOW / 1000));
    const signature = req!.headers['x-vaultwatch-signature'] as string;
    const expected = `v1=${createHmac('sha256', SECRET).update(`${timestamp}.${req!.body}`).digest('hex')}`;
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(timingSafeEqual(Buffer.from(signature), Buffer.from(expected))).toBe(true);

    const body = JSON.parse(req!.body) as Record<string, unknown>;
    expect(body).toEqual({
      alert: summarizeAlert(cardAlert()),
      alert_id: cardAlert().id,
      message: { text: expect.stringContaining('[CRITICAL] Jo Bloggs revealed the card code of Company card') },
    });
  });

  it('without a secret, no signature headers; the Idempotency-Key is still there', async () => {
    await notifier().send(request('plain'));
    expect(received[0]!.headers['x-vaultwatch-signature']).toBeUndefined();
    expect(received[0]!.headers['x-vaultwatch-timestamp']).toBeUndefined();
    expect(received[0]!.headers['idempotency-key']).toBe(`${cardAlert().id}.plain`);
  });

  it.each([500, 502, 503, 408])('%i is retryable', async (status) => {
    replies.push({ status, body: 'try later' });
    const err = await failure(notifier().send(request('siem')));
    expect(err).toMatchObject({ retryable: true, code: `http_${status}` });
    expect(err.retryAfterMs).toBeUndefined();
  });

  it.each([400, 401, 404, 410, 422])('%i is permanent', async (status) => {
    replies.push({ status, body: '{"error":"bad"}' });
    const err = await failure(notifier().send(request('siem')));
    expect(err).toMatchObject({ retryable: false, code: `http_${status}` });
    expect(err.message).toContain('bad');
  });

  it('a redirect is permanent and not followed', async () => {
    replies.push({ status: 301, headers: { Location: `${base}/elsewhere` } });
    expect(await failure(notifier().send(request('siem')))).toMatchObject({ retryable: false, code: 'http_301' });
    expect(received.map((r) => r.url)).toEqual(['/hooks/siem']);
  });

  it('429 honours Retry-After in seconds', async () => {
    replies.push({ status: 429, headers: { 'Retry-After': '7' } });
    expect(await failure(notifier().send(request('siem')))).toMatchObject({ retryable: true, retryAfterMs: 7000, code: 'http_429' });
  });

  it('429 honours Retry-After as an HTTP date', async () => {
    replies.push({ status: 429, headers: { 'Retry-After': new Date(NOW + 30_000).toUTCString() } });
    expect(await failure(notifier().send(request('siem')))).toMatchObject({ retryable: true, retryAfterMs: 30_000 });
  });

  it('429 without Retry-After is retryable with the queue’s own backoff', async () => {
    replies.push({ status: 429 });
    const err = await failure(notifier().send(request('siem')));
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('a network failure is retryable, and the error does not show the URL path (it may be a secret)', async () => {
    const port = await freePort();
    const n = createWebhookNotifier({ teams: { url: `http://127.0.0.1:${port}/webhookb2/SECRET-PATH-123` } });
    const err = await failure(n.send(request('teams')));
    expect(err).toMatchObject({ retryable: true, code: 'network' });
    expect(err.message).toContain(`webhook teams (127.0.0.1:${port})`);
    expect(err.message).not.toContain('SECRET-PATH-123');
  });

  it('a server that never answers times out, retryable', async () => {
    replies.push({ status: 200, hang: true });
    const err = await failure(notifier({ timeoutMs: 200 }).send(request('siem')));
    expect(err).toMatchObject({ retryable: true, code: 'timeout' });
    await waitFor(() => received.length === 1);
  });

  it('an unknown webhook name is permanent and sends nothing', async () => {
    expect(await failure(notifier().send(request('nope')))).toMatchObject({ retryable: false, code: 'unknown_webhook' });
    expect(await failure(notifier().send(request('toString')))).toMatchObject({ retryable: false, code: 'unknown_webhook' });
    expect(received).toHaveLength(0);
  });
});
