/**
 * The JSONL file source: read once from the start, streamed in batches to the real intake.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntakeUnavailableError, type DeadLetterEntry } from '../../../src/pipeline/intake.ts';
import { RedisIntake } from '../../../src/queue/intake-stream.ts';
import { Keys } from '../../../src/queue/redis.ts';
import { createFileSource } from '../../../src/sources/file/reader.ts';
import type { Source } from '../../../src/sources/source.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { MemorySink, canonical, fixture, recordingContext, type RecordingContext } from './helpers.ts';

const keys = new Keys('{test}');
let redis: RedisHandle;
let admin: Redis;
let dir: string;
let sources: Source[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = redis.client();
  dir = await mkdtemp(join(tmpdir(), 'vaultwatch-file-source-'));
});

afterAll(async () => {
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await admin.flushall();
});

afterEach(async () => {
  for (const s of sources) await s.stop();
  sources = [];
});

function fileSource(path: string, batchSize?: number): Source {
  const s = createFileSource({ path, backoffMinMs: 10, backoffMaxMs: 50, ...(batchSize !== undefined ? { batchSize } : {}) });
  sources.push(s);
  return s;
}

/** Resolves once the source logged that it finished reading (the n-th time). */
function finished(ctx: RecordingContext, times = 1): Promise<string> {
  return waitFor(() => {
    const done = ctx.logs.filter((l) => l.msg?.startsWith('read '));
    return done.length >= times && done[times - 1]!.msg!;
  }, { message: 'the file read to the end' });
}

async function deadLetters(): Promise<DeadLetterEntry[]> {
  return (await admin.lrange(keys.deadEvents, 0, -1)).map((s) => JSON.parse(s) as DeadLetterEntry).reverse();
}

describe('file source', () => {
  it('stores good lines, skips blank ones and dead-letters bad ones as FILE:LINE: reason', async () => {
    const path = join(dir, 'events.jsonl');
    const onePassword = fixture('onepassword', 'v2-secure-copy');
    await writeFile(path, [
      JSON.stringify(onePassword),
      '',
      '{"uuid": "broken", ',
      JSON.stringify(fixture('canonical', 'minimal')),
      '   ',
      JSON.stringify({ hello: 'world' }),
    ].join('\n') + '\n');

    const ctx = recordingContext(new RedisIntake(redis.client(), keys));
    const s = fileSource(path);
    await s.start(ctx);
    expect(await finished(ctx)).toBe('read 4 records');

    const stored = await admin.xrange(keys.intake, '-', '+');
    expect(stored.map(([, f]) => f[f.indexOf('id') + 1])).toEqual([onePassword['uuid'], 'evt-min-1']);
    const dead = await deadLetters();
    expect(dead.map((d) => d.reason)).toEqual([
      expect.stringMatching(new RegExp(`^${escape(path)}:3: not JSON: `)),
      expect.stringMatching(new RegExp(`^${escape(path)}:6: unrecognised record: `)),
    ]);
    expect(dead[0]).toMatchObject({ source: 'file', record: '{"uuid": "broken", ' });
    // A finished file is not a failure.
    expect(s.status()).toMatchObject({ name: 'file', type: 'file', state: 'running', events: 2, rejected: 2 });
    expect(ctx.rejectedReasons).toEqual(['not_json', 'invalid']);

    // Reading again on the next start is harmless: the intake drops the events it already has.
    await s.stop();
    expect(s.status().state).toBe('stopped');
    await s.start(ctx);
    await finished(ctx, 2);
    expect(await admin.xlen(keys.intake)).toBe(2);
  });

  it('streams a large file to the sink in batches', async () => {
    const path = join(dir, 'large.jsonl');
    const n = 1_234;
    await writeFile(path, Array.from({ length: n }, (_, i) => JSON.stringify(canonical(`big-${i}`))).join('\n')); // no final newline
    const sink = new MemorySink();
    const ctx = recordingContext(sink);
    const s = fileSource(path, 500);
    await s.start(ctx);
    expect(await finished(ctx)).toBe(`read ${n} records`);
    expect(sink.calls.map((c) => c.length)).toEqual([500, 500, 234]);
    expect(new Set(sink.stored.map((e) => e.id)).size).toBe(n);
    expect(sink.stored.at(-1)!.id).toBe(`big-${n - 1}`);
  });

  it('waits for the intake to come back instead of losing a batch', async () => {
    const path = join(dir, 'retry.jsonl');
    await writeFile(path, `${JSON.stringify(canonical('r-1'))}\n${JSON.stringify(canonical('r-2'))}\n`);
    const sink = new MemorySink();
    let refusals = 3;
    sink.fail = () => {
      if (refusals-- > 0) throw new IntakeUnavailableError('Redis unavailable (simulated)');
    };
    const ctx = recordingContext(sink);
    const s = fileSource(path);
    await s.start(ctx);
    await finished(ctx);
    expect(sink.calls).toHaveLength(4);
    expect(sink.stored.map((e) => e.id)).toEqual(['r-1', 'r-2']);
    expect(s.status()).toMatchObject({ state: 'running', last_error: 'Redis unavailable (simulated)', events: 2 });
  });

  it('reports a missing file as failed without throwing', async () => {
    const ctx = recordingContext(new MemorySink());
    const s = fileSource(join(dir, 'missing.jsonl'));
    await s.start(ctx);
    expect(s.status()).toMatchObject({ state: 'failed', last_error: expect.stringContaining('ENOENT') });
    expect(ctx.logs.some((l) => l.level === 'error')).toBe(true);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
