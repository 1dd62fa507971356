/**
 * The daemon's HTTP server (fastify 5): /ingest, /healthz, /readyz, /metrics. Built from injected
 * dependencies and not listening: the app calls `listen`, tests call `inject`.
 *
 * Errors answer `{statusCode, error, message}` JSON and never carry a stack or a secret; 5xx messages
 * are generic (the detail goes to the log, redacted). Requests are logged at debug only, by method,
 * path (no query string) and status: never bodies or headers.
 */
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, LogController } from 'fastify';
import { redactText } from '../observability/logger.ts';
import { sendError } from './reply.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerIngestRoute } from './routes/ingest.ts';
import { registerMetricsRoute } from './routes/metrics.ts';
import { registerSuppressionRoutes } from './routes/suppressions.ts';
import type { HttpDeps } from './types.ts';

export type {
  CheckStatus, HealthProbe, HttpDeps, IngestOptions, NormalizeContextExtras, ReadyReport, SourceState, SourceStatus,
} from './types.ts';
export { DEFAULT_MAX_BODY_BYTES } from './types.ts';
export type { IngestReport, RejectedRecord } from './routes/ingest.ts';

/** Requests without a route of their own (none today accepts a body) get fastify's default limit. */
const DEFAULT_BODY_LIMIT = 1024 * 1024;

function pathOf(url: string): string {
  const q = url.indexOf('?');
  // Justification and alert links are capabilities: their tokens stay out of the log.
  return redactText(q < 0 ? url : url.slice(0, q)).replace(/^\/(justify|alerts)\/.+$/, '/$1/<token>');
}

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance at the default generics callers name.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Fastify's own per-request lines are info level; ours (onResponse below) are debug.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT,
    return503OnClosing: true,
  });

  app.addHook('onResponse', (req, reply, done) => {
    req.log.debug({ method: req.method, path: pathOf(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'http request');
    done();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ err, method: req.method, path: pathOf(req.url) }, 'http request failed');
      return sendError(reply, status, 'internal error');
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendError(reply, 415, 'expected Content-Type application/json or application/x-ndjson');
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, 413, `body larger than the limit of ${req.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT} bytes`);
    }
    return sendError(reply, status, redactText(err.message));
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, 404, `no route for ${req.method} ${pathOf(req.url)}`));

  registerHealthRoutes(app, deps.health);
  registerMetricsRoute(app, deps.metrics);
  if (deps.ingest !== undefined) registerIngestRoute(app, deps, deps.ingest);
  if (deps.admin !== undefined) registerSuppressionRoutes(app, deps.admin);
  return app;
}
