/**
 * One entry point for records whose origin is not known in advance (HTTP ingest, replay files):
 * recognise the shape, then hand the record to its normaliser. Recognition looks at which keys are
 * present, not at their values, so a recognised record with a bad value gets that normaliser's precise
 * reason (`timestamp: not a date`) rather than "unrecognised".
 */
import type { NormalizeResult } from '../domain/usage-event.ts';
import { type BitwardenContextExtras, normalizeBitwardenEvent } from './bitwarden/normalize.ts';
import { normalizeCanonical } from './canonical/normalize.ts';
import { type NormalizeContext, type Rec, asString, has, internalError, isRecord, rejected } from './normalize-common.ts';
import { normalizeOnePasswordItemUsage, onePasswordNonUsageKind } from './onepassword/normalize.ts';

export const RECORD_KINDS = ['onepassword', 'bitwarden', 'canonical'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export type RecognizeContext = NormalizeContext & BitwardenContextExtras & {
  /** Skip recognition (`replay --source`): every record is read as this kind. */
  force?: RecordKind;
};

const EXPECTED = 'expected a 1Password item-usage record (uuid, item_uuid, timestamp), '
  + 'a Bitwarden event (numeric type, date) or a canonical event (time, action, item object)';

// `item_uuid`/`vault_uuid` belong to 1Password alone, so with `uuid` they suffice: a record that lacks
// its timestamp then hears "timestamp: missing" rather than "unrecognised".
function isOnePassword(r: Rec): boolean {
  if (!has(r, 'uuid')) return false;
  if (has(r, 'item_uuid') || has(r, 'vault_uuid')) return true;
  return has(r, 'timestamp') && onePasswordNonUsageKind(r) !== undefined;
}

function isBitwarden(r: Rec): boolean {
  return r['object'] === 'event' || (typeof r['type'] === 'number' && has(r, 'date'));
}

function isCanonical(r: Rec): boolean {
  return has(r, 'time') && has(r, 'action') && isRecord(r['item']);
}

/** Which normaliser a record is for, or undefined when it matches none of the shapes. */
export function recognizeRecord(record: unknown): RecordKind | undefined {
  if (!isRecord(record)) return undefined;
  if (isOnePassword(record)) return 'onepassword';
  if (isBitwarden(record)) return 'bitwarden';
  if (isCanonical(record)) return 'canonical';
  return undefined;
}

function dispatch(kind: RecordKind, record: unknown, ctx: RecognizeContext): NormalizeResult {
  switch (kind) {
    case 'onepassword': return normalizeOnePasswordItemUsage(record, ctx);
    case 'bitwarden': return normalizeBitwardenEvent(record, ctx);
    case 'canonical': return normalizeCanonical(record, ctx);
    // `force` may come from an unchecked command line.
    default: return rejected(`force: unknown source "${String(kind)}" (one of ${RECORD_KINDS.join(', ')})`);
  }
}

/** An id to report an unrecognised record by, when it names one in a usual place. */
function someId(record: unknown): string | undefined {
  return isRecord(record) ? (asString(record['id']) ?? asString(record['uuid'])) : undefined;
}

function unrecognised(record: unknown): NormalizeResult {
  const what = isRecord(record) ? 'unrecognised record' : 'record: not an object';
  return rejected(`${what}: ${EXPECTED}`, someId(record));
}

/** Any raw record (1Password, Bitwarden, canonical) -> event, rejection or skip. Never throws. */
export function normalizeRecord(record: unknown, ctx: RecognizeContext): NormalizeResult {
  try {
    const kind = ctx.force ?? recognizeRecord(record);
    return kind === undefined ? unrecognised(record) : dispatch(kind, record, ctx);
  } catch (err) {
    return internalError(err);
  }
}
