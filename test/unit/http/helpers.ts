/** Shared pieces for the HTTP tests: an in-memory intake, a fake health probe, fixtures, an app builder. */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { fixedClock } from '../../../src/domain/clock.ts';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import { buildHttpServer } from '../../../src/http/server.ts';
import type { HttpDeps, IngestOptions, ReadyReport } from '../../../src/http/types.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { Metrics } from '../../../src/observability/metrics.ts';
import {
  type DeadLetterEntry, type Intake, type IntakeResult, IntakeUnavailableError,
} from '../../../src/pipeline/intake.ts';

type Rec = Record<string, unknown>;

const FIXTURES = new URL('../../fixtures/events/', import.meta.url);

/** A record from test/fixtures/events/<kind>/<name>.json, fresh each call (tests may change it). */
export function fixture(kind: 'onepassword' | 'bitwarden' | 'canonical', name: string): Rec {
  return JSON.parse(readFileSync(new URL(`${kind}/${name}.json`, FIXTURES), 'utf8')) as Rec;
}

/** In memory, dedup by id like the Redis intake; `down` makes every call fail as when Redis is unreachable. */
export class FakeIntake implements Intake {
  readonly stored = new Map<string, UsageEvent>();
  readonly deadLetters: DeadLetterEntry[] = [];
  readonly calls: { events: UsageEvent[]; source: string }[] = [];
  down = false;

  async accept(events: readonly UsageEvent[], source: string): Promise<IntakeResult> {
    if (this.down) throw new IntakeUnavailableError('redis: connect ECONNREFUSED 127.0.0.1:6379');
    this.calls.push({ events: [...events], source });
    const duplicateIds = new Set<string>();
    let accepted = 0;
    for (const e of events) {
      if (this.stored.has(e.id) || duplicateIds.has(e.id)) {
        duplicateIds.add(e.id);
        continue;
      }
      this.stored.set(e.id, e);
      accepted++;
    }
    return { accepted, duplicates: events.length - accepted, duplicateIds };
  }

  async deadLetter(entries: readonly DeadLetterEntry[]): Promise<void> {
    if (this.down) throw new IntakeUnavailableError('redis: connect ECONNREFUSED 127.0.0.1:6379');
    this.deadLetters.push(...entries);
  }
}

export function readyReport(ready: boolean, overrides: Partial<ReadyReport> = {}): ReadyReport {
  return {
    ready,
    checks: {
      redis: ready ? { ok: true, latency_ms: 1 } : { ok: false, error: 'connect ECONNREFUSED 127.0.0.1:6379' },
      config: { ok: true },
      workers: { ok: true },
    },
    sources: [{ name: 'webhook', type: 'webhook', state: 'running', events: 0, rejected: 0 }],
    ...overrides,
  };
}

export const NOW = Date.parse('2026-03-13T02:10:00.000Z');
export const TOKEN = 'whk_7f3c0a9e5d1b4c2a8e6f';

export interface TestApp {
  app: FastifyInstance;
  intake: FakeIntake;
  metrics: Metrics;
  clock: ReturnType<typeof fixedClock>;
  health: { live: boolean; report: ReadyReport | (() => Promise<ReadyReport>) };
  logs: string[];
}

export function buildTestApp(ingest: Partial<IngestOptions> | null = {}, extra: Partial<HttpDeps> = {}): TestApp {
  const intake = new FakeIntake();
  const metrics = new Metrics({ defaultMetrics: false });
  const clock = fixedClock(NOW);
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) { logs.push(chunk.toString()); cb(); },
  });
  const logger = createLogger({ level: 'debug', destination });
  const health: TestApp['health'] = { live: true, report: readyReport(true) };
  const app = buildHttpServer({
    logger,
    metrics,
    intake,
    clock,
    ingest: ingest === null ? undefined : { token: TOKEN, source: 'webhook', ...ingest },
    health: {
      live: () => health.live,
      ready: async () => (typeof health.report === 'function' ? health.report() : health.report),
    },
    ...extra,
  });
  return { app, intake, metrics, clock, health, logs };
}

export const AUTH = { authorization: `Bearer ${TOKEN}` };
export const JSON_HEADERS = { ...AUTH, 'content-type': 'application/json' };
export const NDJSON_HEADERS = { ...AUTH, 'content-type': 'application/x-ndjson' };

/** The value of one sample in Prometheus text, or undefined when the series is absent. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
