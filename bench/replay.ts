/**
 * Replay throughput: a generated stream of 1,000,000 1Password item-usage records against 1,000
 * vault policies of 10 rules each (about 1% of events alert), judged in one process exactly as
 * `vaultwatch replay` does (JSON parse, normalise, enrich from the catalog, evaluate, stateful checks).
 * Prints events/s and peak memory; asserts nothing.
 */
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuntime } from '../src/app/load-runtime.ts';
import { isProblem, Replayer } from '../src/app/replay.ts';
import { jsonLines, parseRecord } from '../src/pipeline/record-reader.ts';

const VAULTS = 1_000;
const ITEMS_PER_VAULT = 20;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);

/** Deterministic pseudo-random numbers, so every run judges the same stream. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
}

const vaultId = (v: number) => `v${String(v).padStart(4, '0')}aaaaaaaaaaaaaaaaaaaaa`;
const itemId = (v: number, i: number) => `i${String(v).padStart(4, '0')}${String(i).padStart(2, '0')}bbbbbbbbbbbbbbbbbbb`;

export function writeBenchConfig(dir: string): void {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'vaultwatch.yaml'), [
    'defaults: { timezone: Europe/London }',
    'schedules:',
    '  office-hours: { days: [mon-fri], hours: ["09:00-17:30"], holidays: [2026-12-25, 2026-12-28] }',
    'groups:',
    '  admins: [admin1@example.com, admin2@example.com, "ops-*@example.com"]',
    'policies: policies/',
    'catalog: catalog.yaml',
  ].join('\n'));
  const catalog: string[] = ['items:'];
  for (let v = 0; v < VAULTS; v++) {
    for (let i = 0; i < ITEMS_PER_VAULT; i++) {
      const type = i === 0 ? 'credit_card' : i === 1 ? 'secure_note' : i < 4 ? 'bank_account' : 'login';
      catalog.push(`  ${itemId(v, i)}: { title: "${i === 0 ? 'Company card' : `Item ${i}`} ${v}", type: ${type}, tags: [${i < 4 ? 'payment' : 'web'}] }`);
    }
    writeFileSync(join(dir, 'policies', `vault-${v}.yaml`), `vault: { id: ${vaultId(v)}, name: Vault ${v} }
timezone: Europe/London
managers: [{ email: manager${v}@example.com }, { slack: "#vault-${v}" }]
rules:
  - name: Company card revealed
    match: { items: ["Company card*"], actions: [reveal, export] }
    severity: high
    dedup: { window: 1h }
  - name: Out of hours payment item
    match: { item_types: [credit_card, bank_account], actions: [reveal, copy], outside: office-hours }
    not: { users: ["svc-*@example.com"] }
    severity: critical
  - name: Specific item filled
    match: { items: [${itemId(v, 3)}], actions: [fill], fields: [password] }
  - name: Outsider on admin item
    match: { items: [${itemId(v, 5)}], actions: [export, share] }
    not: { users: ["group:admins"] }
  - name: Unknown network
    match: { tags: [payment], actions: [export] }
    not: { ip: ["203.0.113.0/24", "198.51.100.0/24"] }
  - name: Abroad
    match: { countries: [RU, KP, IR], actions: [reveal, copy, fill] }
    severity: critical
  - name: CLI use of a card
    match: { clients: ["*CLI*"], item_types: [credit_card] }
  - name: First reveal of a payment item
    match: { tags: [payment], actions: [share], first_time: [user, item] }
  - name: Burst of exports
    match: { actions: [export], threshold: { count: 5, within: 10m, per: [user] } }
    dedup: { key: "{user}", window: 30m }
  - name: Edits of the card
    match: { items: [${itemId(v, 0)}], actions: [edit], during: office-hours }
    severity: low
`);
  }
  writeFileSync(join(dir, 'catalog.yaml'), catalog.join('\n'));
}

const ACTIONS: [string, number][] = [['fill', 0.62], ['secure-copy', 0.2], ['reveal', 0.1], ['enter-item-edit-mode', 0.04], ['server-fetch', 0.03], ['export', 0.006], ['share', 0.004]];

export function* generateRecords(n: number, seed = 42): Generator<string> {
  const r = rng(seed);
  const start = Date.parse('2026-11-02T00:00:00Z');
  for (let k = 0; k < n; k++) {
    const v = Math.floor(r() * VAULTS);
    // Most usage is of ordinary logins; payment items are a small share.
    const i = r() < 0.85 ? 4 + Math.floor(r() * (ITEMS_PER_VAULT - 4)) : Math.floor(r() * 4);
    let x = r();
    let action = 'fill';
    for (const [a, p] of ACTIONS) { if (x < p) { action = a; break; } x -= p; }
    const u = Math.floor(r() * 500);
    // Most use happens in office hours on weekdays, as in real teams; 5% happens at night or weekends.
    const day = Math.floor((k / n) * 30);
    const weekday = (day + 1) % 7 < 5; // 2026-11-02 is a Monday
    const inHours = weekday && r() >= 0.05;
    const minute = inHours ? 9 * 60 + Math.floor(r() * 510) : Math.floor(r() * 1440);
    const t = new Date(start + day * 86_400_000 + minute * 60_000 + Math.floor(r() * 60_000)).toISOString();
    const office = r() < 0.9;
    yield JSON.stringify({
      uuid: `E${k.toString(36).padStart(10, '0')}QQQQQQQQQQQQQQQ`,
      timestamp: t,
      used_version: 2,
      vault_uuid: vaultId(v),
      item_uuid: itemId(v, i),
      action,
      user: { uuid: `U${u}`, name: `User ${u}`, email: `user${u}@example.com`, user_type: 'user' },
      client: {
        app_name: r() < 0.01 ? '1Password CLI' : '1Password Browser Extension', app_version: '20127',
        platform_name: 'Chrome', platform_version: '131.0', os_name: 'MacOSX', os_version: '14.6',
        ip_address: office ? `203.0.113.${Math.floor(r() * 250)}` : `192.0.2.${Math.floor(r() * 250)}`,
      },
      location: { country: r() < 0.002 ? 'RU' : 'GB', region: 'England', city: 'London' },
      account_uuid: 'VZSYVT2LGHTBWBQGUJAIZVRABM',
    });
  }
}

export async function benchReplay(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vaultwatch-bench-'));
  try {
    writeBenchConfig(dir);
    // The stream goes to a JSONL file and is read back exactly as `vaultwatch replay FILE` reads it
    // (1 MiB chunks, line splitting, JSON.parse, normalise, enrich, evaluate): a million records
    // held in memory would measure the garbage collector instead.
    const file = join(dir, 'events.jsonl');
    const out = createWriteStream(file);
    for (const line of generateRecords(EVENTS)) {
      if (!out.write(`${line}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r) => out.end(() => r()));

    const t0 = performance.now();
    const rt = loadRuntime(join(dir, 'vaultwatch.yaml'));
    if (rt.issues.length) throw new Error(rt.issues.map((i) => i.message).join('\n'));
    const loadMs = performance.now() - t0;

    const replayer = new Replayer(rt.policies, rt.catalog, { receivedAt: '2026-12-01T00:00:00.000Z' });
    let alerts = 0;
    let suppressed = 0;
    let peakRss = process.memoryUsage().rss;
    const start = performance.now();
    for await (const raw of jsonLines(createReadStream(file, { highWaterMark: 1 << 20 }))) {
      const parsed = parseRecord(raw);
      if ('error' in parsed) continue;
      const res = replayer.push(parsed.line, parsed.record);
      if (isProblem(res)) continue;
      const list = Array.isArray(res) ? res : await res;
      alerts += list.length;
      for (const a of list) if (a.suppressed) suppressed++;
      if ((parsed.line & 0xffff) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    const secs = (performance.now() - start) / 1000;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    // The ceiling on this machine: reading the file and JSON.parse alone, judging nothing.
    const p0 = performance.now();
    let parsedOnly = 0;
    for await (const raw of jsonLines(createReadStream(file, { highWaterMark: 1 << 20 }))) if (JSON.parse(raw.text)) parsedOnly++;
    const parseSecs = (performance.now() - p0) / 1000;
    const c = replayer.counts;
    console.log('replay (one process, as `vaultwatch replay FILE`: read + JSON.parse + normalise + enrich + evaluate + state)');
    console.log(`  policies:        ${rt.policies.policies.length} files, ${rt.policies.ruleCount} rules, loaded in ${loadMs.toFixed(0)} ms`);
    console.log(`  events:          ${c.events.toLocaleString('en')} 1Password records (${c.bad} bad, ${c.skipped} skipped)`);
    console.log(`  alerts:          ${alerts.toLocaleString('en')} (${suppressed.toLocaleString('en')} suppressed by dedup); events with an alert: ${((replayerEventsWithAlerts(replayer) / c.events) * 100).toFixed(2)}%`);
    console.log(`  time:            ${secs.toFixed(2)} s`);
    console.log(`  throughput:      ${Math.round(c.events / secs).toLocaleString('en')} events/s (ceiling here: read + JSON.parse alone runs at ${Math.round(parsedOnly / parseSecs).toLocaleString('en')} records/s)`);
    console.log(`  peak RSS:        ${(peakRss / 1048576).toFixed(0)} MiB (process max RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function replayerEventsWithAlerts(r: Replayer): number {
  return r.eventsWithAlerts;
}

if (import.meta.url === `file://${process.argv[1]}` && !process.env.NO_MAIN) await benchReplay();
