/**
 * Break-glass declarations and silences end to end, with a real redis-server and SMTP server:
 *
 * - `vaultwatch declare` (the real CLI, spawned) writes to Redis with no daemon running; a daemon that
 *   starts later announces it to the vault's managers, records covered alerts as suppressed (with the
 *   declaration's reason) without sending them, still alerts on other people, and sends one summary
 *   when the declaration ends (early with --cancel, or by itself with a short --for).
 * - Refused requests (too long, no reason, unknown vault) exit 2 with a clear message and write nothing.
 * - Silences likewise; and the admin API over HTTP, with and without the admin token.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../../src/domain/alert.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys } from '../../../src/queue/redis.ts';
import {
  CFO, FINANCE_VAULT, itemUsage, JO, metricsText, postIngest, runCli, SAM, startInProcess, writeDaemonConfig,
  type DaemonConfig, type InProcessDaemon,
} from '../../helpers/daemon.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { startSmtp, type ReceivedMail, type SmtpHandle } from '../../helpers/smtp-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const RULE = 'Company card used';
const POLICY_FILE = 'policies/finance.yaml';
const ADMIN_TOKEN = 'adm-test-token-0123456789';
const keys = new Keys(hashTagged('vaultwatch'));

describe('break-glass declarations and silences', () => {
  let redis: RedisHandle;
  let smtp: SmtpHandle;
  let cfg: DaemonConfig;
  let d: InProcessDaemon | undefined;
  let store: AlertStore;

  beforeAll(async () => {
    [redis, smtp] = await Promise.all([startRedis(), startSmtp()]);
    cfg = await writeDaemonConfig({ redisUrl: redis.url, smtpUrl: smtp.url, logLevel: 'warn' });
    // The admin API token, and short summary delays and a 2-day silence maximum for these tests.
    const text = await readFile(cfg.configPath, 'utf8');
    await writeFile(cfg.configPath, `${text.replace('http:\n', `http:\n  admin_token: ${JSON.stringify(ADMIN_TOKEN)}\n`)}accountability:\n  max_declaration: 24h\n  max_silence: 2d\n  summary_delay: 1s\n`);
    store = new AlertStore(redis.client(), keys);
  });
  afterAll(async () => {
    await d?.stop();
    await smtp?.close();
    await redis?.stop();
    await cfg?.remove();
  });

  const cli = (...args: string[]) => runCli([args[0]!, '--config', cfg.configPath, ...args.slice(1)]);
  const daemon = async (): Promise<InProcessDaemon> => (d ??= await startInProcess(cfg.configPath));
  const mailWith = (pred: (m: ReceivedMail) => boolean, what: string) =>
    waitFor(() => smtp.messages.find(pred), { timeoutMs: 20_000, message: () => `${what}; mail so far: ${JSON.stringify(smtp.messages.map((m) => m.parsed.subject))}` });
  const mailOfAlert = (id: string) => smtp.messages.filter((m) => m.parsed.headers.get('x-vaultwatch-alert-id') === id);
  const subject = (s: string) => (m: ReceivedMail) => (m.parsed.subject ?? '').includes(s);
  const suppressedRecord = (id: string) => waitFor(async () => {
    const r = await store.get(id);
    return r && r.deliveries.length > 0 && r.deliveries.every((x) => x.state === 'suppressed') && r;
  }, { message: `alert ${id} recorded as suppressed` });

  it('declare writes to Redis with no daemon running; a daemon announces it, suppresses covered alerts only, and summarises when it is cancelled', async () => {
    expect(d).toBeUndefined();
    const made = await cli('declare', '--user', SAM.email, '--vault', 'Finance', '--for', '1h', '--reason', 'paying the licence renewal', '--ticket', 'FIN-123', '--author', 'alice@ops', '--json');
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const decl = JSON.parse(made.stdout) as { id: string; from_ms: number; until_ms: number };
    expect(decl.id).toMatch(/^d-[0-9a-z]{8}$/);

    // In Redis, resolved from the vault's name to its id, with the managers to tell.
    const stored = JSON.parse((await redis.client().get(keys.declaration(decl.id)))!);
    expect(stored).toMatchObject({
      kind: 'declaration', id: decl.id, user: SAM.email, vault: FINANCE_VAULT, vault_name: 'Finance', reason: 'paying the licence renewal',
      ticket: 'FIN-123', author: 'alice@ops', notify: [`email:${CFO}`, 'slack:#finance-alerts'], policy: POLICY_FILE, timezone: 'America/Toronto',
    });
    expect(stored.until_ms - stored.from_ms).toBe(3_600_000);
    expect(Math.abs(stored.from_ms - Date.now())).toBeLessThan(60_000);
    expect(await redis.client().zscore(keys.declarations, decl.id)).toBe(String(stored.until_ms));

    const listed = await cli('declarations');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(decl.id);
    expect(listed.stdout).toContain('paying the licence renewal (ticket FIN-123)');

    // A daemon starts later: the announcement, queued by the CLI, goes out.
    const { url } = await daemon();
    const announced = await mailWith(subject(`declared planned access to Finance for 1h`), 'the announcement email');
    expect(announced.envelope.to).toEqual([CFO]);
    expect(announced.parsed.subject).toBe(`[INFO] ${SAM.email} declared planned access to Finance for 1h: paying the licence renewal (ticket FIN-123), declared by alice@ops`);
    expect(announced.parsed.text).toContain(`vaultwatch declare --cancel ${decl.id}`);

    // Sam (covered) and Jo (not covered) copy the card while the declaration holds.
    const now = new Date().toISOString();
    const covered = itemUsage({ user: SAM, action: 'secure-copy', timestamp: now });
    const other = itemUsage({ user: JO, action: 'secure-copy', timestamp: now });
    expect((await postIngest(url, [covered, other])).status).toBe(202);
    const coveredId = alertId(covered.uuid as string, POLICY_FILE, RULE);
    const otherId = alertId(other.uuid as string, POLICY_FILE, RULE);

    await mailWith((m) => m.parsed.headers.get('x-vaultwatch-alert-id') === otherId, "Jo's alert email");
    const rec = await suppressedRecord(coveredId);
    const reason = `covered by declaration ${decl.id} by alice@ops: "paying the licence renewal" (ticket FIN-123) until`;
    for (const del of rec.deliveries) expect(del.reason).toContain(reason);
    expect(rec.summary.suppressed).toBe(true);
    expect(rec.suppression).toMatchObject({ kind: 'declaration', id: decl.id, author: 'alice@ops' });
    expect(mailOfAlert(coveredId)).toEqual([]);
    expect((await store.get(otherId))?.suppression).toBeUndefined();

    const metrics = await metricsText(url);
    expect(metrics).toMatch(/vaultwatch_alerts_suppressed_total\{why="declaration"\} 1\b/);

    // `vaultwatch alerts` shows the suppressed alert and why.
    const alerts = await cli('alerts');
    expect(alerts.code).toBe(0);
    expect(alerts.stdout).toContain(`(suppressed by declaration ${decl.id})`);
    expect(alerts.stdout).toContain(reason);

    // Cancelled early: the summary lists what was done under it.
    const cancelled = await cli('declare', '--cancel', decl.id, '--author', 'carol@ops');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain(`ended ${decl.id}`);
    const summary = await mailWith(subject(`Declaration ${decl.id} for ${SAM.email} in Finance ended`), 'the summary email');
    expect(summary.parsed.subject).toContain('1 use recorded under it');
    expect(summary.parsed.text).toContain('copied Company card (rule Company card used)');
    expect(summary.parsed.text).toContain('ended early by carol@ops');
    expect(summary.parsed.text).toContain('Declared by alice@ops: "paying the licence renewal" (ticket FIN-123)');
    expect(mailOfAlert(coveredId)).toEqual([]);

    // Over: Sam's next use alerts as usual; cancelling twice is refused (exit 1).
    const after = itemUsage({ user: SAM, action: 'secure-copy', timestamp: new Date().toISOString() });
    expect((await postIngest(url, after)).status).toBe(202);
    await mailWith((m) => m.parsed.headers.get('x-vaultwatch-alert-id') === alertId(after.uuid as string, POLICY_FILE, RULE), "Sam's alert after the cancel");
    const again = await cli('declare', '--cancel', decl.id, '--author', 'carol@ops');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already ended');
    expect((await cli('declarations')).stdout).not.toContain(decl.id);
    expect((await cli('declarations', '--all')).stdout).toContain(decl.id);
  });

  it('a short declaration (--for 3s) ends by itself and its summary lists each use', async () => {
    const { url } = await daemon();
    const made = await cli('declare', '--user', JO.uuid, '--vault', FINANCE_VAULT, '--item', 'Company card', '--for', '3s', '--reason', 'card on file for the supplier', '--json');
    expect(made.code).toBe(0);
    const decl = JSON.parse(made.stdout) as { id: string; author: string; item_title?: string };
    // Without --author: $USER@hostname.
    expect(decl.author.endsWith(`@${hostname()}`)).toBe(true);

    const used = itemUsage({ user: JO, action: 'reveal', timestamp: new Date().toISOString() });
    expect((await postIngest(url, used)).status).toBe(202);
    const id = alertId(used.uuid as string, POLICY_FILE, RULE);
    const rec = await suppressedRecord(id);
    expect(rec.suppression?.id).toBe(decl.id);

    const summary = await mailWith(subject(`Declaration ${decl.id} for ${JO.uuid} in Finance ended`), 'the summary of the 3 s declaration');
    expect(summary.parsed.subject).toContain('1 use recorded under it');
    expect(summary.parsed.text).toContain('revealed Company card');
    expect(summary.parsed.text).not.toContain('ended early');
    expect(mailOfAlert(id)).toEqual([]);
  });

  it('refuses an overlong declaration, one without a reason, and an unknown vault: exit 2, a clear message, nothing written', async () => {
    const before = await redis.client().zcard(keys.declarations);
    const long = await cli('declare', '--user', SAM.email, '--vault', 'Finance', '--for', '25h', '--reason', 'x', '--author', 'a');
    expect(long.code).toBe(2);
    expect(long.stderr).toContain('--for: 25h is longer than the maximum of 1d (accountability.max_declaration)');
    const noReason = await cli('declare', '--user', SAM.email, '--vault', 'Finance', '--for', '1h', '--author', 'a');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason: required');
    const blank = await cli('declare', '--user', SAM.email, '--vault', 'Finance', '--for', '1h', '--reason', '  ', '--author', 'a');
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('--reason: must not be empty');
    const vault = await cli('declare', '--user', SAM.email, '--vault', 'Payroll', '--for', '1h', '--reason', 'x', '--author', 'a');
    expect(vault.code).toBe(2);
    expect(vault.stderr).toContain(`--vault: no policy names the vault "Payroll"; known: Finance (${FINANCE_VAULT})`);
    const badCancel = await cli('declare', '--cancel', 'nonsense');
    expect(badCancel.code).toBe(2);
    const unknown = await cli('declare', '--cancel', 'd-zzzzzzzz', '--author', 'a');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no declaration d-zzzzzzzz');
    expect(await redis.client().zcard(keys.declarations)).toBe(before);
  });

  it('silences: made by the CLI, suppress matching alerts with their id, author and reason, listed, expired with a summary', async () => {
    const { url } = await daemon();
    const made = await cli('silence', '--vault', 'Finance', '--rule', RULE, '--user', JO.email, '--for', '1h', '--reason', 'Jo is rotating the card', '--author', 'dana@ops', '--json');
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const sil = JSON.parse(made.stdout) as { id: string };
    expect(sil.id).toMatch(/^s-[0-9a-z]{8}$/);
    await mailWith(subject(`dana@ops silenced alerts in Finance (rule "${RULE}", user ${JO.email}) for 1h: Jo is rotating the card`), 'the silence announcement');

    const now = new Date().toISOString();
    const jo = itemUsage({ user: JO, action: 'fill', timestamp: now });
    const sam = itemUsage({ user: SAM, action: 'fill', timestamp: now });
    expect((await postIngest(url, [jo, sam])).status).toBe(202);
    const joId = alertId(jo.uuid as string, POLICY_FILE, RULE);
    await mailWith((m) => m.parsed.headers.get('x-vaultwatch-alert-id') === alertId(sam.uuid as string, POLICY_FILE, RULE), "Sam's alert");
    const rec = await suppressedRecord(joId);
    expect(rec.suppression).toEqual({ kind: 'silence', id: sil.id, author: 'dana@ops', reason: expect.stringContaining(`silenced by ${sil.id} by dana@ops: "Jo is rotating the card" until`) });
    expect(mailOfAlert(joId)).toEqual([]);
    expect(await metricsText(url)).toMatch(/vaultwatch_alerts_suppressed_total\{why="silence"\} 1\b/);

    const listed = await cli('silences');
    expect(listed.stdout).toContain(sil.id);
    expect(listed.stdout).toContain(`rule=${RULE} user=${JO.email}`);

    const noAuthor = await cli('silence', '--expire', sil.id);
    expect(noAuthor.code).toBe(2);
    expect(noAuthor.stderr).toContain('--author: required');
    const expired = await cli('silence', '--expire', sil.id, '--author', 'dana@ops');
    expect(expired.code).toBe(0);
    const summary = await mailWith(subject(`Silence ${sil.id} in Finance ended`), 'the silence summary');
    expect(summary.parsed.text).toContain(`${JO.email} filled Company card`);
  });

  it('refuses a silence that is too long, has no author, or names no rule of the vault: exit 2', async () => {
    const before = await redis.client().zcard(keys.silences);
    const long = await cli('silence', '--vault', 'Finance', '--for', '3d', '--reason', 'x', '--author', 'a');
    expect(long.code).toBe(2);
    expect(long.stderr).toContain('--for: 3d is longer than the maximum of 2d (accountability.max_silence)');
    const anonymous = await cli('silence', '--vault', 'Finance', '--for', '1h', '--reason', 'x');
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toContain('--author: required');
    const badRule = await cli('silence', '--vault', 'Finance', '--rule', 'No such rule', '--for', '1h', '--reason', 'x', '--author', 'a');
    expect(badRule.code).toBe(2);
    expect(badRule.stderr).toContain(`--rule: no rule "No such rule" in this vault's policies (rules: "${RULE}")`);
    expect(await redis.client().zcard(keys.silences)).toBe(before);
  });

  it('the admin API: 401 without the admin token; declarations and silences made, listed and ended over HTTP', async () => {
    const { url } = await daemon();
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const anonymous = await fetch(`${url}/declarations`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const wrong = await fetch(`${url}/declarations`, { method: 'POST', headers: { ...auth, authorization: 'Bearer test-ingest-token-0123456789' }, body: '{}' });
    expect(wrong.status).toBe(401);

    const refused = await fetch(`${url}/declarations`, { method: 'POST', headers: auth, body: JSON.stringify({ user: SAM.email, vault: 'Finance', for: '48h', author: 'ops-portal' }) });
    expect(refused.status).toBe(400);
    const refusedBody = await refused.json() as { message: string; problems: { field: string }[] };
    expect(refusedBody.problems.map((p) => p.field).sort()).toEqual(['for', 'reason']);
    expect(refusedBody.message).toContain('for: 48h is longer than the maximum of 1d (accountability.max_declaration)');

    const res = await fetch(`${url}/declarations`, { method: 'POST', headers: auth, body: JSON.stringify({ user: SAM.email, vault: 'finance', for: '2h', reason: 'quarter close', ticket: 'FIN-9', author: 'ops-portal' }) });
    expect(res.status).toBe(201);
    const { declaration } = await res.json() as { declaration: { id: string; vault: string } };
    expect(declaration.vault).toBe(FINANCE_VAULT);
    expect(res.headers.get('location')).toBe(`/declarations/${declaration.id}`);
    await mailWith(subject(`${SAM.email} declared planned access to Finance for 2h: quarter close (ticket FIN-9), declared by ops-portal`), 'the HTTP declaration announcement');

    const list = await (await fetch(`${url}/declarations`, { headers: auth })).json() as { declarations: { id: string }[] };
    expect(list.declarations.map((x) => x.id)).toContain(declaration.id);

    const del = await fetch(`${url}/declarations/${declaration.id}?author=ops-portal`, { method: 'DELETE', headers: { authorization: auth.authorization } });
    expect(del.status).toBe(200);
    expect((await del.json() as { declaration: { ended_early: { by: string } } }).declaration.ended_early.by).toBe('ops-portal');
    await mailWith(subject(`Declaration ${declaration.id} for ${SAM.email} in Finance ended: nothing was recorded under it`), 'the HTTP declaration summary');
    expect((await fetch(`${url}/declarations/${declaration.id}`, { method: 'DELETE', headers: { authorization: auth.authorization } })).status).toBe(409);
    expect((await fetch(`${url}/declarations/d-zzzzzzzz`, { method: 'DELETE', headers: { authorization: auth.authorization } })).status).toBe(404);

    const s = await fetch(`${url}/silences`, { method: 'POST', headers: auth, body: JSON.stringify({ vault: FINANCE_VAULT, item: 'Company card', for: '30m', reason: 'card reissue', author: 'ops-portal' }) });
    expect(s.status).toBe(201);
    const { silence } = await s.json() as { silence: { id: string } };
    const silences = await (await fetch(`${url}/silences`, { headers: auth })).json() as { silences: { id: string }[] };
    expect(silences.silences.map((x) => x.id)).toContain(silence.id);
    expect((await fetch(`${url}/silences/${silence.id}`, { method: 'DELETE', headers: { authorization: auth.authorization } })).status).toBe(200);
    expect((await cli('silences', '--all')).stdout).toContain(silence.id);
  });
});
