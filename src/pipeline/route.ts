/**
 * Delivery planning, pure: who an alert goes to beyond its rule's targets (separation of duties) and
 * when each recipient gets it (their own working hours). The daemon applies both in the evaluator's
 * route hook (src/app/delivery-routing.ts), so the outcome is recorded with the alert's decision and
 * a re-run evaluation makes the same jobs.
 *
 * Recipients' hours (policy-format.md `deliver`):
 *   now      (default) every recipient at once.
 *   defer    a recipient outside their `schedule` *when the alert is routed* (the clock, not the event
 *            time) gets it at the start of their next window.
 *   digest   such a recipient gets one digest per (recipient, window start) listing every alert held.
 * Inside the window both behave like `now`. A `critical` alert always goes at once unless
 * `accountability.critical_ignores_hours: false`. Only recipients with a schedule (a `managers` entry
 * with `schedule: NAME`) are ever held; channels, webhooks and the accessor are not.
 *
 * Separation of duties (alerting-anchors §9.4): the accessor is never the only recipient of an alert
 * about their own use. When every target of an alert is the accessor (their email, or a Slack
 * `@their-email`), the vault's other managers are added; without any, `delivery.fallback`; without
 * that either, the alert says "sent to the accessor only: configure delivery.fallback".
 */
import { createHash } from 'node:crypto';
import { DateTime } from 'luxon';
import type { Alert, PlannedDelivery } from '../domain/alert.ts';
import { formatTarget, type Target } from '../domain/target.ts';
import type { Recipient } from '../policy/compiled-rule.ts';
import type { Schedule } from '../policy/schedule.ts';

/** A schedule by name, compiled in a zone (the policy's, for a schedule without its own); undefined when unknown. */
export type ScheduleResolver = (name: string, zone: string) => Schedule | undefined;

export interface HoursOptions {
  /** The clock at routing time (epoch ms). */
  now: number;
  schedule: ScheduleResolver;
  /** `accountability.critical_ignores_hours` (default true): critical alerts are never held. */
  criticalIgnoresHours: boolean;
}

/** What becomes of one (alert, target): at once (with a note when a schedule could not be used), or held. */
export type TargetPlan = { mode: 'now'; note?: string } | PlannedDelivery;

export const ACCESSOR_ONLY_REASON = 'sent to the accessor only: configure delivery.fallback';

/** When (and how) one recipient gets the alert. */
export function planTarget(alert: Alert, target: Target, o: HoursOptions): TargetPlan {
  const deliver = alert.deliver ?? 'now';
  if (deliver === 'now' || alert.notice || alert.suppression || target.kind === 'webhook') return { mode: 'now' };
  const name = alert.target_schedules?.[formatTarget(target)];
  if (name === undefined) return { mode: 'now' };
  if (alert.severity === 'critical' && o.criticalIgnoresHours) return { mode: 'now', note: 'critical: sent at once, whatever the hours' };
  const schedule = o.schedule(name, alert.timezone);
  if (!schedule) return { mode: 'now', note: `schedule ${name} is not defined (any more): sent at once` };
  if (schedule.contains(o.now)) return { mode: 'now' };
  const start = schedule.nextStart(o.now);
  if (start === undefined) return { mode: 'now', note: `${name} has no window in the next 400 days: sent at once` };
  const at = new Date(start).toISOString();
  const outside = `outside ${name} (${schedule.describe()}) when it was routed`;
  if (deliver === 'defer') {
    return { mode: 'defer', at, schedule: name, zone: schedule.zone, reason: `${outside}; held until ${formatLocal(start, schedule.zone)}` };
  }
  const digest = digestId(formatTarget(target), start);
  return { mode: 'digest', at, schedule: name, zone: schedule.zone, digest, reason: `${outside}; in the digest at ${formatLocal(start, schedule.zone)}` };
}

/**
 * The alert with `delivery_plan` set for every target that is held. Alerts that never notify
 * (declarations, silences) and rules with `deliver: now` come back unchanged.
 */
export function planAlert(alert: Alert, o: HoursOptions): Alert {
  if (alert.suppression || !alert.deliver || alert.deliver === 'now') return alert;
  let plan: Record<string, PlannedDelivery> | undefined;
  for (const t of alert.targets) {
    const p = planTarget(alert, t, o);
    if (p.mode !== 'now') (plan ??= {})[formatTarget(t)] = p;
  }
  return plan ? { ...alert, delivery_plan: plan } : alert;
}

/**
 * One digest per (recipient, window start): `dg` + 24 hex digits, valid as a BullMQ job id, an alert id
 * and a Message-ID part. Deterministic, so every replica and every re-run name the same digest.
 */
export function digestId(target: string, windowStartMs: number): string {
  return `dg${createHash('sha256').update(`${target}\u0000${windowStartMs}`).digest('hex').slice(0, 24)}`;
}

/** `Mon 28 Dec 2026 09:00 Europe/London` (the en-GB names, whatever the server's locale). */
export function formatLocal(ms: number, zone: string): string {
  let dt = DateTime.fromMillis(ms, { zone }).setLocale('en-GB');
  if (!dt.isValid) dt = DateTime.fromMillis(ms, { zone: 'utc' }).setLocale('en-GB');
  return `${dt.toFormat('ccc d LLL yyyy HH:mm')} ${dt.zoneName ?? zone}`;
}

// ---------------------------------------------------------------------------------------------------
// Separation of duties

export interface DutiesContext {
  /** The managers of the alert's policy (CompiledRule.managers), with their schedules. */
  managers: readonly Recipient[];
  /** `delivery.fallback`. */
  fallback: readonly Target[];
}

/**
 * `unchanged`: someone besides the accessor gets it (or nothing is known of the accessor);
 * `managers` / `fallback`: those were added; `accessor_only`: nobody could be added (the alert says so).
 */
export type DutiesOutcome = 'unchanged' | 'managers' | 'fallback' | 'accessor_only';

/** True when the target is the person with this email: `email:them`, or a Slack DM to `@them`. */
export function isAccessorTarget(t: Target, accessorEmail: string): boolean {
  const email = accessorEmail.trim().toLowerCase();
  if (email === '') return false;
  if (t.kind === 'email') return t.address.trim().toLowerCase() === email;
  if (t.kind === 'slack') return t.channel.trim().toLowerCase() === `@${email}`;
  return false;
}

/**
 * Applies separation of duties to one alert. Alerts covered by a declaration or a silence never
 * notify and are left alone; dedup repeats are treated like their first alert, so their follow-ups
 * reach the same people.
 */
export function separateDuties(alert: Alert, ctx: DutiesContext): { alert: Alert; outcome: DutiesOutcome } {
  const email = alert.event.user.email;
  if (alert.suppression || alert.notice || !email || alert.targets.length === 0) return { alert, outcome: 'unchanged' };
  if (!alert.targets.every((t) => isAccessorTarget(t, email))) return { alert, outcome: 'unchanged' };

  const have = new Set(alert.targets.map(formatTarget));
  const person = alert.event.user.name ?? email;
  const others = ctx.managers.filter((m) => !isAccessorTarget(m.target, email) && !have.has(formatTarget(m.target)));
  if (others.length > 0) {
    const schedules = { ...alert.target_schedules };
    for (const m of others) if (m.schedule) schedules[formatTarget(m.target)] = m.schedule;
    return {
      alert: {
        ...alert,
        targets: [...alert.targets, ...others.map((m) => m.target)],
        ...(Object.keys(schedules).length > 0 ? { target_schedules: schedules } : {}),
        reasons: [...alert.reasons, `${person} would have been the only recipient of this alert about their own use: it also goes to the vault's other managers (separation of duties)`],
      },
      outcome: 'managers',
    };
  }
  const fallback = ctx.fallback.filter((t) => !isAccessorTarget(t, email) && !have.has(formatTarget(t)));
  if (fallback.length > 0) {
    return {
      alert: {
        ...alert,
        targets: [...alert.targets, ...fallback],
        reasons: [...alert.reasons, `${person} would have been the only recipient of this alert about their own use and the vault has no other manager: it also goes to delivery.fallback (separation of duties)`],
      },
      outcome: 'fallback',
    };
  }
  if (alert.reasons.includes(ACCESSOR_ONLY_REASON)) return { alert, outcome: 'accessor_only' };
  return { alert: { ...alert, reasons: [...alert.reasons, ACCESSOR_ONLY_REASON] }, outcome: 'accessor_only' };
}
