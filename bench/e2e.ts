/**
 * End to end on one machine: POST /ingest -> Redis intake stream -> evaluation -> alert records and
 * notification jobs enqueued, with a private redis-server (AOF everysec) on loopback and the daemon
 * in this process. Prints sustained events/s, p50/p99 ingest-to-enqueued latency at a fixed rate, RSS.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Daemon } from '../src/app/daemon.ts';
import { startRedis } from '../test/helpers/redis-server.ts';
import { generateRecords, writeBenchConfig } from './replay.ts';

const TOTAL = Number(process.env.BENCH_E2E_EVENTS ?? 100_000);
const BATCH = 500;
const CONCURRENCY = 4;
const RATE = 1_000;
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 10);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function benchE2e(): Promise<void> {
  const redis = await startRedis({ appendonly: true, appendfsync: 'everysec' });
  const dir = mkdtempSync(join(tmpdir(), 'vaultwatch-e2e-'));
  let daemon: Daemon | undefined;
  try {
    writeBenchConfig(dir);
    const cfgPath = join(dir, 'vaultwatch.yaml');
    writeFileSync(cfgPath, `${readFileSync(cfgPath, 'utf8')}
redis: { url: "${redis.url}", prefix: bench }
sources: [{ type: webhook, token: bench-token }]
channels: { outbox: outbox }
`);
    const evaluatedAt = new Map<string, number>();
    let evaluated = 0;
    let alerts = 0;
    daemon = await Daemon.start({
      // Deliveries run in their own replica in a scaled deployment (README, Operations); here they
      // would share this process with the load generator and the measured path.
      configPath: cfgPath, role: 'evaluate', listen: '127.0.0.1:0', logger: pino({ level: 'silent' }),
      onEvaluated: (events, as) => {
        const now = performance.now();
        evaluated += events.length;
        alerts += as.length;
        for (const e of events) evaluatedAt.set(e.id, now);
      },
    });
    const url = `${daemon.address}/ingest`;
    const post = async (lines: string[]) => {
      for (;;) {
        const r = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer bench-token', 'content-type': 'application/x-ndjson' }, body: lines.join('\n') });
        if (r.status === 202) { await r.arrayBuffer(); return; }
        if (r.status !== 503) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
      }
    };
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 200);

    // 1. Sustained throughput: batches of 500, a few requests in flight.
    const all = [...generateRecords(TOTAL, 7)];
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < all.length) {
        const start = next;
        next += BATCH;
        await post(all.slice(start, start + BATCH));
      }
    }));
    const tPosted = performance.now();
    while (evaluated < TOTAL) await new Promise((r) => setTimeout(r, 5));
    const tDone = performance.now();
    const secs = (tDone - t0) / 1000;

    // 2. Latency at a fixed rate: 10 events every 10 ms, each timed from its POST to the moment its
    //    batch was judged and the notification jobs were enqueued.
    const sentAt = new Map<string, number>();
    const rateEvents = [...generateRecords(RATE * RATE_SECONDS, 99)].map((l) => l.replace('"uuid":"E', '"uuid":"R'));
    const perTick = RATE / 100;
    const tRate = performance.now();
    const posts: Promise<void>[] = [];
    for (let i = 0; i < rateEvents.length; i += perTick) {
      const due = tRate + (i / perTick) * 10;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const lines = rateEvents.slice(i, i + perTick);
      const now = performance.now();
      for (const l of lines) sentAt.set(JSON.parse(l).uuid as string, now);
      posts.push(post(lines));
    }
    await Promise.all(posts);
    while ([...sentAt.keys()].some((id) => !evaluatedAt.has(id))) await new Promise((r) => setTimeout(r, 5));
    const lat = [...sentAt].map(([id, t]) => evaluatedAt.get(id)! - t).sort((a, b) => a - b);
    clearInterval(sampler);

    console.log('end to end (POST /ingest -> Redis stream -> evaluate -> alerts recorded + notification jobs enqueued; role=evaluate)');
    console.log(`  policies:        ${TOTAL.toLocaleString('en')} events against 1,000 vault policies x 10 rules; Redis ${redis.url} (AOF everysec)`);
    console.log(`  throughput:      ${Math.round(TOTAL / secs).toLocaleString('en')} events/s sustained (${TOTAL.toLocaleString('en')} events in ${secs.toFixed(2)} s; all posted after ${((tPosted - t0) / 1000).toFixed(2)} s; ${alerts.toLocaleString('en')} alerts)`);
    console.log(`  latency @${RATE}/s: p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms (${lat.length.toLocaleString('en')} events, POST start -> jobs enqueued)`);
    console.log(`  peak RSS:        ${(peakRss / 1048576).toFixed(0)} MiB (daemon and load generator in one process)`);
  } finally {
    await daemon?.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchE2e();
