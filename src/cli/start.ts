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
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        daemon.logger.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      daemon.logger.info({ signal }, 'signal received');
      void daemon.stop().then(() => resolve(EXIT_OK));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
