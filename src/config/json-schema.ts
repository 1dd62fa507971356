import { z } from 'zod';
import { catalogSchema, configSchema, policyFileSchema, policyTestsSchema } from './schema.ts';

const SCHEMAS = {
  'vaultwatch.schema.json': [configSchema, 'vaultwatch daemon settings (vaultwatch.yaml)'],
  'policy.schema.json': [policyFileSchema, 'vaultwatch policy file (one per sensitive vault)'],
  'catalog.schema.json': [catalogSchema, 'vaultwatch catalog: item and vault labels by id'],
  'policy-tests.schema.json': [policyTestsSchema, 'vaultwatch policy test cases (*.tests.yaml)'],
} as const;

/** File name -> JSON Schema text, as committed under schema/. */
export function renderSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, [schema, title]] of Object.entries(SCHEMAS)) {
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Record<string, unknown>;
    out[file] = `${JSON.stringify({ ...json, $id: `https://vaultwatch.dev/schema/${file}`, title }, null, 2)}\n`;
  }
  return out;
}
