/**
 * The Connect enricher with a real Redis (its cache, locks and gates) and the Connect fake: labels
 * arrive on events, the cache absorbs repeats, concurrency collapses to one request, unknown items
 * and failures cannot hammer Connect, and no failure blocks an event beyond its deadline.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../../src/enrich/catalog.ts';
import { createEnrichChain } from '../../../src/enrich/enrich-chain.ts';
import { startConnect, type ConnectHandle } from '../../helpers/connect-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import {
  allVaults, BANK, CARD, captureLog, enricher, FINANCE, freshPrefix, GHOST, HR, id26, IT_ADMIN, PAYSLIPS, PORTAL, resetConnect, usage, WALLET,
} from './fixtures.ts';

/** What the catalog knows: used to show the fallback when Connect cannot answer. */
const CATALOG = new Catalog({
  vaults: { [FINANCE]: { name: 'Finance (catalog)' }, [HR]: { name: 'HR (catalog)' } },
  items: {
    [CARD]: { title: 'Company card', type: 'secure_note', tags: ['payment'], vault: FINANCE },
    [PAYSLIPS]: { title: 'Payslips (catalog)', type: 'document', vault: HR },
  },
});

describe('Connect enricher', () => {
  let redisServer: RedisHandle;
  let redis: Redis;
  let connect: ConnectHandle;

  beforeAll(async () => {
    [redisServer, connect] = await Promise.all([startRedis(), startConnect({ vaults: allVaults() })]);
    redis = redisServer.client();
  });
  beforeEach(() => resetConnect(connect));
  afterEach(() => {
    expect(connect.singleItemRequests().map((r) => r.path)).toEqual([]);
  });
  afterAll(async () => {
    await connect?.close();
    await redisServer?.stop();
  });

  it('titles, types, tags and the vault name arrive on events (ids only before)', async () => {
    const enrich = enricher({ connect, redis });
    const card = await enrich.enrich(usage(FINANCE, CARD));
    expect(card.item).toEqual({ id: CARD, title: 'Amex Corporate', type: 'credit_card', tags: ['card', 'finance'] });
    expect(card.vault).toEqual({ id: FINANCE, name: 'Finance' });

    const portal = await enrich.enrich(usage(IT_ADMIN, PORTAL));
    expect(portal.item).toEqual({ id: PORTAL, title: 'Admin portal', type: 'login', tags: ['admin'] });
    expect(portal.vault.name).toBe('IT Admin');

    // Vendor ids in upper case find the same item.
    const upper = await enrich.enrich(usage(FINANCE.toUpperCase(), CARD.toUpperCase()));
    expect(upper.item.title).toBe('Amex Corporate');
    // Only list and vault reads were made: one of each per vault.
    expect(connect.requests.map((r) => r.path).sort()).toEqual([
      `/v1/vaults/${FINANCE}`, `/v1/vaults/${FINANCE}/items`, `/v1/vaults/${IT_ADMIN}`, `/v1/vaults/${IT_ADMIN}/items`,
    ]);
  });

  it('what the record already says wins over Connect', async () => {
    const enrich = enricher({ connect, redis });
    const e = await enrich.enrich(usage(FINANCE, CARD, { vault: { id: FINANCE, name: 'Money' }, item: { id: CARD, title: 'As sent', type: 'secure_note', tags: ['x'] } }));
    expect(e.item).toEqual({ id: CARD, title: 'As sent', type: 'secure_note', tags: ['x'] });
    expect(e.vault.name).toBe('Money');
    expect(connect.requests).toEqual([]); // nothing to fill: no lookup at all
  });

  it('the second event of a vault is served from the Redis cache, also by another process', async () => {
    const prefix = freshPrefix();
    const enrich = enricher({ connect, redis, prefix });
    await enrich.enrich(usage(FINANCE, CARD));
    expect(connect.listCount(FINANCE)).toBe(1);

    const second = await enrich.enrich(usage(FINANCE, BANK));
    expect(second.item).toMatchObject({ title: 'Business bank account', type: 'bank_account' });
    expect(second.vault.name).toBe('Finance');

    // A replica (or a restarted daemon): its own connection and memory, the same Redis.
    const other = redisServer.client();
    const replica = enricher({ connect, redis: other, prefix });
    const third = await replica.enrich(usage(FINANCE, CARD));
    expect(third.item.title).toBe('Amex Corporate');
    expect(connect.requests).toHaveLength(2); // still only the first list + vault read

    // The cache is one hash per vault, with the TTL set.
    const k = enrich.keys(FINANCE);
    expect(await redis.hkeys(k.items)).toEqual(expect.arrayContaining([CARD, BANK, WALLET, '~fetched', '~name']));
    expect(JSON.parse((await redis.hget(k.items, CARD))!)).toEqual({ title: 'Amex Corporate', type: 'credit_card', tags: ['card', 'finance'] });
    const ttl = await redis.pttl(k.items);
    expect(ttl).toBeGreaterThan(3_500_000 - 60_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('50 concurrent events for one vault -> one list request (and one vault read)', async () => {
    connect.setDelay(150); // the lookup is in flight while all 50 arrive
    const enrich = enricher({ connect, redis });
    const items = [CARD, BANK, WALLET];
    const events = await Promise.all(Array.from({ length: 50 }, (_, i) => enrich.enrich(usage(FINANCE, items[i % 3]!))));
    expect(connect.listCount(FINANCE)).toBe(1);
    expect(connect.vaultCount(FINANCE)).toBe(1);
    expect(connect.requests).toHaveLength(2);
    for (const e of events) {
      expect(e.item.title).toBeDefined();
      expect(e.vault.name).toBe('Finance');
    }
  });

  it('replicas share the work through a Redis lock: one request for concurrent events on two replicas', async () => {
    connect.setDelay(300);
    const prefix = freshPrefix();
    const outcomes: string[] = [];
    const observe = { refresh: (outcome: string) => outcomes.push(outcome) };
    const a = enricher({ connect, redis, prefix, observe });
    const b = enricher({ connect, redis: redisServer.client(), prefix, observe });
    const events = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).enrich(usage(FINANCE, CARD))));
    expect(connect.listCount(FINANCE)).toBe(1);
    // One replica looked the vault up; the other found the lock taken and waited for the cache.
    expect(outcomes.sort()).toEqual(['ok', 'peer']);
    // The replica that waited got the titles from the cache the other one wrote.
    expect(new Set(events.map((e) => e.item.title))).toEqual(new Set(['Amex Corporate']));
    expect(await redis.exists(a.keys(FINANCE).lock)).toBe(0); // released
  });

  it('an item missing from a fresh cache triggers at most one refresh per vault per interval', async () => {
    const enrich = enricher({ connect, redis, missRefreshMs: 700 });
    const k = enrich.keys(FINANCE);
    await enrich.enrich(usage(FINANCE, CARD));
    expect(connect.listCount(FINANCE)).toBe(1);
    // The refresh itself opens the interval: unknown items right after it do not cause another.
    await enrich.enrich(usage(FINANCE, id26('ideleted1')));
    expect(connect.listCount(FINANCE)).toBe(1);

    // A flood of events for unknown (or deleted, or other vaults') items.
    await waitFor(async () => (await redis.exists(k.miss)) === 0, { message: 'miss interval over' });
    const unknown = Array.from({ length: 30 }, (_, i) => id26(`iunknown${i}`));
    const first = await Promise.all(unknown.slice(0, 15).map((id) => enrich.enrich(usage(FINANCE, id))));
    for (const id of unknown.slice(15)) await enrich.enrich(usage(FINANCE, id));
    expect(connect.listCount(FINANCE)).toBe(2); // one refresh for all 30
    expect(first[0]!.item.title).toBeUndefined();
    expect(first[0]!.vault.name).toBe('Finance'); // the vault is still known

    // An item created after the last lookup: not seen until the interval is over, then one refresh finds it.
    const fresh = id26('inewitem');
    connect.putItem(FINANCE, { id: fresh, title: 'New supplier login', category: 'LOGIN' });
    expect((await enrich.enrich(usage(FINANCE, fresh))).item.title).toBeUndefined();
    expect(connect.listCount(FINANCE)).toBe(2);
    await waitFor(async () => (await redis.exists(k.miss)) === 0, { message: 'miss interval over' });
    expect((await enrich.enrich(usage(FINANCE, fresh))).item).toMatchObject({ title: 'New supplier login', type: 'login' });
    expect(connect.listCount(FINANCE)).toBe(3);
    // Known items never needed a refresh of their own.
    await enrich.enrich(usage(FINANCE, BANK));
    expect(connect.listCount(FINANCE)).toBe(3);
  });

  it('when the TTL expires, the next event looks the vault up again (and sees renames)', async () => {
    const enrich = enricher({ connect, redis, ttlMs: 400 });
    const k = enrich.keys(FINANCE);
    expect((await enrich.enrich(usage(FINANCE, CARD))).item.title).toBe('Amex Corporate');
    connect.putItem(FINANCE, { id: CARD, title: 'Amex Corporate (old)', category: 'CREDIT_CARD', tags: ['card'] });
    expect((await enrich.enrich(usage(FINANCE, CARD))).item.title).toBe('Amex Corporate'); // cached
    expect(connect.listCount(FINANCE)).toBe(1);

    await waitFor(async () => (await redis.exists(k.items)) === 0, { message: 'cache expired' });
    const after = await enrich.enrich(usage(FINANCE, CARD));
    expect(after.item).toMatchObject({ title: 'Amex Corporate (old)', tags: ['card'] });
    expect(connect.listCount(FINANCE)).toBe(2);
  });

  describe('failures never block: the catalog fills what it knows, else the ids stay', () => {
    const chainOf = (e: ReturnType<typeof enricher>) => createEnrichChain({ connect: e, catalog: CATALOG });

    it('Connect down: catalog labels, one warning per vault, no request storm', async () => {
      const log = captureLog();
      const enrich = enricher({ connect, redis, logger: log, failureBackoffMs: 60_000 });
      const chain = chainOf(enrich);
      await connect.down();
      try {
        const started = Date.now();
        const events = await Promise.all(Array.from({ length: 10 }, () => chain(usage(FINANCE, CARD))));
        for (const e of events) {
          expect(e.item).toEqual({ id: CARD, title: 'Company card', type: 'secure_note', tags: ['payment'] });
          expect(e.vault.name).toBe('Finance (catalog)');
        }
        for (let i = 0; i < 5; i++) await chain(usage(FINANCE, BANK)); // backing off: no new attempt
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(log.warnings).toHaveLength(1);
        expect(log.warnings[0]!.obj).toMatchObject({ vault: FINANCE, kind: 'unreachable' });
        expect(await redis.get(enrich.keys(FINANCE).fail)).toBe('unreachable');
      } finally {
        await connect.up();
      }
      // Connect is back, but the vault is still backing off: catalog only, no request.
      expect((await chain(usage(FINANCE, CARD))).item.title).toBe('Company card');
      expect(connect.requests).toHaveLength(0);
    });

    it('401 (bad token): catalog labels, a warning that says to check the token and never shows it', async () => {
      const log = captureLog();
      const enrich = enricher({ connect, redis, token: 'expired-token-9f8e7d', logger: log });
      const chain = chainOf(enrich);
      for (let i = 0; i < 5; i++) {
        const e = await chain(usage(FINANCE, CARD));
        expect(e.item.title).toBe('Company card');
      }
      expect(connect.listCount(FINANCE)).toBe(1); // then backing off
      expect(connect.requests.every((r) => r.status === 401)).toBe(true);
      expect(log.warnings).toHaveLength(1);
      expect(log.warnings[0]!.obj.kind).toBe('unauthorized');
      expect(log.warnings[0]!.msg).toContain('enrichment.onepassword_connect.token');
      expect(log.text()).not.toContain('expired-token-9f8e7d');
    });

    it('403 (vault not in scope): catalog labels where it has them, ids otherwise; one request per backoff', async () => {
      const log = captureLog();
      const enrich = enricher({ connect, redis, logger: log, failureBackoffMs: 600 });
      const chain = chainOf(enrich);
      const known = await chain(usage(HR, PAYSLIPS));
      expect(known.item).toMatchObject({ title: 'Payslips (catalog)', type: 'document' });
      const unknownItem = id26('ihrunknown');
      for (let i = 0; i < 10; i++) {
        const e = await chain(usage(HR, unknownItem));
        expect(e.item).toEqual({ id: unknownItem }); // left with its id: the alert says "(title unknown)"
        expect(e.vault.name).toBe('HR (catalog)');
      }
      expect(connect.listCount(HR)).toBe(1);
      expect(log.warnings).toHaveLength(1);
      expect(log.warnings[0]!.obj.kind).toBe('forbidden');
      expect(String(log.warnings[0]!.obj.err)).toContain('is not in scope');

      // The vault gets granted; after the backoff the next event finds its items.
      connect.setInScope(HR, true);
      await waitFor(async () => (await redis.exists(enrich.keys(HR).fail)) === 0, { message: 'backoff over' });
      expect((await chain(usage(HR, PAYSLIPS))).item.title).toBe('Payslips archive');
      expect(connect.listCount(HR)).toBe(2);
    });

    it('404 (unknown vault) and 5xx: same fallback, and recovery once Connect answers again', async () => {
      const enrich = enricher({ connect, redis, failureBackoffMs: 400, logger: captureLog() });
      const chain = chainOf(enrich);
      expect((await chain(usage(GHOST, CARD))).item.title).toBe('Company card'); // catalog by item id
      connect.fail({ status: 502, path: /\/items$/ });
      expect((await chain(usage(FINANCE, CARD))).item.title).toBe('Company card');
      expect((await chain(usage(FINANCE, BANK))).item.title).toBeUndefined();
      expect(connect.listCount(FINANCE)).toBe(1);
      connect.clearFaults();
      await waitFor(async () => (await redis.exists(enrich.keys(FINANCE).fail)) === 0, { message: 'backoff over' });
      expect((await chain(usage(FINANCE, BANK))).item.title).toBe('Business bank account');
    });

    it('slow Connect: the event goes on after the timeout with catalog labels, and later events get the cache', async () => {
      connect.setDelay(1_500);
      const log = captureLog();
      // The client gives up at 300 ms; the event waits at most 500 ms in all.
      const enrich = enricher({ connect, redis, timeoutMs: 300, maxWaitMs: 500, logger: log });
      const chain = chainOf(enrich);
      const started = Date.now();
      const events = await Promise.all([chain(usage(FINANCE, CARD)), chain(usage(FINANCE, BANK))]);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(events[0]!.item.title).toBe('Company card');
      expect(events[1]!.item).toEqual({ id: BANK });
      expect(connect.listCount(FINANCE)).toBe(1);
      await waitFor(() => log.warnings.length === 1, { message: 'timeout warning' });
      expect(log.warnings[0]!.obj.kind).toBe('timeout');
    });

    it('an event waits no longer than maxWaitMs even when the client timeout is longer', async () => {
      connect.setDelay(800);
      const enrich = enricher({ connect, redis, timeoutMs: 5_000, maxWaitMs: 250 });
      const started = Date.now();
      const e = await createEnrichChain({ connect: enrich, catalog: CATALOG })(usage(FINANCE, CARD));
      expect(Date.now() - started).toBeLessThan(700);
      expect(e.item.title).toBe('Company card');
      // The lookup went on in the background and filled the cache for the next events.
      await waitFor(async () => (await redis.exists(enrich.keys(FINANCE).items)) === 1, { message: 'cache written after the deadline' });
      connect.setDelay(0);
      expect((await enrich.enrich(usage(FINANCE, CARD))).item.title).toBe('Amex Corporate');
      expect(connect.listCount(FINANCE)).toBe(1);
    });

    it('Redis unreachable: catalog labels, no Connect request, a warning', async () => {
      const dead = new Redis({ port: 1, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      dead.on('error', () => {});
      const log = captureLog();
      const enrich = enricher({ connect, redis: dead, logger: log });
      const e = await createEnrichChain({ connect: enrich, catalog: CATALOG })(usage(FINANCE, CARD));
      expect(e.item.title).toBe('Company card');
      expect(connect.requests).toEqual([]);
      expect(log.warnings[0]!.obj.kind).toBe('redis');
      dead.disconnect();
    });
  });

  it('a mix of hits, misses, refreshes and failures never asks for a single item', async () => {
    const enrich = enricher({ connect, redis, missRefreshMs: 100, failureBackoffMs: 100, ttlMs: 300 });
    connect.fail({ status: 500, count: 2 });
    for (let round = 0; round < 3; round++) {
      await Promise.all([CARD, BANK, WALLET, id26('inope'), PAYSLIPS].flatMap((item) => [FINANCE, HR, GHOST, IT_ADMIN].map((v) => enrich.enrich(usage(v, item)))));
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(connect.requests.length).toBeGreaterThan(0);
    expect(connect.requests.every((r) => /^\/v1\/vaults\/[\da-z]{26}(\/items)?$/.test(r.path))).toBe(true);
  });
});
