/**
 * From routed alerts to delivery records and notification jobs, and what those jobs need when they run:
 *
 *   follow-ups   a dedup repeat (suppressed, `follows` set) is still recorded and counted, and now also
 *                attached to the first alert: per Slack target a reply in the first message's thread
 *                (its `ts` read from the first alert's delivery record; while that is not posted yet
 *                the job waits and looks again; if it failed for good, the reply is posted top-level),
 *                per email target a follow-up in the same thread (In-Reply-To/References, computed by
 *                the builder; `accountability.email_followups: none` turns these off). Messages say
 *                which occurrence it is ("(3rd)"). Webhook targets get no follow-ups.
 *   defer        a held (alert, target) is a BullMQ delayed job due at the recipient's next window
 *                (it survives restarts); its record is `deferred` with `planned_at`.
 *   digest       a held (alert, target) is appended to that recipient's digest for that window, and
 *                ONE digest job per (recipient, window) is due at the window start. Both the digest
 *                and each alert in it are recorded (`deferred`, then `delivered` with the digest id).
 *
 * Declarations and silences (alert.suppression) never notify: recorded as suppressed, nothing else.
 * The plan for each target was made by the route hook (src/pipeline/route.ts) and recorded with the
 * alert, so a re-run evaluation makes the same records and jobs; job ids and digest appends are
 * idempotent.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Alert, PlannedDelivery } from '../domain/alert.ts';
import { formatTarget, type ChannelKind } from '../domain/target.ts';
import type { MessageContext } from '../notifiers/alert-facts.ts';
import { digestEntry } from '../notifiers/digest.ts';
import { formatLocal } from '../pipeline/route.ts';
import type { AlertStore, DeliveryState } from './alert-store.ts';
import { digestAlert, DigestStore, type DigestRef } from './digest.ts';
import type { JobPreparation, NotifyJobData } from './notify.ts';
import type { Keys } from './redis.ts';

export type EmailFollowups = 'each' | 'none';

export interface DispatcherDeps {
  redis: Redis;
  keys: Keys;
  store: AlertStore;
  retentionMs: number;
  /** `delivery.retry_for`: how long a follow-up waits for its first alert's message before posting top-level. */
  retryForMs: number;
  /** The daemon's clock (business time: plans, records). BullMQ's own timing is the real clock. */
  now: () => number;
  /** `accountability.email_followups` (read per batch, so a reload applies). */
  emailFollowups: () => EmailFollowups;
}

export interface Dispatched {
  records: { alert: Alert; deliveries: DeliveryState[] }[];
  jobs: NotifyJobData[];
}

/** A follow-up whose first message is not posted yet looks again after this long at first, at most a minute later on. */
export const FOLLOWUP_WAIT_MS = 2_000;
const FOLLOWUP_WAIT_MAX_MS = 60_000;

export class Dispatcher {
  readonly digests: DigestStore;

  constructor(private readonly d: DispatcherDeps) {
    this.digests = new DigestStore(d.redis, d.keys, d.retentionMs, d.now);
  }

  /** The evaluator's dispatch hook: records and jobs for a batch's alerts. */
  readonly dispatch = async (alerts: readonly Alert[], at: string): Promise<Dispatched> => {
    const records: Dispatched['records'] = [];
    const jobs: NotifyJobData[] = [];
    const digests = new Map<string, true>();
    const now = this.d.now();
    const emailFollowups = this.d.emailFollowups();

    for (const a of alerts) {
      const deliveries: DeliveryState[] = [];
      const repeat = a.suppressed && !a.suppression && a.follows !== undefined;
      const dedupReason = `dedup: repeat of alert ${a.follows} (key ${a.dedup_key})`;
      for (const t of a.targets) {
        const target = formatTarget(t);
        const base = { target, attempts: 0, updated_at: at };
        if (a.suppressed && !repeat) {
          deliveries.push({ ...base, state: 'suppressed', reason: a.suppression?.reason ?? dedupReason });
          continue;
        }
        if (repeat && t.kind === 'webhook') {
          deliveries.push({ ...base, state: 'suppressed', reason: dedupReason });
          continue;
        }
        if (repeat && t.kind === 'email' && emailFollowups === 'none') {
          deliveries.push({ ...base, state: 'suppressed', reason: `${dedupReason}; email follow-ups are off (accountability.email_followups: none)` });
          continue;
        }
        const purpose = repeat ? 'followup' as const : 'alert' as const;
        const flags = repeat ? { followup: true as const } : {};
        const job: NotifyJobData = { alert: a, target: t, purpose, received_at: a.event.received_at };
        const plan = a.delivery_plan?.[target];
        const dueIn = plan ? Date.parse(plan.at) - now : 0;

        if (plan?.mode === 'digest' && plan.digest && dueIn > 0) {
          const ref = digestRef(plan, target);
          if (await this.digests.append(ref, digestEntry(a))) {
            deliveries.push({ ...base, ...flags, state: 'deferred', planned_at: plan.at, digest: ref.id, reason: plan.reason });
            if (!digests.has(ref.id)) {
              digests.set(ref.id, true);
              const stand = digestAlert(ref, t, plan.zone);
              records.push({ alert: stand, deliveries: [{ ...base, state: 'deferred', planned_at: plan.at, digest: ref.id, reason: `due when ${plan.schedule} begins (${ref.window_text})` }] });
              jobs.push({ alert: stand, target: t, purpose: 'digest', digest: ref, received_at: plan.at, delay_ms: dueIn });
            }
            continue;
          }
          // The digest is being sent already (this alert was routed too late for it): on its own, now.
          deliveries.push({ ...base, ...flags, state: 'pending', reason: `${plan.reason}; that digest was already sent, so this goes on its own` });
          jobs.push(job);
          continue;
        }
        if (plan?.mode === 'defer' && dueIn > 0) {
          deliveries.push({ ...base, ...flags, state: 'deferred', planned_at: plan.at, reason: plan.reason });
          jobs.push({ ...job, alert: { ...a, reasons: [...a.reasons, `held for your hours: ${plan.reason}`] }, delay_ms: dueIn });
          continue;
        }
        deliveries.push({ ...base, ...flags, state: 'pending', ...(repeat ? { reason: `${dedupReason}; a follow-up in its thread` } : {}) });
        jobs.push(job);
      }
      records.push({ alert: a, deliveries });
    }
    return { records, jobs };
  };

  /** The notification workers' prepare hook: digests get their content, follow-ups their thread. */
  readonly prepare = async (kind: ChannelKind, data: NotifyJobData, dueAtMs: number): Promise<JobPreparation | undefined> => {
    if (data.digest) return { digest: await this.digests.seal(data.digest), links: false };
    const a = data.alert;
    if (data.purpose !== 'followup' || !a.follows) return undefined;
    const context: Partial<MessageContext> = a.occurrence ? { occurrence: a.occurrence } : {};
    const first = await this.d.store.getDelivery(a.follows, formatTarget(data.target));

    // The first message is not out yet: look again shortly (after its own planned time when it is
    // deferred), backing off, until retry_for has passed; then post on our own.
    const waited = Date.now() - dueAtMs;
    if (first && (first.state === 'pending' || first.state === 'deferred') && waited < this.d.retryForMs) {
      const untilPlanned = first.state === 'deferred' && first.planned_at ? Date.parse(first.planned_at) - this.d.now() : 0;
      const backoff = Math.min(FOLLOWUP_WAIT_MAX_MS, Math.max(FOLLOWUP_WAIT_MS, waited / 10));
      return { waitMs: Math.max(untilPlanned + FOLLOWUP_WAIT_MS, backoff) };
    }
    if (kind === 'email') {
      const firstAlert = await this.firstAlert(a.follows);
      return { context: { ...context, ...(firstAlert ? { firstAlert } : {}) } };
    }
    if (kind === 'slack' && first?.state === 'delivered' && first.result?.id) return { context, threadTs: first.result.id };
    // Failed for good, never sent (covered), or not posted where a thread can be found: top-level.
    return { context };
  };

  /** The notification workers' settle hook: a digest's outcome is written on every alert in it too. */
  readonly settle = async (m: ChainableCommander, data: NotifyJobData, state: DeliveryState): Promise<void> => {
    if (!data.digest) return;
    const id = data.digest.id;
    const reason = state.state === 'delivered' ? `sent in digest ${id}` : `digest ${id} not delivered: ${state.reason ?? 'failed'}`;
    // No `result`: the digest message is not the alert's own (nothing may reply to or update it as such).
    const { result: _result, ...rest } = state;
    for (const alertId of await this.digests.alertIds(data.digest)) {
      this.d.store.addDeliveryUpdate(m, alertId, { ...rest, digest: id, reason });
    }
  };

  /** The first alert of a dedup series in full (its email subject is repeated for threading), while its decision is kept. */
  private async firstAlert(id: string): Promise<Alert | undefined> {
    const rec = await this.d.store.get(id);
    if (!rec) return undefined;
    const raw = await this.d.redis.get(this.d.keys.decision(rec.summary.event_id));
    if (!raw) return undefined;
    return (JSON.parse(raw) as Alert[]).find((x) => x.id === id);
  }
}

function digestRef(plan: PlannedDelivery, recipient: string): DigestRef {
  return {
    id: plan.digest!,
    recipient,
    at: plan.at,
    schedule: plan.schedule,
    window_text: formatLocal(Date.parse(plan.at), plan.zone),
  };
}

