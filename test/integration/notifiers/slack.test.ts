/**
 * The Slack notifier with the REAL @slack/web-api WebClient pointed at the local Slack stand-in:
 * channel posts, DMs by user id and by email (and the caches), threads, error mapping, the
 * crash-recovery check (findDelivered) and mention injection.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/domain/alert.ts';
import { isNotifyError, NotifyError, type DeliveryRequest, type Notifier } from '../../../src/notifiers/notifier.ts';
import { createSlackNotifier } from '../../../src/notifiers/slack/sender.ts';
import { freePort } from '../../helpers/free-port.ts';
import { startSlack, type SlackHandle } from '../../helpers/slack-server.ts';
import { cardAlert, CTX } from '../../unit/notifiers/alert-fixture.ts';

const ALICE = { id: 'U0ALICE', email: 'alice@example.com', name: 'alice' };
const BOB = { id: 'U0BOB', email: 'bob@example.com', name: 'bob' };

function request(channel: string, alert: Alert = cardAlert(), threadTs?: string): DeliveryRequest {
  return { alert, target: { kind: 'slack', channel }, context: CTX, ...(threadTs ? { threadTs } : {}) };
}

async function failure(promise: Promise<unknown>): Promise<NotifyError> {
  try {
    await promise;
  } catch (err) {
    expect(isNotifyError(err)).toBe(true);
    return err as NotifyError;
  }
  throw new Error('expected the call to fail');
}

const methods = (slack: SlackHandle): string[] => slack.calls.map((c) => c.method);

describe('Slack notifier (real WebClient, local Slack API)', () => {
  let slack: SlackHandle;
  let notifier: Notifier;

  beforeAll(async () => {
    slack = await startSlack({ knownChannels: ['#finance-alerts', 'C0FINANCE1'], users: [ALICE, BOB] });
  });
  beforeEach(async () => {
    slack.clear();
    // A fresh notifier per test: its caches start empty.
    notifier = createSlackNotifier({ token: slack.token, apiUrl: slack.apiUrl, timeoutMs: 5_000 });
  });
  afterAll(async () => {
    await slack.close();
  });

  it('posts to a channel with Block Kit, a text fallback and the alert id in metadata', async () => {
    const result = await notifier.send(request('#finance-alerts'));
    const [msg] = await slack.waitForMessages(1);
    expect(result).toEqual({ id: msg!.ts, channel: '#finance-alerts' });
    expect(methods(slack)).toEqual(['chat.postMessage']);
    expect(slack.calls[0]!.headers.authorization).toBe(`Bearer ${slack.token}`);
    expect(Array.isArray(msg!.blocks)).toBe(true);
    expect(JSON.stringify(msg!.blocks)).toContain('Company card');
    expect(msg!.text).toContain('[CRITICAL] Jo Bloggs revealed the card code of Company card');
    expect(msg!.metadata).toEqual({
      event_type: 'vaultwatch_alert',
      event_payload: { alert_id: cardAlert().id, rule: 'Sensitive access out of hours', severity: 'critical', event_id: 'evt-7f3a9c' },
    });
    expect(msg!.params).toMatchObject({ unfurl_links: 'false', unfurl_media: 'false' });
    expect(msg!.params.link_names).toBeUndefined();
    expect(msg!.params.parse).toBeUndefined();
    expect(msg!.thread_ts).toBeUndefined();
  });

  it('posts to a channel id as given', async () => {
    const result = await notifier.send(request('C0FINANCE1'));
    expect(result.channel).toBe('C0FINANCE1');
    expect((await slack.waitForMessages(1))[0]!.channel).toBe('C0FINANCE1');
  });

  it('DMs a user id through conversations.open, opening the DM only once', async () => {
    const first = await notifier.send(request('@U0ALICE'));
    expect(first.channel).toBe('D0ALICE');
    expect(slack.calls[0]).toMatchObject({ method: 'conversations.open', params: { users: 'U0ALICE' } });
    await notifier.send(request('@U0ALICE', cardAlert({ id: 'SecondAlert000000000000001' })));
    const msgs = await slack.waitForMessages(2);
    expect(msgs.map((m) => m.channel)).toEqual(['D0ALICE', 'D0ALICE']);
    expect(methods(slack)).toEqual(['conversations.open', 'chat.postMessage', 'chat.postMessage']);
  });

  it('DMs by email through users.lookupByEmail, cached: the second send makes no lookup', async () => {
    const result = await notifier.send(request('@alice@example.com'));
    expect(result.channel).toBe('D0ALICE');
    expect(slack.calls[0]).toMatchObject({ method: 'users.lookupByEmail', params: { email: 'alice@example.com' } });
    expect(methods(slack)).toEqual(['users.lookupByEmail', 'conversations.open', 'chat.postMessage']);

    await notifier.send(request('@Alice@Example.com', cardAlert({ id: 'SecondAlert000000000000001' })));
    expect(methods(slack)).toEqual(['users.lookupByEmail', 'conversations.open', 'chat.postMessage', 'chat.postMessage']);
    expect((await slack.waitForMessages(2)).map((m) => m.channel)).toEqual(['D0ALICE', 'D0ALICE']);
  });

  it('an email nobody in Slack has is permanent (users_not_found), and nothing is posted', async () => {
    const err = await failure(notifier.send(request('@nobody@example.com')));
    expect(err).toMatchObject({ retryable: false, code: 'users_not_found' });
    expect(slack.messages).toHaveLength(0);
  });

  it('a handle that is neither a user id nor an email is refused without calling Slack', async () => {
    const err = await failure(notifier.send(request('@jo')));
    expect(err).toMatchObject({ retryable: false, code: 'invalid_target' });
    expect(slack.calls).toHaveLength(0);
  });

  it('replies in a thread with thread_ts', async () => {
    const parent = await notifier.send(request('#finance-alerts'));
    const followUp = cardAlert({ id: 'FollowUpAlert0000000000001', follows: cardAlert().id, suppressed: true });
    const reply = await notifier.send(request('#finance-alerts', followUp, parent.id));
    const [msg] = await slack.waitForMessages(1, 10_000, (m) => m.ts === reply.id);
    expect(msg!.thread_ts).toBe(parent.id);
    expect(msg!.params.thread_ts).toBe(parent.id);
    expect(msg!.text).toMatch(/^Again: /);
  });

  it('429 with Retry-After 2: retryable, retryAfterMs 2000, one call only (no client-side retry)', async () => {
    slack.rateLimit('chat.postMessage', 1, 2);
    const err = await failure(notifier.send(request('#finance-alerts')));
    expect(err).toMatchObject({ retryable: true, retryAfterMs: 2000, code: 'ratelimited' });
    expect(slack.calls).toHaveLength(1);
    expect(slack.calls[0]).toMatchObject({ method: 'chat.postMessage', status: 429 });
    expect(slack.messages).toHaveLength(0);
  });

  it('channel_not_found is permanent', async () => {
    const err = await failure(notifier.send(request('#no-such-channel')));
    expect(err).toMatchObject({ retryable: false, code: 'channel_not_found' });
    expect(err.message).toContain('#no-such-channel');
  });

  it.each(['not_in_channel', 'is_archived', 'missing_scope', 'msg_too_long', 'invalid_blocks', 'token_revoked'])(
    '%s is permanent',
    async (error) => {
      slack.errorNext('chat.postMessage', 1, error);
      expect(await failure(notifier.send(request('#finance-alerts')))).toMatchObject({ retryable: false, code: error });
    },
  );

  it('an unexpected platform error (internal_error) is retryable', async () => {
    slack.errorNext('chat.postMessage', 1, 'internal_error');
    expect(await failure(notifier.send(request('#finance-alerts')))).toMatchObject({ retryable: true, code: 'internal_error' });
  });

  it('an invalid token is permanent, and the error never contains a token', async () => {
    const wrong = 'xoxb-wrong-token-4242';
    const bad = createSlackNotifier({ token: wrong, apiUrl: slack.apiUrl });
    const err = await failure(bad.send(request('#finance-alerts')));
    expect(err).toMatchObject({ retryable: false, code: 'invalid_auth' });
    expect(err.message).toContain('channels.slack.token');
    expect(err.message).not.toContain(wrong);
    expect(JSON.stringify(err)).not.toContain(wrong);
    expect(slack.messages).toHaveLength(0);
  });

  it('HTTP 503 is retryable', async () => {
    slack.failNext('chat.postMessage', 1, 503);
    const err = await failure(notifier.send(request('#finance-alerts')));
    expect(err).toMatchObject({ retryable: true, code: 'http_503' });
    expect(err.message).not.toContain(slack.token);
    expect(slack.calls).toHaveLength(1);
  });

  it('a network failure (nothing listening) is retryable', async () => {
    const offline = createSlackNotifier({ token: slack.token, apiUrl: `http://127.0.0.1:${await freePort()}/api/` });
    const err = await failure(offline.send(request('#finance-alerts')));
    expect(err).toMatchObject({ retryable: true, code: 'request_error' });
    expect(err.message).not.toContain(slack.token);
  });

  it('an item titled <!channel> arrives escaped, never as a mention', async () => {
    const alert = cardAlert({}, { item: { id: 'itm-x', title: '<!channel> <@U0BOB> <https://evil.test|click>', type: 'login' } });
    await notifier.send(request('#finance-alerts', alert));
    const [msg] = await slack.waitForMessages(1);
    const posted = JSON.stringify([msg!.text, msg!.blocks]);
    expect(posted).toContain('&lt;!channel&gt;');
    expect(posted).not.toContain('<!channel>');
    expect(posted).not.toContain('<@U0BOB>');
    expect(posted).not.toContain('<https://evil.test|click>');
  });

  describe('findDelivered', () => {
    it('finds a message posted earlier by alert id, and not another alert', async () => {
      const sent = await notifier.send(request('#finance-alerts'));
      // A fresh notifier: what a restarted worker has after a crash.
      const restarted = createSlackNotifier({ token: slack.token, apiUrl: slack.apiUrl });
      expect(await restarted.findDelivered!(request('#finance-alerts'))).toEqual({ id: sent.id, channel: '#finance-alerts' });
      expect(await restarted.findDelivered!(request('#finance-alerts', cardAlert({ id: 'OtherAlert0000000000000001' })))).toBeUndefined();
      const history = slack.calls.filter((c) => c.method === 'conversations.history');
      expect(history[0]!.params).toMatchObject({ channel: '#finance-alerts', limit: '50', include_all_metadata: 'true' });
    });

    it('finds a DM by email', async () => {
      const sent = await notifier.send(request('@bob@example.com'));
      expect(await notifier.findDelivered!(request('@bob@example.com'))).toEqual({ id: sent.id, channel: 'D0BOB' });
    });

    it('finds a thread reply in its thread only', async () => {
      const parent = await notifier.send(request('#finance-alerts'));
      const followUp = cardAlert({ id: 'FollowUpAlert0000000000001', follows: cardAlert().id, suppressed: true });
      expect(await notifier.findDelivered!(request('#finance-alerts', followUp, parent.id))).toBeUndefined();
      const reply = await notifier.send(request('#finance-alerts', followUp, parent.id));
      expect(await notifier.findDelivered!(request('#finance-alerts', followUp, parent.id))).toEqual({ id: reply.id, channel: '#finance-alerts' });
      // The parent itself is not a "delivered reply" for its own alert id.
      expect(await notifier.findDelivered!(request('#finance-alerts', cardAlert(), parent.id))).toBeUndefined();
    });

    it.each(['missing_scope', 'not_in_channel', 'channel_not_found'])('%s on history: undefined (cannot check), not an error', async (error) => {
      await notifier.send(request('#finance-alerts'));
      slack.errorNext('conversations.history', 1, error);
      expect(await notifier.findDelivered!(request('#finance-alerts'))).toBeUndefined();
    });

    it('a 429 on history is a retryable error: a wrong "not delivered" would send twice', async () => {
      slack.rateLimit('conversations.history', 1, 3);
      expect(await failure(notifier.findDelivered!(request('#finance-alerts')))).toMatchObject({ retryable: true, retryAfterMs: 3000 });
    });
  });
});
