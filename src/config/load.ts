/**
 * Reads vaultwatch.yaml, the catalog and every policy file, with `${VAR}` substitution, `*_file`
 * secrets and relative paths, and collects every problem (never only the first).
 * It does not compile policies: that is policy/compile.ts, which reports through the same locators.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import picomatch from 'picomatch';
import type { z } from 'zod';
import type { ConfigIssue } from './issues.ts';
import { catalogSchema, configSchema, policyFileSchema, type CatalogFile, type ConfigFile, type PolicyFile } from './schema.ts';
import { parseYamlFile, setOwn, validateYaml, type Path, type YamlFile } from './yaml-file.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadedFile<T> {
  /** Absolute path. */
  path: string;
  /** Path relative to the config directory, as shown in alerts and replay output (`policies/finance.yaml`). */
  rel: string;
  yaml: YamlFile;
  /**
   * The valid parts of the file (see validateYaml), so semantic checks can still report their errors;
   * undefined when the file could not be read or parsed at all. Check `valid` before running on it.
   */
  value?: T;
  valid: boolean;
}

export interface LoadedConfig {
  path: string;
  dir: string;
  main: LoadedFile<ConfigFile>;
  catalog?: LoadedFile<CatalogFile>;
  policies: LoadedFile<PolicyFile>[];
  issues: ConfigIssue[];
}

export const DEFAULT_CONFIG_PATH = 'config/vaultwatch.yaml';
/** Policy test cases live beside the policies but are not policies. */
export const TEST_FILE_RE = /\.tests\.ya?ml$/;

export function loadConfig(configPath: string, env: Env = process.env): LoadedConfig {
  const path = resolve(configPath);
  const dir = dirname(path);
  const issues: ConfigIssue[] = [];
  const main = loadYaml(path, dir, configSchema, env, issues);
  const result: LoadedConfig = { path, dir, main, policies: [], issues };
  const cfg = main.value;
  if (!cfg) {
    // Still read the policies at their default place, so one run shows every error.
    if (existsSync(path)) result.policies = loadPolicies(join(dir, 'policies'), dir, env, issues, main.yaml, []);
    return result;
  }

  if (env.REDIS_URL) cfg.redis = { ...cfg.redis, url: env.REDIS_URL };

  const catalogPath = cfg.catalog ? resolve(dir, cfg.catalog) : join(dir, 'catalog.yaml');
  if (cfg.catalog || existsSync(catalogPath)) {
    result.catalog = loadYaml(catalogPath, dir, catalogSchema, env, issues, cfg.catalog ? main.yaml.issueAt(['catalog'], '') : undefined);
  }
  result.policies = loadPolicies(resolve(dir, cfg.policies ?? 'policies'), dir, env, issues, main.yaml, ['policies']);
  return result;
}

/** Reads one YAML file, substitutes env, validates, resolves `*_file` keys. Issues go to `issues`. */
export function loadYaml<T>(
  path: string, dir: string, schema: z.ZodType<T>, env: Env, issues: ConfigIssue[], referencedAt?: ConfigIssue,
): LoadedFile<T> {
  const rel = relative(dir, path) || basename(path);
  // Errors name the file as the user would open it from here; alerts name it relative to the config.
  const shown = displayPath(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read: ${(err as Error).message}`;
    issues.push(referencedAt ? { ...referencedAt, message: `${rel}: ${why}` } : { file: shown, line: 0, column: 0, message: why });
    return { path, rel, yaml: parseYamlFile(shown, ''), valid: false };
  }
  const yaml = parseYamlFile(shown, text);
  issues.push(...yaml.issues);
  // A syntax error leaves nothing reliable to check; a duplicate key does (the later one wins, as
  // the message says), so the file's other errors are still reported in the same run.
  if (yaml.doc.errors.length || yaml.doc.warnings.length) return { path, rel, yaml, valid: false };

  const before = issues.length - yaml.issues.length;
  let js: unknown;
  try {
    js = yaml.doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // yaml refuses alias bombs ("excessive alias count") by throwing: a located issue, never a crash.
    issues.push({ file: shown, line: 1, column: 1, message: `cannot read the YAML: ${(err as Error).message}` });
    return { path, rel, yaml, valid: false };
  }
  const raw = substituteEnv(js ?? {}, env, yaml, issues);
  const { value, issues: schemaIssues } = validateYaml(yaml, raw, schema);
  issues.push(...schemaIssues);
  if (value !== undefined) resolveSecretFiles(value, dirname(path), yaml, issues);
  return { path, rel, yaml, ...(value !== undefined ? { value } : {}), valid: issues.length === before };
}

// The last alternative catches a `${` that is none of the above (`${BAD-NAME}`, `${X:default}`, an
// unclosed `${X`): left as it is, it would become a literal token or URL without a word.
const ENV_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

/**
 * `${VAR}` anywhere in any string, `${VAR:-default}` when unset or empty (as in shells and compose
 * files); `$${` writes a literal `${`. An unset variable without a default is an error.
 */
export function substituteEnv(value: unknown, env: Env, yaml: YamlFile, issues: ConfigIssue[], path: Path = []): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(ENV_RE, (whole: string, name: string | undefined, fallback: string | undefined) => {
      if (whole === '$${') return '${';
      if (name === undefined) {
        issues.push(yaml.issueAt(path, 'malformed `${...}`: write ${NAME} or ${NAME:-default} (NAME: letters, digits, _), or $${ for a literal ${'));
        return whole;
      }
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      if (v === '') return v;
      issues.push(yaml.issueAt(path, `environment variable ${name} is not set`));
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, yaml, issues, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, substituteEnv(v, env, yaml, issues, [...path, k]));
    return out;
  }
  return value;
}

/** Any `x_file: PATH` becomes `x: <file content>` (trailing newline dropped), relative to the file. */
function resolveSecretFiles(value: unknown, baseDir: string, yaml: YamlFile, issues: ConfigIssue[], path: Path = []): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => resolveSecretFiles(v, baseDir, yaml, issues, [...path, i]));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (key.endsWith('_file') && typeof v === 'string') {
      const target = key.slice(0, -'_file'.length);
      if (obj[target] !== undefined) {
        issues.push(yaml.issueAt([...path, key], `give either \`${target}\` or \`${key}\`, not both`, 'key'));
        continue;
      }
      try {
        obj[target] = readFileSync(resolve(baseDir, v), 'utf8').replace(/\r?\n$/, '');
        delete obj[key];
      } catch (err) {
        issues.push(yaml.issueAt([...path, key], `cannot read ${v}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
      }
    } else {
      resolveSecretFiles(v, baseDir, yaml, issues, [...path, key]);
    }
  }
}

function loadPolicies(
  where: string, dir: string, env: Env, issues: ConfigIssue[], mainYaml: YamlFile, refPath: Path,
): LoadedFile<PolicyFile>[] {
  const files = listYamlFiles(where);
  if (files === undefined) {
    issues.push(mainYaml.issueAt(refPath, `no policy files: ${relative(dir, where) || where} does not exist`));
    return [];
  }
  return files.filter((f) => !TEST_FILE_RE.test(f)).map((f) => loadYaml(f, dir, policyFileSchema, env, issues));
}

/**
 * A directory (every *.yaml / *.yml in it, not recursive) or a glob. Sorted, so load order (and so
 * error order) is the same on every machine. Undefined when the directory or glob base is missing.
 */
export function listYamlFiles(where: string): string[] | undefined {
  const isGlob = picomatch.scan(where).isGlob;
  if (!isGlob) {
    if (!existsSync(where)) return undefined;
    if (statSync(where).isFile()) return [where];
    return readdirSync(where).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(where, f));
  }
  const { base } = picomatch.scan(where);
  if (!existsSync(base)) return undefined;
  const isMatch = picomatch(where, { dot: false });
  const out: string[] = [];
  const walkDir = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walkDir(p);
      else if (isMatch(p)) out.push(p);
    }
  };
  walkDir(base);
  return out.sort();
}

export function displayPath(path: string): string {
  const r = relative(process.cwd(), path);
  return r.startsWith('..') ? path : r;
}
