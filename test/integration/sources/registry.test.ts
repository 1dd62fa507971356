/**
 * Config `sources:` -> Source objects: the kinds it builds, the kinds it leaves to others, and that a
 * built source really runs (a relative file path is read relative to the config directory).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceDef } from '../../../src/config/schema.ts';
import { createSources, sourceKind } from '../../../src/sources/registry.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { MemorySink, canonical, recordingContext } from './helpers.ts';

let redis: RedisHandle;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(join(tmpdir(), 'vaultwatch-registry-'));
});

afterAll(async () => {
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

const defs: SourceDef[] = [
  { type: 'webhook', token: 't' },
  { type: 'redis-stream', name: 'pm-stream', stream: 'pm:usage', group: 'vw', field: 'record' },
  { type: 'file', path: 'demo/events.jsonl' },
  { type: 'onepassword', token: 'x' },
  { type: 'bitwarden', client_id: 'organization.x', client_secret: 'y' },
];

describe('createSources', () => {
  it('builds redis-stream and file sources; webhook is the HTTP server\'s; vendors are pollers', () => {
    const sources = createSources(defs, { redis: () => new Redis(redis.url, { lazyConnect: true }), configDir: dir });
    expect(sources.map((s) => [s.name, s.type])).toEqual([['pm-stream', 'redis-stream'], ['file', 'file']]);
    expect(defs.map((d) => sourceKind(d.type))).toEqual(['http', 'source', 'source', 'poller', 'poller']);
  });

  it('passes the config through: stream, group and field; a relative file path against the config directory', async () => {
    await writeFile(join(dir, 'demo-events.jsonl'), `${JSON.stringify(canonical('from-file'))}\n`);
    const admin = redis.client();
    await admin.xgroup('CREATE', 'pm:usage', 'vw', '$', 'MKSTREAM');
    const [stream, file] = createSources(
      [defs[1]!, { type: 'file', name: 'demo', path: 'demo-events.jsonl' }],
      { redis: () => new Redis(redis.url, { maxRetriesPerRequest: null }), configDir: dir },
    );
    const sink = new MemorySink();
    try {
      await stream!.start(recordingContext(sink));
      await file!.start(recordingContext(sink));
      await admin.xadd('pm:usage', '*', 'record', JSON.stringify(canonical('from-stream')));
      await waitFor(() => sink.stored.length === 2, { message: 'one event from each source' });
      expect(sink.stored.map((e) => e.id).sort()).toEqual(['from-file', 'from-stream']);
      expect(((await admin.call('XPENDING', 'pm:usage', 'vw')) as unknown[])[0]).toBe(0);
    } finally {
      await stream!.stop();
      await file!.stop();
    }
  });
});
