/**
 * Titles, types and tags from 1Password Connect, through a cache in Redis (events.md "Enrichment").
 *
 * Per vault, one Redis hash holds the vault's item list as the Connect LIST call gives it:
 *
 *   {prefix}:connect:items:<vault>   item id -> JSON {title, type, tags}
 *                                    `~fetched` -> epoch ms of the lookup, `~name` -> the vault's name
 *
 * (`~` cannot start a Connect uuid, so the two meta fields never collide with an item.) The hash
 * expires `ttl` after it was written: while it exists the vault is fresh; once gone, the next event
 * for the vault looks the vault up again. Three more keys bound the traffic to Connect:
 *
 *   {prefix}:connect:lock:<vault>    one replica refreshes a vault at a time (SET NX PX, token-checked release)
 *   {prefix}:connect:miss:<vault>    set by every refresh; while it lives, an item missing from the
 *                                    fresh cache does not cause another refresh (so a flood of
 *                                    events for unknown or deleted items cannot hammer Connect)
 *   {prefix}:connect:fail:<vault>    set when a lookup failed; while it lives, no lookup is tried
 *
 * In this process, concurrent events of one vault share one lookup (single flight). Across replicas,
 * the one that takes the lock looks the vault up; the others wait briefly for the cache it writes
 * (polling, until the lock is gone or their deadline passes), then go on with whatever there is.
 *
 * A lookup never blocks an alert and never throws: timeouts, 401, 403 ("vault ... is not in
 * scope"), 404, 5xx and Redis errors leave the event as it was (the catalog still fills what it
 * knows), a warning is logged once per vault per interval, and the event waits at most `maxWaitMs`.
 *
 * The daemon's own lookups: Connect reports the reads it serves as item usage (`server-fetch` ->
 * `fetch`, client app "1Password Connect", actor the Connect server's service user). Those records
 * are normal records here: they are enriched like any other (from the cache that the lookup just
 * wrote, so they never cause another lookup) and go through the policies, which decide. No
 * finance.yaml rule of the shipped example config names `fetch` in its `actions`; but the first
 * rule of the example it-admin.yaml ("Admin portal used by someone outside the admin team") names
 * no action at all and so WOULD alert on a Connect `fetch` of the Admin portal if the Connect token
 * can read the IT Admin vault: give such rules `actions:` or `not: { clients: ["1Password Connect"] }`.
 */
import type { Redis } from 'ioredis';
import { isItemType, type ItemType } from '../domain/item-types.ts';
import { parseDuration } from '../domain/duration.ts';
import type { UsageEvent } from '../domain/usage-event.ts';
import { CONNECT_TIMEOUT_MS, ConnectClient, isConnectError, isConnectId, type ConnectErrorKind, type ConnectItem, type ConnectLookup } from './connect-client.ts';

export const DEFAULT_CONNECT_TTL_MS = 60 * 60 * 1000;
/** At most one refresh per vault per this long because of items missing from a fresh cache. */
export const DEFAULT_MISS_REFRESH_MS = 60_000;
/** After a failed lookup of a vault, no new lookup of it (and no repeated warning) for this long. */
export const DEFAULT_FAILURE_BACKOFF_MS = 60_000;

/** What the cache holds per item. */
export interface CachedItem {
  title?: string;
  type?: ItemType;
  tags?: string[];
}

/** Labels for one event's item and vault, as far as Connect knows them. */
export interface ConnectLabels {
  item?: CachedItem;
  vaultName?: string;
}

export interface EnricherLogger {
  warn(obj: object, msg: string): void;
}

/** Optional metrics hooks. */
export interface ConnectEnricherObserver {
  /** Per event looked up: from a fresh cache (`hit`), missing from a fresh cache (`miss`), no cache (`cold`). */
  lookup?(result: 'hit' | 'miss' | 'cold', vaultId: string): void;
  /** Per refresh this process attempted: `ok`, `failed`, `peer` (another replica held the lock), `skipped` (backing off). */
  refresh?(outcome: 'ok' | 'failed' | 'peer' | 'skipped', vaultId: string, ms: number): void;
  /** Per failure (Connect or Redis); `kind` is a ConnectErrorKind or `redis`. */
  failure?(kind: ConnectErrorKind | 'redis', vaultId: string): void;
}

export interface ConnectEnricherOptions {
  client: ConnectLookup;
  redis: Redis;
  /** The deployment's key prefix (`{vaultwatch}`); our keys are `<prefix>:connect:...`. */
  prefix: string;
  /** How long a vault's item list is trusted. Default 1 h. */
  ttlMs?: number;
  missRefreshMs?: number;
  failureBackoffMs?: number;
  /** The longest one event waits for enrichment, Redis and Connect together. Default 5.5 s. */
  maxWaitMs?: number;
  /** How long the refresh lock lives if its holder dies. Default maxWaitMs + 2 s. */
  lockMs?: number;
  /** How often a replica waiting for another one's refresh looks at the cache. Default 50 ms. */
  pollMs?: number;
  logger?: EnricherLogger;
  observe?: ConnectEnricherObserver;
  now?: () => number;
}

/** The result of one refresh this process did: the list it wrote. */
interface Snapshot {
  items: Map<string, CachedItem>;
  vaultName?: string;
}

const FETCHED = '~fetched';
const NAME = '~name';

/** Deletes the lock only if it is still ours. */
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class ConnectEnricher {
  private readonly ttlMs: number;
  private readonly missRefreshMs: number;
  private readonly failureBackoffMs: number;
  private readonly maxWaitMs: number;
  private readonly lockMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly base: string;
  /** vault -> the refresh this process is running for it. */
  private readonly inflight = new Map<string, Promise<Snapshot | undefined>>();
  /** vault -> when we last warned about it. */
  private readonly warned = new Map<string, number>();

  constructor(private readonly o: ConnectEnricherOptions) {
    this.ttlMs = o.ttlMs ?? DEFAULT_CONNECT_TTL_MS;
    this.missRefreshMs = o.missRefreshMs ?? DEFAULT_MISS_REFRESH_MS;
    this.failureBackoffMs = o.failureBackoffMs ?? DEFAULT_FAILURE_BACKOFF_MS;
    this.maxWaitMs = o.maxWaitMs ?? CONNECT_TIMEOUT_MS + 500;
    this.lockMs = o.lockMs ?? this.maxWaitMs + 2_000;
    this.pollMs = o.pollMs ?? 50;
    this.now = o.now ?? Date.now;
    this.base = `${o.prefix}:connect`;
  }

  /** Key names (tests and operators may look at them). */
  keys(vaultId: string): { items: string; lock: string; miss: string; fail: string } {
    const v = vaultId.toLowerCase();
    return { items: `${this.base}:items:${v}`, lock: `${this.base}:lock:${v}`, miss: `${this.base}:miss:${v}`, fail: `${this.base}:fail:${v}` };
  }

  /** Whether Connect could tell this event anything: a Connect vault id, and a label still missing. */
  wants(e: UsageEvent): boolean {
    if (!isConnectId(e.vault.id) || !isConnectId(e.item.id)) return false;
    return e.item.title === undefined || e.item.type === undefined || e.item.tags === undefined || e.vault.name === undefined;
  }

  /**
   * Fills what the event lacks from the cache or Connect. A title, type, tags or vault name the
   * event already carries are kept. Never throws; resolves within maxWaitMs.
   */
  async enrich(e: UsageEvent): Promise<UsageEvent> {
    if (!this.wants(e)) return e;
    const labels = await this.labels(e.vault.id, e.item.id);
    if (labels) applyLabels(e, labels);
    return e;
  }

  /** The labels Connect has for an item, or undefined when it cannot tell within maxWaitMs. Never throws. */
  labels(vaultId: string, itemId: string): Promise<ConnectLabels | undefined> {
    const vault = vaultId.toLowerCase();
    const work = this.lookup(vault, itemId.toLowerCase()).catch((err: unknown) => {
      this.failed(vault, err);
      return undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.maxWaitMs);
      timer.unref();
    });
    // The lookup goes on after the deadline and fills the cache for later events.
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  private async lookup(vault: string, item: string): Promise<ConnectLabels | undefined> {
    const k = this.keys(vault);
    const [entry = null, fetched = null, name = null] = await this.o.redis.hmget(k.items, item, FETCHED, NAME);
    if (fetched !== null) {
      if (entry !== null) {
        this.o.observe?.lookup?.('hit', vault);
        return labelsOf(entry, name);
      }
      // Fresh cache without the item: new since the lookup, or not in this vault at all.
      this.o.observe?.lookup?.('miss', vault);
      const gate = await this.o.redis.set(k.miss, '1', 'PX', this.missRefreshMs, 'NX');
      if (gate === null) return name !== null ? { vaultName: name } : undefined;
    } else {
      this.o.observe?.lookup?.('cold', vault);
      if ((await this.o.redis.exists(k.fail)) === 1) {
        this.o.observe?.refresh?.('skipped', vault, 0);
        return undefined;
      }
    }
    const before = fetched === null ? undefined : Number(fetched);
    const snapshot = await this.refresh(vault, before);
    if (snapshot) {
      const got = snapshot.items.get(item);
      return { ...(got ? { item: got } : {}), ...(snapshot.vaultName !== undefined ? { vaultName: snapshot.vaultName } : {}) };
    }
    // Someone else refreshed (another replica, or a lookup that finished meanwhile), or it failed.
    const [after = null, afterName = null] = await this.o.redis.hmget(k.items, item, NAME);
    if (after !== null) return labelsOf(after, afterName);
    return afterName !== null ? { vaultName: afterName } : name !== null ? { vaultName: name } : undefined;
  }

  /** One refresh per vault at a time in this process; the callers share its result. */
  private refresh(vault: string, before: number | undefined): Promise<Snapshot | undefined> {
    const running = this.inflight.get(vault);
    if (running) return running;
    const p = this.refreshOnce(vault, before).finally(() => this.inflight.delete(vault));
    this.inflight.set(vault, p);
    return p;
  }

  private async refreshOnce(vault: string, before: number | undefined): Promise<Snapshot | undefined> {
    const k = this.keys(vault);
    const started = this.now();
    const token = `${process.pid}:${Math.random().toString(36).slice(2)}`;
    if ((await this.o.redis.set(k.lock, token, 'PX', this.lockMs, 'NX')) === null) {
      // Another replica is looking this vault up: wait for what it writes.
      await this.waitForPeer(vault, before);
      this.o.observe?.refresh?.('peer', vault, this.now() - started);
      return undefined;
    }
    try {
      // The cache may have been written between our read and our lock: then there is nothing to do.
      if (isNewer(await this.o.redis.hget(k.items, FETCHED), before)) return undefined;
      // Both reads at once; the vault's name is a nicety, the item list is the point.
      const [items, info] = await Promise.allSettled([this.o.client.listItems(vault), this.o.client.getVault(vault)]);
      if (items.status === 'rejected') {
        await this.o.redis.set(k.fail, failKind(items.reason), 'PX', this.failureBackoffMs);
        this.o.observe?.refresh?.('failed', vault, this.now() - started);
        this.failed(vault, items.reason);
        return undefined;
      }
      const name = info.status === 'fulfilled' ? info.value.name : undefined;
      const snapshot = await this.write(vault, items.value, name);
      this.o.observe?.refresh?.('ok', vault, this.now() - started);
      return snapshot;
    } finally {
      await this.o.redis.eval(RELEASE_LOCK, 1, k.lock, token).catch(() => undefined);
    }
  }

  /** Replaces the vault's cache in one transaction (readers see the old list or the new one, never half). */
  private async write(vault: string, items: readonly ConnectItem[], vaultName: string | undefined): Promise<Snapshot> {
    const k = this.keys(vault);
    const snapshot: Snapshot = { items: new Map(), ...(vaultName !== undefined ? { vaultName } : {}) };
    const fields = new Map<string, string>([[FETCHED, String(this.now())]]);
    if (vaultName !== undefined) fields.set(NAME, vaultName);
    for (const it of items) {
      // Only Connect uuids: nothing else can be asked for, and `~` fields stay ours.
      if (!isConnectId(it.id) || (it.vaultId !== undefined && it.vaultId !== vault)) continue;
      const cached: CachedItem = { ...(it.title !== undefined ? { title: it.title } : {}), type: it.type, tags: it.tags };
      snapshot.items.set(it.id, cached);
      fields.set(it.id, JSON.stringify(cached));
    }
    const results = await this.o.redis.multi()
      .del(k.items)
      .hset(k.items, fields)
      .pexpire(k.items, this.ttlMs)
      .set(k.miss, '1', 'PX', this.missRefreshMs)
      .del(k.fail)
      .exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
    return snapshot;
  }

  /** Polls until the cache is newer than `before`, the peer's lock is gone, or our time is up. */
  private async waitForPeer(vault: string, before: number | undefined): Promise<void> {
    const k = this.keys(vault);
    const until = this.now() + this.maxWaitMs;
    while (this.now() < until) {
      await sleep(this.pollMs);
      const [fetched, locked] = await Promise.all([this.o.redis.hget(k.items, FETCHED), this.o.redis.exists(k.lock)]);
      if (isNewer(fetched, before) || locked === 0) return;
    }
  }

  /** Logs once per vault per failure-backoff interval; counts every time. */
  private failed(vault: string, err: unknown): void {
    const kind: ConnectErrorKind | 'redis' = isConnectError(err) ? err.kind : 'redis';
    this.o.observe?.failure?.(kind, vault);
    const now = this.now();
    const last = this.warned.get(vault);
    if (last !== undefined && now - last < this.failureBackoffMs) return;
    this.warned.set(vault, now);
    if (this.warned.size > 10_000) this.warned.clear();
    this.o.logger?.warn(
      { vault, kind, err: err instanceof Error ? err.message : String(err) },
      `1Password Connect lookup failed; alerts for this vault carry catalog labels or ids until it works${hint(kind)}`,
    );
  }
}

/** Record > Connect: only what the event lacks is filled. */
export function applyLabels(e: UsageEvent, labels: ConnectLabels): void {
  const it = labels.item;
  if (it) {
    if (e.item.title === undefined && it.title !== undefined && it.title !== '') e.item.title = it.title;
    // Connect's `unknown` (a category we cannot map) leaves room for the catalog's type.
    if (e.item.type === undefined && it.type !== undefined && it.type !== 'unknown') e.item.type = it.type;
    // An untagged item leaves room for the catalog's tags (see enrich-chain.ts for how they combine).
    if (e.item.tags === undefined && it.tags !== undefined && it.tags.length > 0) e.item.tags = [...it.tags];
  }
  if (e.vault.name === undefined && labels.vaultName !== undefined && labels.vaultName !== '') e.vault.name = labels.vaultName;
}

function labelsOf(entry: string, vaultName: string | null): ConnectLabels {
  let item: CachedItem | undefined;
  try {
    const raw = JSON.parse(entry) as Record<string, unknown>;
    item = {
      ...(typeof raw.title === 'string' ? { title: raw.title } : {}),
      ...(isItemType(raw.type) ? { type: raw.type } : {}),
      ...(Array.isArray(raw.tags) ? { tags: raw.tags.filter((t): t is string => typeof t === 'string') } : {}),
    };
  } catch {
    item = undefined; // a damaged entry is as good as none
  }
  return { ...(item ? { item } : {}), ...(vaultName !== null ? { vaultName } : {}) };
}

function isNewer(fetched: string | null, before: number | undefined): boolean {
  if (fetched === null) return false;
  return before === undefined || Number(fetched) > before;
}

function failKind(err: unknown): string {
  return isConnectError(err) ? err.kind : 'error';
}

function hint(kind: ConnectErrorKind | 'redis'): string {
  switch (kind) {
    case 'unauthorized': return ' (401: check enrichment.onepassword_connect.token)';
    case 'forbidden': return ' (403: the Connect token cannot read this vault; grant it, or rely on catalog.yaml)';
    case 'not_found': return ' (404: Connect does not know this vault)';
    case 'timeout': return ' (Connect too slow)';
    case 'unreachable': return ' (check enrichment.onepassword_connect.url)';
    default: return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export interface ConnectSettings {
  url: string;
  token?: string;
  ttl?: string;
}

/**
 * The enricher for `enrichment.onepassword_connect`, or undefined when it is not configured (or has
 * no token, which is logged). Connection settings are read once: changing them needs a restart.
 */
export function connectEnricherFromConfig(
  settings: ConnectSettings | undefined,
  deps: { redis: Redis; prefix: string; logger?: EnricherLogger & { error(obj: object, msg: string): void }; observe?: ConnectEnricherObserver; timeoutMs?: number },
): ConnectEnricher | undefined {
  if (!settings) return undefined;
  if (!settings.token) {
    deps.logger?.error({ url: settings.url }, 'enrichment.onepassword_connect has no token (token or token_file): Connect lookups are off');
    return undefined;
  }
  const timeoutMs = deps.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const ttlMs = settings.ttl !== undefined ? parseDuration(settings.ttl) : undefined;
  return new ConnectEnricher({
    client: new ConnectClient({ url: settings.url, token: settings.token, timeoutMs }),
    redis: deps.redis,
    prefix: deps.prefix,
    ...(ttlMs !== undefined && ttlMs > 0 ? { ttlMs } : {}),
    maxWaitMs: timeoutMs + 500,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.observe ? { observe: deps.observe } : {}),
  });
}
