/**
 * Bad input at POST /ingest against the running daemon (daemon.md "Ingest"): each kind of bad request
 * gets its status, records that do not normalise are reported per record (202) and kept in the
 * dead-letter list while the good records of the same body still alert, and the daemon stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { signHmac } from '../../../src/http/auth.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  CFO, INGEST_TOKEN, itemUsage, postIngest, readyStatus, startInProcess, usageBatch, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSlack, type SlackHandle } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';

const MAX_BODY = 8 * 1024;
const HMAC_SECRET = 'hmac-secret-for-tests';
const idOf = (r: Record<string, unknown>) => alertId(r.uuid as string, 'policies/finance.yaml', 'Company card used');

describe('bad input at /ingest', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let cfg: DaemonConfig;
  let signedCfg: DaemonConfig;
  let d: InProcessDaemon;
  let signed: InProcessDaemon;
  const keys = new Keys(hashTagged('vaultwatch'));

  beforeAll(async () => {
    [redis, smtp, slack] = await Promise.all([startRedis(), startSmtp(), startSlack()]);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token }, maxBody: '8kb' });
    d = await startInProcess(cfg.configPath);
  });
  afterAll(async () => {
    await d?.stop();
    await signed?.stop();
    await Promise.all([smtp?.close(), slack?.close()]);
    await redis?.stop();
    await cfg?.remove();
    await signedCfg?.remove();
  });

  it('malformed JSON and NDJSON bodies -> 400 saying where parsing failed', async () => {
    const json = await postIngest(d.url, '{"uuid": "X", "timestamp": }');
    expect(json.status).toBe(400);
    expect(json.body.message).toMatch(/invalid JSON at position \d+/);

    const ndjson = await postIngest(d.url, `${JSON.stringify(itemUsage())}\n{"uuid": "Y",,}\n`, { contentType: 'application/x-ndjson' });
    expect(ndjson.status).toBe(400);
    expect(ndjson.body.message).toMatch(/^line 2: invalid JSON/);

    const empty = await postIngest(d.url, '');
    expect(empty.status).toBe(400);
  });

  it('missing or wrong token -> 401 with WWW-Authenticate: Bearer', async () => {
    const missing = await postIngest(d.url, itemUsage(), { token: null });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer realm="vaultwatch"/);

    const wrong = await postIngest(d.url, itemUsage(), { token: `${INGEST_TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);

    const basic = await postIngest(d.url, itemUsage(), { token: null, headers: { authorization: `Basic ${Buffer.from(`u:${INGEST_TOKEN}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
    expect(JSON.stringify(missing.body) + JSON.stringify(wrong.body)).not.toContain(INGEST_TOKEN);
  });

  it('a body over max_body -> 413; another content type -> 415', async () => {
    const big = usageBatch(Math.ceil(MAX_BODY / 500));
    expect(JSON.stringify(big).length).toBeGreaterThan(MAX_BODY);
    const tooBig = await postIngest(d.url, big);
    expect(tooBig.status).toBe(413);

    const text = await postIngest(d.url, JSON.stringify(itemUsage()), { contentType: 'text/plain' });
    expect(text.status).toBe(415);
    const form = await postIngest(d.url, 'a=b', { contentType: 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    // Nothing of the refused bodies was stored.
    expect(await redis.client().xlen(keys.intake)).toBe(0);
  });

  it('records that do not normalise -> 202 with per-record rejections, dead-lettered; the good ones in the same body still alert', async () => {
    const good1 = itemUsage();
    const good2 = itemUsage({ action: 'reveal' });
    const badTime: Record<string, unknown> = { ...itemUsage(), timestamp: 'yesterday' };
    const noItem = itemUsage();
    delete noItem.item_uuid;
    const unknown = { hello: 'world' };
    const signIn = { uuid: 'SIGNIN0000000000000000000A', session_uuid: 'S1', timestamp: '2026-03-13T02:05:44Z', category: 'success', type: 'credentials_ok' };
    const body = [good1, badTime, unknown, good2, noItem, signIn];

    const answer = await postIngest(d.url, body);
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({
      accepted: 2,
      duplicates: 0,
      skipped: 1,
      rejected: [
        { index: 1, id: badTime.uuid, reason: 'timestamp: not a date' },
        { index: 2, reason: expect.stringContaining('unrecognised record') },
        { index: 4, id: noItem.uuid, reason: 'item_uuid: missing' },
      ],
    });

    // The dead-letter list holds the rejected records themselves, with their reasons.
    const dead = (await redis.client().lrange(keys.deadEvents, 0, -1)).map((s) => JSON.parse(s) as { source: string; reason: string; record: unknown });
    expect(dead).toHaveLength(3);
    expect(dead).toEqual(expect.arrayContaining([
      expect.objectContaining({ source: 'webhook', reason: 'timestamp: not a date', record: badTime }),
      expect.objectContaining({ source: 'webhook', reason: expect.stringContaining('unrecognised record'), record: unknown }),
      expect.objectContaining({ source: 'webhook', reason: 'item_uuid: missing', record: noItem }),
    ]));

    // The good records alert as usual.
    const mails = await smtp.waitForMessages(2);
    expect(mails.map((m) => m.parsed.headers.get('x-vaultwatch-alert-id')).sort()).toEqual([idOf(good1), idOf(good2)].sort());
    expect(mails.every((m) => m.envelope.to[0] === CFO)).toBe(true);
    const posts = await slack.waitForMessages(2, 15_000);
    expect(posts.map((m) => (m.metadata!.event_payload as { alert_id: string }).alert_id).sort()).toEqual([idOf(good1), idOf(good2)].sort());

    // A body where every record is rejected is still a 202.
    const allBad = await postIngest(d.url, [{ nope: 1 }], {});
    expect(allBad.status).toBe(202);
    expect(allBad.body).toMatchObject({ accepted: 0, rejected: [{ index: 0 }] });
  });

  it('the daemon is still up and ready after all of it', async () => {
    expect((await fetch(`${d.url}/healthz`)).status).toBe(200);
    expect(await readyStatus(d.url)).toBe(200);
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toMatch(/vaultwatch_dead_letters_total\{kind="record"\} 4/);
  });

  it('with hmac_secret: a bad or stale signature -> 401, a good one -> 202', async () => {
    signedCfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, slack: { apiUrl: slack.apiUrl, token: slack.token }, hmacSecret: HMAC_SECRET });
    signed = await startInProcess(signedCfg.configPath);
    const body = JSON.stringify(itemUsage());

    const unsigned = await postIngest(signed.url, body);
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('www-authenticate')).toBeTruthy();

    const forged = await postIngest(signed.url, body, { headers: { ...signHmac('other-secret', body, Date.now()) } });
    expect(forged.status).toBe(401);

    const stale = await postIngest(signed.url, body, { headers: { ...signHmac(HMAC_SECRET, body, Date.now() - 6 * 60_000) } });
    expect(stale.status).toBe(401);

    const tampered = await postIngest(signed.url, body.replace('secure-copy', 'reveal'), { headers: { ...signHmac(HMAC_SECRET, body, Date.now()) } });
    expect(tampered.status).toBe(401);

    const good = await postIngest(signed.url, body, { headers: { ...signHmac(HMAC_SECRET, body, Date.now()) } });
    expect(good.status).toBe(202);
    expect(good.body).toMatchObject({ accepted: 1 });
    expect((await fetch(`${signed.url}/healthz`)).status).toBe(200);
  });
});
