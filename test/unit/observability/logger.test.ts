import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactText, redactUrl } from '../../../src/observability/logger.ts';

const CANARY = 'SECRET-CANARY-9231';

function capture(level = 'info') {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
  const logger = createLogger({ level, destination });
  return { logger, lines, text: () => lines.join(''), json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('never writes a token, a password or SMTP credentials', () => {
    const { logger, text, json } = capture();
    logger.info({
      token: CANARY,
      smtp: `smtp://alerts%40example.com:${CANARY}@mail.example.com:587`,
      url: `redis://:${CANARY}@10.0.0.5:6379/0`,
      source: { name: 'onepassword', token: CANARY, url: 'https://events.1password.com' },
      channels: { email: { smtp: { host: 'mail.example.com', user: 'alerts', pass: CANARY } }, slack: { token: CANARY, signing_secret: CANARY } },
      bitwarden: { client_id: 'organization.1234', client_secret: CANARY },
      webhook: { hmac_secret: CANARY, password: CANARY },
      req: { headers: { authorization: `Bearer ${CANARY}`, cookie: CANARY, 'set-cookie': CANARY, 'user-agent': 'curl/8' } },
      deep: { a: { b: { c: { secret: CANARY, note: `see https://bob:${CANARY}@example.com/x` } } } },
    }, 'config loaded');
    const out = text();
    expect(out).not.toContain(CANARY);
    const [line] = json();
    // What is not secret survives, so the log is still useful.
    expect(line).toMatchObject({
      msg: 'config loaded',
      level: 'info',
      smtp: 'smtp://alerts%40example.com:***@mail.example.com:587',
      url: 'redis://:***@10.0.0.5:6379/0',
      source: { name: 'onepassword', token: '[REDACTED]', url: 'https://events.1password.com' },
      bitwarden: { client_id: 'organization.1234', client_secret: '[REDACTED]' },
      req: { headers: { authorization: '[REDACTED]', 'set-cookie': '[REDACTED]', 'user-agent': 'curl/8' } },
      deep: { a: { b: { c: { secret: '[REDACTED]', note: 'see https://bob:***@example.com/x' } } } },
    });
  });

  it('hides secrets in messages, interpolated arguments, errors and child bindings', () => {
    const { logger, text } = capture();
    logger.warn(`cannot connect to smtp://u:${CANARY}@mail.example.com`);
    logger.warn('sending with %s', `Bearer ${CANARY}`);
    logger.error({ err: new Error(`401 from https://api.example.com/events?token=${CANARY}`) }, 'poll failed');
    logger.child({ url: `redis://default:${CANARY}@redis:6379` }).info('child');
    logger.info({ slack: `xoxb-123456-${CANARY}` }, 'slack');
    logger.error(new Error(`smtp://u:${CANARY}@mail.example.com refused`));
    logger.error({ err: new Error(`smtp://u:${CANARY}@mail.example.com refused`) });
    const out = text();
    expect(out).toContain('smtp://u:***@mail.example.com');
    expect(out).toContain('token=***');
    expect(out).toContain('redis://default:***@redis:6379');
    expect(out).not.toContain(CANARY);
  });

  it('leaves the caller\'s objects untouched', () => {
    const { logger } = capture();
    const config = { token: CANARY, smtp: `smtp://u:${CANARY}@h` };
    logger.info({ config }, 'x');
    expect(config).toEqual({ token: CANARY, smtp: `smtp://u:${CANARY}@h` });
  });

  it('honours the level', () => {
    const { logger, lines } = capture('warn');
    logger.info('quiet');
    logger.warn('loud');
    expect(lines).toHaveLength(1);
  });
});

describe('redactText', () => {
  it.each([
    ['smtp://user:p%40ss@mail:587', 'smtp://user:***@mail:587'],
    ['smtps://user:p@ss@mail:465/x', 'smtps://user:***@mail:465/x'],
    ['redis://:pw@localhost:6379', 'redis://:***@localhost:6379'],
    ['https://example.com/path@x', 'https://example.com/path@x'],
    ['mailto:someone@example.com', 'mailto:someone@example.com'],
    ['Authorization: Bearer abcdefgh12345', 'Authorization: Bearer ***'],
    ['the bearer token was refused', 'the bearer token was refused'],
    ['xoxb-1111-2222-abcdef', 'xoxb-***'],
    ['GET /x?a=1&token=abc&password=def', 'GET /x?a=1&token=***&password=***'],
    ['', ''],
  ])('%j -> %j', (input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  it('redactUrl only touches URL credentials', () => {
    expect(redactUrl('smtp://u:p@h Bearer abcdefghijk')).toBe('smtp://u:***@h Bearer abcdefghijk');
  });
});
