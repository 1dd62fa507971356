/**
 * `GET /justify/:token` and `POST /justify/:token`: the accessor's page (daemon.md: a used or expired
 * link answers 410 with a page that says so; a forged one 403).
 *
 * The POST is an ordinary urlencoded form (no JavaScript anywhere): it must carry the anti-CSRF field
 * matching the SameSite=Strict cookie the GET set (double submit), and, when the browser sends one, an
 * Origin (or Referer) of this site. The answer and the token's single use are recorded in one Redis
 * step; a second POST of the same form answers 410.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { answerSummary, shortTime } from '../../accountability/justification.ts';
import { FORBIDDEN, GONE_EXPIRED, goneUsed, renderJustifyDone, renderJustifyPage, renderMessagePage } from '../../accountability/pages.ts';
import type { AccountabilityService, LinkView } from '../../accountability/service.ts';
import { checkCsrf, CSRF_COOKIE, CSRF_FIELD, csrfValue, isNonce } from '../../accountability/tokens.ts';
import { alertFacts } from '../../notifiers/alert-facts.ts';
import { cookies, csrfCookie, formOf, formScope, sameOrigin, sendPage } from '../forms.ts';

export interface PageRouteDeps {
  service: AccountabilityService;
  /** Base of links (http.public_url, else the listening address). */
  publicUrl: () => string;
  now: () => number;
  log?: Logger;
}

/**
 * A wildcard, not `:token`: fastify caps a parametric segment at 100 characters (414 beyond) and a
 * signed token is about 200. A token with a `/` in it is simply not valid (403).
 */
type Params = { '*': string };

export function registerJustifyRoutes(app: FastifyInstance, deps: PageRouteDeps): void {
  formScope(app, (scope) => {
    scope.get<{ Params: Params }>('/justify/*', async (req, reply) => guarded(deps, reply, async () => {
      const token = req.params['*'];
      const view = await deps.service.openLink(token, 'justify');
      if (view.kind !== 'ok') return refuse(reply, view);
      const nonce = nonceFor(req);
      return showForm(reply, deps, view, csrfValue(view.secret, token, nonce), nonce);
    }));

    scope.post<{ Params: Params }>('/justify/*', async (req, reply) => guarded(deps, reply, async () => {
      const token = req.params['*'];
      const view = await deps.service.openLink(token, 'justify');
      if (view.kind !== 'ok') return refuse(reply, view);
      const form = formOf(req);
      const nonce = cookies(req)[CSRF_COOKIE];
      if (!sameOrigin(req, deps.publicUrl()) || !checkCsrf(view.secret, token, nonce, form.get(CSRF_FIELD) ?? undefined)) {
        return sendPage(reply, 403, renderMessagePage({
          title: 'Please send the form again',
          message: 'Your answer was not recorded: the form did not come from this page as it was opened (or your browser did not send its cookie). Open the link from your message again and answer there.',
        }));
      }
      const accessor = view.claims.recipient.replace(/^email:/, '');
      const input = { reason: form.get('reason') ?? undefined, text: form.get('text') ?? '' };
      const result = await deps.service.answer(view.claims.alertId, accessor, input, 'web');
      if (result.kind === 'used') return refuse(reply, { kind: 'used', claims: view.claims, alert: view.alert, actions: [] });
      if (result.kind === 'invalid') {
        const fresh = isNonce(nonce) ? nonce : newNonce();
        return showForm(reply, deps, view, csrfValue(view.secret, token, fresh), fresh, 400, result.error, {
          ...(input.reason ? { reason: input.reason } : {}), text: input.text,
        });
      }
      const f = alertFacts(view.alert);
      return sendPage(reply, 200, renderJustifyDone(f, result.answer, view.state?.deadline));
    }));
  });
}

function showForm(
  reply: FastifyReply, deps: PageRouteDeps, view: Extract<LinkView, { kind: 'ok' }>, csrf: string, nonce: string,
  status = 200, error?: string, values?: { reason?: string; text?: string },
): FastifyReply {
  const f = alertFacts(view.alert);
  const deadline = view.state?.deadline;
  const due = deadline && Date.parse(deadline) > deps.now() ? shortTime(deadline, f.timezone, view.alert.event.time) : undefined;
  reply.header('Set-Cookie', csrfCookie(CSRF_COOKIE, nonce, deps.publicUrl().startsWith('https:')));
  return sendPage(reply, status, renderJustifyPage({ facts: f, csrf, ...(due ? { deadline: due } : {}), ...(error ? { error } : {}), ...(values ? { values } : {}) }));
}

/** 403 forged, 410 expired or used (saying what was answered, when it is known). */
export function refuse(reply: FastifyReply, view: Exclude<LinkView, { kind: 'ok' }>, kind: 'justify' | 'ack' = 'justify'): FastifyReply {
  if (view.kind === 'forged') return sendPage(reply, 403, renderMessagePage(FORBIDDEN));
  if (view.kind === 'expired') return sendPage(reply, 410, renderMessagePage(GONE_EXPIRED));
  const details: string[] = [];
  if (kind === 'justify' && view.state?.answer) {
    const zone = view.alert ? alertFacts(view.alert).timezone : 'UTC';
    details.push(`Answered ${shortTime(view.state.answer.at, zone)}: ${answerSummary(view.state.answer)}`);
  }
  return sendPage(reply, 410, renderMessagePage(goneUsed(kind, details)));
}

/** The cookie's nonce when it has one (two pages open in one browser keep working), else a new one. */
export function nonceFor(req: FastifyRequest): string {
  const have = cookies(req)[CSRF_COOKIE];
  return isNonce(have) ? have : newNonce();
}

function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

/** Redis unavailable or a bug: a page that says so, never a stack. */
export async function guarded(deps: PageRouteDeps, reply: FastifyReply, run: () => Promise<FastifyReply>): Promise<FastifyReply> {
  try {
    return await run();
  } catch (err) {
    deps.log?.error({ err: (err as Error).message }, 'page failed');
    reply.header('Retry-After', '30');
    return sendPage(reply, 503, renderMessagePage({ title: 'Please try again in a minute', message: 'vaultwatch cannot reach its store right now; nothing was recorded.' }));
  }
}
