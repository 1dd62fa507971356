/**
 * The justification loop and manager actions (alerting-anchors.md §9 items 1 and 7), between the
 * evaluator, the accountability queue, the HTTP routes and the channels:
 *
 *   onAlerts   keeps each alert as judged; one `ask` job per alert whose rule asks for a justification
 *   ask        asks the accessor by email (a link to the page) and, when Slack is configured, by DM
 *              (reason buttons); `within` runs from the first delivered question; schedules `escalate`
 *   answer     (page or Slack button) single use + the answer in one Redis step; cancels the escalation;
 *              an `answered` job attaches it: a reply in each Slack thread of the alert, a chat.update of
 *              each alert message, a follow-up email in each recipient's thread, the DM updated
 *   escalate   at the deadline, unless answered: the alert to `escalate_to` with "Jo Bloggs did not say
 *              why within 30 min", a reply in each Slack thread, the messages updated
 *   act        a manager's "Expected"/"Investigating" (Slack button or the email's alert page):
 *              recorded with who and when, the alert's Slack messages updated
 *
 * Every job step is marked done in Redis once done, so a retried job repeats nothing that succeeded;
 * every update re-renders from the whole recorded state, so updates commute.
 */
import type { Logger } from 'pino';
import type { Alert } from '../domain/alert.ts';
import { formatTarget, isEmailAddress, type Target } from '../domain/target.ts';
import { alertFacts, humanDuration, type MessageContext } from '../notifiers/alert-facts.ts';
import { emailMessageId } from '../notifiers/email/message.ts';
import { isNotifyError, NotifyError } from '../notifiers/notifier.ts';
import { buildSlackMessage } from '../notifiers/slack/message.ts';
import type { AlertStore } from '../queue/alert-store.ts';
import type { Mailer, SlackOps } from './channels.ts';
import {
  reasonLabel, shortTime, statusLines, validateAnswer, type AnswerInput, type JustificationAnswer, type ManagerAction, type ManagerActionKind,
} from './justification.ts';
import {
  accountabilityMessageId, answerEmail, answerThreadReply, askEmail, askSlack, askSlackAnswered, escalationEmail, escalationLead,
  escalationLine, escalationThreadReply, withStatus,
} from './messages.ts';
import type { SlackIntent } from './slack-interactions.ts';
import type { AccountabilityStore, JustificationState } from './store.ts';
import { signToken, tokenId, verifyToken, type TokenClaims, type TokenPurpose } from './tokens.ts';

/** Used when a rule asks without `within` (the compiler refuses that; a hand-made alert may not). */
export const DEFAULT_WITHIN_MS = 30 * 60_000;
/** A justification link keeps working this long after the question (late answers are still worth having). */
export const JUSTIFY_LINK_TTL_MS = 7 * 24 * 3600_000;

/** The producer side of the accountability queue (queue/accountability-queue.ts), as the service needs it. */
export interface AccountabilityScheduler {
  ask(alerts: readonly Alert[]): Promise<void>;
  escalateAt(alert: Alert, atMs: number): Promise<void>;
  cancelEscalation(alertId: string): Promise<void>;
  answered(alertId: string): Promise<void>;
  refresh(alertId: string, version: number): Promise<void>;
}

export interface AccountabilityDeps {
  store: AccountabilityStore;
  alerts: AlertStore;
  mailer: Mailer;
  slack: SlackOps;
  scheduler: AccountabilityScheduler;
  /** The link secret (http.link_secret, else generated once and kept in Redis). */
  secret: () => Promise<string>;
  /** Base of links: http.public_url, else the address the server listens on. */
  publicUrl: () => string;
  /** The context alert messages were built with (so an update rebuilds the same message). */
  messageContext: () => MessageContext;
  retentionMs: number;
  now: () => number;
  log?: Logger;
}

export type LinkView =
  | { kind: 'forged' }
  | { kind: 'expired' }
  | { kind: 'used'; claims: TokenClaims; alert?: Alert; state?: JustificationState; actions: ManagerAction[] }
  | { kind: 'ok'; claims: TokenClaims; alert: Alert; state?: JustificationState; actions: ManagerAction[]; secret: string };

export class AccountabilityService {
  constructor(private readonly d: AccountabilityDeps) {}

  // --- evaluator hook ------------------------------------------------------------------------------

  /** Idempotent per alert id (SET NX and deterministic job ids): a re-run batch changes nothing. */
  async onAlerts(alerts: readonly Alert[]): Promise<void> {
    await this.d.store.keepAlerts(alerts);
    const asks = alerts.filter((a) => a.justification?.ask && !a.suppressed);
    if (asks.length) await this.d.scheduler.ask(asks);
  }

  // --- links in alert messages ---------------------------------------------------------------------

  /** Per (alert, recipient): email recipients get a signed link to the alert page. */
  async linksFor(alert: Alert, target: Target): Promise<MessageContext['links'] | undefined> {
    if (target.kind !== 'email') return undefined;
    return { alert: await this.ackLink(alert, target.address) };
  }

  private async ackLink(alert: Alert, address: string): Promise<string> {
    // Deterministic per (alert, recipient): a re-sent email carries the same link.
    const base = Date.parse(alert.event.received_at);
    const expiresAt = (Number.isFinite(base) ? base : this.d.now()) + this.d.retentionMs;
    return this.link('ack', await this.token('ack', alert.id, `email:${address.toLowerCase()}`, expiresAt));
  }

  private async token(purpose: TokenPurpose, alertId: string, recipient: string, expiresAt: number): Promise<string> {
    return signToken(await this.d.secret(), { purpose, alertId, recipient, expiresAt });
  }

  private link(purpose: TokenPurpose, token: string): string {
    return `${this.d.publicUrl().replace(/\/+$/, '')}/${purpose === 'justify' ? 'justify' : 'alerts'}/${token}`;
  }

  // --- ask -----------------------------------------------------------------------------------------

  async ask(alert: Alert, jobId: string): Promise<void> {
    const j = alert.justification;
    if (!j?.ask) return;
    const id = alert.id;
    const within = j.within_ms ?? DEFAULT_WITHIN_MS;
    const accessor = alert.event.user.email?.trim().toLowerCase();
    await this.d.store.setOnce(id, { within_ms: String(within), accessor, accessor_name: alert.event.user.name });
    const state0 = await this.d.store.state(id);
    if (state0?.answer || state0?.escalated_at) return;
    if (!accessor || !isEmailAddress(accessor)) {
      await this.cannotAsk(alert, 'the event names no email address');
      return;
    }

    const retry: string[] = [];
    const refused: string[] = [];
    const attempt = async (step: string, run: () => Promise<void>): Promise<void> => {
      if (await this.d.store.stepDone(jobId, step)) return;
      try {
        await run();
        await this.d.store.markStep(jobId, step);
        await this.asked(id, step, within);
      } catch (err) {
        const message = (err as Error).message;
        if (isNotifyError(err) && !err.retryable) {
          refused.push(message);
          await this.d.store.markStep(jobId, step, `refused: ${message}`);
        } else {
          retry.push(message);
        }
        this.d.log?.warn({ alert: id, step, error: message }, 'justification request not delivered');
      }
    };

    // One link for every channel and every retry: its expiry is fixed the first time it is made.
    await this.d.store.setOnce(id, { link_expires_at: String(this.d.now() + Math.min(Math.max(within, JUSTIFY_LINK_TTL_MS), this.d.retentionMs)) });
    const compose = async () => {
      const state = await this.d.store.state(id);
      const from = state?.asked_at ? Date.parse(state.asked_at) : this.d.now();
      const expiresAt = Number(state?.link_expires_at ?? from + JUSTIFY_LINK_TTL_MS);
      const link = this.link('justify', await this.token('justify', id, `email:${accessor}`, expiresAt));
      return { link, within: humanDuration(within), deadline: shortTime(new Date(from + within).toISOString(), alertFacts(alert).timezone, alert.event.time) };
    };

    await attempt(`email:${accessor}`, async () => {
      const msg = askEmail(alert, accessor, this.d.messageContext().messageIdDomain, await compose());
      await this.d.mailer.send(accessor, msg);
    });
    if (this.d.slack.live) {
      await attempt(`slack:@${accessor}`, async () => {
        const user = await this.d.slack.userIdForEmail(accessor);
        const channel = await this.d.slack.dmForUser(user);
        const posted = await this.d.slack.post(channel, askSlack(alert, await compose()));
        await this.d.store.set(id, { dm: { channel: posted.channel, ts: posted.ts, user } });
      });
    }

    const state = await this.d.store.state(id);
    if (state?.asked_at) {
      // The deadline holds from the first delivered question, whatever a second channel does.
      await this.d.scheduler.escalateAt(alert, Date.parse(state.asked_at) + within);
    }
    if (retry.length) throw new Error(`asking ${accessor}: ${retry.join('; ')}`);
    if (!state?.asked_at) await this.cannotAsk(alert, refused.join('; ') || 'no channel could deliver the question');
  }

  /** Called when the ask job gives up for good (retry_for passed): nobody was asked, escalate now. */
  async askGaveUp(alert: Alert, error: string): Promise<void> {
    const state = await this.d.store.state(alert.id);
    if (state?.asked_at || state?.answer) return;
    await this.cannotAsk(alert, error);
  }

  private async asked(alertId: string, step: string, within: number): Promise<void> {
    const at = new Date(this.d.now());
    await this.d.store.setOnce(alertId, { asked_at: at.toISOString() });
    const state = await this.d.store.state(alertId);
    const askedAt = state?.asked_at ?? at.toISOString();
    const via = [...new Set([...(state?.asked_via ?? []), step])];
    await this.d.store.set(alertId, { asked_via: via, deadline: new Date(Date.parse(askedAt) + within).toISOString() });
  }

  private async cannotAsk(alert: Alert, why: string): Promise<void> {
    await this.d.store.setOnce(alert.id, { ask_error: why });
    await this.d.scheduler.escalateAt(alert, this.d.now());
  }

  // --- links opened --------------------------------------------------------------------------------

  async openLink(token: string, purpose: TokenPurpose): Promise<LinkView> {
    const secret = await this.d.secret();
    const check = verifyToken(secret, token, this.d.now(), purpose);
    if (!check.ok && check.reason === 'forged') return { kind: 'forged' };
    const claims = check.claims;
    const [used, alert, state, actions] = await Promise.all([
      this.d.store.usedInfo(claims.id), this.d.store.alert(claims.alertId), this.d.store.state(claims.alertId), this.d.store.actionList(claims.alertId),
    ]);
    // A question answered through another channel (the Slack buttons) is used up here too.
    if (used || (purpose === 'justify' && state?.answer)) {
      return { kind: 'used', claims, ...(alert ? { alert } : {}), ...(state ? { state } : {}), actions };
    }
    // Past its expiry, or the alert outlived its retention: the link is as good as expired.
    if (!check.ok || !alert) return { kind: 'expired' };
    return { kind: 'ok', claims, alert, ...(state ? { state } : {}), actions, secret };
  }

  // --- answers -------------------------------------------------------------------------------------

  /**
   * Records the accessor's answer once (token id = single-use key) and hands the rest to the queue.
   * `invalid` carries the words a page shows.
   */
  async answer(alertId: string, accessor: string, input: AnswerInput, via: 'web' | 'slack'): Promise<{ kind: 'recorded'; answer: JustificationAnswer } | { kind: 'used' } | { kind: 'invalid'; error: string }> {
    const v = validateAnswer(input);
    if (!v.ok) return { kind: 'invalid', error: v.error };
    const state = await this.d.store.state(alertId);
    const now = this.d.now();
    const late = state?.deadline ? now > Date.parse(state.deadline) : false;
    const answer: JustificationAnswer = {
      reason: v.reason, reason_label: reasonLabel(v.reason), text: v.text, by: accessor, at: new Date(now).toISOString(), via, ...(late ? { late } : {}),
    };
    const id = tokenId(await this.d.secret(), 'justify', alertId, `email:${accessor}`);
    if (!(await this.d.store.recordAnswer(alertId, id, answer, this.d.retentionMs))) return { kind: 'used' };
    // Recorded: what follows is retried by the queue; an escalation still due is no longer wanted.
    await this.d.scheduler.cancelEscalation(alertId).catch((err: unknown) => this.d.log?.warn({ alert: alertId, err: (err as Error).message }, 'could not cancel the escalation; it will see the answer and stand down'));
    await this.d.scheduler.answered(alertId);
    return { kind: 'recorded', answer };
  }

  async act(alertId: string, a: { action: ManagerActionKind; by: string; by_name: string; via: 'slack' | 'email'; comment?: string }, tokenIdToUse?: string): Promise<ManagerAction | undefined> {
    const action: ManagerAction = { ...a, at: new Date(this.d.now()).toISOString(), ...(a.comment ? { comment: a.comment } : {}) };
    const n = await this.d.store.recordAction(alertId, action, tokenIdToUse);
    if (n === 0) return undefined;
    await this.d.scheduler.refresh(alertId, n);
    return action;
  }

  /** A verified Slack interaction. Returns what happened, for the log. */
  async slackInteraction(intent: SlackIntent): Promise<string> {
    switch (intent.kind) {
      case 'ignore':
        return `ignored (${intent.why})`;
      case 'justify': {
        const state = await this.d.store.state(intent.alertId);
        // Only the person the question was sent to can answer it.
        if (!state?.dm || state.dm.user !== intent.user.id || !state.accessor) return 'refused: not the accessor of this alert';
        const r = await this.answer(intent.alertId, state.accessor, { reason: intent.reason, text: '' }, 'slack');
        return r.kind;
      }
      case 'ack': {
        if (!(await this.d.store.alert(intent.alertId))) return 'refused: unknown alert';
        const done = await this.act(intent.alertId, { action: intent.action, by: `slack:${intent.user.id}`, by_name: `@${intent.user.name}`, via: 'slack' });
        return done ? `recorded ${intent.action}` : 'not recorded';
      }
    }
  }

  // --- jobs: attach the answer, escalate, refresh --------------------------------------------------

  async attachAnswer(alertId: string, jobId: string): Promise<void> {
    const [alert, state] = await Promise.all([this.d.store.alert(alertId), this.d.store.state(alertId)]);
    if (!alert || !state?.answer) return;
    const answer = state.answer;
    const domain = this.d.messageContext().messageIdDomain;
    const waiting: string[] = [];

    // Email: a follow-up in each recipient's thread (Message-IDs are computable from ids alone).
    const mailed = new Set<string>();
    for (const t of alert.targets) {
      if (t.kind !== 'email') continue;
      mailed.add(t.address);
      await this.step(jobId, `mail:${t.address}`, async () => {
        const msg = answerEmail(alert, answer, t.address, domain, emailMessageId(alert.id, t.address, domain), await this.ackLink(alert, t.address));
        await this.d.mailer.send(t.address, msg);
      });
    }
    if (state.escalated_at) {
      for (const t of alert.justification?.escalate_to ?? []) {
        if (t.kind !== 'email' || mailed.has(t.address)) continue;
        await this.step(jobId, `mail:${t.address}`, async () => {
          const parent = accountabilityMessageId(alert.id, 'escalation', t.address, domain);
          await this.d.mailer.send(t.address, answerEmail(alert, answer, t.address, domain, parent, await this.ackLink(alert, t.address)));
        });
      }
    }

    // Slack: a reply in every thread of the alert (and of its escalation posts).
    for (const m of await this.slackMessages(alert, state, waiting)) {
      await this.step(jobId, `thread:${m.channel}:${m.ts}`, async () => {
        await this.d.slack.post(m.channel, answerThreadReply(alert, answer), m.ts);
      });
    }
    if (state.dm?.ts) {
      await this.step(jobId, 'dm', async () => {
        await this.d.slack.update(state.dm!.channel, state.dm!.ts, askSlackAnswered(alert, answer));
      });
    }
    await this.refreshMessages(alert, state);
    if (waiting.length) throw new Error(`waiting for the alert's Slack message(s) to ${waiting.join(', ')}`);
  }

  async escalate(alert: Alert, jobId: string): Promise<void> {
    const id = alert.id;
    const before = await this.d.store.state(id);
    if (before?.answer) return;
    const to = alert.justification?.escalate_to ?? [];
    await this.d.store.setOnce(id, { escalated_at: new Date(this.d.now()).toISOString(), escalated_to: to.map(formatTarget) });
    const state = (await this.d.store.state(id))!;
    const f = alertFacts(alert);
    const line = escalationLine(f, state.within_ms ?? alert.justification?.within_ms, state.asked_at ? undefined : state.ask_error);
    const domain = this.d.messageContext().messageIdDomain;
    const waiting: string[] = [];

    for (const t of to) {
      const key = formatTarget(t);
      if (t.kind === 'email') {
        await this.step(jobId, `to:${key}`, async () => {
          const parent = alert.targets.some((x) => x.kind === 'email' && x.address === t.address) ? emailMessageId(id, t.address, domain) : undefined;
          const msg = escalationEmail(alert, t.address, domain, { line, link: await this.ackLink(alert, t.address), ...(parent ? { parentId: parent } : {}) });
          await this.d.mailer.send(t.address, msg);
        });
      } else if (t.kind === 'slack') {
        await this.step(jobId, `to:${key}`, async () => {
          const channel = await this.d.slack.channelFor(t.channel);
          const base = buildSlackMessage(alert, channel, this.slackContext());
          const posted = await this.d.slack.post(channel, {
            text: `Escalated: ${base.text}`,
            blocks: [escalationLead(line), ...base.blocks],
            metadata: { event_type: 'vaultwatch_escalation', event_payload: { alert_id: id } },
          });
          if (posted.ts) await this.d.store.addPost(id, { channel: posted.channel, ts: posted.ts, target: key });
        });
      } else {
        this.d.log?.warn({ alert: id, target: key }, 'escalation to a webhook target is not supported; skipped');
      }
    }
    const latest = (await this.d.store.state(id))!;
    for (const m of await this.slackMessages(alert, latest, waiting, false)) {
      await this.step(jobId, `thread:${m.channel}:${m.ts}`, async () => {
        await this.d.slack.post(m.channel, escalationThreadReply(alert, line, to.map(formatTarget)), m.ts);
      });
    }
    await this.refreshMessages(alert, latest);
    if (waiting.length) throw new Error(`waiting for the alert's Slack message(s) to ${waiting.join(', ')}`);
  }

  async refresh(alertId: string): Promise<void> {
    const [alert, state] = await Promise.all([this.d.store.alert(alertId), this.d.store.state(alertId)]);
    if (!alert) return;
    await this.refreshMessages(alert, state);
    // A message still being posted would miss this status: try again once it is there.
    const waiting: string[] = [];
    await this.slackMessages(alert, state, waiting);
    if (waiting.length) throw new Error(`waiting for the alert's Slack message(s) to ${waiting.join(', ')}`);
  }

  /** The status lines every surface shows for this alert. */
  async status(alert: Alert, state?: JustificationState, actions?: ManagerAction[]): Promise<string[]> {
    const s = state ?? (await this.d.store.state(alert.id));
    const a = actions ?? (await this.d.store.actionList(alert.id));
    const f = alertFacts(alert);
    return statusLines(s, a, { person: f.personShort, zone: f.timezone, usedAt: alert.event.time });
  }

  private slackContext(): MessageContext {
    const { links: _links, ...ctx } = this.d.messageContext();
    return ctx;
  }

  /**
   * The alert's Slack messages that can be replied to and updated: each delivered Slack target, plus
   * escalation posts when `withEscalations`. A delivery still pending goes to `waiting` (retry later).
   */
  private async slackMessages(alert: Alert, state: JustificationState | undefined, waiting: string[], withEscalations = true): Promise<{ channel: string; ts: string; kind: 'alert' | 'escalation' }[]> {
    if (!this.d.slack.live) return [];
    const out: { channel: string; ts: string; kind: 'alert' | 'escalation' }[] = [];
    const rec = await this.d.alerts.get(alert.id);
    for (const t of alert.targets) {
      if (t.kind !== 'slack') continue;
      const key = formatTarget(t);
      const d = rec?.deliveries.find((x) => x.target === key);
      if (d?.state === 'delivered' && d.result?.id && d.result.channel) out.push({ channel: d.result.channel, ts: d.result.id, kind: 'alert' });
      else if (!d || d.state === 'pending' || d.state === 'deferred') waiting.push(key);
    }
    if (withEscalations) for (const p of state?.escalation_posts ?? []) out.push({ channel: p.channel, ts: p.ts, kind: 'escalation' });
    return out;
  }

  /**
   * chat.update of every posted message of the alert with the whole recorded status. A message not
   * posted yet is left alone: it will be posted without a status, and the next refresh adds it.
   */
  private async refreshMessages(alert: Alert, state: JustificationState | undefined): Promise<void> {
    const lines = await this.status(alert, state);
    for (const m of await this.slackMessages(alert, state, [])) {
      const base = buildSlackMessage(alert, m.channel, this.slackContext());
      const blocks = m.kind === 'alert' ? base.blocks : [escalationLead(escalationLine(alertFacts(alert), state?.within_ms, state?.asked_at ? undefined : state?.ask_error)), ...base.blocks];
      try {
        await this.d.slack.update(m.channel, m.ts, { text: base.text, blocks: withStatus(blocks, lines) });
      } catch (err) {
        if (isNotifyError(err) && !err.retryable) {
          this.d.log?.warn({ alert: alert.id, channel: m.channel, error: err.message }, 'could not update the Slack message');
          continue;
        }
        throw err;
      }
    }
  }

  /** Runs a step once per job: skipped when marked done; a permanent failure is logged and marked. */
  private async step(jobId: string, step: string, run: () => Promise<void>): Promise<void> {
    if (await this.d.store.stepDone(jobId, step)) return;
    try {
      await run();
      await this.d.store.markStep(jobId, step);
    } catch (err) {
      if (isNotifyError(err) && !err.retryable) {
        this.d.log?.warn({ job: jobId, step, error: err.message }, 'accountability message refused; not retried');
        await this.d.store.markStep(jobId, step, `refused: ${err.message}`);
        return;
      }
      throw err;
    }
  }
}

export { NotifyError };
