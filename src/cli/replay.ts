import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { summarizeAlert, type AlertSummary } from '../domain/alert-summary.ts';
import type { Alert } from '../domain/alert.ts';
import { isProblem, Replayer, type ReplayProblem, type SourceKind } from '../app/replay.ts';
import { jsonArrayElements, jsonLines, parseRecord, type RawLine } from '../pipeline/record-reader.ts';
import { EXIT_OK, EXIT_PROBLEM, loadOrExit, UsageError } from './common.ts';
import { formatTable } from './table.ts';

export interface ReplayOptions {
  config: string;
  format?: 'jsonl' | 'table';
  strict?: boolean;
  source?: SourceKind;
}

export async function replayCommand(file: string, opts: ReplayOptions): Promise<number> {
  const rt = loadOrExit(opts.config);
  const format = opts.format ?? (process.stdout.isTTY ? 'table' : 'jsonl');
  const replayer = new Replayer(rt.policies, rt.catalog, {
    receivedAt: new Date().toISOString(),
    ...(opts.source ? { force: opts.source } : {}),
  });
  const name = file === '-' ? '<stdin>' : file;
  const rows: AlertSummary[] = [];
  const out = new BufferedWriter();
  const progress = process.stderr.isTTY ? new Progress() : undefined;

  const emit = (alerts: Alert[]) => {
    for (const a of alerts) {
      const s = summarizeAlert(a);
      if (format === 'jsonl') out.write(`${JSON.stringify(s)}\n`);
      else rows.push(s);
    }
  };
  const report = (p: ReplayProblem) => process.stderr.write(`${name}:${p.line}: ${p.message}\n`);

  for await (const raw of readRecords(file)) {
    progress?.tick(replayer.counts.records);
    if ('error' in raw) { report(replayer.badLine(raw.line, raw.error)); continue; }
    const parsed = parseRecord(raw);
    if ('error' in parsed) { report(replayer.badLine(parsed.line, parsed.error)); continue; }
    const r = replayer.push(parsed.line, parsed.record);
    if (isProblem(r)) report(r);
    else emit(Array.isArray(r) ? r : await r);
  }
  progress?.done();
  if (format === 'table') {
    out.write(formatTable(rows));
  }
  await out.flush();
  const c = replayer.counts;
  if (format === 'table' || process.stderr.isTTY) {
    process.stderr.write(`${c.records} records, ${c.events} events, ${c.alerts} alerts, ${c.bad} bad, ${c.duplicates} duplicates, ${c.skipped} skipped\n`);
  }
  return opts.strict && c.bad > 0 ? EXIT_PROBLEM : EXIT_OK;
}

/**
 * JSON array (first non-blank character `[`) or JSON Lines, from a file or stdin. Text is decoded
 * as a stream (a character split between two reads stays whole) and a leading BOM is dropped.
 */
async function* readRecords(file: string): AsyncGenerator<RawLine | { line: number; error: string }> {
  if (file !== '-') {
    let head: string;
    try {
      head = readHead(file);
    } catch (err) {
      // A usage problem (exit 2), not a crash: `replay evnets.jsonl`.
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (head.trimStart().startsWith('[')) {
      yield* jsonArrayElements(readFileSync(file, 'utf8'));
      return;
    }
    yield* jsonLines(withoutBom(createReadStream(file, { highWaterMark: 1 << 20, encoding: 'utf8' }) as AsyncIterable<string>));
    return;
  }
  process.stdin.setEncoding('utf8');
  const chunks: string[] = [];
  let decided: 'array' | 'lines' | undefined;
  const lineChunks = async function* () {
    for await (const c of withoutBom(process.stdin as AsyncIterable<string>)) {
      if (decided === undefined) {
        const t = c.trimStart();
        if (t === '') { chunks.push(c); continue; }
        decided = t.startsWith('[') ? 'array' : 'lines';
        if (decided === 'lines') { yield* chunks; }
      }
      if (decided === 'array') chunks.push(c);
      else yield c;
    }
  };
  const lines = jsonLines(lineChunks());
  for await (const l of lines) yield l;
  if (decided === 'array') yield* jsonArrayElements(chunks.join(''));
}

async function* withoutBom(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let first = true;
  for await (const c of chunks) {
    yield first && c.startsWith('\uFEFF') ? c.slice(1) : c;
    first = false;
  }
}

function readHead(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** stdout writes batched: one write syscall per ~64 KB instead of one per alert. */
class BufferedWriter {
  private buf: string[] = [];
  private size = 0;
  write(s: string): void {
    this.buf.push(s);
    this.size += s.length;
    if (this.size > 65_536) void this.flush();
  }
  async flush(): Promise<void> {
    if (!this.buf.length) return;
    const data = this.buf.join('');
    this.buf = [];
    this.size = 0;
    if (!process.stdout.write(data)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

/** A progress line on stderr for long files, only when a person is watching. */
class Progress {
  private last = 0;
  private readonly started = Date.now();
  tick(n: number): void {
    if (n % 10_000 !== 0) return;
    const now = Date.now();
    if (now - this.last < 250) return;
    this.last = now;
    const rate = Math.round(n / ((now - this.started) / 1000));
    process.stderr.write(`\r${n.toLocaleString('en')} records (${rate.toLocaleString('en')}/s)`);
  }
  done(): void {
    if (this.last) process.stderr.write('\r\u001b[K');
  }
}
