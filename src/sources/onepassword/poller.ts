/**
 * The 1Password Events API poller (sources.md §1): item usages, and audit events when
 * `audit_events: true`, read with the API's cursor and handed to the intake.
 *
 * One round (`pollOnce`), per stream:
 *   1. the saved cursor, or for the very first request a ResetCursor `{limit: 1000, start_time}` whose
 *      start comes from `start_from` (default now: a first start never alerts on months of history);
 *      the start chosen is saved too, so a first round that fails is retried from the same instant;
 *   2. POST the page; normalise its records; hand the events to the sink (and bad records to the dead
 *      letter); only once that resolved, save the page's cursor; then the next page while `has_more`
 *      (an empty page with `has_more` continues).
 * A crash anywhere re-reads at most the page in hand; the intake drops the events it already has.
 *
 * Errors: 429, 5xx and network errors back off (exponential from 1 s, capped at 60 s, jittered;
 * a Retry-After is honoured when present) and retry within the round while its time lasts, then the
 * next round goes on from the saved cursor. 401 marks the source failed with what to do, and the
 * round stops; the next round introspects the token again (one request) before reading. A token
 * without the `itemusages` feature fails the same way at start-up.
 *
 * Request budget: at most `budget.requests` per `budget.windowMs` (default 120 a minute, a fifth of the
 * 600 a minute the account shares with every other integration), and a round reads at most
 * `maxPagesPerRound` pages per stream. An idle poll is one request per stream.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { SourceDef } from '../../config/schema.ts';
import { parseDuration } from '../../domain/duration.ts';
import type { NormalizeResult, UsageEvent } from '../../domain/usage-event.ts';
import type { DeadLetterEntry } from '../../pipeline/intake.ts';
import type { NormalizeContext } from '../normalize-common.ts';
import type { PollContext, Poller } from '../poller.ts';
import type { SourceDeps } from '../registry.ts';
import { Backoff, errorMessage, sleep, SourceHealth } from '../source-health.ts';
import type { SourceStatus } from '../source.ts';
import { normalizeOnePasswordAuditEvent } from './audit-normalize.ts';
import {
  baseUrlFromToken, EventsApiClient, EventsApiError, STREAM_FEATURE,
  type CursorPage, type EventStream, type FetchLike, type PageRequestBody,
} from './client.ts';
import { normalizeOnePasswordItemUsage } from './normalize.ts';

export type OnePasswordSourceDef = Extract<SourceDef, { type: 'onepassword' }>;

export interface OnePasswordPollerOptions {
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** `limit` of the first request (1-1000); default 1000, the API's maximum. */
  pageLimit?: number;
  /** Pages per stream in one round; the rest waits for the next round. Default 50. */
  maxPagesPerRound?: number;
  /** Empty pages in a row (with has_more) before the round yields to the next one. Default 10. */
  maxEmptyPages?: number;
  /** Backoff after 429/5xx/network errors. Default 1 s doubling to 60 s, each drawn from [d/2, d]. */
  backoff?: { minMs: number; maxMs: number };
  /** Longest Retry-After honoured. Default 5 min. */
  maxRetryAfterMs?: number;
  /** Client-side request budget. Default 120 requests per 60 s. */
  budget?: { requests: number; windowMs: number };
  /**
   * How long a round may keep retrying; default max(30 s, 5 x poll_interval), half the poll
   * scheduler's lock, so a round never outlives the lock that keeps replicas from overlapping.
   */
  roundBudgetMs?: number;
  /** Per request; default 20 s. */
  timeoutMs?: number;
}

export const DEFAULT_POLL_INTERVAL_MS = 10_000;
/**
 * A round stops retrying after max(30 s, 5 x interval) and a request in flight then takes at most
 * this long, so a round ends within the poll scheduler's lock (max(60 s, 10 x interval)).
 */
const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;
const MIN_POLL_INTERVAL_MS = 1_000;
/** The API keeps 120 days: an earlier start asks for nothing more. */
const HISTORY_MS = 120 * 86_400_000;

/** Cursor-store keys of a source's stream: its cursor, and the start of its first request. */
export function cursorKey(source: string, stream: EventStream): string {
  return `${source}:${stream}`;
}
export function startKey(source: string, stream: EventStream): string {
  return `${source}:${stream}:start`;
}

/**
 * `start_from` -> the epoch ms of the first request's start_time: `now` (default), a duration back
 * (`24h`), or an ISO instant. Undefined when it is none of these.
 */
export function startFromMs(startFrom: string | undefined, nowMs: number): number | undefined {
  const text = (startFrom ?? 'now').trim();
  if (text === '' || text === 'now') return nowMs;
  const d = parseDuration(text);
  if (d !== undefined) return nowMs - d;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at;
}

/** RFC 3339 at whole seconds (rounded down), the form 1Password's own examples use. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Ends a round early; what happened is already in the status. */
class RoundEnd extends Error {
  override name = 'RoundEnd';
}

const NORMALIZERS: Record<EventStream, (record: unknown, ctx: NormalizeContext) => NormalizeResult> = {
  itemusages: normalizeOnePasswordItemUsage,
  auditevents: normalizeOnePasswordAuditEvent,
};

export class OnePasswordPoller implements Poller {
  readonly type = 'onepassword';
  readonly name: string;
  readonly intervalMs: number;
  readonly streams: readonly EventStream[];
  private readonly health: SourceHealth;
  private readonly client?: EventsApiClient;
  /** Set when the config cannot work (no token, no URL, bad start_from): the source stays failed. */
  private configError?: string;
  private readonly startFrom: string | undefined;
  private readonly pageLimit: number;
  private readonly maxPages: number;
  private readonly maxEmptyPages: number;
  private readonly maxRetryAfterMs: number;
  private readonly budget: { requests: number; windowMs: number };
  private readonly roundBudgetMs: number;
  private readonly backoff: Backoff;
  private readonly backoffMinMs: number;
  /** Features from the last good introspection; undefined until then, and again after a 401. */
  private features?: ReadonlySet<string>;
  /** Audit events were asked for but the token may not read them. */
  private auditNote?: string;
  /** No request before this instant (a 429's backoff or Retry-After outlives its round). */
  private notBefore = 0;
  private readonly sent: number[] = [];
  /** An error is being retried: log recovery once it ends. */
  private troubled = false;

  constructor(def: OnePasswordSourceDef, deps: Pick<SourceDeps, 'configDir'>, opts: OnePasswordPollerOptions = {}) {
    this.name = def.name ?? 'onepassword';
    this.health = new SourceHealth(this.name, this.type);
    const interval = parseDuration(def.poll_interval ?? '') ?? DEFAULT_POLL_INTERVAL_MS;
    this.intervalMs = Math.max(MIN_POLL_INTERVAL_MS, interval);
    this.streams = def.audit_events ? ['itemusages', 'auditevents'] : ['itemusages'];
    this.startFrom = def.start_from;
    this.pageLimit = Math.min(1000, Math.max(1, Math.floor(opts.pageLimit ?? 1000)));
    this.maxPages = opts.maxPagesPerRound ?? 50;
    this.maxEmptyPages = opts.maxEmptyPages ?? 10;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 5 * 60_000;
    this.budget = opts.budget ?? { requests: 120, windowMs: 60_000 };
    this.roundBudgetMs = opts.roundBudgetMs ?? Math.max(30_000, 5 * this.intervalMs);
    this.backoffMinMs = opts.backoff?.minMs ?? 1_000;
    this.backoff = new Backoff(this.backoffMinMs, opts.backoff?.maxMs ?? 60_000);

    const problem = (message: string): void => {
      this.configError = message;
      this.health.failed(this.configError);
    };
    let token = def.token?.trim();
    if (!token && def.token_file) {
      const path = isAbsolute(def.token_file) ? def.token_file : resolve(deps.configDir, def.token_file);
      try {
        token = readFileSync(path, 'utf8').trim();
      } catch (err) {
        problem(`cannot read token_file ${def.token_file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
        return;
      }
    }
    if (!token) { problem('no Events API token: set `token` or `token_file` (an Events Reporting token)'); return; }
    if (startFromMs(def.start_from, Date.now()) === undefined) {
      problem(`start_from "${def.start_from}" is not now, a duration back (24h) or an ISO instant`);
      return;
    }
    let baseUrl = def.url?.trim();
    if (baseUrl) {
      if (!/^https?:\/\/[^/\s]+/i.test(baseUrl)) { problem(`url "${baseUrl}" is not an http(s) URL`); return; }
    } else {
      const derived = baseUrlFromToken(token);
      if ('error' in derived) { problem(derived.error); return; }
      baseUrl = derived.url;
    }
    this.client = new EventsApiClient({
      baseUrl, token,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      timeoutMs: opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    });
  }

  /** Where requests go (configured, or from the token's audience). */
  get baseUrl(): string | undefined {
    return this.client?.baseUrl;
  }

  status(): SourceStatus {
    return this.health.snapshot();
  }

  /** Introspects the token once at start-up; a rejection (with the reason) marks the source failed. */
  async prepare(ctx: PollContext): Promise<void> {
    if (this.configError) throw new Error(this.configError);
    const ok = await this.ensureAccess(ctx, Date.now() + this.roundBudgetMs, false).catch((err: unknown) => {
      if (err instanceof RoundEnd) return false;
      throw err;
    });
    if (!ok) throw new Error(this.status().last_error ?? 'not ready');
  }

  async pollOnce(ctx: PollContext): Promise<void> {
    if (this.configError) { this.health.failed(this.configError); return; }
    const deadline = Date.now() + this.roundBudgetMs;
    try {
      if (!(await this.ensureAccess(ctx, deadline, true))) return;
      for (const stream of this.streams) {
        if (ctx.signal.aborted) return;
        if (stream === 'auditevents' && this.auditNote) continue;
        await this.drain(stream, ctx, deadline);
      }
      if (ctx.signal.aborted) return;
      if (this.troubled) ctx.log.info({ source: this.name }, '1Password Events API reachable again');
      this.troubled = false;
      this.health.success(ctx.now());
      if (this.auditNote) this.health.degraded(this.auditNote);
    } catch (err) {
      if (err instanceof RoundEnd) return;
      // A bug of ours must cost a round, never the scheduler.
      this.health.degraded(err);
      ctx.log.error({ source: this.name, err: errorMessage(err) }, '1Password poll failed');
    }
  }

  // ------------------------------------------------------------------------------------------------

  /** True when the token may read item usages (introspected once, and again after a 401). */
  private async ensureAccess(ctx: PollContext, deadline: number, retry: boolean): Promise<boolean> {
    if (this.features) return true;
    const client = this.client!;
    const info = await this.call(ctx, deadline, retry, 'introspection', () => client.introspect(ctx.signal));
    const features = new Set(info.features);
    if (!features.has(STREAM_FEATURE.itemusages)) {
      const has = info.features.length ? info.features.join(', ') : 'none';
      this.fail(ctx, `the token lacks the itemusages feature (it has: ${has}): create an Events Reporting token with item usage events and update token/token_file`);
      return false;
    }
    this.auditNote = this.streams.includes('auditevents') && !features.has(STREAM_FEATURE.auditevents)
      ? `audit_events is on but the token lacks the auditevents feature; vault access changes are not read (item usages are)`
      : undefined;
    if (this.auditNote) ctx.log.warn({ source: this.name }, this.auditNote);
    this.features = features;
    if (this.health.current === 'starting') this.health.running();
    return true;
  }

  /** Pages one stream until has_more is false (or the round's page or time budget is spent). */
  private async drain(stream: EventStream, ctx: PollContext, deadline: number): Promise<void> {
    const client = this.client!;
    const key = cursorKey(this.name, stream);
    let cursor = await this.store(ctx, () => ctx.cursors.get(key));
    let pages = 0;
    let empty = 0;
    let stored = 0;
    while (!ctx.signal.aborted) {
      const body: PageRequestBody = cursor !== undefined ? { cursor } : await this.resetBody(ctx, stream);
      const page: CursorPage = await this.call(ctx, deadline, true, stream, () => client.page(stream, body, ctx.signal));
      stored += await this.hand(stream, page, ctx);
      // Only now, with the page's events stored: never between storing a page and saving its cursor.
      const next = page.cursor;
      await this.store(ctx, () => ctx.cursors.set(key, next));
      cursor = next;
      pages += 1;
      empty = page.items.length === 0 ? empty + 1 : 0;
      if (!page.has_more) break;
      if (pages >= this.maxPages || empty >= this.maxEmptyPages) {
        ctx.log.info({ source: this.name, stream, pages, empty }, '1Password: more to read; the next round goes on from the saved cursor');
        break;
      }
    }
    if (stored > 0) ctx.log.info({ source: this.name, stream, events: stored, pages }, `1Password: ${stored} events from ${stream}`);
  }

  /** The first request's body: `start_from` resolved once and saved, so retries ask for the same window. */
  private async resetBody(ctx: PollContext, stream: EventStream): Promise<PageRequestBody> {
    const key = startKey(this.name, stream);
    let start = await this.store(ctx, () => ctx.cursors.get(key));
    if (start === undefined) {
      const now = ctx.now();
      const ms = Math.max(startFromMs(this.startFrom, now) ?? now, now - HISTORY_MS);
      start = rfc3339(ms);
      const chosen = start;
      await this.store(ctx, () => ctx.cursors.set(key, chosen));
    }
    return { limit: this.pageLimit, start_time: start };
  }

  /** Normalises a page and stores it; resolves with the number of events the sink took. */
  private async hand(stream: EventStream, page: CursorPage, ctx: PollContext): Promise<number> {
    const receivedAt = new Date(ctx.now()).toISOString();
    const normalize = NORMALIZERS[stream];
    const events: UsageEvent[] = [];
    const dead: DeadLetterEntry[] = [];
    for (const record of page.items) {
      const r = normalize(record, { receivedAt });
      if (r.kind === 'event') events.push(r.event);
      else if (r.kind === 'rejected') dead.push({ source: this.name, reason: `${stream}: ${r.reason}`, record, received_at: receivedAt });
      // 'skipped' (sign-ins, audit events that are not vault access changes): nothing to store.
    }
    if (events.length === 0 && dead.length === 0) return 0;
    try {
      await Promise.all([
        events.length > 0 ? ctx.sink.accept(events, this.name) : undefined,
        dead.length > 0 ? ctx.sink.deadLetter(dead) : undefined,
      ]);
    } catch (err) {
      // The cursor stays where it was: the next round reads this page again.
      this.degrade(ctx, `intake unavailable, ${stream} page not stored (read again next round): ${errorMessage(err)}`);
      throw new RoundEnd();
    }
    if (events.length > 0) {
      this.health.countEvents(events.length);
      ctx.onEvents?.(events);
    }
    if (dead.length > 0) {
      this.health.countRejected(dead.length);
      for (let i = 0; i < dead.length; i++) ctx.onRejected?.('invalid');
      ctx.log.warn({ source: this.name, stream, dead_lettered: dead.length, reasons: dead.slice(0, 3).map((d) => d.reason) }, '1Password: records dead-lettered');
    }
    return events.length;
  }

  /** A cursor-store call; Redis down ends the round (degraded), the next one resumes. */
  private async store<T>(ctx: PollContext, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.degrade(ctx, `cannot read or save the cursor (Redis unavailable?): ${errorMessage(err)}`);
      throw new RoundEnd();
    }
  }

  /**
   * One API call under the budget, retried on 429 / 5xx / network errors with backoff (or the
   * Retry-After) while the round's time lasts. 401 and 400 end the round at once.
   */
  private async call<T>(ctx: PollContext, deadline: number, retry: boolean, what: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      await this.turn(ctx, deadline);
      this.sent.push(Date.now());
      try {
        const out = await fn();
        this.backoff.reset();
        return out;
      } catch (err) {
        if (ctx.signal.aborted) throw new RoundEnd();
        if (!(err instanceof EventsApiError)) throw err;
        if (err.kind === 'unauthorized') {
          // Introspect again next round: the token may have been replaced or restored by then.
          this.features = undefined;
          this.fail(ctx, err.message);
          throw new RoundEnd();
        }
        if (err.kind === 'bad_request') {
          const hint = what === 'introspection' ? '' : '; if it is the saved cursor the API no longer knows, delete it (Redis key <prefix>:cursor:'
            + `${cursorKey(this.name, what as EventStream)}) to start again from start_from`;
          this.fail(ctx, `${err.message}${hint}`);
          throw new RoundEnd();
        }
        // A Retry-After is honoured (within reason: never below the backoff's floor, never above the cap).
        const delay = err.retryAfterMs !== undefined
          ? Math.min(Math.max(err.retryAfterMs, this.backoffMinMs), this.maxRetryAfterMs)
          : this.backoff.next();
        this.notBefore = Math.max(this.notBefore, Date.now() + delay);
        this.degrade(ctx, `${err.message}; retrying in ${Math.round(delay / 100) / 10} s`);
        if (!retry || Date.now() + delay > deadline) throw new RoundEnd();
        await sleep(delay, ctx.signal);
        if (ctx.signal.aborted) throw new RoundEnd();
      }
    }
  }

  /** Waits for the backoff and the request budget; ends the round when that outlasts it. */
  private async turn(ctx: PollContext, deadline: number): Promise<void> {
    for (;;) {
      if (ctx.signal.aborted) throw new RoundEnd();
      const now = Date.now();
      while (this.sent.length > 0 && this.sent[0]! <= now - this.budget.windowMs) this.sent.shift();
      const budgetWait = this.sent.length >= this.budget.requests ? this.sent[0]! + this.budget.windowMs - now : 0;
      const wait = Math.max(this.notBefore - now, budgetWait);
      if (wait <= 0) return;
      if (now + wait > deadline) throw new RoundEnd();
      await sleep(wait, ctx.signal);
    }
  }

  private degrade(ctx: PollContext, message: string): void {
    if (!this.troubled) ctx.log.warn({ source: this.name, err: message }, '1Password poll: will retry');
    this.troubled = true;
    this.health.degraded(message);
  }

  private fail(ctx: PollContext, message: string): void {
    // Once per distinct reason: a revoked token must not write an error every round.
    if (this.health.current !== 'failed' || this.health.snapshot().last_error !== message) {
      ctx.log.error({ source: this.name, err: message }, '1Password source failed; tried again each round');
    }
    this.troubled = true;
    this.health.failed(message);
  }
}

/** The registry's factory (POLLERS.onepassword). */
export function createOnePasswordPoller(def: OnePasswordSourceDef, deps: Pick<SourceDeps, 'configDir'>, opts?: OnePasswordPollerOptions): OnePasswordPoller {
  return new OnePasswordPoller(def, deps, opts);
}
