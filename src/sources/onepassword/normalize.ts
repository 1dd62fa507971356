/**
 * 1Password Events API item-usage records (v1 and v2, sources.md 1.6/1.7) -> canonical usage events.
 * v2 adds `account_uuid`, `user.user_type` and `user.user_account_uuid`; the canonical model has no
 * place for them, so both versions read the same.
 */
import type { Action } from '../../domain/actions.ts';
import type { NormalizeResult, UsageEvent } from '../../domain/usage-event.ts';
import {
  type NormalizeContext, type Rec,
  getObject, getString, getText, has, neverThrows, isRecord, normalizeCountry, normalizeIp, parseInstant,
  rejected, skipped, stringFieldProblem, timeFieldProblem,
} from '../normalize-common.ts';

export const ONEPASSWORD_SOURCE = 'onepassword';

/** events.md "Canonical actions", 1Password column. A Map, so `toString` is not an action. */
const ACTION_MAP: ReadonlyMap<string, Action> = new Map<string, Action>([
  ['reveal', 'reveal'],
  ['secure-copy', 'copy'],
  ['fill', 'fill'],
  ['enter-item-edit-mode', 'edit'],
  ['server-update', 'edit'],
  ['server-create', 'create'],
  ['export', 'export'],
  ['share', 'share'],
  ['select-sso-provider', 'sso'],
  ['server-fetch', 'fetch'],
  ['other', 'other'],
]);

export function onePasswordAction(vendorAction: string): Action {
  return ACTION_MAP.get(vendorAction) ?? ACTION_MAP.get(vendorAction.toLowerCase()) ?? 'other';
}

/**
 * The other two 1Password event streams share `uuid` and `timestamp` with item usage but are not
 * about using an item: sign-in attempts (`session_uuid`, `category`, `target_user`) and audit events
 * (`actor_uuid`, `object_type`). events.md: not bad input, skipped quietly.
 */
export function onePasswordNonUsageKind(record: Rec): string | undefined {
  if (has(record, 'item_uuid')) return undefined;
  if (has(record, 'session_uuid') || has(record, 'target_user') || has(record, 'category')) return 'sign-in attempt';
  if (has(record, 'actor_uuid') || has(record, 'object_type')) return 'audit event';
  return undefined;
}

function readUser(record: Rec): UsageEvent['user'] | undefined {
  const user = getObject(record, 'user');
  const uuid = getString(user, 'uuid');
  const email = getString(user, 'email');
  const name = getString(user, 'name');
  // Without a uuid the email still names the person ("the user" is the email when known anyway).
  const id = uuid ?? email;
  if (id === undefined) return undefined;
  const out: UsageEvent['user'] = { id };
  if (email !== undefined) out.email = email;
  if (name !== undefined) out.name = name;
  return out;
}

function readClient(record: Rec): UsageEvent['client'] | undefined {
  const client = getObject(record, 'client');
  if (client === undefined) return undefined;
  const app = getString(client, 'app_name');
  const version = getText(client, 'app_version');
  const platform = getString(client, 'platform_name');
  const os = getString(client, 'os_name');
  const ip = getString(client, 'ip_address');
  if (app === undefined && version === undefined && platform === undefined && os === undefined && ip === undefined) {
    return undefined;
  }
  const out: NonNullable<UsageEvent['client']> = {};
  if (app !== undefined) out.app = app;
  if (version !== undefined) out.version = version;
  if (platform !== undefined) out.platform = platform;
  if (os !== undefined) out.os = os;
  if (ip !== undefined) out.ip = normalizeIp(ip);
  return out;
}

/** The record's `location` (item usage and audit events share the shape); absent when empty. */
export function readLocation(record: Rec): UsageEvent['location'] | undefined {
  const location = getObject(record, 'location');
  if (location === undefined) return undefined;
  const country = getString(location, 'country');
  const region = getString(location, 'region');
  const city = getString(location, 'city');
  if (country === undefined && region === undefined && city === undefined) return undefined;
  const out: NonNullable<UsageEvent['location']> = {};
  if (country !== undefined) out.country = normalizeCountry(country);
  if (region !== undefined) out.region = region;
  if (city !== undefined) out.city = city;
  return out;
}

function normalize(record: unknown, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return rejected('record: not an object');
  const id = getString(record, 'uuid');
  if (id === undefined) return rejected(stringFieldProblem(record, 'uuid', 'uuid'));
  const nonUsage = onePasswordNonUsageKind(record);
  if (nonUsage !== undefined) return skipped(`not an item usage (1Password ${nonUsage})`, id);

  const instant = parseInstant(record['timestamp']);
  if (instant === undefined) return rejected(timeFieldProblem(record, 'timestamp'), id);
  const itemId = getString(record, 'item_uuid');
  if (itemId === undefined) return rejected(stringFieldProblem(record, 'item_uuid', 'item_uuid'), id);
  const vaultId = getString(record, 'vault_uuid');
  if (vaultId === undefined) return rejected(stringFieldProblem(record, 'vault_uuid', 'vault_uuid'), id);
  const user = readUser(record);
  if (user === undefined) return rejected(stringFieldProblem(getObject(record, 'user'), 'uuid', 'user.uuid'), id);

  const vendorAction = getString(record, 'action') ?? '';
  const event: UsageEvent = {
    id,
    source: ONEPASSWORD_SOURCE,
    time: instant.iso,
    time_ms: instant.ms,
    received_at: ctx.receivedAt,
    action: vendorAction === '' ? 'other' : onePasswordAction(vendorAction),
    vendor_action: vendorAction,
    vault: { id: vaultId },
    item: { id: itemId },
    user,
  };
  const client = readClient(record);
  if (client !== undefined) event.client = client;
  const location = readLocation(record);
  if (location !== undefined) event.location = location;
  return { kind: 'event', event };
}

/** One 1Password item-usage record (v1 or v2) -> event, rejection or skip. Never throws. */
export const normalizeOnePasswordItemUsage: (record: unknown, ctx: NormalizeContext) => NormalizeResult = neverThrows(normalize);
