/**
 * The suppression store and the summary queue against a real redis-server, with an injected clock:
 * the evaluator's cached view (a record that ended is still cached but covers nothing new), the
 * attach/seal race (an alert is either in the summary or sent on its own, saying why), ending early,
 * and a summary that falls due while no worker runs is sent when one starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/domain/alert.ts';
import { fixedClock } from '../../../src/domain/clock.ts';
import { SuppressionError, type CoveredEntry, type Declaration, type Silence, type Suppression } from '../../../src/pipeline/suppression.ts';
import { AlertStore } from '../../../src/queue/alert-store.ts';
import { hashTagged, Keys, workerConnection } from '../../../src/queue/redis.ts';
import { SuppressionStore } from '../../../src/queue/suppression-store.ts';
import { SummaryQueue, SummaryWorker } from '../../../src/queue/suppression-summary.ts';
import { ev, VAULT } from '../../helpers/config-kit.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const T0 = Date.parse('2026-11-18T09:00:00.000Z');
const HOUR = 3_600_000;

function declaration(id: string, over: Partial<Declaration> = {}): Declaration {
  return {
    kind: 'declaration', id, user: 'alice@example.com', vault: VAULT, vault_name: 'Finance',
    from: new Date(T0).toISOString(), until: new Date(T0 + HOUR).toISOString(), from_ms: T0, until_ms: T0 + HOUR,
    reason: 'renewal', author: 'bob@ops', created_at: new Date(T0).toISOString(),
    notify: ['email:cfo@example.com'], policy: 'policies/p.yaml', timezone: 'UTC', ...over,
  };
}

function alertAt(iso: string, id: string, user = { id: 'USERID-OF-ALICE', email: 'alice@example.com', name: 'Alice' }): Alert {
  return {
    id, event: ev({ id: `e-${id}`, time: iso, user }), policy: 'policies/p.yaml', rule: 'Card', severity: 'high',
    reasons: [], targets: [{ kind: 'email', address: 'cfo@example.com' }], timezone: 'UTC', suppressed: false,
  };
}

describe('SuppressionStore and summaries (real Redis)', () => {
  let redis: RedisHandle;
  let n = 0;
  const fresh = () => {
    const clock = fixedClock(T0 + 60_000);
    // Each test its own prefix: nothing leaks between them.
    const keys = new Keys(hashTagged(`st${++n}`));
    const store = new SuppressionStore(redis.client(), keys, { retentionMs: 24 * HOUR, cacheMs: 1_000, now: clock.now });
    return { clock, keys, store };
  };

  beforeAll(async () => { redis = await startRedis(); });
  afterAll(async () => { await redis?.stop(); });

  it('covers alerts in the window, records them for the summary, and leaves others alone', async () => {
    const { store } = fresh();
    const d = declaration('d-aaaaaaa1');
    expect(await store.create(d)).toBe(true);
    expect(await store.create(d)).toBe(false); // ids are unique

    const inside = await store.route(alertAt('2026-11-18T09:30:00Z', 'A1'));
    expect(inside.suppressed).toBe(true);
    expect(inside.suppression?.id).toBe(d.id);
    const bob = await store.route(alertAt('2026-11-18T09:30:00Z', 'A2', { id: 'USERID-OF-BOB', email: 'bob@example.com', name: 'Bob' }));
    expect(bob.suppressed).toBe(false);
    const atEnd = await store.route(alertAt('2026-11-18T10:00:00Z', 'A3'));
    expect(atEnd.suppressed).toBe(false);
    // A retried evaluation gets the same answer and attaches nothing twice.
    expect((await store.route(alertAt('2026-11-18T09:30:00Z', 'A1'))).suppressed).toBe(true);
    expect(await store.covered(d)).toBe(1);
  });

  it('an ended record still in the cache covers nothing after its end; ending early takes effect within the cache time', async () => {
    const { store, clock, keys } = fresh();
    const d = declaration('d-aaaaaaa2');
    await store.create(d);
    await store.cached();
    // Another process ends it: this store's cache still holds the old end for up to cacheMs.
    const other = new SuppressionStore(redis.client(), keys, { retentionMs: 24 * HOUR, now: clock.now });
    const ended = await other.end('declaration', d.id, 'carol@ops');
    expect(ended).toMatchObject({ until_ms: T0 + 60_000, ended_early: { by: 'carol@ops', planned_until: d.until } });
    // Event time after the (new) end, but the cache has the old one: still covered until the cache expires...
    expect((await store.route(alertAt('2026-11-18T09:05:00Z', 'B1'))).suppressed).toBe(true);
    clock.advance(1_001);
    // ...then not, while a use before the end still is.
    expect((await store.route(alertAt('2026-11-18T09:05:00Z', 'B2'))).suppressed).toBe(false);
    expect((await store.route(alertAt('2026-11-18T09:00:30Z', 'B3'))).suppressed).toBe(true);

    await expect(other.end('declaration', d.id, 'x')).rejects.toMatchObject({ code: 'conflict' });
    await expect(other.end('declaration', 'd-zzzzzzzz', 'x')).rejects.toBeInstanceOf(SuppressionError);
  });

  it('after the summary is made nothing more is attached: a late alert is sent, saying why', async () => {
    const { store } = fresh();
    const d = declaration('d-aaaaaaa3');
    await store.create(d);
    expect((await store.route(alertAt('2026-11-18T09:10:00Z', 'C1'))).suppressed).toBe(true);
    const entries = await store.seal(d);
    expect(entries.map((e) => e.alert_id)).toEqual(['C1']);
    const late = await store.route(alertAt('2026-11-18T09:20:00Z', 'C2'));
    expect(late.suppressed).toBe(false);
    expect(late.reasons.at(-1)).toContain(`inside declaration ${d.id} by bob@ops ("renewal"), but reported after its summary was sent`);
    // The one already attached keeps its answer.
    expect((await store.route(alertAt('2026-11-18T09:10:00Z', 'C1'))).suppressed).toBe(true);
    expect((await store.seal(d)).map((e) => e.alert_id)).toEqual(['C1']);
  });

  it('a dedup repeat of an alert a declaration covered is sent on its own once the declaration is over', async () => {
    const { store, keys } = fresh();
    const d = declaration('d-aaaaaaa6');
    await store.create(d);
    const first = await store.route(alertAt('2026-11-18T09:50:00Z', 'F1'));
    expect(first.suppressed).toBe(true);
    await new AlertStore(redis.client(), keys).record([{ alert: first, deliveries: [] }]);
    // 10:05: after the declaration, but inside the rule's dedup window opened at 09:50.
    const repeat: Alert = { ...alertAt('2026-11-18T10:05:00Z', 'F2'), suppressed: true, follows: 'F1', dedup_key: 'k', reasons: ['repeat #2'] };
    const routed = await store.route(repeat);
    expect(routed.suppressed).toBe(false);
    expect(routed.follows).toBeUndefined();
    expect(routed.reasons.at(-1)).toBe(`the first alert of this repeat (F1) was covered by declaration ${d.id} and not sent, so this one is sent`);
    // A repeat of an alert that was sent stays folded.
    const sent = await store.route({ ...repeat, id: 'F3', follows: 'not-covered' });
    expect(sent).toMatchObject({ suppressed: true, follows: 'not-covered' });
  });

  it('silences match by rule; lists show active ones, or all', async () => {
    const { store, clock } = fresh();
    const { user: _user, ticket: _ticket, ...common } = declaration('s-aaaaaaa1');
    const s: Silence = { ...common, kind: 'silence', rule: 'Card' };
    await store.create(s);
    const a = await store.route(alertAt('2026-11-18T09:10:00Z', 'D1'));
    expect(a.suppression).toMatchObject({ kind: 'silence', id: 's-aaaaaaa1' });
    expect((await store.list('silence')).map((x) => x.id)).toEqual(['s-aaaaaaa1']);
    clock.set(T0 + 2 * HOUR);
    expect(await store.list('silence')).toEqual([]);
    expect((await store.list('silence', { all: true })).map((x) => x.id)).toEqual(['s-aaaaaaa1']);
  });

  it('a summary that fell due while no worker ran is sent when a worker starts; ending early pulls it forward', async () => {
    const { keys } = fresh();
    const prefix = keys.prefix;
    const now = Date.now();
    // Real time for BullMQ's delays: one record ends in 300 ms, one in an hour.
    const soon = declaration('d-aaaaaaa4', { from_ms: now, until_ms: now + 300, from: new Date(now).toISOString(), until: new Date(now + 300).toISOString() });
    const later = declaration('d-aaaaaaa5', { from_ms: now, until_ms: now + HOUR, from: new Date(now).toISOString(), until: new Date(now + HOUR).toISOString() });
    const realStore = new SuppressionStore(redis.client(), keys, { retentionMs: 24 * HOUR });
    for (const d of [soon, later]) await realStore.create(d);
    const queue = new SummaryQueue(redis.client(), prefix);
    await queue.schedule(soon, 0);
    await queue.schedule(soon, 0); // once per record
    await queue.schedule(later, 0);
    // No worker yet: the first summary falls due with nobody to send it.
    await waitFor(() => Date.now() > soon.until_ms + 100, { message: 'the first record ended' });

    const sent: { s: Suppression; entries: CoveredEntry[] }[] = [];
    const connection = workerConnection(redis.url);
    const worker = new SummaryWorker({ connection, prefix, store: realStore, deliver: async (s, entries) => { sent.push({ s, entries }); } });
    worker.start();
    try {
      await waitFor(() => sent.length === 1, { message: 'the summary of the record that ended while no worker ran' });
      expect(sent[0]!.s.id).toBe(soon.id);
      const ended = await realStore.end('declaration', later.id, 'carol@ops');
      await queue.endedEarly(ended, 0);
      await waitFor(() => sent.length === 2, { message: 'the summary of the record ended early' });
      expect(sent[1]!.s).toMatchObject({ id: later.id, ended_early: { by: 'carol@ops' } });
    } finally {
      await worker.close();
      await queue.close();
      connection.disconnect();
    }
  });
});
