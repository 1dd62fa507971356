/**
 * The Bitwarden source inside the real daemon: `node bin/vaultwatch.js start` as a child process,
 * polling the local Bitwarden server every second through the BullMQ job scheduler, judging against
 * a policy on a collection id, and mailing the manager through a real SMTP server.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type ChildDaemon } from '../../helpers/daemon.ts';
import { bwDate, startBitwarden, type BitwardenFake } from '../../helpers/bitwarden-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const COLLECTION = '5b1e7f0c-2d3a-4c5b-8e9f-0a1b2c3d4e5f';
const CARD = '9d8c7b6a-5f4e-4d3c-8b2a-190817161514';
const SAM = { userId: 'a1b2c3d4-0000-4111-8222-333344445555', email: 'sam.okafor@example.com', name: 'Sam Okafor' };
const CFO = 'cfo@example.com';

describe('daemon with a Bitwarden source', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let bw: BitwardenFake;
  let dir: string;
  let child: ChildDaemon | undefined;

  beforeAll(async () => {
    [redis, smtp, bw] = await Promise.all([startRedis(), startSmtp(), startBitwarden()]);
    bw.addMember(SAM);
    dir = await mkdtemp(join(tmpdir(), 'vaultwatch-bw-daemon-'));
    await mkdir(join(dir, 'policies'));
    await writeFile(join(dir, 'bw-secret'), `${bw.clientSecret}\n`);
    await writeFile(join(dir, 'vaultwatch.yaml'), [
      'redis:',
      `  url: ${redis.url}`,
      '  prefix: vaultwatch',
      'http:',
      '  listen: 127.0.0.1:0',
      'sources:',
      '  - type: bitwarden',
      `    client_id: ${bw.clientId}`,
      '    client_secret_file: bw-secret',
      `    api_url: ${bw.apiUrl}`,
      `    identity_url: ${bw.identityUrl}`,
      '    poll_interval: 1s',
      '    start_from: 10m',
      'channels:',
      '  email:',
      `    smtp: ${smtp.url}`,
      '    from: "Vaultwatch <alerts@vaultwatch.test>"',
      '  outbox: outbox',
      'defaults:',
      '  timezone: UTC',
      'policies: policies/',
      'catalog: catalog.yaml',
      'log:',
      '  level: info',
      '',
    ].join('\n'));
    await writeFile(join(dir, 'catalog.yaml'), `items:\n  ${CARD}: { title: Company card, type: credit_card }\n`);
    await writeFile(join(dir, 'policies', 'finance.yaml'), [
      `vault: { id: ${COLLECTION}, name: Finance }`,
      'timezone: Europe/London',
      'managers:',
      `  - email: ${CFO}`,
      'rules:',
      '  - name: Card code copied',
      '    match: { actions: [copy], fields: [card_code], users: ["*@example.com"] }',
      '    severity: high',
      '',
    ].join('\n'));
  });

  afterAll(async () => {
    await child?.kill('SIGKILL');
    await Promise.all([smtp?.close(), bw?.close()]);
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a copied card code (1113) alerts once, by email, naming the member', async () => {
    child = await startChild(join(dir, 'vaultwatch.yaml'));
    // The poller runs: /readyz lists it, running, once its first round is done.
    await waitFor(async () => {
      const body = await (await fetch(`${child!.url}/readyz`)).json() as { sources: { name: string; state: string }[] };
      return body.sources.some((s) => s.name === 'bitwarden' && s.state === 'running');
    }, { timeoutMs: 15_000, message: () => `bitwarden source running; output:\n${child!.output().slice(-3000)}` });

    // Sam copied the card's code 40 s ago; the client uploads it now (the store shows it from now on).
    const visibleAt = Date.now();
    bw.add({ type: 1113, itemId: CARD, collectionId: COLLECTION, actingUserId: SAM.userId, date: bwDate(visibleAt - 40_000), device: 7 });
    bw.add({ type: 1107, itemId: CARD, collectionId: COLLECTION, actingUserId: SAM.userId, date: bwDate(visibleAt - 39_000) }); // a view: no rule
    const [mail] = await smtp.waitForMessages(1, 20_000);
    const delayMs = mail!.receivedAt.getTime() - visibleAt;
    console.info(`[figure] Bitwarden poll-to-alert delay (poll_interval 1s, event visible -> email received): ${delayMs} ms`);

    expect(mail!.envelope.to).toEqual([CFO]);
    const p = mail!.parsed;
    expect(p.subject).toContain('Company card');
    for (const part of [p.text!, p.html as string]) {
      expect(part).toContain(SAM.email);
      expect(part).toContain(SAM.name);
      expect(part).toContain('Card code copied');
      expect(part).toContain('Finance');
    }

    // Once: several more rounds read the same window again (the overlap) and no second mail follows.
    const seen = bw.eventRequests().length;
    await waitFor(() => bw.eventRequests().length >= seen + 4, { timeoutMs: 15_000, message: 'four more polling rounds' });
    expect(smtp.messages).toHaveLength(1);
    expect(bw.eventRequests().every((r) => r.status === 200)).toBe(true);
    expect(child.output()).not.toContain(bw.clientSecret);
  });
});
