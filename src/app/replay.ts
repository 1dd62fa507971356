/**
 * Replay: recorded records -> normalise -> enrich -> evaluate, with state in memory for the run and
 * nothing sent. Shared by `vaultwatch replay`, `vaultwatch test` and the benchmark.
 */
import type { Alert } from '../domain/alert.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import type { Catalog } from '../enrich/catalog.ts';
import { evaluateEvent } from '../pipeline/evaluate.ts';
import { MemoryRuleState } from '../pipeline/memory-rule-state.ts';
import type { RuleState } from '../pipeline/rule-state.ts';
import type { PolicySet } from '../policy/policy-set.ts';
import { normalizeRecord } from '../sources/recognize.ts';

export type SourceKind = 'onepassword' | 'bitwarden' | 'canonical';

export interface ReplayCounts {
  records: number;
  events: number;
  alerts: number;
  bad: number;
  duplicates: number;
  skipped: number;
}

export interface ReplayProblem {
  line: number;
  message: string;
  /** Bad lines make `--strict` fail; duplicates are notes, not bad lines. */
  bad: boolean;
}

export class Replayer {
  readonly counts: ReplayCounts = { records: 0, events: 0, alerts: 0, bad: 0, duplicates: 0, skipped: 0 };
  /** Events for which at least one rule held (before stateful checks). */
  eventsWithAlerts = 0;
  private readonly seen = new Set<string>();
  private readonly ctx: Parameters<typeof normalizeRecord>[1];

  constructor(
    private readonly policies: PolicySet,
    private readonly catalog: Catalog,
    private readonly opts: { force?: SourceKind; /** Default: each event's own time (no reporting delay). */ receivedAt?: string; state?: RuleState },
    private readonly state: RuleState = opts.state ?? new MemoryRuleState(),
  ) {
    this.ctx = {
      receivedAt: opts.receivedAt ?? '',
      ...(opts.force ? { force: opts.force } : {}),
      itemVault: (id: string) => catalog.itemVault(id),
    };
  }

  /**
   * One parsed record. Returns the alerts (possibly empty) or a problem. Synchronous when no rule
   * holds, which is nearly always, so a million-line replay does not pay for a promise per line.
   */
  push(line: number, record: unknown): Alert[] | Promise<Alert[]> | ReplayProblem {
    this.counts.records++;
    const r = normalizeRecord(record, this.ctx);
    if (r.kind === 'rejected') {
      this.counts.bad++;
      return { line, message: r.reason, bad: true };
    }
    if (r.kind === 'skipped') {
      this.counts.skipped++;
      return NO_ALERTS;
    }
    if (r.event.received_at === '') r.event.received_at = new Date(r.event.time_ms).toISOString();
    return this.evaluate(line, r.event);
  }

  evaluate(line: number, e: UsageEvent): Alert[] | Promise<Alert[]> | ReplayProblem {
    if (this.seen.has(e.id)) {
      this.counts.duplicates++;
      return { line, message: 'duplicate event ID, skipped', bad: false };
    }
    this.seen.add(e.id);
    this.counts.events++;
    this.catalog.enrich(e);
    const out = evaluateEvent(e, this.policies, this.state);
    if (Array.isArray(out)) return out;
    return out.then((alerts) => {
      this.counts.alerts += alerts.length;
      if (alerts.length) this.eventsWithAlerts++;
      return alerts;
    });
  }

  /** Normalise and enrich one record without judging it (render's preview). */
  normalizeOnly(record: unknown): UsageEvent | undefined {
    const r = normalizeRecord(record, this.ctx);
    if (r.kind !== 'event') return undefined;
    if (r.event.received_at === '') r.event.received_at = new Date(r.event.time_ms).toISOString();
    return this.catalog.enrich(r.event);
  }

  badLine(line: number, message: string): ReplayProblem {
    this.counts.records++;
    this.counts.bad++;
    return { line, message, bad: true };
  }
}

const NO_ALERTS: Alert[] = [];

export function isProblem(r: Alert[] | Promise<Alert[]> | ReplayProblem): r is ReplayProblem {
  return !Array.isArray(r) && !(r instanceof Promise);
}
