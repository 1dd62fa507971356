import { describe, expect, it } from 'vitest';
import { interpretInteraction, readInteractionBody, slackSignature, verifySlackSignature } from '../../../src/accountability/slack-interactions.ts';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = Date.parse('2026-11-21T10:42:00Z');
const ts = (ms: number) => String(Math.floor(ms / 1000));

function signed(body: string, at = NOW, secret = SECRET) {
  const timestamp = ts(at);
  return { timestamp, signature: slackSignature(secret, timestamp, body), body: Buffer.from(body) };
}

describe('Slack request signatures (v0)', () => {
  const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions' }))}`;

  it('accepts Slack\'s documented example', () => {
    // api.slack.com/authentication/verifying-requests-from-slack
    const example = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const check = verifySlackSignature(SECRET, {
      timestamp: '1531420618', signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    }, Buffer.from(example), 1531420618 * 1000);
    expect(check).toEqual({ ok: true });
  });

  it('accepts a correct signature, within the window either way', () => {
    const s = signed(body);
    expect(verifySlackSignature(SECRET, s, s.body, NOW)).toEqual({ ok: true });
    expect(verifySlackSignature(SECRET, s, s.body, NOW + 299_000)).toEqual({ ok: true });
    expect(verifySlackSignature(SECRET, s, s.body, NOW - 299_000)).toEqual({ ok: true });
  });

  it('refuses an incorrect signature: another secret, an altered body, an altered timestamp', () => {
    const other = signed(body, NOW, 'not-the-signing-secret');
    expect(verifySlackSignature(SECRET, other, other.body, NOW)).toMatchObject({ ok: false, reason: 'mismatch' });
    const s = signed(body);
    expect(verifySlackSignature(SECRET, s, Buffer.from(`${body}&x=1`), NOW)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verifySlackSignature(SECRET, { ...s, timestamp: ts(NOW + 1000) }, s.body, NOW)).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('refuses stale timestamps (more than 5 minutes off, past or future)', () => {
    const old = signed(body, NOW - 301_000);
    expect(verifySlackSignature(SECRET, old, old.body, NOW)).toMatchObject({ ok: false, reason: 'stale' });
    const future = signed(body, NOW + 301_000);
    expect(verifySlackSignature(SECRET, future, future.body, NOW)).toMatchObject({ ok: false, reason: 'stale' });
  });

  it('refuses replayed bodies: a captured request sent again later, as is or with a fresh timestamp', () => {
    const captured = signed(body, NOW);
    // As captured, ten minutes later: outside the window.
    expect(verifySlackSignature(SECRET, captured, captured.body, NOW + 600_000)).toMatchObject({ ok: false, reason: 'stale' });
    // With the timestamp header refreshed: the signature covers the timestamp, so it no longer matches.
    expect(verifySlackSignature(SECRET, { timestamp: ts(NOW + 600_000), signature: captured.signature }, captured.body, NOW + 600_000))
      .toMatchObject({ ok: false, reason: 'mismatch' });
    // The signature of one body does not carry over to another.
    const other = Buffer.from(`payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', x: 1 }))}`);
    expect(verifySlackSignature(SECRET, captured, other, NOW)).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('refuses missing and malformed headers', () => {
    const s = signed(body);
    expect(verifySlackSignature(SECRET, { timestamp: undefined, signature: s.signature }, s.body, NOW)).toMatchObject({ reason: 'missing' });
    expect(verifySlackSignature(SECRET, { timestamp: s.timestamp, signature: undefined }, s.body, NOW)).toMatchObject({ reason: 'missing' });
    expect(verifySlackSignature(SECRET, { timestamp: 'yesterday', signature: s.signature }, s.body, NOW)).toMatchObject({ reason: 'malformed' });
    expect(verifySlackSignature(SECRET, { timestamp: s.timestamp, signature: s.signature.replace('v0=', 'v1=') }, s.body, NOW)).toMatchObject({ reason: 'malformed' });
    expect(verifySlackSignature(SECRET, { timestamp: s.timestamp, signature: 'v0=zz' }, s.body, NOW)).toMatchObject({ reason: 'malformed' });
    expect(verifySlackSignature(SECRET, { timestamp: [s.timestamp, s.timestamp], signature: s.signature }, s.body, NOW)).toMatchObject({ reason: 'missing' });
  });
});

describe('interaction payloads', () => {
  const user = { id: 'U0JO0001', username: 'jo', name: 'jo', team_id: 'T1' };
  const click = (action_id: string, value?: string, extra: object = {}) => ({
    type: 'block_actions', user, actions: [{ action_id, ...(value ? { value } : {}), type: 'button' }],
    container: { type: 'message', channel_id: 'C0FIN', message_ts: '1700000000.000100' }, ...extra,
  });

  it('reads the payload form field', () => {
    const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions' }))}`;
    expect(readInteractionBody(Buffer.from(body))).toEqual({ type: 'block_actions' });
    expect(readInteractionBody('payload=%7Bnot%20json')).toBeUndefined();
    expect(readInteractionBody('other=1')).toBeUndefined();
    expect(readInteractionBody(`payload=${encodeURIComponent('[1,2]')}`)).toBeUndefined();
  });

  it('a reason button -> the accessor\'s answer; "Other…" is a link and is left to the page', () => {
    expect(interpretInteraction(click('vw_justify_supplier', 'alert123'))).toEqual({ kind: 'justify', alertId: 'alert123', reason: 'supplier', user: { id: 'U0JO0001', name: 'jo' } });
    expect(interpretInteraction(click('vw_justify_other'))).toMatchObject({ kind: 'ignore' });
    expect(interpretInteraction(click('vw_justify_bribery', 'alert123'))).toMatchObject({ kind: 'ignore' });
  });

  it('a manager button -> the action, with the message it was clicked on', () => {
    expect(interpretInteraction(click('vw_ack_expected', 'alert123'))).toEqual({
      kind: 'ack', alertId: 'alert123', action: 'expected', user: { id: 'U0JO0001', name: 'jo' }, channel: 'C0FIN', ts: '1700000000.000100',
    });
    expect(interpretInteraction(click('vw_ack_investigating', 'alert123'))).toMatchObject({ kind: 'ack', action: 'investigating' });
    expect(interpretInteraction(click('vw_ack_delete_everything', 'alert123'))).toMatchObject({ kind: 'ignore' });
  });

  it('ignores what is not ours or not well formed', () => {
    expect(interpretInteraction({ type: 'view_submission', user })).toMatchObject({ kind: 'ignore' });
    expect(interpretInteraction(click('vaultwatch_open_alert'))).toMatchObject({ kind: 'ignore' });
    expect(interpretInteraction(click('vw_ack_expected', 'bad id with spaces'))).toMatchObject({ kind: 'ignore' });
    expect(interpretInteraction({ ...click('vw_ack_expected', 'a1'), user: { id: '<!channel>' } })).toMatchObject({ kind: 'ignore' });
    expect(interpretInteraction({ type: 'block_actions', user })).toMatchObject({ kind: 'ignore' });
    // A hostile handle is not shown: the id is used instead.
    expect(interpretInteraction({ ...click('vw_ack_expected', 'a1'), user: { id: 'U0X', username: '<!here> boss' } })).toMatchObject({ user: { id: 'U0X', name: 'U0X' } });
  });
});
