import { describe, expect, it } from 'vitest';
import { signHmac } from '../../../src/http/auth.ts';
import { IntakeUnavailableError } from '../../../src/pipeline/intake.ts';
import {
  AUTH, FakeIntake, JSON_HEADERS, NDJSON_HEADERS, NOW, TOKEN, buildTestApp, fixture, sample,
} from './helpers.ts';

const SECRET = 'hmac-3b9f1d7e2a6c4058';
const CANARY = 'SECRET-CANARY-4471';

function post(app: ReturnType<typeof buildTestApp>['app'], payload: string | Buffer, headers: Record<string, string> = JSON_HEADERS) {
  return app.inject({ method: 'POST', url: '/ingest', headers, payload });
}

describe('POST /ingest: bodies', () => {
  it('accepts one 1Password v2 item-usage record and answers only after the intake stored it', async () => {
    const { app, intake } = buildTestApp();
    const res = await post(app, JSON.stringify(fixture('onepassword', 'v2-secure-copy')));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [], skipped: 0 });
    const stored = intake.stored.get('MKZ6UU3NQ5HCBOFC3KDXHNWXWA');
    expect(stored).toMatchObject({
      source: 'onepassword',
      action: 'copy',
      vendor_action: 'secure-copy',
      time: '2026-03-13T02:05:44.918Z',
      received_at: new Date(NOW).toISOString(),
      item: { id: 'wxcplh5udshnonkzuuqdkbpmle' },
      user: { email: 'sam.okafor@example.com' },
      location: { country: 'CA' },
    });
    expect(intake.calls).toEqual([{ events: [stored], source: 'webhook' }]);
  });

  it('accepts a JSON array; canonical records without a source get the webhook source', async () => {
    const { app, intake } = buildTestApp();
    const minimal = fixture('canonical', 'minimal');
    const res = await post(app, JSON.stringify([fixture('canonical', 'full'), minimal]));
    expect(res.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [], skipped: 0 });
    expect(intake.stored.get('evt-min-1')?.source).toBe('webhook');
    expect(intake.stored.get('evt-2026-03-12-0001')?.item.title).toBe('Company card');
  });

  it('accepts application/json with a charset parameter', async () => {
    const { app } = buildTestApp();
    const res = await post(app, JSON.stringify(fixture('canonical', 'full')), { ...AUTH, 'content-type': 'application/json; charset=utf-8' });
    expect(res.statusCode).toBe(202);
  });

  it('accepts NDJSON: one record per non-blank line, CRLF allowed, index counting records', async () => {
    const { app, intake } = buildTestApp();
    const lines = [
      JSON.stringify(fixture('onepassword', 'v1-reveal')),
      '',
      JSON.stringify({ ...fixture('canonical', 'minimal'), time: 'yesterday' }),
      '   ',
      JSON.stringify(fixture('canonical', 'full')),
    ];
    const res = await post(app, `${lines.join('\r\n')}\r\n`, NDJSON_HEADERS);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      accepted: 2, duplicates: 0, skipped: 0,
      rejected: [{ index: 1, id: 'evt-min-1', reason: 'time: not a date' }],
    });
    expect([...intake.stored.keys()]).toEqual(['56YE2TYN2VFYRLNSHKPW5NVT5E', 'evt-2026-03-12-0001']);
  });

  it('an empty NDJSON body is an empty batch', async () => {
    const { app, intake } = buildTestApp();
    const res = await post(app, '\n\n', NDJSON_HEADERS);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 0, duplicates: 0, rejected: [], skipped: 0 });
    expect(intake.calls).toEqual([]);
  });

  it('reports every record of a mixed batch, in body order, and stores the good ones', async () => {
    const { app, intake, metrics } = buildTestApp();
    const body = [
      fixture('onepassword', 'v2-secure-copy'), // 0: accepted
      { ...fixture('onepassword', 'v1-reveal'), timestamp: 'soon' }, // 1: rejected, id known
      { hello: 'world', password: CANARY }, // 2: garbage
      fixture('canonical', 'full'), // 3: accepted
      fixture('onepassword', 'v2-secure-copy'), // 4: duplicate inside the body
      fixture('onepassword', 'sign-in-attempt'), // 5: skipped, not an item usage
      'just a string', // 6: not an object
      { ...fixture('canonical', 'minimal'), time: '2026-02-30T10:00:00Z' }, // 7: impossible date
      fixture('bitwarden', 'sign-in'), // 8: skipped
    ];
    const res = await post(app, JSON.stringify(body));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      accepted: 2,
      duplicates: 1,
      skipped: 2,
      rejected: [
        { index: 1, id: '56YE2TYN2VFYRLNSHKPW5NVT5E', reason: 'timestamp: not a date' },
        { index: 2, reason: expect.stringMatching(/^unrecognised record: expected a 1Password item-usage record/) },
        { index: 6, reason: expect.stringMatching(/^record: not an object/) },
        { index: 7, id: 'evt-min-1', reason: 'time: not a date' },
      ],
    });
    // The intake saw each id once, in body order.
    expect(intake.calls.map((c) => c.events.map((e) => e.id))).toEqual([['MKZ6UU3NQ5HCBOFC3KDXHNWXWA', 'evt-2026-03-12-0001']]);
    // Rejected records are dead-lettered as received, with the reason.
    expect(intake.deadLetters.map((d) => [d.reason.split(':')[0], d.record, d.source, d.received_at])).toEqual([
      ['timestamp', body[1], 'webhook', new Date(NOW).toISOString()],
      ['unrecognised record', body[2], 'webhook', new Date(NOW).toISOString()],
      ['record', body[6], 'webhook', new Date(NOW).toISOString()],
      ['time', body[7], 'webhook', new Date(NOW).toISOString()],
    ]);

    const text = await metrics.render();
    expect(sample(text, 'vaultwatch_events_received_total{source="webhook"}')).toBe(9);
    expect(sample(text, 'vaultwatch_events_rejected_total{source="webhook",reason="timestamp"}')).toBe(2);
    expect(sample(text, 'vaultwatch_events_rejected_total{source="webhook",reason="shape"}')).toBe(2);
    expect(sample(text, 'vaultwatch_events_skipped_total{source="webhook"}')).toBe(2);
    expect(sample(text, 'vaultwatch_events_duplicate_total{source="webhook"}')).toBe(1);
    expect(sample(text, 'vaultwatch_dead_letters_total{kind="record"}')).toBe(4);
    expect(sample(text, 'vaultwatch_ingest_to_enqueue_seconds_count')).toBe(1);
    expect(sample(text, 'vaultwatch_source_last_success_timestamp_seconds{source="webhook"}')).toBe(NOW / 1000);
    // Lag of the two stored events: 02:05:44.918Z and 21:14:07.482-03:00 (00:14:07.482Z) before 02:10:00Z.
    expect(sample(text, 'vaultwatch_source_lag_seconds_count{source="webhook"}')).toBe(2);
    expect(sample(text, 'vaultwatch_source_lag_seconds_sum{source="webhook"}')).toBeCloseTo(255.082 + 6952.518, 3);
  });

  it('an event id already stored is a duplicate, not accepted again', async () => {
    const { app, intake, metrics } = buildTestApp();
    const body = JSON.stringify(fixture('onepassword', 'v2-secure-copy'));
    expect((await post(app, body)).json()).toMatchObject({ accepted: 1, duplicates: 0 });
    expect((await post(app, body)).json()).toEqual({ accepted: 0, duplicates: 1, rejected: [], skipped: 0 });
    expect(intake.stored.size).toBe(1);
    const text = await metrics.render();
    expect(sample(text, 'vaultwatch_events_duplicate_total{source="webhook"}')).toBe(1);
    // Only the new event counts towards the source lag.
    expect(sample(text, 'vaultwatch_source_lag_seconds_count{source="webhook"}')).toBe(1);
  });

  it('answers 202 even when every record was rejected', async () => {
    const { app, intake } = buildTestApp();
    const res = await post(app, JSON.stringify([{ nope: 1 }, 42]));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 0, duplicates: 0, skipped: 0 });
    expect(res.json().rejected.map((r: { index: number }) => r.index)).toEqual([0, 1]);
    expect(intake.calls).toEqual([]);
    expect(intake.deadLetters).toHaveLength(2);
  });

  it('passes the app\'s normalise context (catalog lookups) to the normalisers', async () => {
    const { app, intake } = buildTestApp({}, {
      normalizeContext: () => ({ itemVault: (id) => (id === '9d8c7b6a-5f4e-4d3c-8b2a-190817161514' ? 'vault-finance' : undefined) }),
    });
    const res = await post(app, JSON.stringify(fixture('bitwarden', 'no-collection')));
    expect(res.json()).toMatchObject({ accepted: 1, rejected: [] });
    expect([...intake.stored.values()][0]?.vault).toEqual({ id: 'vault-finance' });
  });
});

describe('POST /ingest: bad requests', () => {
  it('400 for bad JSON, saying the position', async () => {
    const { app, intake } = buildTestApp();
    const res = await post(app, '{"uuid": "x", "timestamp": }');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      statusCode: 400, error: 'Bad Request',
      message: "invalid JSON at position 27: unexpected character '}', expected a JSON value",
    });
    expect(intake.calls).toEqual([]);
  });

  it('400 for JSON records one per line sent as application/json, with a hint', async () => {
    const { app } = buildTestApp();
    const res = await post(app, '{"a":1}\n{"b":2}\n');
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe(
      "invalid JSON at position 8 (line 2, column 1): unexpected character '{' after the JSON value; "
      + 'for one record per line send Content-Type: application/x-ndjson',
    );
  });

  it('400 for bad NDJSON, saying the line; nothing of the body is stored', async () => {
    const { app, intake } = buildTestApp();
    const body = [JSON.stringify(fixture('canonical', 'full')), '', '{"id": "evt-2", "time": "2026-03-12T10:00:00Z",', '{}'].join('\n');
    const res = await post(app, body, NDJSON_HEADERS);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('line 3: invalid JSON at column 48: unexpected end of input, expected a property name in double quotes');
    expect(intake.calls).toEqual([]);
    expect(intake.deadLetters).toEqual([]);
  });

  it('400 for an empty JSON body', async () => {
    const { app } = buildTestApp();
    const res = await post(app, '');
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/^empty body/);
  });

  it('413 over the configured size limit', async () => {
    const { app, intake } = buildTestApp({ maxBodyBytes: 1024 });
    const records = Array.from({ length: 5 }, () => fixture('onepassword', 'v2-secure-copy'));
    const res = await post(app, JSON.stringify(records));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ statusCode: 413, error: 'Payload Too Large', message: 'body larger than the limit of 1024 bytes' });
    expect(intake.calls).toEqual([]);
    // Under the limit is fine.
    expect((await post(app, JSON.stringify(fixture('canonical', 'minimal')))).statusCode).toBe(202);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/jsonl', 'application/json-seq'])('415 for %s', async (type) => {
    const { app, intake } = buildTestApp();
    const res = await post(app, '{}', { ...AUTH, 'content-type': type });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual({
      statusCode: 415, error: 'Unsupported Media Type',
      message: 'expected Content-Type application/json or application/x-ndjson',
    });
    expect(intake.calls).toEqual([]);
  });

  it('415 without a content type', async () => {
    const { app } = buildTestApp();
    expect((await app.inject({ method: 'POST', url: '/ingest', headers: AUTH, payload: '{}' })).statusCode).toBe(415);
    expect((await app.inject({ method: 'POST', url: '/ingest', headers: AUTH })).statusCode).toBe(415);
  });

  it('415 for a compressed body', async () => {
    const { app } = buildTestApp();
    const res = await post(app, '{}', { ...JSON_HEADERS, 'content-encoding': 'gzip' });
    expect(res.statusCode).toBe(415);
  });

  it('404 when no webhook source is configured', async () => {
    const { app } = buildTestApp(null);
    const res = await post(app, JSON.stringify(fixture('canonical', 'full')));
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });
});

describe('POST /ingest: bearer token', () => {
  const body = JSON.stringify(fixture('canonical', 'full'));

  it.each([
    ['missing', {}, 'Bearer realm="vaultwatch"'],
    ['wrong', { authorization: 'Bearer not-the-token' }, 'Bearer realm="vaultwatch", error="invalid_token"'],
    ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, 'Bearer realm="vaultwatch", error="invalid_token"'],
    ['longer than the token', { authorization: `Bearer ${TOKEN}x` }, 'Bearer realm="vaultwatch", error="invalid_token"'],
    ['another scheme', { authorization: `Basic ${TOKEN}` }, 'Bearer realm="vaultwatch", error="invalid_token"'],
    ['empty', { authorization: '' }, 'Bearer realm="vaultwatch"'],
  ])('401 with WWW-Authenticate when the token is %s', async (_name, auth, challenge) => {
    const { app, intake } = buildTestApp();
    const res = await post(app, body, { 'content-type': 'application/json', ...auth });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(challenge);
    expect(res.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    expect(intake.calls).toEqual([]);
  });

  it('refuses before reading the body: a wrong token gets 401, not 413 or 415', async () => {
    const { app } = buildTestApp({ maxBodyBytes: 10 });
    expect((await post(app, 'x'.repeat(100), { 'content-type': 'application/json' })).statusCode).toBe(401);
    expect((await post(app, 'x', { 'content-type': 'text/plain' })).statusCode).toBe(401);
  });

  it('the scheme is case-insensitive', async () => {
    const { app } = buildTestApp();
    expect((await post(app, body, { 'content-type': 'application/json', authorization: `bearer ${TOKEN}` })).statusCode).toBe(202);
  });
});

describe('POST /ingest: HMAC signature', () => {
  const body = JSON.stringify([fixture('onepassword', 'v2-secure-copy')], null, 2);

  function signed(payload: string, atMs: number, secret = SECRET): Record<string, string> {
    return { ...JSON_HEADERS, ...signHmac(secret, payload, atMs) };
  }

  it('accepts a good signature over the exact bytes', async () => {
    const { app } = buildTestApp({ hmacSecret: SECRET });
    const res = await post(app, body, signed(body, NOW));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 1 });
  });

  it('401 for a signature by another secret, or over other bytes', async () => {
    const { app, intake } = buildTestApp({ hmacSecret: SECRET });
    const other = await post(app, body, signed(body, NOW, 'another-secret'));
    expect(other.statusCode).toBe(401);
    expect(other.json().message).toBe('signature does not match');
    // Same JSON, re-serialised: not the bytes that were signed.
    const reformatted = await post(app, JSON.stringify(JSON.parse(body)), signed(body, NOW));
    expect(reformatted.statusCode).toBe(401);
    expect(intake.calls).toEqual([]);
  });

  it('401 for a timestamp more than 5 minutes off the clock, either way; within 5 minutes is fine', async () => {
    const { app, clock } = buildTestApp({ hmacSecret: SECRET });
    const headers = signed(body, NOW);
    clock.set(NOW + 301_000);
    const late = await post(app, body, headers);
    expect(late.statusCode).toBe(401);
    expect(late.json().message).toMatch(/more than 300 s from the server clock/);
    clock.set(NOW - 301_000);
    expect((await post(app, body, headers)).statusCode).toBe(401);
    clock.set(NOW + 299_000);
    expect((await post(app, body, headers)).statusCode).toBe(202);
  });

  it('401 when the signature headers are missing or malformed', async () => {
    const { app } = buildTestApp({ hmacSecret: SECRET });
    expect((await post(app, body, JSON_HEADERS)).statusCode).toBe(401);
    const good = signed(body, NOW);
    const bad = { ...good, 'X-Vaultwatch-Signature': good['X-Vaultwatch-Signature']!.replace('v1=', 'v0=') };
    expect((await post(app, body, bad)).statusCode).toBe(401);
    expect((await post(app, body, { ...good, 'X-Vaultwatch-Timestamp': 'yesterday' })).statusCode).toBe(401);
  });

  it('with both configured, both are required', async () => {
    const { app } = buildTestApp({ hmacSecret: SECRET });
    const { authorization: _, ...noToken } = signed(body, NOW);
    const res = await post(app, body, noToken);
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="vaultwatch"');
  });

  it('HMAC alone, without a token', async () => {
    const { app } = buildTestApp({ token: undefined, hmacSecret: SECRET });
    const { authorization: _, ...headers } = signed(body, NOW);
    expect((await post(app, body, headers)).statusCode).toBe(202);
    const refused = await post(app, `${body} `, headers);
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Vaultwatch-HMAC realm="vaultwatch"');
  });
});

describe('POST /ingest: Redis unavailable', () => {
  it('503 with Retry-After and nothing acknowledged', async () => {
    const { app, intake, metrics } = buildTestApp();
    intake.down = true;
    const res = await post(app, JSON.stringify([fixture('onepassword', 'v2-secure-copy'), { bad: true }]));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toEqual({
      statusCode: 503, error: 'Service Unavailable', message: 'event store unavailable: nothing was stored; retry later',
    });
    expect(res.json()).not.toHaveProperty('accepted');
    expect(intake.stored.size).toBe(0);
    // Counted once acknowledged, so the client's retry does not count twice.
    expect(sample(await metrics.render(), 'vaultwatch_events_received_total{source="webhook"}')).toBeUndefined();

    intake.down = false;
    const retry = await post(app, JSON.stringify([fixture('onepassword', 'v2-secure-copy'), { bad: true }]));
    expect(retry.statusCode).toBe(202);
    expect(retry.json()).toMatchObject({ accepted: 1, duplicates: 0 });
  });

  it('503 when only the dead letters cannot be stored', async () => {
    const { app, intake } = buildTestApp();
    intake.down = true;
    const res = await post(app, JSON.stringify([{ bad: true }]));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
  });

  it('503 for any other intake failure, without its message, stack or secrets', async () => {
    const intake = new FakeIntake();
    intake.accept = async () => { throw new Error(`ERR at redis://vaultwatch:${CANARY}@redis.internal:6379`); };
    const { app, logs } = buildTestApp({}, { intake });
    const res = await post(app, JSON.stringify(fixture('canonical', 'full')));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).not.toContain(CANARY);
    expect(res.body).not.toContain('redis.internal');
    expect(res.body).not.toMatch(/\n\s+at /);
    const log = logs.join('');
    expect(log).toContain('ingest: intake failed');
    expect(log).toContain('redis://vaultwatch:***@redis.internal');
    expect(log).not.toContain(CANARY);
  });

  it('IntakeUnavailableError is the contract the Redis intake throws', () => {
    expect(new IntakeUnavailableError('x').name).toBe('IntakeUnavailableError');
  });
});

describe('POST /ingest: logs', () => {
  it('never contain the body, the token or the signature', async () => {
    const { app, logs } = buildTestApp({ hmacSecret: SECRET });
    const record = { ...fixture('canonical', 'full'), notes: CANARY };
    const bad = { hello: CANARY, password: CANARY };
    const payload = JSON.stringify([record, bad]);
    const headers = { ...JSON_HEADERS, ...signHmac(SECRET, payload, NOW) };
    expect((await post(app, payload, headers)).statusCode).toBe(202);
    expect((await post(app, '{"x": 1', { ...JSON_HEADERS, authorization: `Bearer ${CANARY}` })).statusCode).toBe(401);
    const log = logs.join('');
    expect(log).toContain('ingest: records rejected'); // the logs are real, not empty
    expect(log).toContain('"level":"debug"');
    for (const secret of [CANARY, TOKEN, SECRET, headers['X-Vaultwatch-Signature']!.slice(3)]) expect(log).not.toContain(secret);
  });
});
