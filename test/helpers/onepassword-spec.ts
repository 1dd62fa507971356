/**
 * The 1Password Events API spec (test/fixtures/specs/1password-events-api-1.2.0.apisguru.yaml: a copy
 * of APIs-guru/openapi-directory@dec74da7:APIs/1password.com/events/1.2.0/openapi.yaml, the official
 * 1.2.0 export), loaded with `yaml` and compiled with ajv, to check what
 * the poller sends (and what the fake answers) against the vendor's own contract.
 *
 * The spec only has v1 paths for the event endpoints (plus v2 introspection); v2 paths mirror v1
 * (sources.md §1.3), so a v2 request is checked against its v1 twin. The request body is
 * `oneOf [Cursor, ResetCursor]` with no required properties (sources.md §1.13): any object validates
 * against both, so besides the schemas we check that a body's keys belong to exactly one of the two
 * property lists.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { isRfc3339, type RecordedRequest } from './onepassword-server.ts';

export const SPEC_PATH = new URL('../fixtures/specs/1password-events-api-1.2.0.apisguru.yaml', import.meta.url);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface EventsSpec {
  raw: Json;
  /** Property names of the two request body schemas, read from the spec. */
  cursorProps: string[];
  resetProps: string[];
  /** `required` of each (the spec has none: the reason for the exclusivity check). */
  cursorRequired: unknown;
  resetRequired: unknown;
  /** Problems with a recorded request (empty when it is what the spec allows). */
  requestProblems(rec: RecordedRequest): string[];
  /** Problems with a recorded 200 answer against the operation's response schema. */
  responseProblems(rec: RecordedRequest): string[];
}

function deref(spec: Json, node: Json): Json {
  let n = node;
  for (let i = 0; i < 10 && typeof n?.['$ref'] === 'string'; i++) {
    n = (n['$ref'] as string).replace(/^#\//, '').split('/').reduce((o: Json, k: string) => o[k], spec);
  }
  return n;
}

/** The spec operation for a path (v2 event paths read as their v1 twins). */
function operation(spec: Json, method: string, path: string): Json | undefined {
  const p = spec['paths'][path] ?? spec['paths'][path.replace(/^\/api\/v2\/(itemusages|auditevents|signinattempts)$/, '/api/v1/$1')];
  return p?.[method.toLowerCase()];
}

export function loadEventsSpec(): EventsSpec {
  const raw = parse(readFileSync(SPEC_PATH, 'utf8')) as Json;
  const ajv = new Ajv({ strict: false, allErrors: true, formats: { 'date-time': isRfc3339, email: /^[^\s@]+@[^\s@]+$/ } });
  // Component schemas as draft-07 definitions, so each operation's schema compiles with its refs.
  const definitions = JSON.parse(JSON.stringify(raw['components']['schemas']).replaceAll('#/components/schemas/', '#/definitions/')) as Json;
  const compiled = new Map<string, ValidateFunction>();
  const compile = (schema: Json): ValidateFunction => {
    const text = JSON.stringify(schema).replaceAll('#/components/schemas/', '#/definitions/');
    let v = compiled.get(text);
    if (!v) {
      v = ajv.compile({ ...JSON.parse(text), definitions });
      compiled.set(text, v);
    }
    return v;
  };

  const bodySchema = deref(raw, deref(raw, operation(raw, 'post', '/api/v1/itemusages')!['requestBody'])['content']['application/json']['schema']);
  const [cursorSchema, resetSchema] = (bodySchema['oneOf'] as Json[]).map((s) => deref(raw, s)) as [Json, Json];
  const cursorProps = Object.keys(cursorSchema['properties']);
  const resetProps = Object.keys(resetSchema['properties']);
  const validateCursor = compile(cursorSchema);
  const validateReset = compile(resetSchema);
  const schemes = raw['components']['securitySchemes'] as Json;

  return {
    raw,
    cursorProps,
    resetProps,
    cursorRequired: cursorSchema['required'],
    resetRequired: resetSchema['required'],
    requestProblems(rec) {
      const out: string[] = [];
      const op = operation(raw, rec.method, rec.path);
      if (!op) return [`${rec.method} ${rec.path} is not an operation of the spec`];
      for (const req of (op['security'] ?? []) as Json[]) {
        for (const name of Object.keys(req)) {
          const s = schemes[name] as Json;
          if (s['type'] === 'http' && s['scheme'] === 'bearer' && !/^Bearer \S+$/.test(rec.headers['authorization'] ?? '')) {
            out.push(`${rec.path}: security ${name} wants Authorization: Bearer <token>`);
          }
        }
      }
      if (!op['requestBody']) {
        if (rec.rawBody !== '') out.push(`${rec.method} ${rec.path} takes no body`);
        return out;
      }
      const content = deref(raw, op['requestBody'])['content'] as Json;
      const type = (rec.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!(type in content)) out.push(`${rec.path}: content-type "${type}" is not one of ${Object.keys(content).join(', ')}`);
      let body: unknown;
      try { body = JSON.parse(rec.rawBody); } catch { return [...out, `${rec.path}: body is not JSON`]; }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return [...out, `${rec.path}: body is not an object`];
      const keys = Object.keys(body);
      const asCursor = keys.length > 0 && keys.every((k) => cursorProps.includes(k));
      const asReset = keys.every((k) => resetProps.includes(k));
      if (asCursor === asReset) out.push(`${rec.path}: body keys [${keys.join(', ')}] must be exactly Cursor's [${cursorProps.join(', ')}] or within ResetCursor's [${resetProps.join(', ')}]`);
      const v = asCursor ? validateCursor : validateReset;
      if (!v(body)) out.push(`${rec.path}: ${asCursor ? 'Cursor' : 'ResetCursor'}: ${ajv.errorsText(v.errors)}`);
      return out;
    },
    responseProblems(rec) {
      const op = operation(raw, rec.method, rec.path);
      if (!op) return [`${rec.method} ${rec.path} is not an operation of the spec`];
      const res = deref(raw, op['responses'][String(rec.status)] ?? op['responses']['default']);
      const schema = res?.['content']?.['application/json']?.['schema'] as Json | undefined;
      if (!schema) return [`${rec.path} ${rec.status}: no response schema`];
      const v = compile(deref(raw, schema));
      return v(rec.response) ? [] : [`${rec.path} ${rec.status}: ${ajv.errorsText(v.errors)}`];
    },
  };
}
