/**
 * The enrichment chain (record > Redis cache / Connect > catalog.yaml) and what it means for alerts:
 * synchronous without Connect, precedence per label, tags combined, and the email an alert becomes
 * names the item by its Connect title, or by id with "(title unknown)" when nobody knows it.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../../src/enrich/catalog.ts';
import { connectEnricherFromConfig } from '../../../src/enrich/connect-enricher.ts';
import { createEnrichChain } from '../../../src/enrich/enrich-chain.ts';
import { buildEmailMessage } from '../../../src/notifiers/email/message.ts';
import { evaluateEvent } from '../../../src/pipeline/evaluate.ts';
import { MemoryRuleState } from '../../../src/pipeline/memory-rule-state.ts';
import { BASE_CONFIG, cleanTrees, runtimeOf } from '../../helpers/config-kit.ts';
import { startConnect, type ConnectHandle } from '../../helpers/connect-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { CTX } from '../../unit/notifiers/alert-fixture.ts';
import { allVaults, BANK, CARD, captureLog, enricher, FINANCE, freshPrefix, HR, id26, resetConnect, usage, WALLET } from './fixtures.ts';

const CATALOG = new Catalog({
  vaults: { [FINANCE]: { name: 'Finance (catalog)' } },
  items: {
    [CARD]: { title: 'Company card', type: 'secure_note', tags: ['payment'], vault: FINANCE },
    [BANK]: { title: 'Bank (catalog)', tags: ['payment'], vault: FINANCE },
    [WALLET]: { type: 'crypto_wallet', vault: FINANCE },
  },
});

const POLICY = `
vault: { id: ${FINANCE}, name: Finance }
timezone: Europe/London
managers:
  - email: cfo@example.com
rules:
  - name: Card or bank account revealed
    match:
      items: [${CARD}, ${BANK}, ${id26('imystery')}]
      actions: [reveal]
    severity: high
  - name: Payment item revealed
    match:
      tags: [payment]
      actions: [reveal]
    severity: medium
`;

describe('enrichment chain', () => {
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
    cleanTrees();
    await connect?.close();
    await redisServer?.stop();
  });

  it('without Connect it is the catalog alone, synchronous (replay stays fast)', () => {
    const chain = createEnrichChain({ catalog: CATALOG });
    const e = usage(FINANCE, CARD);
    const out = chain(e);
    expect(out).not.toBeInstanceOf(Promise);
    expect(out).toBe(e);
    expect(e.item).toEqual({ id: CARD, title: 'Company card', type: 'secure_note', tags: ['payment'] });
    expect(e.vault.name).toBe('Finance (catalog)');
  });

  it('with Connect, events Connect cannot help with stay synchronous and make no request', () => {
    const chain = createEnrichChain({ connect: enricher({ connect, redis }), catalog: CATALOG });
    // A Bitwarden collection GUID is no Connect vault id.
    const bitwarden = usage('9f8e7d6c-5b4a-3210-fedc-ba9876543210', CARD, { source: 'bitwarden' });
    expect(chain(bitwarden)).not.toBeInstanceOf(Promise);
    expect(bitwarden.item.title).toBe('Company card');
    // Everything already known: nothing to ask.
    const complete = usage(FINANCE, CARD, { vault: { id: FINANCE, name: 'F' }, item: { id: CARD, title: 'T', type: 'login', tags: [] } });
    expect(chain(complete)).not.toBeInstanceOf(Promise);
    expect(connect.requests).toEqual([]);
  });

  it('Connect first, then the catalog for what is still missing; tags combine', async () => {
    const chain = createEnrichChain({ connect: enricher({ connect, redis }), catalog: CATALOG });
    const card = await chain(usage(FINANCE, CARD));
    // Title, type and vault name: Connect's. Tags: Connect's, plus the catalog's `payment`.
    expect(card.item).toEqual({ id: CARD, title: 'Amex Corporate', type: 'credit_card', tags: ['card', 'finance', 'payment'] });
    expect(card.vault.name).toBe('Finance');

    // Untagged in 1Password: the catalog's tags. Type from Connect, title from Connect.
    const bank = await chain(usage(FINANCE, BANK));
    expect(bank.item).toEqual({ id: BANK, title: 'Business bank account', type: 'bank_account', tags: ['payment'] });

    // A category Connect does not define: the catalog's type is used instead of `unknown`.
    const wallet = await chain(usage(FINANCE, WALLET));
    expect(wallet.item).toEqual({ id: WALLET, title: 'Treasury wallet', type: 'crypto_wallet', tags: ['crypto'] });

    // Tags the record carries are kept as they are.
    const sent = await chain(usage(FINANCE, CARD, { item: { id: CARD, tags: ['as-sent'] } }));
    expect(sent.item.tags).toEqual(['as-sent']);
  });

  it('follows the current catalog (hot reload swaps it)', async () => {
    let current = CATALOG;
    const chain = createEnrichChain({ catalog: () => current });
    expect((chain(usage(HR, id26('ireloaded'))) as ReturnType<typeof usage>).item.title).toBeUndefined();
    current = new Catalog({ items: { [id26('ireloaded')]: { title: 'Added on reload' } } });
    expect((chain(usage(HR, id26('ireloaded'))) as ReturnType<typeof usage>).item.title).toBe('Added on reload');
  });

  it('an alert\'s email names the item by its Connect title; rules on catalog tags still fire', async () => {
    const rt = runtimeOf({ 'vaultwatch.yaml': BASE_CONFIG, 'policies/finance.yaml': POLICY });
    const chain = createEnrichChain({ connect: enricher({ connect, redis }), catalog: CATALOG });
    const e = await chain(usage(FINANCE, CARD));
    const alerts = await evaluateEvent(e, rt.policies, new MemoryRuleState());
    expect(alerts.map((a) => a.rule).sort()).toEqual(['Card or bank account revealed', 'Payment item revealed']);
    const mail = buildEmailMessage(alerts[0]!, 'cfo@example.com', CTX);
    expect(mail.subject).toContain('Amex Corporate');
    expect(mail.subject).not.toContain('title unknown');
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain('Amex Corporate');
      expect(part).toContain('Finance');
      expect(part).toContain('credit card');
    }
  });

  it('when neither Connect nor the catalog knows the item, the alert still goes out: "<id> (title unknown)"', async () => {
    const rt = runtimeOf({ 'vaultwatch.yaml': BASE_CONFIG, 'policies/finance.yaml': POLICY });
    connect.fail({ status: 503 });
    const chain = createEnrichChain({ connect: enricher({ connect, redis, logger: captureLog() }), catalog: CATALOG });
    const mystery = id26('imystery');
    const e = await chain(usage(FINANCE, mystery));
    expect(e.item).toEqual({ id: mystery });
    const alerts = await evaluateEvent(e, rt.policies, new MemoryRuleState());
    expect(alerts).toHaveLength(1);
    const mail = buildEmailMessage(alerts[0]!, 'cfo@example.com', CTX);
    expect(mail.subject).toContain(`${mystery} (title unknown)`);
    expect(mail.text).toContain(`${mystery} (title unknown)`);
  });

  it('from config: ttl is read, and a missing token turns Connect off with an error logged', async () => {
    const prefix = freshPrefix();
    const enrich = connectEnricherFromConfig({ url: connect.url, token: connect.token, ttl: '90s' }, { redis, prefix });
    expect(enrich).toBeDefined();
    await enrich!.enrich(usage(FINANCE, CARD));
    const ttl = await redis.pttl(enrich!.keys(FINANCE).items);
    expect(ttl).toBeGreaterThan(80_000);
    expect(ttl).toBeLessThanOrEqual(90_000);
    expect((await redis.keys(`${prefix}:*`)).every((k) => k.startsWith(`${prefix}:connect:`))).toBe(true);

    const errors: string[] = [];
    const logger = { warn: () => {}, error: (_: object, msg: string) => errors.push(msg) };
    expect(connectEnricherFromConfig({ url: connect.url }, { redis, prefix, logger })).toBeUndefined();
    expect(errors).toEqual([expect.stringContaining('no token')]);
    expect(connectEnricherFromConfig(undefined, { redis, prefix })).toBeUndefined();
  });
});
