/**
 * The JSON Schemas under schema/ (for editors: `# yaml-language-server: $schema=...`) are generated
 * from the zod schemas the loader validates with. They must be current, and the example files must
 * validate against them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderSchemas } from '../../../src/config/json-schema.ts';
import { listYamlFiles } from '../../../src/config/load.ts';
import { catalogSchema, configSchema, policyFileSchema, policyTestsSchema } from '../../../src/config/schema.ts';

const ROOT = join(import.meta.dirname, '../../..');
const rendered = renderSchemas();
const schemaOf = (file: string) => JSON.parse(rendered[file]!) as { properties: Record<string, unknown>; $schema: string };

describe('schema/*.json', () => {
  it.each(Object.keys(rendered))('%s equals the committed file', (file) => {
    const committed = readFileSync(join(ROOT, 'schema', file), 'utf8');
    expect(committed, `schema/${file} is stale: run \`npm run schema\` and commit the result`).toBe(rendered[file]);
  });

  it('are JSON Schema draft-07, and name every top-level key of the zod schemas', () => {
    const pairs = [
      ['vaultwatch.schema.json', configSchema], ['policy.schema.json', policyFileSchema],
      ['catalog.schema.json', catalogSchema], ['policy-tests.schema.json', policyTestsSchema],
    ] as const;
    for (const [file, zod] of pairs) {
      const json = schemaOf(file);
      expect(json.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(Object.keys(json.properties).sort(), file).toEqual(Object.keys(zod.shape).sort());
    }
  });
});

describe('the example files validate against the published schemas', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  const validator = (file: string) => {
    let v = compiled.get(file);
    if (!v) { v = ajv.compile(JSON.parse(rendered[file]!)); compiled.set(file, v); }
    return v;
  };
  const check = (schemaFile: string, yamlFile: string) => {
    const validate = validator(schemaFile);
    const ok = validate(parse(readFileSync(join(ROOT, yamlFile), 'utf8')));
    expect(ok, `${yamlFile}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  };
  const policies = (listYamlFiles(join(ROOT, 'config/policies')) ?? []).map((p) => p.slice(ROOT.length + 1));

  it('config/vaultwatch.yaml', () => check('vaultwatch.schema.json', 'config/vaultwatch.yaml'));
  it('config/catalog.yaml', () => check('catalog.schema.json', 'config/catalog.yaml'));
  it('config/policies/*.yaml', () => {
    const plain = policies.filter((p) => !p.endsWith('.tests.yaml'));
    expect(plain.length).toBeGreaterThanOrEqual(2);
    for (const p of plain) check('policy.schema.json', p);
  });
  it('config/policies/*.tests.yaml', () => {
    const tests = policies.filter((p) => p.endsWith('.tests.yaml'));
    expect(tests.length).toBeGreaterThanOrEqual(2);
    for (const p of tests) check('policy-tests.schema.json', p);
  });

  it('and a file with an unknown key or a bad value does not', () => {
    const validate = validator('policy.schema.json');
    expect(validate({ vault: { id: 'v' }, rules: [{ name: 'r', match: { item_type: ['login'] } }] })).toBe(false);
    expect(validate({ vault: { id: 'v' }, rules: [{ name: 'r', severity: 'urgent' }] })).toBe(false);
    expect(validate({ vault: { id: 'v' }, rules: [{ name: 'r', match: { actions: 'reveal', vendor_actions: [1113, 'x'] } }] })).toBe(true);
  });
});
