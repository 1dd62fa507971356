import { formatIssue } from '../config/issues.ts';
import { loadRuntime } from '../app/load-runtime.ts';
import { EXIT_OK, EXIT_USAGE } from './common.ts';

export function validateCommand(opts: { config: string }): number {
  const rt = loadRuntime(opts.config);
  for (const i of rt.issues) process.stdout.write(`${formatIssue(i)}\n`);
  if (rt.issues.length) {
    process.stdout.write(`${rt.issues.length} error${rt.issues.length === 1 ? '' : 's'}\n`);
    return EXIT_USAGE;
  }
  const p = rt.policies;
  process.stdout.write(`ok: ${p.policies.length} policy file${p.policies.length === 1 ? '' : 's'}, ${p.vaultCount} vault${p.vaultCount === 1 ? '' : 's'}, ${p.ruleCount} rule${p.ruleCount === 1 ? '' : 's'}, ${rt.catalog.size} catalog entr${rt.catalog.size === 1 ? 'y' : 'ies'}\n`);
  return EXIT_OK;
}
