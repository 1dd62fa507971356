/**
 * `POST /slack/interactions`: Slack's interactivity Request URL. The signature over the exact body
 * bytes and a 5-minute timestamp window are checked first (401 otherwise), then a signature already
 * seen inside that window is refused as a replay (401). The `payload` form field is read and handed to
 * the accountability service: the accessor's reason buttons and the managers' action buttons.
 *
 * Slack wants an answer within 3 seconds: recording is a few Redis commands, and everything that talks
 * to Slack or SMTP afterwards runs in the accountability queue. The answer is an empty 200.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AccountabilityService } from '../../accountability/service.ts';
import {
  interpretInteraction, readInteractionBody, SLACK_SIGNATURE_HEADER, SLACK_TIMESTAMP_HEADER, SLACK_TOLERANCE_SECONDS, verifySlackSignature,
} from '../../accountability/slack-interactions.ts';
import type { AccountabilityStore } from '../../accountability/store.ts';
import { sendError } from '../reply.ts';
import { formScope } from '../forms.ts';

export interface SlackInteractionDeps {
  service: AccountabilityService;
  store: AccountabilityStore;
  signingSecret: string;
  now: () => number;
  log?: Logger;
}

export function registerSlackInteractionsRoute(app: FastifyInstance, deps: SlackInteractionDeps): void {
  formScope(app, (scope) => {
    scope.post('/slack/interactions', async (req, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const check = verifySlackSignature(
        deps.signingSecret,
        { timestamp: req.headers[SLACK_TIMESTAMP_HEADER], signature: req.headers[SLACK_SIGNATURE_HEADER] },
        body,
        deps.now(),
      );
      if (!check.ok) {
        req.log.debug({ auth: check.reason }, 'slack interaction refused');
        return sendError(reply, 401, check.message);
      }
      try {
        const signature = String(req.headers[SLACK_SIGNATURE_HEADER]);
        if (!(await deps.store.firstSighting(signature, (SLACK_TOLERANCE_SECONDS + 60) * 1000))) {
          return sendError(reply, 401, 'replayed request');
        }
        const payload = readInteractionBody(body);
        if (!payload) return sendError(reply, 400, 'expected a form body with a JSON `payload` field');
        const outcome = await deps.service.slackInteraction(interpretInteraction(payload));
        deps.log?.info({ outcome }, 'slack interaction');
        return reply.code(200).send('');
      } catch (err) {
        deps.log?.error({ err: (err as Error).message }, 'slack interaction failed');
        return sendError(reply, 503, 'cannot record the action right now; try again');
      }
    });
  });
}
