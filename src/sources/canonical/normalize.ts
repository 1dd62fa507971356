/**
 * Records already in the canonical shape (events.md "Canonical usage event"), as sent to the webhook
 * or written in replay files. They are our own format, so a field of the wrong type is rejected with
 * its path (the sender sees it in the ingest report); values outside a vocabulary are softened
 * instead: an unknown action is `other`, an unknown item type `unknown`, an unknown field dropped.
 */
import { type Action, type Field, FIELDS, isAction } from '../../domain/actions.ts';
import { type ItemType, isItemType, itemTypeFromConnect, itemTypeFromSdk } from '../../domain/item-types.ts';
import type { NormalizeResult, UsageEvent } from '../../domain/usage-event.ts';
import {
  type NormalizeContext, type Rec,
  asString, internalError, isRecord, normalizeCountry, normalizeIp, parseInstant, rejected,
  stringFieldProblem, timeFieldProblem,
} from '../normalize-common.ts';

export const DEFAULT_CANONICAL_SOURCE = 'webhook';

/** A field that is present but unusable. Only built on the failure path. */
class Problem {
  constructor(readonly reason: string) {}
}

type Read<T> = T | undefined | Problem;

const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);

function isField(value: string): value is Field {
  return FIELD_SET.has(value);
}

/** Null counts as absent: other systems write `"name": null` for what they do not know. */
function optString(obj: Rec, key: string, path: string): Read<string> {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return new Problem(`${path}: not a string`);
  return asString(v);
}

/** Version numbers and vendor codes are sometimes numbers; both read as text. */
function optText(obj: Rec, key: string, path: string): Read<string> {
  const v = obj[key];
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : new Problem(`${path}: not a string`);
  return optString(obj, key, path);
}

function optObject(obj: Rec, key: string): Read<Rec> {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  return isRecord(v) ? v : new Problem(`${key}: not an object`);
}

function readItemType(text: string): ItemType {
  if (isItemType(text)) return text;
  // Senders forwarding 1Password categories may keep the Connect (`CREDIT_CARD`) or SDK (`CreditCard`) spelling.
  const connect = itemTypeFromConnect(text);
  return connect !== 'unknown' ? connect : itemTypeFromSdk(text);
}

function readTags(item: Rec): Read<string[]> {
  const v = item['tags'];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return new Problem('item.tags: not a list of strings');
  const tags: string[] = [];
  for (const tag of v) {
    if (typeof tag !== 'string') return new Problem('item.tags: not a list of strings');
    const t = tag.trim();
    if (t !== '') tags.push(t);
  }
  return tags;
}

function readItem(record: Rec): UsageEvent['item'] | Problem {
  const item = record['item'];
  if (!isRecord(item)) return new Problem(item === undefined || item === null ? 'item: missing' : 'item: not an object');
  const id = asString(item['id']);
  if (id === undefined) return new Problem(stringFieldProblem(item, 'id', 'item.id'));
  const title = optString(item, 'title', 'item.title');
  if (title instanceof Problem) return title;
  const type = optString(item, 'type', 'item.type');
  if (type instanceof Problem) return type;
  const tags = readTags(item);
  if (tags instanceof Problem) return tags;
  const out: UsageEvent['item'] = { id };
  if (title !== undefined) out.title = title;
  if (type !== undefined) out.type = readItemType(type);
  if (tags !== undefined) out.tags = tags;
  return out;
}

/** `vault` is `{id, name?}`, or just the id as a string. */
function readVault(record: Rec): UsageEvent['vault'] | Problem {
  const v = record['vault'];
  const asId = asString(v);
  if (asId !== undefined) return { id: asId };
  if (!isRecord(v)) {
    return new Problem(v === undefined || v === null || typeof v === 'string' ? 'vault.id: missing' : 'vault: not an object');
  }
  const id = asString(v['id']);
  if (id === undefined) return new Problem(stringFieldProblem(v, 'id', 'vault.id'));
  const name = optString(v, 'name', 'vault.name');
  if (name instanceof Problem) return name;
  return name === undefined ? { id } : { id, name };
}

/** `user` is `{id?, email?, name?}` with an id or an email (the email then is the id), or the id as a string. */
function readUser(record: Rec): UsageEvent['user'] | Problem {
  const u = record['user'];
  const asId = asString(u);
  if (asId !== undefined) return { id: asId };
  if (!isRecord(u)) {
    return new Problem(u === undefined || u === null || typeof u === 'string' ? 'user.id: missing' : 'user: not an object');
  }
  const id = optString(u, 'id', 'user.id');
  if (id instanceof Problem) return id;
  const email = optString(u, 'email', 'user.email');
  if (email instanceof Problem) return email;
  const name = optString(u, 'name', 'user.name');
  if (name instanceof Problem) return name;
  const key = id ?? email;
  if (key === undefined) return new Problem('user.id: missing (give user.id or user.email)');
  const out: UsageEvent['user'] = { id: key };
  if (email !== undefined) out.email = email;
  if (name !== undefined) out.name = name;
  return out;
}

const CLIENT_KEYS = ['app', 'version', 'platform', 'os', 'ip'] as const;
const CLIENT_PATHS = CLIENT_KEYS.map((k) => `client.${k}`);

function readClient(record: Rec): Read<NonNullable<UsageEvent['client']>> {
  const client = optObject(record, 'client');
  if (client === undefined || client instanceof Problem) return client;
  const out: NonNullable<UsageEvent['client']> = {};
  let any = false;
  for (let i = 0; i < CLIENT_KEYS.length; i++) {
    const key = CLIENT_KEYS[i]!;
    const path = CLIENT_PATHS[i]!;
    const v = key === 'version' ? optText(client, key, path) : optString(client, key, path);
    if (v instanceof Problem) return v;
    if (v === undefined) continue;
    out[key] = key === 'ip' ? normalizeIp(v) : v;
    any = true;
  }
  return any ? out : undefined;
}

const LOCATION_KEYS = ['country', 'region', 'city'] as const;
const LOCATION_PATHS = LOCATION_KEYS.map((k) => `location.${k}`);

function readLocation(record: Rec): Read<NonNullable<UsageEvent['location']>> {
  const location = optObject(record, 'location');
  if (location === undefined || location instanceof Problem) return location;
  const out: NonNullable<UsageEvent['location']> = {};
  let any = false;
  for (let i = 0; i < LOCATION_KEYS.length; i++) {
    const key = LOCATION_KEYS[i]!;
    const v = optString(location, key, LOCATION_PATHS[i]!);
    if (v instanceof Problem) return v;
    if (v === undefined) continue;
    out[key] = key === 'country' ? normalizeCountry(v) : v;
    any = true;
  }
  return any ? out : undefined;
}

interface ActionParts { action: Action; vendor_action: string; field?: Field }

function readAction(record: Rec): ActionParts | Problem {
  const given = optString(record, 'action', 'action');
  if (given instanceof Problem) return given;
  const vendor = optText(record, 'vendor_action', 'vendor_action');
  if (vendor instanceof Problem) return vendor;
  const field = optString(record, 'field', 'field');
  if (field instanceof Problem) return field;
  const parts: ActionParts = {
    action: isAction(given) ? given : 'other',
    vendor_action: vendor ?? given ?? '',
  };
  // A field outside the canonical list says nothing policies can match on: dropped, not rejected.
  if (field !== undefined && isField(field)) parts.field = field;
  return parts;
}

function normalize(record: unknown, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return rejected('record: not an object');
  const id = asString(record['id']);
  if (id === undefined) return rejected(stringFieldProblem(record, 'id', 'id'));
  const instant = parseInstant(record['time']);
  if (instant === undefined) return rejected(timeFieldProblem(record, 'time'), id);
  const item = readItem(record);
  if (item instanceof Problem) return rejected(item.reason, id);
  const vault = readVault(record);
  if (vault instanceof Problem) return rejected(vault.reason, id);
  const user = readUser(record);
  if (user instanceof Problem) return rejected(user.reason, id);
  const action = readAction(record);
  if (action instanceof Problem) return rejected(action.reason, id);
  const source = optString(record, 'source', 'source');
  if (source instanceof Problem) return rejected(source.reason, id);
  const client = readClient(record);
  if (client instanceof Problem) return rejected(client.reason, id);
  const location = readLocation(record);
  if (location instanceof Problem) return rejected(location.reason, id);

  const event: UsageEvent = {
    id,
    source: source ?? ctx.source ?? DEFAULT_CANONICAL_SOURCE,
    time: instant.iso,
    time_ms: instant.ms,
    received_at: ctx.receivedAt,
    action: action.action,
    vendor_action: action.vendor_action,
    vault,
    item,
    user,
  };
  if (action.field !== undefined) event.field = action.field;
  if (client !== undefined) event.client = client;
  if (location !== undefined) event.location = location;
  return { kind: 'event', event };
}

/** One canonical record (webhook, replay) -> event or rejection. Never throws. */
export function normalizeCanonical(record: unknown, ctx: NormalizeContext): NormalizeResult {
  try {
    return normalize(record, ctx);
  } catch (err) {
    return internalError(err);
  }
}
