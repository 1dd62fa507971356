/**
 * Property tests: whatever arrives, every normaliser answers one of the three kinds, never throws,
 * never falls back on its internal-error guard, and every event it does produce is well formed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACTIONS, FIELDS } from '../../../src/domain/actions.ts';
import { ITEM_TYPES } from '../../../src/domain/item-types.ts';
import type { NormalizeResult, UsageEvent } from '../../../src/domain/usage-event.ts';
import { normalizeBitwardenEvent } from '../../../src/sources/bitwarden/normalize.ts';
import { normalizeCanonical } from '../../../src/sources/canonical/normalize.ts';
import { normalizeOnePasswordItemUsage } from '../../../src/sources/onepassword/normalize.ts';
import { normalizeRecord } from '../../../src/sources/recognize.ts';
import { ctx, fixture, fixtureList } from './fixtures.ts';

type Rec = Record<string, unknown>;

const bwCtx = {
  ...ctx,
  organizationId: 'org-1',
  members: (id: string) => (id.length % 2 === 0 ? { email: `${id}@example.com`, name: id } : undefined),
  itemVault: (id: string) => (id.length % 3 === 0 ? `vault-${id}` : undefined),
};

const NORMALISERS: ReadonlyArray<[string, (record: unknown) => NormalizeResult]> = [
  ['onepassword', (r) => normalizeOnePasswordItemUsage(r, ctx)],
  ['bitwarden', (r) => normalizeBitwardenEvent(r, bwCtx)],
  ['bitwarden without lookups', (r) => normalizeBitwardenEvent(r, ctx)],
  ['canonical', (r) => normalizeCanonical(r, ctx)],
  ['normalizeRecord', (r) => normalizeRecord(r, bwCtx)],
  ['normalizeRecord forced bitwarden', (r) => normalizeRecord(r, { ...bwCtx, force: 'bitwarden' })],
];

const actions: ReadonlySet<string> = new Set(ACTIONS);
const fields: ReadonlySet<string> = new Set(FIELDS);
const itemTypes: ReadonlySet<string> = new Set(ITEM_TYPES);

function isNonEmptyString(v: unknown): boolean {
  return typeof v === 'string' && v !== '' && v.trim() === v;
}

function optionalStrings(obj: Record<string, unknown> | undefined): boolean {
  if (obj === undefined) return true;
  return Object.keys(obj).length > 0 && Object.values(obj).every(isNonEmptyString);
}

function wellFormedEvent(e: UsageEvent): boolean {
  return isNonEmptyString(e.id)
    && isNonEmptyString(e.source)
    && typeof e.time === 'string' && Number.isFinite(e.time_ms) && Date.parse(e.time) === e.time_ms
    && e.received_at === ctx.receivedAt
    && actions.has(e.action)
    && typeof e.vendor_action === 'string'
    && (e.field === undefined || fields.has(e.field))
    && isNonEmptyString(e.vault.id) && (e.vault.name === undefined || isNonEmptyString(e.vault.name))
    && isNonEmptyString(e.item.id)
    && (e.item.type === undefined || itemTypes.has(e.item.type))
    && (e.item.tags === undefined || e.item.tags.every(isNonEmptyString))
    && isNonEmptyString(e.user.id)
    && optionalStrings(e.client)
    && optionalStrings(e.location);
}

/** The result contract; a plain boolean so fast-check reports the input that broke it. */
function wellFormed(result: NormalizeResult): boolean {
  switch (result.kind) {
    case 'event':
      return wellFormedEvent(result.event);
    case 'rejected':
    case 'skipped':
      return typeof result.reason === 'string' && result.reason !== '' && !result.reason.startsWith('internal:')
        && (result.id === undefined || isNonEmptyString(result.id));
    default:
      return false;
  }
}

function holdsFor(arb: fc.Arbitrary<unknown>, numRuns: number): void {
  for (const [name, normalise] of NORMALISERS) {
    fc.assert(
      fc.property(arb, (value) => {
        let result: NormalizeResult;
        try {
          result = normalise(value);
        } catch (err) {
          throw new Error(`${name} threw: ${String(err)}`);
        }
        return wellFormed(result);
      }),
      { numRuns },
    );
  }
}

// Fixtures of every shape, as seeds for mutation.
const SEEDS: Rec[] = [
  fixture('onepassword', 'v1-reveal'), fixture('onepassword', 'v2-secure-copy'), fixture('onepassword', 'no-location'),
  fixture('onepassword', 'sign-in-attempt'), fixture('bitwarden', 'zoneless-date'), fixture('bitwarden', 'no-collection'),
  fixture('bitwarden', 'sign-in'), ...fixtureList('bitwarden', 'item-codes').slice(0, 5),
  fixture('canonical', 'full'), fixture('canonical', 'minimal'), fixture('canonical', 'custom-action'),
];

/** Values a mutation may put in a field: plausible ones most of the time, garbage the rest. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.anything(), weight: 3 },
  { arbitrary: fc.string(), weight: 2 },
  { arbitrary: fc.constantFrom('', '  ', '2026-02-30T10:00:00Z', '2026-03-12T10:00:00.1234567', '::ffff:1.2.3.4',
    '127.1', 'Canada', 'reveal', 'secure-copy', 'toString', 'constructor', '__proto__', 'x'.repeat(10_000)), weight: 2 },
  { arbitrary: fc.integer({ min: 990, max: 2600 }), weight: 1 },
  { arbitrary: fc.constantFrom(null, undefined, 1.5, -0, Number.MAX_VALUE, [], {}), weight: 1 },
);

interface Mutation { path: string[]; value: unknown; remove: boolean }

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.array(fc.constantFrom('uuid', 'timestamp', 'item_uuid', 'vault_uuid', 'action', 'user', 'uuid', 'email',
    'client', 'ip_address', 'app_version', 'location', 'country', 'type', 'date', 'itemId', 'collectionId',
    'actingUserId', 'device', 'ipAddress', 'object', 'id', 'time', 'item', 'vault', 'tags', 'title', 'field',
    'vendor_action', 'source', 'ip', 'version', 'name', '0'), { minLength: 1, maxLength: 3 }),
  value: fieldValue,
  remove: fc.boolean(),
});

function mutate(seed: Rec, mutations: Mutation[]): Rec {
  const record = structuredClone(seed);
  for (const { path, value, remove } of mutations) {
    let target: Rec = record;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      if (typeof next !== 'object' || next === null) {
        target[key] = {};
      }
      target = target[key] as Rec;
    }
    const last = path[path.length - 1]!;
    if (remove) delete target[last];
    else target[last] = value;
  }
  return record;
}

const mutatedRecord: fc.Arbitrary<unknown> = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([seed, mutations]) => mutate(seed, mutations));

/** Records built from the known field names of every shape, each value plausible or garbage. */
const KNOWN_KEYS = ['uuid', 'timestamp', 'item_uuid', 'vault_uuid', 'action', 'type', 'date', 'itemId', 'collectionId',
  'actingUserId', 'device', 'ipAddress', 'object', 'id', 'time', 'vendor_action', 'field', 'source'] as const;
const NESTED_KEYS = ['uuid', 'email', 'name', 'id', 'title', 'type', 'tags', 'app', 'version', 'platform', 'os', 'ip',
  'app_name', 'app_version', 'ip_address', 'country', 'region', 'city'] as const;
const nested = fc.oneof(fc.dictionary(fc.constantFrom(...NESTED_KEYS), fieldValue, { maxKeys: 6 }), fieldValue);
const shapedRecord: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.dictionary(fc.constantFrom(...KNOWN_KEYS), fieldValue, { maxKeys: 10 }),
    fc.dictionary(fc.constantFrom('user', 'client', 'location', 'item', 'vault'), nested, { maxKeys: 5 }),
  )
  .map(([flat, objects]) => ({ ...flat, ...objects }));

describe('no normaliser ever throws', () => {
  it('on anything', () => {
    holdsFor(fc.anything(), 300);
  });

  it('on exotic values (null prototypes, boxed values, dates, maps, sparse arrays)', () => {
    holdsFor(fc.anything({
      withNullPrototype: true, withBoxedValues: true, withDate: true, withMap: true, withSet: true,
      withSparseArray: true, withTypedArray: true, withObjectString: true, withBigInt: true,
    }), 200);
  });

  it('on arbitrary objects', () => {
    holdsFor(fc.object({ maxDepth: 3 }), 300);
  });

  it('on JSON values', () => {
    holdsFor(fc.jsonValue(), 300);
  });

  it('on mutated valid records', () => {
    holdsFor(mutatedRecord, 1000);
  });

  it('on records built from the known field names', () => {
    holdsFor(shapedRecord, 1000);
  });

  it('on any text in the vocabulary fields of otherwise valid records', () => {
    // Lookup tables are where inherited names (`constructor`, `toString`) turn into values.
    const text = fc.oneof(fc.string(), fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype), 'CreditCard', 'Router'));
    const canonical = fixture('canonical', 'full');
    const item = canonical['item'] as Rec;
    const onePassword = fixture('onepassword', 'v2-secure-copy');
    const location = onePassword['location'] as Rec;
    fc.assert(fc.property(text, (value) => {
      const results = [
        normalizeCanonical({ ...canonical, item: { ...item, type: value } }, ctx),
        normalizeCanonical({ ...canonical, action: value }, ctx),
        normalizeCanonical({ ...canonical, field: value }, ctx),
        normalizeCanonical({ ...canonical, location: { country: value } }, ctx),
        normalizeOnePasswordItemUsage({ ...onePassword, action: value }, ctx),
        normalizeOnePasswordItemUsage({ ...onePassword, location: { ...location, country: value } }, ctx),
        normalizeBitwardenEvent({ ...fixture('bitwarden', 'zoneless-date'), ipAddress: value }, bwCtx),
      ];
      return results.every((r) => r.kind === 'event' && wellFormed(r));
    }), { numRuns: 500 });
  });

  it('on any integer as a Bitwarden type or device', () => {
    const record = fixture('bitwarden', 'zoneless-date');
    fc.assert(fc.property(fc.integer(), fc.integer(), (type, device) => {
      const result = normalizeBitwardenEvent({ ...record, type, device }, bwCtx);
      const isItem = type >= 1100 && type <= 1199;
      return wellFormed(result) && result.kind === (isItem ? 'event' : 'skipped');
    }), { numRuns: 500 });
  });

  it('on the valid seed records themselves, which are events or skips', () => {
    for (const seed of SEEDS) {
      const result = normalizeRecord(seed, bwCtx);
      expect(wellFormed(result)).toBe(true);
      expect(result.kind).not.toBe('rejected');
    }
  });

  it('on huge strings in every field', () => {
    const huge = ` ${'9'.repeat(1_000_000)} `;
    for (const seed of SEEDS) {
      const record = Object.fromEntries(Object.keys(seed).map((k) => [k, huge]));
      for (const [, normalise] of NORMALISERS) expect(wellFormed(normalise(record))).toBe(true);
    }
  });

  it('with deeply nested garbage (JSON.parse accepts any depth)', () => {
    const text = `{"extra":${'{"n":['.repeat(50_000)}1${']}'.repeat(50_000)}}`;
    const record = { ...fixture('bitwarden', 'zoneless-date'), ...(JSON.parse(text) as Rec) };
    for (const [, normalise] of NORMALISERS) expect(wellFormed(normalise(record))).toBe(true);
    expect(normalizeBitwardenEvent(record, bwCtx)).toEqual({ kind: 'rejected', reason: 'record: nested too deeply to identify' });
  });
});
