/**
 * The daemon with `enrichment.onepassword_connect` configured (token from `token_file`): an event
 * that carries only ids becomes an email naming the item by its 1Password title and the vault by its
 * 1Password name, through the real intake -> evaluator -> SMTP path. And with Connect refusing the
 * token, the alert still goes out, with the catalog's labels or the id.
 */
import { writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CFO, FINANCE_VAULT, itemUsage, postIngest, startInProcess, writeDaemonConfig, type DaemonConfig, type InProcessDaemon } from '../../helpers/daemon.ts';
import { startConnect, type ConnectHandle } from '../../helpers/connect-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSmtp, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { id26 } from './fixtures.ts';

/** In 1Password only: the catalog does not know it. */
const TREASURY = id26('itreasurylogin');
/** Neither in 1Password nor in the catalog. */
const MYSTERY = id26('imysteryitem');

const POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: UTC
managers:
  - email: ${CFO}
rules:
  - name: Treasury item copied
    match:
      items: [${TREASURY}, ${MYSTERY}]
      actions: [copy]
    severity: high
`;

async function daemonWith(redis: RedisHandle, smtp: SmtpHandle, connect: ConnectHandle, token: string): Promise<{ cfg: DaemonConfig; d: InProcessDaemon }> {
  const cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, policies: { 'finance.yaml': POLICY }, logLevel: 'error' });
  await writeFile(join(cfg.dir, 'connect-token'), `${token}\n`);
  await appendFile(cfg.configPath, [
    'enrichment:',
    '  onepassword_connect:',
    `    url: ${connect.url}`,
    '    token_file: connect-token',
    '    ttl: 10m',
    '',
  ].join('\n'));
  return { cfg, d: await startInProcess(cfg.configPath) };
}

describe('daemon with 1Password Connect enrichment', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let connect: ConnectHandle;
  let running: { cfg: DaemonConfig; d: InProcessDaemon } | undefined;

  beforeAll(async () => {
    [redis, smtp, connect] = await Promise.all([
      startRedis(),
      startSmtp(),
      startConnect({ vaults: [{ id: FINANCE_VAULT, name: 'Finance (1Password)', items: [{ id: TREASURY, title: 'Treasury portal', category: 'LOGIN', tags: ['treasury'] }] }] }),
    ]);
  });
  afterEach(async () => {
    await running?.d.stop();
    await running?.cfg.remove();
    running = undefined;
    smtp.clear();
    connect.clearRequests();
    await redis.client().flushall();
    expect(connect.singleItemRequests()).toEqual([]);
  });
  afterAll(async () => {
    await Promise.all([smtp?.close(), connect?.close()]);
    await redis?.stop();
  });

  it('an ids-only event becomes an email with the Connect title and vault name', async () => {
    running = await daemonWith(redis, smtp, connect, connect.token);
    const answer = await postIngest(running.d.url, itemUsage({ item: TREASURY, vault: FINANCE_VAULT, action: 'secure-copy' }));
    expect(answer.status).toBe(202);
    const [mail] = await smtp.waitForMessages(1);
    expect(mail!.parsed.subject).toContain('Treasury portal');
    expect(mail!.parsed.text).toContain('Treasury portal');
    expect(mail!.parsed.text).toContain('Finance (1Password)');
    expect(connect.listCount(FINANCE_VAULT)).toBe(1);
    expect(connect.requests.every((r) => r.headers.authorization === `Bearer ${connect.token}`)).toBe(true);
  });

  it('Connect refusing the token does not stop the alert: it names the item by id, "(title unknown)"', async () => {
    running = await daemonWith(redis, smtp, connect, 'revoked-token');
    const answer = await postIngest(running.d.url, itemUsage({ item: MYSTERY, vault: FINANCE_VAULT, action: 'secure-copy' }));
    expect(answer.status).toBe(202);
    const [mail] = await smtp.waitForMessages(1);
    expect(mail!.parsed.subject).toContain(`${MYSTERY} (title unknown)`);
    expect(connect.requests.map((r) => r.status)).toContain(401);
  });
});
