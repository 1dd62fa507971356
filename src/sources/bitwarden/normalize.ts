/**
 * Bitwarden Public API event records (EventResponseModel, sources.md 3.3/3.4) -> canonical usage
 * events. Bitwarden events carry ids only and no event id of their own.
 */
import type { Action, Field } from '../../domain/actions.ts';
import type { NormalizeResult, UsageEvent } from '../../domain/usage-event.ts';
import {
  type NormalizeContext, type Rec,
  asString, getInteger, getString, neverThrows, isRecord, normalizeIp, parseInstant, rejected, skipped,
  stableHash, stringFieldProblem, timeFieldProblem,
} from '../normalize-common.ts';

export const BITWARDEN_SOURCE = 'bitwarden';

export interface BitwardenContextExtras {
  /** The organization the poller reads; the vault of last resort is `org:<organizationId>`. */
  organizationId?: string;
  /** Member directory (GET /public/members), keyed by the member's *user* id. */
  members?: (userId: string) => { email?: string; name?: string } | undefined;
  /** The vault the catalog gives an item. */
  itemVault?: (itemId: string) => string | undefined;
}

export type BitwardenNormalizeContext = NormalizeContext & BitwardenContextExtras;

/** Cipher (item) events are 1100-1199 (EventType.cs); everything else is about users, orgs, Sends... */
const ITEM_CODE_MIN = 1100;
const ITEM_CODE_MAX = 1199;

interface CodeMeaning { action: Action; field?: Field }

/** events.md "Canonical actions" (Bitwarden column) and "Bitwarden field per code". */
const CODES: ReadonlyMap<number, CodeMeaning> = new Map<number, CodeMeaning>([
  [1100, { action: 'create' }],
  [1101, { action: 'edit' }],
  [1102, { action: 'delete' }],
  [1105, { action: 'share' }],
  [1106, { action: 'edit' }],
  [1107, { action: 'view' }],
  [1108, { action: 'reveal', field: 'password' }],
  [1109, { action: 'reveal', field: 'hidden_field' }],
  [1110, { action: 'reveal', field: 'card_code' }],
  [1111, { action: 'copy', field: 'password' }],
  [1112, { action: 'copy', field: 'hidden_field' }],
  [1113, { action: 'copy', field: 'card_code' }],
  [1114, { action: 'fill' }],
  [1115, { action: 'delete' }],
  [1117, { action: 'reveal', field: 'card_number' }],
  [1118, { action: 'reveal', field: 'totp' }],
  [1119, { action: 'copy', field: 'bank_account_number' }],
  [1120, { action: 'copy', field: 'pin' }],
  [1121, { action: 'reveal', field: 'bank_account_number' }],
  [1122, { action: 'reveal', field: 'pin' }],
  [1123, { action: 'copy', field: 'license_number' }],
  [1124, { action: 'reveal', field: 'license_number' }],
  [1125, { action: 'copy', field: 'passport_number' }],
  [1126, { action: 'reveal', field: 'passport_number' }],
  [1127, { action: 'copy', field: 'swift_code' }],
  [1128, { action: 'reveal', field: 'swift_code' }],
  [1129, { action: 'copy', field: 'iban' }],
  [1130, { action: 'reveal', field: 'iban' }],
  [1131, { action: 'copy', field: 'national_id' }],
  [1132, { action: 'reveal', field: 'national_id' }],
]);

const OTHER: CodeMeaning = { action: 'other' };

export function bitwardenCodeMeaning(code: number): CodeMeaning {
  return CODES.get(code) ?? OTHER;
}

/** DeviceType.cs (bitwarden/server), worded for people. */
const DEVICES: readonly string[] = [
  'Android', 'iOS', 'Chrome extension', 'Firefox extension', 'Opera extension', 'Edge extension',
  'Windows desktop', 'macOS desktop', 'Linux desktop', 'Chrome browser', 'Firefox browser',
  'Opera browser', 'Edge browser', 'Internet Explorer', 'Unknown browser', 'Android (Amazon)', 'UWP',
  'Safari browser', 'Vivaldi browser', 'Vivaldi extension', 'Safari extension', 'SDK', 'Server',
  'Windows CLI', 'macOS CLI', 'Linux CLI',
];

export function bitwardenDeviceName(device: number): string {
  return DEVICES[device] ?? `device ${device}`;
}

/**
 * The event id: Bitwarden has none, so a hash of the record. `object` ("event") is left out: it is a
 * constant envelope marker that forwarders may drop, and must not change the id.
 */
export function bitwardenEventId(record: Rec): string | undefined {
  const digest = stableHash(record, 'object');
  return digest === undefined ? undefined : `bw_${digest}`;
}

/** The ctx lookups are the caller's code; a failing directory must not lose the event. */
function lookup<T>(fn: ((key: string) => T | undefined) | undefined, key: string): T | undefined {
  if (fn === undefined) return undefined;
  try {
    return fn(key);
  } catch {
    return undefined;
  }
}

function readVault(record: Rec, itemId: string, ctx: BitwardenNormalizeContext): string | undefined {
  return getString(record, 'collectionId')
    ?? asString(lookup(ctx.itemVault, itemId))
    ?? orgVault(asString(ctx.organizationId) ?? getString(record, 'organizationId'));
}

function orgVault(organizationId: string | undefined): string | undefined {
  return organizationId === undefined ? undefined : `org:${organizationId}`;
}

function readUser(userId: string, ctx: BitwardenNormalizeContext): UsageEvent['user'] {
  const user: UsageEvent['user'] = { id: userId };
  const member = lookup(ctx.members, userId);
  if (!isRecord(member)) return user;
  const email = asString(member.email);
  const name = asString(member.name);
  if (email !== undefined) user.email = email;
  if (name !== undefined) user.name = name;
  return user;
}

function readClient(record: Rec): UsageEvent['client'] | undefined {
  const ip = getString(record, 'ipAddress');
  const device = getInteger(record, 'device');
  if (ip === undefined && device === undefined) return undefined;
  const client: NonNullable<UsageEvent['client']> = {};
  if (device !== undefined) client.app = bitwardenDeviceName(device);
  if (ip !== undefined) client.ip = normalizeIp(ip);
  return client;
}

function typeProblem(record: Rec): string {
  const v = record['type'];
  return v === undefined || v === null ? 'type: missing' : 'type: not an event code';
}

function normalize(record: unknown, ctx: BitwardenNormalizeContext): NormalizeResult {
  if (!isRecord(record)) return rejected('record: not an object');
  const id = bitwardenEventId(record);
  if (id === undefined) return rejected('record: nested too deeply to identify');
  const type = getInteger(record, 'type');
  if (type === undefined) return rejected(typeProblem(record), id);
  if (type < ITEM_CODE_MIN || type > ITEM_CODE_MAX) return skipped(`not an item event (type ${type})`, id);
  const itemId = getString(record, 'itemId');
  if (itemId === undefined) return skipped(`not an item event (type ${type} without itemId)`, id);

  const instant = parseInstant(record['date']);
  if (instant === undefined) return rejected(timeFieldProblem(record, 'date'), id);
  const userId = getString(record, 'actingUserId');
  if (userId === undefined) return rejected(stringFieldProblem(record, 'actingUserId', 'actingUserId'), id);
  const vaultId = readVault(record, itemId, ctx);
  if (vaultId === undefined) return rejected("no vault: record has no collectionId and the item's vault is unknown", id);

  const meaning = bitwardenCodeMeaning(type);
  const event: UsageEvent = {
    id,
    source: BITWARDEN_SOURCE,
    time: instant.iso,
    time_ms: instant.ms,
    received_at: ctx.receivedAt,
    action: meaning.action,
    vendor_action: String(type),
    vault: { id: vaultId },
    item: { id: itemId },
    user: readUser(userId, ctx),
  };
  if (meaning.field !== undefined) event.field = meaning.field;
  const client = readClient(record);
  if (client !== undefined) event.client = client;
  return { kind: 'event', event };
}

/** One Bitwarden event record -> event, rejection, or skip (not about an item). Never throws. */
export const normalizeBitwardenEvent: (record: unknown, ctx: BitwardenNormalizeContext) => NormalizeResult = neverThrows(normalize);
