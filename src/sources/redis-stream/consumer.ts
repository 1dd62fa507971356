/**
 * A Redis Stream written by another system (one JSON usage record per entry), read with a consumer
 * group so that every replica of the daemon shares the work and a crashed replica's entries are taken
 * over.
 *
 * Guarantees:
 * - Nothing is acknowledged that is not stored: a batch is XACKed only after `sink.accept` (and the
 *   dead letters) resolved. While the intake is unavailable the batch stays pending and is retried
 *   in memory with a capped exponential backoff, so an outage does not count as a failed delivery.
 * - Nothing is lost to a crash: on start this consumer first re-reads its own pending entries (id 0),
 *   and every `claimIdleMs` it takes over entries other consumers left idle that long (XAUTOCLAIM).
 * - A redelivered entry is stored twice at most in the stream's sense, never judged twice: the intake
 *   deduplicates by event id.
 * - A poison entry (one the sink keeps refusing, or one that crashed consumers) cannot loop forever:
 *   once delivered more than `maxDeliveries` times it is dead-lettered and acknowledged.
 * - Entries trimmed by the producer while still pending come back with a nil body (XREADGROUP) or as
 *   deleted ids (XAUTOCLAIM, Redis 7): they are acknowledged and dead-lettered as lost, so an
 *   operator sees that the producer's MAXLEN/MINID is too tight.
 *
 * We never XDEL entries (unlike our own intake stream): the stream belongs to the other system. It
 * owns trimming (MAXLEN/MINID), other consumer groups may still have to read the same entries, and
 * the producer may rely on the history for its own replays. Our group's XACK is all we own.
 *
 * One connection is enough: the loop is sequential, so nothing waits behind the blocking read.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { UsageEvent } from '../../domain/usage-event.ts';
import type { DeadLetterEntry } from '../../pipeline/intake.ts';
import { normalizeRecord } from '../recognize.ts';
import type { RejectCategory, Source, SourceContext, SourceStatus } from '../source.ts';
import { Backoff, SourceHealth, errorMessage, settlesWithin, sleep } from '../source-health.ts';

export interface RedisStreamSourceOptions {
  /** Default `redis-stream`. */
  name?: string;
  /** Makes the source's own connection (it blocks on XREADGROUP); closed by stop(). */
  redis: () => Redis;
  /** The stream key, as the other system writes it (our prefix is not added). */
  stream: string;
  /** Consumer group; default `vaultwatch`. */
  group?: string;
  /** The entry field holding the JSON record; default `event`. */
  field?: string;
  /** This consumer's name in the group; default `<name>@<host>-<pid>`. */
  consumer?: string;
  /** Entries per read; default 200. */
  batchSize?: number;
  /** How long a read waits for new entries; stop() returns within about this long. Default 2000. */
  blockMs?: number;
  /** Entries pending this long (a crashed consumer's) are taken over. Default 60000. */
  claimIdleMs?: number;
  /** An entry delivered more often than this is dead-lettered. Default 5. */
  maxDeliveries?: number;
  /**
   * Where a group created by us starts: `$` (default) reads only entries added from now on, so a
   * first start does not replay the stream's history; `0` reads the whole stream.
   */
  startId?: string;
  /** Retry delays after an error: from about backoffMinMs (default 250) doubling up to backoffMaxMs (default 10000). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

export const DEFAULT_STREAM_GROUP = 'vaultwatch';
export const DEFAULT_STREAM_FIELD = 'event';

/** start() waits this long for the group to exist; past that the source reports `starting`/`degraded` and keeps trying. */
const START_WAIT_MS = 2_000;
/** Extra time stop() gives the loop beyond one blocking read, and each closing step. */
const STOP_GRACE_MS = 1_000;

/** An entry as ioredis returns it: fields are `[name, value, ...]`, or null when the entry was trimmed. */
type Entry = [id: string, fields: string[] | null];

/** One entry's fate: an event to store, a dead letter, or neither (skipped: just acknowledged). */
interface Item {
  id: string;
  event?: UsageEvent;
  dead?: DeadLetterEntry;
  category?: RejectCategory;
}

export function createRedisStreamSource(opts: RedisStreamSourceOptions): Source {
  return new RedisStreamSource(opts);
}

class RedisStreamSource implements Source {
  readonly type = 'redis-stream';
  readonly name: string;
  private readonly stream: string;
  private readonly group: string;
  private readonly field: string;
  private readonly consumer: string;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private readonly maxDeliveries: number;
  private readonly startId: string;
  private readonly health: SourceHealth;

  private ctx: SourceContext | undefined;
  private conn: Redis | undefined;
  private loop: Promise<void> | undefined;
  private running = false;
  private abort = new AbortController();
  private backoff: Backoff;
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  private lastLogged: string | undefined;

  constructor(private readonly opts: RedisStreamSourceOptions) {
    this.name = opts.name ?? 'redis-stream';
    this.stream = opts.stream;
    this.group = opts.group ?? DEFAULT_STREAM_GROUP;
    this.field = opts.field ?? DEFAULT_STREAM_FIELD;
    this.consumer = opts.consumer ?? `${this.name}@${hostname()}-${process.pid}`;
    this.batchSize = opts.batchSize ?? 200;
    this.blockMs = opts.blockMs ?? 2_000;
    this.claimIdleMs = opts.claimIdleMs ?? 60_000;
    this.maxDeliveries = opts.maxDeliveries ?? 5;
    this.startId = opts.startId ?? '$';
    this.health = new SourceHealth(this.name, this.type);
    this.backoff = this.newBackoff();
  }

  status(): SourceStatus {
    return this.health.snapshot();
  }

  async start(ctx: SourceContext): Promise<void> {
    if (this.loop !== undefined) throw new Error(`source ${this.name} is already started`);
    this.ctx = ctx;
    this.running = true;
    this.abort = new AbortController();
    this.claimCursor = '0-0';
    this.nextClaimAt = 0;
    this.lastLogged = undefined;
    this.health.starting();
    const conn = this.opts.redis();
    // Connection errors arrive as events while a command waits in the offline queue: show them in
    // status() even though the loop itself is only waiting.
    conn.on('error', (err: unknown) => this.noteError(err, 'redis connection error'));
    this.conn = conn;
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => { firstAttempt = resolve; });
    this.loop = this.run(conn, firstAttempt).catch((err: unknown) => {
      // run() handles its errors; this is a bug, so say so loudly rather than die silently.
      this.health.failed(err);
      ctx.log.error({ source: this.name, err: errorMessage(err) }, 'redis stream source stopped by an unexpected error');
    });
    await settlesWithin(attempted, START_WAIT_MS);
  }

  async stop(): Promise<void> {
    const conn = this.conn;
    const loop = this.loop;
    if (conn === undefined || loop === undefined) {
      this.health.stopped();
      return;
    }
    this.running = false;
    this.abort.abort();
    // The blocking read returns within blockMs; a backoff sleep ends at once.
    const ended = await settlesWithin(loop, this.blockMs + STOP_GRACE_MS);
    if (ended) {
      await settlesWithin(this.leaveGroupIfIdle(conn), STOP_GRACE_MS);
      await settlesWithin(conn.quit(), STOP_GRACE_MS);
    }
    // Rejects whatever still waits (Redis down): the loop sees running=false and ends.
    conn.disconnect();
    if (!ended) await settlesWithin(loop, STOP_GRACE_MS);
    this.conn = undefined;
    this.loop = undefined;
    this.health.stopped();
  }

  // -------------------------------------------------------------------------------------------------
  // The loop

  private async run(conn: Redis, firstAttempt: () => void): Promise<void> {
    let groupReady = false;
    // Our own pending entries first (a restarted consumer with the same name), then new ones.
    let cursor = '0';
    while (this.running) {
      try {
        if (!groupReady) {
          try {
            await this.createGroup(conn);
          } finally {
            firstAttempt();
          }
          groupReady = true;
          cursor = '0';
          this.succeeded();
        }
        let clean = true;
        if (cursor === '>' && this.claimDue()) clean = await this.claim(conn);
        const history = cursor !== '>';
        const entries = await this.read(conn, cursor);
        if (entries.length > 0) clean = (await this.handle(conn, entries, history)) && clean;
        // Page through our pending entries; an empty page means they are done: switch to new ones.
        if (history) cursor = entries.length > 0 ? entries[entries.length - 1]![0] : '>';
        if (clean && this.running) this.succeeded();
        this.backoff.reset();
      } catch (err) {
        if (!this.running) break;
        // The stream (and with it the group) was deleted, or the group destroyed: create it again.
        if (errorMessage(err).includes('NOGROUP')) groupReady = false;
        this.noteError(err, 'redis stream source: Redis command failed; retrying');
        await sleep(this.backoff.next(), this.abort.signal);
      }
    }
  }

  /** XGROUP CREATE ... MKSTREAM; a group that exists already (BUSYGROUP) is fine. */
  private async createGroup(conn: Redis): Promise<void> {
    try {
      await conn.call('XGROUP', 'CREATE', this.stream, this.group, this.startId, 'MKSTREAM');
    } catch (err) {
      if (!errorMessage(err).includes('BUSYGROUP')) throw err;
    }
  }

  /**
   * The typed method, not `call`: over RESP3 ioredis maps XREADGROUP's reply to the legacy
   * `[[stream, [[id, fields | null], ...]]]` only for the named command (`call` gives a flat map).
   */
  private async read(conn: Redis, cursor: string): Promise<Entry[]> {
    const reply = (cursor === '>'
      ? await conn.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', this.batchSize, 'BLOCK', this.blockMs, 'STREAMS', this.stream, cursor)
      : await conn.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', this.batchSize, 'STREAMS', this.stream, cursor)
    ) as [string, Entry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  private claimDue(): boolean {
    // A scan in progress (cursor not 0-0) continues at once, so a big backlog drains quickly.
    return this.claimCursor !== '0-0' || Date.now() >= this.nextClaimAt;
  }

  /** Takes over entries idle longer than claimIdleMs (any consumer's, ours included) and handles them. */
  private async claim(conn: Redis): Promise<boolean> {
    const [next, entries, deleted] = (await conn.call(
      'XAUTOCLAIM', this.stream, this.group, this.consumer, String(this.claimIdleMs), this.claimCursor,
      'COUNT', String(this.batchSize),
    )) as [string, Entry[], string[] | undefined];
    this.claimCursor = next;
    if (next === '0-0') this.nextClaimAt = Date.now() + this.claimIdleMs;
    // Redis >= 7 lists entries trimmed while pending separately (and drops them from the PEL);
    // Redis 6.2 returns them among the entries with a nil body. Both end up as Entry with null fields.
    const all: Entry[] = [...entries, ...(deleted ?? []).map((id): Entry => [id, null])];
    if (all.length === 0) return true;
    this.ctx?.log.info({ source: this.name, stream: this.stream, claimed: all.length }, 'took over entries left idle by a consumer');
    return this.handle(conn, all, true);
  }

  /**
   * Normalises a batch, stores it, then acknowledges it. `redelivered` entries (our pending ones, or
   * claimed) have their delivery counts checked first. Returns false when something was left pending.
   */
  private async handle(conn: Redis, entries: Entry[], redelivered: boolean): Promise<boolean> {
    const counts = redelivered
      ? await this.deliveryCounts(conn, entries.filter(([, f]) => f !== null).map(([id]) => id))
      : new Map<string, number>();
    const receivedAt = new Date(this.now()).toISOString();
    const items = entries.map(([id, fields]) => this.prepare(id, fields, counts.get(id) ?? 1, receivedAt));
    return this.persist(conn, items);
  }

  /** XPENDING per id (pipelined): exact delivery counts, whoever else has entries in between. */
  private async deliveryCounts(conn: Redis, ids: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (ids.length === 0) return counts;
    const pipeline = conn.pipeline();
    for (const id of ids) pipeline.call('XPENDING', this.stream, this.group, id, id, '1');
    const replies = (await pipeline.exec()) ?? [];
    for (const [i, [err, reply]] of replies.entries()) {
      if (err) throw err;
      const row = (reply as [string, string, number, number][])[0];
      if (row !== undefined) counts.set(ids[i]!, Number(row[3]));
    }
    return counts;
  }

  private prepare(id: string, fields: string[] | null, deliveries: number, receivedAt: string): Item {
    const where = `${this.stream} ${id}`;
    const dead = (category: RejectCategory, reason: string, record: unknown): Item => ({
      id,
      category,
      dead: { source: this.name, reason: `${where}: ${reason}`, record, received_at: receivedAt },
    });
    if (fields === null) {
      return dead('trimmed', 'trimmed from the stream while pending, before it was stored: the record is lost '
        + '(the producer\'s MAXLEN/MINID is too tight for how long vaultwatch may be down)', { stream: this.stream, id });
    }
    const raw = fieldValue(fields, this.field);
    if (deliveries > this.maxDeliveries) {
      return dead('poison', `delivered ${deliveries} times (more than maxDeliveries ${this.maxDeliveries}) without being stored; given up`,
        raw ?? fieldObject(fields));
    }
    if (raw === undefined) {
      const names = fieldObject(fields);
      return dead('no_field', `no field "${this.field}" (fields: ${Object.keys(names).join(', ') || 'none'})`, names);
    }
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch (err) {
      return dead('not_json', `not JSON: ${errorMessage(err)}`, raw);
    }
    const result = normalizeRecord(record, { receivedAt, source: this.name });
    switch (result.kind) {
      case 'event': return { id, event: result.event };
      case 'rejected': return dead('invalid', result.reason, record);
      case 'skipped': return { id };
    }
  }

  /**
   * Stores events and dead letters, then XACKs. While the intake is unavailable the batch is retried
   * here (same entries in memory: no redelivery, so the outage does not count towards maxDeliveries).
   * Any other error may be one bad entry: the batch is retried entry by entry, and an entry that
   * still fails stays pending, to come back through XAUTOCLAIM until maxDeliveries.
   */
  private async persist(conn: Redis, items: Item[]): Promise<boolean> {
    const ctx = this.ctx!;
    const events = items.flatMap((i) => (i.event ? [i.event] : []));
    const dead = items.filter((i) => i.dead !== undefined);
    let stored = events.length === 0;
    let lettered = dead.length === 0;
    const backoff = this.newBackoff();
    let touchedAt = Date.now();
    for (;;) {
      try {
        if (!stored) {
          await ctx.sink.accept(events, this.name);
          stored = true;
        }
        if (!lettered) {
          await ctx.sink.deadLetter(dead.map((i) => i.dead!));
          lettered = true;
        }
        break;
      } catch (err) {
        if (!this.running) return false;
        if (!isUnavailable(err)) return this.persistOneByOne(conn, items, err);
        this.noteError(err, 'redis stream source: intake unavailable; the batch stays pending and is retried');
        // Keep the entries ours while we wait: without this another replica would claim them as
        // "idle", counting an outage as deliveries. JUSTID does not increment the delivery count.
        if (Date.now() - touchedAt >= this.claimIdleMs / 2) {
          await conn.call('XCLAIM', this.stream, this.group, this.consumer, '0', ...items.map((i) => i.id), 'JUSTID').catch(() => {});
          touchedAt = Date.now();
        }
        await sleep(backoff.next(), this.abort.signal);
      }
    }
    this.count(events, dead);
    return this.ack(conn, items.map((i) => i.id));
  }

  private async persistOneByOne(conn: Redis, items: Item[], err: unknown): Promise<boolean> {
    if (items.length > 1) {
      let clean = true;
      for (const item of items) {
        if (!this.running) return false;
        clean = (await this.persist(conn, [item])) && clean;
      }
      return clean;
    }
    this.noteError(err, 'redis stream source: the sink refused an entry; it stays pending and is retried after claimIdleMs');
    this.ctx!.log.error({ source: this.name, stream: this.stream, entry: items[0]?.id, err: errorMessage(err) },
      'redis stream source: entry not stored');
    return false;
  }

  /** XACK, retried until it works or we stop (entries not acknowledged are simply redelivered later). */
  private async ack(conn: Redis, ids: string[]): Promise<boolean> {
    if (ids.length === 0) return true;
    const backoff = this.newBackoff();
    for (;;) {
      try {
        await conn.xack(this.stream, this.group, ...ids);
        return true;
      } catch (err) {
        if (!this.running) return false;
        this.noteError(err, 'redis stream source: XACK failed; retrying');
        await sleep(backoff.next(), this.abort.signal);
      }
    }
  }

  private count(events: UsageEvent[], dead: Item[]): void {
    const ctx = this.ctx!;
    if (events.length > 0) {
      this.health.countEvents(events.length);
      ctx.onEvents?.(events);
    }
    if (dead.length === 0) return;
    this.health.countRejected(dead.length);
    for (const d of dead) ctx.onRejected?.(d.category ?? 'invalid');
    // Reasons of bad JSON may quote the input: the log gets categories and ids, the dead letter the rest.
    ctx.log.warn({
      source: this.name,
      stream: this.stream,
      dead_lettered: dead.length,
      entries: dead.slice(0, 5).map((d) => ({ id: d.id, category: d.category })),
    }, 'redis stream source: records dead-lettered');
  }

  /** On a clean stop, removes this consumer from the group when it holds nothing, so restarts do not pile up names. */
  private async leaveGroupIfIdle(conn: Redis): Promise<void> {
    try {
      const pending = (await conn.call('XPENDING', this.stream, this.group, '-', '+', '1', this.consumer)) as unknown[];
      if (pending.length === 0) await conn.call('XGROUP', 'DELCONSUMER', this.stream, this.group, this.consumer);
    } catch {
      // Best effort: a leftover consumer name costs nothing but a line in XINFO CONSUMERS.
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Status and logs: one line per change of trouble, one when it is over.

  private noteError(err: unknown, msg: string): void {
    if (!this.running) return;
    const text = errorMessage(err);
    const was = this.health.current;
    this.health.degraded(err);
    if (was !== 'degraded' || this.lastLogged !== text) {
      this.lastLogged = text;
      this.ctx?.log.warn({ source: this.name, stream: this.stream, err: text }, msg);
    }
  }

  private succeeded(): void {
    const was = this.health.current;
    this.health.success(this.now());
    if (was === 'degraded') this.ctx?.log.info({ source: this.name, stream: this.stream }, 'redis stream source recovered');
    this.lastLogged = undefined;
  }

  private now(): number {
    return this.ctx?.now() ?? Date.now();
  }

  private newBackoff(): Backoff {
    return new Backoff(this.opts.backoffMinMs ?? 250, this.opts.backoffMaxMs ?? 10_000);
  }
}

/**
 * The intake's "Redis is down, nothing stored" (IntakeUnavailableError). Checked by name so the source
 * needs only types from the pipeline, and any sink can signal the same.
 */
function isUnavailable(err: unknown): boolean {
  return err instanceof Error && err.name === 'IntakeUnavailableError';
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function fieldObject(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] ??= fields[i + 1]!;
  return out;
}
