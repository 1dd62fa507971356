import { ConfigError, formatIssue } from '../config/issues.ts';
import { Daemon, type DaemonRole } from '../app/daemon.ts';
import { EXIT_OK, EXIT_USAGE } from './common.ts';

/** `vaultwatch start`: runs until SIGTERM/SIGINT, then shuts down gracefully and exits 0. */
export async function startCommand(opts: { config: string; listen?: string; role?: DaemonRole }): Promise<number> {
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ configPath: opts.config, ...(opts.listen ? { listen: opts.listen } : {}), ...(opts.role ? { role: opts.role } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues) process.stderr.write(`${formatIssue(i)}\n`);
      process.stderr.write(`${err.issues.length} configuration error${err.issues.length === 1 ? '' : 's'}; not started\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  void warnWithoutRedis(daemon);
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        daemon.logger.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      daemon.logger.info({ signal }, 'signal received');
      // A shutdown that cannot finish (Redis gone, a peer hanging) must not keep the process alive:
      // after the grace period and a margin, exit anyway; unfinished jobs are retried by the next start.
      setTimeout(() => {
        daemon.logger.warn({ graceMs: daemon.graceMs }, 'shutdown did not finish in time; exiting');
        process.exit(EXIT_OK);
      }, daemon.graceMs + 5_000).unref();
      // Everything is closed by then; libraries' reconnect timers (Redis gone) must not keep the
      // process alive past its own shutdown.
      void daemon.stop().then(() => {
        resolve(EXIT_OK);
        setImmediate(() => process.exit(EXIT_OK));
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * The daemon keeps running without Redis (and recovers when it appears), but someone trying the
 * quick start deserves to be told why nothing is ready, and how to get a Redis.
 */
async function warnWithoutRedis(daemon: Daemon): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const r = await daemon.ready();
    if (r.checks.redis.ok) return;
    await new Promise((res) => setTimeout(res, 1_000));
  }
  const url = daemon.config.redis?.url ?? 'redis://127.0.0.1:6379';
  process.stderr.write(`vaultwatch: cannot reach Redis at ${url.replace(/\/\/[^@/]*@/, '//***@')}; start one (redis-server --daemonize yes) `
    + 'or set REDIS_URL. To install it: sudo apt-get install -y redis-server (Debian/Ubuntu) or brew install redis (macOS). '
    + 'The daemon keeps trying and becomes ready when Redis answers.\n');
}
