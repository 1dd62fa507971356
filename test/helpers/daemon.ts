/**
 * The daemon under test, for the integration tests in test/integration/daemon/.
 *
 * - `writeDaemonConfig()` writes a temporary config dir (vaultwatch.yaml + policies + catalog) that
 *   points at the harness parts: the file's own redis-server, the SMTP helper, the Slack fake, a
 *   webhook source with a token (optionally an HMAC secret and a small body limit), and delivery
 *   settings (`retry_for`, `fallback`).
 * - `startInProcess()` runs `Daemon.start()` in the test process (a silent logger), for tests that
 *   call its methods or read its metrics.
 * - `startChild()` runs `node bin/vaultwatch.js start` as a child process, for SIGKILL/SIGTERM tests,
 *   and resolves once `/readyz` answers 200.
 * - `postIngest()` and the 1Password v2 item-usage record builders feed it.
 *
 * REDIS_URL is removed from the daemon's environment: it overrides `redis.url`, and the tests must
 * never reach the system Redis on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Daemon } from '../../src/app/daemon.ts';
import type { Clock } from '../../src/domain/clock.ts';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/vaultwatch.js');
/** `vaultwatch start` with the daemon's clock shifted by VW_TEST_CLOCK_OFFSET_MS (startChild's clockOffsetMs). */
export const CLOCK_ENTRY = join(ROOT, 'test/helpers/clock-daemon.ts');

export const INGEST_TOKEN = 'test-ingest-token-0123456789';
export const FROM = 'Vaultwatch <alerts@vaultwatch.test>';

/** The vault, items and people the default policy and the record builders use. */
export const FINANCE_VAULT = 'vwfinancevault0000000000aa';
export const CARD_ITEM = 'vwcompanycard00000000000aa';
export const BANK_ITEM = 'vwbankaccount00000000000aa';
export const PAYROLL_ITEM = 'vwpayrollservice000000000a';
/** The policy's zone: not UTC and not the server's, so a message in the wrong zone shows. */
export const POLICY_ZONE = 'America/Toronto';
export const CFO = 'cfo@example.com';
export const FINANCE_CHANNEL = '#finance-alerts';

export const DEFAULT_CATALOG = `
vaults:
  ${FINANCE_VAULT}: { name: Finance }
items:
  ${CARD_ITEM}: { title: Company card, type: secure_note, tags: [card, payment], vault: ${FINANCE_VAULT} }
  ${BANK_ITEM}: { title: Business bank account, type: bank_account, tags: [payment], vault: ${FINANCE_VAULT} }
  ${PAYROLL_ITEM}: { title: Payroll service, type: login, vault: ${FINANCE_VAULT} }
`;

/** One rule, one email manager and one Slack channel: every matching event is one email and one Slack message. */
export const DEFAULT_POLICY = `
vault: { id: ${FINANCE_VAULT}, name: Finance }
timezone: ${POLICY_ZONE}
managers:
  - email: ${CFO}
    name: Chief Financial Officer
  - slack: "${FINANCE_CHANNEL}"
rules:
  - name: Company card used
    match:
      items: ["Company card*"]
      actions: [reveal, copy, fill]
    severity: high
`;

export interface DaemonConfigOptions {
  redisUrl: string;
  /** `smtp://127.0.0.1:PORT`; without it email goes to the outbox. */
  smtpUrl?: string;
  /** The Slack fake; without it Slack goes to the outbox. */
  slack?: { apiUrl: string; token: string };
  token?: string;
  hmacSecret?: string;
  /** `1kb`, `5MB`. */
  maxBody?: string;
  /** `delivery.retry_for`, e.g. `20s`. */
  retryFor?: string;
  /** `delivery.fallback` targets, e.g. `['email:security@example.com']`. */
  fallback?: string[];
  /** File name (under policies/) -> YAML. Default: finance.yaml = DEFAULT_POLICY. */
  policies?: Record<string, string>;
  catalog?: string;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export interface DaemonConfig {
  dir: string;
  configPath: string;
  /** Absolute path of a policy file by name. */
  policyPath(name: string): string;
  remove(): Promise<void>;
}

export async function writeDaemonConfig(o: DaemonConfigOptions): Promise<DaemonConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'vaultwatch-daemon-'));
  await mkdir(join(dir, 'policies'));
  const lines: string[] = [
    'redis:',
    `  url: ${o.redisUrl}`,
    '  prefix: vaultwatch',
    'http:',
    '  listen: 127.0.0.1:0',
    'sources:',
    '  - type: webhook',
    `    token: ${JSON.stringify(o.token ?? INGEST_TOKEN)}`,
    ...(o.hmacSecret ? [`    hmac_secret: ${JSON.stringify(o.hmacSecret)}`] : []),
    ...(o.maxBody ? [`    max_body: ${o.maxBody}`] : []),
    'channels:',
    ...(o.smtpUrl ? ['  email:', `    smtp: ${o.smtpUrl}`, `    from: ${JSON.stringify(FROM)}`] : []),
    ...(o.slack ? ['  slack:', `    token: ${JSON.stringify(o.slack.token)}`, `    api_url: ${o.slack.apiUrl}`] : []),
    '  outbox: outbox',
    'delivery:',
    `  retry_for: ${o.retryFor ?? '1h'}`,
    ...(o.fallback?.length ? ['  fallback:', ...o.fallback.map((t) => `    - ${JSON.stringify(t)}`)] : []),
    'defaults:',
    '  timezone: UTC',
    'policies: policies/',
    'catalog: catalog.yaml',
    'log:',
    `  level: ${o.logLevel ?? 'info'}`,
  ];
  await writeFile(join(dir, 'vaultwatch.yaml'), `${lines.join('\n')}\n`);
  await writeFile(join(dir, 'catalog.yaml'), o.catalog ?? DEFAULT_CATALOG);
  for (const [name, text] of Object.entries(o.policies ?? { 'finance.yaml': DEFAULT_POLICY })) {
    await writeFile(join(dir, 'policies', name), text);
  }
  return {
    dir,
    configPath: join(dir, 'vaultwatch.yaml'),
    policyPath: (name) => join(dir, 'policies', name),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The environment the daemon sees: ours without REDIS_URL (it would override redis.url). */
export function daemonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.REDIS_URL;
  return env;
}

// ---------------------------------------------------------------------------------------------------
// In-process

export interface InProcessDaemon {
  daemon: Daemon;
  /** `http://127.0.0.1:PORT` */
  url: string;
  stop(): Promise<void>;
}

export async function startInProcess(configPath: string, opts: { graceMs?: number; claimIdleMs?: number; clock?: Clock } = {}): Promise<InProcessDaemon> {
  const daemon = await Daemon.start({
    configPath,
    env: daemonEnv(),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    ...opts,
  });
  const url = daemon.address!.replace('localhost', '127.0.0.1');
  await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutMs: 15_000, message: 'in-process daemon /readyz 200' });
  return { daemon, url, stop: () => daemon.stop() };
}

// ---------------------------------------------------------------------------------------------------
// Child process

export interface ChildDaemon {
  proc: ChildProcess;
  readonly pid: number;
  url: string;
  port: number;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it wrote to stdout and stderr (pino JSON lines). */
  output(): string;
  /** Sends the signal; for SIGKILL also waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();
let exitHook = false;

/**
 * `node bin/vaultwatch.js start --config DIR/vaultwatch.yaml --listen 127.0.0.1:PORT`, ready. With
 * `clockOffsetMs`, the same daemon through test/helpers/clock-daemon.ts, its clock that far from the
 * real one (recipients' hours judged "as if" it were another time; BullMQ still runs on real time).
 */
export async function startChild(configPath: string, opts: { port?: number; readyTimeoutMs?: number; clockOffsetMs?: number } = {}): Promise<ChildDaemon> {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
  const port = opts.port ?? (await freePort());
  const args = ['start', '--config', configPath, '--listen', `127.0.0.1:${port}`];
  const shifted = opts.clockOffsetMs !== undefined;
  const proc = spawn(process.execPath, shifted ? ['--import', 'tsx', CLOCK_ENTRY, ...args] : [BIN, ...args], {
    cwd: ROOT,
    env: shifted ? { ...daemonEnv(), VW_TEST_CLOCK_OFFSET_MS: String(opts.clockOffsetMs) } : daemonEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  const collect = (chunk: Buffer): void => {
    out += chunk.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      resolveExit({ code, signal });
    });
  });
  const url = `http://127.0.0.1:${port}`;
  let gone = false;
  void exited.then(() => { gone = true; });
  try {
    await waitFor(async () => {
      if (gone) throw new Error(`daemon exited during startup:\n${out.slice(-4000)}`);
      return (await fetch(`${url}/readyz`)).status === 200;
    }, { timeoutMs: opts.readyTimeoutMs ?? 30_000, intervalMs: 50, message: () => `child daemon /readyz 200 on ${url}; output:\n${out.slice(-4000)}` });
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    proc,
    pid: proc.pid!,
    url,
    port,
    exited,
    output: () => out,
    async kill(signal) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      if (signal === 'SIGKILL') await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Ingest

export interface IngestAnswer {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function postIngest(
  url: string,
  body: unknown,
  opts: { token?: string | null; contentType?: string; headers?: Record<string, string> } = {},
): Promise<IngestAnswer> {
  const contentType = opts.contentType ?? 'application/json';
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const token = opts.token === undefined ? INGEST_TOKEN : opts.token;
  const res = await fetch(`${url}/ingest`, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...opts.headers,
    },
    body: text,
  });
  const raw = await res.text();
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

// ---------------------------------------------------------------------------------------------------
// Records

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A 1Password-shaped uuid (26 base32 characters), unique per call. */
export function uuid26(): string {
  const bytes = randomBytes(26);
  let s = '';
  for (const b of bytes) s += BASE32[b % 32];
  return s;
}

export interface Person {
  uuid: string;
  name: string;
  email: string;
}

export const SAM: Person = { uuid: 'PV2QYFZ5DVH3BDXOJMSC4JDQDE', name: 'Sam Okafor', email: 'sam.okafor@example.com' };
export const JO: Person = { uuid: '4HCGRGYCTRQFBMGVEGTABYDU2V', name: 'Jo Tremblay', email: 'jo.tremblay@example.com' };

export interface UsageOptions {
  uuid?: string;
  item?: string;
  vault?: string;
  action?: string;
  user?: Person;
  /** ISO instant; default a fixed time in the past. */
  timestamp?: string;
  ip?: string;
}

/** A 1Password Events API v2 item-usage record. */
export function itemUsage(o: UsageOptions = {}): Record<string, unknown> {
  const user = o.user ?? SAM;
  return {
    uuid: o.uuid ?? uuid26(),
    timestamp: o.timestamp ?? '2026-03-13T02:05:44.918Z',
    used_version: 7,
    vault_uuid: o.vault ?? FINANCE_VAULT,
    item_uuid: o.item ?? CARD_ITEM,
    action: o.action ?? 'secure-copy',
    user: {
      uuid: user.uuid,
      name: user.name,
      email: user.email,
      user_type: 'user',
      user_account_uuid: 'GQAXHL3MBFFH5KPO2VZTXMXSZY',
    },
    client: {
      app_name: '1Password for Mac',
      app_version: '81032013',
      platform_name: 'MacBookPro18,3',
      platform_version: 'MacBookPro18,3',
      os_name: 'MacOSX',
      os_version: '14.4',
      ip_address: o.ip ?? '198.51.100.23',
    },
    location: { country: 'CA', region: 'Quebec', city: 'Montreal', latitude: 45.5, longitude: -73.56 },
    account_uuid: 'GQAXHL3MBFFH5KPO2VZTXMXSZY',
  };
}

/** `n` distinct matching records (the default rule alerts on each). */
export function usageBatch(n: number, o: Omit<UsageOptions, 'uuid'> = {}): Record<string, unknown>[] {
  return Array.from({ length: n }, () => itemUsage(o));
}

/** The Prometheus text of a daemon's /metrics. */
export async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** Status of /readyz (0 when the request itself fails). */
export async function readyStatus(url: string, timeoutMs = 3_000): Promise<number> {
  try {
    return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(timeoutMs) })).status;
  } catch {
    return 0;
  }
}

/** Runs `node bin/vaultwatch.js ARGS` to completion (the CLI, as an operator would). */
export function runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: daemonEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`vaultwatch ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}
