/**
 * `GET /alerts/:token` and `POST /alerts/:token`: a manager's page for one alert, opened from the
 * alert email (a signed `ack` link per recipient). It shows the alert, the justification so far and
 * earlier actions, and records "Expected" or "Investigating" (with an optional comment) under the
 * recipient's address; the alert's Slack messages are then updated. Same CSRF rules as /justify; the
 * link is single use (410 afterwards).
 */
import type { FastifyInstance } from 'fastify';
import { cleanText, isManagerAction } from '../../accountability/justification.ts';
import { renderAlertDone, renderAlertPage, renderMessagePage } from '../../accountability/pages.ts';
import { checkCsrf, CSRF_COOKIE, CSRF_FIELD, csrfValue } from '../../accountability/tokens.ts';
import { alertFacts } from '../../notifiers/alert-facts.ts';
import { cookies, csrfCookie, formOf, formScope, sameOrigin, sendPage } from '../forms.ts';
import { guarded, nonceFor, refuse, type PageRouteDeps } from './justify.ts';

type Params = { '*': string };

export function registerAlertActionRoutes(app: FastifyInstance, deps: PageRouteDeps): void {
  formScope(app, (scope) => {
    scope.get<{ Params: Params }>('/alerts/*', async (req, reply) => guarded(deps, reply, async () => {
      const token = req.params['*'];
      const view = await deps.service.openLink(token, 'ack');
      if (view.kind !== 'ok') return refuse(reply, view, 'ack');
      const nonce = nonceFor(req);
      reply.header('Set-Cookie', csrfCookie(CSRF_COOKIE, nonce, deps.publicUrl().startsWith('https:')));
      const status = await deps.service.status(view.alert, view.state, view.actions);
      return sendPage(reply, 200, renderAlertPage({
        facts: alertFacts(view.alert), csrf: csrfValue(view.secret, token, nonce), status, recipient: view.claims.recipient.replace(/^email:/, ''),
      }));
    }));

    scope.post<{ Params: Params }>('/alerts/*', async (req, reply) => guarded(deps, reply, async () => {
      const token = req.params['*'];
      const view = await deps.service.openLink(token, 'ack');
      if (view.kind !== 'ok') return refuse(reply, view, 'ack');
      const form = formOf(req);
      if (!sameOrigin(req, deps.publicUrl()) || !checkCsrf(view.secret, token, cookies(req)[CSRF_COOKIE], form.get(CSRF_FIELD) ?? undefined)) {
        return sendPage(reply, 403, renderMessagePage({
          title: 'Please send the form again',
          message: 'Nothing was recorded: the form did not come from this page as it was opened (or your browser did not send its cookie). Open the link from the alert email again.',
        }));
      }
      const action = form.get('action');
      if (!isManagerAction(action)) {
        return sendPage(reply, 400, renderMessagePage({ title: 'Choose Expected or Investigating', message: 'Nothing was recorded. Go back and press one of the two buttons.' }));
      }
      const address = view.claims.recipient.replace(/^email:/, '');
      const comment = cleanText(form.get('comment') ?? '');
      const done = await deps.service.act(view.claims.alertId, {
        action, by: view.claims.recipient, by_name: address, via: 'email', ...(comment ? { comment } : {}),
      }, view.claims.id);
      if (!done) return refuse(reply, { kind: 'used', claims: view.claims, alert: view.alert, actions: view.actions }, 'ack');
      const status = await deps.service.status(view.alert, view.state, [...view.actions, done]);
      return sendPage(reply, 200, renderAlertDone(alertFacts(view.alert), done, status));
    }));
  });
}
