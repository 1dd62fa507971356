/**
 * The evaluation worker: reads batches from the intake stream (consumer group, so replicas share the
 * work), judges each event, records the alerts, enqueues one notification job per (alert, target),
 * and only then acknowledges the batch. A crash anywhere before the ack re-delivers the batch; the
 * recorded decisions, idempotent rule state and deterministic job ids make that a no-op.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Alert } from '../domain/alert.ts';
import { formatTarget } from '../domain/target.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { evaluateEvent } from '../pipeline/evaluate.ts';
import type { RuleState } from '../pipeline/rule-state.ts';
import type { PolicySet } from '../policy/policy-set.ts';
import type { AlertStore, DeliveryState } from './alert-store.ts';
import type { NotifyJobData, NotifyQueues } from './notify.ts';
import type { Keys } from './redis.ts';

export const EVALUATOR_GROUP = 'evaluators';

export interface EvaluatorObserver {
  evaluated(events: readonly UsageEvent[], alerts: readonly Alert[]): void;
  error(err: unknown): void;
}

export interface EvaluatorDeps {
  /** A dedicated connection: XREADGROUP BLOCK holds it. */
  blocking: Redis;
  /** For everything else. */
  redis: Redis;
  keys: Keys;
  policies: () => PolicySet;
  enrich: (e: UsageEvent) => UsageEvent | Promise<UsageEvent>;
  state: RuleState;
  store: AlertStore;
  queues: NotifyQueues;
  /** Extra routing applied to each alert before its jobs are made (separation of duties, hours). */
  route?: (alert: Alert) => Alert | Promise<Alert>;
  /**
   * Delivery records and notification jobs for a batch's alerts (follow-ups, deferred and digest
   * delivery: src/queue/dispatch.ts). Idempotent per alert. Default: one job per target of each
   * unsuppressed alert.
   */
  dispatch?: (alerts: readonly Alert[], at: string) => Promise<{ records: { alert: Alert; deliveries: DeliveryState[] }[]; jobs: NotifyJobData[] }>;
  /**
   * After a batch's alerts are recorded and their notification jobs enqueued, before the batch is
   * acknowledged: follow-on work that must not be lost (asking the accessor, escalation timers).
   * It must be idempotent per alert id: a crash before the ack runs it again.
   */
  onAlerts?: (alerts: readonly Alert[]) => Promise<void>;
  decisionTtlS: number;
  batchSize?: number;
  blockMs?: number;
  /** Entries a crashed consumer left pending this long are taken over. */
  claimIdleMs?: number;
  /** An entry that failed this many times is dead-lettered instead of retried forever. */
  maxDeliveries?: number;
  observe?: EvaluatorObserver;
  consumer?: string;
}

type Entry = [id: string, fields: string[]];

export class StreamEvaluator {
  private running = false;
  private stopRequested = false;
  private loop?: Promise<void>;
  private readonly consumer: string;
  private lastClaim = 0;

  constructor(private readonly d: EvaluatorDeps) {
    this.consumer = d.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  }

  async start(): Promise<void> {
    await ensureGroup(this.d.redis, this.d.keys.intake, EVALUATOR_GROUP);
    // A start still waiting for Redis when stop() came must not begin reading afterwards.
    if (this.stopRequested) return;
    this.running = true;
    this.loop = this.run();
  }

  isRunning(): boolean {
    return this.running;
  }

  /** Finishes the batch in hand; the blocking read returns within blockMs. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    // Our own pending entries first (we may be a restarted consumer with the same name), then new ones.
    // One pass over '0' is enough: what is still pending after it (a poison entry) is left to
    // claimStuck, which counts deliveries and dead-letters; reading '0' again would loop on it.
    let cursor = '0';
    while (this.running) {
      try {
        const redelivered = cursor === '0';
        const entries = await this.read(cursor);
        cursor = '>';
        if (entries.length) await this.processBatch(entries, redelivered);
        await this.claimStuck();
      } catch (err) {
        this.d.observe?.error(err);
        // Redis is down or a batch failed: back off a little; ioredis reconnects by itself. The
        // batch in hand is still pending under our name: read it again first, rather than leaving
        // it to wait claimIdleMs for claimStuck.
        cursor = '0';
        if (this.running) await sleep(500);
      }
    }
  }

  private async read(cursor: string): Promise<Entry[]> {
    const res = (await this.d.blocking.call(
      'XREADGROUP', 'GROUP', EVALUATOR_GROUP, this.consumer, 'COUNT', String(this.d.batchSize ?? 500),
      ...(cursor === '>' ? ['BLOCK', String(this.d.blockMs ?? 1_000)] : []),
      'STREAMS', this.d.keys.intake, cursor,
    )) as unknown;
    return streamEntries(res);
  }

  private async claimStuck(): Promise<void> {
    const now = Date.now();
    if (now - this.lastClaim < 5_000) return;
    this.lastClaim = now;
    const [, entries] = (await this.d.redis.call(
      'XAUTOCLAIM', this.d.keys.intake, EVALUATOR_GROUP, this.consumer, String(this.d.claimIdleMs ?? 30_000), '0', 'COUNT', '200',
    )) as [string, Entry[]];
    const live = entries.filter(([, f]) => f !== null);
    if (live.length) await this.processBatch(live, true);
  }

  /** Judges a batch; on failure retries entry by entry so one poison entry cannot block the rest. */
  /**
   * `redelivered`: the entries were handed out before (our own pending list, or claimed from a
   * crashed consumer), so a decision may already be recorded for them. Fresh entries cannot have
   * one (the intake admits an event id once), which saves a round trip per batch.
   */
  async processBatch(entries: Entry[], redelivered = true): Promise<void> {
    try {
      await this.judge(entries, redelivered);
    } catch (err) {
      this.d.observe?.error(err);
      for (const entry of entries) {
        try {
          await this.judge([entry], true);
        } catch (e) {
          this.d.observe?.error(e);
          await this.giveUpIfPoison(entry, e);
        }
      }
    }
  }

  private async judge(entries: Entry[], redelivered: boolean): Promise<void> {
    const events: UsageEvent[] = [];
    for (const [, fields] of entries) events.push(JSON.parse(field(fields, 'e')) as UsageEvent);

    const recorded = redelivered ? await this.d.redis.mget(...events.map((e) => this.d.keys.decision(e.id))) : [];
    const set = this.d.policies();
    // Events are judged concurrently so their Redis state checks share round trips. Order still
    // holds where it matters: checks of one rule run in the same steps for every event, and Redis
    // answers one connection in order, so an earlier event's check of a key always runs first.
    // Enrichment (possibly a Connect lookup) finishes for the whole batch first, so the judging
    // below starts in batch order and stateful checks see events in that order.
    const enriched = await Promise.all(events.map((e, i) => (recorded[i] ? e : this.d.enrich(e))));
    const judged = await Promise.all(enriched.map(async (e, i): Promise<Alert[]> => {
      const prior = recorded[i];
      if (prior) return JSON.parse(prior) as Alert[];
      const out = await evaluateEvent(e, set, this.d.state);
      return this.d.route ? Promise.all(out.map(this.d.route)) : out;
    }));
    const fresh = events.flatMap((event, i) => (recorded[i] || judged[i]!.length === 0 ? [] : [{ event, alerts: judged[i]! }]));
    await this.recordDecisions(fresh);
    const alerts = judged.flat();

    const jobs: NotifyJobData[] = [];
    const records: { alert: Alert; deliveries: DeliveryState[] }[] = [];
    const at = new Date().toISOString();
    const dispatched = this.d.dispatch && alerts.length ? await this.d.dispatch(alerts, at) : undefined;
    if (dispatched) { records.push(...dispatched.records); jobs.push(...dispatched.jobs); }
    for (const a of dispatched ? [] : alerts) {
      const deliveries: DeliveryState[] = a.targets.map((t) => ({
        target: formatTarget(t),
        state: a.suppressed ? 'suppressed' : 'pending',
        attempts: 0,
        updated_at: at,
        ...(a.suppressed ? { reason: a.suppression?.reason ?? `dedup: repeat of alert ${a.follows} (key ${a.dedup_key})` } : {}),
      }));
      records.push({ alert: a, deliveries });
      if (!a.suppressed) for (const t of a.targets) jobs.push({ alert: a, target: t, purpose: 'alert', received_at: a.event.received_at });
    }
    await Promise.all([this.d.store.record(records), this.d.queues.enqueue(jobs)]);
    if (this.d.onAlerts && alerts.length) await this.d.onAlerts(alerts);
    const ids = entries.map(([id]) => id);
    await this.d.redis.multi().xack(this.d.keys.intake, EVALUATOR_GROUP, ...ids).xdel(this.d.keys.intake, ...ids).exec();
    this.d.observe?.evaluated(events, alerts);
  }

  /**
   * Remembers what each event produced, so a retried evaluation (after a crash, or on another
   * replica after a policy reload) sends the same alerts. A decision recorded by someone else first wins.
   */
  private async recordDecisions(fresh: { event: UsageEvent; alerts: Alert[] }[]): Promise<void> {
    if (fresh.length === 0) return;
    const m = this.d.redis.multi();
    for (const f of fresh) m.set(this.d.keys.decision(f.event.id), JSON.stringify(f.alerts), 'EX', this.d.decisionTtlS, 'NX');
    const res = (await m.exec()) ?? [];
    for (const [i, f] of fresh.entries()) {
      if (res[i]?.[1] === 'OK') continue;
      const theirs = await this.d.redis.get(this.d.keys.decision(f.event.id));
      if (theirs) f.alerts.splice(0, f.alerts.length, ...(JSON.parse(theirs) as Alert[]));
    }
  }

  private async giveUpIfPoison(entry: Entry, err: unknown): Promise<void> {
    const [id, fields] = entry;
    const pending = (await this.d.redis.xpending(this.d.keys.intake, EVALUATOR_GROUP, id, id, 1)) as [string, string, number, number][];
    const deliveries = pending[0]?.[3] ?? 0;
    if (deliveries < (this.d.maxDeliveries ?? 5)) return;
    await this.d.redis.multi()
      .lpush(this.d.keys.deadEvents, JSON.stringify({ source: 'evaluator', reason: `evaluation failed ${deliveries} times: ${(err as Error)?.message ?? String(err)}`, record: field(fields, 'e'), received_at: new Date().toISOString() }))
      .ltrim(this.d.keys.deadEvents, 0, 9_999)
      .xack(this.d.keys.intake, EVALUATOR_GROUP, id)
      .xdel(this.d.keys.intake, id)
      .exec();
  }
}

export async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}

/**
 * XREADGROUP's reply: `[[stream, entries]]` over RESP2, `[stream, entries]` (a flattened map) over
 * RESP3, which ioredis 6 speaks by default for `call`. Both are read; nil means nothing new.
 */
export function streamEntries(res: unknown): Entry[] {
  if (!Array.isArray(res) || res.length === 0) return [];
  if (Array.isArray(res[0])) return ((res[0] as unknown[])[1] as Entry[] | undefined) ?? [];
  return (res[1] as Entry[] | undefined) ?? [];
}

function field(fields: string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  throw new Error(`stream entry has no field ${name}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
