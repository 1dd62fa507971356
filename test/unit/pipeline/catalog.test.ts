/** Enrichment from catalog.yaml (events.md "Enrichment"): fills only what the record lacks. */
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../../src/enrich/catalog.ts';
import { ev, VAULT } from '../../helpers/config-kit.ts';

const catalog = new Catalog({
  vaults: { [VAULT]: { name: 'Finance' }, MixedCaseVault: { name: 'Mixed' } },
  items: {
    wxcplh5udshnonkzuuqdkbpmle: { title: 'Company card', type: 'secure_note', tags: ['card', 'payment'], vault: VAULT },
    UPPERCASEITEM: { title: 'Upper', type: 'login' },
  },
});
const bare = (over: Parameters<typeof ev>[0] = {}) => ev({ ...over, item: { title: undefined, type: undefined, tags: undefined, ...(over.item ?? {}) } });

describe('Catalog', () => {
  it('fills title, type, tags and the vault name when the event has none', () => {
    const e = catalog.enrich(bare());
    expect(e.item).toEqual({ id: 'wxcplh5udshnonkzuuqdkbpmle', title: 'Company card', type: 'secure_note', tags: ['card', 'payment'] });
    expect(e.vault.name).toBe('Finance');
  });

  it('a title, type, tags or vault name given by the record wins', () => {
    const e = catalog.enrich(ev({ item: { title: 'Card (from record)', type: 'credit_card', tags: ['x'] }, vault: { name: 'Vault from record' } }));
    expect(e.item).toMatchObject({ title: 'Card (from record)', type: 'credit_card', tags: ['x'] });
    expect(e.vault.name).toBe('Vault from record');
  });

  it('a record whose type is `unknown` (could not tell) takes the catalog\'s type', () => {
    expect(catalog.enrich(bare({ item: { type: 'unknown' } })).item.type).toBe('secure_note');
  });

  it('looks ids up case-insensitively', () => {
    expect(catalog.enrich(bare({ item: { id: 'WXCPLH5UDSHNONKZUUQDKBPMLE' } })).item.title).toBe('Company card');
    expect(catalog.enrich(bare({ item: { id: 'uppercaseitem' } })).item.title).toBe('Upper');
    expect(catalog.enrich(bare({ vault: { id: 'mixedcasevault' } })).vault.name).toBe('Mixed');
    expect(catalog.enrich(bare({ vault: { id: VAULT.toUpperCase() } })).vault.name).toBe('Finance');
  });

  it('leaves unknown ids alone', () => {
    const e = catalog.enrich(bare({ item: { id: 'nope' }, vault: { id: 'nope' } }));
    expect(e.item).toEqual({ id: 'nope' });
    expect(e.vault).toEqual({ id: 'nope' });
  });

  it('gives each event its own tag list (no aliasing of the catalog)', () => {
    const a = catalog.enrich(bare());
    a.item.tags!.push('mutated');
    expect(catalog.enrich(bare()).item.tags).toEqual(['card', 'payment']);
  });

  it('knows the vault of an item (for Bitwarden events without one), and its size', () => {
    expect(catalog.itemVault('WXCPLH5UDSHNONKZUUQDKBPMLE')).toBe(VAULT);
    expect(catalog.itemVault('uppercaseitem')).toBeUndefined();
    expect(catalog.size).toBe(4);
    expect(new Catalog().size).toBe(0);
    expect(new Catalog().enrich(bare()).item.title).toBeUndefined();
  });
});
