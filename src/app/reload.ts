/**
 * Hot reload: watch the config directory, debounce, load the whole set, swap atomically.
 * A bad policy file keeps its last good version in force (other files still update); a bad
 * vaultwatch.yaml or catalog keeps everything as it was. Each bad file is logged with line:column,
 * shows in metrics, and its vault's managers are told once per broken content.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { alertId, type Alert } from '../domain/alert.ts';
import type { Target } from '../domain/target.ts';
import { formatIssue, type ConfigIssue } from '../config/issues.ts';
import { loadConfig, type Env } from '../config/load.ts';
import { checkSettings } from '../config/settings-checks.ts';
import { Catalog } from '../enrich/catalog.ts';
import type { Metrics } from '../observability/metrics.ts';
import { buildPolicyContext, compilePolicies } from '../policy/compile.ts';
import { PolicySet, type CompiledPolicy } from '../policy/policy-set.ts';
import type { Runtime } from './load-runtime.ts';

export interface ReloaderDeps {
  configPath: string;
  env?: Env;
  logger: Logger;
  metrics: Metrics;
  current(): Runtime;
  apply(rt: Runtime): void;
  /** Sends the "your policy did not load" notice (one alert per manager target). */
  tellManagers(notices: { alert: Alert; target: Target }[]): Promise<void>;
  debounceMs?: number;
}

export class PolicyReloader {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  /** file -> hash of the broken content we already told the managers about. */
  private readonly told = new Map<string, string>();
  private readonly onHup = () => this.reloadNow();

  constructor(private readonly d: ReloaderDeps) {
    process.on('SIGHUP', this.onHup);
  }

  /**
   * Watches exactly the files the configuration is made of (vaultwatch.yaml, the policies directory
   * or glob base, the catalog, calendars), never the whole config directory: an outbox or a log
   * folder inside it would otherwise keep the watcher busy and trigger reloads.
   */
  watch(paths: readonly string[]): void {
    this.watcher = watch([...new Set(paths)], {
      ignoreInitial: true,
      depth: 1,
      // Editors save through a temporary file and a rename: wait until the write settles.
      awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 25 },
      ignored: (path, stats) => Boolean(stats?.isFile()) && !/\.(ya?ml|ics)$/.test(path),
    });
    this.watcher.on('all', () => this.schedule());
    this.watcher.on('error', (err) => this.d.logger.warn({ err: (err as Error).message }, 'config watcher error'));
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reloadNow(), this.d.debounceMs ?? 300);
    this.timer.unref();
  }

  /** Loads everything once and swaps in what is good. Returns the issues found (empty = all good). */
  reloadNow(): ConfigIssue[] {
    const { logger, metrics } = this.d;
    const loaded = loadConfig(this.d.configPath, this.d.env);
    const globalIssues: ConfigIssue[] = [...loaded.issues.filter((i) => !loaded.policies.some((p) => p.yaml.file === i.file))];
    const policyIssues = loaded.issues.filter((i) => loaded.policies.some((p) => p.yaml.file === i.file));
    if (loaded.main.value && loaded.main.valid) checkSettings(loaded.main.value, loaded.main.yaml, globalIssues);
    const ctx = loaded.main.value && loaded.main.valid ? buildPolicyContext(loaded.main.value, loaded.main.yaml, dirname(loaded.path), globalIssues) : undefined;
    if (!ctx || globalIssues.length || (loaded.catalog && !loaded.catalog.valid)) {
      for (const i of globalIssues) logger.error(formatIssue(i));
      logger.error('configuration not reloaded: the previous configuration stays in force');
      metrics.configLastReloadSuccessful.set(0);
      metrics.configFileOk.set({ file: loaded.main.yaml.file }, 0);
      return globalIssues;
    }
    metrics.configFileOk.set({ file: loaded.main.yaml.file }, 1);

    const { policies, issues } = compilePolicies(loaded, ctx);
    const all = [...policyIssues, ...issues];
    const previous = this.d.current();
    const merged = new Map<string, CompiledPolicy>(policies);
    const notices: { alert: Alert; target: Target }[] = [];
    for (const f of loaded.policies) {
      const fileIssues = all.filter((i) => i.file === f.yaml.file);
      if (fileIssues.length === 0) {
        metrics.configFileOk.set({ file: f.rel }, 1);
        this.told.delete(f.rel);
        continue;
      }
      metrics.configFileOk.set({ file: f.rel }, 0);
      for (const i of fileIssues) logger.error(formatIssue(i));
      const old = previous.policies.policies.find((p) => p.file === f.rel);
      if (old) merged.set(f.rel, old);
      logger.error({ file: f.rel }, old ? 'policy file did not load; its last good version stays in force' : 'new policy file did not load; it is not in force');
      const hash = contentHash(f.path);
      if (old && this.told.get(f.rel) !== hash) {
        this.told.set(f.rel, hash);
        notices.push(...policyNotice(old, fileIssues));
      }
    }
    const set = new PolicySet(merged.values());
    this.d.apply({ ...previous, loaded, config: loaded.main.value!, policies: set, policyContext: ctx, catalog: new Catalog(loaded.catalog?.value ?? {}), issues: all });
    metrics.configLastReloadSuccessful.set(all.length ? 0 : 1);
    logger.info({ policies: set.policies.length, rules: set.ruleCount, bad_files: new Set(all.map((i) => i.file)).size }, 'configuration reloaded');
    if (notices.length) void this.d.tellManagers(notices).catch((err) => logger.warn({ err: (err as Error).message }, 'could not notify managers of a bad policy file'));
    return all;
  }

  async close(): Promise<void> {
    process.off('SIGHUP', this.onHup);
    clearTimeout(this.timer);
    await this.watcher?.close();
  }
}

function contentHash(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return 'missing';
  }
}

/**
 * The notice to a vault's managers: their policy file did not load, with the errors, and the
 * reassurance that the last good version still protects the vault.
 */
function policyNotice(old: CompiledPolicy, issues: ConfigIssue[]): { alert: Alert; target: Target }[] {
  const vault = old.vaults[0];
  const managers = old.rules[0]?.managers ?? [];
  const now = new Date();
  const id = `config-${createHash('sha256').update(old.file + issues.map(formatIssue).join('\n')).digest('hex').slice(0, 20)}`;
  const alert: Alert = {
    id: alertId(id, old.file, 'Policy file did not load'),
    event: {
      id, source: 'vaultwatch', time: now.toISOString(), time_ms: now.getTime(), received_at: now.toISOString(),
      action: 'edit', vendor_action: 'config-reload',
      vault: { id: vault?.id ?? 'unknown', ...(vault?.name ? { name: vault.name } : {}) },
      item: { id: old.file, title: `policy file ${old.file}` },
      user: { id: 'vaultwatch', name: 'vaultwatch (configuration reload)' },
    },
    policy: old.file,
    rule: 'Policy file did not load',
    severity: 'high',
    reasons: [
      `the edited ${old.file} has ${issues.length} error${issues.length === 1 ? '' : 's'}; its last good version stays in force until it is fixed`,
      ...issues.slice(0, 10).map(formatIssue),
    ],
    targets: managers.map((m) => m.target),
    timezone: old.timezone,
    suppressed: false,
  };
  return managers.map((m) => ({ alert, target: m.target }));
}
