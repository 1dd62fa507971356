/**
 * The admin API for break-glass declarations and silences (what `vaultwatch declare` and
 * `vaultwatch silence` do, over HTTP):
 *
 *   POST   /declarations        JSON {user, vault, for, reason, ticket?, item?, from?, author}  -> 201 {declaration}
 *   GET    /declarations[?all=true]                                                         -> 200 {declarations: [...]}
 *   DELETE /declarations/:id[?author=NAME]   ends it now                                     -> 200 {declaration}
 *   POST   /silences            JSON {vault, for, reason, author, rule?, user?, item?, from?} -> 201 {silence}
 *   GET    /silences[?all=true]                                                             -> 200 {silences: [...]}
 *   DELETE /silences/:id[?author=NAME]                                                      -> 200 {silence}
 *
 * `Authorization: Bearer <http.admin_token>`, compared in constant time: 401 (with WWW-Authenticate)
 * without it or with a wrong one; without a configured admin token every route answers 404. A refused
 * request is 400 naming every problem (`problems: [{field, message}]`), an unknown id 404, ending one
 * that already ended 409, and Redis trouble 503 with Retry-After.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { redactText } from '../../observability/logger.ts';
import { kindOfId, SuppressionError, type Suppression, type SuppressionKind, type SuppressionRequest } from '../../pipeline/suppression.ts';
import { verifyBearer } from '../auth.ts';
import { errorBody, sendError } from '../reply.ts';

/** What the routes need: the app's SuppressionService fits. */
export interface SuppressionAdmin {
  declare(req: SuppressionRequest): Promise<Suppression>;
  silence(req: SuppressionRequest): Promise<Suppression>;
  end(kind: SuppressionKind, id: string, by: string): Promise<Suppression>;
  list(kind: SuppressionKind, opts: { all?: boolean }): Promise<Suppression[]>;
}

export interface AdminOptions {
  /** `http.admin_token`; undefined: the admin API is off (404). */
  token?: string;
  suppressions: SuppressionAdmin;
}

const REALM = 'realm="vaultwatch-admin"';
const RETRY_AFTER_SECONDS = 5;
const FIELDS = ['user', 'vault', 'item', 'rule', 'for', 'from', 'reason', 'ticket', 'author'] as const;

const PATHS: Record<SuppressionKind, { path: string; one: string; many: string }> = {
  declaration: { path: '/declarations', one: 'declaration', many: 'declarations' },
  silence: { path: '/silences', one: 'silence', many: 'silences' },
};

export function registerSuppressionRoutes(app: FastifyInstance, admin: AdminOptions): void {
  // An encapsulated plugin: the auth hook applies to these routes only.
  void app.register(async (scope) => {
    scope.addHook('onRequest', async (req, reply) => {
      if (admin.token === undefined) {
        return sendError(reply, 404, 'the admin API is off: set http.admin_token (or admin_token_file) to use it');
      }
      const auth = verifyBearer(req.headers.authorization, admin.token);
      if (auth !== 'ok') {
        reply.header('WWW-Authenticate', `Bearer ${REALM}${auth === 'invalid' ? ', error="invalid_token"' : ''}`);
        return sendError(reply, 401, auth === 'missing' ? 'Authorization: Bearer <http.admin_token> required' : 'invalid admin token');
      }
      return undefined;
    });

    for (const kind of ['declaration', 'silence'] as const) {
      const { path, one, many } = PATHS[kind];

      scope.post(path, async (req, reply) => {
        const body = req.body;
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          return sendError(reply, 400, 'expected a JSON object');
        }
        const unknown = Object.keys(body).filter((k) => !(FIELDS as readonly string[]).includes(k));
        if (unknown.length) return sendError(reply, 400, `unknown field${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`);
        const input = body as SuppressionRequest;
        return answer(req, reply, async () => {
          const s = kind === 'declaration' ? await admin.suppressions.declare(input) : await admin.suppressions.silence(input);
          req.log.info({ [one]: s.id, vault: s.vault, author: s.author }, `${kind} made through the admin API`);
          return reply.code(201).header('Location', `${path}/${s.id}`).send({ [one]: s });
        });
      });

      scope.get(path, async (req, reply) => {
        const all = ['1', 'true', 'yes'].includes(String((req.query as Record<string, unknown>).all ?? '').toLowerCase());
        return answer(req, reply, async () => reply.send({ [many]: await admin.suppressions.list(kind, { all }) }));
      });

      scope.delete<{ Params: { id: string }; Querystring: { author?: string } }>(`${path}/:id`, async (req, reply) => {
        const { id } = req.params;
        if (kindOfId(id) !== kind) return sendError(reply, 404, `no ${kind} ${id}`);
        const by = req.query.author?.trim() || 'admin API';
        return answer(req, reply, async () => {
          const s = await admin.suppressions.end(kind, id, by);
          req.log.info({ [one]: s.id, by }, `${kind} ended through the admin API`);
          return reply.send({ [one]: s });
        });
      });
    }
  });
}

async function answer(req: FastifyRequest, reply: FastifyReply, run: () => Promise<FastifyReply>): Promise<FastifyReply> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof SuppressionError) {
      const status = err.code === 'not_found' ? 404 : err.code === 'conflict' ? 409 : 400;
      return reply.code(status).type('application/json; charset=utf-8').send({ ...errorBody(status, err.message), problems: err.problems });
    }
    req.log.error({ err: redactText((err as Error)?.message ?? String(err)) }, 'admin API: storage failed');
    return sendError(reply.header('Retry-After', String(RETRY_AFTER_SECONDS)), 503, 'storage unavailable; try again');
  }
}
