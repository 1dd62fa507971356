/**
 * Runs pollers as BullMQ job schedulers: one repeatable job per source, produced once per interval
 * whatever the number of replicas, taken by whichever replica is free. A Redis lock per source keeps
 * two rounds of one source from overlapping when a round outlasts its interval.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CursorStore, PollContext, Poller } from '../sources/poller.ts';
import type { SourceContext } from '../sources/source.ts';
import type { Keys } from './redis.ts';

const QUEUE = 'poll';
const LOCK_MS = 15_000;
const RENEW_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

export class RedisCursorStore implements CursorStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}
  async get(source: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.cursor(source))) ?? undefined;
  }
  async set(source: string, cursor: string): Promise<void> {
    await this.redis.set(this.keys.cursor(source), cursor);
  }
}

export interface PollSchedulerDeps {
  connection: () => Redis;
  redis: Redis;
  prefix: string;
  keys: Keys;
  pollers: readonly Poller[];
  context: (p: Poller) => SourceContext;
  /** Called when a round throws (the poller's own status already says why). */
  onError?: (p: Poller, err: unknown) => void;
}

export class PollScheduler {
  private queue?: Queue;
  private worker?: Worker;
  private readonly abort = new AbortController();
  private readonly cursors: CursorStore;
  private readonly byName: Map<string, Poller>;

  constructor(private readonly d: PollSchedulerDeps) {
    this.cursors = new RedisCursorStore(d.redis, d.keys);
    this.byName = new Map(d.pollers.map((p) => [p.name, p]));
  }

  private ctx(p: Poller): PollContext {
    return { ...this.d.context(p), cursors: this.cursors, signal: this.abort.signal };
  }

  async start(): Promise<void> {
    if (this.d.pollers.length === 0) return;
    // Side by side: one slow vendor must not hold back the others' first polls.
    await Promise.all(this.d.pollers.map((p) => p.prepare?.(this.ctx(p)).catch((err) => this.d.onError?.(p, err))));
    this.queue = new Queue(QUEUE, { connection: this.d.connection(), prefix: this.d.prefix });
    // Connection trouble shows in /readyz; without a listener BullMQ prints each failed reconnect.
    this.queue.on('error', () => {});
    for (const p of this.d.pollers) {
      // Idempotent per id: every replica may call it at every boot.
      await this.queue.upsertJobScheduler(`poll-${p.name}`, { every: p.intervalMs }, {
        name: p.name, data: { source: p.name }, opts: { removeOnComplete: 100, removeOnFail: 100 },
      });
    }
    this.worker = new Worker(QUEUE, async (job) => this.round(String(job.data.source)), {
      connection: this.d.connection(), prefix: this.d.prefix, concurrency: Math.max(1, this.d.pollers.length),
    });
    this.worker.on('error', () => {});
  }

  private async round(source: string): Promise<void> {
    const p = this.byName.get(source);
    // A scheduler left by a source removed from this config: nothing to do here.
    if (!p) return;
    const lock = this.d.keys.lock(`poll:${source}`);
    const token = `${process.pid}-${Math.random()}`;
    // A short lease renewed while the round runs: a replica killed mid-round frees the source within
    // LOCK_MS instead of blocking it for a long fixed lock.
    if (!(await this.d.redis.set(lock, token, 'PX', LOCK_MS, 'NX'))) return;
    const renew = setInterval(() => {
      void this.d.redis.eval(RENEW_LUA, 1, lock, token, LOCK_MS).catch(() => {});
    }, LOCK_MS / 3);
    try {
      await p.pollOnce(this.ctx(p));
    } catch (err) {
      this.d.onError?.(p, err);
    } finally {
      clearInterval(renew);
      // Release only our own lock.
      await this.d.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, lock, token);
    }
  }

  /** Removes schedulers of sources that are no longer configured (called with the current names). */
  async prune(): Promise<void> {
    if (!this.queue) return;
    const names = new Set(this.d.pollers.map((p) => `poll-${p.name}`));
    for (const s of await this.queue.getJobSchedulers()) {
      if (s.key && !names.has(s.key)) await this.queue.removeJobScheduler(s.key);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.worker?.close();
    await this.queue?.close();
  }
}
