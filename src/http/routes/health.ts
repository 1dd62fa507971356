/**
 * `GET /healthz` (the process and its event loop answer) and `GET /readyz` (daemon.md "Process": Redis
 * answers within a second, the config is loaded, the workers run). A failing source is listed with its
 * state and last error but never makes the daemon unready. Never cached.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { redactText } from '../../observability/logger.ts';
import type { CheckStatus, HealthProbe, ReadyReport } from '../types.ts';

/** /readyz answers 503 when the probe has not answered by then (a Redis outage shows within 2 s). */
export const READY_TIMEOUT_MS = 1500;

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('Cache-Control', 'no-store');
}

function cleanCheck(check: CheckStatus): CheckStatus {
  return typeof check.error === 'string' ? { ...check, error: redactText(check.error) } : check;
}

/** Error texts come from drivers and vendors: a URL with credentials must not reach the answer. */
function cleanReport(report: ReadyReport): ReadyReport {
  return {
    ready: report.ready,
    checks: {
      redis: cleanCheck(report.checks.redis),
      config: cleanCheck(report.checks.config),
      workers: cleanCheck(report.checks.workers),
    },
    sources: report.sources.map((s) => (s.last_error === undefined ? s : { ...s, last_error: redactText(s.last_error) })),
  };
}

async function probe(health: HealthProbe, timeoutMs: number): Promise<ReadyReport | { ready: false; error: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ready: false; error: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ready: false, error: `readiness check did not answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([
      health.ready().then(cleanReport, (err: unknown) => ({
        ready: false as const,
        error: `readiness check failed: ${redactText(err instanceof Error ? err.message : String(err))}`,
      })),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealthRoutes(app: FastifyInstance, health: HealthProbe, readyTimeoutMs = READY_TIMEOUT_MS): void {
  app.get('/healthz', async (_req, reply) => {
    noStore(reply);
    if (health.live()) return reply.code(200).send({ status: 'ok' });
    return reply.code(503).send({ status: 'unavailable' });
  });

  app.get('/readyz', async (_req, reply) => {
    const report = await probe(health, readyTimeoutMs);
    return noStore(reply).code(report.ready ? 200 : 503).send(report);
  });
}
