/**
 * YAML with positions: parse a file, validate it with a zod schema, and report every problem as
 * `file:line:column: message`, all at once.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { didYouMean, type ConfigIssue } from './issues.ts';

export type Path = readonly (string | number)[];

export interface YamlFile {
  file: string;
  doc: Document.Parsed;
  issues: ConfigIssue[];
  /** Position of the node at `path`, or of its nearest existing ancestor. */
  locate(path: Path, which?: 'key' | 'value'): { line: number; column: number };
  issueAt(path: Path, message: string, which?: 'key' | 'value'): ConfigIssue;
}

export function parseYamlFile(file: string, text: string): YamlFile {
  const lineCounter = new LineCounter();
  // yaml's own uniqueKeys check compares every pair of keys (quadratic: 20 s for a 20,000-item
  // catalog), so duplicates are found here with one Set per mapping instead.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false, strict: true });
  const issues: ConfigIssue[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    const pos = lineCounter.linePos(e.pos[0]);
    issues.push({ file, line: pos.line, column: pos.col, message: yamlMessage(e.code, e.message) });
  }
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(key)) {
          const pos = lineCounter.linePos((pair.key as Node | null)?.range?.[0] ?? 0);
          issues.push({ file, line: pos.line, column: pos.col, message: `duplicate key \`${key}\` (the first one would be silently replaced)` });
        }
        seen.add(key);
      }
    },
  });

  const locate = (path: Path, which: 'key' | 'value' = 'value') => {
    const offset = offsetOf(doc, path, which);
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  return {
    file, doc, issues, locate,
    issueAt: (path, message, which) => ({ file, ...locate(path, which), message }),
  };
}

function yamlMessage(code: string, message: string): string {
  // yaml's messages end with a position we already give, and its codes are useful to grep.
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return code === 'DUPLICATE_KEY' ? `duplicate key: ${first}` : first;
}

function offsetOf(doc: Document.Parsed, path: Path, which: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let best = (node as Node | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      if (keyNode?.range) best = keyNode.range[0];
      // By position, not by name: `sources[0].sources` must point at the inner key, not the outer.
      if (which === 'key' && i === path.length - 1) return best;
      if (pair.value === null || pair.value === undefined) break;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      node = item;
    } else {
      break;
    }
    const r = (node as Node | null)?.range;
    if (r) best = r[0];
  }
  return best;
}

/**
 * Validates `value` (the file's JS) with `schema`, turning zod issues into located ones with hints.
 *
 * Validation is partial on purpose: each property of an object and each element of a list is checked
 * on its own, and `value` keeps the parts that are valid. So one bad key does not hide the semantic
 * errors of its neighbours (an unknown schedule in the next rule): every error shows in one run.
 * `valid` is false when anything was wrong; callers never run with a partial value.
 */
export function validateYaml<T>(yf: YamlFile, value: unknown, schema: z.ZodType<T>): { value?: T; valid: boolean; issues: ConfigIssue[] } {
  const out: ConfigIssue[] = [];
  const r = validatePart(yf, schema, value, [], value, out);
  return { ...(r.usable ? { value: r.value as T } : {}), valid: out.length === 0, issues: out };
}

interface Part { usable: boolean; value?: unknown }

function validatePart(yf: YamlFile, s: z.ZodType, v: unknown, path: Path, root: unknown, out: ConfigIssue[]): Part {
  const d = defOf(s);
  switch (d.type) {
    case 'optional':
      return v === undefined ? { usable: true } : validatePart(yf, d.innerType!, v, path, root, out);
    case 'default':
      return v === undefined ? leaf(yf, s, v, path, root, out) : validatePart(yf, d.innerType!, v, path, root, out);
    case 'object': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return leaf(yf, s, v, path, root, out);
      const shape = d.shape ?? {};
      const obj = v as Record<string, unknown>;
      const result: Record<string, unknown> = {};
      let usable = true;
      for (const key of Object.keys(obj)) {
        if (!Object.hasOwn(shape, key)) out.push(yf.issueAt([...path, key], `unknown key \`${key}\`${didYouMean(key, Object.keys(shape))}`, 'key'));
      }
      for (const [key, prop] of Object.entries(shape)) {
        const r = validatePart(yf, prop, obj[key], [...path, key], root, out);
        if (r.usable && r.value !== undefined) result[key] = r.value;
        else if (!r.usable && !isOptional(prop)) usable = false;
      }
      return { usable, value: result };
    }
    case 'array': {
      if (!Array.isArray(v)) return leaf(yf, s, v, path, root, out);
      const items: unknown[] = [];
      v.forEach((item, i) => {
        const r = validatePart(yf, d.element!, item, [...path, i], root, out);
        // A hole keeps later entries at their index, so their errors still point at the right line.
        items.push(r.usable ? r.value : undefined);
      });
      const whole = s.safeParse(v);
      // Element errors are already reported; this catches list-level rules (at least one entry).
      if (!whole.success) {
        for (const issue of whole.error.issues as unknown as ZIssue[]) {
          if (issue.path.length === 0) collectIssue(yf, s, issue, path, root, out, path);
        }
      }
      return { usable: true, value: items };
    }
    case 'record': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return leaf(yf, s, v, path, root, out);
      const result: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v)) {
        const r = validatePart(yf, d.valueType!, item, [...path, key], root, out);
        if (r.usable) setOwn(result, key, r.value);
      }
      return { usable: true, value: result };
    }
    case 'union': {
      // Validated through the one option that fits (by `type:`, or a list vs a mapping vs a single
      // value), so an unknown key in a source or a `not` block gets its hint and its neighbours'
      // errors still show; otherwise the union is judged as a whole.
      const option = fittingOption(d, v);
      return option ? validatePart(yf, option, v, path, root, out) : leaf(yf, s, v, path, root, out);
    }
    default:
      return leaf(yf, s, v, path, root, out);
  }
}

/** `obj[key] = value` that keeps `__proto__` an own key instead of replacing the prototype. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function fittingOption(d: ZDef, v: unknown): z.ZodType | undefined {
  const options = d.options ?? [];
  if (d.discriminator !== undefined) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const given = (v as Record<string, unknown>)[d.discriminator];
    return options.find((o) => {
      const tag = defOf(o).shape?.[d.discriminator!];
      return tag !== undefined && (defOf(tag).values ?? []).includes(given);
    });
  }
  const kind = kindOfValue(v);
  if (kind === undefined) return undefined;
  const fitting = options.filter((o) => kindOfSchema(o) === kind);
  return fitting.length === 1 ? fitting[0] : undefined;
}

function kindOfValue(v: unknown): 'list' | 'mapping' | 'scalar' | undefined {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'mapping' : 'scalar';
}

function kindOfSchema(s: z.ZodType): 'list' | 'mapping' | 'scalar' | undefined {
  switch (defOf(s).type) {
    case 'array': return 'list';
    case 'object': case 'record': return 'mapping';
    case 'string': case 'number': case 'boolean': case 'enum': case 'literal': return 'scalar';
    default: return undefined;
  }
}

function leaf(yf: YamlFile, s: z.ZodType, v: unknown, path: Path, root: unknown, out: ConfigIssue[]): Part {
  const r = s.safeParse(v);
  if (r.success) return { usable: true, value: r.data };
  for (const issue of r.error.issues as unknown as ZIssue[]) collectIssue(yf, s, issue, path, root, out, path);
  return { usable: false };
}

function isOptional(s: z.ZodType): boolean {
  const t = defOf(s).type;
  return t === 'optional' || t === 'default';
}

interface ZIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  errors?: ZIssue[][];
  expected?: string;
  values?: unknown[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  discriminator?: string;
  options?: unknown[];
}

/** `schema` is the schema validated at `base`; zod's issue paths (and so `path`) go on from there. */
function collectIssue(yf: YamlFile, schema: z.ZodType, issue: ZIssue, prefix: Path, root: unknown, out: ConfigIssue[], base: Path): void {
  const path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))] as (string | number)[];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schema, path.slice(base.length), valueAt(root, base));
      for (const key of issue.keys ?? []) {
        out.push(yf.issueAt([...path, key], `unknown key \`${key}\`${known ? didYouMean(key, known) : ''}`, 'key'));
      }
      return;
    }
    case 'invalid_union': {
      if (issue.discriminator) {
        const options = (issue.options ?? []).map(String);
        const at = path[path.length - 1] === issue.discriminator ? path.slice(0, -1) : path;
        const given = valueAt(root, [...at, issue.discriminator]);
        const hint = typeof given === 'string' ? didYouMean(given, options) : '';
        out.push(yf.issueAt([...at, issue.discriminator], `${given === undefined ? 'missing' : `"${String(given)}" is not a valid`} \`${issue.discriminator}\`; one of: ${options.join(', ')}${hint}`));
        return;
      }
      const branches = issue.errors ?? [];
      const best = pickBranch(branches, valueAt(root, path));
      if (best) {
        for (const sub of best) collectIssue(yf, schema, sub, path, root, out, base);
        return;
      }
      out.push(yf.issueAt(path, describeUnionMismatch(branches, valueAt(root, path))));
      return;
    }
    default:
      out.push(yf.issueAt(path, humanMessage(issue, valueAt(root, path), path)));
  }
}

/** The branch whose errors are not about the value's own type (that branch matched the shape). */
function pickBranch(branches: ZIssue[][], value: unknown): ZIssue[] | undefined {
  // zod reports a list given to an enum as invalid_value, not invalid_type: both mean "wrong shape".
  // For a single value, though, invalid_value is the answer: `actions: peek` is a bad action.
  const scalar = value === null || typeof value !== 'object';
  const candidates = branches.filter((b) => !b.some((i) => (i.code === 'invalid_type' || (i.code === 'invalid_value' && !scalar)) && i.path.length === 0));
  if (candidates.length === 0) return undefined;
  return candidates.reduce((a, b) => (a.length <= b.length ? a : b));
}

function describeUnionMismatch(branches: ZIssue[][], value: unknown): string {
  const expected = new Set<string>();
  for (const b of branches) for (const i of b) if (i.code === 'invalid_type' && i.path.length === 0 && i.expected) expected.add(i.expected);
  const list = [...expected].map((e) => (e === 'array' ? 'a list' : e === 'object' ? 'a mapping' : `a ${e}`));
  return `expected ${list.join(' or ') || 'another value'}, got ${kindOf(value)}`;
}

function humanMessage(issue: ZIssue, value: unknown, path: Path): string {
  const last = path[path.length - 1];
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return `missing required key \`${String(last)}\``;
      return `expected ${article(issue.expected ?? 'value')}, got ${kindOf(value)}`;
    case 'invalid_value': {
      const allowed = (issue.values ?? []).map(String);
      return `"${String(value)}" is not one of: ${allowed.join(', ')}${typeof value === 'string' ? didYouMean(value, allowed) : ''}`;
    }
    case 'invalid_union':
      if (issue.discriminator) {
        return `\`${issue.discriminator}\` must be one of: ${(issue.options ?? []).map(String).join(', ')}`;
      }
      return issue.message;
    case 'too_small':
      if (Array.isArray(value)) return `needs at least ${String(issue.minimum)} entr${issue.minimum === 1 ? 'y' : 'ies'}`;
      if (typeof value === 'string') return 'must not be empty';
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  if (expected === 'array') return 'a list';
  if (expected === 'object') return 'a mapping';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value}"`;
  return String(value);
}

function valueAt(root: unknown, path: Path): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------
// Walking the zod schema to learn which keys are allowed at a path (for "did you mean").

interface ZDef {
  type: string;
  discriminator?: string;
  values?: unknown[];
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  in?: z.ZodType;
  getter?: () => z.ZodType;
}

function defOf(s: z.ZodType): ZDef {
  return (s as unknown as { _zod: { def: ZDef } })._zod.def;
}

function knownKeys(schema: z.ZodType, path: Path, root: unknown): string[] | undefined {
  const found: string[] = [];
  walk(schema, path, 0, root, found);
  return found.length ? found : undefined;
}

function walk(s: z.ZodType, path: Path, i: number, value: unknown, found: string[]): void {
  const d = defOf(s);
  switch (d.type) {
    case 'optional': case 'default': case 'nullable': case 'readonly': case 'catch': case 'prefault': case 'nonoptional':
      return walk(d.innerType!, path, i, value, found);
    case 'pipe': return walk(d.in!, path, i, value, found);
    case 'lazy': return walk(d.getter!(), path, i, value, found);
    case 'union':
      for (const o of d.options ?? []) walk(o, path, i, value, found);
      return;
    case 'object':
      if (i === path.length) { found.push(...Object.keys(d.shape ?? {})); return; }
      {
        const next = d.shape && Object.hasOwn(d.shape, String(path[i])) ? d.shape[String(path[i])] : undefined;
        if (next) walk(next, path, i + 1, (value as Record<string, unknown> | undefined)?.[String(path[i])], found);
      }
      return;
    case 'array':
      if (i < path.length) walk(d.element!, path, i + 1, (value as unknown[] | undefined)?.[path[i] as number], found);
      return;
    case 'record':
      if (i < path.length) walk(d.valueType!, path, i + 1, (value as Record<string, unknown> | undefined)?.[String(path[i])], found);
      return;
    default:
      return;
  }
}
