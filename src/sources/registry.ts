/**
 * Config `sources:` entries -> Source objects. Adding a source kind is one folder under sources/ plus
 * one line in FACTORIES.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type { SourceDef } from '../config/schema.ts';
import { createFileSource } from './file/reader.ts';
import { createRedisStreamSource } from './redis-stream/consumer.ts';
import type { Source } from './source.ts';

export interface SourceDeps {
  /** Makes a new connection; sources that block (XREADGROUP) make their own and close it on stop. */
  redis: () => Redis;
  /** Directory of the config file: relative paths in a source are relative to it. */
  configDir: string;
}

type SourceType = SourceDef['type'];
type Factory<T extends SourceType> = (def: Extract<SourceDef, { type: T }>, deps: SourceDeps) => Source;

/** Served by the HTTP server (`POST /ingest`), not a Source of its own. */
const HTTP = 'http' as const;
/** A kind the config accepts but whose source folder is not written yet. */
const NOT_IMPLEMENTED = 'not-implemented' as const;

const FACTORIES: { [T in SourceType]: Factory<T> | typeof HTTP | typeof NOT_IMPLEMENTED } = {
  'redis-stream': (def, deps) => createRedisStreamSource({
    redis: deps.redis,
    stream: def.stream,
    ...(def.name !== undefined ? { name: def.name } : {}),
    ...(def.group !== undefined ? { group: def.group } : {}),
    ...(def.field !== undefined ? { field: def.field } : {}),
  }),
  file: (def, deps) => createFileSource({
    path: isAbsolute(def.path) ? def.path : resolve(deps.configDir, def.path),
    ...(def.name !== undefined ? { name: def.name } : {}),
  }),
  webhook: HTTP,
  onepassword: NOT_IMPLEMENTED, // TODO(onepassword poller): (def, deps) => createOnePasswordSource(def, deps) from ./onepassword/
  bitwarden: NOT_IMPLEMENTED, // TODO(bitwarden poller): (def, deps) => createBitwardenSource(def, deps) from ./bitwarden/
};

/** How the daemon runs a configured kind: as a Source, inside the HTTP server, or not yet at all. */
export function sourceKind(type: SourceType): 'source' | 'http' | 'not-implemented' {
  const f = FACTORIES[type];
  return typeof f === 'function' ? 'source' : f;
}

/**
 * The Sources to start, in config order. `webhook` entries give none (the HTTP server serves them);
 * kinds not implemented yet give none either: the caller logs "source type X is not implemented yet"
 * for each def where `sourceKind(def.type) === 'not-implemented'`.
 */
export function createSources(defs: readonly SourceDef[], deps: SourceDeps): Source[] {
  const sources: Source[] = [];
  for (const def of defs) {
    const factory = FACTORIES[def.type] as Factory<SourceType> | typeof HTTP | typeof NOT_IMPLEMENTED;
    if (typeof factory === 'function') sources.push(factory(def, deps));
  }
  return sources;
}
