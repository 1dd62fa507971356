/**
 * A real, private `redis-server` per test file.
 *
 * Integration tests must not share (or flush) somebody's Redis, and fault tests need to SIGKILL and
 * restart the server, so each `startRedis()` spawns its own `redis-server` from PATH on a free
 * loopback port with a fresh temporary directory. Persistence is explicit: RDB snapshots are off
 * (`--save ""`) so only AOF decides what survives a crash, which is exactly what the tests probe.
 *
 * No leftovers when a test process dies. Three layers, because no single one covers every death:
 *   1. Linux: the server is started through `setpriv --pdeathsig SIGKILL` (util-linux), so the kernel
 *      kills it the moment the spawning thread dies, even if the test process was SIGKILLed.
 *   2. Everywhere: a `process.on('exit')` hook SIGKILLs every server still running (covers normal
 *      exit, `process.exit()` and uncaught exceptions, but not signals or SIGKILL).
 *   3. Everywhere: each temp dir holds `owner.pid` (the test process) and `redis.pid` (`--pidfile`).
 *      The first `startRedis()` of a process sweeps `$TMPDIR/vaultwatch-redis-*`: when the owner is
 *      dead, the recorded redis-server (verified by its command line) is killed and the dir removed.
 *      That reaps what layers 1 and 2 missed (e.g. macOS after a SIGKILL) on the next run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

export interface StartRedisOptions {
  /** Turn on the append-only file. Default false (a crash loses everything). */
  appendonly?: boolean;
  /** AOF fsync policy when `appendonly`: 'always' loses nothing on SIGKILL, 'everysec' up to ~1 s. Default 'everysec'. */
  appendfsync?: 'always' | 'everysec';
  /** Port to listen on; default a free one. */
  port?: number;
  /** Data directory; default a fresh mkdtemp dir. A dir you pass is yours: stop() leaves it in place. */
  dir?: string;
  /** How long to wait for PING to answer, per (re)start. Default 15 s. */
  startTimeoutMs?: number;
}

export interface RedisHandle {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Server log (`--logfile`); its tail is quoted in start errors. */
  readonly logFile: string;
  /** PID of the running server, undefined while it is down. */
  readonly pid: number | undefined;
  /** Signal the server (default SIGKILL, i.e. a crash) and wait until it has exited. No-op when down. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Start again on the same port and dir (so AOF data survives); a running server is SIGTERMed first. */
  restart(): Promise<void>;
  /** Close clients, kill the server, remove the temp dir (if we created it). Idempotent. */
  stop(): Promise<void>;
  /** A new ioredis client for assertions; it reconnects across restarts and is closed by stop(). */
  client(): Redis;
}

export const REDIS_NOT_FOUND_MESSAGE =
  'redis-server not found on PATH; install it with: apt-get install -y redis-server (Debian/Ubuntu) or brew install redis (macOS)';

const DIR_PREFIX = 'vaultwatch-redis-';

/** Servers this process is running: the 'exit' hook kills them. */
const running = new Set<ChildProcess>();
let processHooksInstalled = false;

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  const redisPath = findOnPath('redis-server');
  if (redisPath === undefined) throw new Error(REDIS_NOT_FOUND_MESSAGE);
  installProcessHooks();

  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), DIR_PREFIX)));
  if (ownDir) await writeFile(join(dir, 'owner.pid'), String(process.pid));
  else await mkdir(dir, { recursive: true });
  let port = opts.port ?? (await freePort());
  const logFile = join(dir, 'redis.log');
  const pidFile = join(dir, 'redis.pid');
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;

  const pdeathsig = setprivPath();
  /** redis-server's command line; a function because the port may change before the first start. */
  const commandLine = (): [string, string[]] => {
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--save', '', // no RDB snapshots: persistence is AOF or nothing
      '--appendonly', opts.appendonly ? 'yes' : 'no',
      ...(opts.appendonly ? ['--appendfsync', opts.appendfsync ?? 'everysec'] : []),
      '--maxmemory-policy', 'noeviction', // the only policy BullMQ tolerates
      '--daemonize', 'no', // we must own the process to kill it and to see it exit
      '--logfile', logFile,
      '--pidfile', pidFile,
    ];
    return pdeathsig === undefined ? [redisPath, args] : [pdeathsig, ['--pdeathsig', 'SIGKILL', redisPath, ...args]];
  };

  let child: ChildProcess | undefined;
  const clients = new Set<Redis>();
  let stopped = false;

  async function launch(): Promise<void> {
    const [command, commandArgs] = commandLine();
    const proc = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    running.add(proc);
    // Redis writes to stderr/stdout only before the logfile is open (e.g. a bad argument).
    let early = '';
    const collect = (chunk: Buffer): void => {
      if (early.length < 8_000) early += chunk.toString();
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    // A forgotten stop() must not keep the test process alive; the 'exit' hook still kills the server.
    proc.unref();
    for (const stream of [proc.stdout, proc.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();

    const exited = new Promise<never>((_, reject) => {
      const fail = (why: string): void => {
        running.delete(proc);
        reject(new Error(`redis-server on port ${port} ${why} during startup.\n${early}${logTail(logFile)}`));
      };
      proc.once('error', (err) => fail(`failed to spawn (${err.message})`));
      proc.once('exit', (code, signal) => fail(`exited (code ${code}, signal ${signal})`));
    });
    exited.catch(() => {}); // only observed through the race below
    try {
      await Promise.race([
        waitFor(() => pingOnce(port), { timeoutMs: startTimeoutMs, intervalMs: 25, message: `redis-server PING on port ${port}` }),
        exited,
      ]);
    } catch (err) {
      await killProcess(proc, 'SIGKILL');
      throw err;
    }
    proc.once('exit', () => running.delete(proc));
  }

  async function kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const proc = child;
    child = undefined;
    if (proc !== undefined) await killProcess(proc, signal);
  }

  // The port freePort() found can be taken by someone else before redis-server binds it: try another.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (opts.port === undefined && attempt < 3 && /Address already in use/i.test(String(err))) {
        port = await freePort();
        continue;
      }
      if (ownDir) await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    logFile,
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    kill,
    async restart() {
      if (stopped) throw new Error('restart() after stop()');
      await kill('SIGTERM');
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // disconnect(), not quit(): quit would wait for a server that may already be dead.
      for (const c of clients) c.disconnect();
      clients.clear();
      await kill('SIGKILL');
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    client() {
      if (stopped) throw new Error('client() after stop()');
      const c = new Redis(`redis://127.0.0.1:${port}`);
      // Without a listener ioredis prints "Unhandled error event" on every refused reconnect,
      // which is noise while a test deliberately keeps the server down.
      c.on('error', () => {});
      c.once('end', () => clients.delete(c));
      clients.add(c);
      return c;
    },
  };
}

/** Sends SIGKILL/SIGTERM and resolves once the process has exited (its port is free again then). */
function killProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    running.delete(proc);
    return Promise.resolve();
  }
  // The child is unref'ed (see launch); hold the event loop open until it has exited.
  proc.ref();
  return new Promise((resolve) => {
    proc.once('exit', () => {
      running.delete(proc);
      resolve();
    });
    proc.kill(signal);
  });
}

/** One PING over a raw socket: true on +PONG; false on refusal, -LOADING (AOF replay) or silence. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function logTail(logFile: string, lines = 20): string {
  try {
    const text = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    return `--- ${logFile} (last ${lines} lines) ---\n${text}`;
  } catch {
    return `(no log at ${logFile})`;
  }
}

function findOnPath(name: string): string | undefined {
  for (const entry of (process.env.PATH ?? '').split(delimiter)) {
    if (entry === '') continue;
    const candidate = join(entry, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

let setprivCache: string | null | undefined;
/** `setpriv` if it exists and supports --pdeathsig (util-linux >= 2.33); probed once. */
function setprivPath(): string | undefined {
  if (setprivCache === undefined) {
    const path = process.platform === 'linux' ? findOnPath('setpriv') : undefined;
    const works = path !== undefined && spawnSync(path, ['--pdeathsig', 'SIGKILL', 'true'], { stdio: 'ignore' }).status === 0;
    setprivCache = works ? path : null;
  }
  return setprivCache ?? undefined;
}

function installProcessHooks(): void {
  if (processHooksInstalled) return;
  processHooksInstalled = true;
  // 'exit' handlers must be synchronous; kill() is.
  process.on('exit', () => {
    for (const proc of running) {
      try {
        proc.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  sweepStaleRedisDirs();
}

/**
 * Layer 3 (see the file comment): reap servers and dirs left by test processes that died. Runs on the
 * first startRedis() of a process; exported so a test can prove it.
 */
export function sweepStaleRedisDirs(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(tmpdir(), entry);
    const owner = readPid(join(dir, 'owner.pid'));
    if (owner === undefined || owner === process.pid || isAlive(owner)) continue;
    const server = readPid(join(dir, 'redis.pid'));
    if (server !== undefined && isAlive(server) && isRedisServer(server)) {
      try {
        process.kill(server, 'SIGKILL');
      } catch {
        // raced with its own exit
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, but someone else's
  }
}

/** PIDs get reused: only kill a process whose command line is really redis-server. */
function isRedisServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
    return ps.status === 0 && ps.stdout.includes('redis-server');
  }
}

