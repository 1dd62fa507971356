import { join, relative, resolve } from 'node:path';
import type { Alert } from '../domain/alert.ts';
import { formatTarget } from '../domain/target.ts';
import { didYouMean, formatIssue, type ConfigIssue } from '../config/issues.ts';
import { listYamlFiles, loadYaml, TEST_FILE_RE } from '../config/load.ts';
import { policyTestsSchema, type PolicyTestCase } from '../config/schema.ts';
import { isProblem, Replayer } from '../app/replay.ts';
import type { Runtime } from '../app/load-runtime.ts';
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, loadOrExit } from './common.ts';

/** `vaultwatch test [CASES...]`: a pass/fail line per case; exit 1 when any fails. */
export async function testCommand(files: string[], opts: { config: string }): Promise<number> {
  const rt = loadOrExit(opts.config);
  const dir = rt.loaded.dir;
  const paths = files.length
    ? files.map((f) => resolve(f))
    : (listYamlFiles(resolve(dir, rt.config.tests ?? rt.config.policies ?? 'policies')) ?? []).filter((f) => rt.config.tests || TEST_FILE_RE.test(f));
  if (paths.length === 0) {
    process.stderr.write(`no test files found (looked for *.tests.yaml in ${relative(process.cwd(), join(dir, rt.config.policies ?? 'policies'))})\n`);
    return EXIT_USAGE;
  }
  const issues: ConfigIssue[] = [];
  let passed = 0;
  let failed = 0;
  for (const path of paths) {
    const f = loadYaml(path, process.cwd(), policyTestsSchema, process.env, issues);
    // A file with errors runs nothing: a case whose bad `expect` was dropped would pass vacuously.
    if (!f.value || !f.valid) continue;
    for (const c of f.value.tests) {
      const problems = await runCase(c, rt);
      if (problems.length === 0) {
        passed++;
        process.stdout.write(`PASS ${f.rel}: ${c.name}\n`);
      } else {
        failed++;
        process.stdout.write(`FAIL ${f.rel}: ${c.name}\n${problems.map((p) => `       ${p}\n`).join('')}`);
      }
    }
  }
  for (const i of issues) process.stderr.write(`${formatIssue(i)}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  if (issues.length) return EXIT_USAGE;
  return failed ? EXIT_PROBLEM : EXIT_OK;
}

/** Runs one case with fresh in-memory state; returns what did not hold (empty = pass). */
export async function runCase(c: PolicyTestCase, rt: Pick<Runtime, 'policies' | 'catalog'>): Promise<string[]> {
  const records = c.events ?? (c.event ? [c.event] : []);
  if (records.length === 0) return ['the case has neither `event` nor `events`'];
  // A misspelt rule name would make `excludes` (and every check of an absent alert) pass forever.
  const known = new Set(rt.policies.policies.flatMap((p) => p.rules.map((r) => r.name)));
  const unknown = namedRules(c.expect).filter((n) => !known.has(n));
  if (unknown.length) return unknown.map((n) => `no rule named "${n}" in the policies${didYouMean(n, known)}`);
  const replayer = new Replayer(rt.policies, rt.catalog, {
    ...(c.now ? { receivedAt: new Date(c.now).toISOString() } : {}),
    ...(c.source ? { force: c.source } : {}),
  });
  let last: Alert[] = [];
  for (const [i, record] of records.entries()) {
    const r = replayer.push(i + 1, record);
    if (isProblem(r)) return [`event ${i + 1}: ${r.message}`];
    last = await r;
  }
  return compare(c.expect, last);
}

/** Every rule name an expectation mentions. */
function namedRules(expect: PolicyTestCase['expect']): string[] {
  if (expect === 'none') return [];
  return [...new Set([
    ...(expect.alerts ?? []), ...(expect.includes ?? []), ...(expect.excludes ?? []), ...(expect.suppressed ?? []),
    ...Object.keys(expect.recipients ?? {}), ...Object.keys(expect.severity ?? {}), ...Object.keys(expect.reasons ?? {}),
  ])];
}

function compare(expect: PolicyTestCase['expect'], alerts: Alert[]): string[] {
  const fired = alerts.map((a) => a.rule);
  const list = (xs: string[]) => (xs.length ? xs.map((x) => `"${x}"`).join(', ') : 'none');
  if (expect === 'none') return fired.length ? [`expected no alert, got ${list(fired)}`] : [];
  const problems: string[] = [];
  if (expect.alerts) {
    const want = [...expect.alerts].sort();
    const got = [...fired].sort();
    if (want.join('\u0000') !== got.join('\u0000')) problems.push(`expected alerts ${list(want)}, got ${list(got)}`);
  }
  for (const r of expect.includes ?? []) if (!fired.includes(r)) problems.push(`expected "${r}" to alert; got ${list(fired)}`);
  for (const r of expect.excludes ?? []) if (fired.includes(r)) problems.push(`expected "${r}" not to alert, but it did`);
  for (const r of expect.suppressed ?? []) {
    const a = alerts.find((x) => x.rule === r);
    if (!a) problems.push(`expected "${r}" to alert (suppressed); it did not alert`);
    else if (!a.suppressed) problems.push(`expected "${r}" to be suppressed by dedup; it notified`);
  }
  for (const [r, want] of Object.entries(expect.recipients ?? {})) {
    const a = alerts.find((x) => x.rule === r);
    const got = a ? a.targets.map(formatTarget).sort() : [];
    if (!a) problems.push(`expected "${r}" to alert (recipients check)`);
    else if ([...want].sort().join(' ') !== got.join(' ')) problems.push(`"${r}": expected recipients ${want.join(' ')}, got ${got.join(' ')}`);
  }
  for (const [r, sev] of Object.entries(expect.severity ?? {})) {
    const a = alerts.find((x) => x.rule === r);
    if (a && a.severity !== sev) problems.push(`"${r}": expected severity ${sev}, got ${a.severity}`);
    if (!a) problems.push(`expected "${r}" to alert (severity check)`);
  }
  for (const [r, texts] of Object.entries(expect.reasons ?? {})) {
    const a = alerts.find((x) => x.rule === r);
    for (const t of texts) {
      if (!a?.reasons.some((x) => x.includes(t))) problems.push(`"${r}": no reason contains "${t}"${a ? `; reasons: ${a.reasons.join(' | ')}` : ' (it did not alert)'}`);
    }
  }
  return problems;
}
