/**
 * 1Password Events API audit events (sources.md §1.8) -> canonical usage events, for one purpose:
 * telling a vault's managers that its permissions changed. Only `grant` / `revoke` on `uva`
 * (user-vault access) and `gva` (group-vault access) become events; every other audit event is
 * skipped quietly (not bad input).
 *
 * The event reads like a usage of the vault itself:
 *   vault   = object_uuid (the vault whose access changed; object_details.name when present)
 *   item    = { id: <vault id>, title: 'vault access' }
 *   user    = the actor (actor_details, else actor_uuid)
 *   subject = the person (uva) or group (gva) given or losing access (aux_details, else aux_uuid)
 *   action  = grant | revoke; vendor_action = the audit action as sent
 *   client  = { ip: session.ip }; location as for item usage
 * `aux_info` (the permission bits, as text) has no place in the canonical model and is not kept.
 */
import type { NormalizeResult, UsageEvent } from '../../domain/usage-event.ts';
import {
  type NormalizeContext, type Rec,
  getObject, getString, neverThrows, isRecord, normalizeCountry, normalizeIp, parseInstant,
  rejected, skipped, stringFieldProblem, timeFieldProblem,
} from '../normalize-common.ts';
import { ONEPASSWORD_SOURCE, readLocation } from './normalize.ts';

export const VAULT_ACCESS_TITLE = 'vault access';

const ACCESS_ACTIONS: ReadonlyMap<string, 'grant' | 'revoke'> = new Map([['grant', 'grant'], ['revoke', 'revoke']]);
const SUBJECT_KINDS: ReadonlyMap<string, 'user' | 'group'> = new Map([['uva', 'user'], ['gva', 'group']]);

/** `{uuid, name, email}` details, falling back to a bare uuid field. */
function readPerson(record: Rec, detailsKey: string, uuidKey: string): { id: string; email?: string; name?: string } | undefined {
  const details = getObject(record, detailsKey);
  const id = getString(details, 'uuid') ?? getString(record, uuidKey) ?? getString(details, 'email');
  if (id === undefined) return undefined;
  const out: { id: string; email?: string; name?: string } = { id };
  const email = getString(details, 'email');
  const name = getString(details, 'name');
  if (email !== undefined) out.email = email;
  if (name !== undefined) out.name = name;
  return out;
}

function normalize(record: unknown, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return rejected('record: not an object');
  const id = getString(record, 'uuid');
  if (id === undefined) return rejected(stringFieldProblem(record, 'uuid', 'uuid'));
  const vendorAction = getString(record, 'action') ?? '';
  const objectType = getString(record, 'object_type') ?? '';
  const action = ACCESS_ACTIONS.get(vendorAction.toLowerCase());
  const kind = SUBJECT_KINDS.get(objectType.toLowerCase());
  if (action === undefined || kind === undefined) {
    return skipped(`not a vault access change (1Password audit event ${vendorAction || '?'} on ${objectType || '?'})`, id);
  }

  const instant = parseInstant(record['timestamp']);
  if (instant === undefined) return rejected(timeFieldProblem(record, 'timestamp'), id);
  const vaultId = getString(record, 'object_uuid');
  if (vaultId === undefined) return rejected(stringFieldProblem(record, 'object_uuid', 'object_uuid'), id);
  const actor = readPerson(record, 'actor_details', 'actor_uuid');
  if (actor === undefined) return rejected(stringFieldProblem(record, 'actor_uuid', 'actor_uuid'), id);

  const vaultName = getString(getObject(record, 'object_details'), 'name');
  const event: UsageEvent = {
    id,
    source: ONEPASSWORD_SOURCE,
    time: instant.iso,
    time_ms: instant.ms,
    received_at: ctx.receivedAt,
    action,
    vendor_action: vendorAction,
    vault: vaultName !== undefined ? { id: vaultId, name: vaultName } : { id: vaultId },
    item: { id: vaultId, title: VAULT_ACCESS_TITLE },
    user: actor,
  };
  // Without the affected person the change is still worth telling: a lesser gap does not reject.
  const subject = readPerson(record, 'aux_details', 'aux_uuid');
  if (subject !== undefined) event.subject = { ...subject, kind };
  const ip = getString(getObject(record, 'session'), 'ip');
  if (ip !== undefined) event.client = { ip: normalizeIp(ip) };
  const location = readLocation(record);
  if (location !== undefined) event.location = location;
  return { kind: 'event', event };
}

/** One 1Password audit event (v1 or v2) -> a vault access event, a rejection or a skip. Never throws. */
export const normalizeOnePasswordAuditEvent: (record: unknown, ctx: NormalizeContext) => NormalizeResult = neverThrows(normalize);
