/** What the HTTP layer needs from the app: everything injected, so tests drive it with fakes. */
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Intake } from '../pipeline/intake.ts';
import type { RecognizeContext } from '../sources/recognize.ts';
import type { SourceStatus } from '../sources/source.ts';
import type { AdminOptions } from './routes/suppressions.ts';

export type { SourceState, SourceStatus } from '../sources/source.ts';

export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;

export interface IngestOptions {
  /** Bearer token clients must send. */
  token?: string;
  /** When set, X-Vaultwatch-Timestamp + X-Vaultwatch-Signature are required too. */
  hmacSecret?: string;
  /** Body size limit; over it the answer is 413. Default DEFAULT_MAX_BODY_BYTES (5 MB). */
  maxBodyBytes?: number;
  /** The source name for metrics, dead letters and canonical records that name none: `webhook`. */
  source: string;
}

export interface CheckStatus {
  ok: boolean;
  latency_ms?: number;
  error?: string;
  [detail: string]: unknown;
}

/** /readyz body. `ready` depends on redis, config and workers only: a failing source is listed, not fatal. */
export interface ReadyReport {
  ready: boolean;
  checks: { redis: CheckStatus; config: CheckStatus; workers: CheckStatus };
  /** Each source's own snapshot (Source.status()): state, last error, last success. */
  sources: SourceStatus[];
}

export interface HealthProbe {
  /** The process runs and its event loop answers (false once shutdown has gone past the point of serving). */
  live(): boolean;
  /** Redis answered within a second, the config is loaded and the workers run. */
  ready(): Promise<ReadyReport>;
}

/** Extra context for normalizeRecord (the catalog's item -> vault lookup...), asked once per request. */
export type NormalizeContextExtras = Omit<RecognizeContext, 'receivedAt' | 'source' | 'force'>;

export interface HttpDeps {
  logger: Logger;
  metrics: Metrics;
  intake: Intake;
  /** No webhook source configured: /ingest answers 404. */
  ingest: IngestOptions | undefined;
  health: HealthProbe;
  clock: Clock;
  normalizeContext?: () => NormalizeContextExtras;
  /** The admin API (declarations, silences); absent: those routes do not exist. */
  admin?: AdminOptions;
}
