/**
 * Config `sources:` entries -> Source objects. Adding a source kind is one folder under sources/ plus
 * one line in FACTORIES.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type { SourceDef } from '../config/schema.ts';
import { createBitwardenPoller } from './bitwarden/poller.ts';
import { createFileSource } from './file/reader.ts';
import { createOnePasswordPoller } from './onepassword/poller.ts';
import { createRedisStreamSource } from './redis-stream/consumer.ts';
import type { Poller } from './poller.ts';
import type { Source } from './source.ts';

export interface SourceDeps {
  /** Makes a new connection; sources that block (XREADGROUP) make their own and close it on stop. */
  redis: () => Redis;
  /** Directory of the config file: relative paths in a source are relative to it. */
  configDir: string;
  /** The catalog's item -> vault lookup (Bitwarden events may name no collection). */
  itemVault?: (itemId: string) => string | undefined;
}

type SourceType = SourceDef['type'];
type Factory<T extends SourceType> = (def: Extract<SourceDef, { type: T }>, deps: SourceDeps) => Source;

/** Served by the HTTP server (`POST /ingest`), not a Source of its own. */
const HTTP = 'http' as const;
/** A kind the config accepts but whose source folder is not written yet. */
const NOT_IMPLEMENTED = 'not-implemented' as const;
/** Run by the poll scheduler (see POLLERS below), not as a long-running Source. */
const POLLER = 'poller' as const;

const FACTORIES: { [T in SourceType]: Factory<T> | typeof HTTP | typeof NOT_IMPLEMENTED | typeof POLLER } = {
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
  onepassword: POLLER,
  bitwarden: POLLER,
};

type PollerType = 'onepassword' | 'bitwarden';
type PollerFactory<T extends PollerType> = (def: Extract<SourceDef, { type: T }>, deps: SourceDeps) => Poller;

const POLLERS: { [T in PollerType]: PollerFactory<T> | typeof NOT_IMPLEMENTED } = {
  onepassword: (def, deps) => createOnePasswordPoller(def, deps),
  bitwarden: (def, deps) => createBitwardenPoller(def, deps),
};

/** How the daemon runs a configured kind: as a Source, a poller, inside the HTTP server, or not yet at all. */
export function sourceKind(type: SourceType): 'source' | 'poller' | 'http' | 'not-implemented' {
  const f = FACTORIES[type];
  if (f === POLLER) return typeof POLLERS[type as PollerType] === 'function' ? 'poller' : NOT_IMPLEMENTED;
  return typeof f === 'function' ? 'source' : f;
}

/** The vendor pollers to schedule, in config order. */
export function createPollers(defs: readonly SourceDef[], deps: SourceDeps): Poller[] {
  const out: Poller[] = [];
  for (const def of defs) {
    if (def.type !== 'onepassword' && def.type !== 'bitwarden') continue;
    const factory = POLLERS[def.type] as PollerFactory<PollerType> | typeof NOT_IMPLEMENTED;
    if (typeof factory === 'function') out.push(factory(def as Extract<SourceDef, { type: PollerType }>, deps));
  }
  return out;
}

/**
 * The Sources to start, in config order. `webhook` entries give none (the HTTP server serves them);
 * kinds not implemented yet give none either: the caller logs "source type X is not implemented yet"
 * for each def where `sourceKind(def.type) === 'not-implemented'`.
 */
export function createSources(defs: readonly SourceDef[], deps: SourceDeps): Source[] {
  const sources: Source[] = [];
  for (const def of defs) {
    const factory = FACTORIES[def.type] as Factory<SourceType> | typeof HTTP | typeof NOT_IMPLEMENTED | typeof POLLER;
    if (typeof factory === 'function') sources.push(factory(def, deps));
  }
  return sources;
}
