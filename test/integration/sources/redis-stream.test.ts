/**
 * The Redis Stream source against a real redis-server: another system XADDs usage records, the
 * source reads them through a consumer group and hands them to the real intake (or an in-memory sink
 * where the point is the source's own behaviour).
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import { IntakeUnavailableError, type DeadLetterEntry } from '../../../src/pipeline/intake.ts';
import { RedisIntake } from '../../../src/queue/intake-stream.ts';
import { Keys } from '../../../src/queue/redis.ts';
import { createRedisStreamSource, type RedisStreamSourceOptions } from '../../../src/sources/redis-stream/consumer.ts';
import type { Source } from '../../../src/sources/source.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { MemorySink, canonical, fixture, pendingCount, pendingEntries, recordingContext } from './helpers.ts';

const STREAM = 'pm:usage';
const GROUP = 'vaultwatch';
const keys = new Keys('{test}');

let redis: RedisHandle;
let admin: Redis;
let sources: Source[] = [];
let connections: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = redis.client();
});

afterAll(async () => {
  await redis.stop();
});

beforeEach(async () => {
  await admin.flushall();
});

afterEach(async () => {
  for (const s of sources) await s.stop();
  for (const c of connections) c.disconnect();
  sources = [];
  connections = [];
});

/** A source on the test server; its connections are named so the test can find them in CLIENT LIST. */
function source(opts: Partial<RedisStreamSourceOptions> = {}, server: RedisHandle = redis): Source {
  const s = createRedisStreamSource({
    stream: STREAM,
    redis: () => {
      const c = new Redis(server.url, { maxRetriesPerRequest: null, connectionName: 'vw-stream-source' });
      connections.push(c);
      return c;
    },
    blockMs: 100,
    backoffMinMs: 20,
    backoffMaxMs: 200,
    ...opts,
  });
  sources.push(s);
  return s;
}

function intake(server: RedisHandle = redis): RedisIntake {
  return new RedisIntake(server.client(), keys);
}

async function xadd(record: unknown, field = 'event'): Promise<string> {
  const value = typeof record === 'string' ? record : JSON.stringify(record);
  return (await admin.xadd(STREAM, '*', field, value))!;
}

/** Event ids in our intake stream, in order. */
async function intakeIds(client: Redis = admin): Promise<string[]> {
  const entries = await client.xrange(keys.intake, '-', '+');
  return entries.map(([, fields]) => fields[fields.indexOf('id') + 1]!);
}

async function deadLetters(client: Redis = admin): Promise<DeadLetterEntry[]> {
  return (await client.lrange(keys.deadEvents, 0, -1)).map((s) => JSON.parse(s) as DeadLetterEntry).reverse();
}

describe('redis-stream source', () => {
  it('stores good records, dead-letters bad ones with reasons, acknowledges all and deletes nothing', async () => {
    // History written before the group exists is not replayed on a first start (XGROUP CREATE $).
    await xadd(canonical('before-start'));
    const ctx = recordingContext(intake());
    const s = source();
    await s.start(ctx);
    expect(s.status().state).toBe('running');

    const onePassword = fixture('onepassword', 'v2-secure-copy');
    await xadd(onePassword);
    await xadd(fixture('canonical', 'minimal'));
    const badJson = await xadd('{"uuid": "abc", oops');
    const unrecognised = await xadd({ hello: 'world' });
    await xadd(fixture('onepassword', 'sign-in-attempt')); // not about an item: skipped, not bad
    const noField = await xadd('x', 'other');

    await waitFor(async () => (await deadLetters()).length === 3 && (await pendingCount(admin, STREAM, GROUP)) === 0, {
      message: 'three dead letters and nothing pending',
    });

    expect(await intakeIds()).toEqual([onePassword['uuid'], 'evt-min-1']);
    const dead = await deadLetters();
    expect(dead.map((d) => d.reason)).toEqual([
      expect.stringMatching(new RegExp(`^${STREAM} ${badJson}: not JSON: `)),
      expect.stringMatching(new RegExp(`^${STREAM} ${unrecognised}: unrecognised record: expected a 1Password`)),
      `${STREAM} ${noField}: no field "event" (fields: other)`,
    ]);
    expect(dead[0]).toMatchObject({ source: 'redis-stream', record: '{"uuid": "abc", oops' });
    expect(dead[1]!.record).toEqual({ hello: 'world' });
    expect(ctx.rejectedReasons.sort()).toEqual(['invalid', 'no_field', 'not_json']);
    expect(ctx.seen.map((e) => e.id)).toEqual([onePassword['uuid'], 'evt-min-1']);

    // The other system's entries are all still there: we acknowledge, we never XDEL.
    expect(await admin.xlen(STREAM)).toBe(7);
    expect(s.status()).toMatchObject({ name: 'redis-stream', type: 'redis-stream', state: 'running', events: 2, rejected: 3 });
    expect(s.status().last_success).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('keeps entries pending while the intake is unavailable, then stores each exactly once', async () => {
    const real = intake();
    let down = true;
    const attempts: string[][] = [];
    const stored: string[] = [];
    const sink = {
      async accept(events: readonly UsageEvent[], name: string) {
        attempts.push(events.map((e) => e.id));
        if (down) throw new IntakeUnavailableError('Redis unavailable: connect ECONNREFUSED (simulated)');
        const result = await real.accept(events, name);
        stored.push(...events.filter((e) => !result.duplicateIds.has(e.id)).map((e) => e.id));
        return result;
      },
      deadLetter: (entries: readonly DeadLetterEntry[]) => real.deadLetter(entries),
    };
    // All five are in the stream before the source reads, so its first batch is exactly e1..e3.
    await admin.xgroup('CREATE', STREAM, GROUP, '$', 'MKSTREAM');
    const ids = ['e1', 'e2', 'e3', 'e4', 'e5'];
    for (const id of ids) await xadd(canonical(id));
    const s = source({ batchSize: 3 });
    await s.start(recordingContext(sink));

    await waitFor(() => attempts.length >= 3, { message: 'the source retried the refused batch' });
    expect(s.status().state).toBe('degraded');
    expect(s.status().last_error).toMatch(/Redis unavailable/);
    // Nothing acknowledged; the retries happened in memory, so the outage is not counted as deliveries.
    const pending = await pendingEntries(admin, STREAM, GROUP);
    expect(pending).toHaveLength(3);
    expect(pending.every(([, , , deliveries]) => deliveries === 1)).toBe(true);
    expect(await admin.xlen(keys.intake)).toBe(0);

    down = false;
    await waitFor(async () => (await pendingCount(admin, STREAM, GROUP)) === 0 && (await admin.xlen(keys.intake)) === 5, {
      message: 'all five stored and acknowledged',
    });
    expect((await intakeIds()).sort()).toEqual(ids);
    expect(stored.sort()).toEqual(ids); // nothing twice
    await waitFor(() => s.status().state === 'running');
    expect(s.status().events).toBe(5);
  });

  it('takes over the entries of a consumer that died without acknowledging (XAUTOCLAIM)', async () => {
    await admin.xgroup('CREATE', STREAM, GROUP, '$', 'MKSTREAM');
    for (const id of ['c1', 'c2', 'c3']) await xadd(canonical(id));
    // A consumer reads the entries and dies: they stay pending under its name.
    const read = (await admin.xreadgroup('GROUP', GROUP, 'crashed', 'COUNT', 10, 'STREAMS', STREAM, '>')) as [string, unknown[]][];
    expect(read[0]![1]).toHaveLength(3);
    expect((await pendingEntries(admin, STREAM, GROUP)).map(([, consumer]) => consumer)).toEqual(['crashed', 'crashed', 'crashed']);

    const ctx = recordingContext(intake());
    const s = source({ claimIdleMs: 100, consumer: 'survivor' });
    await s.start(ctx);
    await waitFor(async () => (await pendingCount(admin, STREAM, GROUP)) === 0 && (await admin.xlen(keys.intake)) === 3, {
      message: 'the crashed consumer\'s entries stored and acknowledged',
    });
    expect((await intakeIds()).sort()).toEqual(['c1', 'c2', 'c3']);
    expect(ctx.logs.some((l) => l.msg === 'took over entries left idle by a consumer')).toBe(true);
  });

  it('dead-letters and acknowledges a poison entry delivered more than maxDeliveries times', async () => {
    const sink = new MemorySink();
    sink.fail = (events) => {
      if (events.some((e) => e.id === 'poison')) throw new Error('value too large for the intake (simulated)');
    };
    const ctx = recordingContext(sink);
    const s = source({ claimIdleMs: 50, maxDeliveries: 3, blockMs: 50 });
    await s.start(ctx);
    await xadd(canonical('good-1'));
    const poison = await xadd(canonical('poison'));
    await xadd(canonical('good-2'));

    await waitFor(async () => sink.dead.length === 1 && (await pendingCount(admin, STREAM, GROUP)) === 0, {
      message: () => `the poison entry dead-lettered (dead: ${JSON.stringify(sink.dead)})`,
    });
    expect(sink.dead[0]!.reason).toBe(`${STREAM} ${poison}: delivered 4 times (more than maxDeliveries 3) without being stored; given up`);
    expect(JSON.parse(sink.dead[0]!.record as string)).toMatchObject({ id: 'poison' });
    // The good ones were stored once each, despite sharing a batch with the poison one.
    expect(sink.stored.map((e) => e.id).sort()).toEqual(['good-1', 'good-2']);
    // First delivery (batch, then alone) and two claims: never more than maxDeliveries attempts.
    expect(sink.calls.filter((c) => c.length === 1 && c[0]!.id === 'poison').length).toBe(3);
    expect(ctx.rejectedReasons).toEqual(['poison']);
    expect(ctx.logs.some((l) => l.level === 'error' && (l.o as { entry?: string }).entry === poison)).toBe(true);
  });

  it('acknowledges its own pending entries that were trimmed away (nil bodies) and dead-letters them as lost', async () => {
    await admin.xgroup('CREATE', STREAM, GROUP, '$', 'MKSTREAM');
    const lost = [await xadd(canonical('t1')), await xadd(canonical('t2'))];
    await admin.xreadgroup('GROUP', GROUP, 'me', 'COUNT', 10, 'STREAMS', STREAM, '>');
    await admin.xtrim(STREAM, 'MAXLEN', 0); // the producer trims entries still pending in our group
    await xadd(canonical('t3'));

    const sink = new MemorySink();
    const ctx = recordingContext(sink);
    const s = source({ consumer: 'me' }); // restarted with the same name: reads its pending entries (id 0) first
    await s.start(ctx);
    await waitFor(async () => sink.stored.length === 1 && (await pendingCount(admin, STREAM, GROUP)) === 0, {
      message: 'trimmed entries acknowledged and the new one stored',
    });
    expect(sink.stored.map((e) => e.id)).toEqual(['t3']);
    expect(sink.dead.map((d) => d.reason)).toEqual(lost.map((id) => expect.stringMatching(new RegExp(`^${STREAM} ${id}: trimmed from the stream while pending`))));
    expect(sink.dead[0]!.record).toEqual({ stream: STREAM, id: lost[0] });
    expect(ctx.rejectedReasons).toEqual(['trimmed', 'trimmed']);
  });

  it('clears a crashed consumer\'s trimmed entries reported by XAUTOCLAIM as deleted', async () => {
    await admin.xgroup('CREATE', STREAM, GROUP, '$', 'MKSTREAM');
    const lost = await xadd(canonical('gone'));
    await admin.xreadgroup('GROUP', GROUP, 'crashed', 'COUNT', 10, 'STREAMS', STREAM, '>');
    await admin.xtrim(STREAM, 'MAXLEN', 0);

    const sink = new MemorySink();
    const s = source({ claimIdleMs: 50 });
    await s.start(recordingContext(sink));
    await waitFor(async () => sink.dead.length === 1 && (await pendingCount(admin, STREAM, GROUP)) === 0, {
      message: 'the deleted entry reported and no longer pending',
    });
    expect(sink.dead[0]!.reason).toMatch(new RegExp(`^${STREAM} ${lost}: trimmed`));
    expect(sink.stored).toEqual([]);
  });

  it('re-reads a restarted consumer\'s unacknowledged entries first, and stores each event once', async () => {
    const sink = new MemorySink();
    let refuse = true;
    sink.fail = () => {
      if (refuse) throw new IntakeUnavailableError('Redis unavailable (simulated)');
    };
    await admin.xgroup('CREATE', STREAM, GROUP, '$', 'MKSTREAM');
    await xadd(canonical('r1'));
    await xadd(canonical('r2'));
    const first = source({ consumer: 'steady' });
    await first.start(recordingContext(sink));
    await waitFor(() => sink.calls.length >= 1, { message: 'the batch was read' });
    await first.stop(); // stops while the intake refuses: entries stay pending under "steady"
    expect(first.status().state).toBe('stopped');
    expect((await pendingEntries(admin, STREAM, GROUP)).map(([, c]) => c)).toEqual(['steady', 'steady']);

    refuse = false;
    const second = source({ consumer: 'steady', claimIdleMs: 60_000 }); // no claiming: only the id-0 read can find them
    await second.start(recordingContext(sink));
    await waitFor(async () => sink.stored.length === 2 && (await pendingCount(admin, STREAM, GROUP)) === 0);
    expect(sink.stored.map((e) => e.id)).toEqual(['r1', 'r2']);
  });

  it('stops within blockMs, closes its connection and leaves the group when it holds nothing', async () => {
    const s = source({ blockMs: 400, consumer: 'leaving' });
    await s.start(recordingContext(new MemorySink()));
    await xadd(canonical('s1'));
    await waitFor(async () => (await admin.call('XINFO', 'CONSUMERS', STREAM, GROUP) as unknown[]).length === 1);

    const started = Date.now();
    await s.stop();
    expect(Date.now() - started).toBeLessThan(400 + 800); // one blocking read, plus closing
    expect(s.status().state).toBe('stopped');
    await waitFor(async () => !(await admin.call('CLIENT', 'LIST') as string).includes('name=vw-stream-source'), {
      message: 'the source connection closed',
    });
    expect(await admin.call('XINFO', 'CONSUMERS', STREAM, GROUP)).toEqual([]);
  });

  it('recreates its group when the stream is deleted under it', async () => {
    const sink = new MemorySink();
    const s = source();
    await s.start(recordingContext(sink));
    await admin.del(STREAM);
    // The group went with the stream: XREADGROUP answers NOGROUP until the source creates it again.
    await waitFor(async () => {
      try {
        return ((await admin.call('XINFO', 'GROUPS', STREAM)) as unknown[]).length === 1;
      } catch {
        return false;
      }
    }, { message: 'group recreated' });
    await xadd(canonical('after-delete'));
    await waitFor(() => sink.stored.length === 1);
    expect(sink.stored[0]!.id).toBe('after-delete');
  });
});

describe('redis-stream source when Redis itself goes away', () => {
  let server: RedisHandle;

  beforeAll(async () => {
    server = await startRedis({ appendonly: true, appendfsync: 'always' });
  });

  afterAll(async () => {
    await server.stop();
  });

  it('reports degraded while Redis is down and resumes with nothing lost', async () => {
    const client = server.client();
    const ctx = recordingContext(intake(server));
    const s = source({}, server);
    await s.start(ctx);
    await client.xadd(STREAM, '*', 'event', JSON.stringify(canonical('before-crash')));
    await waitFor(async () => (await intakeIds(client)).length === 1);

    await server.kill();
    await waitFor(() => s.status().state === 'degraded', { message: 'degraded while Redis is down' });
    expect(s.status().last_error).toBeTruthy();

    await server.restart();
    await client.xadd(STREAM, '*', 'event', JSON.stringify(canonical('after-restart')));
    await waitFor(async () => (await intakeIds(client)).length === 2 && (await pendingCount(client, STREAM, GROUP)) === 0, {
      message: 'the entry written after the restart stored and acknowledged',
    });
    expect(await intakeIds(client)).toEqual(['before-crash', 'after-restart']);
    await waitFor(() => s.status().state === 'running');
    expect(ctx.logs.some((l) => l.msg === 'redis stream source recovered')).toBe(true);
  });
});
