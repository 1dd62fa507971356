import type { ItemType } from '../domain/item-types.ts';
import type { UsageEvent } from '../domain/usage-event.ts';

export interface CatalogData {
  vaults?: Record<string, { name: string }>;
  items?: Record<string, { title?: string; type?: ItemType; tags?: string[]; vault?: string }>;
}

/**
 * Labels for ids from catalog.yaml. Fills only what the event lacks: a title or type the record
 * already carries wins. Lookups are case-insensitive because vendors differ in the case of ids.
 */
export class Catalog {
  private readonly vaults = new Map<string, { name: string }>();
  private readonly items = new Map<string, { title?: string; type?: ItemType; tags?: string[]; vault?: string }>();

  constructor(data: CatalogData = {}) {
    for (const [id, v] of Object.entries(data.vaults ?? {})) this.vaults.set(id.toLowerCase(), v);
    for (const [id, v] of Object.entries(data.items ?? {})) this.items.set(id.toLowerCase(), v);
  }

  get size(): number {
    return this.vaults.size + this.items.size;
  }

  /** The vault the catalog places an item in (Bitwarden events may carry no vault of their own). */
  itemVault(itemId: string): string | undefined {
    return this.items.get(itemId.toLowerCase())?.vault;
  }

  enrich(e: UsageEvent): UsageEvent {
    // Vendors send lower-case ids almost always: try the id as given before paying for toLowerCase.
    const item = this.items.size ? (this.items.get(e.item.id) ?? this.items.get(e.item.id.toLowerCase())) : undefined;
    if (item) {
      if (e.item.title === undefined && item.title !== undefined) e.item.title = item.title;
      // `unknown` is "the record could not tell", not a type: the catalog's answer is better.
      if ((e.item.type === undefined || e.item.type === 'unknown') && item.type !== undefined) e.item.type = item.type;
      // A copy: events are handed on and may be changed; the catalog's list must stay as loaded.
      if (e.item.tags === undefined && item.tags !== undefined) e.item.tags = [...item.tags];
    }
    if (e.vault.name === undefined && this.vaults.size) {
      const v = this.vaults.get(e.vault.id) ?? this.vaults.get(e.vault.id.toLowerCase());
      if (v) e.vault.name = v.name;
    }
    return e;
  }
}
