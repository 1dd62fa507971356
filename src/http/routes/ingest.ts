/**
 * `POST /ingest` (daemon.md "Ingest"): authenticate, parse the exact body bytes, normalise each record,
 * hand the events to the intake, and answer 202 with a per-record report only once the intake says
 * they are durably stored. Nothing is acknowledged that is not stored: any intake failure is a 503.
 *
 * The route lives in its own encapsulated plugin: its content-type parsers (raw Buffers, needed for the
 * HMAC over the exact bytes) and body limit apply to it alone.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UsageEvent } from '../../domain/usage-event.ts';
import { redactText } from '../../observability/logger.ts';
import { type DeadLetterEntry, IntakeUnavailableError } from '../../pipeline/intake.ts';
import { normalizeRecord } from '../../sources/recognize.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyBearer, verifyHmac } from '../auth.ts';
import { type BodyFormat, parseBody } from '../body.ts';
import { sendError } from '../reply.ts';
import { DEFAULT_MAX_BODY_BYTES, type HttpDeps, type IngestOptions } from '../types.ts';

export const JSON_TYPE = 'application/json';
export const NDJSON_TYPE = 'application/x-ndjson';
/** Seconds a client should wait before retrying while Redis is unavailable. */
export const RETRY_AFTER_SECONDS = 5;
const REALM = 'realm="vaultwatch"';

export interface RejectedRecord {
  /** Position of the record in the body, from 0. */
  index: number;
  id?: string;
  reason: string;
}

/** The 202 body. */
export interface IngestReport {
  /** New events, now stored. */
  accepted: number;
  /** Events whose id was already known, or repeated earlier in this body (the first wins). */
  duplicates: number;
  rejected: RejectedRecord[];
  /** Records not about an item (sign-ins, member changes): skipped quietly. */
  skipped: number;
}

function bodyFormat(contentType: string | undefined): BodyFormat | undefined {
  const media = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  if (media === JSON_TYPE) return 'json';
  if (media === NDJSON_TYPE) return 'ndjson';
  return undefined;
}

function unauthorized(reply: FastifyReply, challenge: string, message: string): FastifyReply {
  reply.header('WWW-Authenticate', challenge);
  return sendError(reply, 401, message);
}

interface Outcome {
  events: UsageEvent[];
  rejected: RejectedRecord[];
  deadLetters: DeadLetterEntry[];
  skipped: number;
  /** Repeats of an id earlier in the same body. */
  bodyDuplicates: number;
}

export function registerIngestRoute(app: FastifyInstance, deps: HttpDeps, ingest: IngestOptions): void {
  const { intake, metrics, clock } = deps;
  const source = ingest.source;
  const bodyLimit = ingest.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const { token, hmacSecret } = ingest;
  const challenge = token !== undefined ? `Bearer ${REALM}` : `Vaultwatch-HMAC ${REALM}`;
  if (token === undefined && hmacSecret === undefined) {
    deps.logger.warn({ source }, 'ingest: the webhook source has neither token nor hmac_secret: /ingest accepts any sender');
  }

  function normalizeAll(records: readonly unknown[]): Outcome {
    const receivedAt = new Date(clock.now()).toISOString();
    const ctx = { ...deps.normalizeContext?.(), receivedAt, source };
    const out: Outcome = { events: [], rejected: [], deadLetters: [], skipped: 0, bodyDuplicates: 0 };
    const seen = new Set<string>();
    for (let index = 0; index < records.length; index++) {
      const record = records[index];
      const result = normalizeRecord(record, ctx);
      switch (result.kind) {
        case 'event':
          if (seen.has(result.event.id)) {
            out.bodyDuplicates++;
          } else {
            seen.add(result.event.id);
            out.events.push(result.event);
          }
          break;
        case 'rejected':
          out.rejected.push(result.id === undefined ? { index, reason: result.reason } : { index, id: result.id, reason: result.reason });
          out.deadLetters.push({ source, reason: result.reason, record, received_at: receivedAt });
          break;
        case 'skipped':
          out.skipped++;
          break;
      }
    }
    return out;
  }

  /** Counters move only once the request is acknowledged: a 503 and its retry count once. */
  function count(records: number, outcome: Outcome, duplicates: number, fresh: readonly UsageEvent[], nowMs: number): void {
    metrics.eventsReceived.inc({ source }, records);
    for (const r of outcome.rejected) metrics.recordRejected(source, r.reason);
    if (outcome.deadLetters.length > 0) metrics.deadLetters.inc({ kind: 'record' }, outcome.deadLetters.length);
    if (outcome.skipped > 0) metrics.eventsSkipped.inc({ source }, outcome.skipped);
    if (duplicates > 0) metrics.eventsDuplicate.inc({ source }, duplicates);
    // Late events are accepted whatever their age (vendors report late); the lag shows how late.
    for (const event of fresh) metrics.sourceLag.observe({ source }, Math.max(0, (nowMs - event.time_ms) / 1000));
    metrics.sourceLastSuccess.set({ source }, Math.floor(nowMs / 1000));
  }

  // Async hooks that answer early return the reply (fastify's contract); undefined lets the request on.
  async function checkBearer(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (token === undefined) return undefined;
    const result = verifyBearer(req.headers.authorization, token);
    if (result === 'ok') return undefined;
    req.log.debug({ auth: result }, 'ingest: token refused');
    return result === 'missing'
      ? unauthorized(reply, `Bearer ${REALM}`, 'missing bearer token (Authorization: Bearer <token>)')
      : unauthorized(reply, `Bearer ${REALM}, error="invalid_token"`, 'invalid bearer token');
  }

  async function checkSignature(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (hmacSecret === undefined) return undefined;
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const result = verifyHmac(
      hmacSecret,
      { timestamp: req.headers[TIMESTAMP_HEADER], signature: req.headers[SIGNATURE_HEADER] },
      body,
      clock.now(),
    );
    if (result.ok) return undefined;
    req.log.debug({ auth: result.reason }, 'ingest: signature refused');
    return unauthorized(reply, challenge, result.message);
  }

  async function handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = req.body;
    const format = bodyFormat(req.headers['content-type']);
    if (!Buffer.isBuffer(body) || format === undefined) {
      return sendError(reply, 415, `expected Content-Type ${JSON_TYPE} or ${NDJSON_TYPE}`);
    }
    const encoding = req.headers['content-encoding']?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      return sendError(reply, 415, 'Content-Encoding is not supported: send the body uncompressed');
    }
    const parsed = parseBody(body, format);
    if (!parsed.ok) return sendError(reply, 400, parsed.message);

    const outcome = normalizeAll(parsed.records);
    let accepted = 0;
    let duplicates = outcome.bodyDuplicates;
    let fresh: UsageEvent[] = [];
    try {
      const [result] = await Promise.all([
        outcome.events.length > 0 ? intake.accept(outcome.events, source) : undefined,
        outcome.deadLetters.length > 0 ? intake.deadLetter(outcome.deadLetters) : undefined,
      ]);
      if (result !== undefined) {
        accepted = result.accepted;
        duplicates += result.duplicates;
        fresh = result.duplicateIds.size === 0 ? outcome.events : outcome.events.filter((e) => !result.duplicateIds.has(e.id));
      }
    } catch (err) {
      const unavailable = err instanceof IntakeUnavailableError || (err instanceof Error && err.name === 'IntakeUnavailableError');
      const message = err instanceof Error ? redactText(err.message) : 'unknown error';
      if (unavailable) req.log.warn({ source, records: parsed.records.length }, `ingest: event store unavailable (${message}); answered 503`);
      else req.log.error({ source, records: parsed.records.length, err }, 'ingest: intake failed; answered 503');
      reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
      return sendError(reply, 503, 'event store unavailable: nothing was stored; retry later');
    }

    metrics.ingestToEnqueue.observe(reply.elapsedTime / 1000);
    count(parsed.records.length, outcome, duplicates, fresh, clock.now());
    if (outcome.rejected.length > 0) {
      // Reasons name fields, never values; the records themselves are only in the dead-letter list.
      req.log.warn({ source, rejected: outcome.rejected.slice(0, 20), total: outcome.rejected.length }, 'ingest: records rejected');
    }
    req.log.debug({ source, records: parsed.records.length, accepted, duplicates, skipped: outcome.skipped }, 'ingest: stored');
    const report: IngestReport = { accepted, duplicates, rejected: outcome.rejected, skipped: outcome.skipped };
    return reply.code(202).send(report);
  }

  void app.register(async (scope) => {
    // Only the two body formats, kept as raw bytes; any other content type is a 415 from fastify.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser([JSON_TYPE, NDJSON_TYPE], { parseAs: 'buffer', bodyLimit }, (_req, raw, done) => {
      done(null, raw);
    });
    scope.post('/ingest', { bodyLimit, onRequest: checkBearer, preHandler: checkSignature }, handle);
  });
}
