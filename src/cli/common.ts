import { formatIssue } from '../config/issues.ts';
import { DEFAULT_CONFIG_PATH } from '../config/load.ts';
import { loadRuntime, type Runtime } from '../app/load-runtime.ts';

/** Exit codes (cli.md): 0 success, 1 the command ran and found a problem, 2 bad usage or bad config. */
export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

export const CONFIG_OPTION = ['-c, --config <file>', 'configuration file', DEFAULT_CONFIG_PATH] as const;

/** Loads the config or prints every error and exits 2. */
export function loadOrExit(configPath: string): Runtime {
  const rt = loadRuntime(configPath);
  if (rt.issues.length) {
    for (const i of rt.issues) process.stderr.write(`${formatIssue(i)}\n`);
    process.stderr.write(`${rt.issues.length} error${rt.issues.length === 1 ? '' : 's'}; nothing was run\n`);
    process.exit(EXIT_USAGE);
  }
  return rt;
}

export class UsageError extends Error {
  override name = 'UsageError';
}
