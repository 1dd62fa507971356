/**
 * Writes the JSON Schemas editors use for completion (`# yaml-language-server: $schema=...`), generated
 * from the same zod schemas the loader validates with. `npm run schema` after changing src/config/schema.ts;
 * a unit test fails while the committed files are stale.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSchemas } from '../src/config/json-schema.ts';

const dir = join(import.meta.dirname, '..', 'schema');
for (const [file, text] of Object.entries(renderSchemas())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote schema/${file}`);
}
