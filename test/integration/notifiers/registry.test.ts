/**
 * createNotifiers picks, per channel kind, the real sender when the channel is configured and the
 * outbox otherwise; proven by where a message actually lands.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelKind, Target } from '../../../src/domain/target.ts';
import type { DeliveryRequest, Notifier } from '../../../src/notifiers/notifier.ts';
import { createNotifiers } from '../../../src/notifiers/registry.ts';
import { startSlack, type SlackHandle } from '../../helpers/slack-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { cardAlert, CTX } from '../../unit/notifiers/alert-fixture.ts';

const TO = 'finance-managers@example.com';
const EMAIL: Target = { kind: 'email', address: TO };
const SLACK: Target = { kind: 'slack', channel: '#finance-alerts' };
const HOOK: Target = { kind: 'webhook', name: 'siem' };
const req = (target: Target): DeliveryRequest => ({ alert: cardAlert(), target, context: CTX });

describe('createNotifiers', () => {
  let configDir: string;
  let smtp: SmtpHandle;
  let slack: SlackHandle;
  let hookServer: Server;
  let hookUrl: string;
  let hookCalls = 0;
  let notifiers: Record<ChannelKind, Notifier> | undefined;

  beforeAll(async () => {
    smtp = await startSmtp();
    slack = await startSlack();
    hookServer = createServer((request, res) => {
      request.resume();
      request.on('end', () => {
        hookCalls += 1;
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
  });
  beforeEach(() => {
    configDir = mkdtempSync(join(tmpdir(), 'vaultwatch-registry-'));
    smtp.clear();
    slack.clear();
    hookCalls = 0;
  });
  afterEach(async () => {
    for (const n of Object.values(notifiers ?? {})) await n.close();
    notifiers = undefined;
    rmSync(configDir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await smtp.close();
    await slack.close();
    await new Promise<void>((resolve) => hookServer.close(() => resolve()));
  });

  it('nothing configured: every kind writes to <configDir>/var/outbox', async () => {
    notifiers = createNotifiers(undefined, { configDir });
    expect(Object.keys(notifiers).sort()).toEqual(['email', 'slack', 'webhook']);
    for (const [kind, n] of Object.entries(notifiers)) expect(n.kind).toBe(kind);

    const paths = [
      (await notifiers.email.send(req(EMAIL))).path,
      (await notifiers.slack.send(req(SLACK))).path,
      (await notifiers.webhook.send(req(HOOK))).path,
    ];
    const outbox = join(configDir, 'var', 'outbox');
    expect(paths.every((p) => p?.startsWith(`${outbox}/`))).toBe(true);
    expect(readdirSync(outbox).map((f) => f.split('.')[0]).sort()).toEqual(['email', 'slack', 'webhook']);
  });

  it('a relative outbox is relative to the config directory; email.from is used without smtp', async () => {
    notifiers = createNotifiers({ outbox: 'out', email: { from: 'Alerts <alerts@example.com>' }, webhooks: {} }, { configDir });
    const { path } = await notifiers.email.send(req(EMAIL));
    expect(path?.startsWith(join(configDir, 'out'))).toBe(true);
    expect((await notifiers.webhook.send(req(HOOK))).path).toBeDefined(); // empty webhooks map -> outbox
  });

  it('configured channels use the real senders; the others stay on the outbox', async () => {
    notifiers = createNotifiers(
      {
        email: { smtp: smtp.url, from: 'Vaultwatch <alerts@example.com>' },
        slack: { token: slack.token, api_url: slack.apiUrl },
        webhooks: { siem: { url: hookUrl } },
      },
      { configDir },
    );
    const email = await notifiers.email.send(req(EMAIL));
    expect(email.path).toBeUndefined();
    expect((await smtp.waitForMessages(1))[0]!.envelope.to).toEqual([TO]);

    const posted = await notifiers.slack.send(req(SLACK));
    expect(posted.path).toBeUndefined();
    expect((await slack.waitForMessages(1))[0]!.ts).toBe(posted.id);

    expect(await notifiers.webhook.send(req(HOOK))).toEqual({ id: '204' });
    expect(hookCalls).toBe(1);
    expect(() => readdirSync(join(configDir, 'var', 'outbox'))).toThrow(); // nothing went to the outbox
  });

  it('Slack without a token falls back to the outbox even when email is real', async () => {
    notifiers = createNotifiers({ email: { smtp: smtp.url, from: 'a@example.com' }, slack: { api_url: slack.apiUrl } }, { configDir });
    expect((await notifiers.slack.send(req(SLACK))).path).toMatch(/\.json$/);
    expect(slack.calls).toHaveLength(0);
  });
});
