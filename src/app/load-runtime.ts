/**
 * Load everything a command or the daemon needs from one config path: settings, policies compiled
 * into a PolicySet, and the catalog. Collects every issue; callers decide whether to stop.
 */
import type { ConfigIssue } from '../config/issues.ts';
import { loadConfig, type Env, type LoadedConfig } from '../config/load.ts';
import type { ConfigFile } from '../config/schema.ts';
import { Catalog } from '../enrich/catalog.ts';
import { buildPolicySet, type PolicyContext } from '../policy/compile.ts';
import type { PolicySet } from '../policy/policy-set.ts';

export interface Runtime {
  loaded: LoadedConfig;
  config: ConfigFile;
  policies: PolicySet;
  policyContext?: PolicyContext;
  catalog: Catalog;
  issues: ConfigIssue[];
}

export function loadRuntime(configPath: string, env: Env = process.env): Runtime {
  const loaded = loadConfig(configPath, env);
  const { set, ctx, issues } = buildPolicySet(loaded);
  sortIssues(issues);
  return {
    loaded,
    config: loaded.main.value ?? {},
    policies: set,
    ...(ctx ? { policyContext: ctx } : {}),
    catalog: new Catalog(loaded.catalog?.value ?? {}),
    issues,
  };
}

/** Errors in reading order: vaultwatch.yaml first, then files in load order, each by position. */
function sortIssues(issues: ConfigIssue[]): void {
  const fileOrder = new Map<string, number>();
  for (const i of issues) if (!fileOrder.has(i.file)) fileOrder.set(i.file, fileOrder.size);
  issues.sort((a, b) => (fileOrder.get(a.file)! - fileOrder.get(b.file)!) || (a.line - b.line) || (a.column - b.column));
}
