/**
 * Enrichment in the order events.md fixes: what the record itself says, then the Redis cache /
 * 1Password Connect (ConnectEnricher), then catalog.yaml for whatever is still missing.
 *
 * Without Connect (replay, tests, deployments that only keep a catalog) the chain is the catalog
 * alone and fully synchronous: no promise, no microtask per event. With Connect, events Connect
 * cannot help with (not a Connect vault id, e.g. Bitwarden; nothing left to fill) stay synchronous
 * too. A Connect failure never fails the chain: the catalog still runs, and what neither knows stays
 * absent, so the alert names the item by id with "(title unknown)".
 *
 * Tags are the one label that combines: an operator's catalog tags (written for policies such as
 * `tags: [payment]`) are added to the item's 1Password tags rather than shadowed by them, so turning
 * Connect on never silently stops a tag rule from firing. Title, type and vault name: the first
 * source that knows one wins.
 *
 * The daemon's own Connect reads (`fetch` by the Connect service user, client "1Password Connect")
 * are not filtered here: they are normal records for the policies to judge; see connect-enricher.ts.
 */
import type { UsageEvent } from '../domain/usage-event.ts';
import type { Catalog } from './catalog.ts';
import type { ConnectEnricher } from './connect-enricher.ts';

export type EnrichFn = (e: UsageEvent) => UsageEvent | Promise<UsageEvent>;

export interface EnrichChainOptions {
  connect?: ConnectEnricher;
  /** The catalog, or a getter for the current one (the daemon's catalog changes on hot reload). */
  catalog: Catalog | (() => Catalog);
}

export function createEnrichChain(o: EnrichChainOptions): EnrichFn {
  const c = o.catalog;
  const catalogNow: () => Catalog = typeof c === 'function' ? c : () => c;
  const connect = o.connect;
  if (!connect) return (e) => catalogNow().enrich(e);
  return (e) => {
    if (!connect.wants(e)) return catalogNow().enrich(e);
    const recordHadTags = e.item.tags !== undefined;
    return connect.enrich(e).then(
      (x) => withCatalog(catalogNow(), x, recordHadTags),
      () => catalogNow().enrich(e), // enrich() never rejects; belt and braces
    );
  };
}

function withCatalog(catalog: Catalog, e: UsageEvent, recordHadTags: boolean): UsageEvent {
  const connectTags = recordHadTags ? undefined : e.item.tags;
  catalog.enrich(e);
  if (connectTags !== undefined && catalog.size > 0) {
    // Connect gave tags, so catalog.enrich left them alone: add the catalog's own for this item.
    const probe: UsageEvent = { ...e, item: { id: e.item.id }, vault: { id: e.vault.id } };
    const extra = catalog.enrich(probe).item.tags;
    if (extra?.length) e.item.tags = [...new Set([...connectTags, ...extra])];
  }
  return e;
}
