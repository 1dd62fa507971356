/**
 * A JSONL file of usage records, read once from the start: for demos and for trying policies on a
 * recorded export without any vendor account.
 *
 * The file is streamed (read in chunks, handed to the sink in batches), never held in memory whole.
 * Every start reads it again from the first line. That is harmless: the intake deduplicates by event
 * id, so records already accepted by an earlier run are dropped as duplicates and alert nobody twice.
 * (Records without a vendor id get a stable hash of their content as id, so the same holds for them.)
 *
 * A finished file is not a failure: the source stays `running` and logs `read N records`.
 */
import type { ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { UsageEvent } from '../../domain/usage-event.ts';
import type { DeadLetterEntry } from '../../pipeline/intake.ts';
import { normalizeRecord } from '../recognize.ts';
import type { RejectCategory, Source, SourceContext, SourceStatus } from '../source.ts';
import { Backoff, SourceHealth, errorMessage, settlesWithin, sleep } from '../source-health.ts';

export interface FileSourceOptions {
  /** Default `file`. */
  name?: string;
  /** The JSONL file (absolute, or relative to the working directory; the registry resolves config paths). */
  path: string;
  /** Records per sink call; default 500. */
  batchSize?: number;
  /** Retry delays while the intake is unavailable: from about backoffMinMs (default 250) up to backoffMaxMs (default 10000). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

export function createFileSource(opts: FileSourceOptions): Source {
  return new FileSource(opts);
}

interface Batch {
  events: UsageEvent[];
  dead: { entry: DeadLetterEntry; category: RejectCategory; line: number }[];
}

class FileSource implements Source {
  readonly type = 'file';
  readonly name: string;
  private readonly path: string;
  private readonly batchSize: number;
  private readonly health: SourceHealth;
  private ctx: SourceContext | undefined;
  private loop: Promise<void> | undefined;
  private stream: ReadStream | undefined;
  private running = false;
  private abort = new AbortController();

  constructor(private readonly opts: FileSourceOptions) {
    this.name = opts.name ?? 'file';
    this.path = opts.path;
    this.batchSize = Math.max(1, opts.batchSize ?? 500);
    this.health = new SourceHealth(this.name, this.type);
  }

  status(): SourceStatus {
    return this.health.snapshot();
  }

  /** Opens the file (a missing file makes the source `failed`, not the daemon) and reads it in the background. */
  async start(ctx: SourceContext): Promise<void> {
    if (this.loop !== undefined) throw new Error(`source ${this.name} is already started`);
    this.ctx = ctx;
    this.running = true;
    this.abort = new AbortController();
    this.health.starting();
    let stream: ReadStream;
    try {
      const handle = await open(this.path, 'r');
      stream = handle.createReadStream(); // closes the handle when the stream ends or is destroyed
    } catch (err) {
      this.running = false;
      this.health.failed(err);
      ctx.log.error({ source: this.name, path: this.path, err: errorMessage(err) }, 'file source: cannot open the file');
      return;
    }
    this.stream = stream;
    this.health.success(ctx.now());
    this.loop = this.read(stream).catch((err: unknown) => {
      if (!this.running) return; // stop() destroyed the stream under the reader
      this.health.failed(err);
      ctx.log.error({ source: this.name, path: this.path, err: errorMessage(err) }, 'file source: reading failed');
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.stream?.destroy();
    await settlesWithin(this.loop, 5_000);
    this.stream = undefined;
    this.loop = undefined;
    this.health.stopped();
  }

  private async read(stream: ReadStream): Promise<void> {
    const ctx = this.ctx!;
    let records = 0;
    let batch: Batch = { events: [], dead: [] };
    for await (const { line, text } of lines(stream)) {
      if (!this.running) return;
      records += 1;
      this.prepare(batch, line, text);
      if (batch.events.length + batch.dead.length >= this.batchSize) {
        if (!(await this.flush(batch))) return;
        batch = { events: [], dead: [] };
      }
    }
    if (!this.running || !(await this.flush(batch))) return;
    this.health.success(ctx.now());
    const s = this.health.snapshot();
    ctx.log.info({ source: this.name, path: this.path, records, events: s.events, rejected: s.rejected }, `read ${records} records`);
  }

  private prepare(batch: Batch, line: number, text: string): void {
    const receivedAt = new Date(this.ctx!.now()).toISOString();
    const dead = (category: RejectCategory, reason: string, record: unknown): void => {
      batch.dead.push({ category, line, entry: { source: this.name, reason: `${this.path}:${line}: ${reason}`, record, received_at: receivedAt } });
    };
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (err) {
      dead('not_json', `not JSON: ${errorMessage(err)}`, text);
      return;
    }
    const result = normalizeRecord(record, { receivedAt, source: this.name });
    if (result.kind === 'event') batch.events.push(result.event);
    else if (result.kind === 'rejected') dead('invalid', result.reason, record);
    // 'skipped' (not about an item): nothing to do.
  }

  /** Hands a batch to the sink; retries while the intake is unavailable. False when stopped or failed. */
  private async flush(batch: Batch): Promise<boolean> {
    const ctx = this.ctx!;
    let stored = batch.events.length === 0;
    let lettered = batch.dead.length === 0;
    const backoff = new Backoff(this.opts.backoffMinMs ?? 250, this.opts.backoffMaxMs ?? 10_000);
    for (;;) {
      try {
        if (!stored) {
          await ctx.sink.accept(batch.events, this.name);
          stored = true;
        }
        if (!lettered) {
          await ctx.sink.deadLetter(batch.dead.map((d) => d.entry));
          lettered = true;
        }
        break;
      } catch (err) {
        if (!this.running) return false;
        if (!(err instanceof Error && err.name === 'IntakeUnavailableError')) {
          this.health.failed(err);
          ctx.log.error({ source: this.name, path: this.path, err: errorMessage(err) }, 'file source: the sink refused a batch; stopped reading');
          return false;
        }
        if (this.health.current !== 'degraded') {
          ctx.log.warn({ source: this.name, path: this.path, err: errorMessage(err) }, 'file source: intake unavailable; retrying');
        }
        this.health.degraded(err);
        await sleep(backoff.next(), this.abort.signal);
      }
    }
    if (this.health.current === 'degraded') ctx.log.info({ source: this.name, path: this.path }, 'file source recovered');
    this.health.success(ctx.now());
    if (batch.events.length > 0) {
      this.health.countEvents(batch.events.length);
      ctx.onEvents?.(batch.events);
    }
    if (batch.dead.length > 0) {
      this.health.countRejected(batch.dead.length);
      for (const d of batch.dead) ctx.onRejected?.(d.category);
      // Reasons of bad JSON may quote the line: the log gets line numbers, the dead letter the rest.
      ctx.log.warn({ source: this.name, path: this.path, dead_lettered: batch.dead.length,
        lines: batch.dead.slice(0, 5).map((d) => d.line) },
      'file source: records dead-lettered');
    }
    return true;
  }
}

/**
 * Non-blank lines with their 1-based physical line numbers. Pulls chunks as it goes, so a large file
 * is never in memory whole and the reader waits while the sink does (backpressure).
 */
async function* lines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<{ line: number; text: string }> {
  const decoder = new StringDecoder('utf8'); // a chunk may end inside a multi-byte character
  let rest = '';
  let line = 0;
  for await (const chunk of stream) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      line += 1;
      const l = text.slice(start, nl);
      if (l.trim() !== '') yield { line, text: l };
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.trim() !== '') yield { line: line + 1, text: rest };
}
