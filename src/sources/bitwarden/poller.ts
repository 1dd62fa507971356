/**
 * The Bitwarden event-log poller (sources.md 3): `GET /public/events?start&end&continuationToken`
 * for the organization of the API key, normalised (normalize.ts) with the member directory and the
 * catalog, handed to the sink page by page.
 *
 * Windows and checkpoint. Bitwarden has no cursor of its own: it answers time windows, both ends
 * inclusive, newest first, from an eventually consistent store. So:
 * - A round reads [start, end] with `end = now - lag` (30 s, as Bitwarden's own Splunk app does)
 *   and `start = checkpoint - overlap` (5 min by default): an event that becomes visible after a
 *   window passed its date is still read by the next rounds, as long as it arrives within
 *   lag + overlap of its date. Both ends are inclusive, so an event exactly on an edge is read twice:
 *   the intake deduplicates by event id (a stable hash of the record), which makes the overlap
 *   harmless, and the poller itself skips ids it handed over in the previous rounds.
 * - The checkpoint is `{"end": ISO}` (plus `"floor"`, the start_from instant, while the overlap
 *   would reach back before it) and is saved only after every page of the window was accepted by
 *   the sink. A crash or a refused page repeats the window, never skips it.
 * - A window never spans more than `maxWindowMs` (default 30 days, at most 366 days: Bitwarden
 *   refuses ranges of 367 days). A long catch-up (start_from: 400d) is a series of windows, each
 *   checkpointed; a round stops starting new windows after `roundBudgetMs` and the next round goes on.
 * - The first start reads from `start_from` (now, a duration back, or an ISO instant), saved at once.
 *
 * Failures: 429 and 5xx are waited out or retried (client.ts) and, when that does not fit the round,
 * the source is `degraded` until a round succeeds. A refused key (invalid_client) or another 4xx makes
 * it `failed` with the reason; it tries again after `failedRetryMs`.
 */
import type { SourceDef } from '../../config/schema.ts';
import { parseDuration } from '../../domain/duration.ts';
import type { UsageEvent } from '../../domain/usage-event.ts';
import type { DeadLetterEntry } from '../../pipeline/intake.ts';
import type { PollContext, Poller } from '../poller.ts';
import type { SourceLog, SourceStatus } from '../source.ts';
import { SourceHealth, errorMessage } from '../source-health.ts';
import {
  BitwardenAbortedError, BitwardenAuthError, BitwardenClient, BitwardenRateLimitError, BitwardenRequestError,
  type BitwardenClientOptions,
} from './client.ts';
import { MemberDirectory, type MemberDirectoryOptions } from './members.ts';
import { BITWARDEN_SOURCE, normalizeBitwardenEvent, type BitwardenNormalizeContext } from './normalize.ts';

type BitwardenSourceDef = Extract<SourceDef, { type: 'bitwarden' }>;

const DAY_MS = 86_400_000;
/** Bitwarden answers 400 "Date range must be < 367 days." beyond this. */
export const MAX_RANGE_MS = 366 * DAY_MS;
export const DEFAULT_POLL_INTERVAL_MS = 30_000;
export const DEFAULT_LAG_MS = 30_000;
export const DEFAULT_OVERLAP_MS = 5 * 60_000;
export const DEFAULT_MAX_WINDOW_MS = 30 * DAY_MS;
const PREPARE_TIMEOUT_MS = 5_000;
/** Pages in one window beyond which the server is taken to be looping on its tokens. */
const MAX_PAGES_PER_WINDOW = 100_000;

export interface BitwardenPollerOptions {
  /** Default `bitwarden`. */
  name?: string;
  clientId: string;
  clientSecret: string;
  apiUrl?: string;
  identityUrl?: string;
  /** Default 30 s. */
  pollIntervalMs?: number;
  /** First start only: `now` (default), a duration back (`24h`) or an ISO instant. */
  startFrom?: string;
  /** How far behind now a window ends (eventual consistency). Default 30 s. */
  lagMs?: number;
  /** How far before the checkpoint the next window starts (late arrivals). Default 5 min. */
  overlapMs?: number;
  /** Longest window per request. Default 30 days; at most 366 days. */
  maxWindowMs?: number;
  /** A round starts no new window (and waits out no rate limit) beyond this. Default 45 s. */
  roundBudgetMs?: number;
  /** After a permanent failure, the next attempt waits this long. Default 15 min. */
  failedRetryMs?: number;
  /** The vault the catalog gives an item (events without a collectionId). */
  itemVault?: (itemId: string) => string | undefined;
  /** HTTP details (fetch, timeouts, backoff), for tests. */
  http?: Pick<BitwardenClientOptions, 'fetch' | 'timeoutMs' | 'backoffMinMs' | 'backoffMaxMs' | 'attempts'>;
  members?: Omit<MemberDirectoryOptions, 'now' | 'log' | 'sourceName'>;
}

/** What the registry hands the factory (SourceDeps). */
export interface BitwardenPollerDeps {
  configDir?: string;
  itemVault?: (itemId: string) => string | undefined;
}

/** The registry's factory: config entry -> poller. */
export function createBitwardenPoller(def: BitwardenSourceDef, deps: BitwardenPollerDeps = {}): BitwardenPoller {
  const interval = def.poll_interval === undefined ? undefined : parseDuration(def.poll_interval);
  return new BitwardenPoller({
    clientId: def.client_id ?? '',
    clientSecret: def.client_secret ?? '',
    ...(def.name !== undefined ? { name: def.name } : {}),
    ...(def.api_url !== undefined ? { apiUrl: def.api_url } : {}),
    ...(def.identity_url !== undefined ? { identityUrl: def.identity_url } : {}),
    ...(interval !== undefined && interval > 0 ? { pollIntervalMs: interval } : {}),
    ...(def.start_from !== undefined ? { startFrom: def.start_from } : {}),
    ...(deps.itemVault !== undefined ? { itemVault: deps.itemVault } : {}),
  });
}

/** The saved checkpoint. */
export interface BitwardenCursor {
  /** Every event dated up to here (inclusive) has been read, as far as the store showed it then. */
  end: string;
  /** The start_from instant, kept while the overlap would reach back before it. */
  floor?: string;
}

/** The saved checkpoint cannot be read: starting over could skip events, so an operator decides. */
class CheckpointError extends Error {
  override name = 'CheckpointError';
}

interface Window {
  startMs: number;
  endMs: number;
}

export class BitwardenPoller implements Poller {
  readonly type = BITWARDEN_SOURCE;
  readonly name: string;
  readonly intervalMs: number;
  private readonly health: SourceHealth;
  private readonly client: BitwardenClient | undefined;
  private readonly members: MemberDirectory | undefined;
  private readonly lagMs: number;
  private readonly overlapMs: number;
  private readonly maxWindowMs: number;
  private readonly roundBudgetMs: number;
  private readonly failedRetryMs: number;
  private ctx: PollContext | undefined;
  private inRound = false;
  /** Permanent failure: no request before this (epoch ms of ctx.now). */
  private failedUntil = 0;
  /** Ids (events and dead letters) handed over recently, with their time: the overlap re-reads them. */
  private recent = new Map<string, number>();
  private lastWarning: string | undefined;
  private configError: Error | undefined;

  constructor(private readonly opts: BitwardenPollerOptions) {
    this.name = opts.name ?? BITWARDEN_SOURCE;
    this.intervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.health = new SourceHealth(this.name, this.type);
    this.lagMs = Math.max(0, opts.lagMs ?? DEFAULT_LAG_MS);
    this.overlapMs = Math.max(0, opts.overlapMs ?? DEFAULT_OVERLAP_MS);
    // A window must reach past the overlap to make progress, and stay under Bitwarden's limit.
    this.maxWindowMs = Math.min(MAX_RANGE_MS, Math.max(this.overlapMs + 60_000, opts.maxWindowMs ?? DEFAULT_MAX_WINDOW_MS));
    this.roundBudgetMs = opts.roundBudgetMs ?? 45_000;
    this.failedRetryMs = opts.failedRetryMs ?? 15 * 60_000;
    const now = () => this.ctx?.now() ?? Date.now();
    try {
      if (opts.startFrom !== undefined) this.startFromMs(opts.startFrom, Date.now());
      this.client = new BitwardenClient({
        clientId: opts.clientId,
        clientSecret: opts.clientSecret,
        ...(opts.apiUrl !== undefined ? { apiUrl: opts.apiUrl } : {}),
        ...(opts.identityUrl !== undefined ? { identityUrl: opts.identityUrl } : {}),
        now,
        ...opts.http,
      });
      this.members = new MemberDirectory(this.client, { ...opts.members, now, log: () => this.ctx?.log, sourceName: this.name });
    } catch (err) {
      // A config the source cannot work with: failed for good, said at every status().
      this.configError = err as Error;
      this.health.failed(err);
    }
  }

  get organizationId(): string | undefined {
    return this.client?.organizationId;
  }

  status(): SourceStatus {
    return this.health.snapshot();
  }

  /**
   * Fetches a token (so a bad key shows at start-up) and the member directory. Never rejects, and is
   * quick: the scheduler awaits every poller's prepare before it schedules any, so an unreachable
   * Bitwarden gets one short try here and the rounds do the retrying.
   */
  async prepare(ctx: PollContext): Promise<void> {
    this.ctx = ctx;
    if (this.configError !== undefined) {
      ctx.log.error({ source: this.name, err: this.configError.message }, 'bitwarden source cannot start');
      return;
    }
    try {
      await this.client!.accessToken({ signal: ctx.signal, deadlineMs: ctx.now(), attempts: 1, timeoutMs: PREPARE_TIMEOUT_MS });
      await this.members!.refresh({ signal: ctx.signal, timeoutMs: PREPARE_TIMEOUT_MS });
    } catch (err) {
      this.noteFailure(ctx, err);
    }
  }

  async pollOnce(ctx: PollContext): Promise<void> {
    this.ctx = ctx;
    if (this.configError !== undefined || this.inRound || ctx.signal.aborted) return;
    const now = ctx.now();
    if (now < this.failedUntil || now < this.client!.rateLimitedUntil) return;
    this.inRound = true;
    try {
      await this.round(ctx);
      this.succeeded(ctx);
    } catch (err) {
      this.noteFailure(ctx, err);
    } finally {
      this.inRound = false;
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Rounds and windows

  private async round(ctx: PollContext): Promise<void> {
    const roundEndsAt = Date.now() + this.roundBudgetMs;
    // A round that has nothing to read yet (the first half-minute after start_from: now) must still
    // not report `running` with a key that does not work: hold a valid token (cached: no request).
    await this.client!.accessToken({ signal: ctx.signal, deadlineMs: ctx.now() + this.roundBudgetMs });
    let cursor = await this.loadCursor(ctx);
    if (cursor === undefined) {
      const start = this.startFromMs(this.opts.startFrom ?? 'now', ctx.now());
      cursor = { end: start, floor: start };
      // Saved at once: "now" means the first start, not every start until the first event.
      await this.saveCursor(ctx, cursor);
    }
    for (;;) {
      const target = ctx.now() - this.lagMs;
      const startMs = Math.max(cursor.end - this.overlapMs, cursor.floor ?? -Infinity);
      const endMs = Math.min(target, startMs + this.maxWindowMs);
      if (endMs <= cursor.end) return; // nothing new yet (the first half-minute after start-up)
      await this.readWindow(ctx, { startMs, endMs }, roundEndsAt);
      cursor = { end: endMs, ...(cursor.floor !== undefined && endMs - this.overlapMs < cursor.floor ? { floor: cursor.floor } : {}) };
      await this.saveCursor(ctx, cursor);
      if (endMs >= target) return;
      if (ctx.signal.aborted || Date.now() >= roundEndsAt) {
        ctx.log.info({ source: this.name, checkpoint: new Date(endMs).toISOString() }, 'bitwarden: catching up; the next round goes on');
        return;
      }
    }
  }

  /** Every page of one window, each accepted by the sink before the next is asked for. */
  private async readWindow(ctx: PollContext, w: Window, roundEndsAt: number): Promise<void> {
    const client = this.client!;
    const start = isoOf(w.startMs);
    const end = isoOf(w.endMs);
    let token: string | undefined;
    const tokens = new Set<string>();
    for (let pages = 0; ; pages++) {
      if (ctx.signal.aborted) throw new BitwardenAbortedError('stopped');
      if (pages >= MAX_PAGES_PER_WINDOW) throw new Error(`Bitwarden kept paging past ${MAX_PAGES_PER_WINDOW} pages for ${start}..${end}`);
      const deadlineMs = ctx.now() + Math.max(0, roundEndsAt - Date.now());
      const page = await client.events({ start, end, ...(token !== undefined ? { continuationToken: token } : {}) },
        { signal: ctx.signal, deadlineMs });
      await this.handlePage(ctx, page.data, w);
      const next = page.continuationToken;
      // Bitwarden ends with null or, sometimes, "". An empty page with a token is not the end.
      if (typeof next !== 'string' || next === '') return;
      if (tokens.has(next)) throw new Error('Bitwarden repeated a continuation token; the window is retried next round');
      tokens.add(next);
      token = next;
    }
  }

  private async handlePage(ctx: PollContext, records: readonly unknown[], w: Window): Promise<void> {
    if (records.length === 0) return;
    // Only item events are judged by person: sign-ins of unknown users must not refresh the directory.
    const users = new Set<string>();
    for (const r of records) {
      if (typeof r !== 'object' || r === null) continue;
      const rec = r as Record<string, unknown>;
      const u = rec['actingUserId'];
      if (typeof u === 'string' && u !== '' && typeof rec['itemId'] === 'string') users.add(u);
    }
    if (users.size > 0) await this.members!.ensure(users, { signal: ctx.signal });

    const receivedAt = new Date(ctx.now()).toISOString();
    const nctx: BitwardenNormalizeContext = {
      receivedAt,
      organizationId: this.client!.organizationId,
      members: (userId) => this.members!.lookup(userId),
      ...(this.opts.itemVault !== undefined ? { itemVault: this.opts.itemVault } : {}),
    };
    const events: UsageEvent[] = [];
    const dead: DeadLetterEntry[] = [];
    const fresh = new Map<string, number>();
    for (const record of records) {
      const result = normalizeBitwardenEvent(record, nctx);
      if (result.kind === 'skipped') continue;
      const id = result.kind === 'event' ? result.event.id : result.id;
      if (id !== undefined && (this.recent.has(id) || fresh.has(id))) continue;
      const time = result.kind === 'event' ? result.event.time_ms : recordTime(record) ?? w.endMs;
      if (id !== undefined) fresh.set(id, time);
      if (result.kind === 'event') events.push(result.event);
      else dead.push({ source: this.name, reason: result.reason, record, received_at: receivedAt });
    }

    if (events.length > 0) {
      const res = await ctx.sink.accept(events, this.name);
      this.health.countEvents(events.length);
      const stored = res.duplicateIds.size === 0 ? events : events.filter((e) => !res.duplicateIds.has(e.id));
      if (stored.length > 0) ctx.onEvents?.(stored);
    }
    if (dead.length > 0) {
      await ctx.sink.deadLetter(dead);
      this.health.countRejected(dead.length);
      for (let i = 0; i < dead.length; i++) ctx.onRejected?.('invalid');
      ctx.log.warn({ source: this.name, dead_lettered: dead.length, reasons: [...new Set(dead.map((d) => d.reason))].slice(0, 5) },
        'bitwarden: records dead-lettered');
    }
    this.remember(fresh, w);
  }

  /**
   * Keeps the ids the next windows will read again (those within the overlap of this window's end),
   * so they are not handed over twice; older ones are forgotten, which bounds the memory.
   */
  private remember(fresh: Map<string, number>, w: Window): void {
    const keepFrom = w.endMs - this.overlapMs - 60_000;
    for (const [id, time] of fresh) if (time >= keepFrom) this.recent.set(id, time);
    if (this.recent.size > 0) {
      for (const [id, time] of this.recent) if (time < keepFrom) this.recent.delete(id);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Checkpoint

  private async loadCursor(ctx: PollContext): Promise<{ end: number; floor?: number } | undefined> {
    const text = await ctx.cursors.get(this.name);
    if (text === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const c = parsed as Partial<BitwardenCursor> | undefined;
    const end = typeof c?.end === 'string' ? Date.parse(c.end) : Number.NaN;
    if (Number.isNaN(end)) {
      // Starting over from start_from could skip events: better to say so and wait for an operator.
      throw new CheckpointError(`the saved checkpoint of source "${this.name}" is not readable (${text.slice(0, 80)}): `
        + 'delete it to start again from start_from');
    }
    const floor = typeof c?.floor === 'string' ? Date.parse(c.floor) : Number.NaN;
    return Number.isNaN(floor) ? { end } : { end, floor };
  }

  private async saveCursor(ctx: PollContext, c: { end: number; floor?: number }): Promise<void> {
    const cursor: BitwardenCursor = { end: isoOf(c.end), ...(c.floor !== undefined ? { floor: isoOf(c.floor) } : {}) };
    await ctx.cursors.set(this.name, JSON.stringify(cursor));
  }

  /** `now`, a duration back (`24h`, `400d`) or an ISO instant -> epoch ms. */
  private startFromMs(text: string, now: number): number {
    const t = text.trim();
    if (t === '' || t === 'now') return now;
    const back = parseDuration(t);
    if (back !== undefined) return now - back;
    const at = Date.parse(t);
    if (Number.isNaN(at)) throw new Error(`start_from "${text}" is not now, a duration (24h) or an ISO instant`);
    return at;
  }

  // -------------------------------------------------------------------------------------------------
  // Status and logs

  private succeeded(ctx: PollContext): void {
    const was = this.health.current;
    this.health.success(ctx.now());
    this.failedUntil = 0;
    if (was === 'degraded' || was === 'failed') ctx.log.info({ source: this.name }, 'bitwarden source recovered');
    this.lastWarning = undefined;
  }

  private noteFailure(ctx: PollContext, err: unknown): void {
    if (err instanceof BitwardenAbortedError || ctx.signal.aborted) return;
    const message = errorMessage(err);
    const log: SourceLog = ctx.log;
    if (err instanceof BitwardenAuthError || err instanceof BitwardenRequestError || err instanceof CheckpointError) {
      const was = this.health.current;
      this.health.failed(err);
      this.failedUntil = ctx.now() + this.failedRetryMs;
      if (was !== 'failed' || this.lastWarning !== message) {
        log.error({ source: this.name, err: message, retry_in_s: Math.round(this.failedRetryMs / 1000) }, `bitwarden source failed: ${message}`);
      }
      this.lastWarning = message;
      return;
    }
    // Rate limits, outages, a refused page (Redis down): the next round repeats from the checkpoint.
    // (A failed source stays failed until a round succeeds: SourceHealth.degraded keeps that state.)
    this.health.degraded(err);
    if (this.lastWarning !== message) {
      const extra = err instanceof BitwardenRateLimitError ? { retry_at: new Date(err.retryAtMs).toISOString() } : {};
      log.warn({ source: this.name, err: message, ...extra }, 'bitwarden: round not completed; the next round resumes from the checkpoint');
    }
    this.lastWarning = message;
  }
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

function recordTime(record: unknown): number | undefined {
  const d = typeof record === 'object' && record !== null ? (record as Record<string, unknown>)['date'] : undefined;
  if (typeof d !== 'string') return undefined;
  const ms = Date.parse(d.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(ms) ? undefined : ms;
}
