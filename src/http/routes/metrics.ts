/** `GET /metrics`: Prometheus text exposition of the daemon's own registry. */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../observability/metrics.ts';

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.render();
    return reply.header('Cache-Control', 'no-store').type(metrics.contentType).send(text);
  });
}
